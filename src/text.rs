//! Item and query text -> hashed token ids, through the BERT WordPiece tokenizer shipped in
//! `models/tokenizer.json` (`wordpiece.rs`).
//!
//! Token ids are folded into `buckets - 1` rows (row 0 is padding). The shipped model has one
//! row per vocabulary token (`buckets` = vocabulary + 1, so row = id + 1), initialised from the
//! teacher's text model (`train/src/model2vec.rs`); a smaller table folds ids by modulo.

use foldhash::HashMap;
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::wordpiece::WordPiece;

pub struct TextEncoder {
    tokenizer: WordPiece,
    buckets: usize,
    max_tokens: usize,
    /// Bucketed ids of texts seen before: a storefront reranks the same candidate titles and
    /// session events on every call, and tokenising them was most of a rerank's time.
    cache: Mutex<HashMap<String, Vec<i64>>>,
}

/// Texts kept in the cache; it is emptied when full (bounds memory on long sessions).
const CACHE_TEXTS: usize = 16_384;

impl TextEncoder {
    /// Loads a `tokenizer.json` from bytes (no network, no files: works in wasm).
    pub fn from_bytes(bytes: &[u8], buckets: usize, max_tokens: usize) -> Result<Self> {
        let tokenizer = WordPiece::from_bytes(bytes)?;
        if buckets < 2 || max_tokens == 0 {
            return Err(Error::model("tokenizer: buckets must be >= 2 and max_tokens >= 1"));
        }
        Ok(Self { tokenizer, buckets, max_tokens, cache: Mutex::new(HashMap::default()) })
    }

    /// Bucketed token ids of `text`, truncated and zero-padded to `max_tokens`.
    pub fn encode(&self, text: &str) -> Result<Vec<i64>> {
        let mut ids = Vec::with_capacity(self.max_tokens);
        self.encode_into(text, &mut ids)?;
        Ok(ids)
    }

    /// `encode`, appended to `out` (no allocation for a text seen before).
    pub fn encode_into(&self, text: &str, out: &mut Vec<i64>) -> Result<()> {
        if let Some(ids) = self.cache.lock().ok().as_ref().and_then(|c| c.get(text)) {
            out.extend_from_slice(ids);
            return Ok(());
        }
        let ids = self.encode_uncached(text);
        out.extend_from_slice(&ids);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_TEXTS {
                cache.clear();
            }
            cache.insert(text.to_owned(), ids);
        }
        Ok(())
    }

    fn encode_uncached(&self, text: &str) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .tokenizer
            .encode(text)
            .iter()
            .filter(|&&id| id != 0)
            .take(self.max_tokens)
            .map(|&id| self.bucket(id))
            .collect();
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
