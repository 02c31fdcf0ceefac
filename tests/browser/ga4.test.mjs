// GA4 events as storefronts push them (issue 18, item 4), in the page (LocalRanker) and in a
// worker (LocalRankerWorker): several items give several events (same name and time, in item
// order), all or none; string prices; the category path from item_category .. item_category5;
// search_term; { ecommerce: null } and GA4's other event names record nothing; an item with only
// an item_id takes the title of a candidate reranked earlier, or is an error naming the field.
// connectDataLayer observes dataLayer pushes and gtag('event', ...) calls without changing what
// the site's own dataLayer consumers see: the same argument objects, in the same order, the same
// array contents and push results as on a control layer without localrank; after disconnect()
// nothing more is observed and push is the original again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openDemo } from './helpers.mjs';

const INVALID = 'localrank: invalid input: ';
const T0 = Date.UTC(2026, 2, 4, 14, 0); // 2026-03-04 14:00 UTC

/** Runs in the page: `window.lr.make(kind)` and the fixtures. */
async function setUp() {
  const get = (u) => fetch(u).then((r) => r.json());
  const [catalog, server] = await Promise.all([get('/data/catalog.json'), get('/data/server-candidates.json')]);
  const byId = new Map(catalog.items.map((it) => [String(it.id), it]));
  const candidates = server.candidates.map((id) => byId.get(String(id))).map(({ id, title, category }) => ({ id, title, category }));
  const page = await import('/pkg/localrank.js');
  await page.default();
  const { LocalRankerWorker } = await import('/pkg/worker.js');
  const warnings = [];
  console.warn = (...args) => warnings.push(args.map(String).join(' '));
  window.lr = {
    candidates,
    warnings,
    make: (kind) => (kind === 'page' ? page.LocalRanker : LocalRankerWorker).create({ model: '/models/', device: 'cpu' }),
  };
}

/**
 * Runs in the page for one ranker (`kind`: 'page' or 'worker'): the observe cases, then the
 * dataLayer cases. Returns what Node asserts on.
 */
async function scenario(kind, t0) {
  const { candidates: c, warnings } = window.lr;
  const r = await window.lr.make(kind);
  const out = { kind };
  const session = async () => JSON.parse(await r.exportSession());
  const settle = async (f) => {
    try {
      await f();
      return null;
    } catch (e) {
      return { isError: e instanceof Error, message: String(e?.message ?? e) };
    }
  };
  /** `f`'s failure (or null) and whether the session (exportSession) is unchanged by it. */
  const attempt = async (f) => {
    const before = await r.exportSession();
    const error = await settle(f);
    return { error, unchanged: (await r.exportSession()) === before };
  };
  const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
  // A worker's observes are messages: one round trip after them, every one has been recorded.
  const settled = async () => (await tick(), await r.exportSession(), await tick());

  // --- Several items, string prices, category levels.
  await r.observe({
    event: 'view_item', timestamp: t0, currency: 'USD', value: 30.97,
    ecommerce: {
      currency: 'USD',
      items: [
        { item_id: c[0].id, item_name: c[0].title, item_category: 'Movies', item_category2: 'Action', item_category3: '', item_category5: 'Sci-Fi', price: '11.99', quantity: 1 },
        { item_id: Number(c[1].id), item_name: c[1].title, item_category: 'Drama', price: '11,99' },
        { item_id: c[2].id, item_name: c[2].title, price: 7 },
      ],
    },
  });
  out.threeItems = await session();
  // Without a timestamp the items still share one.
  await r.observe({ event: 'add_to_cart', ecommerce: { items: [{ item_id: c[3].id, item_name: c[3].title }, { item_id: c[4].id, item_name: c[4].title, price: ' 3 ' }] } });
  out.twoItems = (await session()).slice(3);
  await r.observe({ event: 'search', search_term: 'space opera', timestamp: t0 + 1000 });
  out.search = (await session()).slice(5);

  // --- Pushes that record nothing, and names that are errors.
  out.ecommerceNull = await attempt(() => r.observe({ ecommerce: null }));
  out.viewItemList = await attempt(() => r.observe({ event: 'view_item_list', ecommerce: { item_list_id: 'home', items: [{ item_id: c[5].id, item_name: c[5].title }] } }));
  out.beginCheckout = await attempt(() => r.observe({ event: 'begin_checkout', ecommerce: { items: [{ item_id: 'no-such' }] } }));
  out.pageView = await attempt(() => r.observe({ event: 'page_view' }));
  out.gtmJs = await attempt(() => r.observe({ event: 'gtm.js', 'gtm.start': t0 }));

  // --- All or none: an invalid item anywhere leaves the session as it was.
  const good = [{ item_id: c[6].id, item_name: c[6].title }, { item_id: c[7].id, item_name: c[7].title, price: '4.50' }];
  out.badName = await attempt(() => r.observe({ event: 'select_item', ecommerce: { items: [...good, { item_id: c[8].id, item_name: 42 }] } }));
  out.badPrice = await attempt(() => r.observe({ event: 'purchase', ecommerce: { items: [good[0], { ...good[1], price: 'abc' }, good[1]] } }));
  out.thousands = await attempt(() => r.observe({ event: 'purchase', ecommerce: { items: [{ ...good[0], price: '1,299' }] } }));
  out.badCategory = await attempt(() => r.observe({ event: 'view_item', ecommerce: { items: [...good, { ...good[0], item_category2: ['x'] }] } }));
  // Refused by the core (600 UTF-8 bytes in 200 characters) after two items were recorded.
  out.longId = await attempt(() => r.observe({ event: 'view_item', ecommerce: { items: [...good, { item_id: '€'.repeat(200), item_name: 'Euro' }] } }));
  out.nullItem = await attempt(() => r.observe({ event: 'view_item', ecommerce: { items: [...good, null] } }));

  // --- item_id only: an error before the candidate was seen, its title after a rerank.
  out.idOnlyUnseen = await attempt(() => r.observe({ event: 'view_item', ecommerce: { items: [{ item_id: c[9].id }] } }));
  out.flatIdOnlyUnseen = await attempt(() => r.observe({ event: 'view_item', id: c[9].id }));
  out.noIdNoName = await attempt(() => r.observe({ event: 'view_item', ecommerce: { items: [good[0], { price: 3 }] } }));
  await r.rerank(c, { hour: 15, weekday: 3 });
  const before = (await session()).length;
  await r.observe({ event: 'select_item', timestamp: t0 + 2000, ecommerce: { items: [{ item_id: Number(c[9].id) }, { item_id: c[10].id, item_category: 'Own category' }] } });
  await r.observe({ event: 'view_item', id: c[11].id, timestamp: t0 + 3000 });
  out.idOnly = (await session()).slice(before);

  // --- connectDataLayer, GTM-like: a consumer wrapped push before localrank, one after.
  const gtmItem = { item_id: c[12].id, item_name: c[12].title, item_category: 'Movies', item_category2: 'Comedy', price: '9.99' };
  const shared = {
    gtmStart: { 'gtm.start': t0, event: 'gtm.js' },
    preView: { event: 'view_item', ecommerce: { items: [{ item_id: c[13].id, item_name: c[13].title }] } },
    clear: { ecommerce: null },
    view: { event: 'view_item', ecommerce: { items: [gtmItem] }, eventCallback() {}, eventTimeout: 2000 },
    list: { event: 'view_item_list', ecommerce: { items: [gtmItem] } },
    cartParams: { currency: 'USD', value: 10, items: [{ item_id: c[14].id, item_name: c[14].title }, { item_id: c[15].id }] },
    searchParams: { search_term: 'heist' },
    unseen: { event: 'purchase', ecommerce: { items: [{ item_id: 'never-seen-1' }] } },
    unseenAgain: { event: 'purchase', ecommerce: { items: [{ item_id: 'never-seen-2' }] } },
    variables: { userType: 'member' },
    late: { event: 'view_item', ecommerce: { items: [{ item_id: c[16].id, item_name: c[16].title }] } },
  };
  /** The storefront: GTM's snippet state, a consumer before localrank (`hook()` connects it,
   * or nothing for the control), one after, then its pushes and gtag calls. */
  const drive = (dl, hook) => {
    const log = { before: [], after: [], returns: [], innerReturns: [], sync: [] };
    dl.push(shared.gtmStart, shared.preView);
    const arrayPush = dl.push;
    // GTM: wraps push, processes each push after storing it, returns its own result.
    const gtm = function (...args) {
      const n = arrayPush.apply(this, args);
      log.before.push(args);
      const result = { gtm: true, n };
      log.innerReturns.push(result);
      return result;
    };
    dl.push = gtm;
    const disconnect = hook();
    const inner = dl.push;
    dl.push = function () {
      log.after.push([...arguments]);
      return inner.apply(this, arguments);
    };
    function gtag() {
      log.returns.push(dl.push(arguments));
      log.sync.push(r.sessionLength);
    }
    const push = (...args) => {
      log.returns.push(dl.push(...args));
      log.sync.push(r.sessionLength); // a worker's count: only what has come back
    };
    push(shared.clear);
    push(shared.view);
    push(shared.list);
    gtag('js', t0);
    gtag('config', 'G-TEST');
    gtag('event', 'add_to_cart', shared.cartParams);
    gtag('event', 'search', shared.searchParams);
    push(shared.unseen);
    push(shared.unseenAgain, shared.variables);
    return { log, disconnect, gtm };
  };
  const describe = (x) => (Object.prototype.toString.call(x) === '[object Arguments]' ? { args: Array.from(x) } : x);
  const sameEntries = (a, b) => a.length === b.length && a.every((x, i) => {
    const [dx, dy] = [describe(x), describe(b[i])];
    return dx.args && dy.args ? dx.args.length === dy.args.length && dx.args.every((v, j) => v === dy.args[j]) : dx === dy;
  });

  const control = [];
  const controlRun = drive(control, () => null);
  delete window.dataLayer;
  window.dataLayer = [];
  const length0 = r.sessionLength ?? 0;
  const before2 = (await session()).length;
  warnings.length = 0;
  const run = drive(window.dataLayer, () => r.connectDataLayer());
  const dl = window.dataLayer;
  out.layer = {
    sessionLengthRightAfterPushes: run.log.sync.every((n) => n === length0),
    contentsAsControl: sameEntries(dl, control),
    lengths: [dl.length, control.length],
    beforeAsControl: run.log.before.length === controlRun.log.before.length &&
      run.log.before.every((args, i) => sameEntries(args, controlRun.log.before[i])),
    afterSeesWhatBeforeSees: run.log.after.length === run.log.before.length &&
      run.log.after.every((args, i) => args.length === run.log.before[i].length && args.every((a, j) => a === run.log.before[i][j])),
    returnsAsBefore: run.log.returns.length === run.log.innerReturns.length && run.log.returns.every((x, i) => x === run.log.innerReturns[i]),
    returnsAsControl: JSON.stringify(run.log.returns) === JSON.stringify(controlRun.log.returns),
    keys: Object.keys(dl).filter((k) => !/^\d+$/.test(k)),
    controlKeys: Object.keys(control).filter((k) => !/^\d+$/.test(k)),
  };
  await settled();
  out.layer.observed = (await session()).slice(before2);
  out.layer.warnings = [...warnings];
  // Disconnect after a wrapper was added on top: ours stays in that chain, inert.
  const outer = dl.push;
  const inTheMiddle = await attempt(async () => {
    run.disconnect();
    dl.push(shared.late);
    dl.push(shared.late);
    await settled();
  });
  out.layer.afterDisconnect = { ...inTheMiddle, pushStays: dl.push === outer, stored: dl.at(-1) === shared.late };

  // --- connectDataLayer alone: disconnect gives back the original push exactly.
  const plain = [shared.preView];
  const d1 = r.connectDataLayer(plain);
  const hooked = { own: Object.hasOwn(plain, 'push'), keys: Object.keys(plain), returned: plain.push(shared.late) };
  await settled();
  d1();
  const n1 = (await session()).length;
  plain.push(shared.late);
  const d2 = r.connectDataLayer(plain);
  d2(); // a push between connect and disconnect is not observed either
  await settled();
  out.plain = {
    ...hooked,
    observed: (await session()).slice(n1 - 2).map((e) => e.item_id),
    restored: plain.push === Array.prototype.push && !Object.hasOwn(plain, 'push'),
    afterDisconnect: (await session()).length === n1,
  };
  const gtmPush = function push() {
    return Array.prototype.push.apply(this, arguments);
  };
  const withOwn = [];
  withOwn.push = gtmPush;
  const descriptor = JSON.stringify(Object.getOwnPropertyDescriptor(withOwn, 'push'));
  const attributes = () => JSON.stringify({ ...Object.getOwnPropertyDescriptor(withOwn, 'push'), value: undefined });
  const ownAttributes = attributes();
  const d3 = r.connectDataLayer(withOwn);
  const wrappedKeepsAttributes = attributes() === ownAttributes && withOwn.push !== gtmPush;
  d3();
  out.ownPush = { wrappedKeepsAttributes, restored: withOwn.push === gtmPush && JSON.stringify(Object.getOwnPropertyDescriptor(withOwn, 'push')) === descriptor };
  // The default layer is created as the gtag snippet does when the page has none.
  delete window.dataLayer;
  const d4 = r.connectDataLayer();
  out.created = Array.isArray(window.dataLayer);
  d4();
  out.badLayer = await settle(() => r.connectDataLayer({ push() {} }));
  out.warningsAtEnd = [...warnings];
  r.dispose();
  return out;
}

test('ga4: GA4 events as storefronts push them, and connectDataLayer', { timeout: 60_000 }, async (t) => {
  const started = Date.now();
  const { page, url, logs } = await openDemo(t);
  await page.route(`${url}__blank`, (r) => r.fulfill({ contentType: 'text/html', body: '<!doctype html>' }));
  await page.goto(`${url}__blank`);
  await page.evaluate(`(${setUp})()`);
  const c = await page.evaluate(() => window.lr.candidates.slice(0, 17));
  const same = (kind) => (what) => `${kind}: ${what}`;

  for (const kind of ['page', 'worker']) {
    const at = same(kind);
    const o = await page.evaluate(`(${scenario})(${JSON.stringify(kind)}, ${T0})`);
    const pick = (e) => ({ kind: e.kind, item_id: e.item_id, title: e.title, category: e.category, price: e.price, timestamp_ms: e.timestamp_ms });

    assert.deepEqual(o.threeItems.map(pick), [
      { kind: 'view_item', item_id: c[0].id, title: c[0].title, category: 'Movies / Action / Sci-Fi', price: 11.99, timestamp_ms: T0 },
      { kind: 'view_item', item_id: String(Number(c[1].id)), title: c[1].title, category: 'Drama', price: 11.99, timestamp_ms: T0 },
      { kind: 'view_item', item_id: c[2].id, title: c[2].title, category: '', price: 7, timestamp_ms: T0 },
    ], at('three items give three events, in order, one name and time'));
    assert.deepEqual(o.twoItems.map((e) => [e.kind, e.item_id, e.price]), [['add_to_cart', c[3].id, null], ['add_to_cart', c[4].id, 3]], at('two items'));
    assert.equal(o.twoItems[0].timestamp_ms, o.twoItems[1].timestamp_ms, at('items without a timestamp share one'));
    assert.ok(Math.abs(o.twoItems[0].timestamp_ms - Date.now()) < 60_000, at('... which is now'));
    assert.deepEqual(o.search.map((e) => [e.kind, e.query, e.timestamp_ms]), [['search', 'space opera', T0 + 1000]], at('search_term is the query'));

    for (const what of ['ecommerceNull', 'viewItemList', 'beginCheckout', 'pageView']) {
      assert.deepEqual(o[what], { error: null, unchanged: true }, at(`${what}: resolves and records nothing`));
    }
    const refused = (what, message) => assert.deepEqual(o[what], { error: { isError: true, message }, unchanged: true }, at(`${what}: refused, session unchanged`));
    refused('gtmJs', `${INVALID}event: unknown event type "gtm.js" (expected one of view_item, select_item, add_to_cart, purchase, search)`);
    refused('badName', `${INVALID}observe: event.ecommerce.items[2].item_name: expected a string, got a number`);
    refused('badPrice', `${INVALID}observe: event.ecommerce.items[1].price: "abc" is not a number (expected a number or a decimal string such as "11.99" or "11,99")`);
    refused('thousands', `${INVALID}observe: event.ecommerce.items[0].price: "1,299" is not a number (expected a number or a decimal string such as "11.99" or "11,99")`);
    refused('badCategory', `${INVALID}observe: event.ecommerce.items[2].item_category2: expected a string, got an array`);
    refused('longId', `${INVALID}event.id: 600 bytes, at most 512 (at event.ecommerce.items[2]; no item of this event was recorded)`);
    refused('nullItem', `${INVALID}observe: event.ecommerce.items[2]: expected an object { item_id, item_name }, got null`);
    refused('idOnlyUnseen', `${INVALID}observe: event.ecommerce.items[0].item_name: missing, and no candidate with item_id "${c[9].id}" has been seen`);
    refused('flatIdOnlyUnseen', `${INVALID}observe: event.title: missing, and no candidate with id "${c[9].id}" has been seen`);
    refused('noIdNoName', `${INVALID}observe: event.ecommerce.items[1].item_name: missing, and the item has no item_id either`);
    assert.deepEqual(o.idOnly.map(pick), [
      { kind: 'select_item', item_id: c[9].id, title: c[9].title, category: c[9].category, price: null, timestamp_ms: T0 + 2000 },
      { kind: 'select_item', item_id: c[10].id, title: c[10].title, category: 'Own category', price: null, timestamp_ms: T0 + 2000 },
      { kind: 'view_item', item_id: c[11].id, title: c[11].title, category: c[11].category, price: null, timestamp_ms: T0 + 3000 },
    ], at('item_id only: the title (and category) of the candidate reranked earlier'));

    const l = o.layer;
    assert.equal(l.sessionLengthRightAfterPushes, true, at('nothing is observed during the push itself'));
    assert.equal(l.contentsAsControl, true, at(`the array holds what the control holds (lengths ${l.lengths})`));
    assert.equal(l.beforeAsControl, true, at('the consumer wrapped before localrank gets the same arguments as on the control'));
    assert.equal(l.afterSeesWhatBeforeSees, true, at('the consumers before and after localrank get the same argument objects, in order'));
    assert.equal(l.returnsAsBefore, true, at('push returns what the site\'s push returned (same object)'));
    assert.equal(l.returnsAsControl, true, at('push returns what it returns on the control'));
    assert.deepEqual(l.keys, l.controlKeys, at('the layer\'s own keys are the control\'s'));
    assert.deepEqual(l.observed.map((e) => [e.kind, e.item_id, e.title, e.category, e.price ?? e.query]), [
      ['view_item', c[13].id, c[13].title, '', null],
      ['view_item', c[12].id, c[12].title, 'Movies / Comedy', 9.99],
      ['add_to_cart', c[14].id, c[14].title, '', null],
      ['add_to_cart', c[15].id, c[15].title, c[15].category, null],
      ['search', null, '', '', 'heist'],
    ], at('observed: the push already there, the view (not the list), gtag add_to_cart (two items) and search'));
    assert.deepEqual(l.warnings, [
      `localrank: connectDataLayer: a dataLayer event was not observed (${INVALID}observe: event.ecommerce.items[0].item_name: missing, and no candidate with item_id "never-seen-1" has been seen)`,
    ], at('one warning for the two id-only purchases nobody reranked'));
    assert.deepEqual(l.afterDisconnect, { error: null, unchanged: true, pushStays: true, stored: true }, at('after disconnect (wrapped since) nothing is observed, pushes still land'));

    assert.deepEqual(o.plain, {
      own: true, keys: ['0'], returned: 2, observed: [c[13].id, c[16].id], restored: true, afterDisconnect: true,
    }, at('a plain array: push shadowed without a listed key, returns the length; disconnect restores Array.prototype.push'));
    assert.deepEqual(o.ownPush, { wrappedKeepsAttributes: true, restored: true }, at('a site push: restored exactly'));
    assert.equal(o.created, true, at('window.dataLayer is created when absent'));
    assert.deepEqual(o.badLayer, { isError: true, message: `${INVALID}connectDataLayer: dataLayer: expected the page's dataLayer array, got an object` }, at('a non-array'));
    assert.deepEqual(o.warningsAtEnd, l.warnings, at('no more warnings'));
  }
  assert.deepEqual(logs, [], 'no page errors');
  const seconds = (Date.now() - started) / 1000;
  t.diagnostic(`ga4 test: ${seconds.toFixed(1)} s`);
});
