// Shared setup for the browser tests: in-process static server + Debian's
// Chromium through playwright-core (never downloads a browser).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { REPO, startServer } from '../../scripts/serve.mjs';

// LOCALRANK_REPO serves another tree with the same layout (e.g. a stub pkg/).
export const ROOT = resolve(process.env.LOCALRANK_REPO || REPO);
export const ARTIFACTS = join(fileURLToPath(new URL('../..', import.meta.url)), 'tests', 'artifacts');
export const EVENT_NAMES = ['view_item', 'select_item', 'add_to_cart', 'purchase', 'search'];

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--enable-unsafe-webgpu',
];

export function requireBuild() {
  const js = join(ROOT, 'pkg', 'localrank.js');
  assert.ok(existsSync(js), `${js} is missing: build it first with \`wasm-pack build --target web\``);
  assert.ok(existsSync(join(ROOT, 'models', 'manifest.json')), `${ROOT}/models/manifest.json is missing: train/export the model first`);
  assert.ok(existsSync(join(ROOT, 'www', 'data', 'catalog.json')), `${ROOT}/www/data/catalog.json is missing: generate the demo data first`);
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`);
}

// The strict policy of issue 18 (SECURITY.md states it): the demo (demo-csp.test.mjs) and the
// bundler examples (examples.test.mjs) run under it.
export const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'";

// The demo fills hour and weekday from the clock (UTC) and the scores depend on the hour, so
// tests whose ranks or scores matter start the page's clock at this time (openDemo's `clock`)
// and pin the rest of the context too (pinContext). 2026-03-04 is a Wednesday (weekday 3).
export const FIXED_TIME = '2026-03-04T15:00:00Z';
export const FIXED_CONTEXT = { hour: 15, weekday: 3, device: 'desktop', pageType: 'home', promotion: false };

/**
 * Start server + browser for one test; both are closed by t.after().
 * Page console errors and uncaught exceptions are collected in `logs` for failure messages.
 * With `clock` (e.g. FIXED_TIME) the pages' clock starts at that time and runs on from there
 * (playwright's clock.install, before any navigation); without it, the real clock.
 */
export async function openDemo(t, { viewport = { width: 1280, height: 900 }, timeout = 60_000, clock = null } = {}) {
  requireBuild();
  const server = await startServer({ port: 0, repo: ROOT });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  t.after(async () => {
    await browser.close();
    await server.close();
  });
  const context = await browser.newContext({ viewport });
  if (clock) await context.clock.install({ time: new Date(clock) });
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  const logs = [];
  page.on('console', (m) => m.type() === 'error' && logs.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  return { server, browser, context, page, logs, url: server.url };
}

/** Navigate and wait for window.demo.ready; fail with the page's own error text. */
export async function gotoReady(page, url, logs = []) {
  await page.goto(url);
  await page.waitForFunction(() => window.demo);
  const err = await page.evaluate(() => window.demo.ready.then(() => null, (e) => String(e?.message ?? e)));
  assert.equal(err, null, `demo failed to start: ${err}\n${logs.join('\n')}`);
}

/**
 * Sets the demo's context controls to FIXED_CONTEXT (with `ctx`'s fields instead) where they
 * differ, waits for the reranks that queues, and checks what the page now reads. With
 * FIXED_TIME and a desktop viewport nothing differs and nothing is reranked.
 */
export async function pinContext(page, ctx = FIXED_CONTEXT) {
  const read = () => page.evaluate(() => {
    const v = (id) => document.getElementById(id);
    return {
      hour: Number(v('ctx-hour').value), weekday: Number(v('ctx-weekday').value), device: v('ctx-device').value,
      pageType: v('ctx-page').value, promotion: v('ctx-promotion').checked,
    };
  });
  const want = { ...FIXED_CONTEXT, ...ctx };
  const now = await read();
  const select = { hour: 'ctx-hour', weekday: 'ctx-weekday', device: 'ctx-device', pageType: 'ctx-page' };
  let changed = false;
  for (const [key, id] of Object.entries(select)) {
    if (now[key] === want[key]) continue;
    await page.selectOption(`[data-testid="${id}"]`, String(want[key]));
    changed = true;
  }
  if (now.promotion !== want.promotion) {
    await page.setChecked('[data-testid="ctx-promotion"]', want.promotion);
    changed = true;
  }
  if (changed) await page.evaluate(() => window.demo.rerank());
  assert.deepEqual(await read(), want, 'the demo reads the pinned context');
}

export const deviceOrder = (page) =>
  page.$$eval('[data-testid="device-list"] > li', (lis) => lis.map((li) => li.dataset.id));
export const serverOrder = (page) =>
  page.$$eval('[data-testid="server-list"] > li', (lis) => lis.map((li) => li.dataset.id));

/** Click a button on a card in the server column and wait for every queued rerank. */
export async function clickItem(page, id, action = 'view_item') {
  await page.click(`[data-testid="server-list"] > li[data-id="${id}"] button[data-action="${action}"]`);
  await page.evaluate(() => window.demo.rerank());
}

/**
 * Pick a category from the served data (not hard-coded ids): the one with the most candidates
 * (at least 8; ties: the one lower in server order), so that the check has the most unclicked
 * members to measure. `control` is the category the personalisation check clicks instead
 * (genreScenario): the next largest, 5 of its members (in server order) whose category path does
 * not name the target category at all.
 */
export async function pickCategory(page) {
  // A product's genre is the first segment of its category path ("Drama / Romance" -> "Drama").
  const cands = await page.evaluate(() =>
    window.demo.candidates.map((c) => ({ id: c.id, path: c.category.split(' / '), category: c.category.split(' / ')[0] })));
  const groups = new Map();
  cands.forEach((c, i) => {
    if (!groups.has(c.category)) groups.set(c.category, []);
    groups.get(c.category).push({ id: c.id, rank: i + 1, path: c.path });
  });
  const mean = (xs) => xs.reduce((a, x) => a + x.rank, 0) / xs.length;
  const eligible = [...groups].filter(([, m]) => m.length >= 8)
    .sort((a, b) => b[1].length - a[1].length || mean(b[1]) - mean(a[1]));
  assert.ok(eligible.length, `no category has 8+ of the ${cands.length} candidates: ${[...groups.keys()]}`);
  const [category, members] = eligible[0];
  const controls = eligible.slice(1)
    .map(([c, m]) => ({ category: c, clicked: m.filter((x) => !x.path.includes(category)).slice(0, 5) }))
    .filter((c) => c.clicked.length === 5);
  return { category, members, clicked: members.slice(0, 5), others: members.slice(5), control: controls[0] };
}

// The personalisation check's margins (genreScenario). The statistic, "lift": the mean rank of
// the target category's unclicked members after 5 views of control-category products minus
// their mean rank after 5 views of target-category products, i.e. how many places the target
// clicks lift them above where clicks that say nothing about the category leave them.
//  - MIN_LIFT: the lift must be at least this many places.
//  - Permutation null: the lift of 1000 seeded random sets of as many products, drawn from the
//    90 products clicked in neither session (a random relabelling of which products count as
//    the target category: what a model that moves products without regard to their category
//    gives). The lift must exceed the 99th percentile of these.
// Measured with the shipped model (localrank-ml100k@0.1.0, the student trained alone, exported on
// 2026-12-06 with the validated default personalization 1; FIXED_TIME/FIXED_CONTEXT; CPU, worker
// and WebGPU alike): target Action (33 unclicked), control Drama: mean rank 51.0 in server order,
// 58.8 after the control session, 41.8 after the target session: lift 16.97 places; 99th
// percentile of the random sets 6.09. (The model exported before, at personalization 0.9: 18.8
// against 8.0.) (Drama, the target this
// check used to pick as the category lowest in server order, is NOT lifted by this model beyond
// chance: before the re-export 6.1 places over an Action control against a 99th percentile of
// 16.5; with it, natively (tests/model.rs), 4.3 over a Comedy control against 17.6. Drama is
// MovieLens' catch-all genre.)
export const MIN_LIFT = 10; // measured 16.97
const NULL_DRAWS = 1000;
const NULL_SEED = 20260304;

/** mulberry32: a small seeded PRNG (the permutation null must not change between runs). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The 99th percentile of `lift(set)` over NULL_DRAWS random `size`-subsets of `pool`. */
export function permutationP99(pool, size, lift, seed = NULL_SEED) {
  const rand = prng(seed);
  const draws = [];
  for (let d = 0; d < NULL_DRAWS; d++) {
    const xs = [...pool];
    for (let i = 0; i < size; i++) {
      const j = i + Math.floor(rand() * (xs.length - i)); // partial Fisher-Yates
      [xs[i], xs[j]] = [xs[j], xs[i]];
    }
    draws.push(lift(xs.slice(0, size)));
  }
  draws.sort((a, b) => a - b);
  return draws[Math.ceil(0.99 * NULL_DRAWS) - 1];
}

/** Views `items` through the demo's buttons and returns the on-device order (ids). */
async function viewAll(page, items, server) {
  for (const { id } of items) await clickItem(page, id);
  assert.equal(await page.textContent('[data-testid="session-length"]'), String(items.length));
  assert.match(await page.textContent('[data-testid="rerank-ms"]'), /^\d+(\.\d+)?$/);
  const device = await deviceOrder(page);
  assert.deepEqual([...device].sort(), [...server].sort(), 'reranked list must be a permutation of the candidates');
  const lastOrder = await page.evaluate(() => window.demo.lastOrder.map((r) => r.id));
  assert.deepEqual(device, lastOrder, 'on-device column must show the ranker output in order');
  return device;
}

/**
 * The order the demo's ranker gives in the demo's context (read from its controls as www/app.js
 * readContext does) and with its options, for the session it holds plus `views` (view_item
 * events observed first; with `clear`, the session is emptied afterwards). One rerank instead of
 * one per click: the WebGPU software adapter takes seconds for each new session length.
 */
function rerankAsDemo(page, views = [], clear = false) {
  return page.evaluate(async ([items, clearAfter]) => {
    const d = window.demo;
    const v = (id) => document.getElementById(id);
    for (const { id, title, category } of items) await d.ranker.observe({ timestamp: Date.now(), event: 'view_item', id, title, category });
    const context = {
      hour: Number(v('ctx-hour').value), weekday: Number(v('ctx-weekday').value), device: v('ctx-device').value,
      pageType: v('ctx-page').value, promotion: v('ctx-promotion').checked, category: null, query: d.query ?? null,
    };
    const options = { topK: d.candidates.length, longTail: Number(v('long-tail').value), explain: true };
    const out = await d.ranker.rerank(d.candidates, context, options);
    if (clearAfter) await d.ranker.clear();
    return out.map((r) => r.id);
  }, [views, clear]);
}

/**
 * The shared personalisation check (CPU, WebGPU, worker), against a control: the order after 5
 * views of control-category products (observed through the demo's ranker, then cleared), and
 * the order after 5 views of target-category products through the demo's buttons (the page is
 * left in that state). The target's unclicked members must rank higher after the target session
 * than after the control session by at least MIN_LIFT places on average, and by more than the
 * 99th percentile of random product sets of the same size (permutationP99). Call pinContext first.
 */
export async function genreScenario(page, { label = 'genre', minLift = MIN_LIFT } = {}) {
  const server = await serverOrder(page);
  assert.equal(server.length, 100, 'server column should list the 100 candidates');
  assert.deepEqual(await deviceOrder(page), server, 'with an empty session the on-device order must equal the server order');

  const { category, clicked, others, control } = await pickCategory(page);
  assert.ok(control, `no control category with 5 products outside "${category}"`);
  const titled = await page.evaluate((ids) => ids.map((id) => window.demo.candidates.find((c) => c.id === id)), control.clicked.map((m) => m.id));
  const controlOrder = await rerankAsDemo(page, titled, true);
  assert.equal(await page.evaluate(() => window.demo.ranker.sessionLength), 0, 'the control session is cleared');
  const device = await viewAll(page, clicked, server);
  // The control went through the same context and options as the demo's own rerank.
  assert.deepEqual(await rerankAsDemo(page), device, 'rerankAsDemo must give the order the demo shows for the same session');

  const rankIn = (order) => new Map(order.map((id, i) => [id, i + 1]));
  const [rc, rt] = [rankIn(controlOrder), rankIn(device)];
  const meanRank = (ranks, set) => set.reduce((a, m) => a + ranks.get(m.id), 0) / set.length;
  const liftOf = (set) => meanRank(rc, set) - meanRank(rt, set);
  const clickedIds = new Set([...clicked, ...control.clicked].map((m) => m.id));
  const pool = server.filter((id) => !clickedIds.has(id)).map((id) => ({ id }));
  const lift = liftOf(others);
  const p99 = permutationP99(pool, others.length, liftOf);
  const m = {
    label, category, control: control.category, n: others.length,
    server: others.reduce((a, x) => a + x.rank, 0) / others.length,
    afterControl: meanRank(rc, others), after: meanRank(rt, others), lift, p99, minLift,
  };
  const said = `${label}: "${category}" x${others.length} unclicked, mean rank: server ${m.server.toFixed(1)}, ` +
    `after 5 "${control.category}" views ${m.afterControl.toFixed(1)}, after 5 "${category}" views ${m.after.toFixed(1)}; ` +
    `lift over the control ${lift.toFixed(2)} places (margin >= ${minLift}), ` +
    `99th percentile of ${NULL_DRAWS} seeded random ${others.length}-sets ${p99.toFixed(2)}`;
  console.log(said);
  assert.ok(lift >= minLift, `${said}: the lift over the control is under the margin`);
  assert.ok(lift > p99, `${said}: the lift is no larger than random product sets get`);
  return { ...m, before: m.server, clicked, others, said };
}

export function artifactPath(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}

/**
 * A model directory's golden case (golden.json: session, context, candidates and the scores the
 * native Rust ranker wrote at export) reranked in `page` by `pkg/` on the CPU with
 * personalization 1: the model's version and the result (ids and standardised scores, in order).
 */
export function rerankGolden(page, golden, model = '/models/') {
  return page.evaluate(async ({ g, model }) => {
    const mod = await import('/pkg/localrank.js');
    await mod.default();
    const ranker = await mod.LocalRanker.create({ model, device: 'cpu' });
    for (const e of g.session) {
      ranker.observe({ event: e.kind, id: e.item_id, title: e.title, category: e.category, timestamp: e.timestamp_ms, dwellMs: e.dwell_ms ?? undefined });
    }
    const c = g.context;
    const context = { hour: c.hour, weekday: c.weekday, device: c.device, pageType: c.page_type, promotion: c.promotion };
    const ranked = await ranker.rerank(g.candidates, context, { personalization: 1 });
    const version = ranker.modelVersion;
    ranker.dispose();
    return { version, ranked: ranked.map((r) => ({ id: r.id, score: r.score })) };
  }, { g: golden, model });
}

