// Privacy: a scripted shopping session must only fetch static files from the page's own
// origin, and nothing the shopper did may appear in any request (URL, headers or body):
// in the worker and in the page, with the persistence switch off and on, and "Forget me"
// must leave nothing behind.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EVENT_NAMES, clickItem, deviceOrder, gotoReady, openDemo, serverOrder } from './helpers.mjs';

const CANARY = 'zebra-privacy-canary';
const ALLOWED_PATH = /^\/(pkg\/.+|models\/.+|data\/.+|[a-z]+\.js|style\.css|favicon[^/]*)?$/;

/** Every request of the browser context (page, worker, popups), with headers and body. */
function recordRequests(page) {
  const pending = [];
  page.context().on('request', (req) =>
    pending.push(req.allHeaders().then((headers) => ({ url: req.url(), method: req.method(), headers, body: req.postData() ?? '' }))),
  );
  const sockets = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  return { all: () => Promise.all(pending), sockets };
}

/** A scripted session: 3 views, 1 add to cart and a search for the canary. Returns the ids. */
async function shop(page) {
  const items = await page.evaluate(() => window.demo.candidates.slice(3, 7).map((c) => ({ id: c.id, title: c.title })));
  for (const { id } of items.slice(0, 3)) await clickItem(page, id, 'view_item');
  await clickItem(page, items[3].id, 'add_to_cart');
  await page.fill('[data-testid="search-input"]', CANARY);
  await page.press('[data-testid="search-input"]', 'Enter');
  await page.evaluate(() => window.demo.rerank());
  assert.equal(await page.textContent('[data-testid="session-length"]'), '5', 'all five events were recorded');
  return items;
}

function assertNothingLeaked(requests, sockets, { origin, documents, items }) {
  assert.ok(requests.length >= 5, `expected the page, app, data, pkg and model requests; saw ${requests.length}`);
  assert.ok(requests.some((r) => r.url.includes('/models/')), 'the model was fetched from /models/');
  assert.deepEqual(sockets, [], 'no WebSockets');
  for (const r of requests) {
    const u = new URL(r.url);
    const where = `${r.method} ${r.url}`;
    assert.equal(u.origin, origin, `cross-origin request: ${where}`);
    assert.equal(r.method, 'GET', `non-GET request: ${where}`);
    assert.match(u.pathname, ALLOWED_PATH, `unexpected path: ${where}`);
    // Only a document may carry a query string (the ?device=... we opened it with).
    if (u.search) assert.ok(documents.includes(r.url), `query string on a subresource: ${where}`);
    const opened = documents.includes(r.url); // our own ?device=...&worker=... URL
    for (const { id } of items) assert.ok(opened || ![...u.searchParams.values()].includes(id), `item id ${id} in ${where}`);
    const blob = `${r.url}\n${JSON.stringify(r.headers)}\n${r.body}`;
    for (const secret of [CANARY, ...EVENT_NAMES, ...items.map((i) => i.title), ...items.map((i) => encodeURIComponent(i.title))]) {
      assert.ok(!blob.includes(secret), `"${secret}" leaked in ${where}:\n${blob}`);
    }
  }
}

/** The page's own privacy panel agrees: no unexpected request, none carrying session data. */
async function assertPanelClean(page) {
  const v = page.locator('[data-testid="privacy-verdict"]');
  assert.equal(await v.getAttribute('data-carrying'), '0');
  assert.equal(await v.getAttribute('data-unexpected'), '0');
  assert.match(await v.textContent(), /Session events sent: none/);
  const rows = await page.locator('[data-testid="netlog"] tbody tr').count();
  assert.ok(rows >= 5, `the network log lists the requests (${rows} rows)`);
}

const localrankKeys = (page) =>
  page.evaluate(() => Object.keys(sessionStorage).filter((k) => k.startsWith('localrank')).concat(Object.keys(localStorage)));

for (const mode of ['worker', 'page']) {
  test(`privacy (${mode}): only same-origin static GETs, no behaviour in requests`, { timeout: 180_000 }, async (t) => {
    const { page, url, logs } = await openDemo(t);
    const rec = recordRequests(page);
    const start = `${url}?device=cpu&worker=${mode === 'worker' ? 1 : 0}`;
    await gotoReady(page, start, logs);
    const items = await shop(page);
    await page.click('[data-testid="forget"]');
    await page.evaluate(() => window.demo.rerank());
    await page.waitForTimeout(500); // let any delayed beacon/fetch show up
    assert.equal(new URL(page.url()).search, new URL(start).search, 'the search must not be put in the page URL');
    const requests = await rec.all();
    assertNothingLeaked(requests, rec.sockets, { origin: new URL(url).origin, documents: [start], items });
    if (mode === 'worker') {
      assert.ok(requests.some((r) => r.url.endsWith('/pkg/worker.js')), 'the worker was started');
      const workerRows = await page.evaluate(() => window.demo.network.filter((r) => r.initiator?.startsWith('worker')).length);
      assert.ok(workerRows >= 3, `the privacy panel lists the worker's requests (${workerRows})`);
    }
    await assertPanelClean(page);
    t.diagnostic(`${mode}: ${requests.length} requests, all same-origin static GETs`);
  });
}

test('privacy: the persistence switch keeps the session across a reload, sends nothing, and Forget me clears it', { timeout: 240_000 }, async (t) => {
  const { page, url, logs } = await openDemo(t);
  const rec = recordRequests(page);
  const start = `${url}?device=cpu`;
  await gotoReady(page, start, logs);
  assert.equal(await page.isChecked('[data-testid="persist"]'), false, 'persistence is off by default');
  assert.deepEqual(await localrankKeys(page), [], 'nothing stored before the switch is turned on');

  await page.check('[data-testid="persist"]');
  const items = await shop(page);
  const order = await deviceOrder(page);
  assert.notDeepEqual(order, await serverOrder(page), 'the session reranked the list');

  await page.reload();
  await gotoReady(page, start, logs);
  assert.equal(await page.isChecked('[data-testid="persist"]'), true, 'the switch survives the reload');
  assert.equal(await page.textContent('[data-testid="session-length"]'), '5', 'the session came back from sessionStorage');
  assert.notDeepEqual(await deviceOrder(page), await serverOrder(page), 'the restored session reranks the list');
  await assertPanelClean(page);

  await page.click('[data-testid="forget"]');
  await page.evaluate(() => window.demo.rerank());
  assert.equal(await page.textContent('[data-testid="session-length"]'), '0');
  assert.deepEqual(await deviceOrder(page), await serverOrder(page), 'after Forget me the order is the server order');
  assert.deepEqual(await localrankKeys(page), [], 'Forget me leaves nothing in sessionStorage or localStorage');
  assert.equal(await page.isChecked('[data-testid="persist"]'), false, 'Forget me turns persistence off');

  await page.reload();
  await gotoReady(page, start, logs);
  assert.equal(await page.textContent('[data-testid="session-length"]'), '0', 'nothing comes back after Forget me');
  const requests = await rec.all();
  assertNothingLeaked(requests, rec.sockets, { origin: new URL(url).origin, documents: [start], items });
  t.diagnostic(`${requests.length} requests over 3 page loads, none with event data`);
});
