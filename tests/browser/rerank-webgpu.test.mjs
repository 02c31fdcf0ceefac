// Personalisation on the WebGPU backend; skipped (visibly) when Chromium has no adapter, unless
// LOCALRANK_REQUIRE_WEBGPU=1 (scripts/test sets it): then a missing adapter fails the test.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FIXED_TIME, genreScenario, gotoReady, openDemo, pinContext } from './helpers.mjs';

const REQUIRE_WEBGPU = process.env.LOCALRANK_REQUIRE_WEBGPU === '1';
// WebGPU vs CPU scores, same session and context: measured max |difference| 7.75e-7 and, after
// the re-export of 2026-12-06, 9.83e-7 (SwiftShader, Chromium's software adapter, shipped
// model); the tolerance is about 10 times that.
const GPU_CPU_TOLERANCE = 1e-5;

test('rerank-webgpu: viewing one category lifts its other members', { timeout: 300_000 }, async (t) => {
  // The software adapter needs seconds per first dispatch: be generous.
  const { page, url, logs } = await openDemo(t, { timeout: 120_000, clock: FIXED_TIME });
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
    assert.ok(!REQUIRE_WEBGPU, `LOCALRANK_REQUIRE_WEBGPU=1 but this Chromium has no WebGPU adapter: ${probe.missing}`);
    t.skip(`no WebGPU adapter in this Chromium: ${probe.missing} (LOCALRANK_REQUIRE_WEBGPU=1 makes this a failure)`);
    return;
  }
  t.diagnostic(`WebGPU adapter: ${probe.adapter}`);
  await gotoReady(page, `${url}?device=webgpu&worker=0`, logs);
  assert.equal(await page.textContent('[data-testid="backend"]'), 'webgpu');
  await pinContext(page);
  const r = await genreScenario(page, { label: 'webgpu' });
  t.diagnostic(r.said);

  // Same session, same context: the WebGPU and CPU backends must give the same scores.
  const parity = await page.evaluate(async () => {
    const { LocalRanker } = await import('/pkg/webgpu/localrank.js');
    const [gpu, cpu] = await Promise.all(['webgpu', 'cpu'].map((device) =>
      LocalRanker.create({ model: '/models/', device })));
    const items = window.demo.candidates;
    const context = { timestamp: 1.7e12, device: 'desktop', pageType: 'home' };
    for (const r of [gpu, cpu]) {
      for (const it of items.slice(40, 46)) {
        r.observe({ event: 'select_item', id: it.id, title: it.title, category: it.category, timestamp: 1.7e12 });
      }
    }
    const [a, b] = [await gpu.rerank(items, context), await cpu.rerank(items, context)];
    const cpuScore = new Map(b.map((x) => [x.id, x.score]));
    const diff = Math.max(...a.map((x) => Math.abs(x.score - cpuScore.get(x.id))));
    const backends = [gpu.backend, cpu.backend];
    gpu.dispose();
    cpu.dispose();
    return { diff, backends, n: a.length };
  });
  assert.deepEqual(parity.backends, ['webgpu', 'cpu']);
  assert.equal(parity.n, 100);
  const said = `webgpu vs cpu: max |score difference| ${parity.diff.toExponential(2)} over ${parity.n} candidates (tolerance ${GPU_CPU_TOLERANCE})`;
  console.log(said);
  t.diagnostic(said);
  assert.ok(parity.diff <= GPU_CPU_TOLERANCE, said);

  // The same in the Web Worker (WebGPU from a worker's navigator.gpu).
  await gotoReady(page, `${url}?device=webgpu&worker=1`, logs);
  assert.equal(await page.textContent('[data-testid="backend"]'), 'webgpu');
  assert.equal(await page.textContent('[data-testid="runs-in"]'), 'Web Worker');
  await pinContext(page);
  const w = await genreScenario(page, { label: 'webgpu in the worker' });
  t.diagnostic(w.said);
});
