// The privacy panel: the live request log (netlog.js) and a verdict computed from it: every
// request a same-origin GET without a body, and none carrying a title or search of the session.

import * as netlog from '/netlog.js';
import { $, ago, el, fmtBytes, netlogRow, reasonText } from '/ui.js';

/** Strings that would give the session away if a request carried them. */
function secrets(events) {
  const out = new Set();
  for (const e of events) {
    for (const s of [e.title, e.query]) if (s) out.add(s).add(encodeURIComponent(s));
  }
  return [...out];
}

/** The verdict for the requests so far; `events`: the session, `remembered`: the events kept on
 * this device (`remember`), `readyAt`: when the model loaded. */
export function updatePrivacy({ events, remembered = [], readyAt }) {
  const rows = netlog.requests();
  const leaks = secrets([...events, ...remembered]);
  const bad = rows.filter((r) => r.method !== 'GET' || r.sent !== 0 || new URL(r.url).origin !== location.origin);
  const carrying = rows.filter((r) => leaks.some((s) => r.url.includes(s)));
  const since = rows.filter((r) => r.at > (readyAt ?? Infinity)).length;
  const p = $('[data-testid="privacy-verdict"]');
  p.dataset.carrying = carrying.length;
  p.dataset.unexpected = bad.length;
  p.classList.toggle('alarm', bad.length + carrying.length > 0);
  const sent = rows.reduce((a, r) => a + r.sent, 0);
  const [headline, detail] = bad.length + carrying.length
    ? ['⚠ Something left this page', `${bad.length} request(s) were not plain same-origin GETs and ${carrying.length} carried session data: see the log.`]
    : ['✔ Session events sent: none',
      `Nothing about you left this browser. ${rows.length} requests, all GETs of static files from this origin, ${fmtBytes(sent)} of request bodies; ` +
      `none carries any of your ${events.length} events. ${since} request${since === 1 ? '' : 's'} since the model loaded.`];
  p.replaceChildren(el('strong', { textContent: headline }), detail);
}

/** The events `remember` keeps on this device (ranker.rememberedEvents()), with their age. */
export function renderRemembered(events) {
  $('[data-testid="remembered-count"]').textContent = events.length;
  $('[data-testid="remembered-list"]').replaceChildren(...events.slice().reverse().map((e) => {
    const li = el('li', { textContent: `${reasonText({ source: 'event', ...e, earlierVisit: false })}, ${ago(e.at)}${e.earlierVisit ? ' (an earlier visit)' : ''}` });
    li.dataset.testid = 'remembered-event';
    if (e.itemId != null) li.dataset.itemId = e.itemId;
    return li;
  }));
}

/** The experiment arm (assignArm) and what a storefront does with it. */
export function renderArm({ experiment, arm, share, stable }) {
  const p = $('[data-testid="arm"]');
  p.dataset.arm = arm;
  const kept = stable ? 'drawn once and kept in localStorage' : 'drawn for this page load: no localStorage here';
  const what = arm === 'reranked'
    ? 'a storefront shows this order and tags the orders it receives with the arm.'
    : 'a storefront would show the server order (left) and tag the orders it receives with the arm; this demo reranks anyway, to show what the other arm sees.';
  p.textContent = `This browser is in the ${arm} arm of experiment '${experiment}' (${Math.round(share * 100)}% reranked, ${kept}): ${what}`;
}

/** Draws every request, now and as they come, and keeps the verdict up to date. */
export function watchNetwork(state) {
  const body = $('[data-testid="netlog"] tbody');
  const draw = (row) => {
    const tr = netlogRow(row);
    const old = body.querySelector(`tr[data-n="${row.n}"]`);
    old ? old.replaceWith(tr) : body.append(tr);
    updatePrivacy(state());
  };
  netlog.requests().forEach(draw);
  netlog.onRequest(draw);
}
