// Demo storefront: the server's candidate order next to the order localrank computes on
// this device, with the context controls, the long-tail option, "Why here?" and the privacy
// panel. Nothing the shopper does leaves the page: every request is a same-origin GET for a
// static file, and the privacy panel shows them all (netlog.js).

import * as netlog from '/netlog.js';
import { renderArm, renderRemembered, updatePrivacy, watchNetwork } from '/privacy.js';
import { $, el, FOLD, HEAD, card, fmtBytes, hourLabel, movementBadge, primaryGenre, setStatus, weekdayName, whyHere } from '/ui.js';

const EVENTS_WITH_ITEM = new Set(['view_item', 'select_item', 'add_to_cart', 'purchase']);
const KEEP_KEY = 'localrank.demo.keep'; // the persistence switch itself (no event data)
// The "returning visitor" switch itself (no event data), in localStorage: it must outlive the tab.
const REMEMBER_KEY = 'localrank.demo.remember';
const REMEMBER = { days: 30, maxEvents: 500 };

let readyResolve, readyReject;
let byId = new Map(); // catalogue item id -> item
const demo = {
  ranker: null, // LocalRanker (in the page) or LocalRankerWorker
  mode: null, // 'worker' | 'page'
  catalog: null, // catalog.json as loaded: { source, items }
  candidates: [], // [{id, title, category}] in server order
  lastOrder: [], // [{id, score, serverRank, reasons}] from the latest rerank
  events: [], // what this session recorded, for the privacy check (kept in this tab only)
  remembered: [], // ranker.rememberedEvents(): what `remember` keeps on this device
  arm: null, // assignArm({ experiment: 'demo' })
  progress: [], // loading progress messages
  network: netlog.requests(),
  rerank: () => Promise.reject(new Error('demo not ready')),
  ready: new Promise((ok, fail) => ((readyResolve = ok), (readyReject = fail))),
};
demo.ready.catch(() => {}); // failure is shown on the page; avoid an unhandled-rejection warning
window.demo = demo;

function showError(err) {
  const box = $('#error');
  box.textContent = String(err?.message ?? err);
  box.hidden = false;
}

// ------------------------------------------------------------------ context controls

function fillContextControls() {
  const now = new Date();
  $('#ctx-hour').append(...Array.from({ length: 24 }, (_, h) => el('option', { value: h, textContent: hourLabel(h) })));
  $('#ctx-weekday').append(...Array.from({ length: 7 }, (_, d) => el('option', { value: d, textContent: weekdayName(d) })));
  // UTC, the clock the model was trained on (manifest inputs.clock).
  $('#ctx-hour').value = now.getUTCHours();
  $('#ctx-weekday').value = now.getUTCDay();
  $('#ctx-device').value = matchMedia('(max-width: 700px)').matches ? 'mobile' : 'desktop';
}

function readContext() {
  const query = demo.query ?? null;
  return {
    hour: Number($('#ctx-hour').value),
    weekday: Number($('#ctx-weekday').value),
    device: $('#ctx-device').value,
    pageType: $('#ctx-page').value,
    promotion: $('#ctx-promotion').checked,
    category: null,
    query,
  };
}

const CONTROL_NAMES = { 'ctx-hour': 'Time of day', 'ctx-weekday': 'Weekday', 'ctx-device': 'Device', 'ctx-page': 'Page type', 'ctx-promotion': 'Holiday or promotion' };

function describeControl(input) {
  const value = input.type === 'checkbox' ? (input.checked ? 'on' : 'off') : input.selectedOptions[0].textContent;
  return `${CONTROL_NAMES[input.id]} → ${value}`;
}

// ------------------------------------------------------------------ rendering

function renderServer() {
  const list = $('#server-list');
  list.replaceChildren(...demo.candidates.map((c) => card(c)));
  for (const li of list.children) li.dataset.testid = 'server-item';
}

function renderDevice(order, entered) {
  const n = demo.ranker.sessionLength;
  $('#device-list').replaceChildren(
    ...order.map((r, i) => {
      const li = card(byId.get(r.id), movementBadge(i + 1, r.serverRank), whyHere(r, n));
      li.dataset.testid = 'device-item';
      li.dataset.score = r.score;
      li.dataset.serverRank = r.serverRank;
      if (entered.has(r.id)) li.classList.add('entered');
      return li;
    }),
  );
}

/** Tail share and genres of a top 10 (`ranks`: server ranks, `ids`: product ids). */
function topStats(order) {
  const top = order.slice(0, FOLD);
  const tail = top.filter((r) => r.serverRank > HEAD).length / top.length;
  const genres = new Set(top.map((r) => primaryGenre(byId.get(r.id).category))).size;
  return { tail, genres };
}

function renderTailStats(order) {
  const server = topStats(demo.candidates.map((c, i) => ({ id: c.id, serverRank: i + 1 })));
  const device = topStats(order);
  const p = $('[data-testid="tail-stats"]');
  p.dataset.tailShare = device.tail;
  p.dataset.genres = device.genres;
  p.textContent = `Top ${FOLD} here: ${Math.round(device.tail * 100)}% long-tail titles (server rank > ${HEAD}), ` +
    `${device.genres} genres — server's top ${FOLD}: ${Math.round(server.tail * 100)}%, ${server.genres} genres.`;
}

const titles = (ranked, most) =>
  ranked.slice(0, most).map((r) => byId.get(r.id).title).join(', ') + (ranked.length > most ? ` and ${ranked.length - most} more` : '');

/** What the last change did to the order, in words. */
function renderChanges(cause, before, after, quietIfSame) {
  const pos = new Map(before.map((r, i) => [r.id, i]));
  const moved = after.filter((r, i) => pos.get(r.id) !== i).length;
  const oldTop = new Set(before.slice(0, FOLD).map((r) => r.id));
  const entered = after.slice(0, FOLD).filter((r) => !oldTop.has(r.id));
  const p = $('#changes');
  if (!moved && quietIfSame) return new Set(); // a bare rerank() that changed nothing says nothing
  p.dataset.moved = moved;
  p.dataset.cause = cause;
  const empty = demo.ranker.sessionLength === 0 ? ' The session is empty, so this is the server order.' : '';
  p.textContent = cause === 'Start' && empty
    ? 'The session is empty, so both lists are the server order. View, add to cart or search to see this device rerank.'
    : !moved ? `${cause}: the order did not change.${empty}`
    : `${cause}: ${moved} of ${after.length} products moved` +
      (entered.length ? `; new in the top ${FOLD}: ${titles(entered, 4)}.` : '.') + empty;
  return new Set(entered.map((r) => r.id));
}

function renderSession() {
  setStatus('session-length', demo.ranker.sessionLength);
  updatePrivacy(demo);
}

/** The privacy panel's list of remembered events (an await: in the worker mode it is async). */
async function renderHistory() {
  const events = await demo.ranker.rememberedEvents();
  demo.remembered = events;
  renderRemembered(events);
  updatePrivacy(demo);
}

// ------------------------------------------------------------------ reranking

// Ranker calls run one at a time, in the order they were asked for: a rerank queued after a
// click (by the page or a test) always sees that click, in the worker too.
let queue = Promise.resolve();
function enqueue(fn) {
  const next = queue.then(fn);
  queue = next.catch(() => {});
  return next;
}

const rerank = (cause) => enqueue(() => runRerank(cause));

async function runRerank(cause) {
  const longTail = Number($('#long-tail').value);
  const t0 = performance.now();
  const out = await demo.ranker.rerank(demo.candidates, readContext(), { topK: demo.candidates.length, longTail, explain: true });
  setStatus('rerank-ms', (performance.now() - t0).toFixed(1));
  setStatus('rerank-at', `at ${new Date().toLocaleTimeString()}`);
  const before = demo.lastOrder.length ? demo.lastOrder : out;
  demo.lastOrder = out;
  renderDevice(out, renderChanges(cause ?? 'Rerank', before, out, !cause));
  renderTailStats(out);
  renderSession();
  return out;
}

function observe(event, said) {
  const recorded = enqueue(async () => {
    await demo.ranker.observe({ timestamp: Date.now(), ...event });
    demo.events.push(event);
    $('#message').textContent = '';
    renderSession();
    await renderHistory();
  });
  recorded.catch(showError);
  // Queued now, behind the event, so whatever is queued next sees the reranked list; skipped
  // (the error is already shown) when the event was refused.
  return enqueue(async () => {
    const ok = await recorded.then(() => true, () => false);
    return ok ? runRerank(said) : undefined;
  }).catch(showError);
}

function onProductClick(e) {
  const button = e.target.closest('button[data-action]');
  if (!button || !demo.ranker) return;
  const item = byId.get(button.closest('li').dataset.id);
  const event = button.dataset.action;
  if (!EVENTS_WITH_ITEM.has(event)) return;
  const said = `${event === 'view_item' ? 'Viewed' : 'Added to cart'}: ${item.title}`;
  observe({ event, id: item.id, title: item.title, category: item.category }, said);
}

// ------------------------------------------------------------------ privacy panel

async function forgetMe() {
  await enqueue(async () => {
    await demo.ranker.clear(); // the session, its sessionStorage copy and the remembered events
    await demo.ranker.setPersist(false);
    await demo.ranker.setRemember(false);
    await renderHistory();
  });
  sessionStorage.removeItem(KEEP_KEY);
  localStorage.removeItem(REMEMBER_KEY);
  $('#persist').checked = false;
  $('#remember').checked = false;
  demo.events = [];
  demo.query = null;
  $('#search-input').value = '';
  $('#message').textContent = 'Session forgotten: nothing of it is left in this tab or on this device.';
  return rerank('Forget me');
}

async function setKeep(on) {
  if (on) sessionStorage.setItem(KEEP_KEY, '1');
  else sessionStorage.removeItem(KEEP_KEY);
  await enqueue(() => demo.ranker.setPersist(on));
  $('#message').textContent = on ? 'Your session will survive a reload of this tab (sessionStorage).' : 'Your session is no longer stored.';
}

async function setRemember(on) {
  if (on) localStorage.setItem(REMEMBER_KEY, '1');
  else localStorage.removeItem(REMEMBER_KEY);
  await enqueue(async () => {
    await demo.ranker.setRemember(on ? REMEMBER : false);
    await renderHistory();
  });
  $('#message').textContent = on
    ? 'This device remembers your events for 30 days (localStorage, this site only): reload or open a new tab to come back as a returning visitor.'
    : 'Your events are no longer remembered on this device; the stored ones were deleted.';
}

// ------------------------------------------------------------------ start-up

function showProgress(p) {
  demo.progress.push(p);
  const bar = $('#load-progress');
  if (p.stage === 'download') {
    setStatus('load-stage', `Downloading ${p.file} ${fmtBytes(p.loaded)}${p.total ? ` of ${fmtBytes(p.total)}` : ''}`);
    if (p.total) Object.assign(bar, { max: p.total, value: p.loaded });
    else bar.removeAttribute('value');
  } else if (p.stage === 'cache') {
    // A returning visitor: the model cache (js/model-cache.js) had the file, checked by sha256.
    setStatus('load-stage', `Read ${p.file} (${fmtBytes(p.total)}) from this browser's model cache`);
    Object.assign(bar, { max: p.total || 1, value: p.total || 1 });
  } else if (p.stage === 'start') {
    setStatus('load-stage', `Starting the model (${p.device}) and warming up…`);
    bar.removeAttribute('value');
  } else if (p.stage === 'ready') {
    $('[data-testid="loading"]').hidden = true;
  }
}

// The package's default build (pkg/) is CPU only, the fastest here; ?device=webgpu loads the
// opt-in CPU + WebGPU build (pkg/webgpu/) and forces WebGPU (that build's 'auto' would time both
// backends and, here, pick the CPU: docs/api.md "Choosing the backend").
const buildFor = (device) => (device === 'webgpu' ? '/pkg/webgpu' : '/pkg');

async function startRanker(mode, device, persist, remember) {
  const options = { model: '/models/', device, maxSession: 50, persist };
  if (remember) options.remember = REMEMBER;
  if (mode === 'worker') {
    const { LocalRankerWorker, assignArm } = await import(`${buildFor(device)}/worker.js`);
    demo.assignArm = assignArm;
    return LocalRankerWorker.create({
      ...options,
      onProgress: showProgress,
      onRequest: (r) => netlog.record({ url: r.url, initiator: r.initiator, received: r.bytes }),
    });
  }
  showProgress({ stage: 'download', file: 'localrank.js + localrank_core_bg.wasm', loaded: 0, total: 0 });
  const mod = await import(`${buildFor(device)}/localrank.js`);
  demo.assignArm = mod.assignArm;
  await mod.default();
  showProgress({ stage: 'start', device });
  const ranker = await mod.LocalRanker.create(options);
  showProgress({ stage: 'ready' });
  return ranker;
}

async function loadJson(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

async function loadCatalogue() {
  const [catalogJson, serverJson] = await Promise.all([loadJson('/data/catalog.json'), loadJson('/data/server-candidates.json')]);
  demo.catalog = catalogJson;
  byId = new Map(catalogJson.items.map((it) => [String(it.id), it]));
  demo.candidates = serverJson.candidates.map((id) => {
    const it = byId.get(String(id));
    if (!it) throw new Error(`server-candidates.json: id ${id} is not in the catalogue`);
    const c = { id: it.id, title: it.title, category: it.category };
    if (it.price != null) c.price = it.price; // MovieLens has no prices; never invent one
    return c;
  });
}

function wireControls() {
  $('#forget').disabled = false;
  $('#persist').disabled = false;
  $('#remember').disabled = false;
  $('#forget').addEventListener('click', () => forgetMe().catch(showError));
  $('#persist').addEventListener('change', (e) => setKeep(e.target.checked).catch(showError));
  $('#remember').addEventListener('change', (e) => setRemember(e.target.checked).catch(showError));
  $('#use-worker').addEventListener('change', (e) => {
    const params = new URLSearchParams(location.search);
    params.set('worker', e.target.checked ? '1' : '0');
    location.search = params.toString();
  });
  $('#search-form').addEventListener('submit', (e) => {
    e.preventDefault(); // keep the query out of the URL: it never reaches the server
    const query = $('#search-input').value.trim();
    if (!query) return;
    demo.query = query;
    $('#ctx-page').value = 'search';
    observe({ event: 'search', query }, `Searched: ${query}`);
  });
  for (const id of Object.keys(CONTROL_NAMES)) {
    $(`#${id}`).addEventListener('change', (e) => rerank(describeControl(e.target)).catch(showError));
  }
  $('#long-tail').addEventListener('input', (e) => {
    $('#long-tail-value').value = e.target.value;
  });
  $('#long-tail').addEventListener('change', (e) => rerank(`Long tail → ${e.target.value}`).catch(showError));
  document.querySelector('main').addEventListener('click', onProductClick);
}

async function main() {
  watchNetwork(() => demo);
  const params = new URLSearchParams(location.search);
  const device = params.get('device') ?? 'auto';
  if (!['auto', 'cpu', 'webgpu'].includes(device)) throw new Error(`?device must be auto, cpu or webgpu, not "${device}"`);
  demo.mode = params.get('worker') === '0' ? 'page' : 'worker';
  $('#use-worker').checked = demo.mode === 'worker';
  fillContextControls();
  await loadCatalogue();
  renderServer();

  const persist = sessionStorage.getItem(KEEP_KEY) === '1';
  const remember = localStorage.getItem(REMEMBER_KEY) === '1';
  $('#persist').checked = persist;
  $('#remember').checked = remember;
  setStatus('backend', `starting (${device})…`);
  setStatus('runs-in', demo.mode === 'worker' ? 'Web Worker' : 'page (main thread)');
  try {
    demo.ranker = await startRanker(demo.mode, device, persist, remember);
  } catch (err) {
    setStatus('backend', 'unavailable');
    throw new Error(`could not start the ranker with device=${device}: ${err?.message ?? err}`);
  }
  const r = demo.ranker;
  setStatus('backend', r.backend + (r.fallbackReason ? ` (${r.fallbackReason})` : ''));
  setStatus('model-version', r.modelVersion);
  setStatus('model-size', `· ${fmtBytes(r.modelBytes)}`);
  // The experiment arm of this browser (docs/api.md "Measuring uplift"): kept in localStorage.
  demo.arm = demo.assignArm({ experiment: 'demo', share: 0.5 });
  renderArm(demo.arm);
  demo.events = persist || remember ? await sessionEvents() : [];
  await renderHistory();
  demo.rerank = rerank;
  wireControls();
  demo.readyAt = performance.now();
  const restored = demo.ranker.sessionLength > 0;
  await rerank(restored ? (remember ? 'Welcome back: remembered events restored' : 'Session restored') : 'Start');
}

/** The session the ranker holds (restored from sessionStorage), as the page's events. */
async function sessionEvents() {
  const stored = JSON.parse(await demo.ranker.exportSession());
  return stored.map((e) => ({ event: e.kind, id: e.item_id, title: e.title, query: e.query }));
}

main().then(
  () => readyResolve(demo),
  (err) => {
    showError(err);
    $('#device-list .placeholder')?.replaceChildren('The model could not start: see the message above.');
    readyReject(err);
  },
);
