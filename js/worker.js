// localrank in a Web Worker, so reranking never stalls the page. Two files:
//
//   page:   import { LocalRankerWorker } from 'localrank/worker.js';   (this file)
//           const ranker = await LocalRankerWorker.create({ model: '/models/', onProgress });
//   worker: worker-entry.js, started by LocalRankerWorker.create as a module worker with
//           new Worker(new URL('./worker-entry.js', import.meta.url), { type: 'module' }), the
//           pattern bundlers detect. worker-entry.js never imports this file: a worker whose
//           own code starts itself is a cycle Vite refuses to build.
//
// The worker fetches the wasm and the model files itself so it can report progress
// ({ stage, file, loaded, total }); every request it makes is reported to the page
// (onRequest) because the page's own PerformanceObserver cannot see a worker's requests.
// The session lives in the worker; with `persist` the page keeps a copy in sessionStorage
// (workers have none), under the key the in-page LocalRanker uses for the same model; with
// `remember` the page keeps the remembered events in localStorage the same way: it passes them to
// the worker at create and appends the events each observe recorded.
//
// Every call settles: arguments that cannot be sent to the worker reject at once; a worker that
// crashes is terminated and every pending and later call rejects with the reason; `clear()`
// wins over session copies still on their way back from the worker.

import {
  backendCacheKey, backendCacheSnapshot, calibrationSettings, callback, copyEvent, hookDataLayer, inputError as invalid, messageOf, readCreateOptions,
  readDataLayer, readRemember, resolveUrl, storeBackendDecision,
} from './input.js';
import { describeHistory, DeviceHistory, historyKey } from './device-store.js';
import { clearModelCache } from './model-cache.js';

// The experiment arm (js/device-store.js), also from this entry point.
export { assignArm } from './device-store.js';

const inWorker = typeof WorkerGlobalScope !== 'undefined' && self instanceof WorkerGlobalScope;
// The worker says hello once its script has run; a URL that is not localrank's worker (a wrong
// `workerUrl`, a bundler that rewrote it) would otherwise leave `create` waiting forever.
// 15 s: worker-entry.js is a few KB and imports only input.js before the hello.
const HELLO_MS = 15_000;

// ---------------------------------------------------------------- page side

export class LocalRankerWorker {
  #worker;
  #calls = new Map();
  #next = 1;
  #persist = false;
  #key = null;
  #broken = null;
  // Bumped by clear() and setPersist(false): a session copy that an earlier call brings back
  // afterwards is not stored (it would write the forgotten session back).
  #generation = 0;
  #history = null; // the remembered events (`remember`) in this page's localStorage
  // Bumped by clear() and setRemember(false): events an earlier observe brings back afterwards
  // are not remembered (they would write forgotten events back).
  #forgets = 0;
  #hello;
  #stopHello = () => {};
  #disconnects = new Set();

  /**
   * options: { model: URL of the model directory, device?, maxSession?, persist?, integrity?,
   *            cache?, onProgress?(p), onRequest?(r), workerUrl? }. Resolves once the model is loaded
   * and warmed up; rejects with the worker's Error message otherwise.
   */
  /** Deletes the origin's model cache (shared by the page and its workers); never rejects. */
  static clearModelCache() {
    return clearModelCache();
  }

  static async create(options) {
    const o = readCreateOptions(options, ['onRequest', 'workerUrl']);
    const where = 'create: options';
    if (typeof o.model !== 'string') throw invalid(`${where}.model: the worker fetches the model itself: expected the model directory URL`);
    const model = resolveUrl(o.model, `${where}.model`).href;
    const onRequest = callback(o.extra.onRequest, `${where}.onRequest`);
    const url = o.extra.workerUrl === undefined ? undefined : resolveUrl(o.extra.workerUrl, `${where}.workerUrl`);
    const ranker = new LocalRankerWorker(url, { onProgress: o.onProgress, onRequest });
    try {
      await ranker.#hello;
      // 'auto' in the WebGPU build: the worker has no localStorage, so the page passes the stored
      // backend decisions in and keeps the one a calibration in the worker made.
      const backendCache = o.device === 'auto' ? backendCacheSnapshot() : {};
      // The page's calibrationSettings too: the worker's module has its own copy.
      const calibration = { ...calibrationSettings };
      const info = await ranker.#call('create', {
        model, device: o.device, maxSession: o.maxSession, integrity: o.integrity, cache: o.cache, remember: o.remember !== null, backendCache, calibration,
      });
      if (info.calibration && !info.calibration.cached) storeBackendDecision(backendCacheKey(info.modelVersion), info.calibration);
      Object.assign(ranker, info);
      ranker.#key = `localrank.session.v2:${info.modelName}`;
      ranker.historyKey = historyKey(info.modelName);
      // As in LocalRanker.create: the remembered events are a superset of this tab's session.
      if (o.remember) await ranker.#recall(o.remember);
      else if (o.persist) await ranker.#restore();
      ranker.#persist = o.persist;
      if (o.persist && o.remember) ranker.#store(await ranker.exportSession(), ranker.#generation);
    } catch (err) {
      ranker.dispose();
      throw err;
    }
    return ranker;
  }

  constructor(url, { onProgress, onRequest }) {
    let greeted;
    this.#hello = new Promise((resolve, reject) => {
      greeted = resolve;
      const timer = setTimeout(() => reject(new Error(`localrank: worker failed: ${url ?? "localrank's worker-entry.js"} did not start localrank's worker within ${HELLO_MS / 1000} s (is workerUrl localrank's worker-entry.js?)`)), HELLO_MS);
      // A crash before the hello rejects at once, with the crash's reason.
      this.#stopHello = (reason) => (clearTimeout(timer), reason && reject(new Error(reason)));
    });
    this.#hello.catch(() => {});
    // Written literally, as Vite and webpack 5 document it, so that a bundler builds
    // worker-entry.js (and what it imports: the wasm included) as a worker chunk of its own.
    this.#worker = url === undefined
      ? new Worker(new URL('./worker-entry.js', import.meta.url), { type: 'module', name: 'localrank' })
      : new Worker(url, { type: 'module', name: 'localrank' });
    this.#worker.onmessage = ({ data }) => {
      if (data?.type === 'hello') return (this.#stopHello(), greeted());
      if (data?.type === 'progress') return safely(onProgress, data);
      if (data?.type === 'request') return safely(onRequest, data);
      const call = this.#calls.get(data?.id);
      if (!call) return;
      this.#calls.delete(data.id);
      if (data.error !== undefined) call.reject(new Error(String(data.error)));
      else call.resolve(data.result);
    };
    this.#worker.onerror = (e) => {
      e.preventDefault?.();
      this.#crash(`localrank: worker failed: ${e.message || 'it could not start or threw outside a call'}`);
    };
    this.#worker.onmessageerror = () => this.#crash('localrank: worker failed: a message could not be read');
  }

  #call(method, arg) {
    if (this.#broken) return Promise.reject(new Error(this.#broken));
    if (!this.#worker) return Promise.reject(invalid('this LocalRankerWorker was disposed; create a new one'));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#calls.set(id, { resolve, reject });
      try {
        this.#worker.postMessage({ id, method, arg });
      } catch (e) {
        // Functions, Proxies, throwing getters, objects too deep to copy: rejected here.
        this.#calls.delete(id);
        reject(invalid(`${method}: the arguments cannot be sent to the worker (${messageOf(e)})`));
      }
    });
  }

  /** The worker is gone: every pending and later call rejects with `reason`. */
  #crash(reason) {
    this.#broken = `${reason} (this LocalRankerWorker is broken: create a new one)`;
    this.#stopHello(this.#broken);
    this.#worker?.terminate();
    this.#worker = null;
    this.#failAll(this.#broken);
  }

  #failAll(message) {
    for (const call of this.#calls.values()) call.reject(new Error(message));
    this.#calls.clear();
  }

  #store(session, generation) {
    if (!this.#persist || session === undefined || generation !== this.#generation) return;
    try {
      sessionStorage.setItem(this.#key, session);
    } catch (e) {
      console.warn(`localrank: the session could not be kept in sessionStorage (${messageOf(e)})`);
    }
  }

  async #restore() {
    let session = null;
    try {
      session = sessionStorage.getItem(this.#key);
    } catch (e) {
      console.warn(`localrank: sessionStorage cannot be read (${messageOf(e)})`);
    }
    if (session === null) return;
    try {
      this.sessionLength = await this.#call('importSession', { session });
    } catch (e) {
      console.warn(`localrank: dropped a stored session that no longer validates (${messageOf(e)})`);
      removeStored(this.#key);
    }
  }

  /** Restores the session from the remembered events (pruned first); a list the worker's core
   * refuses is dropped with a warning. */
  async #recall(limits) {
    this.#history = new DeviceHistory(this.historyKey, limits);
    const events = this.#history.load();
    if (events.length === 0) return;
    try {
      this.sessionLength = await this.#call('importSession', { session: JSON.stringify(events) });
    } catch (e) {
      console.warn(`localrank: dropped remembered events that no longer validate (${messageOf(e)})`);
      this.#history.remove();
    }
  }

  /** Records an event in the worker (a GA4 event with several items: one per item, all or
   * none; `{ ecommerce: null }` and GA4's other event names: nothing); resolves to the
   * session length. */
  async observe(event) {
    const generation = this.#generation;
    const forgets = this.#forgets;
    const { sessionLength, session, recorded } = await this.#call('observe', { event, persist: this.#persist });
    if (generation === this.#generation) this.sessionLength = sessionLength;
    this.#store(session, generation);
    if (forgets === this.#forgets && recorded?.length) this.#history?.append(recorded);
    return sessionLength;
  }

  /**
   * Same as LocalRanker.connectDataLayer: observes the page's dataLayer pushes and gtag('event')
   * calls in the worker (each read on the page into a plain copy of the fields localrank reads:
   * GTM's pushes carry functions, which cannot be sent). Returns `disconnect()`.
   */
  connectDataLayer(dataLayer) {
    const layer = readDataLayer(dataLayer);
    if (this.#broken) throw new Error(this.#broken);
    if (!this.#worker) throw invalid('this LocalRankerWorker was disposed; create a new one');
    const unhook = hookDataLayer(layer, (e) => this.observe(copyEvent(e)));
    const disconnect = () => {
      this.#disconnects.delete(disconnect);
      unhook();
    };
    this.#disconnects.add(disconnect);
    return disconnect;
  }

  /** Same arguments and result as LocalRanker.rerank (options.explain included). */
  rerank(candidates, context, options) {
    return this.#call('rerank', { candidates, context, options });
  }

  /** The session as opaque JSON (see LocalRanker.exportSession). */
  exportSession() {
    return this.#call('exportSession');
  }

  /** Replaces the session with one from `exportSession`; on bad input the session is kept. */
  async importSession(json) {
    const generation = this.#generation;
    this.sessionLength = await this.#call('importSession', { session: json });
    if (this.#persist) this.#store(await this.exportSession(), generation);
  }

  /** Keep the session in this tab's sessionStorage (true) or delete the stored copy (false). */
  async setPersist(on) {
    this.#persist = on === true;
    if (!this.#persist) {
      this.#generation++;
      return removeStored(this.#key);
    }
    const generation = this.#generation;
    this.#store(await this.exportSession(), generation);
  }

  /** Same as LocalRanker.setRemember: keep (true or `{ days, maxEvents }`) or stop keeping and
   * delete (false) the remembered events; they are kept in this page's localStorage. */
  async setRemember(on) {
    if (on === undefined || on === null) throw invalid(`setRemember(on): expected true, false or { days, maxEvents }, got ${String(on)}`);
    const limits = readRemember(on, 'setRemember(on)');
    if (!limits) {
      this.#forgets++;
      this.#history?.remove();
      this.#history = null;
      await this.#call('setRemember', { on: false });
      return;
    }
    if (this.#history) {
      this.#history = new DeviceHistory(this.historyKey, limits);
      this.#history.load(); // the new bounds, applied now
      return;
    }
    const forgets = this.#forgets;
    const session = await this.#call('setRemember', { on: true });
    if (forgets !== this.#forgets) return;
    this.#history = new DeviceHistory(this.historyKey, limits);
    this.#history.append(JSON.parse(session));
  }

  /** Same as LocalRanker.rememberedEvents (read from this page's localStorage). */
  async rememberedEvents() {
    return this.#history ? describeHistory(this.#history.load(), Date.now()) : [];
  }

  /** Forgets the session, in sessionStorage and the remembered events in localStorage at once,
   * and in the worker. */
  async clear() {
    this.#generation++;
    this.#forgets++;
    this.#history?.remove();
    removeStored(this.#key);
    this.sessionLength = await this.#call('clear');
  }

  /** Stops the worker; pending calls reject. */
  dispose() {
    for (const disconnect of this.#disconnects) disconnect();
    this.#worker?.terminate();
    this.#worker = null;
    this.#failAll('localrank: invalid input: this LocalRankerWorker was disposed');
  }
}

function removeStored(key) {
  if (key === null) return;
  try {
    sessionStorage.removeItem(key);
  } catch (e) {
    console.warn(`localrank: sessionStorage refused to delete the stored session (${messageOf(e)})`);
  }
}

function safely(callback, data) {
  try {
    callback?.(data);
  } catch {
    // The page's callback threw: its problem, not the worker's.
  }
}

// Started as a worker itself (a `workerUrl` naming worker.js, as before worker-entry.js
// existed): it runs the worker side.
if (inWorker) import('./worker-entry.js');
