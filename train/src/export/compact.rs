//! `compact`: an exported model cut to the bytes a phone should download (docs/size.md).
//!
//! The shipped model's 30,523 x 64 token table was 1.95 of its 2.28 MB and, being int8, did not
//! compress. A product's text reaches the model as its first `max_tokens` WordPiece tokens, so a
//! store's model needs the rows of the tokens its catalogue uses, a fallback for the words of
//! products added later, and nothing else. The compact model keeps:
//!  - the special tokens, and every single character and `##` character of the vocabulary, so
//!    that any word the full vocabulary splits without `[UNK]` still splits into pieces that
//!    have rows (the fallback: WordPiece over the cut vocabulary is greedy longest-match as
//!    before, so a word whose pieces are all kept gets exactly its old ids);
//!  - every token of the texts of the products seen before the test period (what the model
//!    learned; the new-products slice then measures the fallback honestly);
//!  - the most frequent other words of the BERT vocabulary (its ids from 1,996 on are in
//!    descending frequency), up to `budget` tokens in all;
//!
//! and stores the token table with 4 bits per value (`localrank::quant::compact_table`). The
//! tokenizer file is the same BERT pipeline with the cut vocabulary, so `tokenizers` reads it
//! too (train/tests/wordpiece_parity.rs runs on the shipped file).

use std::collections::BTreeSet;

use localrank::model::ModelConfig;
use localrank::text::TextEncoder;
use serde_json::Value;

/// The first id of the BERT vocabulary's whole words, which follow in descending frequency
/// (ids 0..1,996: padding, 994 unused slots, specials and single characters).
const FIRST_WORD_ID: u32 = 1_996;

/// The cut vocabulary: the kept token ids of the full vocabulary, ascending.
#[derive(Debug)]
pub struct Vocabulary {
    pub keep: Vec<u32>,
    /// How many were kept for each reason (specials and characters, catalogue, frequent words).
    pub characters: usize,
    pub catalogue: usize,
    pub frequent: usize,
}

/// Chooses the kept ids: specials and characters, the tokens `text` gives `texts` (the full
/// vocabulary, `buckets` = vocabulary + 1, as the model reads them), then frequent words up to
/// `budget` ids in all (never fewer than the first two groups need).
pub fn choose(tokenizer: &Value, text: &TextEncoder, texts: &[String], budget: usize) -> Result<Vocabulary, String> {
    let vocab = vocab_of(tokenizer)?;
    let mut keep: BTreeSet<u32> = vocab.iter().filter(|(t, _)| is_character_or_special(t)).map(|&(_, id)| id).collect();
    let characters = keep.len();
    for t in texts {
        let ids = text.encode(t).map_err(|e| e.to_string())?;
        keep.extend(ids.iter().filter(|&&b| b > 0).map(|&b| (b - 1) as u32));
    }
    let catalogue = keep.len() - characters;
    let mut words: Vec<u32> = vocab.iter().map(|&(_, id)| id).filter(|&id| id >= FIRST_WORD_ID).collect();
    words.sort_unstable();
    let before = keep.len();
    for id in words {
        if keep.len() >= budget {
            break;
        }
        keep.insert(id);
    }
    Ok(Vocabulary { keep: keep.into_iter().collect(), characters, catalogue, frequent: 0 }.with_frequent(before))
}

impl Vocabulary {
    fn with_frequent(mut self, before: usize) -> Self {
        self.frequent = self.keep.len() - before;
        self
    }

    /// The token-table rows of the compact model: row 0 (padding), then row id + 1 of each kept id.
    pub fn rows(&self) -> Vec<usize> {
        std::iter::once(0).chain(self.keep.iter().map(|&id| id as usize + 1)).collect()
    }

    /// `config` with one token row per kept id (plus padding).
    pub fn config(&self, config: &ModelConfig) -> ModelConfig {
        config.clone().with_text_buckets(self.keep.len() + 1)
    }
}

/// Specials ("[UNK]") and single characters, bare or as a continuation ("##a").
fn is_character_or_special(token: &str) -> bool {
    let chars = token.strip_prefix("##").unwrap_or(token).chars().count();
    chars == 1 || (token.starts_with('[') && token.ends_with(']') && !token.starts_with("[unused"))
}

/// The vocabulary's (token, id) pairs.
fn vocab_of(tokenizer: &Value) -> Result<Vec<(&str, u32)>, String> {
    let vocab = tokenizer["model"]["vocab"].as_object().ok_or("tokenizer.json: model.vocab is not an object")?;
    vocab
        .iter()
        .map(|(t, id)| Ok((t.as_str(), id.as_u64().filter(|&id| id <= u32::MAX as u64).ok_or("tokenizer.json: a vocabulary id is not a u32")? as u32)))
        .collect()
}

/// The same tokenizer with the cut vocabulary, ids renumbered 0.. in the old order; the added
/// tokens and the post-processor's special tokens follow their tokens. Written compactly (the
/// shipped file was pretty-printed JSON).
pub fn tokenizer(full: &Value, v: &Vocabulary) -> Result<Vec<u8>, String> {
    let by_id: std::collections::HashMap<u32, &str> = vocab_of(full)?.into_iter().map(|(t, id)| (id, t)).collect();
    let new_id = |old_id: u32| v.keep.binary_search(&old_id).ok();
    let mut out = full.clone();
    let vocab: serde_json::Map<String, Value> = v.keep.iter().enumerate().map(|(i, id)| (by_id[id].to_string(), Value::from(i))).collect();
    out["model"]["vocab"] = Value::Object(vocab);
    if let Some(added) = out["added_tokens"].as_array_mut() {
        for a in added {
            let id = a["id"].as_u64().ok_or("tokenizer.json: an added token has no id")? as u32;
            a["id"] = Value::from(new_id(id).ok_or_else(|| format!("tokenizer.json: added token {} is not kept", a["content"]))?);
        }
    }
    if let Some(specials) = out["post_processor"]["special_tokens"].as_object_mut() {
        for (name, s) in specials {
            for id in s["ids"].as_array_mut().into_iter().flatten() {
                let old_id = id.as_u64().ok_or_else(|| format!("tokenizer.json: special token {name} has a bad id"))? as u32;
                *id = Value::from(new_id(old_id).ok_or_else(|| format!("tokenizer.json: special token {name} is not kept"))?);
            }
        }
    }
    serde_json::to_vec(&out).map_err(|e| e.to_string())
}
