//! Shared by the native and the wasm tests: the shipped model files, compiled in.

use localrank::golden::Golden;
use localrank::ModelFiles;

pub const MANIFEST: &[u8] = include_bytes!("../../models/manifest.json");
pub const WEIGHTS: &[u8] = include_bytes!("../../models/localrank.q8");
pub const TOKENIZER: &[u8] = include_bytes!("../../models/tokenizer.json");
pub const GOLDEN: &[u8] = include_bytes!("../../models/golden.json");

pub fn files() -> ModelFiles<'static> {
    ModelFiles { manifest: MANIFEST, weights: WEIGHTS, tokenizer: TOKENIZER }
}

pub fn golden() -> Golden {
    serde_json::from_slice(GOLDEN).expect("models/golden.json parses")
}
