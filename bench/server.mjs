// Static server for the benchmark only (scripts/serve.mjs is the demo's and sets no isolation
// headers). Every response is cross-origin isolated (COOP same-origin + COEP require-corp), which
// onnxruntime-web needs for SharedArrayBuffer, i.e. its multi-threaded wasm; the same headers
// are sent to every runtime so that none is favoured. Counts the bytes it serves per path.
//   /pkg/*       -> pkg/                    (scripts/build-wasm: pkg/ CPU only, pkg/webgpu/ CPU + WebGPU)
//   /prof/*      -> target/wasm-cpu/prof/   (pkg/ before wasm-opt, with the name section, for profile.mjs)
//   /models/*    -> models/
//   /models-full/* -> $LOCALRANK_BENCH_FULL_MODEL or models/full/ (run.mjs --full-model)
//   /data/*      -> www/data/
//   /ort/*       -> node_modules/onnxruntime-web/dist/
//   /onnx/*      -> bench/onnx/             (bench/onnx/export.py output)
//   /page.html   -> the page given to startBenchServer
import { createServer } from 'node:http';
import { createReadStream, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const ROOTS = [
  ['/prof/', join(REPO, 'target/wasm-cpu/prof')],
  ['/pkg/', join(REPO, 'pkg')],
  ['/models/', join(REPO, 'models')],
  // A second model directory (the full model `all` compacted the shipped one from): `--full-model DIR`.
  ['/models-full/', process.env.LOCALRANK_BENCH_FULL_MODEL || join(REPO, 'models/full')],
  ['/data/', join(REPO, 'www/data')],
  ['/ort/', join(REPO, 'node_modules/onnxruntime-web/dist')],
  ['/onnx/', join(REPO, 'bench/onnx')],
];
const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.json': 'application/json', '.wasm': 'application/wasm' };
const ISOLATION = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin', 'cache-control': 'no-store' };

/** The file a URL path maps to, or null. */
export function fileFor(urlPath) {
  for (const [prefix, root] of ROOTS) {
    if (!urlPath.startsWith(prefix)) continue;
    const file = resolve(root, decodeURIComponent(urlPath.slice(prefix.length)));
    return file.startsWith(root + sep) ? file : null;
  }
  return null;
}

/**
 * Cache headers of the network cold-start phase (`cacheable`): the page and the runtimes' files
 * as a storefront's CDN serves hashed assets (a year, immutable), so that a second visit finds
 * them in the HTTP cache; model files `no-store` for both runtimes alike (each keeps its model
 * in the Cache API itself), and localrank's manifest.json `no-cache` (revalidated: it is how a
 * new model is noticed).
 */
function cacheControl(path, cacheable) {
  if (!cacheable) return 'no-store';
  if (path === '/page.html' || path.startsWith('/pkg/') || path.startsWith('/ort/')) return 'public, max-age=31536000, immutable';
  return path.endsWith('/manifest.json') ? 'no-cache' : 'no-store';
}

/** gzip -9 bodies by path (the network phase serves what a CDN would: compressed). */
const gzipped = new Map();
function gzipOf(file) {
  if (!gzipped.has(file)) gzipped.set(file, gzipSync(readFileSync(file), { level: 9 }));
  return gzipped.get(file);
}

export function startBenchServer(page, { cacheable = false } = {}) {
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const headers = { ...ISOLATION, 'cache-control': cacheControl(path, cacheable) };
    if (path === '/page.html') {
      const gz = cacheable && /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
      res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8', ...(gz && { 'content-encoding': 'gzip', vary: 'accept-encoding' }) });
      return res.end(gz ? gzipSync(page, { level: 9 }) : page);
    }
    const file = fileFor(path);
    const info = file && await stat(file).catch(() => null);
    if (!info?.isFile()) { res.writeHead(404, headers); return res.end(); }
    // The network phase: gzip -9 where the browser accepts it (every file type here compresses
    // or is already counted gzipped in the byte tables), as a storefront's CDN serves them.
    if (cacheable && /\bgzip\b/.test(req.headers['accept-encoding'] ?? '')) {
      const body = gzipOf(file);
      res.writeHead(200, { ...headers, 'content-type': MIME[extname(file)] ?? 'application/octet-stream',
        'content-encoding': 'gzip', 'content-length': body.length, vary: 'accept-encoding' });
      return res.end(body);
    }
    res.writeHead(200, { ...headers, 'content-type': MIME[extname(file)] ?? 'application/octet-stream',
      'content-length': info.size });
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({
    url: `http://127.0.0.1:${server.address().port}/`,
    close: () => new Promise((done) => { server.close(() => done()); server.closeAllConnections(); }),
  })));
}
