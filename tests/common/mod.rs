//! Shared by the native and the wasm tests: the shipped model files, compiled in.

use localrank::features::{Event, EventKind, Item};
use localrank::golden::Golden;
use localrank::ModelFiles;

pub const MANIFEST: &[u8] = include_bytes!("../../models/manifest.json");
pub const WEIGHTS: &[u8] = include_bytes!("../../models/localrank.q8");
pub const TOKENIZER: &[u8] = include_bytes!("../../models/vocab.txt");
pub const GOLDEN: &[u8] = include_bytes!("../../models/golden.json");

pub fn files() -> ModelFiles<'static> {
    ModelFiles { manifest: MANIFEST, weights: WEIGHTS, tokenizer: TOKENIZER }
}

pub fn golden() -> Golden {
    serde_json::from_slice(GOLDEN).expect("models/golden.json parses")
}

/// A `select_item` event on `item` (not every test binary uses it).
#[allow(dead_code)]
pub fn click(item: &Item) -> Event {
    Event {
        kind: EventKind::SelectItem,
        item_id: Some(item.id.clone()),
        title: item.title.clone(),
        category: item.category.clone(),
        price: None,
        timestamp_ms: 1.7e12,
        dwell_ms: None,
        query: None,
    }
}
