// `device: 'auto'` in the WebGPU build decides by a bounded calibration (js/localrank.js
// `calibrate`, docs/api.md "Choosing the backend") and keeps the decision per origin and model
// version in localStorage. On this machine WebGPU is Chromium's software adapter (SwiftShader),
// far slower than the CPU path: by default 'auto' takes the CPU without calibrating a fallback
// adapter, and with calibrationSettings.fallbackAdapters it must pick the CPU by measurement and
// say why, a second create must use
// the stored decision without calibrating, the worker must read and write the same decision,
// 'webgpu' must still force WebGPU, and the timed part must stay within its bound. Skipped
// (visibly) without an adapter, unless LOCALRANK_REQUIRE_WEBGPU=1.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openDemo } from './helpers.mjs';

const REQUIRE_WEBGPU = process.env.LOCALRANK_REQUIRE_WEBGPU === '1';
const KEY = 'localrank.backend.v1:localrank-ml100k@0.1.0';

test('backend-auto: calibration picks the faster backend, bounded, cached per origin and model', { timeout: 120_000 }, async (t) => {
  const { page, url, logs } = await openDemo(t, { timeout: 60_000 });
  await page.route(`${url}__blank`, (r) => r.fulfill({ contentType: 'text/html', body: '<!doctype html>' }));
  await page.goto(`${url}__blank`);
  const adapter = await page.evaluate(async () => Boolean(await navigator.gpu?.requestAdapter().catch(() => null)));
  if (!adapter) {
    assert.ok(!REQUIRE_WEBGPU, 'LOCALRANK_REQUIRE_WEBGPU=1 but this Chromium has no WebGPU adapter');
    t.skip('no WebGPU adapter in this Chromium (LOCALRANK_REQUIRE_WEBGPU=1 makes this a failure)');
    return;
  }
  const r = await page.evaluate(async (key) => {
    const { LocalRanker, calibrationSettings } = await import('/pkg/webgpu/localrank.js');
    const { LocalRankerWorker } = await import('/pkg/webgpu/worker.js');
    const out = {};
    const view = (x) => ({ backend: x.backend, reason: x.fallbackReason ?? null, cal: x.calibration ?? null });
    const timed = async (make) => {
      const t0 = performance.now();
      const x = await make();
      const v = { ...view(x), createMs: performance.now() - t0 };
      x.dispose();
      return v;
    };
    localStorage.removeItem(key);
    out.bound = calibrationSettings.budgetMs;
    // By default a fallback adapter (SwiftShader here) is not calibrated: the CPU, nothing
    // loaded or stored; in the worker too (the page's settings go with create).
    out.adapterFallback = await navigator.gpu.requestAdapter().then((a) => a.info?.isFallbackAdapter ?? a.isFallbackAdapter);
    out.fallback = await timed(() => LocalRanker.create({ model: '/models/', device: 'auto' }));
    out.workerFallback = await timed(() => LocalRankerWorker.create({ model: '/models/', device: 'auto' }));
    out.fallbackStored = localStorage.getItem(key);
    // The calibration itself, exercised on the one adapter this machine has.
    calibrationSettings.fallbackAdapters = true;
    out.first = await timed(() => LocalRanker.create({ model: '/models/', device: 'auto' }));
    out.stored = JSON.parse(localStorage.getItem(key));
    out.second = await timed(() => LocalRanker.create({ model: '/models/' }));
    out.forced = await timed(() => LocalRanker.create({ model: '/models/', device: 'webgpu' }));
    // The worker: the page passes the stored decision in, and stores the worker's calibration.
    out.workerCached = await timed(() => LocalRankerWorker.create({ model: '/models/', device: 'auto' }));
    localStorage.removeItem(key);
    out.workerFresh = await timed(() => LocalRankerWorker.create({ model: '/models/', device: 'auto' }));
    out.workerStored = JSON.parse(localStorage.getItem(key));
    // The path that loads and times WebGPU too (taken when a CPU rerank is slower than
    // webgpuAboveMs; forced here), with a short session so that its shaders compile sooner.
    localStorage.removeItem(key);
    calibrationSettings.webgpuAboveMs = 0;
    try {
      out.both = await timed(() => LocalRanker.create({ model: '/models/', maxSession: 5 }));
    } finally {
      calibrationSettings.webgpuAboveMs = 8;
      calibrationSettings.fallbackAdapters = false;
    }
    out.bothStored = JSON.parse(localStorage.getItem(key));
    return out;
  }, KEY);
  const say = (label, v) => {
    const c = v.cal;
    const line = `${label}: ${v.backend} in ${v.createMs.toFixed(0)} ms; ${v.reason ?? '(no fallback reason)'}` +
      (c ? `; calibration ${c.cached ? 'cached' : `${c.ms.toFixed(2)} ms`} (cpu ${c.cpuMs?.toFixed(3)} ms, webgpu ${c.webgpuMs?.toFixed(1) ?? '-'} ms, webgpu load ${c.webgpuLoadMs?.toFixed(0) ?? '-'} ms)` : '');
    console.log(line);
    t.diagnostic(line);
  };
  for (const k of ['fallback', 'workerFallback', 'first', 'second', 'forced', 'workerCached', 'workerFresh', 'both']) say(k, r[k]);
  assert.equal(logs.length, 0, logs.join('\n'));

  // The default with a fallback adapter: the CPU, said why, nothing measured or stored.
  assert.equal(r.adapterFallback, true, "this machine's adapter is SwiftShader, a fallback adapter");
  for (const v of [r.fallback, r.workerFallback]) {
    assert.equal(v.backend, 'cpu');
    assert.match(v.reason ?? '', /^the WebGPU adapter is a fallback \(software\) adapter/);
    assert.equal(v.cal, null);
  }
  assert.equal(r.fallbackStored, null);

  // First create: calibrated, the CPU wins, the timed part within the bound.
  assert.equal(r.first.backend, 'cpu');
  assert.equal(r.first.cal.cached, false);
  assert.match(r.first.reason, /^calibration: CPU \d+(\.\d+)? ms a rerank of 100 candidates with 50 events/);
  // A timer cannot fire while the main thread is busy, so the race that ends a late WebGPU rerank
  // resolves a few milliseconds after the bound on a loaded machine (CI, 2026-12-07, 2 cores:
  // 152.5 ms against 150). One WebGPU rerank of this shape (SwiftShader, 100 candidates, 50
  // events) takes 93 ms p50 on a quiet machine (bench/results.json webgpu_crossover, 2026-12-07)
  // and 174 ms on a loaded one, so a calibration that waited for the rerank in flight at the
  // bound would overrun it by up to that much: far more than the 15 ms allowed.
  const slack = r.bound * 0.1;
  assert.ok(r.first.cal.ms > 0 && r.first.cal.ms < r.bound + slack, `calibration took ${r.first.cal.ms} ms, bound ${r.bound} (+${slack} ms timer slack)`);
  assert.ok(r.first.cal.cpuMs > 0 && r.first.cal.cpuMs <= 8, `cpu rerank ${r.first.cal.cpuMs} ms`);
  // What is stored: the decision, timings and date; nothing else.
  assert.deepEqual(Object.keys(r.stored).sort(), ['at', 'backend', 'candidates', 'cpuMs', 'events', 'ms', 'reason', 'webgpuLoadMs', 'webgpuMs']);
  assert.equal(r.stored.backend, 'cpu');

  // Second create on the same origin: the stored decision, no calibration.
  assert.equal(r.second.backend, 'cpu');
  assert.equal(r.second.cal.cached, true);
  assert.equal(r.second.cal.at, r.stored.at);
  assert.match(r.second.reason, /^cached calibration of \d{4}-\d\d-\d\d: CPU /);

  // 'webgpu' still forces WebGPU, and measures nothing.
  assert.equal(r.forced.backend, 'webgpu');
  assert.equal(r.forced.cal, null);
  assert.equal(r.forced.reason, null);

  // The worker: cached from the page's localStorage, then calibrated in the worker and stored.
  assert.equal(r.workerCached.backend, 'cpu');
  assert.equal(r.workerCached.cal.cached, true);
  assert.match(r.workerCached.reason, /^cached calibration of /);
  assert.equal(r.workerFresh.backend, 'cpu');
  assert.equal(r.workerFresh.cal.cached, false);
  assert.match(r.workerFresh.reason, /^calibration: CPU /);
  assert.ok(r.workerFresh.cal.ms < r.bound, `worker calibration took ${r.workerFresh.cal.ms} ms`);
  assert.equal(r.workerStored?.backend, 'cpu');
  assert.equal(r.workerStored.at, r.workerFresh.cal.at);

  // Both timed: WebGPU loaded (outside the bound), its reranks cut at the bound, the CPU wins.
  assert.equal(r.both.backend, 'cpu');
  assert.equal(r.both.cal.cached, false);
  assert.ok(r.both.cal.webgpuLoadMs > 0, 'WebGPU was loaded for the calibration');
  assert.match(r.both.reason, /^calibration: CPU \d+(\.\d+)? ms (vs WebGPU \d+(\.\d+)? ms a rerank of 100 candidates with 5 events|a rerank of 100 candidates with 5 events; WebGPU finished no rerank within the 150 ms bound)$/);
  // A WebGPU rerank cannot be interrupted, only abandoned at the bound (and part of it may hold the
  // thread): 30 ms of slack.
  assert.ok(r.both.cal.ms < r.bound + 30, `calibration with WebGPU took ${r.both.cal.ms} ms, bound ${r.bound}`);
  assert.equal(r.bothStored.backend, 'cpu');
});
