// JavaScript helpers of the wasm bindings (src/web.rs imports this module; wasm-bindgen copies it
// into pkg/snippets/). Each replaces many small JS <-> wasm calls, or slow wasm code, with one
// call into what the browser already does fast.

const utf8 = new TextEncoder();
// One buffer for every call, grown when needed: a new array per call left up to ~8 MB of
// garbage that a single garbage collection did not return.
let scratch = new Uint8Array(1 << 16);

/** The candidates as one JSON text, UTF-8 encoded (the browser's encoder copies it faster than
 * passing a string would): a view of a buffer that the next call overwrites. Throws on a cycle,
 * a BigInt, or a popularity that is not finite (JSON would turn it into null, i.e. absent). A
 * replacer function would check every value but cost more than the rest of the conversion. */
export function candidatesJson(candidates) {
  for (let i = 0; i < candidates.length; i++) {
    const p = candidates[i] != null ? candidates[i].popularity : undefined;
    if (typeof p === 'number' && !Number.isFinite(p)) {
      throw new RangeError(`candidates[${i}].popularity: must be a finite number, got ${p}`);
    }
  }
  const json = JSON.stringify(candidates);
  // UTF-8 takes at most 3 bytes per UTF-16 code unit.
  if (scratch.length < 3 * json.length) scratch = new Uint8Array(3 * json.length);
  return scratch.subarray(0, utf8.encodeInto(json, scratch).written);
}

/** Hex sha256 of each byte array, by the browser's SubtleCrypto (native code, ~20x faster than
 * sha256 compiled to wasm); null where SubtleCrypto is missing (pages served over plain http
 * from another host than localhost): the wasm side then hashes the bytes itself. */
export async function sha256Hex(arrays) {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (!subtle) return null;
  const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
  return Promise.all(arrays.map(async (a) => hex(await subtle.digest('SHA-256', a))));
}

/** The result of a rerank without explanations, built from the candidates themselves (the wasm
 * side calls this only when no await came between reading them and ranking them):
 * `{ id, score, serverRank }` for each 0-based server position in `positions`, best first.
 * Ids as the wasm side read them: `id` (or its alias `item_id`), numbers as `String(n)`. */
export function rankedList(candidates, positions, scores) {
  const out = new Array(positions.length);
  for (let k = 0; k < positions.length; k++) {
    const c = candidates[positions[k]];
    const id = c.id !== undefined ? c.id : c.item_id;
    out[k] = { id: typeof id === 'string' ? id : String(id), score: scores[k], serverRank: positions[k] + 1 };
  }
  return out;
}
