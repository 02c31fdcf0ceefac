// Privacy, as a differential test. A full shopping session (views, add to cart, purchase, a
// search for a canary string, a context change, the persistence switch on, "Why here?" opened,
// a reload that restores the session, "Forget me") must make exactly the requests that the same
// page loads make with no events at all: URL for URL, per page load, byte for byte in request
// headers and bodies. Both runs end the same way: the page's and the worker's clocks are moved
// on 10 minutes (delayed uploads fire) and the page is closed with its pagehide/beforeunload
// handlers run (unload-time beacons fire), and only then is anything compared.
//
// What records the requests:
//   - the wire: each run's browser context talks to the server through a recording HTTP proxy
//     in this file (loopback included), so every request of the page, its Web Worker, any
//     service worker and any keepalive/beacon sent while or after the page closes is seen as
//     the server would get it (raw header lines, body bytes), and so is every WebSocket
//     (a CONNECT tunnel through the proxy) and every cross-origin attempt (CONNECT / absolute URL);
//   - Playwright's context-level request events (page + worker + service workers): method, URL,
//     allHeaders() and postDataBuffer(), as the browser reports them; each one must also be on
//     the wire (else something bypassed the proxy);
//   - a tripwire in the page (init script): sendBeacon, WebSocket, EventSource, WebTransport and
//     RTCPeerConnection (which would not go through an HTTP proxy) must never be called; and
//     Playwright's websocket events (which, in this Playwright, include the worker's).
// Clocks: Playwright's clock (installed before the first navigation) drives the page's timers;
// the worker's timers get a small fake clock that the proxy prepends to /pkg/worker-entry.js in every
// run (WORKER_CLOCK), moved on through Playwright's worker.evaluate.
// Storage: cookies (document.cookie and the context's jar), localStorage, sessionStorage,
// IndexedDB, CacheStorage, the origin private file system and service-worker registrations are
// compared with the idle run's, with persistence on (only the documented session key and the
// demo's switch may be there) and after "Forget me" (nothing at all).
//
// The last test injects leaks into the served app.js and worker-entry.js and checks that the same
// comparison functions report each of them.
import assert from 'node:assert/strict';
import { createServer, request as httpRequest } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { startServer } from '../../scripts/serve.mjs';
import { EVENT_NAMES, ROOT, clickItem, deviceOrder, requireBuild, serverOrder } from './helpers.mjs';

const CANARY = 'zebra-privacy-canary';
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // Chromium's own autofill requests (CONNECT content-autofill.googleapis.com) are not the
  // page's; without this they would show up on the proxy as cross-origin traffic.
  '--disable-features=AutofillServerCommunication',
  // Nothing that skips the proxy (e.g. WebRTC's STUN lookups) can resolve a name.
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];
const CLOCK_STEP_MS = 10 * 60_000; // how far the clocks move before each reload/close
const KEEP_KEY = 'localrank.demo.keep'; // www/app.js: the persistence switch itself ('1'), no event data
const sessionKey = (modelName) => `localrank.session.v2:${modelName}`; // SECURITY.md, js/localrank.js

// The exact files one page load fetches (path + query -> how many times), hard-coded from what
// the demo loads (www/index.html, www/app.js, pkg/*.js, models/manifest.json). A new file, a file
// fetched once more, or a query string on a subresource fails the test; update this list only
// for a deliberate change of the demo's files. In worker mode the page imports worker.js, the
// worker's own script is worker-entry.js, and input.js, device-store.js and model-cache.js are
// fetched twice (page and worker). The model files are fetched on the first load only: the reload reads them
// from the model cache (js/model-cache.js); manifest.json is fetched on both (the demo does not
// pin it with `integrity`).
const MODEL_FILES = { '/models/localrank.q8': 1, '/models/vocab.txt': 1 };
const PAGE_FILES = {
  '/style.css': 1, '/favicon.svg': 1, '/netlog.js': 1, '/app.js': 1, '/privacy.js': 1, '/ui.js': 1,
  '/data/catalog.json': 1, '/data/server-candidates.json': 1,
  '/pkg/localrank.js': 1, '/pkg/localrank_core.js': 1, '/pkg/input.js': 1, '/pkg/model.js': 1,
  '/pkg/model-cache.js': 1, '/pkg/device-store.js': 1, '/pkg/localrank_core_bg.wasm': 1, '/models/manifest.json': 1,
};
const WORKER_FILES = {
  ...PAGE_FILES, '/pkg/worker.js': 1, '/pkg/worker-entry.js': 1, '/pkg/input.js': 2, '/pkg/device-store.js': 2, '/pkg/model-cache.js': 2,
};
const EXPECTED_LOAD = {
  page: { '/?device=cpu&worker=0': 1, ...PAGE_FILES },
  worker: { '/?device=cpu&worker=1': 1, ...WORKER_FILES },
};
const firstLoad = (mode) => ({ ...EXPECTED_LOAD[mode], ...MODEL_FILES });
const ALLOWED_PATHS = new Set(['/', ...Object.keys(PAGE_FILES), ...Object.keys(MODEL_FILES), '/pkg/worker.js', '/pkg/worker-entry.js']);

// ------------------------------------------------------------------ browser-side code

/** Init script (every page of the context, before its own scripts): counts calls of the APIs
 * that send without a plain GET. netlog.js wraps some of them again, on top of these. */
function tripwire() {
  const hits = (window.__privacyTripwire = []);
  const note = (what, arg) => hits.push(`${what} ${typeof arg === 'object' ? JSON.stringify(arg) : String(arg)}`);
  if (navigator.sendBeacon) {
    const beacon = navigator.sendBeacon.bind(navigator);
    navigator.sendBeacon = (url, data) => (note('sendBeacon', url), beacon(url, data));
  }
  for (const name of ['WebSocket', 'EventSource', 'WebTransport', 'RTCPeerConnection', 'webkitRTCPeerConnection']) {
    const Real = window[name];
    if (typeof Real !== 'function') continue;
    window[name] = new Proxy(Real, {
      construct(target, args, newTarget) {
        note(name, args[0]);
        return Reflect.construct(target, args, newTarget);
      },
    });
  }
}

/** Prepended by the proxy to /pkg/worker-entry.js (in every run): Playwright's clock only fakes the
 * page's timers, so the worker gets its own. Real timers keep running as before; in addition
 * self.__privacyFastForward(ms) moves this clock on by ms and fires every timer then due, once
 * (like page.clock.fastForward). Only active in the worker, not when the page imports the file. */
const WORKER_CLOCK = `if (typeof WorkerGlobalScope !== 'undefined' && self instanceof WorkerGlobalScope) {
  const real = { setTimeout: self.setTimeout.bind(self), clearTimeout: self.clearTimeout.bind(self), setInterval: self.setInterval.bind(self) };
  const timers = new Map();
  let skew = 0;
  const now = () => performance.now() + skew;
  const add = (repeat) => (fn, ms = 0, ...args) => {
    if (typeof fn !== 'function') return (repeat ? real.setInterval : real.setTimeout)(fn, ms, ...args);
    const every = Math.max(0, Number(ms) || 0);
    const id = (repeat ? real.setInterval : real.setTimeout)(() => {
      if (!repeat) timers.delete(id);
      else if (timers.has(id)) timers.get(id).due = now() + every;
      fn(...args);
    }, ms);
    timers.set(id, { due: now() + every, every, repeat, run: () => fn(...args) });
    return id;
  };
  self.setTimeout = add(false);
  self.setInterval = add(true);
  self.clearTimeout = self.clearInterval = (id) => (timers.delete(id), real.clearTimeout(id));
  self.__privacyFastForward = (ms) => {
    skew += ms;
    let fired = 0;
    for (const [id, t] of [...timers]) {
      if (t.due > now() || !timers.has(id)) continue;
      if (t.repeat) t.due = now() + t.every;
      else (timers.delete(id), real.clearTimeout(id));
      fired++;
      try { t.run(); } catch (e) { real.setTimeout(() => { throw e; }); }
    }
    return fired;
  };
}
`;

/** Everything the origin keeps in this browser, as the page sees it. */
async function pageStorage() {
  const safe = async (f) => {
    try {
      return await f();
    } catch (e) {
      return `error: ${e?.message ?? e}`;
    }
  };
  return {
    cookie: document.cookie,
    localStorage: Object.fromEntries(Object.entries(localStorage)),
    sessionStorage: Object.fromEntries(Object.entries(sessionStorage)),
    indexedDB: await safe(async () => (await indexedDB.databases()).map((d) => `${d.name} v${d.version}`).sort()),
    caches: await safe(async () => {
      const out = {};
      for (const name of await caches.keys()) out[name] = (await (await caches.open(name)).keys()).map((r) => r.url).sort();
      return out;
    }),
    opfs: await safe(async () => {
      const names = [];
      for await (const name of (await navigator.storage.getDirectory()).keys()) names.push(name);
      return names.sort();
    }),
    serviceWorkers: await safe(async () => (await navigator.serviceWorker.getRegistrations()).map((r) => r.scope).sort()),
  };
}

// ------------------------------------------------------------------ recording

/**
 * A recording HTTP proxy in front of the origin server. Every request that reaches it is logged
 * with its raw header lines and body bytes; only plain-HTTP requests for the origin are
 * forwarded, everything else (other hosts, CONNECT tunnels, i.e. WebSockets and HTTPS, upgrades)
 * is logged and refused. `rewrite`: { path: (text) => text } edits a served file on the way back.
 */
async function startRecorder(originHost, rewrite = {}) {
  const log = [];
  let inFlight = 0;
  let last = Date.now();
  const note = (entry) => {
    log.push(entry);
    last = Date.now();
  };
  const server = createServer((req, res) => {
    inFlight++;
    res.on('close', () => {
      inFlight--;
      last = Date.now();
    });
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      note({ method: req.method, url: req.url, rawHeaders: req.rawHeaders, body });
      let target = null;
      try {
        target = new URL(req.url);
      } catch {}
      if (target?.protocol !== 'http:' || target.host !== originHost) {
        res.writeHead(403, { 'cache-control': 'no-store' });
        return res.end();
      }
      const headers = { ...req.headers };
      delete headers['proxy-connection'];
      const [hostname, port] = originHost.split(':');
      const upstream = httpRequest({ host: hostname, port, method: req.method, path: target.pathname + target.search, headers }, (up) => {
        const edit = rewrite[target.pathname];
        if (!edit || up.statusCode !== 200) {
          res.writeHead(up.statusCode, up.headers);
          return up.pipe(res);
        }
        const parts = [];
        up.on('data', (c) => parts.push(c));
        up.on('end', () => {
          const text = edit(Buffer.concat(parts).toString('utf8'));
          res.writeHead(200, { ...up.headers, 'content-length': Buffer.byteLength(text) });
          res.end(text);
        });
      });
      upstream.on('error', () => res.destroy());
      upstream.end(body);
    });
  });
  const refuse = (method) => (req, socket) => {
    note({ method, url: req.url, rawHeaders: req.rawHeaders, body: Buffer.alloc(0) });
    socket.destroy();
  };
  server.on('connect', refuse('CONNECT'));
  server.on('upgrade', refuse('UPGRADE'));
  await new Promise((ok, fail) => server.once('error', fail).listen(0, '127.0.0.1', ok));
  return {
    port: server.address().port,
    log,
    /** Resolves once nothing is in flight and nothing new arrived for `ms` (at most `max` ms). */
    async quiet(ms = 1000, max = 15_000) {
      const t0 = Date.now();
      while (Date.now() - t0 < max && (inFlight > 0 || Date.now() - last < ms)) await new Promise((r) => setTimeout(r, 100));
    },
    close: () =>
      new Promise((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

function withTimeout(p, ms) {
  let timer;
  const late = new Promise((_, no) => (timer = setTimeout(() => no(new Error('timeout')), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Playwright's view: every request of the context (page, dedicated workers, service workers). */
function recordContext(context) {
  const pending = [];
  context.on('request', (req) =>
    pending.push(
      withTimeout(req.allHeaders(), 5000)
        .catch(() => req.headers())
        .then((headers) => ({
          method: req.method(),
          url: req.url(),
          type: req.resourceType(),
          headers,
          body: req.postDataBuffer() ?? Buffer.alloc(0),
          serviceWorker: Boolean(req.serviceWorker()),
        })),
    ),
  );
  return () => Promise.all(pending);
}

/** One browser + origin server per test; closed by t.after(). */
async function launch(t) {
  requireBuild();
  const origin = await startServer({ port: 0, repo: ROOT });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  t.after(async () => {
    await browser.close();
    await origin.close();
  });
  return { browser, origin: new URL(origin.url).origin };
}

async function waitReady(page, logs) {
  await page.waitForFunction(() => window.demo);
  const err = await page.evaluate(() => window.demo.ready.then(() => null, (e) => String(e?.message ?? e)));
  assert.equal(err, null, `demo failed to start: ${err}\n${logs.join('\n')}`);
}

/** Moves the page's clock and the worker's on by CLOCK_STEP_MS, so delayed timers fire. */
async function advanceClocks(page, mode) {
  await page.context().clock.fastForward(CLOCK_STEP_MS);
  const workers = page.workers();
  if (mode === 'worker') assert.equal(workers.length, 1, 'the ranker runs in one Web Worker');
  for (const w of workers) {
    const fired = await w.evaluate((ms) => self.__privacyFastForward?.(ms) ?? null, CLOCK_STEP_MS);
    assert.equal(typeof fired, 'number', `the worker ${w.url()} has the test's clock`);
  }
}

/**
 * One run, the same navigations whatever `actions` do: load and wait ready, actions.first, clocks
 * +10 min, reload and wait ready, actions.second, clocks +10 min, close the page with its unload
 * handlers, wait until the proxy is quiet. Returns what was recorded.
 */
async function run({ browser, origin }, mode, actions = {}, { rewrite = {} } = {}) {
  const recorder = await startRecorder(new URL(origin).host, { '/pkg/worker-entry.js': (js) => WORKER_CLOCK + js, ...rewrite });
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    proxy: { server: `http://127.0.0.1:${recorder.port}` }, // Playwright adds <-loopback>: 127.0.0.1 goes through it too
  });
  try {
    await context.addInitScript(tripwire);
    await context.clock.install();
    const browserView = recordContext(context);
    const page = await context.newPage();
    page.setDefaultTimeout(60_000);
    const logs = [];
    page.on('console', (m) => m.type() === 'error' && logs.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    const tripped = [];
    page.on('websocket', (ws) => tripped.push(`page websocket ${ws.url()}`));
    const readTripwire = async () => tripped.push(...(await page.evaluate(() => window.__privacyTripwire ?? ['tripwire missing'])));
    const start = `${origin}/?device=cpu&worker=${mode === 'worker' ? 1 : 0}`;
    const r = { mode, start, page, context, logs, storage: {} };
    r.snapshot = async (label) => {
      r.storage[label] = { ...(await page.evaluate(pageStorage)), jar: (await context.cookies()).map((c) => `${c.name}=${c.value}`) };
      return r.storage[label];
    };

    await page.goto(start);
    await waitReady(page, logs);
    await actions.first?.(r);
    await advanceClocks(page, mode);
    // Whatever the clocks set off belongs to this load: let it reach the proxy before the
    // reload's first request (requests sent at pagehide still arrive after it, in the next load).
    await recorder.quiet(500);
    await readTripwire();
    await page.reload();
    await waitReady(page, logs);
    await actions.second?.(r);
    await advanceClocks(page, mode);
    await recorder.quiet(500);
    await readTripwire();
    await Promise.all([page.waitForEvent('close'), page.close({ runBeforeUnload: true })]);
    await recorder.quiet();
    return { mode, start, origin, wire: [...recorder.log], browser: await browserView(), tripwire: tripped, storage: r.storage, secrets: r.secrets ?? [], modelName: r.modelName };
  } finally {
    await context.close();
    await recorder.close();
  }
}

// ------------------------------------------------------------------ comparing

const header = (entry, name) => {
  for (let i = 0; i < entry.rawHeaders.length; i += 2) if (entry.rawHeaders[i].toLowerCase() === name) return entry.rawHeaders[i + 1];
  return undefined;
};
const headerLines = (entry) => entry.rawHeaders.reduce((out, v, i, all) => (i % 2 ? out : [...out, `${v}: ${all[i + 1]}`]), []);
const requestKey = (r) => `${r.method} ${r.url}`;

function groupBy(list, f) {
  const m = new Map();
  for (const x of list) m.set(f(x), [...(m.get(f(x)) ?? []), x]);
  return m;
}

function countBy(list, f) {
  const m = new Map();
  for (const x of list) m.set(f(x), (m.get(f(x)) ?? 0) + 1);
  return m;
}

/** Lines "+ key ×n" (only in b) and "- key ×n" (only in a) between two multisets of strings. */
function multisetDiff(a, b, label) {
  const ca = countBy(a, (x) => x);
  const cb = countBy(b, (x) => x);
  const out = [];
  for (const k of new Set([...ca.keys(), ...cb.keys()])) {
    const d = (cb.get(k) ?? 0) - (ca.get(k) ?? 0);
    if (d > 0) out.push(`${label}: + ${k}${d > 1 ? ` ×${d}` : ''}`);
    if (d < 0) out.push(`${label}: - ${k}${-d > 1 ? ` ×${-d}` : ''}`);
  }
  return out;
}

/** Wire log split into page loads: a new load starts at each document (navigation) request. */
function pageLoads(wire) {
  const loads = [];
  for (const e of wire) {
    if (!loads.length || header(e, 'sec-fetch-dest') === 'document') loads.push([]);
    loads.at(-1).push(e);
  }
  return loads;
}

/**
 * The differential check: what `treatment` sent that the idle `control` did not (and the
 * reverse), as a list of lines; [] when they match.
 *
 * What "the same" means, exactly: both runs make the same navigations (load, reload, close), so
 * the wire log is cut into page loads at each navigation request and load i of the treatment
 * must equal load i of the control as a multiset of (method, URL): the order of requests inside
 * a load is not compared (parallel fetches, worker and page race), but a request may repeat only
 * as often as it does in the same load of the idle run, and cannot move to another load (a
 * delayed fetch of an allowed file, a reload that fetches less, a beacon at unload all show).
 * The cut is by arrival at the proxy: run() waits for the proxy to be quiet after moving the
 * clocks, so what a load's timers send stays in that load; what a page sends at pagehide
 * arrives after the next navigation request and so counts in the next load (after the last
 * load for the final close), the same way in both runs. Not covered: timing, i.e. a run that
 * sends the very same requests earlier or later than the idle run.
 * For each (method, URL) the raw header lines (names, values, order: byte for byte) and the
 * body bytes must match the control's as multisets too: a cookie, a changed referer, an x-*
 * header, a content-type, anything that carries data, shows as a differing line. Playwright's
 * view (allHeaders, postDataBuffer), the page tripwire and WebSocket events are compared too.
 */
function diffRuns(control, treatment) {
  const out = [];
  const a = pageLoads(control.wire);
  const b = pageLoads(treatment.wire);
  if (a.length !== b.length) out.push(`wire: ${b.length} page loads, the idle run has ${a.length}`);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const ca = a[i] ?? [];
    const cb = b[i] ?? [];
    out.push(...multisetDiff(ca.map(requestKey), cb.map(requestKey), `wire load ${i + 1}`));
    const ga = groupBy(ca, requestKey);
    for (const [k, entries] of groupBy(cb, requestKey)) {
      const others = ga.get(k) ?? [];
      if (others.length !== entries.length) continue; // already reported as a count difference
      const ha = others.map((e) => headerLines(e).join('\n'));
      const hb = entries.map((e) => headerLines(e).join('\n'));
      if (multisetDiff(ha, hb, '').length) {
        const lines = multisetDiff(others.flatMap(headerLines), entries.flatMap(headerLines), `wire load ${i + 1} ${k} header`);
        out.push(...(lines.length ? lines : [`wire load ${i + 1} ${k}: header order differs`]));
      }
      const ba = others.map((e) => e.body.toString('hex'));
      const bb = entries.map((e) => e.body.toString('hex'));
      out.push(...multisetDiff(ba, bb, `wire load ${i + 1} ${k} body (hex)`));
    }
  }
  // Playwright's view of the same runs (not cut into loads): same requests, headers and bodies.
  const pwKey = (r) => `${requestKey(r)}${r.serviceWorker ? ' (service worker)' : ''}`;
  out.push(...multisetDiff(control.browser.map(pwKey), treatment.browser.map(pwKey), 'browser'));
  const pa = groupBy(control.browser, pwKey);
  for (const [k, entries] of groupBy(treatment.browser, pwKey)) {
    const others = pa.get(k) ?? [];
    if (others.length !== entries.length) continue;
    const lines = (r) => Object.entries(r.headers).map(([name, v]) => `${name}: ${v}`);
    out.push(...multisetDiff(others.flatMap(lines), entries.flatMap(lines), `browser ${k} header`));
    out.push(...multisetDiff(others.map((r) => r.body.toString('hex')), entries.map((r) => r.body.toString('hex')), `browser ${k} body (hex)`));
  }
  out.push(...multisetDiff(control.tripwire, treatment.tripwire, 'tripwire'));
  return out;
}

/**
 * What a run sent that no run may send, whatever the control did: anything but a bodiless
 * same-origin GET of a file in ALLOWED_PATHS, a query string anywhere but on the page's own
 * URL, a request the browser made that did not go through the proxy, a tripwire hit, or a
 * session secret (canary, title, event name) in any URL, header or body.
 */
function absoluteProblems(rec) {
  const out = [];
  const origin = new URL(rec.origin).origin;
  const check = (where, method, url, body) => {
    let u = null;
    try {
      u = new URL(url);
    } catch {}
    if (method !== 'GET') out.push(`${where}: ${method} ${url} is not a GET`);
    if (body.length) out.push(`${where}: ${method} ${url} has a ${body.length}-byte body`);
    if (!u || u.origin !== origin) return out.push(`${where}: ${method} ${url} is not for ${origin}`);
    if (!ALLOWED_PATHS.has(u.pathname)) out.push(`${where}: ${method} ${url}: ${u.pathname} is not one of the demo's files`);
    if ((u.search || u.hash) && url !== rec.start) out.push(`${where}: ${method} ${url}: a query string on something else than the page`);
  };
  for (const e of rec.wire) check('wire', e.method, e.url, e.body);
  for (const r of rec.browser) check(`browser (${r.type})`, r.method, r.url, r.body);
  const onWire = countBy(rec.wire, requestKey);
  for (const [k, n] of countBy(rec.browser, requestKey)) {
    if ((onWire.get(k) ?? 0) < n) out.push(`browser: ${k} ×${n} but ×${onWire.get(k) ?? 0} through the proxy: a request bypassed the recorder`);
  }
  out.push(...rec.tripwire.map((h) => `tripwire: ${h}`));
  const blobs = [
    ...rec.wire.map((e) => [`wire ${requestKey(e)}`, `${e.url}\n${headerLines(e).join('\n')}\n${e.body.toString('latin1')}`]),
    ...rec.browser.map((r) => [`browser ${requestKey(r)}`, `${r.url}\n${JSON.stringify(r.headers)}\n${r.body.toString('latin1')}`]),
  ];
  for (const secret of [CANARY, ...EVENT_NAMES, ...rec.secrets]) {
    for (const [where, blob] of blobs) if (blob.includes(secret)) out.push(`${where} carries "${secret}"`);
  }
  return out;
}

/** Per page load: path+query -> count, for the wire log. */
const filesPerLoad = (rec) => pageLoads(rec.wire).map((load) => Object.fromEntries(countBy(load, (e) => e.url.slice(rec.origin.length))));

/**
 * Storage left by a run compared with the idle run's (`control`): cookies and IndexedDB must be
 * empty; CacheStorage, OPFS and service-worker registrations as in the idle run (the model
 * cache; nothing else);
 * localStorage empty but for the demo's experiment arm (a random draw and its date);
 * sessionStorage exactly `session` ({} or the documented keys).
 */
const ARM_KEY = 'localrank.arm.v1:demo';
const ARM_VALUE = /^\{"v":1,"draw":\d+,"at":\d+\}$/;

function storageProblems(snap, control, { session = {} } = {}) {
  const out = [];
  if (snap.cookie !== '') out.push(`document.cookie = ${JSON.stringify(snap.cookie)}`);
  if (snap.jar.length) out.push(`cookie jar: ${snap.jar.join('; ')}`);
  if (JSON.stringify(snap.indexedDB) !== '[]') out.push(`IndexedDB: ${JSON.stringify(snap.indexedDB)}`);
  for (const k of ['caches', 'opfs', 'serviceWorkers']) {
    if (JSON.stringify(snap[k]) !== JSON.stringify(control[k])) out.push(`${k}: ${JSON.stringify(snap[k])}, the idle run has ${JSON.stringify(control[k])}`);
  }
  // The one documented key: the demo's experiment arm (assignArm), a random draw and its date.
  const { [ARM_KEY]: arm, ...rest } = snap.localStorage;
  if (arm !== undefined && !ARM_VALUE.test(arm)) out.push(`localStorage ${ARM_KEY}: unexpected value ${arm.slice(0, 200)}`);
  if (Object.keys(rest).length) out.push(`localStorage: ${Object.keys(rest).join(', ')}`);
  const keys = (o) => Object.keys(o).sort().join(', ');
  if (keys(snap.sessionStorage) !== keys(session)) out.push(`sessionStorage keys [${keys(snap.sessionStorage)}], expected [${keys(session)}]`);
  for (const [k, check] of Object.entries(session)) {
    if (k in snap.sessionStorage && !check(snap.sessionStorage[k])) out.push(`sessionStorage ${k}: unexpected value ${snap.sessionStorage[k].slice(0, 200)}`);
  }
  return out;
}

// ------------------------------------------------------------------ the sessions

/** The demo has no purchase button: add one to a card; app.js's own click handler records it. */
async function purchase(page, id) {
  await page.evaluate((id) => {
    const b = Object.assign(document.createElement('button'), { type: 'button', textContent: 'Buy' });
    b.dataset.action = 'purchase';
    document.querySelector(`[data-testid="server-list"] > li[data-id="${id}"] .actions`).append(b);
  }, id);
  await clickItem(page, id, 'purchase');
}

/** Open "Why here?" on the first three reranked products; returns how many reasons they list. */
async function openWhyHere(page) {
  const why = page.locator('[data-testid="device-list"] details[data-testid="why"]');
  for (let i = 0; i < 3; i++) await why.nth(i).locator('summary').click();
  return page.locator('[data-testid="device-list"] details[open] [data-testid="reason"]').count();
}

/** The page's own privacy panel: no unexpected request, none carrying session data. */
async function assertPanelClean(page, mode) {
  const v = page.locator('[data-testid="privacy-verdict"]');
  assert.equal(await v.getAttribute('data-carrying'), '0');
  assert.equal(await v.getAttribute('data-unexpected'), '0');
  assert.match(await v.textContent(), /Session events sent: none/);
  const rows = await page.locator('[data-testid="netlog"] tbody tr').count();
  assert.ok(rows >= 5, `the network log lists the requests (${rows} rows)`);
  if (mode === 'worker') {
    const workerRows = await page.evaluate(() => window.demo.network.filter((r) => r.initiator?.startsWith('worker')).length);
    assert.ok(workerRows >= 3, `the privacy panel lists the worker's requests (${workerRows})`);
  }
}

const IDLE = {
  second: async (r) => {
    await r.snapshot('idle');
  },
};

/** The full session: 3 views, add to cart, purchase, a context change, persistence on, a
 * search for the canary, "Why here?"; after the reload the session comes back, then Forget me. */
const SHOPPING = {
  first: async (r) => {
    const { page } = r;
    assert.equal(await page.isChecked('[data-testid="persist"]'), false, 'persistence is off by default');
    const items = await page.evaluate(() => window.demo.candidates.slice(3, 8).map((c) => ({ id: c.id, title: c.title })));
    r.secrets = [...new Set(items.flatMap((i) => [i.title, encodeURIComponent(i.title)]))];
    for (const { id } of items.slice(0, 3)) await clickItem(page, id, 'view_item');
    await page.check('[data-testid="persist"]');
    await clickItem(page, items[3].id, 'add_to_cart');
    await purchase(page, items[4].id);
    await page.check('[data-testid="ctx-promotion"]');
    await page.fill('[data-testid="search-input"]', CANARY);
    await page.press('[data-testid="search-input"]', 'Enter');
    await page.evaluate(() => window.demo.rerank());
    assert.equal(await page.textContent('[data-testid="session-length"]'), '6', 'all six events were recorded');
    assert.deepEqual(
      await page.evaluate(() => window.demo.events.map((e) => e.event)),
      ['view_item', 'view_item', 'view_item', 'add_to_cart', 'purchase', 'search'],
    );
    assert.equal(new URL(page.url()).search, new URL(r.start).search, 'the search must not be put in the page URL');
    assert.ok((await openWhyHere(page)) > 0, '"Why here?" lists reasons');
    await assertPanelClean(page, r.mode);
    r.modelName = await page.evaluate(() => window.demo.ranker.modelName);
    await r.snapshot('first');
  },
  second: async (r) => {
    const { page } = r;
    assert.equal(await page.isChecked('[data-testid="persist"]'), true, 'the switch survives the reload');
    assert.equal(await page.textContent('[data-testid="session-length"]'), '6', 'the session came back from sessionStorage');
    const reasons = await openWhyHere(page);
    assert.ok(reasons > 0, '"Why here?" lists reasons for the restored session');
    await assertPanelClean(page, r.mode);
    assert.notDeepEqual(await deviceOrder(page), await serverOrder(page), 'the restored session reranks the list');
    await r.snapshot('persisted');
    await page.click('[data-testid="forget"]');
    await page.evaluate(() => window.demo.rerank());
    assert.equal(await page.textContent('[data-testid="session-length"]'), '0', 'Forget me empties the session');
    assert.deepEqual(await deviceOrder(page), await serverOrder(page), 'after Forget me the order is the server order');
    assert.equal(await page.isChecked('[data-testid="persist"]'), false, 'Forget me turns persistence off');
    await r.snapshot('forgotten');
  },
};

/** The model cache a page load leaves: the manifest's weights and tokenizer under their sha256
 * (js/model-cache.js), public files that say nothing about the shopper. */
function modelCache(origin) {
  const { files } = JSON.parse(readFileSync(join(ROOT, 'models', 'manifest.json'), 'utf8'));
  const urls = ['weights', 'tokenizer'].map((r) => `${origin}/models/${files[r].path}?sha256=${files[r].sha256}`);
  return { 'localrank-models-v1': urls.sort() };
}

/** sessionStorage with persistence on: the switch ('1') and the session under the documented key. */
const persistedSession = (modelName, n) => ({
  [KEEP_KEY]: (v) => v === '1',
  [sessionKey(modelName)]: (v) => {
    try {
      const s = JSON.parse(v);
      return Array.isArray(s) && s.length === n;
    } catch {
      return false;
    }
  },
});

// ------------------------------------------------------------------ tests

for (const mode of ['worker', 'page']) {
  test(`privacy (${mode}): a full session sends exactly what the idle page sends, and leaves only the documented key`, { timeout: 150_000 }, async (t) => {
    const h = await launch(t);
    const t0 = Date.now();
    const control = await run(h, mode, IDLE);
    const treatment = await run(h, mode, SHOPPING);

    // The idle page load fetches exactly the demo's files (load + reload: the model files once),
    // nothing else.
    assert.deepEqual(absoluteProblems(control), [], 'the idle run itself');
    assert.deepEqual(filesPerLoad(control), [firstLoad(mode), EXPECTED_LOAD[mode]], 'the idle run fetches exactly the listed files per page load');
    // The session changes nothing on the network.
    const diff = diffRuns(control, treatment);
    assert.deepEqual(diff, [], `the session's requests differ from the idle run's:\n${diff.join('\n')}`);
    assert.deepEqual(absoluteProblems(treatment), [], 'the session run');

    // Storage: the idle run keeps nothing; the session keeps only the documented keys, and
    // after Forget me nothing.
    const idle = control.storage.idle;
    assert.deepEqual(storageProblems(idle, idle), [], 'the idle run stores nothing');
    assert.deepEqual(idle.caches, modelCache(control.origin), 'CacheStorage: the model cache alone, the manifest\'s files');
    assert.deepEqual(idle.serviceWorkers, [], 'no service worker');
    const persisted = { session: persistedSession(treatment.modelName, 6) };
    assert.deepEqual(storageProblems(treatment.storage.first, idle, persisted), [], 'with persistence on, before the reload');
    assert.deepEqual(storageProblems(treatment.storage.persisted, idle, persisted), [], 'with persistence on, after the reload');
    assert.deepEqual(storageProblems(treatment.storage.forgotten, idle), [], 'after Forget me');

    const perLoad = filesPerLoad(control)[0];
    t.diagnostic(`${mode}: ${control.wire.length} requests idle, ${treatment.wire.length} with the session, identical ` +
      `(${Object.keys(perLoad).length} files per load); ${treatment.browser.length} seen by the browser; ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });
}

// Leaks injected into the served files (the proxy appends them), for the self-test below.
const APP_LEAKS = `
// privacy.test.mjs self-test: leaks
setTimeout(() => navigator.sendBeacon('/collect', JSON.stringify(window.demo.events)), 60_000); // delayed upload
addEventListener('pagehide', () => fetch('/data/' + (window.demo.events.find((e) => e.id)?.id ?? 'none') + '.json', { keepalive: true }));
document.addEventListener('click', (e) => { const id = e.target.closest?.('li[data-id]')?.dataset.id; if (id) document.cookie = 'lr_last=' + id; });
`;
const WORKER_LEAKS = `
if (typeof WorkerGlobalScope !== 'undefined' && self instanceof WorkerGlobalScope) {
  try { new WebSocket('ws://' + location.host + '/socket'); } catch {}
  setTimeout(() => fetch('/models/manifest.json'), 120_000); // an allowed file, fetched once more, later
  indexedDB.open('shadow-session');
}
`;

test('privacy self-test: the same comparison reports injected leaks (page, worker, delayed, at unload, storage)', { timeout: 150_000 }, async (t) => {
  const h = await launch(t);
  const shortSession = {
    first: async (r) => {
      const ids = await r.page.evaluate(() => window.demo.candidates.slice(3, 5).map((c) => c.id));
      for (const id of ids) await clickItem(r.page, id, 'view_item');
    },
    second: async (r) => {
      await r.snapshot('leaky');
    },
  };
  const control = await run(h, 'worker', IDLE);
  const leaky = await run(h, 'worker', shortSession, {
    rewrite: { '/app.js': (js) => js + APP_LEAKS, '/pkg/worker-entry.js': (js) => WORKER_CLOCK + js + WORKER_LEAKS },
  });
  const diff = diffRuns(control, leaky);
  const problems = absoluteProblems(leaky);
  const storage = storageProblems(leaky.storage.leaky, control.storage.idle);
  const headerDiffs = diff.filter((l) => / header: /.test(l));
  t.diagnostic(`diffRuns: ${diff.length} differences`);
  for (const line of diff.filter((l) => !/ header: /.test(l))) t.diagnostic(`  ${line}`);
  t.diagnostic(`  ... and ${headerDiffs.length} header differences, e.g. ${headerDiffs[0]}`);
  t.diagnostic(`absoluteProblems: ${problems.length} problems`);
  for (const line of new Set(problems)) t.diagnostic(`  ${line}`);
  t.diagnostic(`storageProblems: ${storage.join(' | ')}`);

  const has = (lines, re, what) => assert.ok(lines.some((l) => re.test(l)), `${what} is not reported:\n${lines.join('\n')}`);
  has(diff, /^wire load 1: \+ POST http:\/\/127\.0\.0\.1:\d+\/collect$/, 'the delayed beacon (page clock)');
  has(diff, /^wire load \d: \+ GET http:\/\/127\.0\.0\.1:\d+\/data\/\d+\.json$/, 'the pagehide fetch of /data/<id>.json at the reload');
  has(diff, /^wire load 2: \+ GET http:\/\/127\.0\.0\.1:\d+\/data\/none\.json$/, 'the pagehide fetch when the page is closed');
  has(diff, /^wire load \d: \+ CONNECT 127\.0\.0\.1:\d+$/, "the worker's WebSocket");
  has(diff, /^wire load 1: \+ GET http:\/\/127\.0\.0\.1:\d+\/models\/manifest\.json$/, "the worker's delayed fetch of an allowed file (worker clock)");
  has(diff, /header: \+ Cookie: lr_last=\d+$/, 'the cookie sent with later requests');
  has(diff, /^tripwire: \+ sendBeacon \/collect( ×\d+)?$/, 'the sendBeacon call (page tripwire)');
  has(diff, /^tripwire: \+ page websocket ws:/, "the worker's WebSocket (Playwright's websocket event)");
  has(problems, /\/data\/\d+\.json is not one of the demo's files/, 'the exact allowlist');
  has(problems, /POST .*\/collect is not a GET/, 'the beacon (absolute check)');
  has(storage, /^document\.cookie = /, 'the cookie (storage check)');
  has(storage, /^IndexedDB: .*shadow-session/, "the worker's IndexedDB (storage check)");
  assert.deepEqual(diffRuns(control, control), [], 'a run compared with itself shows no difference');
});
