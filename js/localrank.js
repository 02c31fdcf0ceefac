// localrank: rerank a storefront's candidates inside the shopper's browser. The public API.
//
//   import { LocalRanker } from 'localrank';
//   const ranker = await LocalRanker.create({ model: '/models/' });
//   ranker.observe({ event: 'view_item', id: '50', title: 'Star Wars (1977)', category: 'Action' });
//   const order = await ranker.rerank(candidates, { pageType: 'home' }, { topK: 20 });
//
// This file wraps the wasm module (`localrank_core.js`, src/web.rs) so that every call settles:
//  - arguments are read by js/input.js (known fields, primitives only) before wasm sees them;
//  - model files are fetched and size-checked by js/model.js before a byte is copied in;
//  - a trap inside wasm (a panic: wasm32 cannot unwind) becomes an Error, the ranker it hit is
//    marked broken (every later call rejects with the reason), and the wasm stack pointer is put
//    back so that the module keeps working for every other ranker. A stack overflow trap would
//    otherwise leave the pointer at the bottom of the stack: each later call of the module then
//    failed with "memory access out of bounds" until the page reloaded;
//  - the CPU backend runs synchronously inside the call (no Rust future is ever polled), and a
//    panic inside the WebGPU build's async calls rejects every pending one and disables WebGPU
//    calls (wasm-bindgen-futures' queue is left half-run by a trap) instead of hanging them.

import initCore, { initSync as initCoreSync, RankerCore, limits as coreLimits, inspectManifest, setPanicListener } from './localrank_core.js';
import {
  backendCacheKey, calibrationSettings, encodeCandidates, hookDataLayer, inputError, messageOf, readCandidates, readContext, readCreateOptions, readDataLayer, readEvents,
  readBackendDecision, readOptions, readRemember, readSessionText, serverOrderOptions, storeBackendDecision,
} from './input.js';
import { currentVisitStart, describeHistory, DeviceHistory, historyKey, visitBegun } from './device-store.js';
import { loadModelFiles, sha256Hex } from './model.js';
import { clearModelCache } from './model-cache.js';

// The experiment arm for measuring uplift without click logs (docs/api.md "Measuring uplift").
export { assignArm } from './device-store.js';

/** A stored or imported session larger than this is refused (10,000 events of capped text). */
const MAX_SESSION_TEXT = 32 << 20;
/** Candidates remembered (id -> title, category) for events that carry only an item id. */
const SEEN_CANDIDATES = 5_000;

let wasm = null; // the instance's exports
let LIMITS = null;
let syncDepth = 0; // > 0 while a synchronous wasm call is on the stack
let lastPanic = null;
let asyncBroken = null; // why async (WebGPU) calls are off, after a panic inside one
const inFlight = new Set(); // reject functions of pending async wasm calls

function wire(exports) {
  wasm = exports;
  LIMITS = coreLimits();
  setPanicListener(onPanic);
  return exports;
}

/** Loads the wasm (by default from next to this file). `create` calls it when needed. */
export default async function init(moduleOrPath) {
  return wasm ?? wire(await initCore(moduleOrPath));
}

export function initSync(module) {
  return wasm ?? wire(initCoreSync(module));
}

/** Called by the panic hook (src/web.rs) before the trap. */
function onPanic(message) {
  if (syncDepth > 0) {
    lastPanic = String(message); // a synchronous call: its caller turns the trap into an Error
    return;
  }
  asyncBroken = `localrank: internal error in an async call: ${message}`;
  for (const reject of inFlight) reject(new Error(`${asyncBroken} (the call was abandoned)`));
  inFlight.clear();
}

/** The wasm stack pointer: the `__stack_pointer` global, exported by the linker
 * (wasm-pack.toml: `--export=__stack_pointer`). */
function stackPointer() {
  return wasm?.__stack_pointer?.value;
}

function restoreStack(saved) {
  if (saved !== undefined) wasm.__stack_pointer.value = saved;
}

/** Runs a synchronous wasm call; a trap becomes an Error and `onBreak(reason)` is told. */
function callSync(fn, onBreak) {
  const saved = stackPointer();
  syncDepth++;
  try {
    return fn();
  } catch (e) {
    throw asError(e, saved, onBreak);
  } finally {
    syncDepth--;
  }
}

function asError(e, saved, onBreak) {
  const trapped = e instanceof WebAssembly.RuntimeError || lastPanic !== null;
  if (!trapped) return e instanceof Error ? e : new Error(`localrank: ${messageOf(e)}`);
  restoreStack(saved);
  const reason = `localrank: internal error: ${lastPanic ?? messageOf(e)}`;
  lastPanic = null;
  onBreak?.(reason);
  return new Error(`${reason} (this LocalRanker is broken: create a new one)`);
}

/** Runs an async wasm call: it settles even if a panic leaves wasm's task queue half-run. */
function callAsync(fn, onBreak) {
  if (asyncBroken) return Promise.reject(new Error(`${asyncBroken}; WebGPU calls are off until the page reloads`));
  return new Promise((resolve, reject) => {
    const fail = (e) => {
      inFlight.delete(fail);
      reject(e);
    };
    inFlight.add(fail);
    let promise;
    try {
      promise = callSync(fn, onBreak);
    } catch (e) {
      return fail(e);
    }
    promise.then((v) => (inFlight.delete(fail), resolve(v)), (e) => fail(asError(e, undefined, onBreak)));
  });
}

/** `navigator.gpu.requestAdapter()`'s adapter (null if none): `{ fallback }`, whether it is a
 * fallback (software) adapter such as Chromium's SwiftShader. */
async function webgpuAdapter() {
  try {
    const adapter = await globalThis.navigator?.gpu?.requestAdapter();
    if (!adapter) return null;
    return { fallback: Boolean(adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter) };
  } catch {
    return null;
  }
}

/** `{ webgpu, reason }` for `options.device`. */
async function chooseDevice(device) {
  const compiled = LIMITS.webgpuCompiled === 1;
  if (device === 'cpu') return { webgpu: false, reason: null };
  if (!compiled) {
    if (device === 'webgpu') throw new Error("localrank: backend: device 'webgpu': this build has no WebGPU backend (import 'localrank/webgpu')");
    return { webgpu: false, reason: 'built without WebGPU' };
  }
  const adapter = await webgpuAdapter();
  if (adapter) return { webgpu: true, reason: null, fallback: adapter.fallback };
  if (device === 'webgpu') {
    throw new Error("localrank: backend: device 'webgpu': this browser offers no WebGPU adapter (navigator.gpu.requestAdapter() gave none)");
  }
  return { webgpu: false, reason: 'no WebGPU adapter' };
}

// How `device: 'auto'` decides: `calibrationSettings` (js/input.js, shared with js/worker.js,
// which passes the page's settings to the worker).
export { calibrationSettings };

/** The reason 'auto' gives for not calibrating a fallback adapter. */
const FALLBACK_REASON = 'the WebGPU adapter is a fallback (software) adapter, slower than the CPU at every work size measured';

/** Where decisions are kept: localStorage; js/worker.js sets one seeded by the page's. */
let backendCache = {
  get: (key) => globalThis.localStorage?.getItem(key) ?? null,
  set: (key, calibration) => storeBackendDecision(key, calibration),
};

/** For js/worker.js: `{ get(key) -> string | null, set(key, calibration) }`. */
export function useBackendCache(cache) {
  backendCache = cache;
}

/** Where `remember` keeps events: localStorage (js/device-store.js). A worker has none, so
 * js/worker-entry.js sets a store that hands each observe's events to the page, which keeps them. */
let historyStore = (modelName, limits) => new DeviceHistory(historyKey(modelName), limits);

/** For js/worker-entry.js: `(modelName, limits) -> { load(), append(events), remove() }`. */
export function useHistoryStore(factory) {
  historyStore = factory;
}

const loadCpu = (args) => callSync(() => RankerCore.load(...args));
const loadGpu = (args) => callAsync(() => RankerCore.loadWebgpu(...args));
const ms1 = (x) => (x < 10 ? x.toFixed(2) : x.toFixed(1));

/** 'auto' with an adapter in the WebGPU build: `{ core, reason, calibration }`. */
async function autoBackend(args, manifest, maxSession) {
  const m = JSON.parse(new TextDecoder().decode(manifest)); // inspectManifest has checked it
  const key = backendCacheKey(`${m.name}@${m.version}`);
  const s = calibrationSettings;
  const cached = readBackendDecision((k) => backendCache.get(k), key, s.maxAgeDays);
  if (cached) {
    const calibration = { ...cached, cached: true };
    const why = `cached calibration of ${cached.at.slice(0, 10)}: ${cached.reason}`;
    if (cached.backend === 'cpu') return { core: loadCpu(args), reason: why, calibration };
    try {
      return { core: await loadGpu(args), reason: undefined, calibration };
    } catch (e) {
      return { core: loadCpu(args), reason: `${why}; but WebGPU failed to load: ${messageOf(e)}`, calibration };
    }
  }
  const modelWindow = m.config.max_session;
  const events = Math.max(1, Math.min(maxSession ?? modelWindow, modelWindow));
  const cpu = loadCpu(args);
  let result;
  try {
    result = await calibrate(cpu, args, events);
  } catch (e) {
    // The CPU is the fallback: a calibration that failed (a WebGPU error) decides nothing.
    try {
      cpu.clear();
    } catch {
      // a broken core: the next call says so
    }
    return { core: cpu, reason: `calibration failed, so the CPU: ${messageOf(e)}`, calibration: undefined };
  }
  const { core, calibration } = result;
  backendCache.set(key, calibration);
  return { core, reason: core.backend === 'cpu' ? `calibration: ${calibration.reason}` : undefined, calibration };
}

/** Synthetic input of the calibration: `events` views and 100 candidates, nothing of the
 * shopper's. */
function syntheticInput(events, candidates) {
  const seen = new Map();
  const title = (i) => `Calibration product ${i} of the localrank backend test`;
  const evs = [];
  for (let i = 0; i < events; i++) {
    evs.push(...readEvents({ event: 'view_item', id: `c${i}`, title: title(i), category: 'Calibration', timestamp: 1.7e12 }, LIMITS, seen));
  }
  const list = Array.from({ length: candidates }, (_, i) => ({ id: `c${i}`, title: title(i), category: 'Calibration' }));
  return {
    events: evs.map((e) => e.json),
    candidates: encodeCandidates(readCandidates(list, LIMITS).rows),
    context: readContext({ timestamp: 1.7e12, pageType: 'home', device: 'desktop' }, LIMITS),
    options: readOptions({}).json,
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/**
 * Times the CPU core, and WebGPU only when the CPU is slower than `webgpuAboveMs`, on synthetic
 * input; the timed reranks of both stop within `budgetMs`. Resolves to the faster core (the
 * other is freed, its session left empty) and what was measured.
 */
async function calibrate(cpu, args, events) {
  const s = calibrationSettings;
  const n = s.candidates;
  const input = syntheticInput(events, n);
  const t0 = performance.now();
  const cpuRerank = () => callSync(() => cpu.rerankPositions(input.candidates, input.context, input.options));
  for (const e of input.events) callSync(() => cpu.observe(e));
  cpuRerank(); // warm-up
  const cpuTimes = [];
  while (cpuTimes.length < 5 && (cpuTimes.length === 0 || performance.now() - t0 < s.budgetMs / 3)) {
    const a = performance.now();
    cpuRerank();
    cpuTimes.push(performance.now() - a);
  }
  cpu.clear();
  const cpuMs = median(cpuTimes);
  const what = `a rerank of ${n} candidates with ${events} events`;
  const at = new Date().toISOString();
  const base = { cpuMs, webgpuMs: null, webgpuLoadMs: null, events, candidates: n, at, cached: false };
  if (cpuMs <= s.webgpuAboveMs) {
    const reason = `CPU ${ms1(cpuMs)} ms ${what}, at most the ${s.webgpuAboveMs} ms above which WebGPU is loaded and timed`;
    return { core: cpu, calibration: { ...base, backend: 'cpu', ms: performance.now() - t0, reason } };
  }
  const cpuSpent = performance.now() - t0;
  // Loading WebGPU (and its first rerank of this shape, which compiles the shaders) is not
  // part of the bound: it cannot be interrupted. It happens at most once per origin and model.
  const l0 = performance.now();
  const gpu = await loadGpu(args);
  const gpuRerank = () => callAsync(() => gpu.rerankAsync(input.candidates.slice(), input.context, input.options));
  let pending = null;
  // A rerank still running when the bound was reached borrows the core: free it afterwards.
  const freeGpu = () => Promise.resolve(pending).catch(() => {}).then(() => {
    try {
      gpu.free();
    } catch {
      // Already gone with a panic: nothing to free.
    }
  });
  try {
    for (const e of input.events) callSync(() => gpu.observe(e));
    await gpuRerank();
  } catch (e) {
    freeGpu();
    throw e;
  }
  const webgpuLoadMs = performance.now() - l0;
  const g0 = performance.now();
  const deadline = g0 + Math.max(s.budgetMs - cpuSpent, 0);
  const gpuTimes = [];
  while (gpuTimes.length < 5) {
    const a = performance.now();
    // Start no rerank that the last ones say would end past the bound.
    if (a + (gpuTimes.length > 0 ? Math.max(...gpuTimes) : 0) >= deadline) break;
    pending = gpuRerank();
    let timer;
    const late = new Promise((resolve) => (timer = setTimeout(() => resolve('late'), deadline - a)));
    const r = await Promise.race([pending.then(() => 'done'), late]);
    clearTimeout(timer);
    if (r === 'late') break;
    pending = null;
    gpuTimes.push(performance.now() - a);
  }
  const ms = cpuSpent + (performance.now() - g0);
  const measured = { ...base, webgpuLoadMs, ms };
  if (gpuTimes.length > 0 && median(gpuTimes) < cpuMs) {
    const webgpuMs = median(gpuTimes);
    cpu.free();
    gpu.clear();
    const reason = `WebGPU ${ms1(webgpuMs)} ms vs CPU ${ms1(cpuMs)} ms ${what}`;
    return { core: gpu, calibration: { ...measured, backend: 'webgpu', webgpuMs, reason } };
  }
  freeGpu();
  const webgpuMs = gpuTimes.length > 0 ? median(gpuTimes) : null;
  const reason = webgpuMs !== null
    ? `CPU ${ms1(cpuMs)} ms vs WebGPU ${ms1(webgpuMs)} ms ${what}`
    : `CPU ${ms1(cpuMs)} ms ${what}; WebGPU finished no rerank within the ${s.budgetMs} ms bound`;
  return { core: cpu, calibration: { ...measured, backend: 'cpu', webgpuMs, reason } };
}

/** 'cache' when no model byte was downloaded, 'network' when one was, 'bytes' for page bytes. */
function modelSource(cached) {
  if (!cached) return 'bytes';
  return cached.weights && cached.tokenizer ? 'cache' : 'network';
}

const TOKEN = Symbol('LocalRanker');

/** An on-device reranker. Create it with `await LocalRanker.create(options)`. */
export class LocalRanker {
  #core;
  #broken = null;
  #persist = false;
  #key;
  #history = null; // the remembered events (`remember`), or null when off
  #historyKey;
  #fallbackReason;
  #backend;
  #calibration;
  #modelSource;
  // id -> { title, category } of the latest SEEN_CANDIDATES candidates reranked (in memory only).
  #seen = new Map();
  #disconnects = new Set();

  /**
   * Loads the model and picks a backend. Options: `model` (the model directory's URL, or
   * `{ manifest, weights, tokenizer }` bytes), `device` ('auto' | 'cpu' | 'webgpu'),
   * `maxSession`, `persist` (keep the session in this tab's sessionStorage), `integrity`
   * (the manifest's sha256, hex or SRI "sha256-...": pins the model the site reviewed),
   * `onProgress({ stage, file, loaded, total })`.
   */
  static async create(options) {
    const o = readCreateOptions(options);
    // The wasm streams in and compiles while the manifest is read (model cache or network):
    // on a second visit both come from the browser's caches and each took 40-60 ms of mostly
    // waiting (bench/run.mjs, 2-core machine, 2026-12-07). A failure of either rejects create.
    const ready = init();
    ready.catch(() => {}); // awaited below; a model error first must not leave it unhandled
    const limits = ready.then(() => LIMITS);
    const inspect = async (bytes) => {
      await ready;
      return callSync(() => inspectManifest(bytes, o.integrity));
    };
    const files = await loadModelFiles(o.model, { inspect, limits, onProgress: o.onProgress, cache: o.cache, pin: o.integrity });
    await ready;
    const digests = files.digests ?? await sha256Hex([files.weights, files.tokenizer]);
    const choice = await chooseDevice(o.device);
    const args = [files.manifest, files.weights, files.tokenizer, digests ?? undefined, o.maxSession];
    let core;
    let reason = choice.reason;
    let calibration;
    if (choice.webgpu && o.device === 'auto' && choice.fallback && !calibrationSettings.fallbackAdapters) {
      [core, reason] = [loadCpu(args), FALLBACK_REASON];
    } else if (choice.webgpu && o.device === 'auto') {
      ({ core, reason, calibration } = await autoBackend(args, files.manifest, o.maxSession));
    } else {
      core = choice.webgpu ? await loadGpu(args) : loadCpu(args);
    }
    const ranker = new LocalRanker(TOKEN, core, reason, calibration);
    ranker.#modelSource = modelSource(files.cached);
    // With `remember` the stored events are a superset of this tab's session: restoring from
    // them loses nothing and counts nothing twice, so sessionStorage is then only written.
    ranker.#persist = o.persist;
    if (o.remember) ranker.#recall(o.remember);
    else if (o.persist) ranker.#restore();
    return ranker;
  }

  constructor(token, core, fallbackReason, calibration) {
    if (token !== TOKEN) throw new TypeError('localrank: use `await LocalRanker.create(options)`');
    this.#core = core;
    this.#backend = core.backend;
    this.#fallbackReason = fallbackReason ?? undefined;
    this.#calibration = calibration ? Object.freeze({ ...calibration }) : undefined;
    this.#key = `localrank.session.v2:${core.modelName}`;
    this.#historyKey = historyKey(core.modelName);
  }

  /** `'webgpu'` or `'cpu'`: the backend in use. */
  get backend() {
    return this.#backend;
  }

  /** Why `'auto'` fell back to the CPU, if it did. */
  get fallbackReason() {
    return this.#fallbackReason;
  }

  /** What `'auto'` measured (or read from its cache) to choose the backend in the WebGPU build:
   * `{ backend, reason, cached, at, ms, cpuMs, webgpuMs, webgpuLoadMs, events, candidates }`;
   * undefined when nothing was measured (a forced device, no adapter, the CPU build). */
  get calibration() {
    return this.#calibration;
  }

  /** Where the model files came from: 'cache' (the model cache: no model byte downloaded),
   * 'network' (at least one file downloaded) or 'bytes' (passed in by the page). */
  get modelSource() {
    return this.#modelSource;
  }

  /** Deletes this origin's model cache (Cache API `localrank-models-v1`); the next `create`
   * downloads the model again. Resolves to whether there was one; never rejects. */
  static clearModelCache() {
    return clearModelCache();
  }

  /** The model's name (manifest.json `name`). */
  get modelName() {
    return this.#sync((c) => c.modelName);
  }

  get modelVersion() {
    return this.#sync((c) => c.modelVersion);
  }

  /** Bytes of the model files (weights + tokenizer) as the manifest lists them. */
  get modelBytes() {
    return this.#sync((c) => c.modelBytes);
  }

  get sessionLength() {
    return this.#sync((c) => c.sessionLength);
  }

  /** The sessionStorage key of this model's session (namespaced by the model's name). */
  get storageKey() {
    return this.#key;
  }

  /** The localStorage key of the remembered events (`remember`) of this model's rankers. */
  get historyKey() {
    return this.#historyKey;
  }

  /** Records a shopper event locally (GA4 names: view_item, select_item, add_to_cart,
   * purchase, search; the GA4 `ecommerce.items` shape too: one event per item, all or none).
   * Nothing is sent anywhere. */
  observe(event) {
    const events = readEvents(event, LIMITS, this.#seen);
    // After the event is read: a getter of the page's may have disposed this ranker.
    const core = this.#live();
    if (events.length === 0) return;
    if (events.length === 1) {
      this.#sync(() => core.observe(events[0].json));
      this.#keep(1);
      return this.#save();
    }
    // Several items: all are recorded or none (the core checks each event as it records it).
    const before = this.#sync(() => core.exportSession());
    for (const { json, where } of events) {
      try {
        this.#sync(() => core.observe(json));
      } catch (e) {
        if (this.#broken || !this.#core) throw e;
        const at = where.replace(/^observe: /, '');
        try {
          this.#sync(() => core.importSession(new TextEncoder().encode(before)));
        } catch (undo) {
          throw new Error(`${messageOf(e)} (at ${at}; the items before it could not be taken back: ${messageOf(undo)})`);
        }
        throw new Error(`${messageOf(e)} (at ${at}; no item of this event was recorded)`);
      }
    }
    this.#keep(events.length);
    this.#save();
  }

  /**
   * Observes the e-commerce events the page pushes to `dataLayer` (default `window.dataLayer`)
   * or sends with `gtag('event', name, params)`, locally. The site's push is called first, with
   * the same arguments, and its result returned; each push is observed afterwards in a
   * microtask, its failures reported with console.warn (once per kind). The entries already in
   * the array are observed too. Returns `disconnect()`, which puts the site's push back.
   */
  connectDataLayer(dataLayer) {
    const layer = readDataLayer(dataLayer);
    this.#live();
    const unhook = hookDataLayer(layer, (e) => this.observe(e));
    const disconnect = () => {
      this.#disconnects.delete(disconnect);
      unhook();
    };
    this.#disconnects.add(disconnect);
    return disconnect;
  }

  /** Reorders `candidates` (server order) for this session in `context`. Resolves to
   * `[{ id, score, serverRank, reasons? }]`, best first. */
  async rerank(candidates, context, options) {
    this.#live();
    // Every argument is read before anything is encoded or the core is taken: the page's
    // getters may call this ranker again (found by tests/browser/fuzz.test.mjs: a nested
    // rerank overwrote the outer one's candidates) or dispose it.
    const { rows, ids } = readCandidates(candidates, LIMITS);
    const ctx = readContext(context, LIMITS);
    const opts = readOptions(options);
    const core = this.#live();
    const json = encodeCandidates(rows);
    // The event times before an async rerank: an observe may land while it runs.
    const times = opts.explain || this.#history ? this.#eventTimes() : null;
    // With `remember`, a visit without an event yet keeps the server order (device-store.js
    // `visitBegun`: the measurement behind it).
    const cold = this.#history !== null && !visitBegun(times, Date.now());
    const run = cold ? serverOrderOptions(opts) : opts;
    let ranked;
    if (this.#backend === 'webgpu') {
      ranked = JSON.parse(await callAsync(() => core.rerankAsync(json.slice(), ctx, run.json), this.#breaker()));
    } else if (run.explain) {
      ranked = JSON.parse(this.#sync(() => core.rerankJson(json, ctx, run.json)));
    } else {
      ranked = rankedList(ids, this.#sync(() => core.rerankPositions(json, ctx, run.json)));
    }
    if (cold && opts.explain) ranked.forEach((r) => { r.reasons = []; });
    else if (opts.explain) markEarlierVisits(ranked, times);
    this.#remember(rows);
    return ranked;
  }

  /** The time of each session event, oldest first (the index of an event reason). */
  #eventTimes() {
    return JSON.parse(this.exportSession()).map((e) => e.timestamp_ms);
  }

  /** Keeps the titles and categories of reranked candidates for events that name only an id
   * (the newest SEEN_CANDIDATES ids). */
  #remember(rows) {
    const seen = this.#seen;
    for (const { id, title, category } of rows) {
      seen.delete(id);
      seen.set(id, { title, category });
    }
    for (const id of seen.keys()) {
      if (seen.size <= SEEN_CANDIDATES) break;
      seen.delete(id);
    }
  }

  /** Keeps (true) or stops keeping (false) the session in sessionStorage; turning it off
   * deletes the stored copy. */
  setPersist(on) {
    this.#persist = on === true;
    if (this.#persist) this.#save();
    else removeStored(this.#key);
  }

  /**
   * Keeps (true, or `{ days, maxEvents }`) or stops keeping (false) the shopper's events across
   * visits in this origin's localStorage (`historyKey`). Turning it on keeps this session's
   * events and every later one; turning it off deletes the stored events. On bad input nothing
   * changes.
   */
  setRemember(on) {
    if (on === undefined || on === null) throw inputError('setRemember(on): expected true, false or { days, maxEvents }, got ' + String(on));
    const limits = readRemember(on, 'setRemember(on)');
    const core = this.#live();
    if (!limits) {
      this.#history?.remove();
      this.#history = null;
      return;
    }
    const was = this.#history;
    this.#history = historyStore(core.modelName, limits);
    if (was) this.#history.load(); // the new bounds, applied now
    else this.#history.append(JSON.parse(this.exportSession()));
  }

  /** The remembered events, oldest first (copies): `[{ event, itemId, title, category, query?,
   * at, earlierVisit }]` (`at`: ms since 1970); `[]` when `remember` is off. */
  rememberedEvents() {
    return this.#history ? describeHistory(this.#history.load(), Date.now()) : [];
  }

  /** The session as an opaque JSON string, for `importSession`. It never leaves the device
   * unless the caller sends it. */
  exportSession() {
    return this.#sync((c) => c.exportSession());
  }

  /** Replaces the session with one from `exportSession`; on bad input the session is kept. */
  importSession(json) {
    const bytes = readSessionText(json, MAX_SESSION_TEXT);
    const core = this.#live();
    this.#sync(() => core.importSession(bytes));
    this.#save();
  }

  /** Forgets the session, in memory, in sessionStorage and the remembered events in localStorage
   * (the stored copies first, so that they go even when this ranker is disposed or broken).
   * `remember` stays on: later events are kept again. */
  clear() {
    this.#history?.remove();
    removeStored(this.#key);
    this.#seen.clear();
    this.#sync((c) => c.clear());
  }

  /** Releases the model. Later calls fail with a clear error. */
  dispose() {
    for (const disconnect of this.#disconnects) disconnect();
    this.#seen.clear();
    const core = this.#core;
    this.#core = null;
    try {
      core?.free();
    } catch {
      // A broken core may still be borrowed by the call that trapped: nothing more to free.
    }
  }

  #live() {
    if (this.#broken) throw new Error(`${this.#broken} (this LocalRanker is broken: create a new one)`);
    if (!this.#core) throw inputError('this LocalRanker was disposed; create a new one');
    return this.#core;
  }

  #breaker() {
    return (reason) => {
      this.#broken = reason;
    };
  }

  #sync(fn) {
    const core = this.#live();
    return callSync(() => fn(core), this.#breaker());
  }

  #save() {
    if (!this.#persist) return;
    try {
      globalThis.sessionStorage?.setItem(this.#key, this.exportSession());
    } catch (e) {
      // Full or disabled storage must not fail the shopper's event: the session is in memory.
      console.warn(`localrank: the session could not be kept in sessionStorage (${messageOf(e)})`);
    }
  }

  /** Adds the last `n` events the core recorded to the remembered ones. Never throws: the
   * event is recorded in memory whatever the storage does (DeviceHistory warns once). */
  #keep(n) {
    if (!this.#history) return;
    try {
      const session = JSON.parse(this.exportSession());
      this.#history.append(session.slice(Math.max(session.length - n, 0)));
    } catch (e) {
      console.warn(`localrank: the event could not be remembered (${messageOf(e)})`);
    }
  }

  /** Starts remembering and restores the session from the remembered events (expired ones are
   * pruned first); a stored list the core refuses is dropped with a warning. */
  #recall(limits) {
    this.#history = historyStore(this.modelName, limits);
    const events = this.#history.load();
    if (events.length === 0) return;
    try {
      this.importSession(JSON.stringify(events));
    } catch (e) {
      console.warn(`localrank: dropped remembered events that no longer validate (${messageOf(e)})`);
      this.#history.remove();
    }
  }

  /** Restores the stored session; one that no longer validates is dropped with a warning. */
  #restore() {
    let json = null;
    try {
      json = globalThis.sessionStorage?.getItem(this.#key) ?? null;
    } catch (e) {
      console.warn(`localrank: sessionStorage cannot be read (${messageOf(e)})`);
    }
    if (json === null) return;
    try {
      this.importSession(json);
    } catch (e) {
      console.warn(`localrank: dropped a stored session that no longer validates (${messageOf(e)})`);
      removeStored(this.#key);
    }
  }
}

function removeStored(key) {
  try {
    globalThis.sessionStorage?.removeItem(key);
  } catch (e) {
    console.warn(`localrank: sessionStorage refused to delete the stored session (${messageOf(e)})`);
  }
}

/** Marks each event reason whose event is from an earlier visit (device-store.js
 * `currentVisitStart`) with `earlierVisit: true` and the event's time `at`. */
function markEarlierVisits(ranked, times) {
  const start = currentVisitStart(times, Date.now());
  if (start === 0) return;
  for (const r of ranked) {
    for (const reason of r.reasons ?? []) {
      if (reason.source === 'event' && reason.index < start) Object.assign(reason, { earlierVisit: true, at: times[reason.index] });
    }
  }
}

/** `[{ id, score, serverRank }]` from `positions then scores` (src/web.rs rerankPositions). */
function rankedList(ids, packed) {
  const n = packed.length / 2;
  const out = new Array(n);
  for (let k = 0; k < n; k++) {
    const position = packed[k];
    out[k] = { id: ids[position], score: packed[n + k], serverRank: position + 1 };
  }
  return out;
}
