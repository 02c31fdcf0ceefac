// Demo storefront: renders the server's candidate order next to the order the
// on-device LocalRanker produces. Nothing the shopper does leaves the page:
// every fetch below is a same-origin GET for static files.

const FOLD = 10; // items "above the fold"; entering it from below is shown as "new"
const EVENTS_WITH_ITEM = new Set(['view_item', 'select_item', 'add_to_cart', 'purchase']);

const $ = (sel) => document.querySelector(sel);
const el = (tag, props = {}, ...kids) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...kids);
  return node;
};

let readyResolve, readyReject;
let byId = new Map(); // catalogue item id -> item
const demo = {
  ranker: null,
  catalog: null, // catalog.json as loaded: { source, items }
  candidates: [], // [{id, title, category}] in server order
  lastOrder: [], // [{id, score, serverRank}] from the latest rerank
  rerank: () => Promise.reject(new Error('demo not ready')),
  ready: new Promise((ok, fail) => ((readyResolve = ok), (readyReject = fail))),
};
demo.ready.catch(() => {}); // failure is shown on the page; avoid an unhandled-rejection warning
window.demo = demo;

function showError(err) {
  const box = $('#error');
  box.textContent = String(err?.message ?? err);
  box.hidden = false;
}

function setStatus(field, value) {
  $(`[data-testid="${field}"]`).textContent = value;
}

// Deterministic colour per category, drawn with CSS: no images are fetched.
function hue(text) {
  let h = 0;
  for (const ch of text) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

function card(item, badge) {
  const tile = el('span', { className: 'tile', ariaHidden: 'true', textContent: item.category.slice(0, 2) });
  tile.style.setProperty('--hue', hue(item.category.split(' / ')[0])); // colour by primary genre
  const view = el('button', { type: 'button', textContent: 'View' });
  view.dataset.action = 'view_item';
  view.setAttribute('aria-label', `View ${item.title}`);
  const cart = el('button', { type: 'button', textContent: 'Add to cart' });
  cart.dataset.action = 'add_to_cart';
  cart.setAttribute('aria-label', `Add ${item.title} to cart`);
  const li = el(
    'li',
    { className: 'card' },
    tile,
    el('span', { className: 'info' }, el('span', { className: 'title', textContent: item.title }),
      el('span', { className: 'category', textContent: item.category })),
    badge ?? '',
    el('span', { className: 'actions' }, view, cart),
  );
  li.dataset.id = item.id;
  li.dataset.category = item.category;
  return li;
}

// ↑n / ↓n against the server rank; "new" when an item climbed above the fold.
function movementBadge(rank, serverRank) {
  const delta = serverRank - rank;
  const badge = el('span', { className: 'move' });
  badge.dataset.testid = 'movement';
  if (rank <= FOLD && serverRank > FOLD) {
    badge.textContent = 'new';
    badge.classList.add('up');
  } else if (delta > 0) {
    badge.textContent = `↑${delta}`;
    badge.classList.add('up');
  } else if (delta < 0) {
    badge.textContent = `↓${-delta}`;
    badge.classList.add('down');
  } else {
    badge.textContent = '=';
  }
  badge.title = `server rank ${serverRank}`;
  return badge;
}

function renderServer() {
  const list = $('#server-list');
  list.replaceChildren(...demo.candidates.map((c) => card(c)));
  for (const li of list.children) li.dataset.testid = 'server-item';
}

function renderDevice(order) {
  const list = $('#device-list');
  list.replaceChildren(
    ...order.map((r, i) => {
      const li = card(byId.get(r.id), movementBadge(i + 1, r.serverRank));
      li.dataset.testid = 'device-item';
      li.dataset.score = r.score;
      return li;
    }),
  );
}

function updateSession() {
  setStatus('session-length', demo.ranker.sessionLength);
}

// Reranks run one at a time, in click order.
let queue = Promise.resolve();
function rerank() {
  const run = async () => {
    const query = $('#search-input').value.trim() || null;
    const context = {
      timestamp: Date.now(),
      device: matchMedia('(max-width: 700px)').matches ? 'mobile' : 'desktop',
      pageType: query ? 'search' : 'home',
      category: null,
      query,
    };
    const t0 = performance.now();
    const out = await demo.ranker.rerank(demo.candidates, context, { topK: demo.candidates.length });
    setStatus('rerank-ms', (performance.now() - t0).toFixed(1));
    demo.lastOrder = out;
    renderDevice(out);
    updateSession();
    return out;
  };
  const next = queue.then(run);
  queue = next.catch(() => {});
  return next;
}

function observe(event) {
  try {
    demo.ranker.observe({ timestamp: Date.now(), ...event });
  } catch (err) {
    showError(err);
    return;
  }
  updateSession();
  return rerank().catch(showError);
}

function onProductClick(e) {
  const button = e.target.closest('button[data-action]');
  if (!button || !demo.ranker) return;
  const item = byId.get(button.closest('li').dataset.id);
  const event = button.dataset.action;
  if (!EVENTS_WITH_ITEM.has(event)) return;
  $('#message').textContent = `${event === 'view_item' ? 'Viewed' : 'Added to cart'}: ${item.title}`;
  observe({ event, id: item.id, title: item.title, category: item.category, price: item.price ?? null });
}

async function loadJson(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

async function main() {
  const params = new URLSearchParams(location.search);
  const device = params.get('device') ?? 'auto';
  if (!['auto', 'cpu', 'webgpu'].includes(device)) throw new Error(`?device must be auto, cpu or webgpu, not "${device}"`);

  const [catalogJson, serverJson] = await Promise.all([
    loadJson('/data/catalog.json'),
    loadJson('/data/server-candidates.json'),
  ]);
  demo.catalog = catalogJson;
  byId = new Map(catalogJson.items.map((it) => [String(it.id), it]));
  demo.candidates = serverJson.candidates.map((id) => {
    const it = byId.get(String(id));
    if (!it) throw new Error(`server-candidates.json: id ${id} is not in the catalogue`);
    const c = { id: it.id, title: it.title, category: it.category };
    if (it.price != null) c.price = it.price; // MovieLens has no prices; never invent one
    return c;
  });
  renderServer();

  // Dynamic import so a missing /pkg build is reported on the page, not just in the console.
  let mod;
  try {
    mod = await import('/pkg/localrank.js');
  } catch (err) {
    throw new Error(`could not load /pkg/localrank.js (run wasm-pack build --target web): ${err.message}`);
  }
  await mod.default();
  setStatus('backend', `starting (${device})…`);
  try {
    demo.ranker = await mod.LocalRanker.create({ model: '/models/', device, maxSession: 50, persist: false });
  } catch (err) {
    setStatus('backend', 'unavailable');
    throw new Error(`could not start the ranker with device=${device}: ${err?.message ?? err}`);
  }
  setStatus('backend', demo.ranker.backend);
  setStatus('model-version', demo.ranker.modelVersion);
  demo.rerank = rerank;

  $('#forget').disabled = false;
  $('#forget').addEventListener('click', () => {
    demo.ranker.clear();
    $('#message').textContent = 'Session forgotten.';
    updateSession();
    rerank().catch(showError);
  });
  $('#search-form').addEventListener('submit', (e) => {
    e.preventDefault(); // keep the query out of the URL: it never reaches the server
    const query = $('#search-input').value.trim();
    if (!query) return;
    $('#message').textContent = `Searched: ${query}`;
    observe({ event: 'search', query });
  });
  document.querySelector('main').addEventListener('click', onProductClick);

  await rerank();
}

main().then(
  () => readyResolve(demo),
  (err) => {
    showError(err);
    readyReject(err);
  },
);
