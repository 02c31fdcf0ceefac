// The worst case we can construct for each entry point of the package (issue 17): how long one
// call takes and how much wasm memory it leaves, in headless Debian Chromium against pkg/.
//   node bench/hostile.mjs [--runs 3]
// Writes the `hostile` key of bench/results.json (the other keys are bench/run.mjs's) and
// prints a table. A benchmark, not a test: nothing here asserts a time.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { REPO, startServer } from '../scripts/serve.mjs';

const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
const RUNS = Number(arg('--runs', 3));
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// Each case: [entry point, what, code run in the page]. `r` is a ranker whose session holds
// 50 events (the model's window), `mod` the package; the code returns a promise or a value.
// Failing is allowed (e.g. a rejected 64 MB file): the time to the rejection is the cost.
const CASES = [
  ['create', 'the shipped model (2 MB), from localhost', 'mod.LocalRanker.create({ model: "/models/", device: "cpu" }).then((x) => x.dispose())'],
  ['create', 'a 64 MB file where the manifest lists 2 MB (refused on its Content-Length; the time is mostly Playwright serving 64 MB)', 'mod.LocalRanker.create({ model: "/swapped/", device: "cpu" })'],
  ['observe', 'a 2 MB search query of short words', 'fresh().observe({ event: "search", query: "star wars ".repeat(200000) })'],
  ['observe', 'a 2 MB title of one word', 'fresh().observe({ event: "view_item", id: "w", title: "a".repeat(2000000) })'],
  ['observe', 'an unread field nested 100,000 levels', 'fresh().observe({ event: "view_item", id: "d", title: "Heat (1995)", extra: deep })'],
  ['rerank', '5,000 new candidates (uncached), 1 KB titles, 50 events', 'r.rerank(big(5000, 1), {})'],
  ['rerank', '5,000 candidates, longTail 1, 8-level categories of 64 bytes', 'r.rerank(big(5000, 8), {}, { longTail: 1 })'],
  ['rerank', '5,000 candidates with explain, 50 events', 'r.rerank(big(5000, 1), { pageType: "home", device: "mobile" }, { explain: true })'],
  ['rerank', '5,001 candidates (refused before any is read)', 'r.rerank(new Proxy([], { get: (t, k) => (k === "length" ? 5001 : undefined) }))'],
  ['importSession', 'the 50-event session, texts at their cap', 'r.importSession(fullSession)'],
  ['exportSession', 'the 50-event session, texts at their cap', 'r.exportSession()'],
];

function inPage() {
  return async ([cases, runs]) => {
    const mod = await import('/pkg/localrank.js');
    const exports = await mod.default();
    const memory = () => exports.memory.buffer.byteLength;
    const cands = window.demo.candidates;
    const cap = (s, n) => s.repeat(Math.ceil(n / s.length)).slice(0, n);
    const r = await mod.LocalRanker.create({ model: '/models/', device: 'cpu' });
    for (let i = 0; i < 50; i++) {
      const c = cands[i];
      r.observe({ event: 'view_item', id: `${c.id}-${i}`, title: cap(`${c.title} `, 1024), category: c.category });
    }
    const fullSession = r.exportSession();
    let serial = 0;
    // Fresh ids every call, so no cache helps: the worst case.
    const big = (n, depth) => Array.from({ length: n }, (_, i) => ({
      id: `n${serial}-${i}`,
      title: cap(`${cands[i % 100].title} ${serial++} `, 1024),
      category: Array.from({ length: depth }, (_, d) => cap(`Level${d} ${cands[(i + d) % 100].category} `, 64)).join(' / '),
    }));
    let deep = {};
    for (let i = 0; i < 100_000; i++) deep = { deep };
    const spare = await mod.LocalRanker.create({ model: '/models/', device: 'cpu' });
    const fresh = () => { spare.clear(); return spare; };
    const out = [];
    for (const [entry, what, code] of cases) {
      const fn = new Function('mod', 'r', 'big', 'fresh', 'deep', 'fullSession', `return ${code};`);
      const ms = [];
      let outcome = 'ok';
      const before = memory();
      for (let k = 0; k < runs; k++) {
        const t0 = performance.now();
        try {
          await fn(mod, r, big, fresh, deep, fullSession);
        } catch (e) {
          outcome = `error: ${String(e.message).slice(0, 120)}`;
        }
        ms.push(performance.now() - t0);
      }
      ms.sort((a, b) => a - b);
      out.push({ entry, case: what, runs, median_ms: +ms[ms.length >> 1].toFixed(2), max_ms: +ms.at(-1).toFixed(2),
        wasm_memory_mb_before: +(before / 2 ** 20).toFixed(1), wasm_memory_mb_after: +(memory() / 2 ** 20).toFixed(1), outcome });
    }
    return out;
  };
}

async function main() {
  const server = await startServer({ port: 0, repo: REPO });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', headless: true, args: ARGS });
  try {
    const ctx = await browser.newContext();
    const tab = await ctx.newPage();
    const manifest = JSON.parse(readFileSync(join(REPO, 'models/manifest.json')));
    await tab.route(`${server.url}swapped/**`, async (route) => {
      const file = new URL(route.request().url()).pathname.split('/').pop();
      if (file === manifest.files.weights.path) return route.fulfill({ body: Buffer.alloc(64 << 20, 1) });
      return route.fulfill({ response: await route.fetch({ url: `${server.url}models/${file}` }) });
    });
    await tab.goto(`${server.url}?device=cpu&worker=0`);
    await tab.waitForFunction(() => window.demo);
    await tab.evaluate(() => window.demo.ready);
    const rows = await tab.evaluate(inPage(), [CASES, RUNS]);
    const version = browser.version();
    const result = {
      machine: `${cpus().length} x ${cpus()[0].model.trim()}, headless Debian Chromium ${version}`,
      date: new Date().toISOString(),
      command: `node bench/hostile.mjs --runs ${RUNS}`,
      method: `each case ${RUNS} times in one page after one ranker holds 50 events with 1 KB titles; ms = the whole call (median and max); wasm memory = the instance's linear memory before and after the case's runs (it never shrinks)`,
      load_average_at_end: loadavg().map((x) => +x.toFixed(2)),
      rows,
    };
    const path = join(REPO, 'bench/results.json');
    const all = existsSync(path) ? JSON.parse(readFileSync(path)) : {};
    all.hostile = result;
    writeFileSync(path, `${JSON.stringify(all, null, 2)}\n`);
    console.log(`| entry | worst case | median ms | max ms | wasm MB after | outcome |\n|---|---|---:|---:|---:|---|`);
    for (const r of rows) console.log(`| ${r.entry} | ${r.case} | ${r.median_ms} | ${r.max_ms} | ${r.wasm_memory_mb_after} | ${r.outcome} |`);
    console.log(`\n${result.machine}; ${result.date}; wrote bench/results.json "hostile"`);
  } finally {
    await browser.close();
    await server.close();
  }
}

await main();
