// Personalisation on the WebGPU backend; skipped (visibly) when Chromium has no adapter.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { genreScenario, gotoReady, openDemo } from './helpers.mjs';

test('rerank-webgpu: viewing one category lifts its other members', { timeout: 300_000 }, async (t) => {
  // The software adapter needs seconds per first dispatch: be generous.
  const { page, url, logs } = await openDemo(t, { timeout: 120_000 });
  // Probe on a blank same-origin page (secure context) so the demo does not start yet.
  await page.route(`${url}__probe`, (r) => r.fulfill({ contentType: 'text/html', body: '<!doctype html>' }));
  await page.goto(`${url}__probe`);
  const probe = await page.evaluate(async () => {
    if (!navigator.gpu) return { missing: 'navigator.gpu is undefined' };
    try {
      const a = await navigator.gpu.requestAdapter();
      if (!a) return { missing: 'requestAdapter() returned null' };
      const { vendor, architecture, description } = a.info ?? {};
      return { adapter: [vendor, architecture, description].filter(Boolean).join(' / ') || 'unnamed' };
    } catch (e) {
      return { missing: `requestAdapter() threw: ${e.message}` };
    }
  });
  if (probe.missing) {
    t.skip(`no WebGPU adapter in this Chromium: ${probe.missing}`);
    return;
  }
  t.diagnostic(`WebGPU adapter: ${probe.adapter}`);
  await gotoReady(page, `${url}?device=webgpu`, logs);
  assert.equal(await page.textContent('[data-testid="backend"]'), 'webgpu');
  const r = await genreScenario(page);
  t.diagnostic(`webgpu: "${r.category}" others mean rank ${r.before.toFixed(1)} -> ${r.after.toFixed(1)}`);
});
