// The package as published, in real bundlers (issue 18, items 3 and 5): examples/vite-store and
// examples/webpack-store install the `npm pack` tarball of this run's pkg/ (never a stale copy),
// get the model by the one documented step (scripts/example-model <public dir>), build in
// production mode, and the output is served statically with a strict Content-Security-Policy
// response header. Each is driven in page mode and in Worker mode (?worker=1): load, observe
// events, rerank, results in the expected shape, no console error, no CSP violation. Vite's dev
// server (with the example's vite.config.js) is driven too. Install and build time and the bytes
// shipped (gzip -9, without the model) are printed per example.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { CSP, ROOT } from './helpers.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
// The policy the examples are served with (docs/api.md, SECURITY.md): nothing added to it.
// 'wasm-unsafe-eval' is what WebAssembly.instantiate needs; worker-src 'self' admits the worker
// chunk; connect-src 'self' the fetches of the wasm and the model.
const MIME = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.json': 'application/json',
  '.wasm': 'application/wasm', '.q8': 'application/octet-stream', '.css': 'text/css',
};

const sh = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
const seconds = (t0) => ((performance.now() - t0) / 1000).toFixed(1);

/** Packs pkg/ once per run: the tarball every example installs. */
let tarball;
function packOnce() {
  if (tarball) return tarball;
  assert.ok(statSync(join(ROOT, 'pkg', 'package.json'), { throwIfNoEntry: false }), 'pkg/ is missing: run scripts/build-wasm first');
  const dir = join(ROOT, 'target', 'examples');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const name = sh('npm', ['pack', '--silent', '--pack-destination', dir], join(ROOT, 'pkg')).trim().split('\n').pop();
  tarball = join(dir, name);
  return tarball;
}

/** npm ci (the example's lock file), then this run's tarball, then the model. */
function install(dir) {
  const t0 = performance.now();
  sh('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts'], dir);
  sh('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--ignore-scripts', packOnce()], dir);
  sh(join(ROOT, 'scripts', 'example-model'), [join(dir, 'public')], dir);
  return seconds(t0);
}

function build(dir) {
  const t0 = performance.now();
  sh('npm', ['run', 'build'], dir);
  return seconds(t0);
}

/** gzip -9 bytes of everything in dist/ but the model (the same for every site). */
function shipped(dist) {
  let raw = 0, gz = 0;
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) { if (relative(dist, p) !== 'models') walk(p); continue; }
      const bytes = readFileSync(p);
      raw += bytes.length;
      gz += gzipSync(bytes, { level: 9 }).length;
    }
  };
  walk(dist);
  return { raw, gz };
}

/** Static server of `root` with the CSP as a response header. */
async function serveStatic(root) {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    let file = resolve(root, `.${path.endsWith('/') ? `${path}index.html` : path}`);
    if (!file.startsWith(root + sep) || !statSync(file, { throwIfNoEntry: false })?.isFile()) {
      res.writeHead(404, { 'Content-Security-Policy': CSP });
      return res.end('not found');
    }
    res.writeHead(200, { 'Content-Type': MIME[extname(file)] ?? 'application/octet-stream', 'Content-Security-Policy': CSP, 'Cache-Control': 'no-store' });
    createReadStream(file).pipe(res);
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => new Promise((ok) => server.close(ok)) };
}

/** Loads the store page, clicks the event buttons and Rerank, and checks what comes back. */
async function drive(browser, url, mode) {
  const page = await browser.newPage();
  const logs = [];
  page.on('console', (m) => m.type() === 'error' && logs.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  page.on('response', (r) => r.status() >= 400 && logs.push(`HTTP ${r.status()} ${r.url()}`));
  await page.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  try {
    const started = Date.now();
    await page.goto(`${url}${mode === 'worker' ? '?worker=1' : ''}`);
    await page.waitForFunction(() => window.storeReady || window.storeError, null, { timeout: 90_000 });
    const readyMs = Date.now() - started;
    const error = await page.evaluate(() => window.storeError ?? null);
    assert.equal(error, null, `${url} (${mode}) failed to start: ${error}\n${logs.join('\n')}`);
    const ready = await page.evaluate(() => window.storeReady);
    assert.equal(ready.mode, mode);
    for (const id of ['view', 'cart', 'buy', 'search']) await page.click(`#${id}`);
    await page.waitForFunction(() => document.getElementById('session').textContent === '4');
    const rerankStarted = Date.now();
    await page.click('#rerank');
    await page.waitForFunction(() => window.storeResult);
    const rerankMs = Date.now() - rerankStarted;
    const result = await page.evaluate(() => window.storeResult);
    const ids = JSON.parse(readFileSync(join(ROOT, 'examples', 'vite-store', 'src', 'candidates.json'), 'utf8')).map((c) => c.id);
    assert.equal(result.length, 10, 'topK 10');
    for (const r of result) {
      assert.deepEqual(Object.keys(r).sort(), ['id', 'score', 'serverRank']);
      assert.ok(ids.includes(r.id) && Number.isFinite(r.score) && ids[r.serverRank - 1] === r.id, JSON.stringify(r)); // serverRank is 1-based;
    }
    assert.equal(new Set(result.map((r) => r.id)).size, 10, 'distinct ids');
    assert.notDeepEqual(result.map((r) => r.id), ids.slice(0, 10), 'the session changed the order');
    const shown = await page.$$eval('#device li', (lis) => lis.map((li) => li.dataset.id));
    assert.deepEqual(shown, result.map((r) => r.id), 'the page shows the order');
    const violations = await page.evaluate(() => window.cspViolations);
    assert.deepEqual(violations, [], 'no CSP violation');
    assert.deepEqual(logs, [], 'no console error');
    return { ...ready, readyMs, rerankMs };
  } finally {
    await page.close();
  }
}

async function withBrowser(t) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  t.after(() => browser.close());
  return browser;
}

for (const [name, bundler] of [['vite-store', 'vite'], ['webpack-store', 'webpack']]) {
  test(`examples/${name} (${bundler}): the packed tarball, production build, strict CSP, page and Worker mode`, { timeout: 600_000 }, async (t) => {
    const dir = join(ROOT, 'examples', name);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    assert.ok(pkg.devDependencies?.[bundler], `${name}/package.json names ${bundler}`);
    const installS = install(dir);
    const installed = JSON.parse(readFileSync(join(dir, 'node_modules', 'localrank', 'package.json'), 'utf8'));
    assert.ok(installed.exports?.['./worker.js'], 'the installed localrank is this run\'s package');
    const buildS = build(dir);
    const dist = join(dir, 'dist');
    const { raw, gz } = shipped(dist);
    t.diagnostic(`${name}: install ${installS} s, build ${buildS} s, shipped ${raw} bytes (${gz} gzip -9; without the model)`);
    const server = await serveStatic(dist);
    t.after(() => server.close());
    const browser = await withBrowser(t);
    for (const mode of ['page', 'worker']) {
      // Cold start as a shopper's first visit sees it on localhost (no cache, no network delay):
      // navigation to a ready ranker, then the first rerank after four events.
      const { readyMs, rerankMs } = await drive(browser, server.url, mode);
      t.diagnostic(`${name} ${mode} mode: navigation to ready ${readyMs} ms, first rerank ${rerankMs} ms`);
    }
  });
}

test('examples/vite-store: Vite dev server (optimizeDeps.exclude, worker.format es), page and Worker mode', { timeout: 300_000 }, async (t) => {
  const dir = join(ROOT, 'examples', 'vite-store');
  if (!statSync(join(dir, 'node_modules', 'localrank'), { throwIfNoEntry: false })) install(dir);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const vite = spawn(join(dir, 'node_modules', '.bin', 'vite'), ['--port', String(port), '--strictPort', '--host', '127.0.0.1'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' }, detached: false });
  let out = '';
  vite.stdout.on('data', (d) => (out += d));
  vite.stderr.on('data', (d) => (out += d));
  t.after(() => vite.kill('SIGTERM'));
  const deadline = Date.now() + 60_000;
  while (!out.includes(`${port}`)) {
    assert.ok(Date.now() < deadline && vite.exitCode === null, `vite dev did not start:\n${out}`);
    await new Promise((ok) => setTimeout(ok, 200));
  }
  const browser = await withBrowser(t);
  // The dev server sends no CSP (its client uses a WebSocket for HMR): only the pages are checked.
  for (const mode of ['page', 'worker']) await drive(browser, `http://127.0.0.1:${port}/`, mode);
  assert.doesNotMatch(out, /error/i, `vite dev output:\n${out}`);
});
