//! libFuzzer twin of ../../tests/model_files.rs: the model files into `Ranker::load`.
//!
//! The first byte picks which file the rest of the input replaces; a replaced weights or
//! tokenizer file is listed in the shipped manifest with its size and sha256, so that it reaches
//! its decoder. A model that loads then ranks a small session. libFuzzer reports any panic or
//! abort as a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use localrank::features::{Context, Event, EventKind, Item};
use localrank::manifest::sha256_hex;
use localrank::runtime::cpu_device;
use localrank::{ModelFiles, Ranker, RerankOptions};

const MANIFEST: &[u8] = include_bytes!("../../../models/manifest.json");
const WEIGHTS: &[u8] = include_bytes!("../../../models/localrank.q8");
const TOKENIZER: &[u8] = include_bytes!("../../../models/vocab.txt");

fn relisted(weights: &[u8], tokenizer: &[u8]) -> Vec<u8> {
    let mut m: serde_json::Value = serde_json::from_slice(MANIFEST).expect("the shipped manifest parses");
    for (role, bytes) in [("weights", weights), ("tokenizer", tokenizer)] {
        m["files"][role]["bytes"] = bytes.len().into();
        m["files"][role]["sha256"] = sha256_hex(bytes).into();
    }
    serde_json::to_vec(&m).expect("a Value serialises")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let (manifest, weights, tokenizer) = match mode % 4 {
        0 => (rest.to_vec(), WEIGHTS.to_vec(), TOKENIZER.to_vec()),
        1 => (relisted(rest, TOKENIZER), rest.to_vec(), TOKENIZER.to_vec()),
        2 => (relisted(WEIGHTS, rest), WEIGHTS.to_vec(), rest.to_vec()),
        _ => {
            // Three files: two little-endian u16 lengths, then the bytes.
            let len = |i: usize| rest.get(i..i + 2).map_or(0, |b| u16::from_le_bytes([b[0], b[1]]) as usize);
            let body = rest.get(4..).unwrap_or(&[]);
            let a = len(0).min(body.len());
            let b = (a + len(2)).min(body.len());
            (body[..a].to_vec(), body[a..b].to_vec(), body[b..].to_vec())
        }
    };
    let files = ModelFiles { manifest: &manifest, weights: &weights, tokenizer: &tokenizer };
    let Ok(mut ranker) = Ranker::load(files, cpu_device(), None) else { return };
    let event = Event {
        kind: EventKind::SelectItem,
        item_id: Some("1".into()),
        title: "Toy Story (1995)".into(),
        category: "Animation".into(),
        price: None,
        timestamp_ms: 1.7e12,
        dwell_ms: Some(9_000.0),
        query: None,
    };
    let _ = ranker.observe(event);
    let item = |id: &str, title: &str| Item { id: id.into(), title: title.into(), category: "Drama".into(), popularity: None };
    let candidates = [item("a", "Heat (1995)"), item("b", "Fargo (1996)")];
    let ranked = ranker.rerank_explained(&candidates, &Context::default(), RerankOptions::default());
    if let Ok(ranked) = ranked {
        assert_eq!(ranked.len(), candidates.len(), "a rerank returns every candidate");
    }
});
