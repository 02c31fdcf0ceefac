// Fetches the model files that a manifest lists, never more bytes than it lists, from nowhere
// but the model directory.
//
// The manifest is the contract (src/manifest.rs): `inspectManifest` (Rust) has already checked
// its format, config, paths (plain relative paths, no `..`, no scheme) and sizes, and the site's
// pin of it (`integrity`) if given. Here each file's URL is resolved against the model
// directory and must stay under it (same origin, same path prefix), and each download is cut
// off as soon as it passes the size the manifest states: a swapped multi-GB file fails here
// instead of exhausting memory, and no byte is copied into wasm before its size is right.

import { inputError, messageOf } from './input.js';
import { digestHex, openModelCache, readCached, storeCached } from './model-cache.js';

const modelError = (message) => new Error(`localrank: model: ${message}`);

/** The base URL (ending in '/') of the model directory `model`, resolved against the page. */
export function modelBase(model) {
  const here = globalThis.location?.href;
  let url;
  try {
    url = new URL(model.endsWith('/') ? model : `${model}/`, here);
  } catch (e) {
    throw inputError(`create: options.model: ${JSON.stringify(model.slice(0, 200))} is not a URL (${messageOf(e)})`);
  }
  if (!['http:', 'https:'].includes(url.protocol) && url.protocol !== globalThis.location?.protocol) {
    throw inputError(`create: options.model: ${url.protocol} URLs are not supported (http or https)`);
  }
  url.search = '';
  url.hash = '';
  return url;
}

/** `path` (from the manifest) under `base`, or an error if it would leave the directory. */
export function confined(base, path, role) {
  const url = new URL(path, base);
  if (url.origin !== base.origin || !url.pathname.startsWith(base.pathname) || url.search || url.hash) {
    throw modelError(`manifest.json ${role} path ${JSON.stringify(path)} leaves the model directory ${base.href}`);
  }
  return url;
}

/** The body of `url`, at most `cap` bytes (exactly `exact` when given), with progress. `cap`
 * may be a promise (the wasm's limit, still loading): it is needed only once headers arrive. */
export async function fetchCapped(url, { base, name, cap: capOrPromise, exact, onProgress }) {
  let res;
  try {
    res = await fetch(url, { credentials: 'same-origin' });
  } catch (e) {
    throw modelError(`network error fetching ${url} (${messageOf(e)})`);
  }
  const cap = await capOrPromise;
  // A redirect must not lead out of the model directory either.
  if (res.redirected) confined(base, res.url, name);
  if (!res.ok) throw modelError(`HTTP ${res.status} for ${url}`);
  const declared = Number(res.headers.get('content-length'));
  const encoded = res.headers.get('content-encoding');
  if (!encoded && declared > cap) throw tooLarge(name, declared, cap);
  const total = exact ?? (encoded ? 0 : declared || 0);
  const report = (loaded) => safeProgress(onProgress, { stage: 'download', file: name, loaded, total });
  if (!res.body) return checkedBytes(new Uint8Array(await res.arrayBuffer()), name, cap, report);
  const reader = res.body.getReader();
  const chunks = [];
  let loaded = 0;
  report(0);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    loaded += value.length;
    if (loaded > cap) {
      reader.cancel().catch(() => {});
      throw tooLarge(name, loaded, cap);
    }
    chunks.push(value);
    report(loaded);
  }
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) bytes.set(c, (at += c.length) - c.length);
  return bytes;
}

function checkedBytes(bytes, name, cap, report) {
  if (bytes.length > cap) throw tooLarge(name, bytes.length, cap);
  report(bytes.length);
  return bytes;
}

function tooLarge(name, bytes, cap) {
  return modelError(`${name} is at least ${bytes} bytes, over the ${cap} that manifest.json allows: wrong or swapped file?`);
}

/** Progress callbacks are the page's code: one that throws must not fail the download. */
function safeProgress(onProgress, p) {
  try {
    onProgress?.(p);
  } catch {
    // The page's problem, not the model's.
  }
}

/**
 * The three model files as bytes, checked against the manifest's sizes before anything
 * reaches wasm, with their sha256 (`digests`, null where SubtleCrypto is missing) and where each
 * came from (`cached`). `inspect(manifestBytes)` is Rust's `inspectManifest`, bound to the pin.
 * With `cache`, the weights and the tokenizer are read from and kept in the model cache
 * (js/model-cache.js); with a `pin` (create's `integrity`) the manifest too, so that a second
 * visit of a pinning site makes no request for the model at all. `inspect` and `limits` may be
 * asynchronous (create passes them before the wasm is ready: the manifest is read meanwhile).
 */
export async function loadModelFiles(model, { inspect, limits, onProgress, cache: useCache = false, pin }) {
  if (typeof model !== 'string') {
    const files = JSON.parse(await inspect(model.manifest));
    for (const role of ['weights', 'tokenizer']) checkSize(files, role, model[role].length);
    return { ...model, digests: null, cached: null };
  }
  const base = modelBase(model);
  const cache = useCache ? await openModelCache() : null;
  const { manifest, cached: manifestCached } = await loadManifest(base, { cache, pin, limits, onProgress });
  const files = JSON.parse(await inspect(manifest));
  const get = async (role) => {
    const entry = files[role];
    if (!entry) throw modelError(`manifest.json lists no ${role} file`);
    const url = confined(base, entry.path, role);
    const hit = await readCached(cache, url, entry);
    if (hit) {
      safeProgress(onProgress, { stage: 'cache', file: entry.path, loaded: entry.bytes, total: entry.bytes });
      return { ...hit, cached: true };
    }
    const bytes = await fetchCapped(url, { base, name: entry.path, cap: entry.bytes, exact: entry.bytes, onProgress });
    checkSize(files, role, bytes.length);
    const sha256 = await digestHex(bytes);
    await storeCached(cache, url, entry, bytes, sha256);
    return { bytes, sha256, cached: false };
  };
  const [weights, tokenizer] = await Promise.all([get('weights'), get('tokenizer')]);
  if (manifestCached === false && pin) await keepPinnedManifest(cache, base, manifest, pin);
  return {
    manifest,
    weights: weights.bytes,
    tokenizer: tokenizer.bytes,
    digests: weights.sha256 && tokenizer.sha256 ? [weights.sha256, tokenizer.sha256] : null,
    cached: { manifest: manifestCached, weights: weights.cached, tokenizer: tokenizer.cached },
  };
}

/** manifest.json from the cache when the site pins it and it is there, else from the network. */
async function loadManifest(base, { cache, pin, limits, onProgress }) {
  const url = new URL('manifest.json', base);
  const sha256 = cache ? pinHex(pin) : null;
  const hit = sha256 ? await readCached(cache, url, { sha256 }) : null;
  const cap = Promise.resolve(limits).then((l) => l.maxManifestBytes);
  if (hit && hit.bytes.length <= await cap) return { manifest: hit.bytes, cached: true };
  const manifest = await fetchCapped(url, { base, name: 'manifest.json', cap, onProgress });
  return { manifest, cached: false };
}

/** Keeps a pinned manifest once its files loaded (inspectManifest has checked it against the pin). */
async function keepPinnedManifest(cache, base, manifest, pin) {
  const sha256 = pinHex(pin);
  if (sha256) await storeCached(cache, new URL('manifest.json', base), { sha256, bytes: manifest.length }, manifest, await digestHex(manifest));
}

/** create's `integrity` as lowercase hex (64 hex characters or SRI "sha256-<base64>"), or null. */
export function pinHex(pin) {
  if (typeof pin !== 'string') return null;
  const s = pin.trim();
  if (/^[0-9a-fA-F]{64}$/.test(s)) return s.toLowerCase();
  if (!s.startsWith('sha256-')) return null;
  try {
    const raw = atob(s.slice('sha256-'.length));
    if (raw.length !== 32) return null;
    return Array.from(raw, (c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('');
  } catch {
    return null;
  }
}

function checkSize(files, role, length) {
  const entry = files[role];
  if (!entry) throw modelError(`manifest.json lists no ${role} file`);
  if (length !== entry.bytes) {
    throw modelError(`${entry.path} is ${length} bytes, manifest.json says ${entry.bytes} (truncated or wrong file?)`);
  }
}

/** Hex sha256 of each byte array (js/model-cache.js digestHex), or null where any is missing. */
export async function sha256Hex(arrays) {
  const hex = await Promise.all(arrays.map(digestHex));
  return hex.includes(null) ? null : hex;
}
