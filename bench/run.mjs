// Speed and size of localrank in headless Debian Chromium: cold start, warm rerank p50/p95,
// gzipped bytes of runtime and model. Prints a table and writes bench/results.json.
//   node bench/run.mjs [--runs 200]
// This is a benchmark, not a test: nothing here asserts a speed.
import { readFileSync, writeFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { REPO, startServer } from '../scripts/serve.mjs';

const RUNS = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 200;
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--enable-unsafe-webgpu'];

const gz = (...files) => files.reduce((n, f) => n + gzipSync(readFileSync(join(REPO, f)), { level: 9 }).length, 0);
const raw = (...files) => files.reduce((n, f) => n + statSync(join(REPO, f)).size, 0);
const manifest = JSON.parse(readFileSync(join(REPO, 'models/manifest.json')));
const modelFiles = ['weights', 'tokenizer'].map((r) => `models/${manifest.files[r].path}`);
const runtimeFiles = ['pkg/localrank_bg.wasm', 'pkg/localrank.js'];

// The page a storefront would have: import, fetch the model, create, rerank once.
const PAGE = `<!doctype html><script type="module">
  const t0 = performance.now();
  const mod = await import('/pkg/localrank.js');
  await mod.default();
  const device = new URLSearchParams(location.search).get('device');
  const [catalog, server] = await Promise.all(['/data/catalog.json', '/data/server-candidates.json']
    .map((u) => fetch(u).then((r) => r.json())));
  const ranker = await mod.LocalRanker.create({ model: '/models/', device });
  const byId = new Map(catalog.items.map((i) => [i.id, i]));
  const cands = server.candidates.map((id) => byId.get(id));
  ranker.observe({ event: 'select_item', ...cands[40] });
  await ranker.rerank(cands, {});
  window.bench = { mod, ranker, catalog, cold: performance.now() - t0,
    navToFirst: performance.now() };
</script>`;

async function measure(page, device, candidates, session) {
  return page.evaluate(async ({ candidates, session, runs }) => {
    const { ranker, catalog } = window.bench;
    const items = catalog.items.slice(0, candidates);
    ranker.clear();
    for (const it of catalog.items.slice(600, 600 + session)) ranker.observe({ event: 'select_item', ...it });
    for (let i = 0; i < 5; i++) await ranker.rerank(items, {});
    const t = [];
    for (let i = 0; i < runs; i++) {
      const s = performance.now();
      await ranker.rerank(items, {});
      t.push(performance.now() - s);
    }
    t.sort((a, b) => a - b);
    return { p50: t[Math.floor(runs * 0.5)], p95: t[Math.floor(runs * 0.95)] };
  }, { candidates, session, runs: device === 'webgpu' ? Math.min(RUNS, 50) : RUNS });
}

const server = await startServer({ port: 0 });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ARGS });
const rows = [];
try {
  for (const device of ['cpu', 'webgpu']) {
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(180_000);
    await page.route(`${server.url}bench.html*`, (r) => r.fulfill({ contentType: 'text/html', body: PAGE }));
    const start = Date.now();
    await page.goto(`${server.url}bench.html?device=${device}`);
    await page.waitForFunction(() => window.bench, null, { timeout: 180_000 });
    const cold = Date.now() - start;
    const backend = await page.evaluate(() => window.bench.ranker.backend);
    if (backend !== device) { console.log(`skip ${device}: backend is ${backend}`); continue; }
    for (const candidates of [100, 500]) {
      for (const session of [5, 50]) {
        const { p50, p95 } = await measure(page, device, candidates, session);
        rows.push({ runtime: 'localrank', backend: device, candidates, session,
          p50_ms: +p50.toFixed(2), p95_ms: +p95.toFixed(2), cold_ms: cold,
          runtime_bytes_gz: gz(...runtimeFiles), model_bytes_gz: gz(...modelFiles) });
      }
    }
    await page.close();
  }
} finally {
  await browser.close();
  await server.close();
}

const result = {
  machine: `${cpus().length} x ${cpus()[0].model}, headless Debian Chromium (${(await import('node:child_process')).execSync('/usr/bin/chromium --version').toString().trim()})`,
  date: new Date().toISOString().slice(0, 10),
  command: `node bench/run.mjs --runs ${RUNS}`,
  runtime_bytes_raw: raw(...runtimeFiles),
  model_bytes_raw: raw(...modelFiles),
  rows,
};
writeFileSync(join(REPO, 'bench/results.json'), JSON.stringify(result, null, 2) + '\n');
console.log(`| backend | candidates | session | p50 ms | p95 ms | cold start ms |`);
console.log(`|---|---:|---:|---:|---:|---:|`);
for (const r of rows) console.log(`| ${r.backend} | ${r.candidates} | ${r.session} | ${r.p50_ms} | ${r.p95_ms} | ${r.cold_ms} |`);
console.log(`runtime (wasm + js): ${result.runtime_bytes_raw} B raw, ${rows[0]?.runtime_bytes_gz} B gzip -9; ` +
  `model (weights + tokenizer): ${result.model_bytes_raw} B raw, ${rows[0]?.model_bytes_gz} B gzip -9`);
console.log(`${result.machine}; ${result.date}; ${result.command}`);
