//! Item vectors of products seen before, kept on the CPU backend.
//!
//! An item's vector (`Model::embed_items`: mean of its token embeddings plus its category's)
//! depends on its token ids and category id only, never on the shopper, and a storefront
//! reranks the same candidates after every event, with a session made of the same products.
//! Gathering 24 token rows per candidate and per session event on every call was most of a
//! rerank in burn, and pooling them on the host (`FusedEncoder::item_vectors`) still costs more
//! than one lookup here, so each vector is computed once and reused (`tests/model.rs` checks the
//! scores against the plain model's; the golden tests run through this cache).

use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use foldhash::HashMap;

use crate::error::{Error, Result};

/// Bytes the cache may hold (each entry's key, vector and `ENTRY_OVERHEAD`); it is emptied when
/// a call's new vectors would take it past this. An entry of the shipped model (25 ids, 64
/// floats) takes ~520 bytes, so this keeps ~16k items, as the count cap it replaces did, and a
/// page that sends ever-new candidate ids cannot grow it past 8 MiB whatever the model's sizes.
pub const CACHE_BYTES: usize = 8 << 20;

/// Estimated bytes per entry besides its ids and floats: two boxed slices in the table (32), its
/// control byte and slack, and the allocator's headers of the two allocations.
const ENTRY_OVERHEAD: usize = 64;

/// An item as the model reads it: its `t` token ids, then its category id.
pub type ItemKey = [i64];

#[derive(Default)]
pub struct ItemVectors {
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    map: HashMap<Box<Key>, Box<[f32]>>,
    /// What the entries take, counted as `entry_bytes` each.
    bytes: usize,
}

fn entry_bytes(t: usize, d: usize) -> usize {
    (t + 1) * size_of::<i64>() + d * size_of::<f32>() + ENTRY_OVERHEAD
}

/// An `ItemKey` in the map, compared word by word: slice equality calls `memcmp`, a byte loop
/// in wasm, and comparing 25 ids that way was ~5% of a rerank.
#[repr(transparent)]
struct Key([i64]);

impl Key {
    fn new(key: &ItemKey) -> &Key {
        // Safety: `Key` is `repr(transparent)` over `[i64]`: the same layout and metadata.
        unsafe { &*(key as *const ItemKey as *const Key) }
    }

    fn boxed(key: &ItemKey) -> Box<Key> {
        let raw = Box::into_raw(Box::<ItemKey>::from(key));
        // Safety: as in `new`; the box is rebuilt from the pointer it was taken from.
        unsafe { Box::from_raw(raw as *mut Key) }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && self.0.iter().zip(&other.0).all(|(a, b)| a == b)
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl ItemVectors {
    /// The vectors of `keys` (each `t + 1` long, concatenated), row-major `[n, d]`. Those not
    /// cached yet come from `embed` (given the missing keys, it returns their `[m, d]` rows), in
    /// one call.
    pub fn rows(
        &self,
        keys: &[i64],
        t: usize,
        d: usize,
        embed: impl FnOnce(&[i64]) -> Result<Vec<f32>>,
    ) -> Result<Vec<f32>> {
        self.rows_within(keys, t, d, embed, CACHE_BYTES)
    }

    /// `rows`, the cache bounded to `limit` bytes.
    fn rows_within(
        &self,
        keys: &[i64],
        t: usize,
        d: usize,
        embed: impl FnOnce(&[i64]) -> Result<Vec<f32>>,
        limit: usize,
    ) -> Result<Vec<f32>> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        // One lookup per key: cached rows are copied now, the others' places remembered.
        let mut flat = Vec::with_capacity(keys.len() / (t + 1) * d);
        let mut missing: Vec<(usize, &ItemKey)> = Vec::new();
        for (i, key) in keys.chunks_exact(t + 1).enumerate() {
            match cache.map.get(Key::new(key)) {
                Some(v) => flat.extend_from_slice(v),
                None => {
                    missing.push((i, key));
                    flat.resize(flat.len() + d, 0.0);
                }
            }
        }
        if missing.is_empty() {
            return Ok(flat);
        }
        let mut index: HashMap<&ItemKey, usize> = HashMap::default();
        let mut unique = Vec::new();
        for &(_, key) in &missing {
            index.entry(key).or_insert_with(|| {
                unique.extend_from_slice(key);
                unique.len() / (t + 1) - 1
            });
        }
        let vectors = embed(&unique)?;
        if vectors.len() != index.len() * d {
            return Err(Error::backend("item vectors of the wrong length"));
        }
        for (i, key) in missing {
            let row = &vectors[index[key] * d..][..d];
            flat[i * d..(i + 1) * d].copy_from_slice(row);
        }
        cache.keep(index, &vectors, entry_bytes(t, d), limit);
        Ok(flat)
    }
}

impl Cache {
    /// Keeps the new `vectors` (row `r` of `index`'s key `k`, none of them cached yet), each
    /// `cost` bytes. The cache is emptied first when they would not fit (simple: the next call
    /// refills what the page still shows), and of a call larger than `limit` alone only the
    /// first that fit are kept.
    fn keep(&mut self, index: HashMap<&ItemKey, usize>, vectors: &[f32], cost: usize, limit: usize) {
        if self.bytes + index.len() * cost > limit {
            self.map.clear();
            self.bytes = 0;
        }
        let d = vectors.len() / index.len().max(1);
        for (k, r) in index {
            if self.bytes + cost > limit {
                break;
            }
            self.map.insert(Key::boxed(k), Box::from(&vectors[r * d..(r + 1) * d]));
            self.bytes += cost;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_is_embedded_once_and_rows_keep_the_order_asked() {
        let cache = ItemVectors::default();
        let embed = |keys: &[i64]| Ok(keys.chunks(2).map(|k| k[0] as f32 * 10.0 + k[1] as f32).collect());
        let rows = cache.rows(&[1, 2, 3, 4, 1, 2], 1, 1, embed).unwrap();
        assert_eq!(rows, vec![12.0, 34.0, 12.0]);
        let rows = cache.rows(&[3, 4, 5, 6], 1, 1, |keys: &[i64]| {
            assert_eq!(keys, &[5, 6], "only the new key is embedded");
            Ok(vec![56.0])
        });
        assert_eq!(rows.unwrap(), vec![34.0, 56.0]);
    }

    /// A page that sends ever-new items: the cache never holds more than its bytes, counts
    /// what it holds, and still gives the right rows (also from a call larger than the cache).
    #[test]
    fn the_cache_stays_within_its_bytes() {
        let cache = ItemVectors::default();
        let (t, d) = (24, 64);
        let limit = 100 * entry_bytes(t, d);
        let key = |n: i64| (0..=t as i64).map(move |j| n * 31 + j);
        let embed = |keys: &[i64]| Ok(keys.chunks(t + 1).flat_map(|k| vec![k[0] as f32; d]).collect());
        for call in 0..50i64 {
            let n = if call == 20 { 300 } else { 30 };
            let keys: Vec<i64> = (0..n).flat_map(|i| key(call * 1000 + i)).collect();
            let rows = cache.rows_within(&keys, t, d, embed, limit).unwrap();
            let want: Vec<f32> = (0..n).flat_map(|i| vec![((call * 1000 + i) * 31) as f32; d]).collect();
            assert_eq!(rows, want, "call {call}");
            let c = cache.cache.lock().unwrap();
            assert!(c.bytes <= limit, "{} bytes after call {call}", c.bytes);
            assert_eq!(c.bytes, c.map.len() * entry_bytes(t, d));
            assert!(!c.map.is_empty());
        }
    }

    #[test]
    fn an_embedding_error_leaves_the_cache_usable() {
        let cache = ItemVectors::default();
        assert!(cache.rows(&[1, 2], 1, 1, |_| Err(Error::backend("boom"))).is_err());
        assert_eq!(cache.rows(&[1, 2], 1, 1, |_| Ok(vec![7.0])).unwrap(), vec![7.0]);
    }
}
