// Personalisation on the CPU backend, plus the demo screenshot and narrow layout.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { artifactPath, genreScenario, gotoReady, openDemo } from './helpers.mjs';

test('rerank-cpu: viewing one category lifts its other members', { timeout: 120_000 }, async (t) => {
  const { page, url, logs } = await openDemo(t);
  await gotoReady(page, `${url}?device=cpu`, logs);
  assert.equal(await page.textContent('[data-testid="backend"]'), 'cpu');
  assert.ok((await page.textContent('[data-testid="model-version"]')).trim().length > 0, 'model version shown');

  const r = await genreScenario(page);
  t.diagnostic(`cpu: "${r.category}" others mean rank ${r.before.toFixed(1)} -> ${r.after.toFixed(1)}`);
  await page.evaluate(() => {
    window.scrollTo(0, 0);
    for (const l of document.querySelectorAll('.products')) l.scrollTop = 0;
  });
  await page.screenshot({ path: artifactPath('demo.png') });

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
  await page.screenshot({ path: artifactPath('demo-390.png') });
});
