// Personalisation on the CPU backend (in the page's main thread), plus the narrow layout and
// keyboard use. The worker is exercised by controls.test.mjs and privacy.test.mjs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { FIXED_TIME, genreScenario, gotoReady, openDemo, pinContext, rerankGolden } from './helpers.mjs';

test('rerank-cpu: viewing one category lifts its other members', { timeout: 120_000 }, async (t) => {
  const { page, url, logs } = await openDemo(t, { clock: FIXED_TIME });
  await gotoReady(page, `${url}?device=cpu&worker=0`, logs);
  await pinContext(page);
  assert.equal(await page.textContent('[data-testid="backend"]'), 'cpu');
  assert.equal(await page.textContent('[data-testid="runs-in"]'), 'page (main thread)');
  assert.ok((await page.textContent('[data-testid="model-version"]')).trim().length > 0, 'model version shown');

  const r = await genreScenario(page, { label: 'cpu' });
  t.diagnostic(r.said);

  // The default build (pkg/: CPU only, opt-level 3, wasm-opt -O3) scores as the CPU backend of
  // the WebGPU build (pkg/webgpu/: opt-level "z", wasm-opt -Oz) does.
  const builds = await page.evaluate(async () => {
    const items = window.demo.candidates;
    const context = { timestamp: 1.7e12, device: 'desktop', pageType: 'home' };
    const scores = async (path) => {
      const mod = await import(path);
      await mod.default();
      const r = await mod.LocalRanker.create({ model: '/models/', device: 'cpu' });
      for (const it of items.slice(40, 46)) r.observe({ event: 'select_item', ...it, timestamp: 1.7e12 });
      const out = await r.rerank(items, context, { personalization: 1 });
      r.dispose();
      return new Map(out.map((x) => [x.id, x.score]));
    };
    const [cpu, webgpu] = [await scores('/pkg/localrank.js'), await scores('/pkg/webgpu/localrank.js')];
    return { n: cpu.size, diff: Math.max(...[...cpu].map(([id, s]) => Math.abs(s - webgpu.get(id)))) };
  });
  assert.equal(builds.n, 100);
  // Measured: 0 (the same f32 code; only the optimisation settings differ). The tolerance leaves
  // room for a reordered sum, not for a different model or feature.
  const said = `pkg/ vs pkg/webgpu/ CPU: max |score difference| ${builds.diff.toExponential(2)} (tolerance 1e-5)`;
  console.log(said);
  t.diagnostic(said);
  assert.ok(builds.diff <= 1e-5, said);

  // The shipped package gives the shipped model's native scores (models/golden.json, written by
  // the Rust ranker at export): the wasm as built, wasm-opt included, in the browser.
  const golden = JSON.parse(readFileSync(new URL('../../models/golden.json', import.meta.url), 'utf8'));
  const inBrowser = Object.fromEntries((await rerankGolden(page, golden)).ranked.map((x) => [x.id, x.score]));
  // With personalization 1 a score is the model's, standardised over the candidates (src/rerank.rs
  // `standardise`). src/golden.rs TOLERANCE (1e-4) bounds a raw difference; standardised, a raw
  // error e moves a score by at most about 2e / sd.
  const raw = golden.scores;
  const mean = raw.reduce((a, b) => a + b, 0) / raw.length;
  const sd = Math.sqrt(raw.reduce((a, b) => a + (b - mean) ** 2, 0) / raw.length);
  assert.ok(sd > 0.1, `golden scores nearly constant (sd ${sd}): the check would prove nothing`);
  const tolerance = (2 * 1e-4) / sd;
  const diff = Math.max(...golden.candidates.map((c, i) => Math.abs(inBrowser[c.id] - (raw[i] - mean) / sd)));
  const saidGolden = `pkg/ in Chromium vs native golden (${raw.length} candidates, ${golden.session.length} events): max |standardised score difference| ${diff.toExponential(2)} (tolerance ${tolerance.toExponential(2)})`;
  console.log(saidGolden);
  t.diagnostic(saidGolden);
  assert.ok(diff <= tolerance, saidGolden);

  // Without explanations the result objects are built in JS from the candidates (js/localrank.js
  // rankedList); with them, parsed from JSON. Both give the same ids (numbers as String(n), the
  // item_id alias), scores and server ranks.
  const paths = await page.evaluate(async () => {
    const items = window.demo.candidates.slice(0, 30).map((c, i) => [
      { ...c, id: 1000 + i + 0.5 }, { item_id: c.id, title: c.title, category: c.category }, c][i % 3]);
    const plain = await window.demo.ranker.rerank(items, {}, {});
    const explained = await window.demo.ranker.rerank(items, {}, { explain: true });
    return { plain, explained: explained.map(({ reasons, ...rest }) => rest), reasons: explained.every((x) => Array.isArray(x.reasons)) };
  });
  assert.ok(paths.reasons, 'explain: true gives reasons');
  assert.equal(paths.plain.length, 30);
  assert.ok(paths.plain.some((x) => x.id === '1000.5') && paths.plain.every((x) => typeof x.id === 'string'), JSON.stringify(paths.plain[0]));
  assert.deepEqual(paths.plain, paths.explained);

  // "Forget me" empties the session and restores the server order.
  await page.click('[data-testid="forget"]');
  await page.evaluate(() => window.demo.rerank());
  assert.equal(await page.textContent('[data-testid="session-length"]'), '0');
  assert.deepEqual(
    await page.$$eval('[data-testid="device-list"] > li', (l) => l.map((li) => li.dataset.id)),
    await page.$$eval('[data-testid="server-list"] > li', (l) => l.map((li) => li.dataset.id)),
    'after Forget me the on-device order must equal the server order again',
  );
});

test('layout: columns stack at 390px and controls are labelled', { timeout: 120_000 }, async (t) => {
  const { page, url, logs } = await openDemo(t, { viewport: { width: 390, height: 844 } });
  await gotoReady(page, `${url}?device=cpu`, logs);
  const box = (sel) => page.locator(sel).boundingBox();
  const [server, device] = [await box('[data-testid="server-list"]'), await box('[data-testid="device-list"]')];
  assert.ok(device.y > server.y + server.height - 1, 'on-device column should sit below the server column');
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `page must not scroll sideways at 390px (scrollWidth ${width})`);
  assert.equal(await page.getByLabel('Search the store').count(), 1);
  const unnamed = await page.$$eval('button', (bs) => bs.filter((b) => !(b.getAttribute('aria-label') || b.textContent.trim())).length);
  assert.equal(unnamed, 0, 'every button needs an accessible name');
  const labelless = await page.$$eval('select, input', (xs) => xs.filter((x) => !x.labels?.length && !x.getAttribute('aria-label')).map((x) => x.id));
  assert.deepEqual(labelless, [], 'every control has a label');

  // Keyboard only: Tab to the first "View" button and press Enter.
  await page.focus('[data-testid="server-list"] > li:first-child button[data-action="view_item"]');
  await page.keyboard.press('Enter');
  await page.evaluate(() => window.demo.rerank());
  assert.equal(await page.textContent('[data-testid="session-length"]'), '1', 'Enter on a focused View button records the view');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.action), 'add_to_cart', 'Tab moves to the next control');
});
