// Returning shoppers and uplift without click logs (issue 21, docs/api.md "Returning shoppers"
// and "Measuring uplift"): `create({ remember })` keeps the shopper's events in localStorage
// (`localrank.history.v1:<model>`) across reloads and tabs, bounded in age and count, deleted by
// clear() / setRemember(false) / Forget me, never in a request; explanations mark an event of an
// earlier visit; `assignArm` draws an arm once and keeps it. Page mode on a blank same-origin
// document (the package imported directly), the Worker mode through the demo.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clickItem, deviceOrder, FIXED_CONTEXT, FIXED_TIME, gotoReady, openDemo } from './helpers.mjs';

const DAY = 86_400_000;
const CONTEXT = { ...FIXED_CONTEXT, timestamp: Date.parse(FIXED_TIME) };

/** A blank same-origin document for every page of the context (new tabs included). */
async function blank(t) {
  const o = await openDemo(t);
  await o.context.route(`${o.url}__blank`, (r) => r.fulfill({ contentType: 'text/html', body: '<!doctype html>' }));
  await o.page.goto(`${o.url}__blank`);
  // Every request of every page and worker of the context: URL, method and body (e).
  o.requests = [];
  o.context.on('request', (r) => o.requests.push({ url: r.url(), method: r.method(), body: r.postData() ?? '' }));
  o.warnings = [];
  o.page.on('console', (m) => m.type() === 'warning' && o.warnings.push(m.text()));
  return o;
}

/** Runs `fn(api, arg)` in the page, with `api`: { LocalRanker, assignArm, make(options), cands,
 * catalog, rank(ranker), stored(key) }. */
function inPage(page, fn, arg) {
  return page.evaluate(async ([src, arg, context]) => {
    const mod = await import('/pkg/localrank.js');
    const catalog = (await (await fetch('/data/catalog.json')).json()).items;
    const byId = new Map(catalog.map((c) => [String(c.id), c]));
    const server = (await (await fetch('/data/server-candidates.json')).json()).candidates;
    const cands = server.map((id) => byId.get(String(id))).map(({ id, title, category }) => ({ id, title, category }));
    const api = {
      ...mod, catalog, cands,
      make: (o) => mod.LocalRanker.create({ model: '/models/', device: 'cpu', ...o }),
      rank: async (r, options) => (await r.rerank(cands, context, options)).map(({ id, score }) => ({ id, score })),
      stored: (key) => JSON.parse(localStorage.getItem(key) ?? 'null'),
      // A view of catalogue product `c` at `at` (ms) as the store keeps it (the core's event JSON).
      storedEvent: (c, at) => ({ kind: 'view_item', item_id: String(c.id), title: c.title, category: c.category, price: null, timestamp_ms: at, dwell_ms: null, query: null }),
    };
    // eslint-disable-next-line no-new-func
    return new Function(`return (${src})`)()(api, arg);
  }, [fn.toString(), arg, CONTEXT]);
}

/** Five views of one genre's products that the server ranks low: they move the order. */
const VIEWS = (api) => {
  const genre = api.cands[60].category.split(' / ')[0];
  return api.catalog.filter((c) => c.category.startsWith(genre)).slice(0, 5).map((c) => ({ event: 'view_item', id: String(c.id), title: c.title, category: c.category }));
};

test('remember: kept across a reload and a new tab, read by the model, deleted by clear(); off writes nothing; nothing is sent', { timeout: 90_000 }, async (t) => {
  const o = await blank(t);
  const { page, context, url } = o;
  const views = VIEWS.toString();

  // (d) Off by default: a session of events writes nothing to localStorage.
  const off = await inPage(page, async (api, views) => {
    const r = await api.make({});
    for (const e of new Function(`return (${views})`)()(api)) r.observe(e);
    const out = { keys: Object.keys(localStorage), remembered: r.rememberedEvents(), length: r.sessionLength };
    r.dispose();
    return out;
  }, views);
  assert.deepEqual(off, { keys: [], remembered: [], length: 5 }, 'remember off: nothing in localStorage');

  // (a) On: five views are kept and change the order.
  const first = await inPage(page, async (api, views) => {
    const r = await api.make({ remember: true });
    const empty = await api.rank(r);
    const events = new Function(`return (${views})`)()(api);
    for (const e of events) r.observe(e);
    window.keep = r;
    return { key: r.historyKey, empty, ranked: await api.rank(r), stored: api.stored(r.historyKey), remembered: r.rememberedEvents(), events };
  }, views);
  const model = first.key.slice('localrank.history.v1:'.length);
  assert.ok(model.length > 0 && first.key === `localrank.history.v1:${model}`, first.key);
  assert.equal(first.stored.v, 1);
  assert.deepEqual(first.stored.events.map((e) => e.item_id), first.events.map((e) => e.id), 'the five events are stored, in order');
  assert.deepEqual(first.remembered.map((e) => [e.event, e.itemId, e.title, e.earlierVisit]), first.events.map((e) => ['view_item', e.id, e.title, false]));
  assert.notDeepEqual(first.ranked.map((r) => r.id), first.empty.map((r) => r.id), 'the remembered events must change the order (else this test proves nothing)');

  // After a reload the session is the remembered one and ranks exactly as before.
  await page.reload();
  const again = await inPage(page, async (api) => {
    const r = await api.make({ remember: true });
    const plain = await api.make({});
    const out = { length: r.sessionLength, ranked: await api.rank(r), plainLength: plain.sessionLength };
    window.keep = r;
    plain.dispose();
    return out;
  });
  assert.equal(again.length, 5, 'the reload restores the five remembered events');
  assert.deepEqual(again.ranked, first.ranked, 'the same candidates rank the same after the reload');
  assert.equal(again.plainLength, 0, 'a ranker without remember does not read them');

  // A new tab of the same browser sees them, and both tabs add theirs (read-append-prune-write).
  const tab = await context.newPage();
  await tab.goto(`${url}__blank`);
  const other = await inPage(tab, async (api) => {
    const r = await api.make({ remember: true });
    const out = { length: r.sessionLength, ranked: await api.rank(r) };
    r.observe({ event: 'search', query: 'space opera' });
    return out;
  });
  assert.equal(other.length, 5, 'a new tab restores them');
  assert.deepEqual(other.ranked, first.ranked);
  const both = await inPage(page, async (api) => {
    window.keep.observe({ event: 'view_item', id: '50', title: 'Star Wars (1977)', category: 'Action' });
    return api.stored(window.keep.historyKey).events.map((e) => e.query ?? e.item_id);
  });
  assert.deepEqual(both.slice(5), ['space opera', '50'], 'the other tab\'s event is kept too');

  // (b) clear() deletes the stored events first; a reload then starts empty.
  const cleared = await inPage(page, async (api) => {
    window.keep.clear();
    return { stored: localStorage.getItem(window.keep.historyKey), length: window.keep.sessionLength, remembered: window.keep.rememberedEvents() };
  });
  assert.deepEqual(cleared, { stored: null, length: 0, remembered: [] });
  await page.reload();
  const afterClear = await inPage(page, async (api) => {
    const r = await api.make({ remember: true });
    const length = r.sessionLength;
    r.observe({ event: 'view_item', id: '1', title: 'Toy Story (1995)', category: 'Animation' });
    const kept = api.stored(r.historyKey).events.length;
    r.setRemember(false); // stops keeping and deletes
    r.observe({ event: 'view_item', id: '2', title: 'GoldenEye (1995)', category: 'Action' });
    return { length, kept, keys: Object.keys(localStorage) };
  });
  assert.deepEqual(afterClear, { length: 0, kept: 1, keys: [] }, 'after clear() a reload starts empty; setRemember(false) deletes');

  // (e) No request of any page or worker carries a remembered title, query or id.
  const secrets = [...first.events.map((e) => e.title), 'space opera', 'Star Wars (1977)', 'Toy Story (1995)'];
  for (const r of o.requests) {
    assert.equal(r.method, 'GET', `${r.method} ${r.url}`);
    assert.equal(r.body, '', `a request body: ${r.url}`);
    const u = decodeURIComponent(r.url);
    for (const s of secrets) assert.ok(!u.includes(s), `${r.url} carries ${s}`);
    for (const e of first.events) assert.doesNotMatch(u, new RegExp(`[/=]${e.id}([/?&.#]|$)`), `${r.url} carries id ${e.id}`);
  }
  assert.ok(o.requests.length > 5, `requests were recorded (${o.requests.length})`);
});

test('remember: expiry and maxEvents bound the store; earlier-visit reasons; bad input changes nothing', { timeout: 60_000 }, async (t) => {
  const o = await blank(t);
  const out = await inPage(o.page, async (api) => {
    const now = Date.now();
    const key = (await api.make({})).historyKey;
    const ev = api.storedEvent;
    const old = api.catalog.slice(200, 202).map((c) => ev(c, now - 31 * 86_400_000));
    const earlier = api.catalog.filter((c) => c.category.startsWith('Horror')).slice(0, 3).map((c, i) => ev(c, now - 2 * 86_400_000 + i * 60_000));
    localStorage.setItem(key, JSON.stringify({ v: 1, events: [...old, ...earlier] }));
    const r = await api.make({ remember: { days: 30, maxEvents: 500 } });
    const res = { sessionLength: r.sessionLength, storedAfterCreate: api.stored(key).events.map((e) => e.item_id) };
    res.earlierIds = earlier.map((e) => e.item_id);
    res.earlierAt = earlier.map((e) => e.timestamp_ms);
    // Two events of this visit: indices 3 and 4 of the session.
    r.observe({ event: 'view_item', id: '50', title: 'Star Wars (1977)', category: 'Action / Adventure / Romance / Sci-Fi / War' });
    r.observe({ event: 'search', query: 'space adventure' });
    res.remembered = r.rememberedEvents().map((e) => [e.itemId, e.earlierVisit]);
    const ranked = await r.rerank(api.cands, null, { explain: true });
    res.reasons = ranked.flatMap((x) => x.reasons).filter((x) => x.source === 'event').map(({ index, earlierVisit, at }) => ({ index, earlierVisit, at }));
    // maxEvents: tighter bounds apply at once, the newest kept.
    r.setRemember({ maxEvents: 4 });
    res.bounded = api.stored(key).events.map((e) => e.item_id ?? e.query);
    // Bad input: a named error, nothing changed.
    const before = localStorage.getItem(key);
    res.errors = [];
    for (const bad of [{ days: 0 }, { maxEvents: 5001 }, { days: 1.5 }, { dayz: 3 }, 'yes', undefined]) {
      try {
        r.setRemember(bad);
        res.errors.push('no error');
      } catch (e) {
        res.errors.push(e.message);
      }
    }
    for (const bad of [{ days: 366 }, { maxEvents: 0 }, 1]) {
      res.errors.push(await api.make({ remember: bad }).then(() => 'created', (e) => e.message));
    }
    res.unchanged = localStorage.getItem(key) === before && r.sessionLength === 5;
    // A stored value that does not validate is dropped with a warning, never a failed create.
    localStorage.setItem(key, '{"v":1,"events":[{"kind":"dance"}]}');
    const s = await api.make({ remember: true });
    res.dropped = { length: s.sessionLength, stored: localStorage.getItem(key) };
    return res;
  });
  assert.equal(out.sessionLength, 3, 'the 31-day-old events are not imported');
  assert.deepEqual(out.storedAfterCreate, out.earlierIds, 'and are removed from the store at create');
  assert.deepEqual(out.remembered, [...out.earlierIds.map((id) => [id, true]), ['50', false], [null, false]]);
  const early = out.reasons.filter((r) => r.index < 3);
  const current = out.reasons.filter((r) => r.index >= 3);
  assert.ok(early.length > 0 && current.length > 0, `reasons name both visits: ${JSON.stringify(out.reasons.slice(0, 8))}`);
  for (const r of early) assert.deepEqual([r.earlierVisit, r.at], [true, out.earlierAt[r.index]], JSON.stringify(r));
  for (const r of current) assert.deepEqual([r.earlierVisit, r.at], [undefined, undefined], JSON.stringify(r));
  assert.deepEqual(out.bounded, [...out.earlierIds.slice(1), '50', 'space adventure'], 'maxEvents: 4 keeps the newest four');
  assert.deepEqual(out.errors, [
    'localrank: invalid input: setRemember(on).days: 0 is not an integer from 1 to 365',
    'localrank: invalid input: setRemember(on).maxEvents: 5001 is not an integer from 1 to 5000',
    'localrank: invalid input: setRemember(on).days: 1.5 is not an integer from 1 to 365',
    'localrank: invalid input: setRemember(on): unknown field "dayz" (expected one of days, maxEvents)',
    'localrank: invalid input: setRemember(on): expected true, false or { days, maxEvents }, got a string',
    'localrank: invalid input: setRemember(on): expected true, false or { days, maxEvents }, got undefined',
    'localrank: invalid input: create: options.remember.days: 366 is not an integer from 1 to 365',
    'localrank: invalid input: create: options.remember.maxEvents: 0 is not an integer from 1 to 5000',
    'localrank: invalid input: create: options.remember: expected true, false or { days, maxEvents }, got a number',
  ]);
  assert.ok(out.unchanged, 'a refused call leaves the store and the session as they were');
  assert.deepEqual(out.dropped, { length: 0, stored: null });
  assert.ok(o.warnings.some((w) => w.includes('dropped remembered events')), o.warnings.join('\n'));
});

test('remember: a visit without an event yet keeps the server order; its first event brings the earlier visits in', { timeout: 60_000 }, async (t) => {
  const o = await blank(t);
  const out = await inPage(o.page, async (api) => {
    const now = Date.now();
    const key = (await api.make({})).historyKey;
    const ev = api.storedEvent;
    // Five Horror views two days ago: an earlier visit.
    const earlier = api.catalog.filter((c) => c.category.startsWith('Horror')).slice(0, 5).map((c, i) => ev(c, now - 2 * 86_400_000 + i * 60_000));
    localStorage.setItem(key, JSON.stringify({ v: 1, events: earlier }));
    const serverRanks = (ranked) => ranked.map((x) => x.serverRank);
    const r = await api.make({ remember: true });
    const arrival = await r.rerank(api.cands, null);
    const explained = await r.rerank(api.cands, null, { explain: true });
    // The first event of this visit: a Comedy view.
    const comedy = api.catalog.find((c) => c.category.startsWith('Comedy'));
    r.observe({ event: 'view_item', id: String(comedy.id), title: comedy.title, category: comedy.category });
    const begun = await r.rerank(api.cands, null, { explain: true });
    // The same current event without the earlier visit: a different order, so they are read.
    const alone = await api.make({});
    alone.observe({ event: 'view_item', id: String(comedy.id), title: comedy.title, category: comedy.category });
    const sessionOnly = await alone.rerank(api.cands, null);
    return {
      length: r.sessionLength,
      arrival: serverRanks(arrival),
      explained: { ranks: serverRanks(explained), reasons: explained.reduce((n, x) => n + x.reasons.length, 0) },
      begun: serverRanks(begun),
      earlierReasons: begun.flatMap((x) => x.reasons).filter((x) => x.earlierVisit).length,
      sessionOnly: serverRanks(sessionOnly),
    };
  });
  const server = out.arrival.map((_, i) => i + 1);
  assert.equal(out.length, 6, 'the earlier visit and this visit\'s event are in the session');
  assert.deepEqual(out.arrival, server, 'on arrival: the server order, though five remembered events are in the session');
  assert.deepEqual(out.explained, { ranks: server, reasons: 0 }, 'and nothing of the shopper to explain');
  assert.notDeepEqual(out.begun, server, 'after the first event of the visit the model reranks');
  assert.ok(out.earlierReasons > 0, 'reading the earlier visit (earlier-visit reasons)');
  assert.notDeepEqual(out.begun, out.sessionOnly, 'the earlier visit changes the order against the current event alone');
});

test('assignArm: one stored draw, stable across reloads and tabs, follows the share, validates', { timeout: 60_000 }, async (t) => {
  const o = await blank(t);
  const draw = (page) => inPage(page, (api) => {
    const a = api.assignArm({ experiment: 'checkout' });
    return { ...a, stored: localStorage.getItem('localrank.arm.v1:checkout') };
  });
  const a = await draw(o.page);
  assert.ok(['reranked', 'server'].includes(a.arm) && a.stable && a.share === 0.5 && a.experiment === 'checkout', JSON.stringify(a));
  const { draw: n } = JSON.parse(a.stored);
  assert.equal(a.arm, n / 2 ** 32 < 0.5 ? 'reranked' : 'server', 'the arm is draw / 2^32 < share');
  await o.page.reload();
  assert.deepEqual(await draw(o.page), a, 'the same after a reload');
  const tab = await o.context.newPage();
  await tab.goto(`${o.url}__blank`);
  assert.deepEqual(await draw(tab), a, 'the same in a new tab');

  const out = await inPage(tab, async (api) => {
    const worker = await import('/pkg/worker.js');
    const res = { fromWorkerModule: worker.assignArm({ experiment: 'checkout' }).arm };
    localStorage.setItem('localrank.arm.v1:half', JSON.stringify({ v: 1, draw: 2 ** 31, at: 1 }));
    res.shares = [0, 0.5, 0.5000001, 1].map((share) => api.assignArm({ experiment: 'half', share }).arm);
    res.default = api.assignArm();
    const before = JSON.stringify(localStorage);
    res.errors = [];
    for (const bad of [{ share: 2 }, { share: NaN }, { share: '0.5' }, { experiment: '' }, { experiment: 'x'.repeat(65) }, { experiment: 7 }, { arm: 1 }, 'a', null]) {
      try {
        api.assignArm(bad);
        res.errors.push('no error');
      } catch (e) {
        res.errors.push(e.message);
      }
    }
    res.unchanged = JSON.stringify(localStorage) === before;
    return res;
  });
  assert.equal(out.fromWorkerModule, a.arm, 'localrank/worker.js exports the same assignArm');
  assert.deepEqual(out.shares, ['server', 'server', 'reranked', 'reranked'], 'a share re-reads the same draw');
  assert.equal(out.default.experiment, 'localrank');
  const p = 'localrank: invalid input: assignArm: options';
  assert.deepEqual(out.errors, [
    `${p}.share: expected a number from 0 to 1, got 2`,
    `${p}.share: expected a number from 0 to 1, got NaN`,
    `${p}.share: expected a number from 0 to 1, got a string`,
    `${p}.experiment: expected a name of 1 to 64 characters, got 0 characters`,
    `${p}.experiment: expected a name of 1 to 64 characters, got 65 characters`,
    `${p}.experiment: expected a name of 1 to 64 characters, got a number`,
    `${p}: unknown field "arm" (expected one of experiment, share)`,
    `${p}: expected an object such as { experiment: 'localrank', share: 0.5 }, got a string`,
    `${p}: expected an object such as { experiment: 'localrank', share: 0.5 }, got null`,
  ]);
  assert.ok(out.unchanged, 'a refused call stores nothing');

  // Without storage: the arm holds for the page load (stable: false) and remembering never fails
  // the shopper's event (one warning).
  const bare = await o.context.newPage();
  await bare.addInitScript(() => Object.defineProperty(window, 'localStorage', { get() { throw new DOMException('denied', 'SecurityError'); } }));
  const warnings = [];
  bare.on('console', (m) => m.type() === 'warning' && warnings.push(m.text()));
  await bare.goto(`${o.url}__blank`);
  const noStorage = await inPage(bare, async (api) => {
    const x = api.assignArm({ experiment: 'e' });
    const y = api.assignArm({ experiment: 'e' });
    const r = await api.make({ remember: true });
    r.observe({ event: 'view_item', id: '1', title: 'Toy Story (1995)', category: 'Animation' });
    r.observe({ event: 'view_item', id: '2', title: 'GoldenEye (1995)', category: 'Action' });
    return { stable: x.stable, same: x.arm === y.arm && x.assignedAt === y.assignedAt, length: r.sessionLength };
  });
  assert.deepEqual(noStorage, { stable: false, same: true, length: 2 });
  assert.equal(warnings.filter((w) => w.includes('localStorage')).length, 1, `one warning: ${warnings.join('\n')}`);
});

test('demo, Worker mode: the returning visitor is restored, listed and forgotten; the arm is shown', { timeout: 90_000 }, async (t) => {
  const { page, logs, url } = await openDemo(t, { clock: FIXED_TIME });
  const requests = [];
  page.on('request', (r) => requests.push({ url: r.url(), method: r.method(), body: r.postData() ?? '' }));
  await gotoReady(page, url, logs);
  assert.equal(await page.evaluate(() => window.demo.mode), 'worker');
  const arm = await page.evaluate(() => window.demo.arm);
  assert.match(await page.textContent('[data-testid="arm"]'), new RegExp(`in the ${arm.arm} arm of experiment 'demo'`));

  await page.check('[data-testid="remember"]');
  await page.evaluate(() => window.demo.rerank());
  const ids = await page.evaluate(() => window.demo.candidates.slice(70, 73).map((c) => String(c.id)));
  for (const id of ids) await clickItem(page, id);
  const before = await deviceOrder(page);
  const stored = await page.evaluate(() => ({ key: window.demo.ranker.historyKey, value: JSON.parse(localStorage.getItem(window.demo.ranker.historyKey)) }));
  assert.deepEqual(stored.value.events.map((e) => e.item_id), ids, 'the page keeps what the worker recorded');
  assert.equal(await page.locator('[data-testid="remembered-event"]').count(), 3);

  await gotoReady(page, url, logs); // a new visit of the same browser
  assert.ok(await page.isChecked('[data-testid="remember"]'));
  assert.equal(await page.evaluate(() => window.demo.ranker.sessionLength), 3, 'the worker restores the remembered events');
  assert.deepEqual(await deviceOrder(page), before, 'and ranks as before the reload');
  assert.equal(await page.locator('[data-testid="remembered-event"]').count(), 3);
  assert.deepEqual(await page.evaluate(() => window.demo.arm), arm, 'the arm is stable across reloads');

  await page.click('[data-testid="forget"]');
  await page.evaluate(() => window.demo.rerank());
  assert.equal(await page.evaluate((key) => localStorage.getItem(key), stored.key), null, 'Forget me deletes the remembered events');
  assert.equal(await page.locator('[data-testid="remembered-event"]').count(), 0);
  await gotoReady(page, url, logs);
  assert.equal(await page.evaluate(() => window.demo.ranker.sessionLength), 0, 'and the next visit starts empty');

  const titles = await page.evaluate((ids) => ids.map((id) => window.demo.catalog.items.find((c) => String(c.id) === id).title), ids);
  for (const r of requests) {
    assert.ok(r.method === 'GET' && r.body === '', `${r.method} ${r.url}`);
    for (const s of titles) assert.ok(!decodeURIComponent(r.url).includes(s), `${r.url} carries ${s}`);
  }
  assert.deepEqual(logs, []);
});
