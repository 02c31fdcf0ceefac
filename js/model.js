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

/** The body of `url`, at most `cap` bytes (exactly `exact` when given), with progress. */
export async function fetchCapped(url, { base, name, cap, exact, onProgress }) {
  let res;
  try {
    res = await fetch(url, { credentials: 'same-origin' });
  } catch (e) {
    throw modelError(`network error fetching ${url} (${messageOf(e)})`);
  }
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
 * reaches wasm. `inspect(manifestBytes)` is Rust's `inspectManifest`, bound to the pin.
 */
export async function loadModelFiles(model, { inspect, limits, onProgress }) {
  if (typeof model !== 'string') {
    const files = JSON.parse(inspect(model.manifest));
    for (const role of ['weights', 'tokenizer']) checkSize(files, role, model[role].length);
    return model;
  }
  const base = modelBase(model);
  const manifest = await fetchCapped(new URL('manifest.json', base), {
    base, name: 'manifest.json', cap: limits.maxManifestBytes, onProgress,
  });
  const files = JSON.parse(inspect(manifest));
  const get = (role) => {
    const entry = files[role];
    if (!entry) throw modelError(`manifest.json lists no ${role} file`);
    const url = confined(base, entry.path, role);
    return fetchCapped(url, { base, name: entry.path, cap: entry.bytes, exact: entry.bytes, onProgress })
      .then((bytes) => (checkSize(files, role, bytes.length), bytes));
  };
  const [weights, tokenizer] = await Promise.all([get('weights'), get('tokenizer')]);
  return { manifest, weights, tokenizer };
}

function checkSize(files, role, length) {
  const entry = files[role];
  if (!entry) throw modelError(`manifest.json lists no ${role} file`);
  if (length !== entry.bytes) {
    throw modelError(`${entry.path} is ${length} bytes, manifest.json says ${entry.bytes} (truncated or wrong file?)`);
  }
}

/** Hex sha256 of each byte array by the browser's SubtleCrypto (native code, ~20x faster than
 * sha256 compiled to wasm); null where SubtleCrypto is missing (pages served over plain http
 * from another host than localhost): the wasm side then hashes the bytes itself. */
export async function sha256Hex(arrays) {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (!subtle) return null;
  const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
  try {
    return await Promise.all(arrays.map(async (a) => hex(await subtle.digest('SHA-256', a))));
  } catch {
    return null;
  }
}
