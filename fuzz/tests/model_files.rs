//! Fuzz target 1: the model files (manifest.json, weights, the vocabulary) into `Ranker::load`.
//!
//! Cases are recipes applied to the shipped files in models/, so that a failure prints a few
//! lines and not megabytes: byte flips, truncations, splices and u32 overwrites (aimed at the
//! weights' headers too), JSON edits of manifest.json (config numbers to 0, negative, huge,
//! fractions, strings; paths, sizes, digests, format_version, weights_format) and of the
//! vocabulary as tokenizer.json (normalizer, model type, vocabulary, added tokens; the shipped
//! compact vocabulary file expanded by `wordpiece::tokenizer_json`), deep nesting, and
//! arbitrary bytes. Mutated weights and tokenizers are re-listed in the manifest with their new
//! size and sha256 (`localrank::manifest::sha256_hex`) half of the time, so that they get past
//! the digest check to the decoders. Checked: nothing panics; an error has a message; a model
//! that loads also observes, reranks (plain and explained) and scores a small session without
//! panicking, each rerank a permutation of the candidates.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use localrank::features::{Context, Event, EventKind, Item};
use localrank::manifest::{sha256_hex, Manifest};
use localrank::runtime::cpu_device;
use localrank::{quant, wordpiece};
use localrank::{ModelFiles, Ranker, RerankOptions};
use localrank_fuzz::proptest::prelude::*;
use localrank_fuzz::proptest::sample::Index;
use localrank_fuzz::{check_ranked, check_result, no_panic, run, MANIFEST, TOKENIZER, WEIGHTS};
use serde_json::{json, Value};

/// The CI budget: a load hashes and decodes megabytes, ~13 ms a case in the dev profile.
const CI_CASES: u32 = 512;

// ---- Byte mutations ----

/// Where a byte mutation lands.
#[derive(Clone, Debug)]
enum Pos {
    /// Within the first 256 bytes (magic, versions, the first headers).
    Head(u8),
    /// At one of the LRQ8 header fields (rank, dims, count, version) of the shipped weights.
    Header(Index),
    Anywhere(Index),
}

#[derive(Clone, Debug)]
enum ByteOp {
    Flip(Pos, u8),
    /// A little-endian u32 written over four bytes (a rank, a dimension, a count).
    SetU32(Pos, u32),
    Truncate(Pos),
    Splice { at: Pos, remove: u16, insert: Vec<u8> },
    Append(Vec<u8>),
}

/// Offsets of the header fields of an LRQ8 file (version 1, 2 or 3): magic, version, count,
/// each tensor's rank, dims and (version 3) bits byte, and a row-coded table's k and parts.
fn lrq8_headers(bytes: &[u8]) -> Vec<usize> {
    let u32_at = |at: usize| bytes.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize);
    let mut out = vec![0, 4];
    let version = u32_at(4).unwrap_or(0);
    // Versions 2 and 3 have a 32-byte config digest after the version.
    let mut at = if version >= 2 { 40 } else { 8 };
    out.push(at);
    let Some(count) = u32_at(at) else { return out };
    at += 4;
    for _ in 0..count.min(1024) {
        let Some(rank) = u32_at(at).filter(|&r| (1..=8).contains(&r)) else { break };
        out.extend((0..=rank).map(|i| at + 4 * i));
        let dims: Option<Vec<usize>> = (1..=rank).map(|i| u32_at(at + 4 * i)).collect();
        let Some(dims) = dims else { break };
        let Some(n) = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) else { break };
        at += 4 * (rank + 1);
        let bits = if version == 3 { bytes.get(at).copied() } else { Some(8) };
        if version == 3 {
            out.push(at);
            at += 1;
        }
        let plain = |n: usize, bits: u8| if bits == 4 { n.div_ceil(64) * 4 + n.div_ceil(2) } else { n.div_ceil(32) * 4 + n };
        match (bits, &dims[..]) {
            (Some(1), &[rows, width]) => {
                let (Some(k), Some(parts)) = (u32_at(at), u32_at(at + 4)) else { break };
                out.extend([at, at + 4]);
                at += 8;
                let Some(bitmap) = bytes.get(at..at + rows.div_ceil(8)) else { break };
                let kept = bitmap.iter().map(|b| b.count_ones() as usize).sum::<usize>().min(rows);
                at += bitmap.len() + plain(kept * width, 4) + (rows - kept) * parts + plain(k * width, 8);
            }
            (Some(b @ (4 | 8)), _) => at += plain(n, b),
            _ => break,
        }
    }
    out
}

fn headers() -> &'static [usize] {
    static H: OnceLock<Vec<usize>> = OnceLock::new();
    H.get_or_init(|| lrq8_headers(WEIGHTS))
}

fn pos() -> impl Strategy<Value = Pos> {
    prop_oneof![any::<u8>().prop_map(Pos::Head), any::<Index>().prop_map(Pos::Header), any::<Index>().prop_map(Pos::Anywhere)]
}

fn byte_op() -> impl Strategy<Value = ByteOp> {
    let u32s = prop_oneof![
        3 => prop::sample::select(&[0u32, 1, 2, 3, 7, 8, 9, 31, 32, 33, 64, 65, 1 << 16, 1 << 31, u32::MAX][..]),
        1 => any::<u32>(),
    ];
    prop_oneof![
        3 => (pos(), 1u8..=255).prop_map(|(p, m)| ByteOp::Flip(p, m)),
        3 => (pos(), u32s).prop_map(|(p, v)| ByteOp::SetU32(p, v)),
        1 => pos().prop_map(ByteOp::Truncate),
        1 => (pos(), 0u16..64, prop::collection::vec(any::<u8>(), 0..16))
            .prop_map(|(at, remove, insert)| ByteOp::Splice { at, remove, insert }),
        1 => prop::collection::vec(any::<u8>(), 1..16).prop_map(ByteOp::Append),
    ]
}

fn apply_bytes(mut bytes: Vec<u8>, ops: &[ByteOp], headers: &[usize]) -> Vec<u8> {
    for op in ops {
        let len = bytes.len();
        let at = |p: &Pos| -> usize {
            match p {
                Pos::Head(i) => (*i as usize).min(len),
                Pos::Header(i) if !headers.is_empty() => headers[i.index(headers.len())].min(len),
                Pos::Header(i) | Pos::Anywhere(i) => i.index(len + 1),
            }
        };
        match op {
            ByteOp::Flip(p, mask) => {
                let i = at(p);
                if i < len {
                    bytes[i] ^= mask;
                }
            }
            ByteOp::SetU32(p, v) => {
                let i = at(p).min(len.saturating_sub(4));
                let n = (len - i).min(4);
                bytes[i..i + n].copy_from_slice(&v.to_le_bytes()[..n]);
            }
            ByteOp::Truncate(p) => bytes.truncate(at(p)),
            ByteOp::Splice { at: p, remove, insert } => {
                let i = at(p);
                let end = (i + *remove as usize).min(len);
                bytes.splice(i..end, insert.iter().copied());
            }
            ByteOp::Append(b) => bytes.extend_from_slice(b),
        }
    }
    bytes
}

// ---- JSON edits ----

#[derive(Clone, Debug)]
enum Edit {
    /// Sets the value at a JSON pointer (the parent must exist; "" is the whole document).
    Set(&'static str, Value),
    Remove(&'static str),
}

const MANIFEST_PATHS: &[&str] = &[
    "/format_version",
    "/name",
    "/version",
    "/config",
    "/config/categories",
    "/config/text_buckets",
    "/config/d_model",
    "/config/heads",
    "/config/layers",
    "/config/max_session",
    "/config/max_tokens",
    "/config/dropout",
    "/config/unknown",
    "/categories",
    "/categories/0",
    "/categories/18",
    "/files",
    "/files/weights",
    "/files/weights/path",
    "/files/weights/bytes",
    "/files/weights/sha256",
    "/files/tokenizer",
    "/files/tokenizer/bytes",
    "/files/tokenizer/sha256",
    "/weights_format",
    "/inputs",
    "/inputs/event",
    "/inputs/event/0",
    "/inputs/dwell",
    "/inputs/context",
    "/inputs/context/0",
    "/inputs/context/0/1",
    "/inputs/context/4",
    "/inputs/query",
    "/inputs/clock",
    "/training",
    "",
];

/// The config fields: what the brief calls "config numbers".
const CONFIG_PATHS: &[&str] = &[
    "/config/categories",
    "/config/text_buckets",
    "/config/d_model",
    "/config/heads",
    "/config/layers",
    "/config/max_session",
    "/config/max_tokens",
    "/config/dropout",
];

const TOKENIZER_PATHS: &[&str] = &[
    "/normalizer",
    "/normalizer/type",
    "/normalizer/lowercase",
    "/normalizer/strip_accents",
    "/normalizer/clean_text",
    "/normalizer/handle_chinese_chars",
    "/pre_tokenizer",
    "/pre_tokenizer/type",
    "/model",
    "/model/type",
    "/model/unk_token",
    "/model/continuing_subword_prefix",
    "/model/max_input_chars_per_word",
    "/model/vocab",
    "/model/vocab/[UNK]",
    "/model/vocab/the",
    "/model/vocab/##s",
    "/model/vocab/a",
    "/added_tokens",
    "/added_tokens/0",
    "/added_tokens/0/content",
    "/added_tokens/0/id",
    "/added_tokens/0/normalized",
    "/added_tokens/100",
    "/added_tokens/1/content",
    "",
];

/// Numbers at the edges, as JSON: zero, negative, huge, fractions.
fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => prop::sample::select(&[0i64, 1, 2, 3, 4, 7, 8, 19, 20, 21, 24, 25, 32, 49, 50, 51, 63, 64, 65, 128, 1000, 10_001, 30522, 30523, 30524, 1 << 20, 1 << 31, 1 << 32, i64::MAX, -1, -64, i64::MIN][..])
            .prop_map(|n| json!(n)),
        1 => prop::sample::select(&[u64::MAX, u32::MAX as u64, 1 << 40, 1_000_000_000_000][..]).prop_map(|n| json!(n)),
        2 => prop::sample::select(&[0.0, -0.0, 0.5, 0.2, 0.999_999, 1.0, 1.5, 2.5, 63.5, 64.0, -0.2, 1e308, -1e308, 5e-324, 0.200_000_000_000_000_04][..])
            .prop_map(|f| json!(f)),
        1 => any::<i64>().prop_map(|n| json!(n)),
    ]
    .boxed()
}

fn json_value() -> BoxedStrategy<Value> {
    let strings = prop::sample::select(
        &["", "64", "0.2", "lrq8", "LRQ8", "burnpack", "localrank.q8", "../../etc/passwd", "\u{0}", "[UNK]", "##", "a", "the", " ",
            "WordPiece", "BPE", "BertNormalizer", "BertPreTokenizer", "Sequence", "\u{202E}",
            "c30f4c36d41e33d3896a1952c2905203921f79aea0ed89c2f9e95799e46be08a",
            "C30F4C36D41E33D3896A1952C2905203921F79AEA0ED89C2F9E95799E46BE08A"][..],
    )
    .prop_map(|s| json!(s));
    let leaf = prop_oneof![
        3 => number(),
        2 => strings,
        1 => any::<bool>().prop_map(|b| json!(b)),
        1 => Just(Value::Null),
        1 => "[a-z#\\[\\]]{0,6}".prop_map(|s| json!(s)),
        1 => (1usize..20_000).prop_map(|n| json!("x".repeat(n))),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_\\[\\]#]{0,8}|id|content|type|vocab|\\[UNK\\]", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

fn edit(paths: &'static [&'static str], value: BoxedStrategy<Value>) -> impl Strategy<Value = Edit> {
    let path = prop::sample::select(paths);
    prop_oneof![5 => (path.clone(), value).prop_map(|(p, v)| Edit::Set(p, v)), 1 => path.prop_map(Edit::Remove)]
}

/// JSON pointer tokens, unescaped.
fn tokens(path: &str) -> Vec<String> {
    path.split('/').skip(1).map(|t| t.replace("~1", "/").replace("~0", "~")).collect()
}

fn apply_edits(doc: &mut Value, edits: &[Edit]) {
    for e in edits {
        let (path, value) = match e {
            Edit::Set(p, v) => (*p, Some(v.clone())),
            Edit::Remove(p) => (*p, None),
        };
        if path.is_empty() {
            *doc = value.unwrap_or(Value::Null);
            continue;
        }
        let mut toks = tokens(path);
        let last = toks.pop().expect("a non-empty pointer");
        let parent_path: String = toks.iter().map(|t| format!("/{t}")).collect();
        match (doc.pointer_mut(&parent_path), value) {
            (Some(Value::Object(m)), Some(v)) => {
                m.insert(last, v);
            }
            (Some(Value::Object(m)), None) => {
                m.remove(&last);
            }
            (Some(Value::Array(a)), v) => match (last.parse::<usize>(), v) {
                (Ok(i), Some(v)) if i < a.len() => a[i] = v,
                (Ok(_), Some(v)) => a.push(v),
                (Ok(i), None) if i < a.len() => {
                    a.remove(i);
                }
                _ => {}
            },
            _ => {}
        }
    }
}

// ---- Cases ----

#[derive(Clone, Debug)]
enum Deep {
    Arrays,
    Objects,
    /// 100,000 levels inside an otherwise valid document (manifest "training", tokenizer
    /// "decoder").
    Inside,
}

#[derive(Clone, Debug)]
enum File {
    /// The shipped file with byte mutations.
    Shipped(Vec<ByteOp>),
    /// The shipped JSON file with edits (then byte mutations).
    Edited(Vec<Edit>, Vec<ByteOp>),
    Deep(Deep),
    Arbitrary(Vec<u8>),
}

#[derive(Clone, Debug)]
struct Case {
    weights: File,
    tokenizer: File,
    /// List the mutated weights and tokenizer in the manifest with their size and sha256.
    relist: bool,
    manifest: File,
    /// Re-bind the weights to the edited manifest's config (`quant::bind`: LRQ8 v2 carries the
    /// config's sha256) and list them, so that an edited config that validates reaches the model.
    rebind: bool,
}

fn deep(which: &Deep, n: usize, shipped: &Value, key: &str) -> Vec<u8> {
    match which {
        Deep::Arrays => "[".repeat(n).into_bytes(),
        Deep::Objects => format!("{}{}", "{\"a\":".repeat(n), "}".repeat(n)).into_bytes(),
        Deep::Inside => {
            let mut text = serde_json::to_string(shipped).expect("a Value serialises");
            text.pop(); // the closing brace
            format!("{text},\"{key}\":{}0{}}}", "[".repeat(n), "]".repeat(n)).into_bytes()
        }
    }
}

fn shipped_json(bytes: &'static [u8]) -> Value {
    serde_json::from_slice(bytes).expect("a shipped JSON file parses")
}

/// The shipped vocabulary as `tokenizer.json` (`wordpiece::tokenizer_json`: the same tokens and
/// ids), for the JSON edits: the runtime reads both formats.
fn tokenizer_json() -> &'static Value {
    static T: OnceLock<Value> = OnceLock::new();
    T.get_or_init(|| serde_json::from_str(&wordpiece::tokenizer_json(TOKENIZER).expect("the shipped vocabulary expands")).expect("it parses"))
}

/// The bytes of `file`, starting from `shipped` (`json`: its parsed form, for edits).
fn build(file: &File, shipped: &[u8], json: Option<&Value>, deep_key: &str) -> Vec<u8> {
    match file {
        File::Shipped(ops) => apply_bytes(shipped.to_vec(), ops, if json.is_none() { headers() } else { &[] }),
        File::Edited(edits, ops) => {
            let mut doc = json.cloned().unwrap_or(Value::Null);
            apply_edits(&mut doc, edits);
            apply_bytes(serde_json::to_vec(&doc).expect("a Value serialises"), ops, &[])
        }
        File::Deep(d) => deep(d, 100_000, json.unwrap_or(&Value::Null), deep_key),
        File::Arbitrary(b) => b.clone(),
    }
}

struct Files {
    manifest: Vec<u8>,
    weights: Vec<u8>,
    tokenizer: Vec<u8>,
}

fn files_of(case: &Case) -> Files {
    let mut weights = build(&case.weights, WEIGHTS, None, "");
    // Byte mutations apply to the shipped vocabulary file; edits and deep nesting to its JSON form.
    let tokenizer = build(&case.tokenizer, TOKENIZER, Some(tokenizer_json()), "decoder");
    let mut manifest_json = shipped_json(MANIFEST);
    let list = |m: &mut Value, role: &str, bytes: &[u8]| {
        m["files"][role]["bytes"] = json!(bytes.len());
        m["files"][role]["sha256"] = json!(sha256_hex(bytes));
    };
    if case.relist {
        list(&mut manifest_json, "weights", &weights);
        list(&mut manifest_json, "tokenizer", &tokenizer);
    }
    let manifest = match &case.manifest {
        File::Shipped(ops) | File::Edited(_, ops) => {
            if let File::Edited(edits, _) = &case.manifest {
                apply_edits(&mut manifest_json, edits);
            }
            if case.rebind {
                let parsed = Manifest::parse(&serde_json::to_vec(&manifest_json).expect("a Value serialises"));
                if let Ok(bound) = parsed.and_then(|m| quant::bind(&weights, &m.config, &m.categories)) {
                    weights = bound;
                    list(&mut manifest_json, "weights", &weights);
                    tally(4);
                }
            }
            apply_bytes(serde_json::to_vec(&manifest_json).expect("a Value serialises"), ops, &[])
        }
        other => build(other, MANIFEST, Some(&manifest_json), "training"),
    };
    Files { manifest, weights, tokenizer }
}

fn no_ops() -> BoxedStrategy<Vec<ByteOp>> {
    prop_oneof![3 => Just(Vec::new()), 1 => prop::collection::vec(byte_op(), 1..3)].boxed()
}

fn weights_file() -> BoxedStrategy<File> {
    prop_oneof![
        2 => Just(File::Shipped(Vec::new())),
        5 => prop::collection::vec(byte_op(), 1..4).prop_map(File::Shipped),
        1 => prop::collection::vec(any::<u8>(), 0..256).prop_map(File::Arbitrary),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(|tail| {
            let mut b = b"LRQ8".to_vec();
            b.extend(tail);
            File::Arbitrary(b)
        }),
    ]
    .boxed()
}

fn tokenizer_file() -> BoxedStrategy<File> {
    let tokenizer_value = prop_oneof![
        2 => json_value(),
        1 => prop::sample::select(vec![
            json!({"id": 5, "content": "a", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false}),
            json!({"id": 4294967295u64, "content": "[MASK]"}),
            json!({"id": 0, "content": ""}),
            json!({"[UNK]": 100}),
            json!({}),
            json!({"type": "BertNormalizer", "clean_text": false, "handle_chinese_chars": true, "strip_accents": true, "lowercase": false}),
            json!({"type": "WordPiece", "vocab": {"[UNK]": 0}, "continuing_subword_prefix": ""}),
            json!(u32::MAX), json!(0), json!(""), json!(" "),
        ]),
    ];
    prop_oneof![
        4 => Just(File::Shipped(Vec::new())),
        2 => prop::collection::vec(byte_op(), 1..4).prop_map(File::Shipped),
        4 => (prop::collection::vec(edit(TOKENIZER_PATHS, tokenizer_value.boxed()), 1..4), no_ops())
            .prop_map(|(e, o)| File::Edited(e, o)),
        1 => prop::sample::select(&[Deep::Arrays, Deep::Objects, Deep::Inside][..]).prop_map(File::Deep),
        1 => prop::collection::vec(any::<u8>(), 0..256).prop_map(File::Arbitrary),
    ]
    .boxed()
}

fn manifest_file() -> BoxedStrategy<File> {
    prop_oneof![
        4 => Just(File::Shipped(Vec::new())),
        2 => prop::collection::vec(byte_op(), 1..4).prop_map(File::Shipped),
        4 => (prop::collection::vec(edit(CONFIG_PATHS, number()), 1..3), no_ops()).prop_map(|(e, o)| File::Edited(e, o)),
        3 => (prop::collection::vec(edit(MANIFEST_PATHS, json_value()), 1..4), no_ops()).prop_map(|(e, o)| File::Edited(e, o)),
        1 => prop::sample::select(&[Deep::Arrays, Deep::Objects, Deep::Inside][..]).prop_map(File::Deep),
        1 => prop::collection::vec(any::<u8>(), 0..256).prop_map(File::Arbitrary),
    ]
    .boxed()
}

/// Config values near the valid ones: heads that do and do not divide d_model 64, token counts
/// around the limit, dropouts that do and do not survive a JSON round trip.
fn config_edit() -> BoxedStrategy<Edit> {
    let value = prop_oneof![
        2 => prop::sample::select(&[1i64, 2, 3, 4, 5, 8, 16, 32, 63, 64, 128][..]).prop_map(|n| ("/config/heads", json!(n))),
        2 => prop::sample::select(&[1i64, 2, 7, 24, 100, 511, 512, 513, 4096][..]).prop_map(|n| ("/config/max_tokens", json!(n))),
        1 => prop::sample::select(&[0.0, 0.1, 0.5, 0.999, 0.2, 0.200_000_000_000_000_04, 0.123_456_789_012_345_67][..])
            .prop_map(|f| ("/config/dropout", json!(f))),
        1 => number().prop_map(|n| ("/config/max_session", n)),
        1 => prop::sample::select(CONFIG_PATHS).prop_flat_map(|p| number().prop_map(move |n| (p, n))),
    ];
    value.prop_map(|(p, v)| Edit::Set(p, v)).boxed()
}

fn case() -> impl Strategy<Value = Case> {
    let shipped = || File::Shipped(Vec::new());
    let case = |weights, tokenizer, relist, manifest, rebind| Case { weights, tokenizer, relist, manifest, rebind };
    prop_oneof![
        // One file mutated (and relisted): its decoder is reached.
        3 => weights_file().prop_map(move |w| case(w, shipped(), true, shipped(), false)),
        3 => tokenizer_file().prop_map(move |t| case(shipped(), t, true, shipped(), false)),
        3 => manifest_file().prop_map(move |m| case(shipped(), shipped(), false, m, false)),
        // A config edited within what validates, the weights bound to it.
        2 => prop::collection::vec(config_edit(), 1..3)
            .prop_map(move |e| case(shipped(), shipped(), false, File::Edited(e, Vec::new()), true)),
        // Everything at once.
        2 => (weights_file(), tokenizer_file(), prop::bool::weighted(0.6), manifest_file(), any::<bool>())
            .prop_map(move |(w, t, r, m, b)| case(w, t, r, m, b)),
        1 => Just(case(shipped(), shipped(), false, shipped(), false)),
    ]
}

// ---- Checks ----

/// Loads, and with a model that loads, runs a small session through it.
fn check(files: &Files) -> Result<(), String> {
    let model = ModelFiles { manifest: &files.manifest, weights: &files.weights, tokenizer: &files.tokenizer };
    let loaded = no_panic("Ranker::load", || Ranker::load(model, cpu_device(), None))?;
    check_result("Ranker::load", &loaded)?;
    let Ok(mut ranker) = loaded else { return Ok(()) };
    tally(0);
    exercise(&mut ranker)
}

/// A session, candidates and calls that work on the shipped model: on any model that loads,
/// they must not panic, and a rerank that succeeds must be a permutation of the candidates.
fn exercise(ranker: &mut Ranker) -> Result<(), String> {
    let event = |kind, title: &str, query: Option<&str>| Event {
        kind,
        item_id: Some(title.into()),
        title: title.into(),
        category: "Drama".into(),
        price: Some(9.99),
        timestamp_ms: 1.7e12,
        dwell_ms: Some(12_000.0),
        query: query.map(str::to_string),
    };
    let events = vec![
        event(EventKind::ViewItem, "Toy Story (1995)", None),
        event(EventKind::Search, "", Some("star wars \u{e9}pisode \u{202E}")),
        event(EventKind::Purchase, "Heat (1995) \u{96FB}\u{5F71}", None),
    ];
    let item = |id: &str, title: &str, category: &str| Item { id: id.into(), title: title.into(), category: category.into(), popularity: Some(3.0) };
    let candidates = vec![
        item("a", "Star Wars (1977)", "Action / Sci-Fi"),
        item("b", "Fargo (1996) a", "Crime"),
        item("c", "[UNK] [CLS] ##s", "unknown"),
    ];
    let ctx = Context { hour: Some(20), weekday: Some(5), device: Some("mobile".into()), query: Some("space".into()), ..Context::default() };
    let r = no_panic("restore", || ranker.restore(events))?;
    check_result("restore", &r)?;
    for (explained, options) in [(false, RerankOptions::default()), (true, RerankOptions { top_k: Some(2), long_tail: 0.5, ..RerankOptions::default() })] {
        let r = no_panic("rerank", || match explained {
            true => ranker.rerank_explained(&candidates, &ctx, options.clone()),
            false => ranker.rerank(&candidates, &ctx, options.clone()),
        })?;
        check_result("rerank", &r)?;
        match &r {
            Ok(ranked) => {
                check_ranked(&candidates, &options, explained, ranked, false)?;
                tally(1);
                if ranked.iter().any(|r| !r.score.is_finite()) {
                    tally(2);
                }
            }
            Err(_) => tally(3),
        }
    }
    let r = no_panic("model_scores", || ranker.model_scores(&candidates, &ctx))?;
    check_result("model_scores", &r)
}

/// Loads that succeeded; reranks after a load that succeeded, those of them with a non-finite
/// score, those that failed; cases whose weights were re-bound to an edited config.
static TALLY: [AtomicUsize; 5] = [const { AtomicUsize::new(0) }; 5];

fn tally(i: usize) {
    TALLY[i].fetch_add(1, Ordering::Relaxed);
}

#[test]
fn model_files() {
    run("model_files", CI_CASES, case(), |case| check(&files_of(&case)));
    let t: Vec<usize> = TALLY.iter().map(|t| t.load(Ordering::Relaxed)).collect();
    eprintln!(
        "model_files: {} loads succeeded (shrinking included); after them {} reranks, {} with a non-finite score, {} errors; {} weights re-bound to an edited config",
        t[0], t[1], t[2], t[3], t[4]
    );
}

// ---- Fixed cases ----

#[test]
fn shipped_files_load_and_run() {
    let files = Files { manifest: MANIFEST.to_vec(), weights: WEIGHTS.to_vec(), tokenizer: TOKENIZER.to_vec() };
    let mut ranker = Ranker::load(ModelFiles { manifest: MANIFEST, weights: WEIGHTS, tokenizer: TOKENIZER }, cpu_device(), None)
        .expect("the shipped model loads");
    exercise(&mut ranker).unwrap();
    check(&files).unwrap();
}

#[test]
fn deep_nesting_in_every_file() {
    for d in [Deep::Arrays, Deep::Objects, Deep::Inside] {
        for (weights, tokenizer, manifest) in [
            (File::Shipped(vec![]), File::Deep(d.clone()), File::Shipped(vec![])),
            (File::Shipped(vec![]), File::Shipped(vec![]), File::Deep(d.clone())),
            (File::Deep(d.clone()), File::Shipped(vec![]), File::Shipped(vec![])),
        ] {
            let case = Case { weights, tokenizer, relist: true, manifest, rebind: false };
            let files = files_of(&case);
            check(&files).unwrap_or_else(|e| panic!("{case:?}: {e}"));
            // Deep nesting in a field the reader skips (tokenizer.json's "decoder") may load.
            if !matches!((&case.tokenizer, &d), (File::Deep(_), Deep::Inside)) {
                let model = ModelFiles { manifest: &files.manifest, weights: &files.weights, tokenizer: &files.tokenizer };
                assert!(Ranker::load(model, cpu_device(), None).is_err(), "{case:?} loaded");
            }
        }
    }
}

#[test]
fn empty_files() {
    for (m, w, t) in [(&b""[..], WEIGHTS, TOKENIZER), (MANIFEST, b"", TOKENIZER), (MANIFEST, WEIGHTS, b""), (b"", b"", b"")] {
        let files = Files { manifest: m.to_vec(), weights: w.to_vec(), tokenizer: t.to_vec() };
        check(&files).unwrap();
    }
}


/// Manifest configs that crashed localrank at 633cebc (before `ModelConfig::validate`, d66f206):
/// kept as regression cases. Each must now be refused with a message.
#[test]
fn configs_that_crashed_633cebc() {
    let cases: [(&'static str, Value, &str); 6] = [
        ("/config/heads", json!(0), "rerank panicked: attempt to divide by zero (src/model/fused.rs:192)"),
        ("/config/heads", json!(1_000_000_000_000u64), "rerank looped over 1e12 heads (hang)"),
        ("/config/dropout", json!(2), "load panicked in burn-nn dropout.rs:37 via src/model.rs:86"),
        ("/config/max_tokens", json!(4_294_967_295u64), "rerank aborted: allocation of 34 GB (src/text.rs:38)"),
        ("/config/layers", json!(1u64 << 40), "load aborted: allocation of 1.2 PB (src/model.rs:158)"),
        ("/config/d_model", json!(6_148_914_691_236_517_206u64), "load panicked: multiply with overflow (src/model.rs:80)"),
    ];
    for (path, value, before) in cases {
        for rebind in [false, true] {
            let case = Case {
                weights: File::Shipped(vec![]),
                tokenizer: File::Shipped(vec![]),
                relist: false,
                manifest: File::Edited(vec![Edit::Set(path, value.clone())], vec![]),
                rebind,
            };
            let files = files_of(&case);
            check(&files).unwrap_or_else(|e| panic!("{path} = {value} (633cebc: {before}): {e}"));
            let model = ModelFiles { manifest: &files.manifest, weights: &files.weights, tokenizer: &files.tokenizer };
            assert!(Ranker::load(model, cpu_device(), None).is_err(), "{path} = {value} loaded");
        }
    }
}
