// A small storefront page: the candidates the server sent (candidates.json, server order), a few
// buttons that observe shopper events, and "Rerank" that shows the on-device order.
// ?worker=1 runs localrank in a Web Worker (LocalRankerWorker), otherwise in the page.
// The same file is in examples/vite-store/ and examples/webpack-store/.
import { LocalRanker } from 'localrank';
import { LocalRankerWorker } from 'localrank/worker.js';
import candidates from './candidates.json';

const useWorker = new URLSearchParams(location.search).get('worker') === '1';
const $ = (id) => document.getElementById(id);
const status = (text) => ($('status').textContent = text);

function list(el, items) {
  el.replaceChildren(...items.map((c) => {
    const li = document.createElement('li');
    li.dataset.id = c.id;
    li.textContent = c.score === undefined ? `${c.title} (${c.category})` : `${c.title} · ${c.score.toFixed(3)}`;
    return li;
  }));
}

async function main() {
  status(`loading (${useWorker ? 'Web Worker' : 'page'})…`);
  // The model directory, served with the site: `scripts/example-model public` copied it there.
  const options = { model: new URL('models/', location.href).href, device: 'cpu' };
  const ranker = useWorker ? await LocalRankerWorker.create(options) : await LocalRanker.create(options);
  list($('server'), candidates);
  const byId = new Map(candidates.map((c) => [c.id, c]));

  const observe = async (event, c) => {
    await ranker.observe({ event, id: c.id, title: c.title, category: c.category, timestamp: Date.now() });
    $('session').textContent = String(ranker.sessionLength);
  };
  // Buttons: view, add to cart and buy the candidates with these ids; search a query.
  $('view').onclick = () => observe('view_item', byId.get($('view').dataset.id));
  $('cart').onclick = () => observe('add_to_cart', byId.get($('cart').dataset.id));
  $('buy').onclick = () => observe('purchase', byId.get($('buy').dataset.id));
  $('search').onclick = async () => {
    await ranker.observe({ event: 'search', query: $('search').dataset.query, timestamp: Date.now() });
    $('session').textContent = String(ranker.sessionLength);
  };
  $('rerank').onclick = async () => {
    const order = await ranker.rerank(candidates, { pageType: 'home', device: 'desktop' }, { topK: 10 });
    list($('device'), order.map((r) => ({ ...byId.get(r.id), score: r.score })));
    window.storeResult = order;
    status(`reranked ${candidates.length} → top ${order.length} (${ranker.backend}, ${useWorker ? 'worker' : 'page'})`);
  };
  window.storeReady = { mode: useWorker ? 'worker' : 'page', backend: ranker.backend, modelVersion: ranker.modelVersion };
  status(`ready: ${ranker.modelVersion} (${ranker.backend}, ${useWorker ? 'worker' : 'page'})`);
}

main().catch((err) => {
  window.storeError = String(err?.message ?? err);
  status(`failed: ${window.storeError}`);
  console.error(err);
});
