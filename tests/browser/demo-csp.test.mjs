// The demo under the strict Content-Security-Policy (helpers.mjs CSP, SECURITY.md): every
// response of the demo's server carries it as a header, in page and in Worker mode; the demo
// loads, reranks after a view, and the browser reports no violation and no console error.
// Under connect-src 'self' nothing can leave for another origin.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CSP, clickItem, deviceOrder, gotoReady, openDemo, serverOrder } from './helpers.mjs';

for (const worker of [0, 1]) {
  test(`demo under the strict CSP (${worker ? 'Web Worker' : 'page'})`, { timeout: 120_000 }, async (t) => {
    const { context, page, url, logs } = await openDemo(t);
    await context.route('**/*', async (route) => {
      const response = await route.fetch();
      await route.fulfill({ response, headers: { ...response.headers(), 'content-security-policy': CSP } });
    });
    await page.addInitScript(() => {
      window.cspViolations = [];
      document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    const served = page.waitForResponse((r) => r.url().startsWith(url) && r.request().resourceType() === 'document');
    await gotoReady(page, `${url}?device=cpu&worker=${worker}`, logs);
    assert.equal((await served).headers()['content-security-policy'], CSP, 'the page was served with the policy');
    assert.equal(await page.textContent('[data-testid="runs-in"]'), worker ? 'Web Worker' : 'page (main thread)');
    const server = await serverOrder(page);
    await clickItem(page, server[40], 'view_item');
    assert.notDeepEqual(await deviceOrder(page), server, 'a view reranked the list');
    assert.deepEqual(await page.evaluate(() => window.cspViolations), [], 'no CSP violation');
    assert.deepEqual(logs, [], 'no console error');
  });
}
