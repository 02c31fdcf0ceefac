//! Item and query text -> hashed token ids, through the BERT WordPiece tokenizer shipped in
//! `models/vocab.txt` (a compact vocabulary file; a `tokenizer.json` reads the same way:
//! `wordpiece.rs`).
//!
//! Token ids are folded into `buckets - 1` rows (row 0 is padding). The shipped model has one
//! row per vocabulary token (`buckets` = vocabulary + 1, so row = id + 1), initialised from the
//! teacher's text model (`train/src/model2vec.rs`); a smaller table folds ids by modulo.
//!
//! Work per text is bounded: only its first `MAX_TEXT_BYTES` are read, and WordPiece stops at
//! `max_tokens` ids.

use foldhash::HashMap;
use std::ops::ControlFlow;
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::wordpiece::WordPiece;

/// Bytes of a text (title + category, query) that are tokenised; the rest is ignored.
///
/// Only `max_tokens` (24) ids are kept, and real texts reach them long before this: the demo
/// catalogue's longest title + category is 97 bytes, and an English word is ~5 bytes a token, so
/// 24 tokens take ~120 bytes. The ids of a text shorter than this are exactly those of the whole
/// text; a longer one could differ only if its first 1024 bytes held fewer than 24 tokens (words
/// of ~40+ bytes each, or mostly whitespace and control characters): pathological text, whose
/// tokens then come from its first 1024 bytes. Without the cap one 2 MB text was normalised,
/// split and looked up whole: 0.35 s (many words) to 1.6 s (99-character words) natively at
/// opt-level 1, where it now takes ~0.1 ms.
pub const MAX_TEXT_BYTES: usize = 1024;

/// The first `MAX_TEXT_BYTES` of `text`, cut at a character boundary (so at most 3 bytes fewer).
/// Called on every text before it is tokenised, and by the input layer when events and
/// candidates enter, so that stored sessions stay small.
pub fn cap_text(text: &str) -> &str {
    &text[..text.floor_char_boundary(MAX_TEXT_BYTES)]
}

pub struct TextEncoder {
    tokenizer: WordPiece,
    buckets: usize,
    max_tokens: usize,
    /// Bucketed ids of texts seen before: a storefront reranks the same candidate titles and
    /// session events on every call, and tokenising them was most of a rerank's time.
    cache: Mutex<Cache>,
}

/// Bytes the cache may hold (keys, ids and `ENTRY_OVERHEAD` each); it is emptied when full.
/// A typical entry (a 40-byte title + category, 24 ids) takes ~330 bytes, so this keeps ~25k
/// texts (the count cap it replaces kept 16k, whatever their length); the longest entries
/// (`MAX_TEXT_BYTES`) ~6k. A page that sends ever-new candidates cannot grow it past this.
pub const CACHE_BYTES: usize = 8 << 20;

/// Estimated bytes per entry besides its key and ids: the `String` and `Vec` headers (48), the
/// hash table's slot and control byte, and the allocator's headers of the two allocations.
const ENTRY_OVERHEAD: usize = 96;

#[derive(Default)]
struct Cache {
    map: HashMap<String, Vec<i64>>,
    bytes: usize,
}

impl Cache {
    fn cost(text: &str, ids: &[i64]) -> usize {
        text.len() + std::mem::size_of_val(ids) + ENTRY_OVERHEAD
    }

    /// Keeps `ids` for `text`, emptying the cache first when it would exceed `limit` bytes
    /// (simple, and a storefront refills the few texts it uses in one call).
    fn insert(&mut self, text: &str, ids: Vec<i64>, limit: usize) {
        let cost = Self::cost(text, &ids);
        if self.bytes + cost > limit {
            self.map.clear();
            self.bytes = 0;
        }
        if cost <= limit && self.map.insert(text.to_owned(), ids).is_none() {
            self.bytes += cost;
        }
    }
}

impl TextEncoder {
    /// Loads a `tokenizer.json` or a compact vocabulary file from bytes (no network, no files:
    /// works in wasm).
    pub fn from_bytes(bytes: &[u8], buckets: usize, max_tokens: usize) -> Result<Self> {
        let tokenizer = WordPiece::from_bytes(bytes)?;
        if buckets < 2 || max_tokens == 0 {
            return Err(Error::model("tokenizer: buckets must be >= 2 and max_tokens >= 1"));
        }
        Ok(Self { tokenizer, buckets, max_tokens, cache: Mutex::default() })
    }

    /// Bucketed token ids of `text` (its first `MAX_TEXT_BYTES`), truncated and zero-padded to
    /// `max_tokens`.
    pub fn encode(&self, text: &str) -> Result<Vec<i64>> {
        let mut ids = Vec::with_capacity(self.max_tokens);
        self.encode_into(text, &mut ids)?;
        Ok(ids)
    }

    /// `encode`, appended to `out` (no allocation for a text seen before).
    pub fn encode_into(&self, text: &str, out: &mut Vec<i64>) -> Result<()> {
        self.encode_within(text, out, CACHE_BYTES)
    }

    /// `encode_into` with the cache bounded to `cache_bytes`.
    fn encode_within(&self, text: &str, out: &mut Vec<i64>, cache_bytes: usize) -> Result<()> {
        let text = cap_text(text);
        if let Some(ids) = self.cache.lock().ok().as_ref().and_then(|c| c.map.get(text)) {
            out.extend_from_slice(ids);
            return Ok(());
        }
        let ids = self.encode_uncached(text);
        out.extend_from_slice(&ids);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(text, ids, cache_bytes);
        }
        Ok(())
    }

    /// The first `max_tokens` non-padding ids: WordPiece stops as soon as it has them.
    fn encode_uncached(&self, text: &str) -> Vec<i64> {
        let mut ids = Vec::with_capacity(self.max_tokens);
        self.tokenizer.encode_while(text, |id| {
            if id != 0 {
                ids.push(self.bucket(id));
            }
            match ids.len() < self.max_tokens {
                true => ControlFlow::Continue(()),
                false => ControlFlow::Break(()),
            }
        });
        ids.resize(self.max_tokens, 0);
        ids
    }

    /// Token ids the tokenizer can produce (`buckets` = this + 1 gives every token its own row).
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.vocab_size()
    }

    fn bucket(&self, id: u32) -> i64 {
        1 + (id as i64 % (self.buckets as i64 - 1))
    }

    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKENIZER: &[u8] = include_bytes!("../models/vocab.txt");

    fn encoder() -> TextEncoder {
        TextEncoder::from_bytes(TOKENIZER, 30_523, 24).unwrap()
    }

    #[test]
    fn cap_text_cuts_at_a_char_boundary_within_the_cap() {
        assert_eq!(cap_text("Star Wars (1977)"), "Star Wars (1977)");
        let exact = "a".repeat(MAX_TEXT_BYTES);
        assert_eq!(cap_text(&exact), exact);
        // 'é' is 2 bytes: 1023 'a' then 'é' would end at byte 1025.
        let text = "a".repeat(MAX_TEXT_BYTES - 1) + "é" + &"b".repeat(10);
        assert_eq!(cap_text(&text), "a".repeat(MAX_TEXT_BYTES - 1));
        let cjk = "中".repeat(2 << 20);
        let capped = cap_text(&cjk);
        assert!(capped.len() <= MAX_TEXT_BYTES && capped.len() > MAX_TEXT_BYTES - 4);
    }

    /// Only the first `MAX_TEXT_BYTES` are tokenised: here the bytes beyond them would turn the
    /// one word of the text into a 2 MB word, which WordPiece reads as `[UNK]`.
    #[test]
    fn text_beyond_the_cap_is_not_tokenised() {
        let enc = encoder();
        let head = " ".repeat(MAX_TEXT_BYTES - 4) + "star";
        let text = head.clone() + &"wars".repeat(1 << 19);
        assert_eq!(text.len(), MAX_TEXT_BYTES + (2 << 20));
        assert_eq!(enc.encode(&text).unwrap(), enc.encode("star").unwrap());
        assert_ne!(enc.encode("star").unwrap(), enc.encode(&("star".to_owned() + "wars".repeat(300).as_str())).unwrap());
    }

    #[test]
    fn long_texts_give_the_first_max_tokens_ids_of_their_head() {
        let enc = encoder();
        let words = "star wars ".repeat((2 << 20) / 10);
        let ids = enc.encode(&words).unwrap();
        assert_eq!(ids.len(), 24);
        assert_eq!(ids, enc.encode(&"star wars ".repeat(12)).unwrap());
        assert!(ids.iter().all(|&id| id != 0));
        let one_word = enc.encode(&"a".repeat(2 << 20)).unwrap();
        assert_eq!(one_word[1..], [0; 23], "one over-long word is one [UNK]");
    }

    #[test]
    fn the_cache_stays_within_its_bytes_and_keeps_working() {
        let enc = encoder();
        let limit = 64 << 10;
        let mut out = Vec::new();
        for i in 0..2_000 {
            out.clear();
            enc.encode_within(&format!("item number {i} {}", "x".repeat(i % 300)), &mut out, limit).unwrap();
            let cache = enc.cache.lock().unwrap();
            assert!(cache.bytes <= limit, "{} bytes after {i} texts", cache.bytes);
            let counted: usize = cache.map.iter().map(|(k, v)| Cache::cost(k, v)).sum();
            assert_eq!(cache.bytes, counted);
        }
        let (mut again, mut fresh) = (Vec::new(), Vec::new());
        enc.encode_within("item number 5", &mut again, limit).unwrap();
        fresh.extend(encoder().encode("item number 5").unwrap());
        assert_eq!(again, fresh);
        // Keys are capped texts: a 2 MB text costs at most `MAX_TEXT_BYTES` of key.
        enc.encode_within(&"y".repeat(2 << 20), &mut out, limit).unwrap();
        assert!(enc.cache.lock().unwrap().map.keys().all(|k| k.len() <= MAX_TEXT_BYTES));
    }
}
