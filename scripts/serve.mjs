#!/usr/bin/env node
// Tiny static server for the localrank demo (Node 20, no dependencies).
//   /pkg/*    -> <repo>/pkg/     (wasm-pack output)
//   /models/* -> <repo>/models/  (manifest, weights, tokenizer)
//   else      -> <repo>/www/     ("/" -> index.html)
// Usage: node scripts/serve.mjs [--port N]   (N=0 picks a free port)
import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(fileURLToPath(new URL('..', import.meta.url)));
const rootsFor = (repo) => [
  ['/pkg/', join(repo, 'pkg')],
  ['/models/', join(repo, 'models')],
  ['/', join(repo, 'www')],
];
const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

// Map a URL path to a file under one of the roots, or null if it escapes it.
function resolvePath(roots, urlPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  for (const [prefix, root] of roots) {
    if (!decoded.startsWith(prefix)) continue;
    let rel = decoded.slice(prefix.length);
    if (rel === '' || rel.endsWith('/')) rel += 'index.html';
    const file = resolve(root, rel);
    // resolve() collapses "..": anything outside the root is traversal.
    return file.startsWith(root + sep) ? file : null;
  }
  return null;
}

async function handle(roots, req, res) {
  const send = (code, text) => {
    res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : text + '\n');
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
  const path = new URL(req.url, 'http://x').pathname;
  const file = resolvePath(roots, path);
  if (!file) return send(403, 'forbidden');
  let info;
  try {
    info = await stat(file);
  } catch {
    return send(404, 'not found');
  }
  if (!info.isFile()) return send(404, 'not found');
  res.writeHead(200, {
    'content-type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'content-length': info.size,
    // The model and pkg change between builds; never let the browser serve stale copies.
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  if (req.method === 'HEAD') return res.end();
  createReadStream(file).on('error', () => res.destroy()).pipe(res);
}

/**
 * Start the server on 127.0.0.1. Resolves to { url, port, close() }.
 * `repo` (default: this checkout) lets tests serve another tree with the same layout.
 */
export function startServer({ port = 8080, repo = REPO } = {}) {
  const roots = rootsFor(resolve(repo));
  const server = createServer((req, res) => {
    handle(roots, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => {
      const actual = server.address().port;
      ok({
        url: `http://127.0.0.1:${actual}/`,
        port: actual,
        close: () =>
          new Promise((done) => {
            server.close(() => done());
            server.closeAllConnections(); // keep-alive sockets would hold close() open
          }),
      });
    });
  });
}

function parsePort(argv) {
  const i = argv.indexOf('--port');
  const raw = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--port='))?.slice(7);
  if (raw === undefined) return 8080;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    console.error(`serve: bad --port ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { url } = await startServer({ port: parsePort(process.argv.slice(2)) });
  console.log(`localrank demo: ${url}`);
}
