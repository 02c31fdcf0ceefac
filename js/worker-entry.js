// The worker side of LocalRankerWorker (worker.js, the page side, starts it with
// new Worker(new URL('./worker-entry.js', import.meta.url), { type: 'module' })). It fetches the
// wasm and the model files itself so it can report progress, reports every request it makes and
// runs the calls one at a time. It never imports worker.js (a worker that starts itself is a
// cycle Vite refuses to build); a bundler emits it, with localrank.js and the wasm, as a chunk.

import { applyCalibrationSettings, messageOf } from './input.js';

const inWorker = typeof WorkerGlobalScope !== 'undefined' && self instanceof WorkerGlobalScope;

let ranker = null;
// `remember`: a worker has no localStorage, so the page keeps the remembered events (js/worker.js);
// the events each observe recorded are collected here and handed back with its result.
const recorded = [];

const post = (msg) => self.postMessage(msg);
const progress = (data) => post({ type: 'progress', ...data });

// Reports every request this worker makes (resource timing: URL and bytes; all are GETs
// without a body, made by fetch in js/model.js or by the browser for module imports).
function watchRequests() {
  const report = (e) =>
    post({ type: 'request', url: e.name, initiator: `worker ${e.initiatorType}`, bytes: e.transferSize || e.encodedBodySize || 0 });
  new PerformanceObserver((list) => list.getEntries().forEach(report)).observe({ type: 'resource', buffered: true });
}

async function create({ model, device, maxSession, integrity, cache, remember, backendCache, calibration }) {
  const api = await import('./localrank.js');
  applyCalibrationSettings(calibration);
  // Decisions are read from the page's copy; the page stores a new one (describe().calibration).
  const stored = backendCache && typeof backendCache === 'object' ? backendCache : {};
  api.useBackendCache({ get: (key) => (Object.hasOwn(stored, key) ? stored[key] : null), set: () => {} });
  api.useHistoryStore(() => ({ load: () => [], append: (events) => recorded.push(...events), remove: () => {} }));
  const { fetchCapped } = await import('./model.js');
  // Written literally so that a bundler emits the wasm as an asset and rewrites the URL; its
  // own directory confines a redirect (no other new URL(..., import.meta.url) here: a bundler
  // would take it for one more asset).
  const wasmUrl = new URL('./localrank_core_bg.wasm', import.meta.url);
  const name = 'localrank_core_bg.wasm';
  // The runtime is the package's own file: a generous cap, not a manifest size.
  const bytes = await fetchCapped(wasmUrl, { base: new URL('./', wasmUrl), name, cap: 64 << 20, onProgress: progress });
  await api.default({ module_or_path: bytes });
  progress({ stage: 'start', device: device ?? 'auto' });
  const options = { model, onProgress: progress };
  if (device !== undefined) options.device = device;
  if (maxSession !== undefined) options.maxSession = maxSession;
  if (integrity !== undefined) options.integrity = integrity;
  if (cache !== undefined) options.cache = cache;
  if (remember) options.remember = true; // the page applies the bounds and restores the events
  ranker = await api.LocalRanker.create(options);
  progress({ stage: 'ready' });
  return describe();
}

function describe() {
  return {
    backend: ranker.backend,
    fallbackReason: ranker.fallbackReason ?? null,
    calibration: ranker.calibration ?? null,
    modelName: ranker.modelName,
    modelVersion: ranker.modelVersion,
    modelBytes: ranker.modelBytes,
    modelSource: ranker.modelSource,
    sessionLength: ranker.sessionLength,
  };
}

function need() {
  if (!ranker) throw new Error('localrank: invalid input: the worker has no ranker yet (create failed or was not called)');
  return ranker;
}

const METHODS = {
  create,
  observe: ({ event, persist }) => {
    recorded.length = 0;
    need().observe(event);
    const events = recorded.splice(0);
    return { sessionLength: ranker.sessionLength, session: persist ? ranker.exportSession() : undefined, recorded: events };
  },
  // Returns the session when turned on: the page keeps its events (later ones come with observe).
  setRemember: ({ on }) => {
    need().setRemember(on);
    recorded.length = 0;
    return on ? ranker.exportSession() : undefined;
  },
  rerank: ({ candidates, context, options }) => need().rerank(candidates, context, options),
  exportSession: () => need().exportSession(),
  importSession: ({ session }) => {
    need().importSession(session);
    return ranker.sessionLength;
  },
  clear: () => {
    need().clear();
    return ranker.sessionLength;
  },
};

// Calls run one at a time, in order: a rerank never sees half an observe.
let queue = Promise.resolve();
function onMessage({ data }) {
  const { id, method, arg } = data ?? {};
  queue = queue.then(async () => {
    try {
      const fn = Object.hasOwn(METHODS, method) ? METHODS[method] : null;
      if (!fn) throw new Error(`localrank: invalid input: unknown worker method ${JSON.stringify(String(method))}`);
      post({ id, result: await fn(arg ?? {}) });
    } catch (err) {
      post({ id, error: messageOf(err) });
    }
  });
}

if (inWorker) {
  watchRequests();
  self.onmessage = onMessage;
  post({ type: 'hello' });
}
