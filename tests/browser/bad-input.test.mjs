// Malformed input and corrupted models give clear Errors, and the ranker keeps working: after
// every refused call the session (exportSession) and a rerank of fixed candidates in a fixed
// context (ids and scores) are exactly what they were before it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { openDemo } from './helpers.mjs';

// Fixed inputs: no clock, no demo controls (the rerank result depends on hour and weekday).
const CONTEXT = { hour: 15, weekday: 3, device: 'desktop', pageType: 'home', promotion: false };
const T0 = Date.UTC(2026, 2, 4, 14, 0); // event timestamps, 2026-03-04 14:00 UTC
const INVALID = 'localrank: invalid input: ';
const TELEPORT = `${INVALID}event: unknown event type "teleport" (expected one of view_item, select_item, add_to_cart, purchase, search)`;

/**
 * In the page: import the package, create a ranker (`kind`: 'page' = LocalRanker, 'worker' =
 * LocalRankerWorker) as window.lr[kind], observe four valid events and return the state.
 */
async function setUp(page, kind) {
  return page.evaluate(async ([k, ctx, t0]) => {
    const lr = (window.lr ??= {});
    if (!lr.candidates) {
      const get = (u) => fetch(u).then((r) => r.json());
      const [catalog, server] = await Promise.all([get('/data/catalog.json'), get('/data/server-candidates.json')]);
      const byId = new Map(catalog.items.map((it) => [String(it.id), it]));
      lr.candidates = server.candidates.map((id) => byId.get(String(id))).map(({ id, title, category }) => ({ id, title, category }));
      lr.state = async (r) => {
        const ranked = await r.rerank(lr.candidates, ctx, { personalization: 1 });
        return { session: await r.exportSession(), ranked: ranked.map(({ id, score }) => ({ id, score })) };
      };
    }
    if (k === 'page') {
      const mod = await import('/pkg/localrank.js');
      await mod.default();
      lr.page = await mod.LocalRanker.create({ model: '/models/', device: 'cpu' });
    } else {
      const { LocalRankerWorker } = await import('/pkg/worker.js');
      lr.worker = await LocalRankerWorker.create({ model: '/models/', device: 'cpu' });
    }
    const r = lr[k];
    const c = lr.candidates;
    await r.observe({ event: 'view_item', id: c[60].id, title: c[60].title, category: c[60].category, timestamp: t0 });
    await r.observe({ event: 'select_item', id: c[70].id, title: c[70].title, category: c[70].category, timestamp: t0 + 60_000 });
    await r.observe({ event: 'add_to_cart', id: c[80].id, title: c[80].title, category: c[80].category, timestamp: t0 + 120_000 });
    await r.observe({ event: 'search', query: 'space adventure', timestamp: t0 + 180_000 });
    return { ...(await lr.state(r)), server: c.map((x) => String(x.id)) };
  }, [kind, CONTEXT, T0]);
}

const state = (page, kind) => page.evaluate((k) => window.lr.state(window.lr[k]), kind);

/**
 * Runs fn(ranker, arg) in the page on window.lr[kind]; it must fail the way `expected` says
 * ({ threw: 'sync' | 'async' | null, message }: the exact message), and the ranker's session
 * and rerank result must then equal `saved`.
 */
async function refused(page, kind, saved, what, fn, expected, arg) {
  const got = await page.evaluate(
    async ([k, src, a]) => {
      const f = (0, eval)(src);
      let result;
      try {
        result = f(window.lr[k], a);
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
    [kind, fn.toString(), arg],
  );
  if (expected.threw === null) {
    assert.deepEqual(got, { threw: null }, `${what} must succeed`);
  } else {
    assert.equal(got.threw, expected.threw, `${what} must ${expected.threw === 'sync' ? 'throw' : 'reject'} (got ${JSON.stringify(got)})`);
    assert.ok(got.isError, `${what}: the ${expected.threw === 'sync' ? 'thrown' : 'rejection'} value must be an Error`);
    assert.equal(got.message, expected.message, `${what}: message`);
  }
  assertUnchanged(await state(page, kind), saved, what);
}

function assertUnchanged(now, saved, what) {
  assert.equal(now.session, saved.session, `after ${what} the session (exportSession) must be unchanged`);
  assert.deepEqual(now.ranked, saved.ranked, `after ${what} a rerank must give the same ids and scores`);
}

test('bad-input: errors name the problem and the ranker recovers', { timeout: 120_000 }, async (t) => {
  const { page, url, context } = await openDemo(t);
  // A blank same-origin document: the package is imported directly, the demo never starts.
  await page.route(`${url}__blank`, (r) => r.fulfill({ contentType: 'text/html', body: '<!doctype html>' }));
  await page.goto(`${url}__blank`);

  const saved = await setUp(page, 'page');
  assert.equal(JSON.parse(saved.session).length, 4, `four events observed: ${saved.session.slice(0, 300)}`);
  assert.equal(saved.ranked.length, 100);
  assert.notDeepEqual(saved.ranked.map((r) => r.id), saved.server, 'the saved rerank must be personalised (not the empty-session server order)');
  const refusedHere = (what, fn, expected, arg) => refused(page, 'page', saved, what, fn, expected, arg);
  const rejects = (message) => ({ threw: 'async', message });
  const throws = (message) => ({ threw: 'sync', message });

  await refusedHere('a rerank with a missing id',
    (r) => r.rerank([{ id: '1', title: 'a', category: 'b' }, { title: 'x', category: 'Drama' }], {}, {}),
    rejects(`${INVALID}candidates[1].id: missing`));
  // Candidates cross into wasm as one JSON string: what JSON would blur must still be named.
  await refusedHere('a NaN popularity', (r) => r.rerank([{ id: '1', title: 'a', popularity: NaN }], {}, {}),
    rejects(`${INVALID}candidates[0].popularity: expected a finite number, got NaN`));
  await refusedHere('a numeric title', (r) => r.rerank([{ id: '1', title: 'a' }, { id: 2, title: 7 }], {}, {}),
    rejects(`${INVALID}candidates[1].title: expected a string, got a number`));
  // Only known fields are read: a cycle through one of them is named, one elsewhere is harmless.
  await refusedHere('a cycle through category',
    (r) => { const c = { id: '1', title: 'a' }; c.category = c; return r.rerank([c], {}, {}); },
    rejects(`${INVALID}candidates[0].category: expected a string, got an object`));
  await refusedHere('a cycle through an unread field',
    (r) => { const c = { id: '1', title: 'a' }; c.self = c; return r.rerank([c], {}, {}); },
    { threw: null });
  await refusedHere('a non-array', (r) => r.rerank('not an array', {}, {}),
    rejects(`${INVALID}candidates: expected an array of { id, title, category }, got a string`));
  await refusedHere('an unknown event',
    (r) => r.observe({ event: 'teleport', id: '1', title: 'x', category: 'Drama', timestamp: 1.7e12 }),
    throws(TELEPORT));
  await refusedHere('a garbage importSession', (r) => r.importSession('{not a session'),
    throws(`${INVALID}importSession: not a stored session: invalid type: map, expected a sequence at line 1 column 0`));
  await refusedHere("explain: 'yes'", (r) => r.rerank([{ id: '1', title: 'a' }], {}, { explain: 'yes' }),
    rejects(`${INVALID}options.explain: expected true or false, got a string`));

  // Through the worker, errors arrive as Errors with the same messages, and it keeps its state.
  const savedWorker = await setUp(page, 'worker');
  assert.deepEqual(savedWorker, saved, 'the worker holds the same session and scores as the page');
  await refused(page, 'worker', savedWorker, 'an unknown event (worker)',
    (r) => r.observe({ event: 'teleport', id: '1', title: 'x' }), rejects(TELEPORT));
  const afterDispose = await page.evaluate(() => {
    window.lr.worker.dispose();
    return window.lr.worker.rerank([], {}).then(() => 'resolved', (e) => e.message);
  });
  assert.equal(afterDispose, `${INVALID}this LocalRankerWorker was disposed; create a new one`);

  // Corrupted models are served from fake directories that mirror /models/; creating a ranker
  // from them fails with the exact reason, and the page's ranker is untouched.
  const manifest = await page.evaluate(() => fetch('/models/manifest.json').then((r) => r.json()));
  const weights = manifest.files?.weights;
  assert.ok('format_version' in manifest && weights?.path && weights.bytes > 4096,
    `models/manifest.json has no format_version or weights entry: ${JSON.stringify(manifest).slice(0, 300)}`);
  const mirror = (dir, weightsBody) => context.route(`${url}${dir}/**`, async (route) => {
    const path = new URL(route.request().url()).pathname.slice(dir.length + 2);
    const real = await route.fetch({ url: `${url}models/${path}` });
    if (path === 'manifest.json' && dir === 'bad-version') return route.fulfill({ json: { ...manifest, format_version: 999 } });
    if (path !== weights.path) return route.fulfill({ response: real });
    return route.fulfill({ body: weightsBody(await real.body()), contentType: 'application/octet-stream' });
  });
  await mirror('bad-version', (b) => b);
  // 4,096 bytes of junk: the size check refuses it before a byte reaches wasm.
  await mirror('bad-weights', () => Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) & 0xff)));
  // The real weights with ONE byte flipped in the middle: the right size, so only sha256 catches it.
  let flippedSha;
  await mirror('flipped-byte', (real) => {
    const b = Buffer.from(real);
    assert.equal(b.length, weights.bytes, 'the real weights file is the size the manifest says');
    b[b.length >> 1] ^= 0x01;
    flippedSha = createHash('sha256').update(b).digest('hex');
    return b;
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
  const refusedModel = async (what, dir, message) => {
    const got = await create(`/${dir}/`);
    assert.deepEqual(got, { ok: false, isError: true, message }, `${what} must be refused with an Error`);
    assertUnchanged(await state(page, 'page'), saved, what);
    t.diagnostic(`${what}: ${got.message}`);
  };
  await refusedModel('a manifest with format_version 999', 'bad-version',
    'localrank: model: manifest.json format_version is 999, this build of localrank reads version 1');
  await refusedModel('4,096 bytes of junk weights', 'bad-weights',
    `localrank: model: ${weights.path} is 4096 bytes, manifest.json says ${weights.bytes} (truncated or wrong file?)`);
  // flippedSha is known once the route has served the file: compare after the call.
  const flipped = await create('/flipped-byte/');
  assert.ok(flippedSha && flippedSha !== weights.sha256, 'the flipped file was served and its sha256 differs');
  assert.deepEqual(flipped, {
    ok: false, isError: true,
    message: `localrank: model: weights file ${weights.path} has sha256 ${flippedSha}, manifest.json says ${weights.sha256} (corrupted download?)`,
  }, 'weights with one flipped byte must be refused by the sha256 check');
  assertUnchanged(await state(page, 'page'), saved, 'weights with one flipped byte');
  t.diagnostic(`one flipped byte: ${flipped.message}`);

  // The model directory itself still loads (the routes above never touched /models/).
  assert.deepEqual(await create('/models/'), { ok: true });
});
