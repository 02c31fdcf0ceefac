// Where a localrank rerank spends its time: Chromium's sampling profiler (CDP Profiler domain)
// over N warm reranks of 100 candidates and a 50-event session, on the CPU backend.
//   node bench/profile.mjs [--pkg prof|pkg|pkg/webgpu] [--runs 300] [--cold] [--callers REGEX]
// Needs a build with the wasm name section: `prof` (default) is pkg/ before wasm-opt, which
// scripts/build-wasm keeps in target/wasm-cpu/prof/ (wasm-opt without -g strips the names).
// Prints self time per function and inclusive time per stage; writes bench/target/profile.json.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { REPO, startBenchServer } from './server.mjs';

const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
const PKG = arg('--pkg', 'prof');
const RUNS = Number(arg('--runs', 300));
const COLD = process.argv.includes('--cold');  // profile LocalRanker.create + the first rerank instead
const CALLERS = arg('--callers', '');  // also print the stacks above functions matching this
const catalog = JSON.parse(readFileSync(join(REPO, 'www/data/catalog.json'))).items;
const item = ({ id, title, category }) => ({ id, title, category });
const c = { items: catalog.slice(0, 100).map(item), events: catalog.slice(600, 650).map(item),
  ctx: { hour: 12, weekday: 3, device: 'desktop', pageType: 'home', promotion: false } };

const PAGE = `<!doctype html><script type="module">
  const mod = await import('/${PKG}/localrank.js');
  await mod.default();
  window.bench = { mod, create: () => mod.LocalRanker.create({ model: '/models/', device: 'cpu' }) };
  if (!${COLD}) window.bench.ranker = await window.bench.create();
  window.ready = true;
</script>`;

// Stages: a sample counts for a stage when any frame of its stack matches (inclusive time), or
// its leaf matches the stage's second pattern.
const STAGES = [
  ['LocalRanker.create: manifest/sha256 checks (Manifest::verify, sha2)', /verify|sha2|Sha256|compress256/],
  ['LocalRanker.create: manifest.json parse (Manifest::parse)', /Manifest.*parse/],
  ['LocalRanker.create: tokenizer.json parse (WordPiece::from_bytes)', /WordPiece.*from_bytes|TextEncoder.*from_bytes/],
  ['LocalRanker.create: sha256 by SubtleCrypto (js/model.js)', /sha256Hex|^digest$/],
  ['LocalRanker.create: LRQ8 decode + dequantise (quant::load)', /quant.*(load|decode|dequantize|Load)/],
  ['LocalRanker.create: model init (ModelConfig::init, initialisers)', /ModelConfig.*init|Initializer|random|Rng|rand_distr|StdRng/],
  ['tokenise / token-cache lookups (TextEncoder::encode)', /TextEncoder.*encode|WordPiece.*encode/],
  ['item-vector cache (ItemVectors::rows)', /ItemVectors.*rows/],
  // Every wasm stack has a js-to-wasm frame: the glue counts as a leaf (self time) only.
  ['JS <-> wasm (readCandidates, rankedList, JSON, strings, glue)', /readCandidates|rankedList|input::parse_candidates|serde_json::ser/,
    /^stringify$|^parse$|wasm-to-js|js-to-wasm|passStringToWasm|getStringFromWasm|^__wbg|\((localrank|localrank_core|input|model)\.js\)/],
  ['CPU model (FusedEncoder::scores: encoder + scores)', /FusedEncoder.*scores/],
  ['  blocks (FusedBlock::forward)', /FusedBlock.*forward/],
  ['  matrix products (model::matmul)', /model::matmul::matmul/],
  ['  layer norms (fused::Norm)', /fused.*Norm.*forward/],
  ['item vectors pooled on a cache miss (FusedEncoder::item_vectors)', /FusedEncoder.*item_vectors/],
  ['FusedEncoder::new (weights out of the burn model)', /FusedEncoder.*new/],
  ['burn graph (WebGPU path: Model::score; or tensor creation)', /Model.*score|Batch.*new|Candidates.*new/],
  ['rerank::order (standardise, sort)', /rerank.*order/],
  ['allocator (dlmalloc, memcpy, memset)', /dlmalloc|memcpy|memset|memmove|__rust_alloc|__rust_dealloc|realloc/],
];

const server = await startBenchServer(PAGE);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
try {
  const page = await browser.newPage();
  await page.goto(`${server.url}page.html`);
  await page.waitForFunction(() => window.ready, null, { timeout: 300_000 });
  if (!COLD) await page.evaluate(async (c) => {
    const r = window.bench.ranker;
    for (const e of c.events) r.observe({ event: 'select_item', ...e });
    for (let i = 0; i < 20; i++) await r.rerank(c.items, c.ctx, { personalization: 1 });
  }, c);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 50 });
  await cdp.send('Profiler.start');
  const ms = await page.evaluate(async ({ c, runs, cold }) => {
    if (cold) {
      const s = performance.now();
      const r = await window.bench.create();
      for (const e of c.events) r.observe({ event: 'select_item', ...e });
      await r.rerank(c.items, c.ctx, { personalization: 1 });
      return performance.now() - s;
    }
    const r = window.bench.ranker;
    const s = performance.now();
    for (let i = 0; i < runs; i++) await r.rerank(c.items, c.ctx, { personalization: 1 });
    return (performance.now() - s) / runs;
  }, { c, runs: RUNS, cold: COLD });
  const { profile } = await cdp.send('Profiler.stop');
  // Self and inclusive time from the samples.
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const ch of n.children ?? []) parent.set(ch, n.id);
  const self = new Map();
  const callers = new Map();
  const stage = new Map(STAGES.map(([s]) => [s, 0]));
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const leaf = byId.get(id);
    const name = leaf.callFrame.functionName || `(${leaf.callFrame.url.split('/').pop() || 'native'})`;
    if (name === '(idle)' || name === '(program)' || name === '(garbage collector)') {
      if (name !== '(garbage collector)') return;
    }
    total += dt;
    self.set(name, (self.get(name) ?? 0) + dt);
    const stack = [];
    for (let n = id; n !== undefined; n = parent.get(n)) stack.push(byId.get(n).callFrame.functionName);
    for (const [s, re, leafRe] of STAGES) {
      if (stack.some((f) => re.test(f)) || leafRe?.test(name)) stage.set(s, stage.get(s) + dt);
    }
    if (CALLERS && new RegExp(CALLERS).test(name)) {
      const key = stack.slice(1, 7).map((f) => f.slice(0, 70)).join(' < ');
      callers.set(key, (callers.get(key) ?? 0) + dt);
    }
  });
  const pct = (v) => `${(100 * v / total).toFixed(1)}%`;
  console.log(COLD ? `${PKG}: ${ms.toFixed(0)} ms for LocalRanker.create + first rerank (model files fetched; profiler on)`
    : `${PKG}: ${ms.toFixed(2)} ms per rerank (100 candidates, 50 events, ${RUNS} runs, profiler on)`);
  console.log('\n| stage (inclusive) | share of busy time |\n|---|---:|');
  for (const [s, v] of stage) console.log(`| ${s} | ${pct(v)} |`);
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 30);
  console.log('\n| function (self) | share |\n|---|---:|');
  for (const [f, v] of top) console.log(`| ${f.slice(0, 110).replace(/\|/g, '\\|')} | ${pct(v)} |`);
  if (CALLERS) {
    console.log(`\n| callers of /${CALLERS}/ (6 frames up) | share |\n|---|---:|`);
    for (const [k, v] of [...callers].sort((a, b) => b[1] - a[1]).slice(0, 10)) console.log(`| ${k.replace(/\|/g, '\\|')} | ${pct(v)} |`);
  }
  mkdirSync(join(REPO, 'bench/target'), { recursive: true });
  writeFileSync(join(REPO, 'bench/target/profile.json'), JSON.stringify({ pkg: PKG, ms_per_rerank: ms,
    stages: Object.fromEntries([...stage].map(([s, v]) => [s, v / total])),
    self: Object.fromEntries(top.map(([f, v]) => [f, v / total])) }, null, 2));
} finally {
  await browser.close();
  await server.close();
}
