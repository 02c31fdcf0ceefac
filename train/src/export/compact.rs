//! `compact`: an exported model stored in the bytes a phone should download (docs/size.md).
//!
//! The shipped model's 30,523 x 64 int8 token table was 1.95 of its 2.28 MB and did not compress,
//! and `tokenizer.json` was 193 KB gzip. The compact model computes the same function on the same
//! token ids (config and tokenisation unchanged); only the storage changes:
//!  - the token rows the store's products use (every token of the products seen before the test
//!    period), the special tokens and every single character (bare and `##`) are kept exactly,
//!    with 4 bits per value (`localrank::quant::code_table`); so are the most frequent other
//!    words of the BERT vocabulary (its ids from 1,996 on are in descending frequency) up to
//!    `budget` exact rows;
//!  - every other row, the fallback for the words of products added later and of queries, is
//!    `parts` bytes: the row cut into `parts` pieces, each the nearest of 256 centroids of its
//!    piece (product quantisation, k-means over those rows' pieces);
//!  - the vocabulary is a compact file (`localrank::wordpiece::vocab_file`): [PAD] first (id 0 is
//!    padding), then every other token sorted, front-coded; the table's rows follow the new ids.
//!
//! Measured first (2026-12-07, MovieLens, compact-check.json's held-out slice): cutting the
//! fallback rows out of the vocabulary instead (words split into kept pieces) lost 23% NDCG@10
//! on requests for products whose words were cut (8,000 tokens kept; 45% with 4,646, 7% with
//! 20,000), where one-byte centroid codes for those rows lost about 3%.

use std::collections::BTreeSet;

use localrank::text::TextEncoder;
use serde_json::Value;

/// The first id of the BERT vocabulary's whole words, which follow in descending frequency
/// (ids 0..1,996: padding, 994 unused slots, specials and single characters).
const FIRST_WORD_ID: u32 = 1_996;
/// Centroids of the fallback rows (one byte each).
pub const CENTROIDS: usize = 256;
/// Rounds of k-means: the assignment had stopped moving by then on the shipped table.
const KMEANS_ROUNDS: usize = 15;

/// Which full-vocabulary ids keep their row exactly, and why.
#[derive(Debug)]
pub struct Exact {
    /// Full-vocabulary ids, ascending.
    pub ids: BTreeSet<u32>,
    pub characters: usize,
    pub catalogue: usize,
    pub frequent: usize,
}

/// The exact ids: specials and characters, the tokens `text` gives `texts` (the full vocabulary,
/// `buckets` = vocabulary + 1, as the model reads them), then frequent words up to `budget`.
pub fn choose(tokenizer: &Value, text: &TextEncoder, texts: &[String], budget: usize) -> Result<Exact, String> {
    let vocab = vocab_of(tokenizer)?;
    let mut ids: BTreeSet<u32> = vocab.iter().filter(|(t, _)| is_character_or_special(t)).map(|&(_, id)| id).collect();
    let characters = ids.len();
    for t in texts {
        let buckets = text.encode(t).map_err(|e| e.to_string())?;
        ids.extend(buckets.iter().filter(|&&b| b > 0).map(|&b| (b - 1) as u32));
    }
    let catalogue = ids.len() - characters;
    let mut words: Vec<u32> = vocab.iter().map(|&(_, id)| id).filter(|&id| id >= FIRST_WORD_ID).collect();
    words.sort_unstable();
    let before = ids.len();
    for id in words {
        if ids.len() >= budget {
            break;
        }
        ids.insert(id);
    }
    let frequent = ids.len() - before;
    Ok(Exact { ids, characters, catalogue, frequent })
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

/// The compact vocabulary's order: `new[old id]` is the new id ("[PAD]" keeps 0, every other
/// token follows in sorted order), and the tokens in new-id order.
pub struct Order<'a> {
    pub new: Vec<u32>,
    pub tokens: Vec<&'a str>,
}

pub fn order(tokenizer: &Value) -> Result<Order<'_>, String> {
    let mut vocab = vocab_of(tokenizer)?;
    let n = vocab.len();
    if vocab.iter().any(|&(_, id)| id as usize >= n) || vocab.iter().map(|&(_, id)| id).collect::<BTreeSet<_>>().len() != n {
        return Err("tokenizer.json: vocabulary ids are not 0..n".into());
    }
    // Id 0 is padding to the model (`text.rs` skips it): whatever token holds it stays first.
    vocab.sort_by(|a, b| (a.1 != 0).cmp(&(b.1 != 0)).then(a.0.cmp(b.0)));
    let mut new = vec![0u32; n];
    for (i, &(_, id)) in vocab.iter().enumerate() {
        new[id as usize] = i as u32;
    }
    Ok(Order { new, tokens: vocab.into_iter().map(|(t, _)| t).collect() })
}

/// The compact vocabulary file of `full` (tokenizer.json) in `order`: the added tokens and the
/// post-processor's special tokens follow their tokens' new ids.
pub fn vocab_file(full: &Value, order: &Order) -> Result<Vec<u8>, String> {
    let mut header = full.clone();
    header["model"].as_object_mut().ok_or("tokenizer.json: no model")?.remove("vocab");
    let renumber = |v: &mut Value, what: &str| -> Result<(), String> {
        let id = v.as_u64().filter(|&id| (id as usize) < order.new.len()).ok_or_else(|| format!("tokenizer.json: {what} has a bad id"))?;
        *v = Value::from(order.new[id as usize]);
        Ok(())
    };
    for a in header["added_tokens"].as_array_mut().into_iter().flatten() {
        renumber(&mut a["id"], "an added token")?;
    }
    if let Some(specials) = header["post_processor"]["special_tokens"].as_object_mut() {
        for (name, s) in specials {
            for id in s["ids"].as_array_mut().into_iter().flatten() {
                renumber(id, name)?;
            }
        }
    }
    Ok(localrank::wordpiece::vocab_file(&header.to_string(), &order.tokens))
}

/// The token table of the compact model: `table` (rows = vocabulary + 1, old row = old id + 1)
/// with its rows in the new order, which rows are exact, and the codes and codebooks of the
/// others: each cut into `parts` pieces, each piece coded by its own `CENTROIDS` centroids
/// (product quantisation; k-means seeded with `seed` + piece).
pub struct CodedTable {
    pub rows: Vec<f32>,
    pub exact: Vec<bool>,
    pub parts: usize,
    pub codes: Vec<u8>,
    pub codebook: Vec<f32>,
}

pub fn code(table: &[f32], width: usize, order: &Order, exact_ids: &BTreeSet<u32>, parts: usize, seed: u64) -> CodedTable {
    let n_rows = table.len() / width;
    // New row r + 1 holds old row (old id + 1) of the token whose new id is r; row 0 stays.
    let mut old_of = vec![0usize; n_rows];
    for (old, &new) in order.new.iter().enumerate() {
        old_of[new as usize + 1] = old + 1;
    }
    let rows: Vec<f32> = old_of.iter().flat_map(|&o| table[o * width..(o + 1) * width].iter().copied()).collect();
    let exact: Vec<bool> = old_of.iter().map(|&o| o == 0 || exact_ids.contains(&(o as u32 - 1))).collect();
    let others: Vec<&[f32]> = rows.chunks(width).zip(&exact).filter(|(_, e)| !**e).map(|(r, _)| r).collect();
    if others.is_empty() {
        // Every row exact (a vocabulary within the budget): one zero centroid, never used.
        return CodedTable { rows, exact, parts, codes: Vec::new(), codebook: vec![0.0; width] };
    }
    let piece = width / parts;
    let (mut codes, mut codebook) = (vec![0u8; others.len() * parts], Vec::with_capacity(CENTROIDS * width));
    for j in 0..parts {
        let pieces: Vec<f32> = others.iter().flat_map(|r| r[j * piece..(j + 1) * piece].iter().copied()).collect();
        let (c, book) = kmeans(&pieces, piece, CENTROIDS, KMEANS_ROUNDS, seed + j as u64);
        c.iter().enumerate().for_each(|(i, &c)| codes[i * parts + j] = c);
        codebook.extend(book);
    }
    CodedTable { rows, exact, parts, codes, codebook }
}

/// Lloyd's k-means of `rows` (whole rows of `width`) into `k` centroids, started from `k` rows
/// in a seeded order: each row's centroid index and the centroids.
pub fn kmeans(rows: &[f32], width: usize, k: usize, rounds: usize, seed: u64) -> (Vec<u8>, Vec<f32>) {
    let n = rows.len() / width;
    let row = |i: usize| &rows[i * width..(i + 1) * width];
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| crate::hash::mix(&[seed, i as u64]));
    let mut centroids: Vec<f32> = order.iter().cycle().take(k).flat_map(|&i| row(i).iter().copied()).collect();
    let mut assign = vec![0usize; n];
    for _ in 0..rounds {
        assign.iter_mut().enumerate().for_each(|(i, a)| *a = nearest(row(i), &centroids, width));
        let (mut sums, mut counts) = (vec![0f32; k * width], vec![0usize; k]);
        for (i, &a) in assign.iter().enumerate() {
            counts[a] += 1;
            sums[a * width..(a + 1) * width].iter_mut().zip(row(i)).for_each(|(s, v)| *s += v);
        }
        // An empty cluster keeps its centroid.
        for j in (0..k).filter(|&j| counts[j] > 0) {
            for (c, s) in centroids[j * width..(j + 1) * width].iter_mut().zip(&sums[j * width..(j + 1) * width]) {
                *c = s / counts[j] as f32;
            }
        }
    }
    let codes = (0..n).map(|i| nearest(row(i), &centroids, width) as u8).collect();
    (codes, centroids)
}

/// The index of the centroid (rows of `width` in `c`) nearest to `x`.
fn nearest(x: &[f32], c: &[f32], width: usize) -> usize {
    let dist = |j: usize| c[j * width..(j + 1) * width].iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum::<f32>();
    (0..c.len() / width).min_by(|&a, &b| dist(a).total_cmp(&dist(b))).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Synthetic points, for the arithmetic only: two tight clusters are found.
    #[test]
    fn kmeans_finds_two_clusters() {
        let rows: Vec<f32> = (0..40).flat_map(|i| if i % 2 == 0 { [1.0 + i as f32 * 1e-3, 1.0] } else { [-1.0, -1.0 - i as f32 * 1e-3] }).collect();
        let (codes, centroids) = kmeans(&rows, 2, 2, 5, 1);
        assert!(codes.iter().step_by(2).all(|&c| c == codes[0]) && codes.iter().skip(1).step_by(2).all(|&c| c == codes[1]));
        assert_ne!(codes[0], codes[1]);
        let c0 = &centroids[codes[0] as usize * 2..codes[0] as usize * 2 + 2];
        assert!((c0[0] - 1.02).abs() < 0.01 && (c0[1] - 1.0).abs() < 1e-6, "{c0:?}");
    }

    /// MiniLM's tokenizer.json (what `all` trains with) as a compact vocabulary file: the same
    /// ids, renumbered, on titles, edge cases and the special tokens.
    #[test]
    fn the_vocabulary_file_tokenises_as_minilms_tokenizer_json() {
        use localrank::wordpiece::WordPiece;
        let json = std::fs::read(crate::data::fetch::sources().unwrap().tokenizer).unwrap();
        let value: Value = serde_json::from_slice(&json).unwrap();
        let o = order(&value).unwrap();
        let file = vocab_file(&value, &o).unwrap();
        assert!(file.len() * 2 < json.len(), "{} vs {} bytes", file.len(), json.len());
        let (a, b) = (WordPiece::from_bytes(&json).unwrap(), WordPiece::from_bytes(&file).unwrap());
        assert_eq!(a.vocab_size(), b.vocab_size());
        for t in ["Star Wars (1977)", "Á köldum klaka (Cold Fever)", "[CLS] x [MASK]", "ÉCOLE naïve café", "中文 テスト", "supercalifragilistic", "a\u{0}b\tc", ""] {
            let want: Vec<u32> = a.encode(t).iter().map(|&id| o.new[id as usize]).collect();
            assert_eq!(b.encode(t), want, "{t:?}");
        }
    }

    #[test]
    fn the_order_keeps_padding_first_and_sorts_the_rest() {
        let t: Value = serde_json::json!({"model": {"vocab": {"[PAD]": 0, "b": 1, "a": 2, "##a": 3}}});
        let o = order(&t).unwrap();
        assert_eq!(o.tokens, ["[PAD]", "##a", "a", "b"]);
        assert_eq!(o.new, [0, 3, 2, 1]);
        let bad: Value = serde_json::json!({"model": {"vocab": {"[PAD]": 0, "b": 5}}});
        assert!(order(&bad).is_err());
    }
}
