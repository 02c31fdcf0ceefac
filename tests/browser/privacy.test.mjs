// Privacy: a scripted shopping session must only fetch static files from the
// page's own origin, and nothing the shopper did may appear in any request.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EVENT_NAMES, clickItem, gotoReady, openDemo } from './helpers.mjs';

const CANARY = 'zebra-privacy-canary';
const ALLOWED_PATH = /^\/(pkg\/.+|models\/.+|data\/.+|app\.js|style\.css|favicon[^/]*)?$/;

test('privacy: only same-origin static GETs, no behaviour in requests', { timeout: 120_000 }, async (t) => {
  const { context, page, url, logs } = await openDemo(t);
  const origin = new URL(url).origin;
  const pending = [];
  // Context level, so requests from workers and popups are seen too.
  context.on('request', (req) =>
    pending.push(
      req.allHeaders().then((headers) => ({ url: req.url(), method: req.method(), headers, body: req.postData() ?? '' })),
    ),
  );
  const sockets = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));

  const start = `${url}?device=cpu`;
  await gotoReady(page, start, logs);
  const ids = await page.evaluate(() => window.demo.candidates.slice(3, 7).map((c) => c.id));
  for (const id of ids.slice(0, 3)) await clickItem(page, id, 'view_item');
  await clickItem(page, ids[3], 'add_to_cart');
  await page.fill('[data-testid="search-input"]', CANARY);
  await page.press('[data-testid="search-input"]', 'Enter');
  await page.evaluate(() => window.demo.rerank());
  assert.equal(await page.textContent('[data-testid="session-length"]'), '5', 'all five events were recorded');
  await page.click('[data-testid="forget"]');
  await page.evaluate(() => window.demo.rerank());
  await page.waitForTimeout(500); // let any delayed beacon/fetch show up
  assert.equal(new URL(page.url()).search, '?device=cpu', 'the search must not be put in the page URL');

  const requests = await Promise.all(pending);
  assert.ok(requests.length >= 5, `expected the page, app, data, pkg and model requests; saw ${requests.length}`);
  assert.ok(requests.some((r) => r.url.includes('/models/')), 'the model was fetched from /models/');
  assert.deepEqual(sockets, [], 'no WebSockets');

  for (const r of requests) {
    const u = new URL(r.url);
    const where = `${r.method} ${r.url}`;
    assert.equal(u.origin, origin, `cross-origin request: ${where}`);
    assert.equal(r.method, 'GET', `non-GET request: ${where}`);
    assert.match(u.pathname, ALLOWED_PATH, `unexpected path: ${where}`);
    // Only the document itself may carry a query string (the ?device= we opened it with).
    if (u.search) assert.equal(r.url, start, `query string on a subresource: ${where}`);
    for (const id of ids) assert.ok(!u.searchParams.has(id) && ![...u.searchParams.values()].includes(id), `item id ${id} in ${where}`);
    const blob = `${r.url}\n${JSON.stringify(r.headers)}\n${r.body}`;
    for (const secret of [CANARY, ...EVENT_NAMES]) {
      assert.ok(!blob.includes(secret), `"${secret}" leaked in ${where}:\n${blob}`);
    }
  }
  t.diagnostic(`${requests.length} requests, all same-origin static GETs`);
});
