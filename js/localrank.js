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
  encodeCandidates, hookDataLayer, inputError, messageOf, readCandidates, readContext, readCreateOptions, readDataLayer, readEvents,
  readOptions, readSessionText,
} from './input.js';
import { loadModelFiles, sha256Hex } from './model.js';

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

/** Whether `navigator.gpu.requestAdapter()` gives an adapter. */
async function hasWebgpuAdapter() {
  try {
    return Boolean(await globalThis.navigator?.gpu?.requestAdapter());
  } catch {
    return false;
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
  if (await hasWebgpuAdapter()) return { webgpu: true, reason: null };
  if (device === 'webgpu') {
    throw new Error("localrank: backend: device 'webgpu': this browser offers no WebGPU adapter (navigator.gpu.requestAdapter() gave none)");
  }
  return { webgpu: false, reason: 'no WebGPU adapter' };
}

const TOKEN = Symbol('LocalRanker');

/** An on-device reranker. Create it with `await LocalRanker.create(options)`. */
export class LocalRanker {
  #core;
  #broken = null;
  #persist = false;
  #key;
  #fallbackReason;
  #backend;
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
    await init();
    const inspect = (bytes) => callSync(() => inspectManifest(bytes, o.integrity));
    const files = await loadModelFiles(o.model, { inspect, limits: LIMITS, onProgress: o.onProgress });
    const digests = await sha256Hex([files.weights, files.tokenizer]);
    const { webgpu, reason } = await chooseDevice(o.device);
    const args = [files.manifest, files.weights, files.tokenizer, digests ?? undefined, o.maxSession];
    const core = webgpu
      ? await callAsync(() => RankerCore.loadWebgpu(...args))
      : callSync(() => RankerCore.load(...args));
    const ranker = new LocalRanker(TOKEN, core, reason);
    if (o.persist) ranker.#restore();
    return ranker;
  }

  constructor(token, core, fallbackReason) {
    if (token !== TOKEN) throw new TypeError('localrank: use `await LocalRanker.create(options)`');
    this.#core = core;
    this.#backend = core.backend;
    this.#fallbackReason = fallbackReason ?? undefined;
    this.#key = `localrank.session.v2:${core.modelName}`;
  }

  /** `'webgpu'` or `'cpu'`: the backend in use. */
  get backend() {
    return this.#backend;
  }

  /** Why `'auto'` fell back to the CPU, if it did. */
  get fallbackReason() {
    return this.#fallbackReason;
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
    let ranked;
    if (this.#backend === 'webgpu') {
      ranked = JSON.parse(await callAsync(() => core.rerankAsync(json.slice(), ctx, opts.json), this.#breaker()));
    } else if (opts.explain) {
      ranked = JSON.parse(this.#sync(() => core.rerankJson(json, ctx, opts.json)));
    } else {
      ranked = rankedList(ids, this.#sync(() => core.rerankPositions(json, ctx, opts.json)));
    }
    this.#remember(rows);
    return ranked;
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

  /** Forgets the session, in memory and in sessionStorage (the stored copy first, so that it
   * goes even when this ranker is disposed or broken). */
  clear() {
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

  /** Restores the stored session; one that no longer validates is dropped with a warning. */
  #restore() {
    this.#persist = true;
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
