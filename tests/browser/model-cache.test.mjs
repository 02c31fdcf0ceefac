// The model cache (js/model-cache.js, docs/api.md "Model cache"), as a returning shopper meets
// it: the requests each `create` makes are recorded at the browser context (page and Worker
// alike) and the origin's CacheStorage is read after each step.
//  - first visit: the model files are downloaded and kept under their sha256;
//  - second visit (a new page load): no model file is requested, in the page and in the Worker;
//    with `integrity`, not even manifest.json;
//  - `cache: false` downloads and writes nothing;
//  - a cached file that no longer matches the manifest (same size, other bytes) is not used: it
//    is downloaded again and the entry replaced;
//  - a new model version (another tokenizer file at the same URL) replaces the old entry;
//  - a page whose Cache API throws still loads the model from the network.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, openDemo } from './helpers.mjs';

const manifest = JSON.parse(readFileSync(join(ROOT, 'models', 'manifest.json'), 'utf8'));
const manifestBytes = readFileSync(join(ROOT, 'models', 'manifest.json'));
const sha256 = (await import('node:crypto')).createHash('sha256').update(manifestBytes).digest('hex');

/** Runs `create` (page or worker) in a fresh page load; returns what it reports and requests. */
async function visit(h, { worker = false, options = {}, before = null } = {}) {
  const requests = [];
  const record = (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/models/')) requests.push(u.pathname);
  };
  h.context.on('request', record);
  try {
    await h.page.goto(`${h.url}__blank`);
    if (before) await h.page.evaluate(before);
    const out = await h.page.evaluate(async ({ worker, options }) => {
      const progress = [];
      const o = { model: '/models/', device: 'cpu', onProgress: (p) => progress.push(`${p.stage} ${p.file ?? ''}`.trim()), ...options };
      let r;
      if (worker) {
        const { LocalRankerWorker } = await import('/pkg/worker.js');
        r = await LocalRankerWorker.create(o);
      } else {
        const mod = await import('/pkg/localrank.js');
        await mod.default();
        r = await mod.LocalRanker.create(o);
      }
      const ranked = await r.rerank([{ id: 'a', title: 'Toy Story (1995)', category: 'Animation' }, { id: 'b', title: 'Heat (1995)', category: 'Action' }]);
      const source = r.modelSource;
      r.dispose();
      let cache = {};
      try {
        for (const name of await caches.keys()) cache[name] = (await (await caches.open(name)).keys()).map((q) => new URL(q.url).pathname + new URL(q.url).search).sort();
      } catch (e) {
        cache = `unreadable: ${e.message}`;
      }
      return { source, ranked: ranked.length, progress: [...new Set(progress)], cache };
    }, { worker, options });
    // Let the worker's last requests (if any) reach the context's listener.
    await h.page.waitForTimeout(100);
    return { ...out, requests: requests.sort() };
  } finally {
    h.context.off('request', record);
  }
}

const entry = (role, sha = manifest.files[role].sha256) => `/models/${manifest.files[role].path}?sha256=${sha}`;
const MODEL_ENTRIES = [entry('weights'), entry('tokenizer')].sort();
const TOKENIZER = `/models/${manifest.files.tokenizer.path}`;
const ALL_FILES = ['/models/localrank.q8', '/models/manifest.json', TOKENIZER].sort();

test('model cache: the second visit downloads no model byte (page and worker), checked like a download', { timeout: 180_000 }, async (t) => {
  const h = await openDemo(t, { timeout: 60_000 });
  await h.page.route(`${h.url}__blank`, (r) => r.fulfill({ contentType: 'text/html', body: '<!doctype html>' }));

  const first = await visit(h);
  assert.equal(first.source, 'network');
  assert.deepEqual(first.requests, ALL_FILES, 'the first visit downloads the three files');
  assert.deepEqual(first.cache, { 'localrank-models-v1': MODEL_ENTRIES }, 'and keeps the two model files under their sha256');

  const second = await visit(h);
  assert.equal(second.source, 'cache');
  assert.deepEqual(second.requests, ['/models/manifest.json'], 'the second visit asks for the manifest only');
  assert.deepEqual(second.progress.filter((p) => /q8|vocab|tokenizer/.test(p)).sort(), ['cache localrank.q8', `cache ${manifest.files.tokenizer.path}`].sort(), `progress: ${second.progress}`);
  assert.equal(second.ranked, 2);

  const inWorker = await visit(h, { worker: true });
  assert.equal(inWorker.source, 'cache', 'the Worker reads the same cache');
  assert.deepEqual(inWorker.requests, ['/models/manifest.json'], 'the Worker downloads no model file either');

  // A pinning site: the first pinned visit keeps the manifest too, the next makes no request.
  const pinned1 = await visit(h, { options: { integrity: sha256 } });
  assert.deepEqual(pinned1.requests, ['/models/manifest.json']);
  assert.deepEqual(pinned1.cache['localrank-models-v1'], [...MODEL_ENTRIES, `/models/manifest.json?sha256=${sha256}`].sort());
  const pinned2 = await visit(h, { options: { integrity: `sha256-${Buffer.from(sha256, 'hex').toString('base64')}` } });
  assert.equal(pinned2.source, 'cache');
  assert.deepEqual(pinned2.requests, [], 'with integrity (SRI form), no request for the model at all');
  const pinnedWorker = await visit(h, { worker: true, options: { integrity: sha256 } });
  assert.deepEqual(pinnedWorker.requests, [], 'nor in the Worker');

  // cache: false, after clearing: downloads, writes nothing.
  const off = await visit(h, { options: { cache: false }, before: async () => {
    const { LocalRankerWorker } = await import('/pkg/worker.js');
    if (!(await LocalRankerWorker.clearModelCache())) throw new Error('clearModelCache found no cache');
  } });
  assert.equal(off.source, 'network');
  assert.deepEqual(off.requests, ALL_FILES);
  assert.deepEqual(off.cache, {}, 'cache: false writes nothing');

  // A cached file that is not what the manifest lists (same size, one byte changed) is refused.
  await visit(h);
  const tampered = await visit(h, { before: async () => {
    const cache = await caches.open('localrank-models-v1');
    const key = (await cache.keys()).find((q) => q.url.includes('localrank.q8'));
    const bytes = new Uint8Array(await (await cache.match(key)).arrayBuffer());
    bytes[bytes.length - 1] ^= 0xff;
    await cache.put(key, new Response(bytes));
  } });
  assert.equal(tampered.source, 'network');
  assert.deepEqual(tampered.requests, ['/models/localrank.q8', '/models/manifest.json'], 'the tampered file is downloaded again');
  assert.deepEqual(tampered.cache, { 'localrank-models-v1': MODEL_ENTRIES }, 'and the entry replaced');
  const healed = await visit(h);
  assert.equal(healed.source, 'cache', 'the replaced entry is used on the next visit');

  // A new model version: another tokenizer file (same tokens, other bytes: a space in the JSON
  // of its header line) at the same URL.
  const tokenizer = Buffer.from(readFileSync(join(ROOT, 'models', manifest.files.tokenizer.path), 'utf8').replace('\n{', '\n{ '));
  const tokSha = (await import('node:crypto')).createHash('sha256').update(tokenizer).digest('hex');
  const next = structuredClone(manifest);
  next.files.tokenizer = { ...next.files.tokenizer, bytes: tokenizer.length, sha256: tokSha };
  await h.context.route('**/models/manifest.json', (r) => r.fulfill({ contentType: 'application/json', body: JSON.stringify(next) }));
  await h.context.route(`**${TOKENIZER}`, (r) => r.fulfill({ contentType: 'text/plain', body: tokenizer }));
  const updated = await visit(h);
  assert.equal(updated.source, 'network');
  assert.deepEqual(updated.requests, ['/models/manifest.json', TOKENIZER].sort(), 'only the changed file is downloaded');
  assert.deepEqual(updated.cache['localrank-models-v1'].filter((k) => !k.startsWith('/models/manifest.json')),
    [entry('weights'), entry('tokenizer', tokSha)].sort(), 'the new version replaces the old entry');
  await h.context.unrouteAll();

  // A Cache API that throws (as in an opaque origin) costs the cache, never the load.
  const broken = await visit(h, { before: () => {
    Object.defineProperty(globalThis, 'caches', { get() { throw new DOMException('denied', 'SecurityError'); } });
  } }).catch((e) => ({ error: e.message }));
  assert.equal(broken.error, undefined, broken.error);
  assert.equal(broken.source, 'network');
  assert.equal(broken.ranked, 2);
  assert.deepEqual(h.logs, [], h.logs.join('\n'));
});
