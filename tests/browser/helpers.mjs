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

/**
 * Start server + browser for one test; both are closed by t.after().
 * Page console errors and uncaught exceptions are collected in `logs` for failure messages.
 */
export async function openDemo(t, { viewport = { width: 1280, height: 900 }, timeout = 60_000 } = {}) {
  requireBuild();
  const server = await startServer({ port: 0, repo: ROOT });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  t.after(async () => {
    await browser.close();
    await server.close();
  });
  const context = await browser.newContext({ viewport });
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
 * Pick a category from the served data (not hard-coded ids): among those with at
 * least 8 candidates, the one sitting lowest in server order, so it has room to rise.
 */
export async function pickCategory(page) {
  // A product's genre is the first segment of its category path ("Drama / Romance" -> "Drama").
  const cands = await page.evaluate(() =>
    window.demo.candidates.map((c) => ({ id: c.id, category: c.category.split(' / ')[0] })));
  const groups = new Map();
  cands.forEach((c, i) => {
    if (!groups.has(c.category)) groups.set(c.category, []);
    groups.get(c.category).push({ id: c.id, rank: i + 1 });
  });
  const mean = (xs) => xs.reduce((a, x) => a + x.rank, 0) / xs.length;
  const eligible = [...groups].filter(([, m]) => m.length >= 8).sort((a, b) => mean(b[1]) - mean(a[1]));
  assert.ok(eligible.length, `no category has 8+ of the ${cands.length} candidates: ${[...groups.keys()]}`);
  const [category, members] = eligible[0];
  return { category, members, clicked: members.slice(0, 5), others: members.slice(5) };
}

/**
 * The shared personalisation check (CPU and WebGPU): view 5 items of one
 * category; the unclicked members of that category must rise by >= 5 places on average.
 */
export async function genreScenario(page, { minGain = 5 } = {}) {
  const server = await serverOrder(page);
  assert.equal(server.length, 100, 'server column should list the 100 candidates');
  assert.deepEqual(await deviceOrder(page), server, 'with an empty session the on-device order must equal the server order');

  const { category, clicked, others } = await pickCategory(page);
  for (const { id } of clicked) await clickItem(page, id);
  assert.equal(await page.textContent('[data-testid="session-length"]'), String(clicked.length));
  assert.match(await page.textContent('[data-testid="rerank-ms"]'), /^\d+(\.\d+)?$/);

  const device = await deviceOrder(page);
  assert.deepEqual([...device].sort(), [...server].sort(), 'reranked list must be a permutation of the candidates');
  const lastOrder = await page.evaluate(() => window.demo.lastOrder.map((r) => r.id));
  assert.deepEqual(device, lastOrder, 'on-device column must show the ranker output in order');

  const before = others.reduce((a, m) => a + m.rank, 0) / others.length;
  const after = others.reduce((a, m) => a + device.indexOf(m.id) + 1, 0) / others.length;
  assert.ok(
    before - after >= minGain,
    `after viewing ${clicked.length} "${category}" items, the other ${others.length} "${category}" candidates ` +
      `should rise >= ${minGain} places on average: mean server rank ${before.toFixed(1)}, ` +
      `mean on-device rank ${after.toFixed(1)}`,
  );
  return { category, clicked, others, before, after };
}

export function artifactPath(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}
