// The model cache: the files a manifest lists, kept between visits in the browser's Cache API
// (cache `localrank-models-v1` of the site's origin), each under its URL with its sha256 as the
// query, so that a returning shopper downloads no model byte (docs/api.md "Model cache").
//
// Why the Cache API and not HTTP caching alone: the model is ~95% of a first visit's bytes
// (2.75 of 2.98 MB gzip at the time of writing), the HTTP cache evicts large entries first and
// follows whatever headers the store's CDN sends; an entry here stays until a new model version
// replaces it or the site's storage is cleared, in the page and in a Worker alike.
//
// Rules:
//  - a hit is checked like a download: its exact size and sha256 against the manifest's entry;
//    an entry that fails (corrupt, tampered, truncated by a full disk) is deleted and the file is
//    downloaded;
//  - only bytes whose sha256 equals the manifest's are stored, and storing a file deletes the
//    entries of the same URL with another digest (the old model version);
//  - the cache makes a load faster and never makes it fail: no `caches` (an insecure context,
//    an opaque origin), a SecurityError, a full quota or a missing SubtleCrypto all fall back to
//    the network silently.

export const MODEL_CACHE = 'localrank-models-v1';

/** Hex sha256 of `bytes` by the browser's SubtleCrypto (native code, ~20x faster than sha256
 * compiled to wasm); null where SubtleCrypto is missing (pages served over plain http from
 * another host than localhost): the wasm side then hashes the bytes itself. */
export async function digestHex(bytes) {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (!subtle) return null;
  try {
    const buf = new Uint8Array(await subtle.digest('SHA-256', bytes));
    return Array.from(buf, (b) => b.toString(16).padStart(2, '0')).join('');
  } catch {
    return null;
  }
}

/** `use(caches)` where the origin has a Cache API, else `fallback`; so is a failure (reading
 * `caches` itself throws a SecurityError in an opaque origin, e.g. a sandboxed iframe). */
async function withCaches(use, fallback) {
  try {
    const storage = globalThis.caches;
    return storage ? await use(storage) : fallback;
  } catch {
    return fallback;
  }
}

/** The origin's model cache, or null where there is none. */
export const openModelCache = () => withCaches((c) => c.open(MODEL_CACHE), null);

/** The cache key of the file at `url` with digest `sha256`. */
function keyOf(url, sha256) {
  const key = new URL(url);
  key.search = `?sha256=${sha256}`;
  key.hash = '';
  return key.href;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * The cached bytes of `entry` ({ bytes, sha256 } from the manifest; `bytes` may be absent: a
 * pinned manifest, whose size the caller checks) at `url` with their digest,
 * `{ bytes, sha256 }`, or null on a miss or a check that fails (the entry is then deleted).
 */
export async function readCached(cache, url, entry) {
  if (!cache || !SHA256_HEX.test(entry.sha256 ?? '')) return null;
  const key = keyOf(url, entry.sha256);
  try {
    const res = await cache.match(key);
    if (!res) return null;
    const bytes = new Uint8Array(await res.arrayBuffer());
    const sized = entry.bytes === undefined || bytes.length === entry.bytes;
    const sha256 = sized ? await digestHex(bytes) : null;
    if (sha256 === entry.sha256) return { bytes, sha256 };
    await cache.delete(key);
  } catch {
    // A read that fails is a miss.
  }
  return null;
}

/**
 * Stores `bytes` (whose digest is `sha256`) for `entry` at `url` if they are what the manifest
 * lists, then deletes the other versions of the same URL. Resolves to whether it stored them.
 */
export async function storeCached(cache, url, entry, bytes, sha256) {
  if (!cache || sha256 === null || sha256 !== entry.sha256 || bytes.length !== entry.bytes) return false;
  const key = keyOf(url, sha256);
  try {
    const headers = { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) };
    await cache.put(key, new Response(bytes, { headers }));
    const path = new URL(url);
    for (const req of await cache.keys()) {
      const old = new URL(req.url);
      if (old.origin === path.origin && old.pathname === path.pathname && old.href !== key) await cache.delete(req);
    }
    return true;
  } catch {
    return false;
  }
}

/** Deletes the origin's model cache; resolves to whether there was one. */
export const clearModelCache = () => withCaches((c) => c.delete(MODEL_CACHE), false);
