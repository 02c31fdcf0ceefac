// Seeded generators of valid and hostile arguments for localrank's browser API, used by
// fuzz.test.mjs. The module has no imports: the test serves it to the page, where every input is
// generated (Proxies, getters, cycles and functions cannot cross from Node into the page), and it
// loads in Node as well.
//
// Each input has its own PRNG stream, seeded from (run seed, mode, index), so one input can be
// regenerated alone (LOCALRANK_FUZZ_REPLAY=page:123) without replaying the ones before it. Apart
// from `now` (a fixed date, not the clock) generation reads nothing that changes between runs:
// the demo's candidates and catalogue come from the served data.
//
// Generators return plain data plus, where the test checks a result, what to expect (`expect`).
// Anything hostile they put in is also noted with `r.tag(path, what)`, and the notes are the
// input's description in a failure report.

// ------------------------------------------------------------------ PRNG

/** mulberry32: a tiny, fast 32-bit PRNG; plenty for picking test inputs. */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A 32-bit hash of a string (FNV-1a with a final mix), to derive per-input seeds. */
function hash32(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/** The seed of input `index` of `mode` in the run seeded with `seed` (any number or string). */
export const inputSeed = (seed, mode, index) => hash32(`${seed}:${mode}:${index}`);

/** The random choices of one input, and the notes on what it made hostile. */
export class Rng {
  constructor(seed) {
    this.next = mulberry32(seed);
    this.notes = [];
    // How hostile this input is: 0 all valid, 1 an odd bad field, 2 many. Mixed so that both
    // the success path (results are checked) and the error paths get thousands of inputs.
    this.level = this.weighted([[35, 0], [40, 1], [25, 2]]);
    this.hugeLeft = 1; // at most one huge string per input: 100 MB inputs test nothing more
  }
  float() {
    return this.next();
  }
  int(n) {
    return Math.floor(this.next() * n);
  }
  /** An integer in lo..hi, both included. */
  range(lo, hi) {
    return lo + this.int(hi - lo + 1);
  }
  chance(p) {
    return this.next() < p;
  }
  pick(list) {
    return list[this.int(list.length)];
  }
  /** `[[weight, value], ...]` -> one value (a function value is called). */
  weighted(pairs) {
    let x = this.next() * pairs.reduce((a, [w]) => a + w, 0);
    for (const [w, v] of pairs) {
      if ((x -= w) < 0) return typeof v === 'function' ? v() : v;
    }
    const v = pairs[pairs.length - 1][1];
    return typeof v === 'function' ? v() : v;
  }
  /** Whether to spoil one field: never at level 0, rarely at 1, often at 2. */
  bad(scale = 1) {
    return this.chance([0, 0.04, 0.25][this.level] * scale);
  }
  /** Runs `fn` at another hostility level (e.g. one spoiled item in a clean list). */
  atLevel(level, fn) {
    const saved = this.level;
    this.level = level;
    try {
      return fn();
    } finally {
      this.level = saved;
    }
  }
  shuffle(list) {
    const a = [...list];
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
  tag(path, what) {
    if (this.notes.length < 24) this.notes.push(`${path}=${what}`);
    else if (this.notes.length === 24) this.notes.push('…');
  }
}

/** A short, safe description of a value the generators made (never calls the page's code). */
export function show(v) {
  if (typeof v === 'string') {
    const head = JSON.stringify(v.length > 24 ? v.slice(0, 24) : v);
    return v.length > 24 ? `${head}…(${v.length} chars)` : head;
  }
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'symbol') return 'Symbol()';
  if (typeof v === 'function') return 'a function';
  if (v === null || v === undefined || typeof v === 'boolean') return String(v);
  // A revoked Proxy (one of the generated values, and a duplicate id may pick it) throws even on
  // Array.isArray: the label must not (seed 1796630718193 failed here, in the generator).
  try {
    if (Array.isArray(v)) return `an array(${v.length})`;
  } catch {
    return 'a revoked Proxy';
  }
  return 'an object';
}

// ------------------------------------------------------------------ texts

// Code points that break naive text handling: lone surrogates, emoji and ZWJ sequences, RTL and
// bidi overrides, combining marks, NUL and controls, CJK, BOM, line separators, JSON specials.
const ODD_TEXTS = [
  '\uD800', '\uDFFF', 'a\uD83D', '\uDE00b', '\u{1F600}', '\u{1F469}\u200D\u{1F469}\u200D\u{1F467}\u200D\u{1F466}',
  '\u{1F3F3}\uFE0F\u200D\u{1F308}', '\u0645\u0631\u062D\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645',
  '\u05E9\u05DC\u05D5\u05DD', '\u202Egnp.exe', 'e\u0301\u0302\u0303\u0304', 'Z\u0337\u0322\u031B\u0316a\u0336l\u0335g\u0338o',
  '\0', 'a\0b', '\u6F22\u5B57\u30C6\u30B9\u30C8', '\uD55C\uAD6D\uC5B4', '\uFEFF', '\u200B', '\u2028\u2029', '\r\n\t',
  '\x7F\x01\x1B[31m', '"\\/</script>', '\uFFFD', '\uFFFF', '\u{1D518}\u{1D52B}\u{1D526}', 'NaN', '1e999', '__proto__',
];
const WORDS = ['star', 'wars', 'heat', 'toy', 'story', 'love', 'night', 'space', 'drama', 'the', 'of', 'a'];

/** A short string that is valid as text but odd (unicode edge cases mixed with words). */
function oddText(r) {
  const parts = Array.from({ length: r.range(1, 4) }, () => (r.chance(0.6) ? r.pick(ODD_TEXTS) : r.pick(WORDS)));
  return parts.join(r.pick(['', ' ', '\u200D', '\u0300']));
}

/** 100 KB - 2 MB: a plain letter, a word, or an emoji repeated (the emoji as surrogate pairs). */
function hugeText(r) {
  r.hugeLeft--;
  const unit = r.pick(['a', 'spaceship ', '\u{1F600}', '\u6F22', 'e\u0301', '\uD800']);
  const chars = r.pick([100_000, 500_000, 2_000_000]);
  return unit.repeat(Math.ceil(chars / unit.length));
}

/** A title or category: a real one mostly, else odd, empty, blank or (rarely) huge. */
function text(r, path, real) {
  if (r.hugeLeft > 0 && r.bad(0.04)) {
    const s = hugeText(r);
    r.tag(path, `huge ${show(s)}`);
    return s;
  }
  if (r.bad(0.5)) {
    const s = r.weighted([[5, () => oddText(r)], [1, ''], [1, ' \t\n'], [1, () => real + r.pick(ODD_TEXTS)]]);
    r.tag(path, show(s));
    return s;
  }
  return real;
}

// ------------------------------------------------------------------ wrong types and hostile objects

/** Iteratively built nesting (a recursive builder would itself overflow the stack). */
export function deepObject(depth, key = 'x', array = false) {
  let v = {};
  for (let i = 0; i < depth; i++) v = array ? [v] : { [key]: v };
  return v;
}

function cyclic(r) {
  const o = { id: 'c', title: 'Cyclic' };
  o.self = o;
  if (r.chance(0.5)) o.list = [o, [o]];
  return o;
}

/** Something thrown by a getter or trap: not always an Error. */
function thrownValue(r) {
  return r.weighted([
    [4, () => new Error('boom')],
    [1, () => new TypeError('trap')],
    [1, 'a thrown string'],
    [1, () => Symbol('thrown')],
    [1, undefined],
    [1, null],
    [1, () => ({ get message() { throw new Error('message getter'); } })],
    [1, () => Object.defineProperty(new Error('x'), 'message', { get() { throw new Error('nested'); } })],
    [1, () => { const { proxy, revoke } = Proxy.revocable({}, {}); revoke(); return proxy; }],
  ]);
}

/** A Proxy of `target` whose traps pass through, or throw, or that is already revoked. */
function proxyOf(r, target, path) {
  const kind = r.pick(['transparent', 'get throws', 'ownKeys throws', 'has throws', 'descriptor throws', 'prototype throws', 'revoked']);
  r.tag(path, `Proxy(${kind})`);
  const thrower = () => { throw thrownValue(r); };
  switch (kind) {
    case 'transparent': return new Proxy(target, {});
    case 'get throws': return new Proxy(target, { get: thrower });
    case 'ownKeys throws': return new Proxy(target, { ownKeys: thrower });
    case 'has throws': return new Proxy(target, { has: thrower });
    case 'descriptor throws': return new Proxy(target, { getOwnPropertyDescriptor: thrower });
    case 'prototype throws': return new Proxy(target, { getPrototypeOf: thrower });
    default: {
      const { proxy, revoke } = Proxy.revocable(target, {});
      revoke();
      return proxy;
    }
  }
}

/** A value of a wrong type for any field (or for a whole argument). */
export function junk(r, path) {
  const [what, make] = r.pick([
    ['null', () => null],
    ['undefined', () => undefined],
    ['NaN', () => NaN],
    ['Infinity', () => Infinity],
    ['-Infinity', () => -Infinity],
    ['-0', () => -0],
    ['0', () => 0],
    ['1.5', () => 1.5],
    ['2^53+2', () => 2 ** 53 + 2],
    ['1e308', () => 1e308],
    ['-1e308', () => -1e308],
    ['5e-324', () => 5e-324],
    ['BigInt', () => 12345678901234567890n],
    ['Symbol', () => Symbol('s')],
    ['function', () => function named() {}],
    ['class', () => class K {}],
    ['true', () => true],
    ['false', () => false],
    ['[]', () => []],
    ['[1,"a",null]', () => [1, 'a', null]],
    ['{}', () => ({})],
    ['null-prototype object', () => Object.create(null)],
    ['Date', () => new Date(0)],
    ['RegExp', () => /x/g],
    ['Map', () => new Map([['id', '1']])],
    ['Uint8Array', () => new Uint8Array(8)],
    ['boxed String', () => new String('boxed')],
    ['boxed Number', () => new Number(7)],
    ['Promise', () => Promise.resolve('later')],
    ['Error object', () => new Error('an error as a value')],
    ['object whose toString throws', () => ({ toString() { throw new Error('toString'); }, valueOf() { throw new Error('valueOf'); } })],
    ['object with Symbol.toPrimitive', () => ({ [Symbol.toPrimitive]: () => 'prim' })],
    ['deep object (1,000)', () => deepObject(1000)],
    ['deep object (100,000)', () => deepObject(100_000)],
    ['deep array (100,000)', () => deepObject(100_000, 'x', true)],
    ['cyclic object', () => cyclic(r)],
    ['revoked Proxy', () => { const { proxy, revoke } = Proxy.revocable({}, {}); revoke(); return proxy; }],
    ['Proxy whose get throws', () => new Proxy({}, { get() { throw new Error('trap'); } })],
    ['empty string', () => ''],
    ['odd text', () => oddText(r)],
    ['numeric string', () => r.pick(['19.99', ' 7 ', '0x10', '-0', '1e999', 'Infinity', ''])],
  ]);
  r.tag(path, what);
  return make();
}

/**
 * Sets `obj[key] = value`, or (when spoiling) installs a getter in its place: one that throws,
 * one that gives junk and the value on alternate reads (a value checked on one read and used
 * from another would slip through), or one that calls
 * back into the ranker (`env.reenter`) before giving the value (re-entrancy). Returns the kind
 * of getter installed, or null.
 */
function put(r, obj, key, value, path, env, { reentrant = false } = {}) {
  if (r.bad(0.25)) {
    const kind = r.pick(['throws', 'flip-flop', ...(env.reenter ? ['re-enters'] : [])]);
    r.tag(`${path}.${key}`, `getter(${kind})`);
    let reads = 0;
    const get = {
      throws: () => { throw thrownValue(r); },
      'flip-flop': () => (reads++ % 2 ? value : junk(r, `${path}.${key}#2`)),
      're-enters': () => { env.reenter(); return value; },
    }[kind];
    Object.defineProperty(obj, key, { get, enumerable: true, configurable: true });
    return kind;
  }
  if (reentrant) {
    // The getter re-enters the ranker and gives a valid value: the call must come out as the
    // same call without the getter would (fuzz.test.mjs compares it with a plain twin).
    r.tag(`${path}.${key}`, 'getter(re-enters, then valid)');
    Object.defineProperty(obj, key, { get: () => (env.reenter(), value), enumerable: true, configurable: true });
    return 're-enters';
  }
  obj[key] = value;
  return null;
}

/** A valid value for the field, or (when spoiling) a wrong type in its place. */
function field(r, path, valid) {
  return r.bad() ? junk(r, path) : valid();
}

/** Sometimes spoils a whole argument: a Proxy of it (passing, throwing or revoked), a cycle, a
 * deep unknown field, frozen, null prototype, or an unknown key (where unknown keys are errors). */
function wrap(r, obj, path, { unknownOk = false } = {}) {
  if (!r.bad(0.4)) return obj;
  return r.weighted([
    [3, () => proxyOf(r, obj, path)],
    [1, () => { obj.self = obj; r.tag(path, 'cyclic (self field)'); return obj; }],
    [1, () => { obj.extra = deepObject(r.pick([1000, 100_000])); r.tag(path, 'deep extra field'); return obj; }],
    [1, () => { Object.freeze(obj); r.tag(path, 'frozen'); return obj; }],
    // (Descriptors, not Object.assign: that would run the getters put() installed.)
    [1, () => { r.tag(path, 'null prototype'); return Object.create(null, Object.getOwnPropertyDescriptors(obj)); }],
    [unknownOk ? 0 : 1, () => {
      // An own key named __proto__ (as JSON.parse makes it), or a typo of a known one.
      const key = r.pick(['__proto__', 'topk', 'Id', 'constructor', 'extra']);
      Object.defineProperty(obj, key, { value: 1, enumerable: true, configurable: true, writable: true });
      r.tag(path, `unknown field ${key}`);
      return obj;
    }],
  ]);
}

// ------------------------------------------------------------------ ids, events, candidates

const NOW = Date.UTC(2025, 0, 1); // fixed, so that a seed regenerates the same inputs

/** A product id: the real one (as a string or a number), or odd, or of a wrong type. */
function productId(r, path, real) {
  if (r.bad(0.6)) {
    const v = r.weighted([
      [3, () => junk(r, path)],
      [2, () => { const s = oddText(r); r.tag(path, show(s)); return s; }],
      [1, () => { const n = r.pick([0, -0, 1e21, 1.5, -7, 2 ** 53, 5e-324]); r.tag(path, show(n)); return n; }],
      [1, () => { r.tag(path, '300-character id'); return 'i'.repeat(300); }],
    ]);
    return v;
  }
  return r.chance(0.15) ? Number(real) : real;
}

/** `String(id)` as the result must carry it, or undefined when no valid id is expected. */
function expectedId(v) {
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : undefined;
  return typeof v === 'string' ? v : undefined;
}

export const EVENT_NAMES = ['view_item', 'select_item', 'add_to_cart', 'purchase', 'search'];

/** One of `values` (odd but of the right type), noted. */
function odd(r, path, values) {
  const v = r.pick(values);
  r.tag(path, show(v));
  return v;
}

function timestamp(r, path) {
  if (r.bad(0.5)) return odd(r, path, [0, -5, NOW + 30 * 365.25 * 864e5, 1e20, -0, 8.64e15, 8.64e15 + 1, 1.5]);
  return NOW - r.int(30 * 864e5);
}

/** A shopper event: flat, GA4-shaped (`ecommerce.items`), search, or not an object at all. */
export function event(r, env) {
  const item = r.pick(env.catalog);
  const shape = r.weighted([[6, 'flat'], [3, 'ga4'], [2, 'search'], [r.level ? 1 : 0, 'junk']]);
  if (shape === 'junk') return junk(r, 'event');
  const e = {};
  const name = r.bad(0.3)
    ? odd(r, 'event.event', ['View_Item', 'teleport', '', 'view_item ', 'x'.repeat(100), 'view_item\0'])
    : field(r, 'event.event', () => (shape === 'search' ? 'search' : r.pick(EVENT_NAMES)));
  put(r, e, 'event', name, 'event', env);
  if (shape === 'search') {
    const key = r.chance(0.7) ? 'query' : 'search_term';
    put(r, e, key, field(r, `event.${key}`, () => text(r, `event.${key}`, r.pick(WORDS) + ' ' + r.pick(WORDS))), 'event', env);
  } else if (shape === 'ga4') {
    e.ecommerce = ga4Ecommerce(r, item, env);
  } else {
    // Aliases: GA4 field names on a flat event are read too.
    put(r, e, r.chance(0.8) ? 'id' : 'item_id', productId(r, 'event.id', item.id), 'event', env);
    put(r, e, r.pick(['title', 'title', 'item_name', 'name']), field(r, 'event.title', () => text(r, 'event.title', item.title)), 'event', env);
    if (r.chance(0.8)) put(r, e, r.chance(0.8) ? 'category' : 'item_category', field(r, 'event.category', () => text(r, 'event.category', item.category)), 'event', env);
    if (r.chance(0.3)) put(r, e, 'price', field(r, 'event.price', () => r.pick([19.99, '19.99', 0, '0.5'])), 'event', env);
  }
  if (r.chance(0.5)) put(r, e, 'timestamp', field(r, 'event.timestamp', () => timestamp(r, 'event.timestamp')), 'event', env);
  if (r.chance(0.3)) put(r, e, 'dwellMs', field(r, 'event.dwellMs', () => (r.bad() ? odd(r, 'event.dwellMs', [-1, NaN, 1e300]) : r.int(60_000))), 'event', env);
  return wrap(r, e, 'event');
}

/** `{ currency, value, items: [{ item_id, item_name, item_category, price: '19.99' }] }`. */
function ga4Ecommerce(r, item, env) {
  if (r.bad(0.3)) return junk(r, 'event.ecommerce');
  const first = {};
  put(r, first, 'item_id', productId(r, 'event.ecommerce.items[0].item_id', item.id), 'items[0]', env);
  put(r, first, 'item_name', field(r, 'items[0].item_name', () => text(r, 'items[0].item_name', item.title)), 'items[0]', env);
  put(r, first, 'item_category', field(r, 'items[0].item_category', () => text(r, 'items[0].item_category', item.category)), 'items[0]', env);
  first.price = r.bad() ? junk(r, 'items[0].price') : r.pick(['19.99', 19.99, '1,99', ' 3 ']);
  first.quantity = 1;
  let items = [wrap(r, first, 'event.ecommerce.items[0]', { unknownOk: true })];
  if (r.chance(0.3)) items.push({ item_id: r.pick(env.catalog).id, item_name: 'Second item' });
  if (r.bad(0.3)) {
    const [what, odd] = r.pick([['[]', []], ['[null]', [null]], ['[undefined]', [undefined]], ['3 holes', new Array(3)], ['a string', 'items'], ['array-like object', { 0: first, length: 1 }]]);
    r.tag('event.ecommerce.items', what);
    items = odd;
  }
  return wrap(r, { currency: 'USD', value: 19.99, items }, 'event.ecommerce', { unknownOk: true });
}

/**
 * One spoiled candidate: `{ value, id, plain }` (`id` as generated; `plain`: whether the id
 * is a plain property, so that a success must give it back). `earlier`: the ids before it.
 */
function candidate(r, env, i, real, earlier) {
  const at = `candidates[${i}]`;
  const c = {};
  let id = productId(r, `${at}.id`, real.id);
  if (earlier.length && r.bad(0.3)) {
    // A duplicate id, sometimes as a number where the first was a string ("7" and 7).
    const twin = r.pick(earlier);
    id = typeof twin === 'string' && r.chance(0.5) && /^\d+$/.test(twin) ? Number(twin) : twin;
    r.tag(`${at}.id`, `duplicate ${show(id)}`);
  }
  const idKey = r.chance(0.9) ? 'id' : 'item_id';
  put(r, c, idKey, id, at, env);
  const plain = !Object.getOwnPropertyDescriptor(c, idKey).get;
  const titleKey = r.chance(0.9) ? 'title' : r.pick(['item_name', 'name']);
  put(r, c, titleKey, field(r, `${at}.title`, () => text(r, `${at}.title`, real.title)), at, env);
  if (r.chance(0.9)) put(r, c, r.chance(0.9) ? 'category' : 'item_category', field(r, `${at}.category`, () => text(r, `${at}.category`, real.category)), at, env);
  if (r.chance(0.2)) c.popularity = r.bad() ? odd(r, `${at}.popularity`, [-1, NaN, Infinity, 1e39, '5']) : r.int(1000);
  if (r.chance(0.1)) c.price = field(r, `${at}.price`, () => '19.99');
  const value = wrap(r, c, at, { unknownOk: true });
  return { value, id, plain: plain && value === c };
}

/**
 * A candidate list and what a successful rerank must return: `ids` (the input ids as strings,
 * in server order) when every id is a plain value, and `n`. Mostly 0-120 real candidates;
 * rarely up to the catalogue (1,682), synthetic ones up to 5,000, or 5,001-6,000 (too many).
 */
export function candidates(r, env) {
  if (r.level && r.chance(0.03)) return { value: junk(r, 'candidates'), ids: null, n: null };
  const size = r.weighted([
    [60, () => r.range(1, 100)],
    [10, () => r.range(100, 120)],
    [6, 0],
    [r.level === 2 ? 1 : 0.2, () => r.range(200, env.catalog.length)],
    [0.15, () => r.range(1700, 5000)],
    [0.15, () => r.range(5001, 6000)],
  ]);
  const pool = size <= env.candidates.length && r.chance(0.8) ? r.shuffle(env.candidates) : env.catalog;
  // Which items are spoiled: none at level 0, about one at level 1, a few at level 2 (one bad
  // item already decides the outcome, so spoiling all of a long list would test only the first).
  const spoiled = new Set(Array.from({ length: [0, 1, r.range(2, 6)][r.level] }, () => r.int(size)));
  const list = [];
  const ids = [];
  const rawIds = []; // the id values as generated (never read back from a possibly hostile list)
  let plainIds = true;
  for (let i = 0; i < size; i++) {
    const real = i < pool.length ? pool[i] : { id: `s${i}`, title: `${pool[i % pool.length].title} #${i}`, category: pool[i % pool.length].category };
    if (!spoiled.has(i)) {
      list.push(r.chance(0.1) ? { item_id: real.id, item_name: real.title, item_category: real.category } : { id: real.id, title: real.title, category: real.category });
      rawIds.push(real.id);
      ids.push(real.id);
      continue;
    }
    const { value, id, plain } = r.atLevel(2, () => candidate(r, env, i, real, rawIds));
    list.push(value);
    rawIds.push(id);
    ids.push(expectedId(id));
    if (!plain) plainIds = false;
  }
  if (size >= 200) r.tag('candidates', `${size} items`);
  const expect = { ids: plainIds && ids.every((x) => x !== undefined) ? ids : null, n: size };
  // The list itself: an array mostly; else a Proxy of it (reads pass or throw), or sparse.
  let value = list;
  if (r.bad(0.2)) {
    value = r.weighted([
      [3, () => proxyOf(r, list, 'candidates')],
      [1, () => { r.tag('candidates', 'holes'); const a = [...list]; a.length += 2; return a; }],
      [1, () => { r.tag('candidates', 'lying length Proxy'); return new Proxy(list, { get: (t, k) => (k === 'length' ? r.pick([1e7, -1, 1.5, NaN, 2 ** 32]) : t[k]) }); }],
    ]);
    expect.ids = null;
  }
  return { value, ...expect };
}

const DEVICES = ['desktop', 'mobile', 'tablet'];
const PAGE_TYPES = ['home', 'search', 'category', 'product', 'cart', 'checkout'];

/**
 * A page context (often absent), each field valid or not. `reentrant` puts a getter that
 * re-enters the ranker (and then gives a valid value) on one field.
 */
export function context(r, env, { reentrant = false } = {}) {
  if (!reentrant && r.chance(0.15)) return r.bad(2) ? junk(r, 'context') : r.pick([undefined, null]);
  const ctx = {};
  const fields = {
    timestamp: () => timestamp(r, 'context.timestamp'),
    hour: () => (r.bad() ? odd(r, 'context.hour', [24, -1, 1.5, 23.0000001]) : r.range(0, 23)),
    weekday: () => (r.bad() ? odd(r, 'context.weekday', [7, -1, 0.5]) : r.range(0, 6)),
    device: () => (r.bad() ? odd(r, 'context.device', ['phone', '', 'DESKTOP']) : r.pick(DEVICES)),
    pageType: () => (r.bad() ? odd(r, 'context.pageType', ['landing', '', 'x'.repeat(70)]) : r.pick(PAGE_TYPES)),
    category: () => (r.chance(0.3) ? null : text(r, 'context.category', r.pick(env.catalog).category.split(' / ')[0])),
    promotion: () => r.chance(0.5),
    query: () => (r.chance(0.3) ? null : text(r, 'context.query', `${r.pick(WORDS)} ${r.pick(WORDS)}`)),
  };
  const keys = Object.keys(fields).filter(() => r.chance(0.4));
  if (reentrant && !keys.length) keys.push('pageType');
  const reenterAt = reentrant ? r.pick(keys) : null;
  for (const k of keys) {
    put(r, ctx, k, k === reenterAt ? fields[k]() : field(r, `context.${k}`, fields[k]), 'context', env, { reentrant: k === reenterAt });
  }
  return reentrant ? ctx : wrap(r, ctx, 'context');
}

/** Rerank options (often absent) and the topK a success must honour. `reentrant` makes
 * `explain: true` a getter that re-enters the ranker (explain returns the ids wasm read). */
export function options(r, env, { reentrant = false } = {}) {
  if (!reentrant && r.chance(0.3)) return { value: r.bad(2) ? junk(r, 'options') : r.pick([undefined, null, {}]), topK: null, explain: false };
  const o = {};
  let topK = null; // what a success must honour: null none, undefined unknown
  let explain = false;
  if (r.chance(0.35)) {
    const v = field(r, 'options.topK', () => (r.bad() ? odd(r, 'options.topK', [0, -1, 1.5, 2 ** 32, 2 ** 53, 1e300]) : r.range(1, 150)));
    const getter = put(r, o, 'topK', v, 'options', env);
    // Valid topK values are whole numbers >= 1 (others must fail the call); a flip-flop
    // getter gives another value when read, so then the length is not checked.
    topK = getter === 'flip-flop' ? undefined : Number.isInteger(v) && v >= 1 ? v : null;
  }
  if (r.chance(0.3)) put(r, o, 'personalization', field(r, 'options.personalization', () => (r.bad() ? odd(r, 'options.personalization', [-0.1, 1.0000001, 2]) : r.float())), 'options', env);
  if (r.chance(0.25)) put(r, o, 'longTail', field(r, 'options.longTail', () => (r.bad() ? odd(r, 'options.longTail', [-1, 1.5]) : r.float())), 'options', env);
  if (reentrant || r.chance(0.15)) {
    const v = reentrant ? true : field(r, 'options.explain', () => true);
    explain = v === true && put(r, o, 'explain', v, 'options', env, { reentrant }) !== 'flip-flop';
  }
  return { value: reentrant ? o : wrap(r, o, 'options'), topK, explain };
}

// ------------------------------------------------------------------ sessions

/** A stored event as exportSession writes it (src/features.rs `Event`). */
function storedEvent(r, env) {
  const item = r.pick(env.catalog);
  const kind = r.pick(EVENT_NAMES);
  return {
    kind,
    item_id: kind === 'search' ? null : item.id,
    title: r.hugeLeft > 0 && r.chance(0.01) ? hugeTitle(r) : item.title,
    category: item.category,
    price: r.chance(0.2) ? 19.99 : null,
    timestamp_ms: NOW - r.int(864e5),
    dwell_ms: r.chance(0.3) ? r.int(60_000) : null,
    query: kind === 'search' ? 'star wars' : null,
  };
}

/** A huge title in a stored session (importSession does not go through js/input.js's cut). */
function hugeTitle(r) {
  const s = hugeText(r);
  r.tag('session event title', `huge ${show(s)}`);
  return s;
}

/** Where the first `"title":"..."` of a session's JSON starts and ends ([i, i] if none). A loop,
 * not a regex: a backtracking `(?:[^"\\]|\\.)*` overflowed V8's stack on a multi-megabyte title
 * (`hugeTitle`; seed 1796688189844, page mode, 2026-12-07). */
function titleSpan(s) {
  const key = '"title":"';
  const start = s.indexOf(key);
  if (start < 0) return [0, 0];
  let i = start + key.length;
  while (i < s.length && s[i] !== '"') i += s[i] === '\\' ? 2 : 1;
  return [start, Math.min(i + 1, s.length)];
}

/** Ways to spoil exportSession's text: each is `(text, r) => text`. */
const MANGLE = {
  truncated: (s, r) => s.slice(0, r.int(s.length)),
  'a char replaced': (s, r) => { const i = r.int(s.length); return s.slice(0, i) + r.pick(['"', ']', '}', ',', '\uD800', '\0', 'x']) + s.slice(i + 1); },
  'trailing garbage': (s, r) => s + r.pick([' x', ']', ',{}', '\0']),
  'BOM prefix': (s) => '\uFEFF' + s,
  'unknown kind': (s) => s.replace(/"kind":"[a-z_]+"/, '"kind":"teleport"'),
  'title removed': (s) => { const [a, b] = titleSpan(s); return s.slice(0, a) + s.slice(s[b] === ',' ? b + 1 : b); },
  'timestamp as text': (s) => s.replace(/"timestamp_ms":[-0-9.e+]+/, '"timestamp_ms":"soon"'),
  'timestamp 1e999': (s) => s.replace(/"timestamp_ms":[-0-9.e+]+/, '"timestamp_ms":1e999'),
  'nested in an object': (s) => `{"events":${s}}`,
  'deep [[[ (100,000)': () => '['.repeat(100_000),
  'deep [[[ ]]] (10,000)': () => '['.repeat(10_000) + ']'.repeat(10_000),
  'null': () => 'null',
  'empty text': () => '',
  'an object': () => '{}',
  'a number': () => '1e999',
  'extra field': (s) => s.replace(/"kind"/, '"extra":{"a":[1,2]},"kind"'),
  'blank title': (s) => { const [a, b] = titleSpan(s); return a === b ? s : `${s.slice(0, a)}"title":"   "${s.slice(b)}`; },
};

/**
 * importSession's argument: a valid session (synthesised, `[]`, or the ranker's current one:
 * `{ current: true }`, filled in by the test), one of those mangled, or not a string.
 */
export function sessionArg(r, env) {
  if (r.level && r.chance(0.15)) return { value: junk(r, 'importSession(json)') };
  if (r.chance(0.005)) {
    r.tag('importSession(json)', 'over 32 MiB');
    return { value: ' '.repeat((32 << 20) + 1) };
  }
  const source = r.weighted([[5, 'synthetic'], [3, 'current'], [1, 'empty']]);
  const mangle = r.level ? r.chance(0.6) : r.chance(0.1);
  const how = mangle ? r.pick(Object.keys(MANGLE)) : null;
  const cut = r.float(); // decides the positions MANGLE uses, the same for a current session
  if (how) r.tag('importSession(json)', `${source} session, ${how}`);
  else r.tag('importSession(json)', `${source} session`);
  const apply = (s) => {
    if (!how) return s;
    const local = new Rng((cut * 2 ** 32) >>> 0);
    return MANGLE[how](s, local);
  };
  if (source === 'current') return { current: true, apply };
  const events = source === 'empty' ? [] : Array.from({ length: r.range(1, 60) }, () => storedEvent(r, env));
  return { value: apply(JSON.stringify(events)) };
}

// ------------------------------------------------------------------ create options

/**
 * LocalRanker.create / LocalRankerWorker.create options. Mostly wrong somewhere (each create of
 * a valid one loads a 2 MB model); `loads` says whether this one is expected to get that far.
 */
export function createOptions(r, env, mode) {
  if (r.chance(0.1)) return { value: junk(r, 'create(options)') };
  const o = { model: '/models/', device: 'cpu' };
  const spoil = () => r.chance(0.35);
  if (spoil()) {
    o.model = r.weighted([
      [3, () => junk(r, 'options.model')],
      [1, () => { const m = r.pick(['/nope/', 'http://127.0.0.1:9/models/', 'javascript:alert(1)', 'data:,x', 'http://[', '', 'x'.repeat(3000), '/models/manifest.json#x']); r.tag('options.model', show(m)); return m; }],
      [mode === 'page' && env.modelBytes ? 2 : 0, () => modelBytes(r, env)],
    ]);
  }
  if (spoil()) o.device = r.chance(0.5) ? junk(r, 'options.device') : (r.tag('options.device', 'webgpu/auto/GPU'), r.pick(['webgpu', 'auto', 'GPU']));
  if (r.chance(0.3)) o.maxSession = r.chance(0.5) ? r.pick([1, 2, 50, 1000, 10_000]) : (r.tag('options.maxSession', 'bad'), r.pick([0, -1, 1.5, 10_001, NaN, '5', 1e300]));
  if (r.chance(0.2)) o.persist = r.chance(0.5) ? r.chance(0.5) : junk(r, 'options.persist');
  if (r.chance(0.15)) o.remember = r.chance(0.3) ? true : rememberArg(r, 'options.remember');
  if (r.chance(0.15)) o.integrity = r.chance(0.3) ? junk(r, 'options.integrity') : (r.tag('options.integrity', 'wrong pin'), r.pick(['0'.repeat(64), 'sha256-AAAA', 'md5-x', '']));
  if (r.chance(0.2)) {
    o.onProgress = r.weighted([[2, () => () => {}], [2, () => () => { throw new Error('progress callback threw'); }], [1, () => junk(r, 'options.onProgress')]]);
    if (typeof o.onProgress === 'function') r.tag('options.onProgress', 'a function (maybe throwing)');
  }
  if (mode === 'worker' && r.chance(0.25)) {
    // Where worker.js is: a wrong type, a page that is no worker, or a module that never answers.
    o.workerUrl = r.weighted([
      [2, () => junk(r, 'options.workerUrl')],
      [1, () => { const u = r.pick(['/nope.js', '/models/manifest.json', 'http://[', '/app.js']); r.tag('options.workerUrl', show(u)); return u; }],
      [0.3, () => { r.tag('options.workerUrl', '/pkg/localrank.js (a module that never answers)'); return '/pkg/localrank.js'; }],
    ]);
  }
  if (mode === 'worker' && r.chance(0.1)) o.onRequest = r.chance(0.5) ? () => { throw new Error('onRequest threw'); } : junk(r, 'options.onRequest');
  if (r.bad(0.5)) {
    const k = r.pick(['devcie', 'models', 'extra']);
    o[k] = r.chance(0.5) ? 1 : deepObject(100_000);
    r.tag(`options.${k}`, 'unknown field');
  }
  return { value: wrap(r, o, 'create(options)', { unknownOk: true }) };
}

/** `remember` / setRemember's argument: false, small bounds (every observe then rewrites the
 * stored events: a small store keeps that cheap), out-of-range bounds or junk. */
function rememberArg(r, path) {
  return r.weighted([
    [2, () => false],
    [3, () => { const v = { days: r.range(1, 365), maxEvents: r.range(1, 20) }; r.tag(path, JSON.stringify(v)); return v; }],
    [1, () => { const v = r.pick([{ days: 0 }, { maxEvents: 5001 }, { days: 1.5 }, { maxEvents: '5' }, { days: 1, extra: 1 }]); r.tag(path, show(v)); return v; }],
    [1, () => junk(r, path)],
  ]);
}

/** The model as bytes: the real files (fetched once by the test) or some of them spoiled. */
function modelBytes(r, env) {
  const { manifest, weights, tokenizer } = env.modelBytes;
  const how = r.pick(['real', 'manifest garbage', 'weights truncated', 'tokenizer empty', 'weights not bytes', 'an ArrayBuffer']);
  r.tag('options.model', `bytes (${how})`);
  switch (how) {
    case 'real': return { manifest, weights, tokenizer };
    case 'manifest garbage': return { manifest: new TextEncoder().encode(r.pick(['{', '[]', '{"name":"x"}', '\0\0'])), weights, tokenizer };
    case 'weights truncated': return { manifest, weights: weights.subarray(0, r.int(weights.length)), tokenizer };
    case 'tokenizer empty': return { manifest, weights, tokenizer: new Uint8Array(0) };
    case 'weights not bytes': return { manifest, weights: Array.from(weights.subarray(0, 16)), tokenizer };
    default: return { manifest: manifest.buffer, weights, tokenizer };
  }
}

// ------------------------------------------------------------------ one input

/**
 * One call to make: `{ op, args, expect, desc }`. `env`: `{ candidates, catalog, mode,
 * reenter, modelBytes }` (reenter: a function the re-entrant getters call; null in worker mode
 * when there is nothing to re-enter).
 */
export function generateInput(r, env) {
  const op = r.weighted([
    [30, 'observe'],
    [36, 'rerank'],
    [4, 'exportSession'],
    [10, 'importSession'],
    [3, 'clear'],
    [4, 'setPersist'],
    [2, 'setRemember'],
    [env.mode === 'worker' ? 2 : 0.7, 'create'],
  ]);
  const input = { op, args: [], expect: {}, notes: r.notes };
  switch (op) {
    case 'observe':
      input.args = [event(r, env)];
      break;
    case 'rerank': {
      // Now and then a getter on the context or options re-enters rerank with the same
      // candidates in another order (a page re-rendering from inside a getter). Otherwise
      // such an input is clean, so that a plain twin of it must give the same order.
      const reentrant = Boolean(env.reenter) && r.chance(0.03);
      if (reentrant) r.level = 0;
      const list = candidates(r, env);
      if (reentrant) input.reenterWith = r.shuffle(list.value);
      const inContext = reentrant && r.chance(0.5);
      const ctx = context(r, env, { reentrant: inContext });
      const opts = options(r, env, { reentrant: reentrant && !inContext });
      input.args = [list.value, ctx, opts.value];
      input.expect = { ids: list.ids, n: list.n, topK: opts.topK, explain: opts.explain };
      // A plain twin (same arguments, no getters): its order is the reference for the
      // re-entrant call, and for a topK call the full order whose prefix it must be.
      input.twin = (reentrant || (opts.topK !== null && !r.level && r.chance(0.3))) && list.ids ? twinArgs(list.value, ctx, opts.value) : null;
      break;
    }
    case 'importSession':
      input.session = sessionArg(r, env);
      break;
    case 'setPersist':
      input.args = [r.chance(0.8) ? r.chance(0.5) : junk(r, 'setPersist(on)')];
      break;
    case 'setRemember':
      input.args = [rememberArg(r, 'setRemember(on)')];
      break;
    case 'create':
      input.args = [createOptions(r, env, env.mode).value];
      break;
    default:
      break;
  }
  input.desc = `${op}(${summary(input)})${r.notes.length ? ' | ' + r.notes.join('; ') : ''}`;
  return input;
}

/** Copies of rerank's arguments with every getter read once (they are plain values by then). */
function twinArgs(list, ctx, opts) {
  const plain = (o) => (o && typeof o === 'object' ? Object.fromEntries(Object.keys(o).map((k) => [k, o[k]])) : o);
  // Reading the getters here would re-enter the ranker now: take the values lazily, at twin time.
  return () => [list.map(plain), plain(ctx), plain(opts)];
}

function summary(input) {
  switch (input.op) {
    case 'rerank': {
      const { n, topK, explain } = input.expect;
      return [`${n ?? '?'} candidates`, topK !== null && `topK ${topK ?? "?"}`, explain && 'explain', input.reenterWith && 're-entrant'].filter(Boolean).join(', ');
    }
    case 'setPersist': return typeof input.args[0] === 'boolean' ? String(input.args[0]) : 'see notes';
    case 'setRemember': return typeof input.args[0] === 'boolean' ? String(input.args[0]) : 'see notes';
    default: return '';
  }
}
