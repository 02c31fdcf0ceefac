// The privacy panel: the live request log (netlog.js) and a verdict computed from it: every
// request a same-origin GET without a body, and none carrying a title or search of the session.

import * as netlog from '/netlog.js';
import { $, el, fmtBytes, netlogRow } from '/ui.js';

/** Strings that would give the session away if a request carried them. */
function secrets(events) {
  const out = new Set();
  for (const e of events) {
    for (const s of [e.title, e.query]) if (s) out.add(s).add(encodeURIComponent(s));
  }
  return [...out];
}

/** The verdict for the requests so far; `events`: the session, `readyAt`: when the model loaded. */
export function updatePrivacy({ events, readyAt }) {
  const rows = netlog.requests();
  const leaks = secrets(events);
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
