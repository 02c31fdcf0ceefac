// localrank in a Web Worker, so reranking never stalls the page. One file, two roles:
//
//   page:   import { LocalRankerWorker } from 'localrank/worker.js';
//           const ranker = await LocalRankerWorker.create({ model: '/models/', onProgress });
//   worker: this same file, started by LocalRankerWorker.create as a module worker.
//
// The worker fetches the wasm and the model files itself so it can report progress
// ({ stage, file, loaded, total }); every request it makes is reported to the page
// (onRequest) because the page's own PerformanceObserver cannot see a worker's requests.
// The session lives in the worker; with `persist` the page keeps a copy in sessionStorage
// (workers have none), under the key the in-page LocalRanker uses.

const STORAGE_KEY = 'localrank.session.v1';
const inWorker = typeof WorkerGlobalScope !== 'undefined' && self instanceof WorkerGlobalScope;

// ---------------------------------------------------------------- page side

export class LocalRankerWorker {
  #worker;
  #calls = new Map();
  #next = 1;
  #persist;

  /**
   * options: { model: URL of the model directory, device?, maxSession?, persist?,
   *            onProgress?(p), onRequest?(r), workerUrl? }. Resolves once the model is loaded
   * and warmed up; rejects with the worker's Error message otherwise.
   */
  static async create(options = {}) {
    const { onProgress, onRequest, workerUrl, persist = false, ...rest } = options;
    if (typeof rest.model !== 'string') throw new Error('localrank: invalid input: options.model: expected the model directory URL');
    const ranker = new LocalRankerWorker(workerUrl ?? import.meta.url, { onProgress, onRequest });
    ranker.#persist = persist;
    const session = persist ? sessionStorage.getItem(STORAGE_KEY) : null;
    const model = new URL(rest.model, location.href).href;
    try {
      Object.assign(ranker, await ranker.#call('create', { ...rest, model, session }));
    } catch (err) {
      ranker.dispose();
      throw err;
    }
    return ranker;
  }

  constructor(url, { onProgress, onRequest }) {
    this.#worker = new Worker(url, { type: 'module', name: 'localrank' });
    this.#worker.onmessage = ({ data }) => {
      if (data.type === 'progress') return onProgress?.(data);
      if (data.type === 'request') return onRequest?.(data);
      const call = this.#calls.get(data.id);
      this.#calls.delete(data.id);
      if (data.error !== undefined) call?.reject(new Error(data.error));
      else call?.resolve(data.result);
    };
    this.#worker.onerror = (e) => {
      e.preventDefault?.();
      this.#failAll(`localrank: worker failed: ${e.message ?? 'could not start'}`);
    };
  }

  #call(method, arg) {
    if (!this.#worker) return Promise.reject(new Error('localrank: invalid input: this LocalRankerWorker was disposed; create a new one'));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#calls.set(id, { resolve, reject });
      this.#worker.postMessage({ id, method, arg });
    });
  }

  #failAll(message) {
    for (const call of this.#calls.values()) call.reject(new Error(message));
    this.#calls.clear();
  }

  #store(session) {
    if (this.#persist && session !== undefined) sessionStorage.setItem(STORAGE_KEY, session);
  }

  /** Records one event in the worker; resolves to the session length. */
  async observe(event) {
    const { sessionLength, session } = await this.#call('observe', { event, persist: this.#persist });
    this.sessionLength = sessionLength;
    this.#store(session);
    return sessionLength;
  }

  /** Same arguments and result as LocalRanker.rerank (options.explain included). */
  rerank(candidates, context, options) {
    return this.#call('rerank', { candidates, context, options });
  }

  /** The session as opaque JSON (see LocalRanker.exportSession). */
  exportSession() {
    return this.#call('exportSession');
  }

  /** Keep the session in this tab's sessionStorage (true) or delete the stored copy (false). */
  async setPersist(on) {
    this.#persist = Boolean(on);
    if (!this.#persist) return sessionStorage.removeItem(STORAGE_KEY);
    this.#store(await this.exportSession());
  }

  /** Forgets the session, in the worker and in sessionStorage. */
  async clear() {
    sessionStorage.removeItem(STORAGE_KEY);
    this.sessionLength = await this.#call('clear');
  }

  /** Stops the worker; pending calls reject. */
  dispose() {
    this.#worker?.terminate();
    this.#worker = null;
    this.#failAll('localrank: invalid input: this LocalRankerWorker was disposed');
  }
}

// ---------------------------------------------------------------- worker side

let ranker = null;

const post = (msg) => self.postMessage(msg);
const progress = (stage, extra = {}) => post({ type: 'progress', stage, ...extra });

// Reports every request this worker makes (resource timing: URL and bytes; all are GETs
// without a body, made by fetchWithProgress below or by the browser for module imports).
function watchRequests() {
  const report = (e) =>
    post({ type: 'request', url: e.name, initiator: `worker ${e.initiatorType}`, bytes: e.transferSize || e.encodedBodySize || 0 });
  new PerformanceObserver((list) => list.getEntries().forEach(report)).observe({ type: 'resource', buffered: true });
}

async function fetchWithProgress(url, file) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`localrank: model: HTTP ${res.status} for ${url}`);
  const total = Number(res.headers.get('content-length')) || 0;
  const reader = res.body.getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    progress('download', { file, loaded, total });
  }
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) bytes.set(c, (at += c.length) - c.length);
  return bytes;
}

async function create({ model, device, maxSession, session }) {
  const base = model.endsWith('/') ? model : `${model}/`;
  progress('download', { file: 'localrank_bg.wasm', loaded: 0, total: 0 });
  const mod = await import('./localrank.js');
  await mod.default({ module_or_path: await fetchWithProgress(new URL('./localrank_bg.wasm', import.meta.url), 'localrank_bg.wasm') });
  const manifest = await fetchWithProgress(`${base}manifest.json`, 'manifest.json');
  const files = JSON.parse(new TextDecoder().decode(manifest)).files ?? {};
  const get = (role) => {
    if (!files[role]?.path) throw new Error(`localrank: model: manifest.json lists no ${role} file`);
    return fetchWithProgress(`${base}${files[role].path}`, files[role].path);
  };
  const [weights, tokenizer] = [await get('weights'), await get('tokenizer')];
  progress('start', { device: device ?? 'auto' });
  const options = { model: { manifest, weights, tokenizer }, persist: false };
  if (device !== undefined) options.device = device;
  if (maxSession !== undefined) options.maxSession = maxSession;
  ranker = await mod.LocalRanker.create(options);
  if (session) {
    try {
      ranker.importSession(session);
    } catch {
      // A stored session from another build is dropped, as the in-page ranker does.
    }
  }
  progress('ready');
  return describe();
}

function describe() {
  return {
    backend: ranker.backend,
    fallbackReason: ranker.fallbackReason ?? null,
    modelVersion: ranker.modelVersion,
    modelBytes: ranker.modelBytes,
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
    need().observe(event);
    return { sessionLength: ranker.sessionLength, session: persist ? ranker.exportSession() : undefined };
  },
  rerank: ({ candidates, context, options }) => need().rerank(candidates, context, options),
  exportSession: () => need().exportSession(),
  clear: () => {
    need().clear();
    return ranker.sessionLength;
  },
};

// Calls run one at a time, in order: a rerank never sees half an observe.
let queue = Promise.resolve();
function onMessage({ data: { id, method, arg } }) {
  queue = queue.then(async () => {
    try {
      const fn = METHODS[method];
      if (!fn) throw new Error(`localrank: invalid input: unknown worker method ${JSON.stringify(method)}`);
      post({ id, result: await fn(arg ?? {}) });
    } catch (err) {
      post({ id, error: String(err?.message ?? err) });
    }
  });
}

if (inWorker) {
  watchRequests();
  self.onmessage = onMessage;
}
