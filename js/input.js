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

/** A finite number; with `numericStrings`, also a string such as "19.99" (GA4 prices). */
function number(v, where, numericStrings = false) {
  if (absent(v)) return undefined;
  if (numericStrings && typeof v === 'string' && v.trim() !== '' && v.length < 64) v = Number(v);
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

/** The product fields of an event or candidate, aliases mapped (GA4 item names included). */
function product(obj, where, limits) {
  const [idKey, idValue] = first(obj, ['id', 'item_id'], where);
  const [titleKey, titleValue] = first(obj, ['title', 'item_name', 'name'], where);
  const [categoryKey, categoryValue] = first(obj, ['category', 'item_category'], where);
  return {
    id: id(idValue, `${where}.${idKey}`, limits.maxIdBytes),
    title: text(titleValue, `${where}.${titleKey}`, limits.maxTextBytes),
    category: text(categoryValue, `${where}.${categoryKey}`, limits.maxTextBytes),
    price: number(read(obj, 'price', where), `${where}.price`, true),
  };
}

const utf8 = new TextEncoder();

/** One shopper event as JSON bytes. Also reads the GA4 shape a storefront pushes to its
 * dataLayer: `{ event, ecommerce: { items: [{ item_id, item_name, item_category, price }] } }`
 * (the first item is the product). */
export function readEvent(e, limits) {
  const where = 'observe: event';
  object(e, where, "an object such as { event: 'view_item', id, title }");
  let source = e;
  const ecommerce = read(e, 'ecommerce', where);
  if (!absent(ecommerce) && absent(read(e, 'id', where)) && absent(read(e, 'item_id', where))) {
    const items = read(object(ecommerce, `${where}.ecommerce`, 'an object { items: [...] }'), 'items', `${where}.ecommerce`);
    if (isArray(items, `${where}.ecommerce.items`) && read(items, 'length', `${where}.ecommerce.items`) > 0) {
      source = object(read(items, 0, `${where}.ecommerce.items`), `${where}.ecommerce.items[0]`, 'an object { item_id, item_name }');
    }
  }
  const [queryKey, queryValue] = first(e, ['query', 'search_term'], where);
  const out = {
    event: text(read(e, 'event', where), `${where}.event`, 64),
    ...product(source, source === e ? where : `${where}.ecommerce.items[0]`, limits),
    timestamp: number(read(e, 'timestamp', where), `${where}.timestamp`),
    dwellMs: number(read(e, 'dwellMs', where), `${where}.dwellMs`),
    query: text(queryValue, `${where}.${queryKey}`, limits.maxTextBytes),
  };
  return utf8.encode(JSON.stringify(out));
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
    const { id: cid, title, category } = product(c, at, limits);
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
  return { json: utf8.encode(JSON.stringify(out)), explain: out.explain };
}

const CREATE_FIELDS = ['model', 'device', 'maxSession', 'persist', 'integrity', 'onProgress'];

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
    integrity: text(field('integrity'), `${where}.integrity`, 128),
    onProgress,
    extra: Object.fromEntries(extraKeys.map((k) => [k, field(k)])),
  };
}

/** An optional function (a callback of the page's). */
export function callback(v, where) {
  if (absent(v)) return undefined;
  if (typeof v !== 'function') throw inputError(`${where}: expected a function, got ${typeName(v)}`);
  return v;
}

/** An absolute URL from a string or URL resolved against the page, or a named error. */
export function resolveUrl(v, where) {
  if (!(typeof v === 'string' || v instanceof URL)) throw inputError(`${where}: expected a URL string, got ${typeName(v)}`);
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
