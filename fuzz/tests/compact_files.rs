//! Fuzz target 4: the compact model's files (`localrank-train compact`, docs/size.md; the shipped
//! model is one) into `Ranker::load`, aimed at the two decoders the full format never reaches:
//! the LRQ8 v3 row-coded token table (k, parts, bitmap, codes) and the front-coded vocabulary
//! file. The shipped files are mutated: byte flips (most in the table's header, bitmap and
//! codes, and the vocabulary's header and first lines), u32 overwrites, truncations and appended
//! bytes, each file re-listed in the manifest with its new size and sha256 so that it reaches
//! its decoder. Checked: nothing panics; an error has a message; a model that loads reranks a
//! permutation of the candidates.

use localrank::features::{Context, Event, EventKind, Item};
use localrank::manifest::sha256_hex;
use localrank::runtime::cpu_device;
use localrank::{wordpiece, ModelFiles, Ranker, RerankOptions};
use localrank_fuzz::proptest::prelude::*;
use localrank_fuzz::{check_ranked, check_result, no_panic, run, MANIFEST, TOKENIZER, WEIGHTS};
use serde_json::Value;

/// The CI budget: each case decodes a 30,523-row table (~10 ms in the dev profile).
const CI_CASES: u32 = 256;

/// A mutation of one file: (offset, xor) flips, a u32 written at an offset, a cut, appended bytes.
#[derive(Clone, Debug)]
enum Op {
    Flip(usize, u8),
    SetU32(usize, u32),
    Truncate(usize),
    Append(Vec<u8>),
}

/// Offsets: mostly near the start (the table's header, k, bitmap; the vocabulary's header and
/// first lines), some anywhere (`usize` taken modulo the length).
fn op() -> impl Strategy<Value = Op> {
    let at = prop_oneof![3 => 0usize..4096, 1 => any::<usize>()];
    prop_oneof![
        4 => (at.clone(), 1u8..=255).prop_map(|(a, x)| Op::Flip(a, x)),
        2 => (at.clone(), prop_oneof![Just(0u32), Just(1), Just(255), Just(256), Just(u32::MAX), any::<u32>()]).prop_map(|(a, v)| Op::SetU32(a, v)),
        1 => at.prop_map(Op::Truncate),
        1 => proptest::collection::vec(any::<u8>(), 1..16).prop_map(Op::Append),
    ]
}

fn apply(mut bytes: Vec<u8>, ops: &[Op]) -> Vec<u8> {
    for op in ops {
        let n = bytes.len().max(1);
        match op {
            Op::Flip(a, x) => {
                if let Some(b) = bytes.get_mut(a % n) {
                    *b ^= x;
                }
            }
            Op::SetU32(a, v) => {
                let at = a % n;
                for (i, b) in v.to_le_bytes().into_iter().enumerate() {
                    if let Some(slot) = bytes.get_mut(at + i) {
                        *slot = b;
                    }
                }
            }
            Op::Truncate(a) => bytes.truncate(a % n),
            Op::Append(tail) => bytes.extend_from_slice(tail),
        }
    }
    bytes
}

fn check((weight_ops, vocab_ops): (Vec<Op>, Vec<Op>)) -> Result<(), String> {
    let (weights, vocab) = (apply(WEIGHTS.to_vec(), &weight_ops), apply(TOKENIZER.to_vec(), &vocab_ops));
    let mut m: Value = serde_json::from_slice(MANIFEST).unwrap();
    for (role, path, bytes) in [("weights", "localrank.q8", &weights), ("tokenizer", "vocab.txt", &vocab)] {
        m["files"][role] = serde_json::json!({ "path": path, "bytes": bytes.len(), "sha256": sha256_hex(bytes) });
    }
    let manifest = serde_json::to_vec(&m).unwrap();
    let files = ModelFiles { manifest: &manifest, weights: &weights, tokenizer: &vocab };
    let loaded = no_panic("Ranker::load", || Ranker::load(files, cpu_device(), None))?;
    check_result("Ranker::load", &loaded)?;
    let Ok(mut ranker) = loaded else { return Ok(()) };
    let event = Event {
        kind: EventKind::ViewItem, item_id: Some("1".into()), title: "Toy Story (1995)".into(), category: "Animation".into(),
        price: None, timestamp_ms: 1.7e12, dwell_ms: None, query: None,
    };
    check_result("restore", &no_panic("restore", || ranker.restore(vec![event]))?)?;
    let item = |id: &str, title: &str| Item { id: id.into(), title: title.into(), category: "Drama".into(), popularity: None };
    let candidates = [item("a", "Star Wars (1977)"), item("b", "Fargo \u{96FB}\u{5F71} [UNK]"), item("c", "##s zzzqqq")];
    let options = RerankOptions::default();
    let r = no_panic("rerank", || ranker.rerank(&candidates, &Context::default(), options.clone()))?;
    check_result("rerank", &r)?;
    match r {
        Ok(ranked) => check_ranked(&candidates, &options, false, &ranked, false),
        Err(_) => Ok(()),
    }
}

#[test]
fn compact_files() {
    let ops = || proptest::collection::vec(op(), 0..4);
    run("compact_files", CI_CASES, (ops(), ops()), check);
}

#[test]
fn unmutated_compact_files_load_and_rerank() {
    check((Vec::new(), Vec::new())).unwrap();
    assert_eq!(WEIGHTS[44 + 4 + 8], 1, "the shipped token table is row-coded");
    assert!(TOKENIZER.starts_with(wordpiece::VOCAB_MAGIC.as_bytes()), "the shipped vocabulary is a compact file");
}
