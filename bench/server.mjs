// Static server for the benchmark only (scripts/serve.mjs is the demo's and sets no isolation
// headers). Every response is cross-origin isolated (COOP same-origin + COEP require-corp), which
// onnxruntime-web needs for SharedArrayBuffer, i.e. its multi-threaded wasm; the same headers
// are sent to every runtime so that none is favoured. Counts the bytes it serves per path.
//   /pkg/*       -> pkg/                    (scripts/build-wasm: pkg/ CPU only, pkg/webgpu/ CPU + WebGPU)
//   /prof/*      -> target/wasm-cpu/prof/   (pkg/ before wasm-opt, with the name section, for profile.mjs)
//   /models/*    -> models/
//   /data/*      -> www/data/
//   /ort/*       -> node_modules/onnxruntime-web/dist/
//   /onnx/*      -> bench/onnx/             (bench/onnx/export.py output)
//   /page.html   -> the page given to startBenchServer
import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const ROOTS = [
  ['/prof/', join(REPO, 'target/wasm-cpu/prof')],
  ['/pkg/', join(REPO, 'pkg')],
  ['/models/', join(REPO, 'models')],
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

export function startBenchServer(page) {
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/page.html') {
      res.writeHead(200, { ...ISOLATION, 'content-type': 'text/html; charset=utf-8' });
      return res.end(page);
    }
    const file = fileFor(path);
    const info = file && await stat(file).catch(() => null);
    if (!info?.isFile()) { res.writeHead(404, ISOLATION); return res.end(); }
    res.writeHead(200, { ...ISOLATION, 'content-type': MIME[extname(file)] ?? 'application/octet-stream',
      'content-length': info.size });
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({
    url: `http://127.0.0.1:${server.address().port}/`,
    close: () => new Promise((done) => { server.close(() => done()); server.closeAllConnections(); }),
  })));
}
