// Reads the page's arguments into the flat JSON that src/input.rs decodes.
//
// Why here and not in Rust: the page can hand over anything (objects nested 100,000 levels deep,
// cycles, Proxies, revoked Proxies, getters that throw, BigInts, 100 MB strings). A serialiser
// that walks such a value inside wasm overflows the wasm stack, and from then on every call of
// that module fails ("memory access out of bounds"; seen with serde-wasm-bindgen and an `extra`
// field 100,000 levels deep). So only the fields localrank knows are read, one property access
// at a time inside try/catch, and only primitive values are kept: nothing is ever walked
// recursively. Meaning and ranges are checked once, in Rust (src/input.rs, src/ranker.rs); what
// is checked here is only what must be known before anything crosses into wasm (types, the
// candidate count, text length).

const PREFIX = 'localrank: invalid input: ';

export function inputError(message) {
  return new Error(PREFIX + message);
}

/** A short description of a value's type for messages (never calls the page's code). */
export function typeName(v) {
  if (v === null) return 'null';
  try {
    if (Array.isArray(v)) return 'an array';
  } catch {
    return 'a revoked Proxy';
  }
  const t = typeof v;
  return t === 'object' ? 'an object' : t === 'undefined' ? 'undefined' : `a ${t}`;
}

/** The message of anything thrown, without calling the page's code where it could throw. */
export function messageOf(e) {
  try {
    if (e instanceof Error) return String(e.message);
    if (typeof e === 'string') return e;
    return typeName(e);
  } catch {
    return 'an unreadable error';
  }
}

/** `obj[key]`, or an error naming `where.key` when reading it throws (getter, revoked Proxy). */
function read(obj, key, where) {
  try {
    return obj[key];
  } catch (e) {
    throw inputError(`${where}.${key}: reading it threw (${messageOf(e)})`);
  }
}

function isArray(v, where) {
  try {
    return Array.isArray(v);
  } catch (e) {
    throw inputError(`${where}: cannot be read (${messageOf(e)})`);
  }
}

/** `v` if it is a non-null object (arrays excluded), else an error. */
function object(v, where, expected) {
  if (v === null || typeof v !== 'object' || isArray(v, where)) {
    throw inputError(`${where}: expected ${expected}, got ${typeName(v)}`);
  }
  return v;
}

/** Own enumerable keys that are not in `known`, as an error (a typo such as `topk`). */
function rejectUnknown(obj, known, where) {
  let keys;
  try {
    keys = Object.keys(obj);
  } catch (e) {
    throw inputError(`${where}: its keys cannot be read (${messageOf(e)})`);
  }
  const unknown = keys.find((k) => !known.includes(k));
  if (unknown !== undefined) {
    throw inputError(`${where}: unknown field ${JSON.stringify(unknown)} (expected one of ${known.join(', ')})`);
  }
}

const absent = (v) => v === undefined || v === null;

/** A text field, well-formed UTF-16 and cut to `cap` code units (Rust then cuts it to `cap`
 * UTF-8 bytes at a character boundary: a prefix of `cap` units is at least `cap` bytes long, so
 * the result is the same as cutting the whole text there). */
function text(v, where, cap) {
  if (absent(v)) return undefined;
  if (typeof v !== 'string') throw inputError(`${where}: expected a string, got ${typeName(v)}`);
  const cut = v.length > cap ? v.slice(0, cap) : v;
  return typeof cut.toWellFormed === 'function' ? cut.toWellFormed() : cut;
}

/** A product id: a string or a finite number (as `String(n)` writes it), never changed. */
function id(v, where, cap) {
  if (absent(v)) return undefined;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v !== 'string') throw inputError(`${where}: expected a string or a number, got ${typeName(v)}`);
  // Refused here rather than cut: a cut id would name another product. `cap` units are at
  // least `cap` bytes, so Rust gives the precise message for anything shorter.
  if (v.length > cap) throw inputError(`${where}: ${v.length} characters, at most ${cap} bytes`);
  // Refused rather than repaired: UTF-8 cannot carry a lone surrogate, and a repaired id would
  // come back as another string (and two such ids would collide).
  if (typeof v.isWellFormed === 'function' && !v.isWellFormed()) {
    throw inputError(`${where}: contains a lone UTF-16 surrogate, which no UTF-8 id can hold`);
  }
  return v;
}

/** A price as a string: "11.99", " 3 ", "-2", "1e3" and, written with a decimal comma, "11,99"
 * (one comma followed by one or two digits, and no point). "1,299" (a thousands separator or
 * three decimals?), "1.299,00", "$11.99", "11.99 EUR", "0x10" and "" are refused. */
const DECIMAL_POINT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const DECIMAL_COMMA = /^[+-]?\d+,\d{1,2}$/;

function priceString(v, where) {
  const s = v.length <= 64 ? v.trim() : '';
  if (DECIMAL_POINT.test(s)) return Number(s);
  if (DECIMAL_COMMA.test(s)) return Number(s.replace(',', '.'));
  const shown = JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  throw inputError(`${where}: ${shown} is not a number (expected a number or a decimal string such as "11.99" or "11,99")`);
}

/** A finite number; with `numericStrings`, also a price string (see `priceString`). */
function number(v, where, numericStrings = false) {
  if (absent(v)) return undefined;
  if (numericStrings && typeof v === 'string') v = priceString(v, where);
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw inputError(`${where}: expected a finite number, got ${typeof v === 'number' ? String(v) : typeName(v)}`);
  }
  return v;
}

function bool(v, where) {
  if (absent(v)) return undefined;
  if (typeof v !== 'boolean') throw inputError(`${where}: expected true or false, got ${typeName(v)}`);
  return v;
}

/** The first defined of `keys` on `obj` (aliases such as `id` / `item_id`). */
function first(obj, keys, where) {
  for (const k of keys) {
    const v = read(obj, k, where);
    if (v !== undefined) return [k, v];
  }
  return [keys[0], undefined];
}

/** GA4's category levels, joined into one path with the separator the model's category reader
 * splits on (src/features.rs `category_path`): "Apparel / Men / Shirts". */
const CATEGORY_LEVELS = ['item_category', 'item_category2', 'item_category3', 'item_category4', 'item_category5'];
const CATEGORY_SEPARATOR = ' / ';

/** `category`, else the GA4 levels `item_category` .. `item_category5` (empty ones skipped). */
function categoryOf(obj, where, limits) {
  const category = read(obj, 'category', where);
  if (category !== undefined) return text(category, `${where}.category`, limits.maxTextBytes);
  const levels = [];
  for (const k of CATEGORY_LEVELS) {
    const level = text(read(obj, k, where), `${where}.${k}`, limits.maxTextBytes)?.trim();
    if (level) levels.push(level);
  }
  if (levels.length === 0) return undefined;
  const path = levels.join(CATEGORY_SEPARATOR);
  return text(path, `${where}.item_category`, limits.maxTextBytes);
}

/** The product fields of an event or candidate, aliases mapped (GA4 item names included);
 * `ga4`: an item of `ecommerce.items`, whose messages use GA4's names when a field is missing.
 * Also the keys the id and the title were read from (for messages). */
function product(obj, where, limits, ga4 = false) {
  const [idKey, idValue] = first(obj, ga4 ? ['item_id', 'id'] : ['id', 'item_id'], where);
  const [titleKey, titleValue] = first(obj, ga4 ? ['item_name', 'title', 'name'] : ['title', 'item_name', 'name'], where);
  return {
    fields: {
      id: id(idValue, `${where}.${idKey}`, limits.maxIdBytes),
      title: text(titleValue, `${where}.${titleKey}`, limits.maxTextBytes),
      category: categoryOf(obj, where, limits),
      price: number(read(obj, 'price', where), `${where}.price`, true),
    },
    idKey,
    titleKey,
  };
}

const utf8 = new TextEncoder();

/** localrank's event names (src/features.rs `EventKind::NAMES`). */
export const EVENT_NAMES = ['view_item', 'select_item', 'add_to_cart', 'purchase', 'search'];

/** GA4's other recommended and automatically collected event names: `observe` records nothing
 * for them (a storefront may hand over its whole GA4 stream). Any other name is an error. */
export const GA4_IGNORED = new Set([
  'page_view', 'view_item_list', 'view_cart', 'remove_from_cart', 'add_to_wishlist', 'begin_checkout',
  'add_shipping_info', 'add_payment_info', 'refund', 'view_promotion', 'select_promotion',
  'view_search_results', 'generate_lead', 'login', 'sign_up', 'share', 'select_content',
  'session_start', 'first_visit', 'user_engagement', 'scroll', 'click', 'file_download',
  'form_start', 'form_submit', 'video_start', 'video_progress', 'video_complete',
]);

/** Items one GA4 event may carry (each becomes an event). */
export const MAX_ITEMS = 1000;

/** The length of `ecommerce.items`, checked. */
function itemCount(items, where) {
  const n = read(items, 'length', where);
  if (!Number.isSafeInteger(n) || n < 0) throw inputError(`${where}.length: not a valid array length`);
  if (n > MAX_ITEMS) throw inputError(`${where}: ${n} items, at most ${MAX_ITEMS} per event`);
  return n;
}

function readAt(list, i, where) {
  try {
    return list[i];
  } catch (e) {
    throw inputError(`${where}[${i}]: reading it threw (${messageOf(e)})`);
  }
}

const EARLIEST_EVENT_MS = 946_684_800_000; // src/ranker.rs: 2000-01-01

/**
 * A shopper event as `[{ json, where }]`: one JSON text (what src/input.rs decodes) per event
 * to record, and where in the argument it came from. Reads the flat shape
 * (`{ event, id, title, category }`) and the GA4 shape a storefront pushes to its dataLayer,
 * `{ event, ecommerce: { items: [{ item_id, item_name, item_category, .., item_category5,
 * price }] } }`: each item is one event (same name and time, in item order; a search event
 * takes the first item only). Gives `[]` (record nothing) for `{ ecommerce: null }` (the push
 * that clears GTM's previous e-commerce object) and for GA4 names in `GA4_IGNORED`.
 * An item with an id but no title takes the title (and, when it has none, the category) of
 * the candidate `seen` holds under that id; without one it is an error naming the field.
 */
export function readEvents(e, limits, seen) {
  const where = 'observe: event';
  object(e, where, "an object such as { event: 'view_item', id, title }");
  const name = text(read(e, 'event', where), `${where}.event`, 64);
  const ecommerce = read(e, 'ecommerce', where);
  if ((name === undefined && ecommerce === null) || GA4_IGNORED.has(name)) return [];
  let sources = [{ obj: e, at: where, ga4: false }];
  if (!absent(ecommerce) && absent(read(e, 'id', where)) && absent(read(e, 'item_id', where))) {
    const ew = `${where}.ecommerce`;
    const items = read(object(ecommerce, ew, 'an object { items: [...] }'), 'items', ew);
    // Not a list of items (or an empty one): the product is read from the event itself.
    const n = isArray(items, `${ew}.items`) ? itemCount(items, `${ew}.items`) : 0;
    if (n > 0) {
      sources = [];
      for (let i = 0; i < (name === 'search' ? 1 : n); i++) {
        const at = `${ew}.items[${i}]`;
        sources.push({ obj: object(readAt(items, i, `${ew}.items`), at, 'an object { item_id, item_name }'), at, ga4: true });
      }
    }
  }
  const [queryKey, queryValue] = first(e, ['query', 'search_term'], where);
  const common = {
    timestamp: number(read(e, 'timestamp', where), `${where}.timestamp`),
    dwellMs: number(read(e, 'dwellMs', where), `${where}.dwellMs`),
    query: text(queryValue, `${where}.${queryKey}`, limits.maxTextBytes),
  };
  const products = sources.map(({ obj, at, ga4 }) => ({ at, ga4, ...product(obj, at, limits, ga4) }));
  // Every item is read before the first is looked up: a getter of the page's may rerank.
  const needsTitle = name !== 'search' && EVENT_NAMES.includes(name);
  for (const p of products) if (needsTitle) titleFromCandidates(p, seen);
  // Several items: one time for all of them (the core would stamp each with its own "now").
  if (products.length > 1 && common.timestamp === undefined) common.timestamp = Math.max(Date.now(), EARLIEST_EVENT_MS);
  return products.map(({ at, fields }) => ({
    json: utf8.encode(JSON.stringify({ event: name, ...fields, ...common })),
    where: at,
  }));
}

/** A missing (or blank) title from the candidate seen under the same id, else a named error. */
function titleFromCandidates({ at, ga4, fields, idKey, titleKey }, seen) {
  if (fields.title !== undefined && fields.title.trim() !== '') return;
  if (fields.id === undefined) {
    // A flat event without id nor title: src/ranker.rs names the problem.
    if (ga4) throw inputError(`${at}.${titleKey}: missing, and the item has no ${idKey} either`);
    return;
  }
  const known = seen?.get(fields.id);
  if (!known) throw inputError(`${at}.${titleKey}: missing, and no candidate with ${idKey} ${JSON.stringify(fields.id)} has been seen`);
  fields.title = known.title;
  if (fields.category === undefined) fields.category = known.category;
}

/** The candidates as `{ rows, ids }`: plain objects of primitives (see `encodeCandidates`)
 * and their ids as strings, in server order. The count is checked before any candidate is
 * read. */
export function readCandidates(list, limits) {
  const where = 'candidates';
  if (!isArray(list, where)) throw inputError(`${where}: expected an array of { id, title, category }, got ${typeName(list)}`);
  const n = read(list, 'length', where);
  if (!Number.isSafeInteger(n) || n < 0) throw inputError(`${where}.length: not a valid array length`);
  if (n > limits.maxCandidates) throw inputError(`${where}: ${n} items, at most ${limits.maxCandidates} per call`);
  const rows = new Array(n);
  const ids = new Array(n);
  for (let i = 0; i < n; i++) {
    const at = `${where}[${i}]`;
    const c = object(read(list, i, where), at, 'an object { id, title, category }');
    const { id: cid, title, category } = product(c, at, limits).fields;
    rows[i] = { id: cid, title, category, popularity: number(read(c, 'popularity', at), `${at}.popularity`) };
    ids[i] = cid;
  }
  return { rows, ids };
}

// One buffer for every call, grown when needed: a new array per call left up to ~8 MB of
// garbage that a single garbage collection did not return.
let scratch = new Uint8Array(1 << 16);

/** `rows` as JSON bytes: a view of a buffer that the next call overwrites, so the caller
 * encodes only after every argument is read (a getter of the page's may call localrank
 * again) and hands the view to wasm at once. */
export function encodeCandidates(rows) {
  const json = JSON.stringify(rows);
  // UTF-8 takes at most 3 bytes per UTF-16 code unit.
  if (scratch.length < 3 * json.length) scratch = new Uint8Array(3 * json.length);
  return scratch.subarray(0, utf8.encodeInto(json, scratch).written);
}

const CONTEXT_FIELDS = ['timestamp', 'hour', 'weekday', 'device', 'pageType', 'category', 'promotion', 'query'];

/** The page context as JSON bytes; hour and weekday default to those of `timestamp` (or now)
 * in UTC: the clock training read them on (log timestamps are UTC; manifest `inputs.clock`). */
export function readContext(ctx, limits) {
  const where = 'context';
  if (absent(ctx)) ctx = {};
  object(ctx, where, "an object such as { pageType: 'home' }");
  rejectUnknown(ctx, CONTEXT_FIELDS, where);
  const field = (k) => read(ctx, k, where);
  const timestamp = number(field('timestamp'), `${where}.timestamp`);
  const date = new Date(timestamp ?? Date.now());
  const utc = (v, f) => (absent(v) && Number.isFinite(date.getTime()) ? f.call(date) : v);
  const out = {
    timestamp,
    hour: number(utc(field('hour'), date.getUTCHours), `${where}.hour`),
    weekday: number(utc(field('weekday'), date.getUTCDay), `${where}.weekday`),
    device: text(field('device'), `${where}.device`, 64),
    pageType: text(field('pageType'), `${where}.pageType`, 64),
    category: text(field('category'), `${where}.category`, limits.maxTextBytes),
    promotion: bool(field('promotion'), `${where}.promotion`),
    query: text(field('query'), `${where}.query`, limits.maxTextBytes),
  };
  return utf8.encode(JSON.stringify(out));
}

const OPTION_FIELDS = ['topK', 'personalization', 'longTail', 'explain'];

/** Rerank options as `{ json, explain }`. */
export function readOptions(options) {
  const where = 'options';
  if (absent(options)) return { json: utf8.encode('{}'), explain: false };
  object(options, where, 'an object such as { topK: 20 }');
  rejectUnknown(options, OPTION_FIELDS, where);
  const out = {};
  for (const k of ['topK', 'personalization', 'longTail']) out[k] = number(read(options, k, where), `${where}.${k}`);
  out.explain = bool(read(options, 'explain', where), `${where}.explain`) ?? false;
  return { json: utf8.encode(JSON.stringify(out)), explain: out.explain, fields: out };
}

/** `readOptions`' result for the server order: the same options at `personalization` 0, whose
 * blend is the server order exactly (src/rerank.rs `order`), without explanations. */
export function serverOrderOptions(opts) {
  const out = { ...opts.fields, personalization: 0, explain: false };
  return { json: utf8.encode(JSON.stringify(out)), explain: false, fields: out };
}

const CREATE_FIELDS = ['model', 'device', 'maxSession', 'persist', 'remember', 'integrity', 'cache', 'onProgress'];

/** `LocalRanker.create`'s options, read once; `extraKeys` are further fields a caller allows
 * (the worker's `onRequest`, `workerUrl`), returned unchecked in `extra`. */
export function readCreateOptions(options, extraKeys = []) {
  const where = 'create: options';
  object(options, where, "an object such as { model: '/models/' }");
  rejectUnknown(options, [...CREATE_FIELDS, ...extraKeys], where);
  const field = (k) => read(options, k, where);
  const onProgress = callback(field('onProgress'), `${where}.onProgress`);
  const device = text(field('device'), `${where}.device`, 16) ?? 'auto';
  if (!['auto', 'cpu', 'webgpu'].includes(device)) {
    throw inputError(`${where}.device: ${JSON.stringify(device)} is not one of "auto", "webgpu", "cpu"`);
  }
  return {
    model: readModel(field('model'), `${where}.model`),
    device,
    maxSession: number(field('maxSession'), `${where}.maxSession`),
    persist: bool(field('persist'), `${where}.persist`) ?? false,
    remember: readRemember(field('remember'), `${where}.remember`),
    integrity: text(field('integrity'), `${where}.integrity`, 128),
    cache: bool(field('cache'), `${where}.cache`) ?? true,
    onProgress,
    extra: Object.fromEntries(extraKeys.map((k) => [k, field(k)])),
  };
}

/** `remember` (js/device-store.js) and its bounds: the events kept on this device. */
export const REMEMBER_DEFAULTS = Object.freeze({ days: 30, maxEvents: 500 });
const REMEMBER_MAX = { days: 365, maxEvents: 5000 };

/** `remember`: absent or false (null: off), true (the defaults) or `{ days?, maxEvents? }`,
 * each an integer from 1 to its maximum. */
export function readRemember(v, where) {
  if (absent(v) || v === false) return null;
  if (v === true) return { ...REMEMBER_DEFAULTS };
  object(v, where, 'true, false or { days, maxEvents }');
  rejectUnknown(v, Object.keys(REMEMBER_DEFAULTS), where);
  const out = {};
  for (const [k, max] of Object.entries(REMEMBER_MAX)) {
    const n = read(v, k, where);
    if (n === undefined) out[k] = REMEMBER_DEFAULTS[k];
    else if (Number.isInteger(n) && n >= 1 && n <= max) out[k] = n;
    else throw inputError(`${where}.${k}: ${typeof n === 'number' ? String(n) : typeName(n)} is not an integer from 1 to ${max}`);
  }
  return out;
}

/** `assignArm(options)`: `{ experiment = 'localrank', share = 0.5 }`, an experiment name of 1..64
 * characters and a share in [0, 1]. */
export function readArmOptions(options) {
  const where = 'assignArm: options';
  if (options === undefined) options = {};
  object(options, where, "an object such as { experiment: 'localrank', share: 0.5 }");
  rejectUnknown(options, ['experiment', 'share'], where);
  const experiment = read(options, 'experiment', where) ?? 'localrank';
  if (typeof experiment !== 'string' || experiment.length === 0 || experiment.length > 64) {
    const got = typeof experiment === 'string' ? `${experiment.length} characters` : typeName(experiment);
    throw inputError(`${where}.experiment: expected a name of 1 to 64 characters, got ${got}`);
  }
  const share = read(options, 'share', where) ?? 0.5;
  if (typeof share !== 'number' || !(share >= 0 && share <= 1)) {
    throw inputError(`${where}.share: expected a number from 0 to 1, got ${typeof share === 'number' ? String(share) : typeName(share)}`);
  }
  return { experiment, share };
}

/** An optional function (a callback of the page's). */
export function callback(v, where) {
  if (absent(v)) return undefined;
  if (typeof v !== 'function') throw inputError(`${where}: expected a function, got ${typeName(v)}`);
  return v;
}

/** `v instanceof URL`, false for a revoked Proxy (whose prototype cannot be read: found by
 * tests/browser/fuzz.test.mjs, a revoked Proxy as `workerUrl`). */
function isUrl(v) {
  try {
    return v instanceof URL;
  } catch {
    return false;
  }
}

/** An absolute URL from a string or URL resolved against the page, or a named error. */
export function resolveUrl(v, where) {
  if (!(typeof v === 'string' || isUrl(v))) throw inputError(`${where}: expected a URL string, got ${typeName(v)}`);
  try {
    return new URL(v, globalThis.location?.href);
  } catch (e) {
    throw inputError(`${where}: ${JSON.stringify(String(v).slice(0, 200))} is not a URL (${messageOf(e)})`);
  }
}

/** `options.model`: the model directory's URL, or the three files as `Uint8Array`s. */
function readModel(model, where) {
  if (typeof model === 'string') {
    if (model.length === 0 || model.length > 2048) throw inputError(`${where}: expected a URL of 1..2048 characters`);
    return model;
  }
  if (absent(model) || typeof model !== 'object') {
    throw inputError(`${where}: expected the model directory's URL or { manifest, weights, tokenizer } bytes, got ${typeName(model)}`);
  }
  const bytes = {};
  for (const k of ['manifest', 'weights', 'tokenizer']) {
    const v = read(model, k, where);
    if (!(v instanceof Uint8Array)) throw inputError(`${where}.${k}: expected a Uint8Array, got ${typeName(v)}`);
    bytes[k] = v;
  }
  return bytes;
}

/** Text passed to `importSession`, cut at nothing: its size is checked by the caller. */
export function readSessionText(json, maxBytes) {
  if (typeof json !== 'string') throw inputError(`importSession: expected the string exportSession gave, got ${typeName(json)}`);
  if (json.length > maxBytes) throw inputError(`importSession: ${json.length} characters, at most ${maxBytes}`);
  return utf8.encode(json);
}

// ---------------------------------------------------------------- the page's dataLayer

const PRODUCT_KEYS = ['id', 'item_id', 'title', 'item_name', 'name', 'category', ...CATEGORY_LEVELS, 'price'];
const EVENT_KEYS = ['event', ...PRODUCT_KEYS, 'timestamp', 'dwellMs', 'query', 'search_term'];

/** What structured clone can carry of a value `readEvents` reads as a primitive: the value
 * itself, or an empty object or array of the same kind (functions and symbols cannot be sent;
 * `readEvents` then names the field's type as "an object"). */
function leaf(v, where) {
  if (v === null || (typeof v !== 'object' && typeof v !== 'function' && typeof v !== 'symbol')) return v;
  return isArray(v, where) ? [] : {};
}

function pick(obj, keys, where) {
  const out = {};
  for (const k of keys) {
    const v = read(obj, k, where);
    if (v !== undefined) out[k] = leaf(v, `${where}.${k}`);
  }
  return out;
}

/**
 * A plain copy of `e` that a worker can be sent (GTM's pushes carry functions such as
 * `eventCallback`): the fields `readEvents` reads, and nothing else. Getters are read once,
 * here, and throw the errors `readEvents` would.
 */
export function copyEvent(e) {
  const where = 'observe: event';
  if (e === null || typeof e !== 'object' || isArray(e, where)) return leaf(e, where);
  const out = pick(e, EVENT_KEYS, where);
  const ecommerce = read(e, 'ecommerce', where);
  const ew = `${where}.ecommerce`;
  if (ecommerce === null || typeof ecommerce !== 'object' || isArray(ecommerce, ew)) {
    if (ecommerce !== undefined) out.ecommerce = leaf(ecommerce, ew);
    return out;
  }
  out.ecommerce = {};
  const items = read(ecommerce, 'items', ew);
  if (items === undefined) return out;
  if (!isArray(items, `${ew}.items`)) {
    out.ecommerce.items = leaf(items, `${ew}.items`);
    return out;
  }
  const n = itemCount(items, `${ew}.items`);
  const copy = new Array(n);
  for (let i = 0; i < n; i++) {
    const at = `${ew}.items[${i}]`;
    const item = readAt(items, i, `${ew}.items`);
    copy[i] = item !== null && typeof item === 'object' && !isArray(item, at) ? pick(item, PRODUCT_KEYS, at) : leaf(item, at);
  }
  out.ecommerce.items = copy;
  return out;
}

/** `connectDataLayer`'s argument: the array (by default `window.dataLayer`, created as the
 * gtag and GTM snippets do, `window.dataLayer = window.dataLayer || []`, when there is none). */
export function readDataLayer(v) {
  const where = 'connectDataLayer: dataLayer';
  if (v === undefined) {
    if (typeof window === 'undefined') throw inputError(`${where}: there is no window here; pass the dataLayer array`);
    if (window.dataLayer === undefined) window.dataLayer = [];
    v = window.dataLayer;
  }
  if (!isArray(v, where)) throw inputError(`${where}: expected the page's dataLayer array, got ${typeName(v)}`);
  return v;
}

function isArguments(v) {
  try {
    return Object.prototype.toString.call(v) === '[object Arguments]';
  } catch {
    return false;
  }
}

/** The event to observe for one entry of the dataLayer, or null (not an event of localrank's).
 * A gtag call (`gtag('event', name, params)` pushes its `arguments`) becomes
 * `{ event: name, ecommerce: { items: params.items }, search_term: params.search_term }`. */
function fromPush(x) {
  if (x === null || typeof x !== 'object') return null;
  const where = 'observe: event';
  if (isArguments(x) || isArray(x, where)) {
    const [command, name, params] = [readAt(x, 0, 'gtag'), readAt(x, 1, 'gtag'), readAt(x, 2, 'gtag')];
    if (command !== 'event' || !EVENT_NAMES.includes(name)) return null;
    const e = { event: name };
    if (params !== null && typeof params === 'object') {
      const items = read(params, 'items', `gtag('event', '${name}', params)`);
      const term = read(params, 'search_term', `gtag('event', '${name}', params)`);
      if (items !== undefined) e.ecommerce = { items };
      if (term !== undefined) e.search_term = term;
    }
    return e;
  }
  return EVENT_NAMES.includes(read(x, 'event', where)) ? x : null;
}

/** The kind of a failure, for warning once per kind: its message without quoted texts and
 * numbers (item indices, ids). */
const kindOf = (message) => message.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\d+/g, 'N');
const MAX_WARNINGS = 20;

/**
 * Observes the e-commerce events of `layer` (a GTM/gtag dataLayer): the entries already in it
 * and every later push, through `observe(event)` (which may return a promise). The site's push
 * runs first, with the same `this` and arguments, and its result (or exception) is the push's;
 * each entry is then read and observed in a microtask, and a failure is a console.warn (once
 * per kind), never an exception in the page. Returns `disconnect()`.
 */
export function hookDataLayer(layer, observe) {
  let active = true;
  const warned = new Set();
  const warn = (e) => {
    const message = messageOf(e);
    const kind = kindOf(message);
    if (warned.has(kind) || warned.size >= MAX_WARNINGS) return;
    warned.add(kind);
    console.warn(`localrank: connectDataLayer: a dataLayer event was not observed (${message})`);
  };
  const take = (x) =>
    queueMicrotask(() => {
      if (!active) return;
      try {
        const e = fromPush(x);
        const pending = e === null ? null : observe(e);
        if (pending && typeof pending.then === 'function') pending.then(undefined, warn);
      } catch (err) {
        warn(err);
      }
    });

  const where = 'connectDataLayer: dataLayer';
  let own, original, n;
  try {
    own = Object.getOwnPropertyDescriptor(layer, 'push');
    original = layer.push;
    n = layer.length;
  } catch (e) {
    throw inputError(`${where}: cannot be read (${messageOf(e)})`);
  }
  if (typeof original !== 'function') throw inputError(`${where}.push: expected a function, got ${typeName(original)}`);
  if (own && !('value' in own)) throw inputError(`${where}.push: is a getter; localrank wraps only a plain push`);
  const wrapped = function push() {
    const result = Reflect.apply(original, this, arguments);
    if (active) for (let i = 0; i < arguments.length; i++) take(arguments[i]);
    return result;
  };
  for (let i = 0; i < n; i++) take(readAt(layer, i, where));
  try {
    // The site's own push keeps its attributes; Array.prototype.push is shadowed by a property
    // that `for...in` and Object.keys do not list.
    Object.defineProperty(layer, 'push', own ? { ...own, value: wrapped } : { value: wrapped, writable: true, configurable: true, enumerable: false });
  } catch (e) {
    active = false;
    throw inputError(`${where}.push: cannot be wrapped (${messageOf(e)})`);
  }
  return function disconnect() {
    if (!active) return;
    active = false;
    let current;
    try {
      current = layer.push;
    } catch {
      return;
    }
    // Someone wrapped our push since: it stays in their chain, now only calling the original.
    if (current !== wrapped) return;
    try {
      if (own) Object.defineProperty(layer, 'push', own);
      else delete layer.push;
    } catch {
      // A layer frozen since: ours stays, inactive.
    }
  };
}

// ------------------------------------------------ the backend decision of `device: 'auto'`
//
// The WebGPU build's 'auto' times the backends once per origin and model version (js/localrank.js
// `calibrate`) and keeps the decision in localStorage under `localrank.backend.v1:<name>@<version>`:
// the backend, the timings and the date; nothing of the shopper. A Web Worker has no
// localStorage: the page side of js/worker.js passes the entries in and stores the worker's.
// Here, not in model.js, because the page side of the worker imports only this file.

export const BACKEND_CACHE_PREFIX = 'localrank.backend.v1:';
const MAX_REASON = 400;

/** The localStorage key of the decision for `modelVersion` ('name@version'). */
export const backendCacheKey = (modelVersion) => `${BACKEND_CACHE_PREFIX}${modelVersion}`;

/** The stored decision under `key` (from `get(key)`, a JSON string), if it is well-formed and
 * younger than `maxAgeDays`; anything else is ignored (and recalibrated). */
export function readBackendDecision(get, key, maxAgeDays, now = Date.now()) {
  let d;
  try {
    const text = get(key);
    if (typeof text !== 'string' || text.length > 4096) return null;
    d = JSON.parse(text);
  } catch {
    return null;
  }
  if (!d || typeof d !== 'object' || !['cpu', 'webgpu'].includes(d.backend)) return null;
  const at = Date.parse(d.at);
  if (!Number.isFinite(at) || at > now + 60_000 || now - at > maxAgeDays * 86_400_000) return null;
  if (typeof d.reason !== 'string' || d.reason.length > MAX_REASON) return null;
  const num = (v) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null);
  return {
    backend: d.backend, reason: d.reason, at: new Date(at).toISOString(),
    cpuMs: num(d.cpuMs), webgpuMs: num(d.webgpuMs), webgpuLoadMs: num(d.webgpuLoadMs), ms: num(d.ms),
    events: num(d.events), candidates: num(d.candidates),
  };
}

/** The entry stored for a calibration (the `calibration` a ranker reports, less `cached`). */
export function backendEntry(c) {
  const { backend, reason, at, cpuMs, webgpuMs, webgpuLoadMs, ms, events, candidates } = c;
  return JSON.stringify({ backend, reason, at, cpuMs, webgpuMs, webgpuLoadMs, ms, events, candidates });
}

/** Page side of the worker: the stored decisions, `{ key: json }` (empty without localStorage). */
export function backendCacheSnapshot() {
  const out = {};
  try {
    const s = globalThis.localStorage;
    for (let i = 0; s && i < s.length; i++) {
      const key = s.key(i);
      if (key?.startsWith(BACKEND_CACHE_PREFIX)) out[key] = s.getItem(key);
    }
  } catch {
    // Storage disabled: 'auto' calibrates again.
  }
  return out;
}

/** Stores a decision; storage that is full or disabled only costs a calibration next time. */
export function storeBackendDecision(key, calibration) {
  try {
    globalThis.localStorage?.setItem(key, backendEntry(calibration));
  } catch (e) {
    console.warn(`localrank: the backend decision could not be kept in localStorage (${messageOf(e)})`);
  }
}

/**
 * How `device: 'auto'` decides in the WebGPU build (docs/api.md "Choosing the backend"). A page
 * (or a test) may change these before `create`.
 *  - budgetMs: the calibration's timed reranks, CPU and WebGPU together, stop within this;
 *  - webgpuAboveMs: WebGPU is loaded and timed only when a CPU rerank takes longer than this.
 *    Loading it cannot be bounded (measured on Chromium's software adapter: the load holds the
 *    page's thread 1.6 s and the first rerank of a new session length takes 5 s) and this
 *    model's CPU rerank of 100 candidates is 0.1-1 ms, so below 8 ms (half a 60 Hz frame)
 *    there is nothing for WebGPU to win;
 *  - maxAgeDays: a stored decision older than this is measured again;
 *  - fallbackAdapters: whether a fallback (software) adapter is calibrated at all. Off: measured
 *    on Chromium's SwiftShader (bench/results.json `webgpu_crossover`, 2026-12-07), WebGPU was
 *    20-166x slower (quiet; 23-262x loaded) than the CPU path at every work size, 100 to 5,000 candidates, 5 or 50
 *    events, with and without `explain`; 'auto' takes the CPU without loading WebGPU.
 */
export const calibrationSettings = { budgetMs: 150, webgpuAboveMs: 8, candidates: 100, maxAgeDays: 30, fallbackAdapters: false };

/** `calibrationSettings` as the page passes them to the worker (js/worker.js): the known keys
 * of `given` with a value of the default's type; anything else keeps the default. */
export function applyCalibrationSettings(given) {
  if (!given || typeof given !== 'object') return;
  for (const key of Object.keys(calibrationSettings)) {
    const v = given[key];
    if (typeof v === typeof calibrationSettings[key] && (typeof v !== 'number' || Number.isFinite(v))) calibrationSettings[key] = v;
  }
}
