// Inputs an attacker or a careless integrator would pass (issue 17), in headless Chromium against
// pkg/: every call settles with an Error that names the problem, no instance dies, a failed call
// changes nothing, model files are a contract, and the worker and sessionStorage keep their word.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gotoReady, openDemo } from './helpers.mjs';

// Calls settle within this (a hang is the bug; the bound only turns it into a failure).
const SETTLE_MS = 20_000;

async function setup(t) {
  const { page, url, logs, context } = await openDemo(t);
  await gotoReady(page, `${url}?device=cpu&worker=0`, logs);
  // A page-side harness: `settle(fn)` runs fn and reports how it ended, or that it hung.
  await page.evaluate((ms) => {
    window.settle = async (fn) => {
      let timer;
      const hung = new Promise((resolve) => { timer = setTimeout(() => resolve({ outcome: 'hung' }), ms); });
      const run = (async () => {
        try {
          const value = await fn();
          return { outcome: 'ok', value: value === undefined ? null : JSON.parse(JSON.stringify(value)) };
        } catch (e) {
          return { outcome: 'error', isError: e instanceof Error, message: String(e?.message ?? e) };
        }
      })();
      const out = await Promise.race([run, hung]);
      clearTimeout(timer);
      return out;
    };
  }, SETTLE_MS);
  return { page, url, logs, context };
}

/** Evaluates `fn` (a function of the imported package module) under `settle`. */
const attempt = (page, fn, arg) =>
  page.evaluate(async ([src, a]) => {
    const mod = await import('/pkg/localrank.js');
    window.shared ??= await mod.LocalRanker.create({ model: '/models/', device: 'cpu' });
    return window.settle(() => (0, eval)(src)(mod, window.shared, a));
  }, [fn.toString(), arg]);

const rejected = (r, pattern, what) => {
  assert.equal(r.outcome, 'error', `${what}: expected an Error, got ${JSON.stringify(r)}`);
  assert.ok(r.isError, `${what}: the rejection must be an Error instance`);
  assert.match(r.message, pattern, `${what}: message`);
};

async function healthy(page, what) {
  const r = await attempt(page, async (mod, ranker) => {
    const cands = window.demo.candidates;
    const before = ranker.exportSession();
    ranker.observe({ event: 'view_item', id: cands[3].id, title: cands[3].title, category: cands[3].category });
    const out = await ranker.rerank(cands, { pageType: 'home' });
    ranker.importSession(before);
    // A second, fresh ranker on the same module: the module itself is alive.
    const other = await mod.LocalRanker.create({ model: '/models/', device: 'cpu' });
    const n = (await other.rerank(cands)).length;
    other.dispose();
    return { n: out.length, fresh: n };
  });
  assert.equal(r.outcome, 'ok', `after ${what} the ranker and the module must still work: ${JSON.stringify(r)}`);
  assert.deepEqual(r.value, { n: 100, fresh: 100 }, `after ${what}`);
}

test('hostile: nested, cyclic, Proxy, throwing and huge arguments settle with named errors', { timeout: 240_000 }, async (t) => {
  const { page } = await setup(t);

  // 1. The defect as reported: an unknown field nested 100,000 levels deep killed the instance.
  const deep = await attempt(page, (mod, r) => {
    let extra = {};
    for (let i = 0; i < 100_000; i++) extra = { extra };
    const before = r.sessionLength;
    r.observe({ event: 'view_item', id: 'y', title: 'Heat (1995)', extra });
    return { grew: r.sessionLength - before };
  });
  assert.equal(deep.outcome, 'ok', `unknown fields are not read, however deep: ${JSON.stringify(deep)}`);
  assert.equal(deep.value.grew, 1);
  await healthy(page, 'an event with a field nested 100,000 levels deep');

  // The same depth where localrank does read: a named error.
  const deepTitle = await attempt(page, (mod, r) => {
    let title = {};
    for (let i = 0; i < 100_000; i++) title = { title };
    return r.observe({ event: 'view_item', id: 'y', title });
  });
  rejected(deepTitle, /observe: event\.title: expected a string, got an object/, 'a deep title');

  const cyclic = await attempt(page, (mod, r) => { const o = { id: 'c', title: 'Cyclic' }; o.o = o; o.category = o; return r.rerank([o]); });
  rejected(cyclic, /candidates\[0\]\.category: expected a string/, 'a cyclic candidate');
  const cyclicEvent = await attempt(page, (mod, r) => { const o = { event: 'view_item', id: 'c', title: 'T' }; o.self = o; r.observe(o); return r.sessionLength; });
  assert.equal(cyclicEvent.outcome, 'ok', `a cycle in an unread field is harmless: ${JSON.stringify(cyclicEvent)}`);

  const getter = await attempt(page, (mod, r) => r.observe({ event: 'view_item', id: '1', get title() { throw new Error('boom'); } }));
  rejected(getter, /observe: event\.title: reading it threw \(boom\)/, 'a throwing getter');

  const revoked = await attempt(page, (mod, r) => { const { proxy, revoke } = Proxy.revocable([], {}); revoke(); return r.rerank(proxy); });
  rejected(revoked, /candidates: cannot be read/, 'a revoked Proxy as candidates');
  const revokedEvent = await attempt(page, (mod, r) => { const { proxy, revoke } = Proxy.revocable({}, {}); revoke(); return r.observe(proxy); });
  rejected(revokedEvent, /observe: event/, 'a revoked Proxy as the event');
  const revokedOptions = await attempt(page, (mod, r) => { const { proxy, revoke } = Proxy.revocable({}, {}); revoke(); return r.rerank(window.demo.candidates, {}, proxy); });
  rejected(revokedOptions, /options/, 'a revoked Proxy as options');
  const revokedCreate = await attempt(page, (mod) => { const { proxy, revoke } = Proxy.revocable({}, {}); revoke(); return mod.LocalRanker.create(proxy); });
  rejected(revokedCreate, /create: options/, 'a revoked Proxy as create options');
  const trap = await attempt(page, (mod, r) => r.rerank(new Proxy([{ id: '1', title: 'a' }], { get(t, k) { if (k === 'length') return 1; throw new TypeError('trap'); } })));
  rejected(trap, /candidates\.0: reading it threw \(trap\)/, 'a Proxy whose get trap throws');

  // The count is checked before any candidate is read (this Proxy throws on every element).
  const huge = await attempt(page, (mod, r) => r.rerank(new Proxy([], { get(t, k) { if (k === 'length') return 10_000_000; throw new Error('element read'); } })));
  rejected(huge, /candidates: 10000000 items, at most 5000 per call/, '10 million candidates');

  for (const [what, call, pattern] of [
    ['a BigInt id', (mod, r) => r.rerank([{ id: 1n, title: 'a' }]), /candidates\[0\]\.id: expected a string or a number, got a bigint/],
    ['a Symbol title', (mod, r) => r.rerank([{ id: '1', title: Symbol('x') }]), /candidates\[0\]\.title: expected a string, got a symbol/],
    ['an Infinity popularity', (mod, r) => r.rerank([{ id: '1', title: 'a', popularity: Infinity }]), /candidates\[0\]\.popularity: expected a finite number, got Infinity/],
    ['a function category', (mod, r) => r.rerank([{ id: '1', title: 'a', category() {} }]), /candidates\[0\]\.category: expected a string, got a function/],
  ]) {
    rejected(await attempt(page, call), pattern, what);
  }

  for (const [what, call, pattern] of [
    ['null options', (mod) => mod.LocalRanker.create(null), /create: options: expected an object/],
    ['an unknown create option', (mod) => mod.LocalRanker.create({ model: '/models/', devcie: 'cpu' }), /unknown field "devcie"/],
    ['a context that is a string', (mod, r) => r.rerank(window.demo.candidates, 'home'), /context: expected an object/],
    ['an unknown option', (mod, r) => r.rerank(window.demo.candidates, {}, { topk: 3 }), /options: unknown field "topk"/],
    ['hour 25', (mod, r) => r.rerank(window.demo.candidates, { hour: 25 }), /context\.hour/],
    ['a negative timestamp', (mod, r) => r.observe({ event: 'view_item', id: '1', title: 'T', timestamp: -5 }), /timestamp/],
    ['a timestamp 30 years ahead', (mod, r) => r.observe({ event: 'view_item', id: '1', title: 'T', timestamp: Date.now() + 30 * 365.25 * 864e5 }), /timestamp/],
    ['a NaN dwell', (mod, r) => r.observe({ event: 'view_item', id: '1', title: 'T', dwellMs: NaN }), /dwellMs: expected a finite number, got NaN/],
    ['importSession of an object', (mod, r) => r.importSession({}), /importSession: expected the string/],
    ['importSession nested 100,000 levels', (mod, r) => r.importSession('['.repeat(100_000)), /importSession/],
  ]) {
    const before = await attempt(page, (mod, r) => r.exportSession());
    rejected(await attempt(page, call), pattern, what);
    const after = await attempt(page, (mod, r) => r.exportSession());
    assert.equal(after.value, before.value, `${what} must leave the session as it was`);
  }
  await healthy(page, 'the hostile arguments above');
});

test('hostile: long texts are cut before tokenising and stay cut in the stored session', { timeout: 120_000 }, async (t) => {
  const { page } = await setup(t);
  const r = await attempt(page, async (mod, ranker) => {
    const fresh = await mod.LocalRanker.create({ model: '/models/', device: 'cpu' });
    const query = 'spaceship '.repeat(200_000); // 2 MB
    fresh.observe({ event: 'search', query });
    fresh.observe({ event: 'view_item', id: 'x', title: 'a'.repeat(2_000_000), category: '\u{1F600}'.repeat(500_000) });
    const out = await fresh.rerank(window.demo.candidates, { query });
    const stored = fresh.exportSession().length;
    fresh.dispose();
    return { n: out.length, stored };
  });
  assert.equal(r.outcome, 'ok', JSON.stringify(r));
  assert.equal(r.value.n, 100);
  // Three texts of at most a few KB each, not 6 MB.
  assert.ok(r.value.stored < 20_000, `the stored session must hold capped texts, got ${r.value.stored} characters`);
});

test('hostile: a trap inside wasm breaks one ranker, never the module or a promise', { timeout: 120_000 }, async (t) => {
  const { page } = await setup(t);
  for (const kind of [1, 2]) {
    const r = await page.evaluate(async (k) => {
      const mod = await import('/pkg/localrank.js');
      const core = await import('/pkg/localrank_core.js');
      const victim = await mod.LocalRanker.create({ model: '/models/', device: 'cpu' });
      const bystander = await mod.LocalRanker.create({ model: '/models/', device: 'cpu' });
      const cands = window.demo.candidates;
      // A real trap (1: panic, 2: wasm stack overflow) where the victim's rerank would run.
      const real = core.RankerCore.prototype.rerankPositions;
      core.RankerCore.prototype.rerankPositions = function () { return core.__selfTestTrap(k); };
      const first = await window.settle(() => victim.rerank(cands));
      core.RankerCore.prototype.rerankPositions = real;
      const later = await window.settle(() => victim.rerank(cands));
      const laterSync = await window.settle(() => victim.observe({ event: 'view_item', id: '1', title: 'T' }));
      const other = await window.settle(async () => (await bystander.rerank(cands)).length);
      const fresh = await window.settle(async () => {
        const f = await mod.LocalRanker.create({ model: '/models/', device: 'cpu' });
        f.observe({ event: 'view_item', id: cands[0].id, title: cands[0].title });
        return (await f.rerank(cands)).length;
      });
      return { first, later, laterSync, other, fresh };
    }, kind);
    const what = kind === 1 ? 'a panic' : 'a stack overflow';
    rejected(r.first, kind === 1 ? /internal error: [\s\S]*self-test panic/ : /internal error/, `${what}: the call that trapped`);
    rejected(r.later, /broken: create a new one/, `${what}: a later rerank of the same ranker`);
    rejected(r.laterSync, /broken: create a new one/, `${what}: a later observe of the same ranker`);
    assert.deepEqual(r.other, { outcome: 'ok', value: 100 }, `${what}: another ranker of the module keeps working`);
    assert.deepEqual(r.fresh, { outcome: 'ok', value: 100 }, `${what}: a new ranker works`);
  }
});

test('hostile: the model directory is a contract (config, sizes, paths, pin)', { timeout: 240_000 }, async (t) => {
  const { page, url } = await setup(t);
  const manifest = await page.evaluate(() => fetch('/models/manifest.json').then((r) => r.json()));
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  const serve = async (name, edit, { weights } = {}) => {
    await page.route(`${url}${name}/**`, async (route) => {
      const file = new URL(route.request().url()).pathname.split('/').pop();
      if (file === 'manifest.json') return route.fulfill({ json: edit(structuredClone(manifest)) });
      if (weights && file === manifest.files.weights.path) return route.fulfill({ body: weights, contentType: 'application/octet-stream' });
      return route.fulfill({ response: await route.fetch({ url: `${url}models/${file}` }) });
    });
    return `/${name}/`;
  };
  const create = (model, extra = {}) => page.evaluate(([m, x]) => import('/pkg/localrank.js').then((mod) =>
    window.settle(async () => (await mod.LocalRanker.create({ model: m, device: 'cpu', ...x })).dispose())), [model, extra]);

  const cases = [
    ['heads 0', (m) => ((m.config.heads = 0), m), /heads/],
    ['heads 3 with d_model 64', (m) => ((m.config.heads = 3), m), /heads/],
    ['dropout 1', (m) => ((m.config.dropout = 1), m), /dropout/],
    ['max_tokens 1e9', (m) => ((m.config.max_tokens = 1e9), m), /max_tokens/],
    ['max_tokens 12 (in range, but not what the weights were exported with)', (m) => ((m.config.max_tokens = 12), m), /config/],
    ['a ../ path', (m) => ((m.files.weights.path = '../models/localrank.q8'), m), /path/],
    ['a rooted path', (m) => ((m.files.weights.path = '/models/localrank.q8'), m), /path/],
    ['another origin', (m) => ((m.files.weights.path = 'https://example.invalid/w.q8'), m), /path/],
  ];
  for (const [what, edit, pattern] of cases) {
    rejected(await create(await serve(`m${cases.findIndex((c) => c[0] === what)}`, edit)), pattern, what);
  }
  assert.ok(!requests.some((u) => u.includes('example.invalid')), 'no request may leave for another origin');

  // A swapped file far larger than the manifest says is cut off, not read whole.
  const big = Buffer.alloc(64 << 20, 1);
  const swapped = await create(await serve('swapped', (m) => m, { weights: big }));
  rejected(swapped, /at least \d+ bytes, over the \d+ that manifest.json allows/, 'a 64 MB file where the manifest lists ~2 MB');

  // The site's pin of the manifest: right (hex and SRI) loads, wrong is refused.
  const hex = await page.evaluate(async () => {
    const bytes = await (await fetch('/models/manifest.json')).arrayBuffer();
    const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
    return { hex: Array.from(d, (b) => b.toString(16).padStart(2, '0')).join(''), sri: `sha256-${btoa(String.fromCharCode(...d))}` };
  });
  assert.equal((await create('/models/', { integrity: hex.hex })).outcome, 'ok', 'the right hex pin loads');
  assert.equal((await create('/models/', { integrity: hex.sri })).outcome, 'ok', 'the right SRI pin loads');
  rejected(await create('/models/', { integrity: '0'.repeat(64) }), /sha256|integrity|pin/i, 'a wrong pin');
  await healthy(page, 'bad model directories');
});

test('hostile: worker crashes reject every call; clear() wins; storage is per model and forgiving', { timeout: 240_000 }, async (t) => {
  const { page, url } = await setup(t);
  // A worker that dies (an uncaught error outside any call) while a rerank is pending.
  await page.route(`${url}crashing-worker.js`, (route) => route.fulfill({
    contentType: 'text/javascript',
    // The rerank's answer is never sent: the worker dies mid-call with an error thrown outside
    // any call, so only the crash can settle the pending rerank.
    body: `import '/pkg/worker.js';
      const send = self.postMessage.bind(self);
      self.postMessage = (m) => {
        if (!Array.isArray(m?.result)) return send(m);
        setTimeout(() => { throw new Error('worker died'); });
      };`,
  }));
  const crash = await page.evaluate(async () => {
    const { LocalRankerWorker } = await import('/pkg/worker.js');
    const w = await LocalRankerWorker.create({ model: '/models/', device: 'cpu', workerUrl: '/crashing-worker.js' });
    const pending = window.settle(() => w.rerank(window.demo.candidates));
    const first = await pending;
    const later = await window.settle(() => w.observe({ event: 'view_item', id: '1', title: 'T' }));
    return { first, later };
  });
  rejected(crash.first, /worker/, 'the call pending when the worker crashed');
  rejected(crash.later, /broken: create a new one/, 'a call after the crash');

  const unsendable = await page.evaluate(async () => {
    const { LocalRankerWorker } = await import('/pkg/worker.js');
    const w = await LocalRankerWorker.create({ model: '/models/', device: 'cpu' });
    const fn = await window.settle(() => w.observe({ event: 'view_item', id: '1', title: 'T', extra() {} }));
    const proxy = await window.settle(() => w.rerank(new Proxy([], {})));
    const after = await window.settle(async () => (await w.rerank(window.demo.candidates)).length);
    w.dispose();
    return { fn, proxy, after };
  });
  rejected(unsendable.fn, /cannot be sent to the worker/, 'a function in a worker call');
  rejected(unsendable.proxy, /cannot be sent to the worker/, 'a Proxy in a worker call');
  assert.deepEqual(unsendable.after, { outcome: 'ok', value: 100 });

  // clear() wins over a store still in flight; the key carries the model name.
  const storage = await page.evaluate(async () => {
    sessionStorage.clear();
    const { LocalRankerWorker } = await import('/pkg/worker.js');
    const w = await LocalRankerWorker.create({ model: '/models/', device: 'cpu', persist: true });
    await w.observe({ event: 'view_item', id: '1', title: 'Kept' });
    const keys = Object.keys(sessionStorage);
    const racing = w.observe({ event: 'view_item', id: '2', title: 'Forgotten' }); // not awaited
    await w.clear();
    await racing;
    const left = Object.keys(sessionStorage).length;
    w.dispose();
    return { keys, left };
  });
  assert.deepEqual(storage.keys, ['localrank.session.v2:localrank-ml100k'], 'the storage key names the model');
  assert.equal(storage.left, 0, 'an observe in flight must not write the session back after clear()');

  const forgiving = await page.evaluate(async () => {
    const mod = await import('/pkg/localrank.js');
    sessionStorage.setItem('localrank.session.v2:localrank-ml100k', '[{"kind":"teleport"}]');
    const warnings = [];
    const warn = console.warn;
    console.warn = (m) => warnings.push(String(m));
    const r = await window.settle(async () => {
      const ranker = await mod.LocalRanker.create({ model: '/models/', device: 'cpu', persist: true });
      const n = ranker.sessionLength;
      ranker.observe({ event: 'view_item', id: '1', title: 'T' });
      ranker.dispose();
      const cleared = await window.settle(() => ranker.clear());
      return { n, stored: sessionStorage.getItem('localrank.session.v2:localrank-ml100k'), cleared: cleared.outcome };
    });
    console.warn = warn;
    return { r, warnings };
  });
  assert.equal(forgiving.r.outcome, 'ok', `a stored session that no longer validates must not fail create: ${JSON.stringify(forgiving)}`);
  assert.equal(forgiving.r.value.n, 0);
  assert.ok(forgiving.warnings.some((w) => /dropped a stored session/.test(w)), `a warning says so: ${forgiving.warnings}`);
  assert.equal(forgiving.r.value.stored, null, 'clear() on a disposed ranker still deletes the stored copy');
  assert.equal(forgiving.r.value.cleared, 'error', 'and then says the ranker was disposed');
});

test('hostile: the package runs under the strict CSP that SECURITY.md states', { timeout: 120_000 }, async (t) => {
  const { page, url } = await openDemo(t);
  const CSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'";
  const violations = [];
  page.on('console', (m) => /Content Security Policy/i.test(m.text()) && violations.push(m.text()));
  await page.route(`${url}csp/**`, (route) => {
    const name = new URL(route.request().url()).pathname.split('/').pop();
    const headers = { 'content-security-policy': CSP };
    if (name === 'index.html') {
      return route.fulfill({ headers, contentType: 'text/html', body: '<!doctype html><title>pending</title><script type="module" src="/csp/run.js"></script>' });
    }
    // The page's own script: one ranker in the page, one in the worker, a rerank each.
    return route.fulfill({ headers, contentType: 'text/javascript', body: `
      import { LocalRanker } from '/pkg/localrank.js';
      import { LocalRankerWorker } from '/pkg/worker.js';
      const cands = [{ id: '1', title: 'Star Wars (1977)', category: 'Action' }, { id: '2', title: 'Fargo (1996)', category: 'Crime' }];
      try {
        const page = await LocalRanker.create({ model: '/models/', device: 'cpu' });
        page.observe({ event: 'view_item', id: '1', title: 'Star Wars (1977)' });
        const a = await page.rerank(cands);
        const worker = await LocalRankerWorker.create({ model: '/models/', device: 'cpu' });
        const b = await worker.rerank(cands);
        document.title = 'ok ' + a.length + ' ' + b.length;
      } catch (e) {
        document.title = 'error ' + e.message;
      }` });
  });
  await page.goto(`${url}csp/index.html`);
  await page.waitForFunction(() => document.title !== 'pending', null, { timeout: 60_000 });
  assert.equal(await page.title(), 'ok 2 2', `under "${CSP}": ${violations.join('\n')}`);
  assert.deepEqual(violations, [], 'no CSP violation is reported');
});
