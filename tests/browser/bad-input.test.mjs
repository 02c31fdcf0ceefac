// Malformed input and corrupted models give clear Errors, and the ranker keeps working.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gotoReady, openDemo } from './helpers.mjs';

// Runs fn(ranker, arg) in the page; reports how it failed (or that it did not).
async function attempt(page, fn, arg) {
  return page.evaluate(
    async ([src, a]) => {
      const f = (0, eval)(src);
      let result;
      try {
        result = f(window.demo.ranker, a);
      } catch (e) {
        return { threw: 'sync', isError: e instanceof Error, message: String(e?.message ?? e) };
      }
      try {
        await result;
        return { threw: null };
      } catch (e) {
        return { threw: 'async', isError: e instanceof Error, message: String(e?.message ?? e) };
      }
    },
    [fn.toString(), arg],
  );
}

async function stillWorks(page, after) {
  const out = await page.evaluate(() => window.demo.rerank().then((o) => o.length));
  assert.equal(out, 100, `a normal rerank must still succeed after ${after}`);
}

test('bad-input: errors name the problem and the ranker recovers', { timeout: 120_000 }, async (t) => {
  const { page, url, logs } = await openDemo(t);
  // In the page (not the worker): these calls go straight to LocalRanker.
  await gotoReady(page, `${url}?device=cpu&worker=0`, logs);

  const missingId = await attempt(page, (r) => r.rerank([{ id: '1', title: 'a', category: 'b' }, { title: 'x', category: 'Drama' }], {}, {}));
  assert.equal(missingId.threw, 'async', `rerank with a missing id must reject (got ${JSON.stringify(missingId)})`);
  assert.ok(missingId.isError, 'rejection value must be an Error');
  assert.match(missingId.message, /\bid\b/, 'message should name the id field');
  await stillWorks(page, 'a missing id');

  // Candidates cross into wasm as one JSON string: what JSON would blur must still be named.
  const nanPopularity = await attempt(page, (r) => r.rerank([{ id: '1', title: 'a', popularity: NaN }], {}, {}));
  assert.equal(nanPopularity.threw, 'async', `a NaN popularity must reject (got ${JSON.stringify(nanPopularity)})`);
  assert.match(nanPopularity.message, /candidates\[0\]\.popularity/);
  const numberTitle = await attempt(page, (r) => r.rerank([{ id: '1', title: 'a' }, { id: 2, title: 7 }], {}, {}));
  assert.equal(numberTitle.threw, 'async', `a numeric title must reject (got ${JSON.stringify(numberTitle)})`);
  assert.match(numberTitle.message, /candidates\[1\]/);
  // Only known fields are read: a cycle through one of them is named, one elsewhere is harmless.
  const cyclic = await attempt(page, (r) => { const c = { id: '1', title: 'a' }; c.category = c; return r.rerank([c], {}, {}); });
  assert.equal(cyclic.threw, 'async', `a cyclic candidate must reject (got ${JSON.stringify(cyclic)})`);
  assert.match(cyclic.message, /candidates\[0\]\.category/);
  const harmless = await attempt(page, (r) => { const c = { id: '1', title: 'a' }; c.self = c; return r.rerank([c], {}, {}); });
  assert.equal(harmless.threw, null, `a cycle in an unread field is harmless (got ${JSON.stringify(harmless)})`);
  await stillWorks(page, 'candidates JSON cannot carry');

  const notArray = await attempt(page, (r) => r.rerank('not an array', {}, {}));
  assert.equal(notArray.threw, 'async', `rerank with a non-array must reject (got ${JSON.stringify(notArray)})`);
  assert.ok(notArray.isError, 'rejection value must be an Error');
  assert.match(notArray.message, /candidates/);
  await stillWorks(page, 'a non-array');

  const teleport = await attempt(page, (r) => r.observe({ event: 'teleport', id: '1', title: 'x', category: 'Drama', timestamp: Date.now() }));
  assert.equal(teleport.threw, 'sync', `observe with an unknown event must throw (got ${JSON.stringify(teleport)})`);
  assert.ok(teleport.isError);
  assert.match(teleport.message, /teleport/);
  await stillWorks(page, 'an unknown event');

  const badImport = await attempt(page, (r) => r.importSession('{not a session'));
  assert.equal(badImport.threw, 'sync', `importSession with garbage must throw (got ${JSON.stringify(badImport)})`);
  assert.ok(badImport.isError);
  assert.match(badImport.message, /importSession/);
  const badExplain = await attempt(page, (r) => r.rerank([{ id: '1', title: 'a' }], {}, { explain: 'yes' }));
  assert.equal(badExplain.threw, 'async', `explain: 'yes' must reject (got ${JSON.stringify(badExplain)})`);
  assert.match(badExplain.message, /explain/);
  await stillWorks(page, 'a bad importSession and a bad explain option');

  // Through the worker, errors arrive as Errors with the same messages, and it keeps working.
  const viaWorker = await page.evaluate(async () => {
    const { LocalRankerWorker } = await import('/pkg/worker.js');
    const w = await LocalRankerWorker.create({ model: '/models/', device: 'cpu' });
    let error;
    try {
      await w.observe({ event: 'teleport', id: '1', title: 'x' });
    } catch (e) {
      error = { isError: e instanceof Error, message: e.message };
    }
    const n = (await w.rerank(window.demo.candidates, {}, { explain: true })).length;
    w.dispose();
    const afterDispose = await w.rerank([], {}).then(() => 'resolved', (e) => e.message);
    return { error, n, afterDispose };
  });
  assert.ok(viaWorker.error?.isError, `the worker's observe must reject with an Error: ${JSON.stringify(viaWorker)}`);
  assert.match(viaWorker.error.message, /teleport/);
  assert.equal(viaWorker.n, 100, 'the worker still reranks after a bad event');
  assert.match(viaWorker.afterDispose, /disposed/);

  // Corrupted models are served from fake directories that mirror /models/.
  const manifest = await page.evaluate(() => fetch('/models/manifest.json').then((r) => r.json()));
  assert.ok('format_version' in manifest, `models/manifest.json has no format_version: ${JSON.stringify(manifest)}`);
  await page.route(`${url}bad-version/**`, async (route) => {
    const name = new URL(route.request().url()).pathname.split('/').pop();
    if (name !== 'manifest.json') return route.fulfill({ response: await route.fetch({ url: `${url}models/${name}` }) });
    return route.fulfill({ json: { ...manifest, format_version: 999 } });
  });
  await page.route(`${url}bad-weights/**`, async (route) => {
    const path = new URL(route.request().url()).pathname.replace(/^\/bad-weights\//, '');
    // JSON files (manifest, tokenizer) are real; the binary weights are garbage.
    if (path.endsWith('.json')) return route.fulfill({ response: await route.fetch({ url: `${url}models/${path}` }) });
    const junk = Buffer.alloc(4096, 0);
    for (let i = 0; i < junk.length; i++) junk[i] = (i * 131 + 7) & 0xff;
    return route.fulfill({ body: junk, contentType: 'application/octet-stream' });
  });

  const create = (model) =>
    page.evaluate(async (m) => {
      const { LocalRanker } = await import('/pkg/localrank.js');
      try {
        (await LocalRanker.create({ model: m, device: 'cpu' })).dispose();
        return { ok: true };
      } catch (e) {
        return { ok: false, isError: e instanceof Error, message: String(e?.message ?? e) };
      }
    }, model);

  const badVersion = await create('/bad-version/');
  assert.equal(badVersion.ok, false, 'a manifest with format_version 999 must be rejected');
  assert.ok(badVersion.isError);
  assert.match(badVersion.message, /version/i);
  await stillWorks(page, 'a bad format_version');

  const badWeights = await create('/bad-weights/');
  assert.equal(badWeights.ok, false, 'garbage weights must be rejected');
  assert.ok(badWeights.isError);
  assert.match(badWeights.message, /weight|model|corrupt|checksum|sha|hash|decode|invalid|record/i);
  await stillWorks(page, 'garbage weights');
  t.diagnostic(`bad version: ${badVersion.message}`);
  t.diagnostic(`bad weights: ${badWeights.message}`);
});
