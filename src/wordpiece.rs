//! The BERT WordPiece tokenizer of a Hugging Face `tokenizer.json`, in a few hundred lines.
//!
//! The browser needs only the ids of short titles and queries. The `tokenizers` crate was most of
//! the time of `LocalRanker.create` (its generic deserialisation of `tokenizer.json`) and a
//! large part of the wasm, so the runtime implements the one pipeline the shipped tokenizer uses
//! (added tokens, `BertNormalizer`, `BertPreTokenizer`, `WordPiece`) as `tokenizers` 0.23 does,
//! and refuses any other configuration with a clear error. `train/tests/wordpiece_parity.rs`
//! checks it id for id against `tokenizers` on real titles and on edge cases.

use std::ops::ControlFlow;

use foldhash::HashMap;
use serde::Deserialize;
use unicode_categories::UnicodeCategories;
use unicode_normalization_alignments::UnicodeNormalization;

use crate::error::{Error, Result};

/// A BERT WordPiece tokenizer read from `tokenizer.json`.
#[derive(Debug)]
pub struct WordPiece {
    vocab: HashMap<String, u32>,
    /// Tokens matched in the raw text before normalisation (`[CLS]`, `[MASK]`, ...).
    added: Vec<(String, u32)>,
    normalizer: BertNormalizer,
    unk_id: u32,
    prefix: String,
    max_chars: usize,
    /// Bytes of the longest vocabulary entry: no longer piece can match, so the greedy search
    /// starts there instead of at the end of the word.
    max_piece: usize,
    vocab_size: usize,
}

#[derive(Debug, Deserialize)]
struct TokenizerJson {
    #[serde(default)]
    added_tokens: Vec<AddedToken>,
    normalizer: Option<BertNormalizer>,
    pre_tokenizer: Option<Component>,
    model: WordPieceJson,
}

/// A pipeline component of which only the type matters.
#[derive(Debug, Deserialize)]
struct Component {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
struct AddedToken {
    id: u32,
    content: String,
    #[serde(default)]
    single_word: bool,
    #[serde(default)]
    lstrip: bool,
    #[serde(default)]
    rstrip: bool,
    #[serde(default)]
    normalized: bool,
}

#[derive(Debug, Clone, Deserialize)]
struct BertNormalizer {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    clean_text: bool,
    #[serde(default)]
    handle_chinese_chars: bool,
    #[serde(default)]
    strip_accents: Option<bool>,
    #[serde(default)]
    lowercase: bool,
}

// No `#[serde(flatten)]` here: it would buffer the 30k-entry vocabulary before reading it.
#[derive(Debug, Deserialize)]
struct WordPieceJson {
    #[serde(rename = "type")]
    kind: String,
    // Optional so that another model type reaches the type check; `tokenizers`' defaults apply.
    #[serde(default)]
    unk_token: Option<String>,
    #[serde(default)]
    continuing_subword_prefix: Option<String>,
    #[serde(default)]
    max_input_chars_per_word: Option<usize>,
    #[serde(default)]
    vocab: HashMap<String, u32>,
}

/// The `TokenizerJson` of a compact vocabulary file (after `VOCAB_MAGIC`): one line of
/// `tokenizer.json` without `model.vocab`, then one line per token in id order, each the number
/// of leading characters it shares with the token before it, a tab, and the rest (front coding:
/// the file lists the tokens sorted, so that 30,522 BERT tokens take 54 KB gzip instead of
/// `tokenizer.json`'s 193 KB). Written by `localrank-train compact`.
fn read_vocab_file(bytes: &[u8]) -> Result<TokenizerJson> {
    let bad = |what: String| Error::model(format!("tokenizer (compact vocabulary): {what}"));
    let text = std::str::from_utf8(bytes).map_err(|e| bad(format!("not UTF-8 ({e})")))?;
    let (header, lines) = text.split_once('\n').ok_or_else(|| bad("no header line".into()))?;
    let mut json: TokenizerJson = serde_json::from_str(header).map_err(|e| bad(format!("header does not parse: {e}")))?;
    if !json.model.vocab.is_empty() {
        return Err(bad("the header holds a vocabulary; the tokens belong on the lines after it".into()));
    }
    let lines = lines.strip_suffix('\n').unwrap_or(lines);
    // Sized once: growing the map 15 times was a fifth of this function's time on a second
    // visit (bench/run.mjs second-visit profile, 2026-12-07: 30,523 tokens). At most 2^18
    // up front: a file of blank lines must fail on its first line, not on a huge allocation.
    json.model.vocab.reserve((lines.bytes().filter(|&b| b == b'\n').count() + 1).min(1 << 18));
    let mut prev = String::new();
    for (id, line) in lines.split('\n').enumerate() {
        let (shared, rest) = line.split_once('\t').ok_or_else(|| bad(format!("token {id}: no tab")))?;
        let shared: usize = shared.parse().map_err(|_| bad(format!("token {id}: {shared:?} is not a count")))?;
        let cut = prev.char_indices().nth(shared).map_or(prev.len(), |(at, _)| at);
        if shared > prev.chars().count() {
            return Err(bad(format!("token {id}: shares {shared} characters with a token of {}", prev.chars().count())));
        }
        prev.truncate(cut);
        prev.push_str(rest);
        if prev.is_empty() {
            return Err(bad(format!("token {id} is empty")));
        }
        let id = u32::try_from(id).map_err(|_| bad("too many tokens".into()))?;
        if json.model.vocab.insert(prev.clone(), id).is_some() {
            return Err(bad(format!("token {id} ({prev:?}) is listed twice")));
        }
    }
    Ok(json)
}

/// A compact vocabulary file (`read_vocab_file`) of `header` (tokenizer.json without
/// `model.vocab`, as one line of JSON) and `tokens` in id order.
pub fn vocab_file(header: &str, tokens: &[&str]) -> Vec<u8> {
    let mut out = format!("{VOCAB_MAGIC}{header}\n");
    let mut prev = "";
    for t in tokens {
        let shared = prev.chars().zip(t.chars()).take_while(|(a, b)| a == b).count();
        let at = t.char_indices().nth(shared).map_or(t.len(), |(i, _)| i);
        out.push_str(&format!("{shared}\t{}\n", &t[at..]));
        prev = t;
    }
    out.into_bytes()
}

/// The `tokenizer.json` a compact vocabulary file was written from: its header with
/// `model.vocab` put back (the same tokens and ids), for tools that read only Hugging Face's
/// format, and for the parity test against `tokenizers`.
pub fn tokenizer_json(bytes: &[u8]) -> Result<String> {
    let bad = |what: String| Error::model(format!("tokenizer (compact vocabulary): {what}"));
    let rest = bytes.strip_prefix(VOCAB_MAGIC.as_bytes()).ok_or_else(|| bad(format!("does not start with {VOCAB_MAGIC:?}")))?;
    let vocab = read_vocab_file(rest)?.model.vocab;
    let header = std::str::from_utf8(rest).ok().and_then(|t| t.split_once('\n')).map_or("", |(h, _)| h);
    let mut json: serde_json::Value = serde_json::from_str(header).map_err(|e| bad(format!("header does not parse: {e}")))?;
    let model = json.get_mut("model").and_then(|m| m.as_object_mut()).ok_or_else(|| bad("the header has no model object".into()))?;
    let vocab: serde_json::Map<String, serde_json::Value> = vocab.into_iter().map(|(t, id)| (t, id.into())).collect();
    model.insert("vocab".into(), vocab.into());
    Ok(json.to_string())
}

fn unsupported(what: &str, kind: &str) -> Error {
    Error::model(format!(
        "tokenizer.json: {what} {kind:?} is not supported (localrank reads BERT WordPiece \
         tokenizers: BertNormalizer, BertPreTokenizer, WordPiece)"
    ))
}

/// The first line of a compact vocabulary file (`WordPiece::vocab_file`).
pub const VOCAB_MAGIC: &str = "localrank-vocab 1\n";

impl WordPiece {
    /// Parses `tokenizer.json`, or a compact vocabulary file (`VOCAB_MAGIC`), and checks that it
    /// is the BERT WordPiece pipeline.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if let Some(rest) = bytes.strip_prefix(VOCAB_MAGIC.as_bytes()) {
            return Self::from_json(read_vocab_file(rest)?);
        }
        let json: TokenizerJson = serde_json::from_slice(bytes)
            .map_err(|e| Error::model(format!("tokenizer.json does not parse: {e}")))?;
        Self::from_json(json)
    }

    fn from_json(json: TokenizerJson) -> Result<Self> {
        let normalizer = match json.normalizer {
            Some(n) if n.kind == "BertNormalizer" => n,
            Some(n) => return Err(unsupported("normalizer", &n.kind)),
            None => return Err(unsupported("normalizer", "none")),
        };
        match json.pre_tokenizer {
            Some(p) if p.kind == "BertPreTokenizer" => {}
            Some(p) => return Err(unsupported("pre_tokenizer", &p.kind)),
            None => return Err(unsupported("pre_tokenizer", "none")),
        }
        if json.model.kind != "WordPiece" {
            return Err(unsupported("model", &json.model.kind));
        }
        let model = json.model;
        let unk = model.unk_token.unwrap_or_else(|| "[UNK]".into());
        let unk_id = *model.vocab.get(&unk).ok_or_else(|| {
            Error::model(format!("tokenizer.json: unk_token {unk:?} is not in the vocabulary"))
        })?;
        let added = added_tokens(json.added_tokens)?;
        let vocab_size = model.vocab.len() + added.iter().filter(|(t, _)| !model.vocab.contains_key(t)).count();
        let max_piece = model.vocab.keys().map(String::len).max().unwrap_or(0);
        Ok(Self {
            vocab: model.vocab,
            added,
            normalizer,
            unk_id,
            prefix: model.continuing_subword_prefix.unwrap_or_else(|| "##".into()),
            max_chars: model.max_input_chars_per_word.unwrap_or(100),
            max_piece,
            vocab_size,
        })
    }

    /// Token ids of `text`, without special tokens around it (`encode(text, false)`).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        self.encode_while(text, |id| {
            ids.push(id);
            ControlFlow::Continue(())
        });
        ids
    }

    /// The ids of `encode`, given to `sink` in order until it breaks: a caller that keeps the
    /// first n ids stops the work there (the words after them are never looked up).
    pub fn encode_while(&self, text: &str, mut sink: impl FnMut(u32) -> ControlFlow<()>) {
        let mut word = Vec::new();
        let _ = split_added(text, &self.added).into_iter().try_for_each(|piece| match piece {
            Piece::Added(id) => sink(id),
            Piece::Text(t) => pre_tokenize(&self.normalizer.normalize(t)).try_for_each(|w| {
                word.clear();
                self.word_ids(w, &mut word);
                word.iter().try_for_each(|&id| sink(id))
            }),
        });
    }

    /// Distinct tokens, added tokens included (`get_vocab_size(true)`).
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Greedy longest-match-first WordPiece of one word; the whole word is `[UNK]` when a part
    /// of it matches nothing or it is longer than `max_input_chars_per_word`. That length is
    /// checked first, in at most `max_chars` steps, and each match is tried from at most
    /// `max_piece` bytes: a word costs O(max_chars * max_piece) however long it is (the search
    /// from the end of the word was quadratic in its length).
    fn word_ids(&self, word: &str, out: &mut Vec<u32>) {
        if word.chars().nth(self.max_chars).is_some() {
            out.push(self.unk_id);
            return;
        }
        let first = out.len();
        let mut start = 0;
        let mut buf = String::new();
        while start < word.len() {
            let Some((id, end)) = self.longest_piece(word, start, &mut buf) else {
                out.truncate(first);
                out.push(self.unk_id);
                return;
            };
            out.push(id);
            start = end;
        }
    }

    /// The longest vocabulary entry that `word[start..]` begins with (after the continuing
    /// prefix when `start > 0`), and where it ends.
    fn longest_piece(&self, word: &str, start: usize, buf: &mut String) -> Option<(u32, usize)> {
        // No entry is longer than `max_piece`, the prefix included: longer candidates cannot match.
        let mut end = word.floor_char_boundary(start + self.max_piece);
        while start < end {
            buf.clear();
            if start > 0 {
                buf.push_str(&self.prefix);
            }
            buf.push_str(&word[start..end]);
            if let Some(&id) = self.vocab.get(buf.as_str()) {
                return Some((id, end));
            }
            end -= word[start..end].chars().next_back().map_or(1, char::len_utf8);
        }
        None
    }
}

/// Added tokens as `(content, id)`: only the kind BERT ships (matched verbatim in the raw text).
fn added_tokens(tokens: Vec<AddedToken>) -> Result<Vec<(String, u32)>> {
    tokens
        .into_iter()
        .map(|t| {
            if t.normalized || t.single_word || t.lstrip || t.rstrip || t.content.is_empty() {
                return Err(Error::model(format!(
                    "tokenizer.json: added token {:?} uses normalized/single_word/lstrip/rstrip, \
                     which localrank does not support",
                    t.content
                )));
            }
            Ok((t.content, t.id))
        })
        .collect()
}

enum Piece<'a> {
    Added(u32),
    Text(&'a str),
}

/// Splits `text` on the leftmost-longest occurrences of the added tokens.
fn split_added<'a>(text: &'a str, added: &[(String, u32)]) -> Vec<Piece<'a>> {
    let mut pieces = Vec::new();
    let (mut plain, mut i) = (0, 0);
    while i < text.len() {
        let hit = added
            .iter()
            .filter(|(t, _)| text[i..].starts_with(t.as_str()))
            .max_by_key(|(t, _)| t.len());
        match hit {
            Some((t, id)) => {
                if plain < i {
                    pieces.push(Piece::Text(&text[plain..i]));
                }
                pieces.push(Piece::Added(*id));
                i += t.len();
                plain = i;
            }
            None => i += text[i..].chars().next().map_or(1, char::len_utf8),
        }
    }
    if plain < text.len() {
        pieces.push(Piece::Text(&text[plain..]));
    }
    pieces
}

impl BertNormalizer {
    /// Clean control characters, space out CJK ideographs, strip accents, lowercase: in the
    /// order `tokenizers`' `BertNormalizer` applies them.
    fn normalize(&self, text: &str) -> String {
        let mut s: String = if self.clean_text {
            text.chars()
                .filter(|&c| !(c == '\0' || c == '\u{fffd}' || is_control(c)))
                .map(|c| if is_whitespace(c) { ' ' } else { c })
                .collect()
        } else {
            text.to_owned()
        };
        if self.handle_chinese_chars && s.chars().any(is_chinese_char) {
            s = s
                .chars()
                .flat_map(|c| if is_chinese_char(c) { vec![' ', c, ' '] } else { vec![c] })
                .collect();
        }
        if self.strip_accents.unwrap_or(self.lowercase) && !s.is_ascii() {
            s = s.nfd().map(|(c, _)| c).filter(|c| !c.is_mark_nonspacing()).collect();
        }
        if self.lowercase {
            s = s.chars().flat_map(char::to_lowercase).collect();
        }
        s
    }
}

/// Words of normalised text: split on whitespace (dropped), punctuation isolated.
fn pre_tokenize(text: &str) -> impl Iterator<Item = &str> {
    text.split(char::is_whitespace).filter(|w| !w.is_empty()).flat_map(split_punctuation)
}

fn split_punctuation(word: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in word.char_indices() {
        if is_bert_punctuation(c) {
            if start < i {
                out.push(&word[start..i]);
            }
            out.push(&word[i..i + c.len_utf8()]);
            start = i + c.len_utf8();
        }
    }
    if start < word.len() {
        out.push(&word[start..]);
    }
    out
}

fn is_bert_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

/// Control, format, unassigned and private-use characters (tab and newlines are whitespace).
fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

fn is_chinese_char(c: char) -> bool {
    matches!(
        c as u32,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r###"{
      "added_tokens": [{"id": 0, "content": "[PAD]", "single_word": false, "lstrip": false,
                        "rstrip": false, "normalized": false, "special": true},
                       {"id": 1, "content": "[UNK]", "single_word": false, "lstrip": false,
                        "rstrip": false, "normalized": false, "special": true}],
      "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                     "strip_accents": null, "lowercase": true},
      "pre_tokenizer": {"type": "BertPreTokenizer"},
      "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                "max_input_chars_per_word": 100,
                "vocab": {"[PAD]": 0, "[UNK]": 1, "star": 2, "wars": 3, "##s": 4, "war": 5,
                          "(": 6, ")": 7, "cafe": 8, "中": 9, "1977": 10}}
    }"###;

    fn tok() -> WordPiece {
        WordPiece::from_bytes(JSON.as_bytes()).unwrap()
    }

    /// JSON's tokenizer as a compact vocabulary file, tokens in id order.
    fn compact() -> Vec<u8> {
        let mut json: serde_json::Value = serde_json::from_str(JSON).unwrap();
        let vocab = json["model"].as_object_mut().unwrap().remove("vocab").unwrap();
        let mut tokens: Vec<(&String, u64)> = vocab.as_object().unwrap().iter().map(|(t, id)| (t, id.as_u64().unwrap())).collect();
        tokens.sort_by_key(|&(_, id)| id);
        let tokens: Vec<&str> = tokens.iter().map(|(t, _)| t.as_str()).collect();
        vocab_file(&json.to_string(), &tokens)
    }

    #[test]
    fn a_compact_vocabulary_file_tokenises_as_its_tokenizer_json() {
        let file = compact();
        let text = String::from_utf8(file.clone()).unwrap();
        // Front coding: "[UNK]" after "[PAD]" shares "[", "wars" after "star" nothing.
        assert!(text.contains("\n1\tUNK]\n") && text.contains("\n0\twars\n"), "{text}");
        let (a, b) = (tok(), WordPiece::from_bytes(&file).unwrap());
        for t in ["Star Wars (1977)", "wars", "café 中 [UNK] x", "[PAD]starwars"] {
            assert_eq!(a.encode(t), b.encode(t), "{t}");
        }
        assert_eq!(a.vocab_size(), b.vocab_size());
        let err = |f: &[u8]| WordPiece::from_bytes(f).unwrap_err().to_string();
        let body = &file[VOCAB_MAGIC.len()..];
        let header_end = VOCAB_MAGIC.len() + body.iter().position(|&c| c == b'\n').unwrap() + 1;
        assert!(err(&[&file[..header_end], b"9\tx\n"].concat()).contains("shares 9"));
        assert!(err(&[&file[..header_end], b"0\tab\n2\t\n"].concat()).contains("twice"));
        assert!(err(&[&file[..header_end], b"x\n"].concat()).contains("no tab"));
        assert!(err(&[&file[..header_end], b"0\t\n"].concat()).contains("empty"));
        assert!(err(VOCAB_MAGIC.as_bytes()).contains("no header"));
        // Expanded back, it is JSON's tokenizer: the same document.
        let expanded: serde_json::Value = serde_json::from_str(&tokenizer_json(&file).unwrap()).unwrap();
        assert_eq!(expanded, serde_json::from_str::<serde_json::Value>(JSON).unwrap());
        assert!(tokenizer_json(JSON.as_bytes()).unwrap_err().to_string().contains("does not start"));
    }

    #[test]
    fn splits_words_punctuation_and_subwords() {
        assert_eq!(tok().encode("Star Wars (1977)"), vec![2, 3, 6, 10, 7]);
        assert_eq!(tok().encode("STARS"), vec![2, 4]);
    }

    #[test]
    fn strips_accents_spaces_cjk_and_maps_unknown_words_to_unk() {
        assert_eq!(tok().encode("Café中wars"), vec![8, 9, 3]);
        assert_eq!(tok().encode("starx"), vec![1]);
        assert_eq!(tok().encode("x[PAD]star"), vec![1, 0, 2]);
    }

    /// `encode_while` stops where its sink breaks: words after it are never looked up.
    #[test]
    fn encoding_stops_when_the_sink_breaks() {
        let mut seen = Vec::new();
        tok().encode_while(&"star wars ".repeat(100_000), |id| {
            seen.push(id);
            if seen.len() < 3 { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
        });
        assert_eq!(seen, vec![2, 3, 2]);
        assert_eq!(tok().max_piece, "[UNK]".len());
    }

    #[test]
    fn over_long_words_are_one_unk() {
        assert_eq!(tok().encode(&"s".repeat(101)), vec![1]);
        let mut hundred = vec![2];
        hundred.extend([4; 96]);
        assert_eq!(tok().encode(&("star".to_owned() + &"s".repeat(96))), hundred);
        assert_eq!(tok().encode(&"star".repeat(1 << 19)), vec![1]);
    }

    #[test]
    fn other_pipelines_are_refused_with_the_component_named() {
        let bpe = JSON.replace("\"type\": \"WordPiece\"", "\"type\": \"BPE\"");
        let err = WordPiece::from_bytes(bpe.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("\"BPE\""), "{err}");
        assert!(WordPiece::from_bytes(b"{").unwrap_err().to_string().contains("does not parse"));
    }
}
