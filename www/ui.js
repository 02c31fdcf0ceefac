// Rendering for the demo store: product cards, movement badges, "Why here?" reasons and
// the network log. No state lives here; app.js owns it.

export const FOLD = 10; // items "above the fold"; entering it from below is shown as "new"
/** A candidate is long-tail when the server ranks it outside its 20 most popular (the same
 * 80/20 split the evaluation uses for the catalogue). */
export const HEAD = 20;
const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const DID = { view_item: 'You viewed', select_item: 'You clicked', add_to_cart: 'You added to cart', purchase: 'You bought' };

export const $ = (sel) => document.querySelector(sel);
export const el = (tag, props = {}, ...kids) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...kids);
  return node;
};
export const primaryGenre = (category) => category.split(' / ')[0];
export const weekdayName = (d) => WEEKDAYS[d];
export const hourLabel = (h) => `${String(h).padStart(2, '0')}:00`;

export function setStatus(field, value) {
  $(`[data-testid="${field}"]`).textContent = value;
}

// Deterministic colour per genre, drawn with CSS: no images are fetched.
function hue(text) {
  let h = 0;
  for (const ch of text) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

function button(action, text, label) {
  const b = el('button', { type: 'button', textContent: text });
  b.dataset.action = action;
  b.setAttribute('aria-label', label);
  return b;
}

/** One product. `extra`: nodes after the actions (badge, "Why here?"). */
export function card(item, ...extra) {
  const genre = primaryGenre(item.category);
  const tile = el('span', { className: 'tile', ariaHidden: 'true', textContent: genre.slice(0, 2) });
  tile.style.setProperty('--hue', hue(genre));
  const li = el(
    'li',
    { className: 'card' },
    tile,
    el('span', { className: 'info' }, el('span', { className: 'title', textContent: item.title }),
      el('span', { className: 'category', textContent: item.category })),
    el('span', { className: 'actions' },
      button('view_item', 'View', `View ${item.title}`),
      button('add_to_cart', 'Add to cart', `Add ${item.title} to cart`)),
    ...extra,
  );
  li.dataset.id = item.id;
  li.dataset.category = item.category;
  return li;
}

/** ↑n / ↓n against the server rank; "new" when an item climbed above the fold. */
export function movementBadge(rank, serverRank) {
  const delta = serverRank - rank;
  const badge = el('span', { className: 'move' });
  badge.dataset.testid = 'movement';
  const [text, cls, said] =
    rank <= FOLD && serverRank > FOLD ? [`new ↑${delta}`, 'up', `new in the top ${FOLD}, up ${delta} places`]
      : delta > 0 ? [`↑${delta}`, 'up', `up ${delta} places`]
        : delta < 0 ? [`↓${-delta}`, 'down', `down ${-delta} places`] : ['=', '', 'same place'];
  badge.textContent = text;
  if (cls) badge.classList.add(cls);
  badge.title = `server rank ${serverRank}`;
  badge.setAttribute('aria-label', `${said} (server rank ${serverRank})`);
  return badge;
}

/** Words for one reason the library returned (an event of this session or a context field). */
export function reasonText(r) {
  if (r.source === 'event') {
    const text = r.event === 'search' ? `You searched “${r.query}”` : `${DID[r.event] ?? r.event} “${r.title}”`;
    return r.earlierVisit ? `${text} (an earlier visit, ${ago(r.at)})` : text;
  }
  const v = r.value;
  switch (r.field) {
    case 'hour': return `Time of day ${hourLabel(Number(v))}`;
    case 'weekday': return `It is ${weekdayName(Number(v))}`;
    case 'promotion': return v === 'true' ? 'Holiday or promotion on' : 'No holiday or promotion';
    case 'pageType': return `On a ${v} page`;
    case 'query': return `Search box “${v}”`;
    default: return `${r.field}: ${v}`;
  }
}

/** "Why here?" for one reranked product: a native <details>, so it works from the keyboard. */
export function whyHere(ranked, sessionLength) {
  const details = el('details', { className: 'why' }, el('summary', { textContent: 'Why here?' }));
  details.dataset.testid = 'why';
  const reasons = ranked.reasons ?? [];
  if (!reasons.length) {
    details.append(el('p', {
      textContent: sessionLength ? 'No single event or context signal moved it noticeably.'
        : 'No session yet: this is where the server put it.',
    }));
    return details;
  }
  const max = Math.max(...reasons.map((r) => Math.abs(r.effect)));
  const list = el('ul', { className: 'reasons' });
  for (const r of reasons) {
    const bar = el('span', { className: `bar ${r.effect > 0 ? 'up' : 'down'}`, ariaHidden: 'true' });
    bar.style.width = `${(100 * Math.abs(r.effect)) / max}%`;
    const li = el('li', {},
      el('span', { className: 'effect', textContent: `${r.effect > 0 ? '+' : '−'}${Math.abs(r.effect).toFixed(2)}` }),
      el('span', { className: 'reason', textContent: reasonText(r) }),
      el('span', { className: 'bar-track' }, bar));
    li.dataset.testid = 'reason';
    li.dataset.source = r.source;
    if (r.itemId != null) li.dataset.itemId = r.itemId;
    if (r.field) li.dataset.field = r.field;
    li.dataset.effect = r.effect;
    if (r.earlierVisit) li.dataset.earlierVisit = 'true';
    list.append(li);
  }
  details.append(list, el('p', { className: 'muted', textContent: 'Computed by the model: the score change when that signal is taken away.' }));
  return details;
}

const fmtBytes = (b) =>
  b == null ? '…' : Number.isNaN(b) ? '?' : b < 1024 ? `${b} B` : b < 1 << 20 ? `${(b / 1024).toFixed(1)} KB` : `${(b / (1 << 20)).toFixed(2)} MB`;
export { fmtBytes };

/** "just now", "5 minutes ago", "2 days ago": the age of a time in ms since 1970. */
export function ago(at, now = Date.now()) {
  const s = Math.max(0, (now - at) / 1000);
  const [n, unit] = s < 60 ? [0, ''] : s < 3600 ? [s / 60, 'minute'] : s < 86_400 ? [s / 3600, 'hour'] : [s / 86_400, 'day'];
  if (!unit) return 'just now';
  const k = Math.floor(n);
  return `${k} ${unit}${k === 1 ? '' : 's'} ago`;
}

export function netlogRow(r) {
  const u = new URL(r.url, location.href);
  const where = u.origin === location.origin ? u.pathname + u.search : r.url;
  const what = el('td', { className: 'url', title: r.url },
    el('span', { className: 'method', textContent: r.method }), ' ', where,
    el('span', { className: 'by', textContent: r.initiator ?? '' }));
  const tr = el('tr', {}, el('td', { textContent: r.n }), what,
    el('td', { textContent: fmtBytes(r.sent) }), el('td', { textContent: fmtBytes(r.received) }));
  tr.dataset.n = r.n;
  return tr;
}
