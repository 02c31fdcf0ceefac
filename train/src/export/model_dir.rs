//! Writes `models/` (weights, tokenizer, golden scores, manifest) and the demo's data files.

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use localrank::features::{Context, Event, EventKind, Item, TrainedInputs};
use localrank::golden::Golden;
use localrank::manifest::{sha256_hex, FileEntry, Manifest, FORMAT_VERSION};
use localrank::model::{Model, ModelConfig};
use localrank::{ModelFiles, Ranker};

use crate::data::dataset::ItemInputs;
use crate::data::movielens::Data;

pub const WEIGHTS: &str = "localrank.q8";
pub const TOKENIZER: &str = "tokenizer.json";
pub const GOLDEN: &str = "golden.json";

fn write(path: &Path, bytes: &[u8]) -> Result<FileEntry, String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(entry(path, bytes))
}

fn entry(path: &Path, bytes: &[u8]) -> FileEntry {
    FileEntry {
        path: path.file_name().unwrap().to_string_lossy().into_owned(),
        bytes: bytes.len() as u64,
        sha256: sha256_hex(bytes),
    }
}

fn item(data: &Data, i: usize) -> Item {
    let p = &data.products[i];
    Item { id: p.id.clone(), title: p.title.clone(), category: p.category(), popularity: None }
}

/// A model directory's three files, each checked against its manifest entry.
pub struct ModelDir {
    pub manifest: Manifest,
    pub weights: Vec<u8>,
    pub tokenizer: Vec<u8>,
}

pub fn read_dir(dir: &Path) -> Result<ModelDir, String> {
    let read = |name: &str| std::fs::read(dir.join(name)).map_err(|e| format!("{}: {e}", dir.join(name).display()));
    let manifest = Manifest::parse(&read("manifest.json")?).map_err(|e| e.to_string())?;
    let file = |role: &str| manifest.file(role).map(|f| f.path.clone()).map_err(|e| e.to_string());
    let (weights, tokenizer) = (read(&file("weights")?)?, read(&file("tokenizer")?)?);
    manifest.verify("weights", &weights).map_err(|e| e.to_string())?;
    manifest.verify("tokenizer", &tokenizer).map_err(|e| e.to_string())?;
    Ok(ModelDir { manifest, weights, tokenizer })
}

impl ModelDir {
    /// `weights` (this directory's or others of the same config) as the model they hold.
    pub fn load(&self, weights: &[u8]) -> Result<Model, String> {
        let m = &self.manifest;
        localrank::quant::load(&m.config, &m.categories, weights, &Device::flex()).map_err(|e| e.to_string())
    }

    /// The products' inputs read through this directory's own tokenizer file, as the browser
    /// reads them for this model.
    pub fn items(&self, data: &Data) -> Result<ItemInputs, String> {
        ItemInputs::from_tokenizer(data, &self.tokenizer, &self.manifest.config)
    }

    /// The browser's default blend with the server order (chosen on validation at export).
    pub fn personalization(&self) -> f32 {
        self.manifest.personalization.unwrap_or(localrank::RerankOptions::default().personalization)
    }
}

/// Exports the trained model to `dir`. `popular`: product indices by training popularity;
/// `personalization`: the blend chosen on validation, the browser's default; `adaptation`: the
/// on-device biases' weight chosen on validation (`localrank::adapt`, 0: off).
#[allow(clippy::too_many_arguments)]
pub fn export(
    dir: &Path,
    name: &str,
    weights: &[u8],
    config: &ModelConfig,
    data: &Data,
    tokenizer: &[u8],
    popular: &[usize],
    inputs: TrainedInputs,
    personalization: f32,
    adaptation: f32,
    training: serde_json::Value,
) -> Result<(), String> {
    // 8-bit weights (`localrank::quant`, LRQ8) bound to the config and category names written
    // below, so that an edit of either in manifest.json is caught at load; the golden scores
    // below are the quantised model's.
    let weights = &localrank::quant::bind(weights, config, &data.categories).map_err(|e| format!("export: {e}"))?;
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        name: name.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        config: config.clone(),
        categories: data.categories.clone(),
        files: BTreeMap::new(),
        weights_format: "lrq8".into(),
        inputs,
        personalization: Some(personalization),
        adaptation: Some(adaptation),
        training,
    };
    write_dir(dir, manifest, weights, (TOKENIZER, tokenizer), data, popular)
}

/// Writes `manifest` (its `files` replaced) with the bound `weights`, the tokenizer file
/// (name, bytes) and the golden scores of the two through the browser's `Ranker` into `dir`.
pub fn write_dir(dir: &Path, mut manifest: Manifest, weights: &[u8], (tokenizer_name, tokenizer): (&str, &[u8]), data: &Data, popular: &[usize]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    manifest.files = BTreeMap::new();
    manifest.files.insert("weights".to_string(), write(&dir.join(WEIGHTS), weights)?);
    manifest.files.insert("tokenizer".to_string(), write(&dir.join(tokenizer_name), tokenizer)?);
    let golden = golden(&manifest, weights, tokenizer, data, popular)?;
    let golden_json = serde_json::to_vec_pretty(&golden).unwrap();
    manifest.files.insert("golden".into(), write(&dir.join(GOLDEN), &golden_json)?);
    let json = serde_json::to_vec_pretty(&manifest).unwrap();
    std::fs::write(dir.join("manifest.json"), json).map_err(|e| e.to_string())?;
    Ok(())
}

/// A fixed session (the first products of one genre, in popularity order) scored by the
/// exported files through the same `Ranker` the browser uses.
fn golden(
    manifest: &Manifest,
    weights: &[u8],
    tokenizer: &[u8],
    data: &Data,
    popular: &[usize],
) -> Result<Golden, String> {
    let manifest_json = serde_json::to_vec(manifest).unwrap();
    let files = ModelFiles { manifest: &manifest_json, weights, tokenizer };
    let mut ranker = Ranker::load(files, Device::flex(), None).map_err(|e| e.to_string())?;
    // One genre's products (the third most common, or the only one there is); all products
    // when the catalogue has no categories.
    let genre = data.categories.get(2).or(data.categories.last());
    let session: Vec<Event> = popular
        .iter()
        .filter(|&&i| genre.is_none_or(|g| data.products[i].genres.contains(g)))
        .take(4)
        .enumerate()
        .map(|(n, &i)| {
            let it = item(data, i);
            Event {
                kind: if n == 3 { EventKind::AddToCart } else { EventKind::SelectItem },
                item_id: Some(it.id),
                title: it.title,
                category: it.category,
                price: None,
                timestamp_ms: 1.7e12 + n as f64 * 60_000.0,
                dwell_ms: Some(20_000.0 * n as f64),
                query: None,
            }
        })
        .collect();
    for e in &session {
        ranker.observe(e.clone()).map_err(|e| e.to_string())?;
    }
    let context = Context {
        hour: Some(20),
        weekday: Some(5),
        device: Some("mobile".into()),
        page_type: Some("home".into()),
        category: None,
        promotion: Some(false),
        query: None,
    };
    let candidates: Vec<Item> = popular.iter().take(30).map(|&i| item(data, i)).collect();
    let scores = ranker.model_scores(&candidates, &context).map_err(|e| e.to_string())?;
    Ok(Golden { session, context, candidates, scores })
}

/// Each exported file of `dir` (the manifest's entries, and manifest.json) with its size.
pub fn file_sizes(dir: &Path) -> Result<Vec<(String, u64)>, String> {
    let path = dir.join("manifest.json");
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out: Vec<(String, u64)> = manifest.files.values().map(|f| (f.path.clone(), f.bytes)).collect();
    out.push(("manifest.json".into(), bytes.len() as u64));
    Ok(out)
}

/// `www/data/catalog.json` and `www/data/server-candidates.json` for the demo.
pub fn demo_data(www: &Path, data: &Data, popular: &[usize]) -> Result<(), String> {
    let dir = www.join("data");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let items: Vec<serde_json::Value> = data
        .products
        .iter()
        .map(|p| serde_json::json!({"id": p.id, "title": p.title, "category": p.category(), "genres": p.genres}))
        .collect();
    let catalog = serde_json::json!({
        "source": "MovieLens-100k (GroupLens), from the PyPI package recbole 1.2.1; each movie is a product",
        "items": items,
    });
    let ids: Vec<&str> = popular.iter().take(100).map(|&i| data.products[i].id.as_str()).collect();
    let server = serde_json::json!({
        "source": "non-personal server order: the 100 most-rated products in the training split",
        "candidates": ids,
    });
    let put = |name: &str, v: &serde_json::Value| {
        std::fs::write(dir.join(name), serde_json::to_vec(v).unwrap()).map_err(|e| e.to_string())
    };
    put("catalog.json", &catalog)?;
    put("server-candidates.json", &server)
}
