// localrank against ONNX Runtime Web on the same model, in ONE headless Chromium run.
//   node bench/run.mjs [--runs 200]
// Before the browser starts: bench/onnx/setup.sh (pinned venv) and bench/onnx/export.py export
// models/ to bench/onnx/localrank.onnx, check parity with models/golden.json (onnxruntime,
// Python; aborts above 1e-4) and encode the workload below for onnxruntime-web.
// Then, per runtime, a fresh browser context (cold start: navigation to the first result, wasm
// and model fetched from localhost), warm p50/p95, the bytes it fetched (gzip -9) and memory
// after 1,000 reranks. Prints a table and writes bench/results.json.
// This is a benchmark, not a test: nothing here asserts a speed.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { execFileSync, execSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { createHash } from 'node:crypto';
import { REPO, fileFor, startBenchServer } from './server.mjs';
import { simdKernel, FLOPS_PER_ITER } from './throughput.mjs';

const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
const RUNS = Number(arg('--runs', 200));
const GPU_RUNS = Math.min(RUNS, Number(arg('--gpu-runs', 50)));   // SwiftShader is slow
const MEM_RUNS = Number(arg('--mem-runs', 1000));
const GPU_MEM_RUNS = Math.min(MEM_RUNS, Number(arg('--gpu-mem-runs', 100)));
const ONLY = arg('--only', '');
const ROUNDS = Number(arg('--rounds', 4));
const NETWORK_RUNS = Number(arg('--network-runs', 3));  // fresh contexts per runtime and network profile (median)
const NETWORK_ONLY = process.argv.includes('--network-only');  // phase 4 alone, merged into bench/results.json
const CROSSOVER_ONLY = process.argv.includes('--crossover-only');  // phase 5 alone, merged into bench/results.json
const CROSSOVER_RUNS = Number(arg('--crossover-runs', 20));  // timed reranks per backend and work size
const FULL_MODEL = arg('--full-model', '');  // the full model `all` keeps in models/full/ (or any model directory) to time as well
if (FULL_MODEL) process.env.LOCALRANK_BENCH_FULL_MODEL = FULL_MODEL;
const COLD_RUNS = Number(arg('--cold-runs', 5));  // fresh contexts per runtime for the cold start (median)  // warm runs split into rounds alternating between runtimes  // e.g. "ort-wasm,localrank-cpu" to run a subset
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--enable-unsafe-webgpu',
  '--enable-precise-memory-info', '--js-flags=--expose-gc'];

// ---- 1. ONNX export + parity (Python onnxruntime vs the Rust ranker's golden scores)
execFileSync(join(REPO, 'bench/onnx/setup.sh'), { stdio: 'inherit' });
const exportLog = execFileSync(join(REPO, 'bench/.venv/bin/python'),
  [join(REPO, 'bench/onnx/export.py'), '--bench-inputs', join(REPO, 'bench/onnx/bench-inputs.json')]).toString();
process.stdout.write(exportLog);
const inputs = JSON.parse(readFileSync(join(REPO, 'bench/onnx/bench-inputs.json')));
const manifest = JSON.parse(readFileSync(join(REPO, 'models/manifest.json')));
const catalog = JSON.parse(readFileSync(join(REPO, 'www/data/catalog.json'))).items;

// The workload (bench/onnx/export.py encodes the very same for onnxruntime-web): candidates = the
// first N catalogue items, session = S select_item events on catalogue items 600.., this context.
const CTX = { hour: 12, weekday: 3, device: 'desktop', pageType: 'home', promotion: false };
const item = ({ id, title, category }) => ({ id, title, category });
const workload = (n, s) => ({ items: catalog.slice(0, n).map(item), events: catalog.slice(600, 600 + s).map(item) });
const COLD = { candidates: 100, session: 50 };

// ---- 2. FLOPs of one rerank (Model::score, src/model.rs), from the manifest's config.
// Matmuls and pooling count 2 FLOPs per multiply-add; LayerNorm ~8, softmax ~5, GELU ~10 per
// element; embedding gathers 0. The encoder needs only the s positions that hold events
// (padding is masked out of attention): that is the limit; onnxruntime-web's graph takes the
// padded max_session positions and computes all of them, localrank leaves the padding out.
function flops(n, s) {
  const { d_model: d, max_tokens: t, layers } = manifest.config;
  const l = Math.min(s, manifest.config.max_session);
  const pool = (rows) => rows * t * d * 2 + rows * d;
  const block = 2 * l * d * 3 * d + 2 * 2 * l * l * d + 2 * l * d * d + 2 * l * d * 2 * d * 2
    + 5 * manifest.config.heads * l * l + 2 * 8 * l * d + 10 * l * 2 * d + 2 * l * d + 5 * l * d;
  return pool(l) + 4 * l * d + layers * block + pool(l) + 6 * l * d + 8 * l * d + pool(n) + n * d + 2 * n * d;
}

// ---- 3. The page: one template, the runtime chosen by the query string.
const PAGE = `<!doctype html><meta charset="utf-8"><title>bench</title>
<script type="application/json" id="cold">${JSON.stringify({ ctx: CTX, ...workload(COLD.candidates, COLD.session) })}</script>
<script type="application/json" id="feeds">${JSON.stringify(inputs.cases.find((c) => c.candidates === COLD.candidates && c.session === COLD.session).feeds)}</script>
<script type="module">
const P = new URLSearchParams(location.search);
const rt = P.get('rt');
// Each runtime parses only its own input: onnxruntime-web's int64 feeds are no part of
// localrank's page, nor localrank's objects of onnxruntime-web's.
const cold = JSON.parse(document.getElementById('cold').textContent);
if (rt !== 'localrank') cold.feeds = JSON.parse(document.getElementById('feeds').textContent);
function tensorFrom(ort, nested) {
  const dims = []; for (let a = nested; Array.isArray(a); a = a[0]) dims.push(a.length);
  return new ort.Tensor('int64', BigInt64Array.from(nested.flat(Infinity), BigInt), dims);
}
let api;
try {
  if (rt === 'localrank') {
    const mod = await import('/' + P.get('pkg') + '/localrank.js');
    // As docs/api.md shows it: \`create\` alone, which loads the wasm while it reads the model;
    // the page only notes when the wasm was ready (the runtime_ready stage).
    let tInit;
    const ready = mod.default().then(() => { tInit = performance.now(); });
    const options = { model: P.get('model') ?? '/models/', device: P.get('device') };
    if (P.get('pin')) options.integrity = P.get('pin');
    const ranker = await mod.LocalRanker.create(options);
    await ready;
    const tCreate = performance.now();
    const load = (c) => { ranker.clear(); for (const e of c.events) ranker.observe({ event: 'select_item', ...e }); };
    const rerank = (c) => ranker.rerank(c.items, cold.ctx, { personalization: 1, ...(c.options ?? {}) });
    load(cold); const first = await rerank(cold);
    api = { backend: ranker.backend, load, rerank, first, stages: { runtime_ready: tInit, model_ready: tCreate },
      scores: (res, c) => { const by = new Map(res.map((r) => [r.id, r.score])); return c.items.map((i) => by.get(i.id)); } };
  } else {
    const ep = P.get('ep');
    const ort = await import(ep === 'webgpu' ? '/ort/ort.webgpu.min.mjs' : '/ort/ort.wasm.min.mjs');
    ort.env.wasm.wasmPaths = '/ort/';
    ort.env.wasm.numThreads = Number(P.get('threads'));
    const tInit = performance.now();
    // The model kept in the Cache API as localrank keeps its own (js/model-cache.js), so that
    // both runtimes' second visits read their model from the same place.
    const url = '/onnx/localrank.onnx';
    const store = await caches.open('bench-onnx-model');
    let hit = await store.match(url);
    if (!hit) { await store.put(url, await fetch(url)); hit = await store.match(url); }
    const onnx = new Uint8Array(await hit.arrayBuffer());
    const session = await ort.InferenceSession.create(onnx, { executionProviders: [ep] });
    const tCreate = performance.now();
    const toFeeds = (f) => Object.fromEntries(Object.entries(f).map(([k, v]) => [k, tensorFrom(ort, v)]));
    let feeds;
    const load = (c) => { feeds = toFeeds(c.feeds); };
    const rerank = async () => { const out = await session.run(feeds); return out.scores.getData ? await out.scores.getData() : out.scores.data; };
    load(cold); const first = await rerank();
    api = { backend: ep, threads: ort.env.wasm.numThreads, load, rerank, first, stages: { runtime_ready: tInit, model_ready: tCreate }, scores: (res) => Array.from(res) };
  }
  api.cold = performance.now();   // ms since navigation start: first result, model fetch included
  api.stages.first_result = api.cold;
  api.isolated = self.crossOriginIsolated;
} catch (e) { api = { error: String(e && e.stack || e) }; }
window.bench = api;
console.log('bench: done');
</script>`;

/** Navigates to the bench page and waits for its console signal. Not waitForFunction: its
 * polling compiles Playwright's injected script in the page (a 30 ms task in a second visit's
 * trace, 2026-12-07), inside the time being measured. */
async function openBenchPage(page, url) {
  const done = page.waitForEvent('console', { predicate: (m) => m.text() === 'bench: done', timeout: 300_000 });
  await page.goto(url);
  await done;
}

// Every wasm memory the page creates or instantiates, for the memory figures.
const MEMORY_HOOK = () => {
  const mems = (window.__wasmMemories = []);
  const M = WebAssembly.Memory;
  WebAssembly.Memory = function (...a) { const m = new M(...a); mems.push(m); return m; };
  WebAssembly.Memory.prototype = M.prototype;
  const grab = (r) => { const i = r.instance ?? r; const m = i?.exports?.memory; if (m && !mems.includes(m)) mems.push(m); return r; };
  for (const f of ['instantiate', 'instantiateStreaming']) {
    const orig = WebAssembly[f];
    WebAssembly[f] = (...a) => orig.apply(WebAssembly, a).then(grab);
  }
};

async function measure(page, workloadCase, runs) {
  return page.evaluate(async ({ c, runs }) => {
    const b = window.bench;
    b.load(c);
    let res;
    for (let i = 0; i < 3; i++) res = await b.rerank(c);
    const t = [];
    for (let i = 0; i < runs; i++) {
      const s = performance.now();
      res = await b.rerank(c);
      t.push(performance.now() - s);
    }
    return { t, scores: b.scores(res, c) };
  }, { c: workloadCase, runs });
}

async function memory(page, workloadCase, runs) {
  return page.evaluate(async ({ c, runs }) => {
    const b = window.bench;
    const snap = () => { gc(); return { wasm: window.__wasmMemories.reduce((n, m) => n + m.buffer.byteLength, 0),
      heap: performance.memory.usedJSHeapSize }; };
    b.load(c);
    for (let i = 0; i < 5; i++) await b.rerank(c);
    const before = snap();
    for (let i = 0; i < runs; i++) await b.rerank(c);
    const after = snap();
    return { runs, wasm_bytes_before: before.wasm, wasm_bytes_after: after.wasm,
      js_heap_bytes_before: before.heap, js_heap_bytes_after: after.heap };
  }, { c: workloadCase, runs });
}

const zscore = (v) => { const m = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = Math.max(Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length), 1e-6); return v.map((x) => (x - m) / sd); };
const maxDiff = (a, b) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
const gzFile = (f) => gzipSync(readFileSync(f), { level: 9 }).length;
const rawFile = (f) => readFileSync(f).length;

const CONFIGS = [
  { id: 'localrank-cpu', runtime: 'localrank', backend: 'cpu', build: 'pkg: the default build (scripts/build-wasm): CPU only (burn flex loads the model, FusedEncoder runs it), +simd128, burn simd, fat LTO, wasm-opt -O3',
    q: 'rt=localrank&pkg=pkg&device=cpu', needs: 'pkg/localrank_core_bg.wasm' },
  { id: 'localrank-webgpu-cpu', runtime: 'localrank', backend: 'cpu', build: 'pkg/webgpu: the opt-in CPU + WebGPU build (scripts/build-wasm), +simd128, burn simd, fat LTO, opt-level z, wasm-opt -Oz',
    q: 'rt=localrank&pkg=pkg/webgpu&device=cpu', needs: 'pkg/webgpu/localrank_core_bg.wasm' },
  { id: 'localrank-webgpu', runtime: 'localrank', backend: 'webgpu', build: 'pkg/webgpu: the opt-in CPU + WebGPU build (scripts/build-wasm), +simd128, burn simd, fat LTO, opt-level z, wasm-opt -Oz',
    q: 'rt=localrank&pkg=pkg/webgpu&device=webgpu', needs: 'pkg/webgpu/localrank_core_bg.wasm', gpu: true },
  { id: 'ort-wasm', runtime: 'onnxruntime-web', backend: 'wasm', threads: 1, build: 'onnxruntime-web 1.30.0 ort.wasm.min.mjs, 1 thread',
    q: 'rt=ort&ep=wasm&threads=1' },
  { id: 'ort-wasm-mt', runtime: 'onnxruntime-web', backend: 'wasm', threads: 2, build: 'onnxruntime-web 1.30.0 ort.wasm.min.mjs, 2 threads (cross-origin isolated)',
    q: 'rt=ort&ep=wasm&threads=2' },
  { id: 'ort-webgpu', runtime: 'onnxruntime-web', backend: 'webgpu', build: 'onnxruntime-web 1.30.0 ort.webgpu.min.mjs',
    q: 'rt=ort&ep=webgpu&threads=1', gpu: true },
].filter((c) => !ONLY || ONLY.split(',').includes(c.id));

// ---- Phase 4 (also alone: --network-only): cold start as shoppers see it. Chromium's network
// emulation (DevTools protocol Network.emulateNetworkConditions, DevTools' presets: "Slow 4G" =
// 562.5 ms latency, 1.44 Mbit/s down, 675 kbit/s up; "Fast 4G" = 165 ms, 8.1 Mbit/s, 1.35 Mbit/s),
// navigation start to the first result, first visit (empty caches) and second visit (the same
// browser context, navigated again). Caching as a storefront would (server.mjs `cacheable`):
// page and runtime files in the HTTP cache; each runtime's model in the Cache API (localrank's
// own model cache; the bench page does the same for onnxruntime-web's .onnx); localrank pins its
// manifest (`integrity`), so that its second visit needs no request.
const NETWORKS = {
  'slow-4g': { latency: 562.5, downloadThroughput: 180_000, uploadThroughput: 84_375 },
  'fast-4g': { latency: 165, downloadThroughput: 1_012_500, uploadThroughput: 168_750 },
};
const pinOf = (dir) => createHash('sha256').update(readFileSync(join(dir, 'manifest.json'))).digest('hex');
const NETWORK_CONFIGS = [
  { id: 'localrank-cpu', runtime: 'localrank', backend: 'cpu', model: 'models/', q: `rt=localrank&pkg=pkg&device=cpu&pin=${pinOf(join(REPO, 'models'))}` },
  ...(FULL_MODEL ? [{ id: 'localrank-cpu-full', runtime: 'localrank', backend: 'cpu', model: `${FULL_MODEL} (full model: tokenizer.json, 8-bit token table)`,
    q: `rt=localrank&pkg=pkg&device=cpu&model=/models-full/&pin=${pinOf(FULL_MODEL)}` }] : []),
  { id: 'ort-wasm', runtime: 'onnxruntime-web', backend: 'wasm', threads: 1, model: 'bench/onnx/localrank.onnx', q: 'rt=ort&ep=wasm&threads=1' },
];

async function networkColdStarts(browser) {
  const server = await startBenchServer(PAGE, { cacheable: true });
  const out = [];
  try {
    for (const [network, conditions] of Object.entries(NETWORKS)) {
      const runs = new Map();
      for (let round = 0; round < NETWORK_RUNS; round++) {
        for (const cfg of NETWORK_CONFIGS) {
          const context = await browser.newContext();
          const page = await context.newPage();
          page.setDefaultTimeout(300_000);
          const cdp = await context.newCDPSession(page);
          await cdp.send('Network.enable');
          await cdp.send('Network.emulateNetworkConditions', { offline: false, ...conditions });
          for (const visit of ['first', 'second']) {
            await openBenchPage(page, `${server.url}page.html?${cfg.q}`);
            const r = await page.evaluate(() => ({ cold: window.bench.cold, stages: window.bench.stages, error: window.bench.error }));
            if (r.error) throw new Error(`${cfg.id}, ${network}, ${visit} visit: ${r.error}`);
            const key = `${cfg.id} ${visit}`;
            runs.set(key, [...(runs.get(key) ?? []), r]);
            console.log(`${cfg.id} ${network} ${visit} visit: ${Math.round(r.cold)} ms (${Object.entries(r.stages).map(([k, v]) => `${k} ${Math.round(v)}`).join(', ')})`);
          }
          await context.close();
        }
      }
      for (const cfg of NETWORK_CONFIGS) {
        for (const visit of ['first', 'second']) {
          const v = runs.get(`${cfg.id} ${visit}`).sort((a, b) => a.cold - b.cold);
          // The stages of the median run (ms since navigation start), to see where the time goes.
          const median = v[Math.floor(v.length / 2)];
          out.push({ id: cfg.id, runtime: cfg.runtime, backend: cfg.backend, ...(cfg.threads ? { threads: cfg.threads } : {}), model: cfg.model,
            network, visit, cold_ms: Math.round(median.cold), cold_runs_ms: v.map((r) => Math.round(r.cold)),
            cold_stages_ms: Object.fromEntries(Object.entries(median.stages).map(([k, t]) => [k, Math.round(t)])) });
        }
      }
    }
  } finally {
    await server.close();
  }
  return out;
}

// ---- Phase 5 (also alone: --crossover-only): where WebGPU beats the CPU path. The same page
// per backend (pkg/ CPU, pkg/webgpu's CPU path and its WebGPU path), reranks of 100 / 1,000 /
// 5,000 candidates (the catalogue repeated under new ids past its 1,682 products) after 5 / 50
// events, with and without `explain`; the runs of each size alternate between backends.
// CROSSOVER_RUNS timed reranks after 2 untimed ones (a new size compiles new WebGPU pipelines).
const CROSSOVER_CONFIGS = CONFIGS.filter((c) => c.runtime === 'localrank');
const manyItems = (n) => Array.from({ length: n }, (_, i) => {
  const it = catalog[i % catalog.length];
  return { id: i < catalog.length ? it.id : `${it.id}~${Math.floor(i / catalog.length)}`, title: it.title, category: it.category };
});

async function crossover(browser) {
  const server = await startBenchServer(PAGE);
  const pages = [];
  const out = { date: new Date().toISOString(), machine: `${cpus().length} x ${cpus()[0].model}`, runs: CROSSOVER_RUNS, rows: [] };
  try {
    for (const cfg of CROSSOVER_CONFIGS.filter((c) => existsSync(join(REPO, c.needs)))) {
      const page = await (await browser.newContext()).newPage();
      page.setDefaultTimeout(600_000);
      await openBenchPage(page, `${server.url}page.html?${cfg.q}`);
      const info = await page.evaluate(async () => ({ backend: window.bench.backend, error: window.bench.error,
        adapter: await navigator.gpu?.requestAdapter().then((a) => a && { ...a.info?.toJSON?.() ?? {}, fallback: a.info?.isFallbackAdapter ?? a.isFallbackAdapter ?? null }) }));
      if (info.error || info.backend !== cfg.backend) {
        console.log(`crossover: skip ${cfg.id}: ${info.error ?? `backend is ${info.backend}`}`);
        out.rows.push({ id: cfg.id, skipped: info.error ?? `backend is ${info.backend}` });
        continue;
      }
      if (cfg.gpu) out.adapter = info.adapter;
      pages.push({ cfg, page });
    }
    for (const candidates of [100, 1000, 5000]) {
      for (const session of [5, 50]) {
        for (const explain of [false, true]) {
          const c = { items: manyItems(candidates), events: catalog.slice(600, 600 + session).map(item), options: explain ? { explain: true } : {} };
          const times = new Map(pages.map((p) => [p, []]));
          for (let round = 0; round < 2; round++) {
            for (const p of pages) times.get(p).push(...(await measure(p.page, c, Math.ceil(CROSSOVER_RUNS / 2))).t);
          }
          for (const p of pages) {
            const t = times.get(p).sort((x, y) => x - y);
            out.rows.push({ id: p.cfg.id, backend: p.cfg.backend, candidates, session, explain, runs: t.length,
              p50_ms: +t[Math.floor(t.length / 2)].toFixed(2), p95_ms: +t[Math.min(t.length - 1, Math.floor(t.length * 0.95))].toFixed(2) });
          }
          console.log(`crossover ${candidates} candidates, ${session} events${explain ? ', explain' : ''}: ${pages.map((p) => `${p.cfg.id} ${out.rows.at(-pages.length + pages.indexOf(p)).p50_ms} ms`).join(', ')}`);
        }
      }
    }
  } finally {
    await server.close();
  }
  // Per work size: is WebGPU faster than the default build's CPU path?
  const p50 = (id, r) => out.rows.find((x) => x.id === id && x.candidates === r.candidates && x.session === r.session && x.explain === r.explain)?.p50_ms;
  out.webgpu_faster_at = out.rows.filter((r) => r.id === 'localrank-webgpu').filter((r) => r.p50_ms < p50('localrank-cpu', r))
    .map(({ candidates, session, explain }) => ({ candidates, session, explain }));
  return out;
}

/** Issue 20's cold-start targets from the network rows. */
function networkTargets(entries) {
  const at = (id, network, visit) => entries.find((e) => e.id === id && e.network === network && e.visit === visit)?.cold_ms ?? null;
  const target = (id) => ({
    slow_4g_first: { localrank_ms: at(id, 'slow-4g', 'first'), onnxruntime_web_ms: at('ort-wasm', 'slow-4g', 'first'),
      ratio: ratio(at(id, 'slow-4g', 'first'), at('ort-wasm', 'slow-4g', 'first')), target: 0.4 },
    slow_4g_second: { localrank_ms: at(id, 'slow-4g', 'second'), onnxruntime_web_ms: at('ort-wasm', 'slow-4g', 'second'),
      ratio: ratio(at(id, 'slow-4g', 'second'), at('ort-wasm', 'slow-4g', 'second')), target: 0.5, target_ms: 150 },
  });
  return Object.fromEntries(NETWORK_CONFIGS.filter((c) => c.runtime === 'localrank').map((c) => [c.id, target(c.id)]));
}

const ratio = (a, b) => (a != null && b ? +(a / b).toFixed(3) : null);

/** One phase alone (`--network-only`, `--crossover-only`): runs `phase(browser)` in a fresh
 * Chromium, lets `merge(results, out)` write its part into bench/results.json, prints `shown`. */
async function runAlone(phase, merge) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ARGS });
  let out;
  try {
    out = await phase(browser);
  } finally {
    await browser.close();
  }
  const resultsPath = join(REPO, 'bench/results.json');
  const results = JSON.parse(readFileSync(resultsPath));
  console.log(JSON.stringify(merge(results, out), null, 1));
  writeFileSync(resultsPath, JSON.stringify(results, null, 2) + '\n');
  process.exit(0);
}

if (CROSSOVER_ONLY) {
  await runAlone(crossover, (results, block) => {
    results.webgpu_crossover = { ...block, command: `node bench/run.mjs --crossover-only --crossover-runs ${CROSSOVER_RUNS}`,
      load_average_at_end: loadavg().map((x) => +x.toFixed(2)) };
    return block.webgpu_faster_at;
  });
}

/** bench/results.json "network_cold_start": when, how and under which network profiles phase 4 ran. */
function networkBlock(command) {
  return { date: new Date().toISOString(), command, machine: `${cpus().length} x ${cpus()[0].model}`,
    load_average_at_end: loadavg().map((x) => +x.toFixed(2)), profiles: NETWORKS };
}

if (NETWORK_ONLY) {
  await runAlone(networkColdStarts, (results, entries) => {
    results.runtimes = [...results.runtimes.filter((r) => !r.network), ...entries];
    results.targets.cold_network = networkTargets(entries);
    results.network_cold_start = networkBlock(`node bench/run.mjs --network-only${FULL_MODEL ? ` --full-model ${FULL_MODEL}` : ''} --network-runs ${NETWORK_RUNS}`);
    return results.targets.cold_network;
  });
}

const server = await startBenchServer(PAGE);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ARGS });
const rows = [];
const runtimes = [];
let gflops = null;
try {
  // ---- 4. Measured wasm SIMD f32 throughput in this browser (best of 7).
  {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${server.url}data/catalog.json`);
    gflops = await page.evaluate(async ({ b64, per }) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const { instance } = await WebAssembly.instantiate(bytes);
      let best = 0;
      for (let k = 0; k < 7; k++) {
        const s = performance.now(); instance.exports.run(20000); const ms = performance.now() - s;
        best = Math.max(best, per * 20000 / ms / 1e6);
      }
      return best;
    }, { b64: simdKernel(), per: FLOPS_PER_ITER });
    await page.close();
  }
  // Phase 1, cold start: COLD_RUNS rounds, each a fresh context per runtime in turn; the median
  // is reported. The last round's context stays open for the warm timings; bytes are what it
  // fetched.
  const live = [];
  const colds = new Map();
  const configs = CONFIGS.filter((cfg) => {
    const ok = !cfg.needs || existsSync(join(REPO, cfg.needs));
    if (!ok) console.log(`skip ${cfg.id}: no ${cfg.needs}`);
    return ok;
  });
  for (let round = 0; round < COLD_RUNS; round++) {
    for (const cfg of configs) {
      if (runtimes.some((r) => r.id === cfg.id)) continue;  // skipped earlier
      const last = round === COLD_RUNS - 1;
      const context = await browser.newContext();
      await context.addInitScript(MEMORY_HOOK);
      const fetched = new Set();
      context.on('response', (r) => { const p = new URL(r.url()).pathname; if (fileFor(p)) fetched.add(p); });
      const page = await context.newPage();
      page.setDefaultTimeout(300_000);
      await openBenchPage(page, `${server.url}page.html?${cfg.q}`);
      const info = await page.evaluate(() => ({ backend: window.bench.backend, error: window.bench.error,
        cold: window.bench.cold, stages: window.bench.stages, isolated: window.bench.isolated, threads: window.bench.threads }));
      if (info.error || info.backend !== cfg.backend) {
        console.log(`skip ${cfg.id}: ${info.error ?? `backend is ${info.backend}`}`);
        runtimes.push({ id: cfg.id, skipped: info.error ?? `backend is ${info.backend}` });
        await context.close();
        continue;
      }
      colds.set(cfg.id, [...(colds.get(cfg.id) ?? []), info]);
      if (!last) { await context.close(); continue; }
      // Bytes: every file of this runtime the page (and its workers) fetched, gzip -9 from disk.
      const files = [...fetched].filter((p) => !p.startsWith('/data/'));
      const isModel = (p) => p.startsWith('/models/') || p.startsWith('/onnx/');
      const sum = (f, pred) => files.filter(pred).reduce((n, p) => n + f(fileFor(p)), 0);
      const bytes = { runtime_files: files.filter((p) => !isModel(p)), model_files: files.filter(isModel),
        runtime_bytes_raw: sum(rawFile, (p) => !isModel(p)), runtime_bytes_gz: sum(gzFile, (p) => !isModel(p)),
        model_bytes_raw: sum(rawFile, isModel), model_bytes_gz: sum(gzFile, isModel) };
      // Warm-up until the wasm is tiered up (the first calls run baseline-compiled code).
      const w = inputs.cases.find((x) => x.candidates === 100 && x.session === 50);
      await measure(page, { ...workload(100, 50), feeds: w.feeds }, cfg.gpu ? 10 : 150);
      const runs = colds.get(cfg.id);
      const median = (k) => { const v = runs.map((r) => (k ? r.stages[k] : r.cold)).sort((x, y) => x - y); return v[Math.floor(v.length / 2)]; };
      const cold = { cold: median(), cold_runs: runs.map((r) => Math.round(r.cold)),
        stages: Object.fromEntries(Object.keys(info.stages).map((k) => [k, median(k)])) };
      live.push({ cfg, context, page, info: { ...info, ...cold }, bytes, parity: [] });
      console.log(`${cfg.id}: cold ${Math.round(cold.cold)} ms (median of ${runs.map((r) => Math.round(r.cold)).join(', ')})`);
    }
  }
  // Phase 2, warm timings: every page stays open and the runs are split into ROUNDS rounds that
  // alternate between runtimes, so that load from other processes on this shared machine falls
  // on all of them alike.
  for (const candidates of [100, 500]) {
    for (const session of [5, 50]) {
      const ref = inputs.cases.find((x) => x.candidates === candidates && x.session === session);
      const c = { ...workload(candidates, session), feeds: ref.feeds };
      const times = new Map(live.map((l) => [l, []]));
      for (let round = 0; round < ROUNDS; round++) {
        for (const l of live) {
          const runs = Math.ceil((l.cfg.gpu ? GPU_RUNS : RUNS) / ROUNDS);
          const { t, scores } = await measure(l.page, c, runs);
          times.get(l).push(...t);
          // onnxruntime-web: raw scores vs Python onnxruntime; localrank returns standardised
          // scores (personalization 1): compared with the standardised Python scores.
          l.parity.push(l.cfg.runtime === 'localrank' ? maxDiff(scores, zscore(ref.scores)) : maxDiff(scores, ref.scores));
        }
      }
      for (const l of live) {
        const t = times.get(l).sort((x, y) => x - y);
        const p50 = t[Math.floor(t.length * 0.5)], p95 = t[Math.min(t.length - 1, Math.floor(t.length * 0.95))];
        const limit = flops(candidates, session) / (gflops * 1e6);
        rows.push({ runtime: l.cfg.runtime, backend: l.cfg.backend, ...(l.cfg.threads ? { threads: l.cfg.threads } : {}),
          build: l.cfg.build, candidates, session, runs: t.length,
          p50_ms: +p50.toFixed(3), p95_ms: +p95.toFixed(3), cold_ms: Math.round(l.info.cold),
          runtime_bytes_gz: l.bytes.runtime_bytes_gz, model_bytes_gz: l.bytes.model_bytes_gz,
          limit_ms: +limit.toFixed(4), x_limit: Math.round(p50 / limit), order: live.indexOf(l) });
      }
      console.log(`timed ${candidates} candidates, ${session} events`);
    }
  }
  // Phase 3, memory: wasm memory and JS heap before and after MEM_RUNS reranks.
  for (const l of live) {
    const { cfg, info, bytes } = l;
    const c = { ...workload(100, 50), feeds: inputs.cases.find((x) => x.candidates === 100 && x.session === 50).feeds };
    const mem = await memory(l.page, c, cfg.gpu ? GPU_MEM_RUNS : MEM_RUNS);
    runtimes.push({ id: cfg.id, runtime: cfg.runtime, backend: cfg.backend, build: cfg.build, cold_ms: Math.round(info.cold),
      cold_runs_ms: info.cold_runs,
      cold_stages_ms: Object.fromEntries(Object.entries(info.stages).map(([k, v]) => [k, Math.round(v)])),
      cross_origin_isolated: info.isolated, ...(cfg.threads ? { threads: info.threads } : {}), ...bytes,
      browser_parity_max_abs_diff: Math.max(...l.parity),
      browser_parity_compares: cfg.runtime === 'localrank' ? 'standardised scores vs standardised Python onnxruntime scores'
        : 'raw scores vs Python onnxruntime scores',
      memory: mem });
    await l.context.close();
  }
  // Phase 4, cold start under network emulation (networkColdStarts above).
  runtimes.push(...await networkColdStarts(browser));
} finally {
  await browser.close();
  await server.close();
}

rows.sort((a, b) => a.order - b.order || a.candidates - b.candidates || a.session - b.session);
for (const r of rows) delete r.order;

// ---- 5. The issue's targets, computed from the rows (100 candidates, 50-event session).
const at = (pred) => rows.filter((r) => r.candidates === 100 && r.session === 50 && pred(r));
const best = (rs) => rs.reduce((b, r) => (!b || r.p50_ms < b.p50_ms ? r : b), null);
const lrBest = best(at((r) => r.runtime === 'localrank'));
const ortBest = best(at((r) => r.runtime === 'onnxruntime-web'));
const minCold = (rs) => Math.min(...rs.map((r) => r.cold_ms));
const rt = (id) => runtimes.find((r) => r.id === id && !r.skipped && !r.network);
const lrCpuOnly = rt('localrank-cpu') ?? null;
const lrFull = rt('localrank-webgpu') ?? rt('localrank-webgpu-cpu');
const targets = {
  p50_ratio_best_vs_best: lrBest && ortBest ? { localrank: `${lrBest.backend} (${lrBest.build.split(':')[0]})`, localrank_p50_ms: lrBest.p50_ms,
    onnxruntime_web: `${ortBest.backend}${ortBest.threads ? ` x${ortBest.threads}` : ''}`, onnxruntime_web_p50_ms: ortBest.p50_ms,
    ratio: ratio(lrBest.p50_ms, ortBest.p50_ms), target: 0.5 } : null,
  cold_ratio_best_vs_best: { localrank_ms: minCold(at((r) => r.runtime === 'localrank')), onnxruntime_web_ms: minCold(at((r) => r.runtime === 'onnxruntime-web')),
    ratio: ratio(minCold(at((r) => r.runtime === 'localrank')), minCold(at((r) => r.runtime === 'onnxruntime-web'))), target: 0.5 },
  runtime_bytes_cpu_only: { localrank: lrCpuOnly?.runtime_bytes_gz ?? null, onnxruntime_web_wasm: rt('ort-wasm')?.runtime_bytes_gz ?? null,
    ratio: ratio(lrCpuOnly?.runtime_bytes_gz, rt('ort-wasm')?.runtime_bytes_gz), target: 0.3 },
  runtime_bytes_cpu_webgpu: { localrank: lrFull?.runtime_bytes_gz ?? null, onnxruntime_web_webgpu: rt('ort-webgpu')?.runtime_bytes_gz ?? null,
    // Issue 20 withdrew 0.3x for the opt-in WebGPU build: at most 0.4x, reported.
    ratio: ratio(lrFull?.runtime_bytes_gz, rt('ort-webgpu')?.runtime_bytes_gz), target: 0.4 },
  storefront_total_gz: { cpu_only: lrCpuOnly ? lrCpuOnly.runtime_bytes_gz + lrCpuOnly.model_bytes_gz : null,
    // Issue 20: everything the default import ships (wasm + JS + model + vocabulary + manifest).
    cpu_webgpu: lrFull ? lrFull.runtime_bytes_gz + lrFull.model_bytes_gz : null, target: 1_200_000 },
  cold_network: networkTargets(runtimes.filter((r) => r.network)),
};

const result = {
  machine: `${cpus().length} x ${cpus()[0].model}, headless Debian Chromium (${execSync('/usr/bin/chromium --version').toString().trim()})`,
  date: new Date().toISOString(),
  command: `node bench/run.mjs --runs ${RUNS}${FULL_MODEL ? ` --full-model ${FULL_MODEL}` : ''}`,
  method: `warm runs in ${ROUNDS} rounds alternating between runtimes (3 warm-up calls before each round); p50/p95 over all runs of a runtime`,
  load_average_at_end: loadavg().map((x) => +x.toFixed(2)),
  model: `${manifest.name}@${manifest.version}`, config: manifest.config,
  notes: [
    'localrank timings are the whole LocalRanker.rerank(candidates, context) call: candidate objects in from JS, every title and session event looked up in the token and item-vector caches (src/text.rs, src/items.rs: a product seen before is not tokenised or pooled again, as in a storefront that reranks the same products after every event), the session encoder, scoring, the final ordering and the result objects back to JS; onnxruntime-web timings are session.run on already-encoded int64 tensors (bench/onnx/export.py encodes them once), so they exclude tokenisation and recompute every item\'s mean token embedding.',
    `cold start: median of ${COLD_RUNS} fresh browser contexts per runtime, taken in rounds that alternate between runtimes (the first navigation after a browser starts is slower for whichever runtime goes first).`,
    'onnxruntime-web model bytes are the ONNX file only; a storefront would also ship a tokenizer (and tokenizer.json) to encode inputs, which is not counted for it.',
    `WebGPU in headless Chromium here is SwiftShader (software): ${GPU_RUNS} warm runs, memory after ${GPU_MEM_RUNS} reranks.`,
  ],
  rows,
  runtimes,
  flops_per_rerank: flops(100, 50),
  flops_per_rerank_by_case: Object.fromEntries([100, 500].flatMap((n) => [5, 50].map((s) => [`${n}x${s}`, flops(n, s)]))),
  wasm_simd_gflops: +gflops.toFixed(2),
  parity_max_abs_diff: inputs.parity_max_abs_diff,
  targets,
  network_cold_start: networkBlock(`node bench/run.mjs --runs ${RUNS}${FULL_MODEL ? ` --full-model ${FULL_MODEL}` : ''} (phase 4, --network-runs ${NETWORK_RUNS})`),
  parity: 'Python onnxruntime on bench/onnx/localrank.onnx vs models/golden.json (the Rust ranker, native CPU)',
};
// Other benchmarks keep their own keys (bench/hostile.mjs: "hostile"; phase 5 alone,
// --crossover-only: "webgpu_crossover", with its own date and command).
const resultsPath = join(REPO, 'bench/results.json');
const { hostile, webgpu_crossover } = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath)) : {};
writeFileSync(resultsPath, JSON.stringify({ ...result, ...(hostile && { hostile }), ...(webgpu_crossover && { webgpu_crossover }) }, null, 2) + '\n');

const kb = (b) => (b / 1024).toFixed(0);
console.log(`\n| runtime | backend | build | candidates | session | p50 ms | p95 ms | cold ms | runtime KiB gz | model KiB gz | × FLOP limit |`);
console.log(`|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|`);
for (const r of rows) console.log(`| ${r.runtime} | ${r.backend}${r.threads ? ` ×${r.threads}` : ''} | ${r.build.split(':')[0]} | ${r.candidates} | ${r.session} | ${r.p50_ms} | ${r.p95_ms} | ${r.cold_ms} | ${kb(r.runtime_bytes_gz)} | ${kb(r.model_bytes_gz)} | ${r.x_limit} |`);
console.log(`\n| runtime | cold: runtime ready / model ready / first result ms | wasm MiB before → after | JS heap MiB before → after | reranks | browser parity |`);
console.log(`|---|---:|---:|---:|---:|---:|`);
const mib = (b) => (b / 2 ** 20).toFixed(1);
for (const r of runtimes.filter((x) => x.memory && !x.network)) console.log(`| ${r.id} | ${r.cold_stages_ms.runtime_ready} / ${r.cold_stages_ms.model_ready} / ${r.cold_stages_ms.first_result} | ${mib(r.memory.wasm_bytes_before)} → ${mib(r.memory.wasm_bytes_after)} | ${mib(r.memory.js_heap_bytes_before)} → ${mib(r.memory.js_heap_bytes_after)} | ${r.memory.runs} | ${r.browser_parity_max_abs_diff.toExponential(2)} |`);
console.log(`\nFLOPs per rerank: ${flops(100, 50)} (100 candidates, 50 events), ${flops(500, 50)} (500, 50); wasm SIMD ${gflops.toFixed(2)} GFLOP/s measured; parity ${inputs.parity_max_abs_diff}`);
console.log('targets:', JSON.stringify(targets, null, 1));
console.log(`${result.machine}; ${result.date}; ${result.command}; load average ${result.load_average_at_end}`);
