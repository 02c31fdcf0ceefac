//! The run's input, read once: the MovieLens example or a storefront's files, the tokenizer,
//! the time split, training windows and validation cases.

use std::path::Path;

use localrank::model::ModelConfig;
use localrank::text::TextEncoder;

use crate::cli::Input;
use crate::data::dataset::{self, by_user, cases, windows, ItemInputs, Split};
use crate::data::{fetch, ingest, movielens};

/// Where the run's data came from, as the manifest and the report record it.
pub struct Origin {
    /// The model's name in the manifest.
    pub name: String,
    /// One line: the data set, or the two files.
    pub description: String,
    /// The input files with their size and sha256 (the example: the pinned wheel).
    pub inputs: serde_json::Value,
    /// The ingestion report (rows read and skipped per file, problems, events by kind).
    pub summary: String,
    /// The documented example: also writes the demo's data and EVALUATION.md.
    pub example: bool,
}

/// Everything the commands share: data, tokenizer, split, inputs.
pub struct Prepared {
    pub data: movielens::Data,
    pub origin: Origin,
    pub tokenizer: Vec<u8>,
    pub config: ModelConfig,
    pub items: ItemInputs,
    pub split: Split,
    pub users: Vec<Vec<movielens::Interaction>>,
    pub train_windows: Vec<dataset::Window>,
    pub valid: Vec<dataset::Case>,
}

/// The MovieLens example.
fn example(tie_seed: Option<u64>) -> Result<(movielens::Data, Origin), String> {
    let src = fetch::sources()?;
    let data = movielens::load(&src.inter, &src.item, tie_seed)?;
    let origin = Origin {
        name: "localrank-ml100k".into(),
        description: "MovieLens-100k from PyPI recbole==1.2.1 (sha256 checked), events = ratings as select_item".into(),
        inputs: serde_json::json!([{"wheel": fetch::RECBOLE.file, "sha256": fetch::RECBOLE.sha256}]),
        summary: format!("{} products, {} events (every rating a select_item)\n", data.products.len(), data.events.len()),
        example: true,
    };
    Ok((data, origin))
}

/// A storefront's files, streamed; rows with problems are skipped, counted and reported.
fn files(input: &Input) -> Result<(movielens::Data, Origin), String> {
    let loaded = ingest::load(&input.events, &input.catalogue)?;
    let report = loaded.report.render();
    eprint!("{report}");
    if loaded.data.events.is_empty() {
        return Err(format!("{}: no usable events (see the problems above)", input.events.display()));
    }
    let kinds: Vec<String> =
        localrank::features::EventKind::NAMES.iter().zip(loaded.kinds).map(|(n, c)| format!("{n} {c}")).collect();
    let summary = format!(
        "{report}events by kind: {}\n{} products, {} categories, {} events in the item sequence, {} users, {} searches without an item (not in the sequence)\n",
        kinds.join(", "), loaded.data.products.len(), loaded.data.categories.len(), loaded.data.events.len(), loaded.users.len(), loaded.searches
    );
    let origin = Origin {
        name: "localrank-model".into(),
        description: format!("events {}, catalogue {}", input.events.display(), input.catalogue.display()),
        inputs: serde_json::json!([file_entry(&input.events)?, file_entry(&input.catalogue)?]),
        summary,
        example: false,
    };
    Ok((loaded.data, origin))
}

/// Path, size and sha256 of an input file (read in blocks: logs can be large).
fn file_entry(path: &Path) -> Result<serde_json::Value, String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (mut hash, mut buf, mut bytes) = (Sha256::new(), vec![0u8; 1 << 20], 0u64);
    loop {
        let n = f.read(&mut buf).map_err(|e| format!("{}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        bytes += n as u64;
    }
    let sha256: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(serde_json::json!({"path": path.display().to_string(), "bytes": bytes, "sha256": sha256}))
}

/// Reads the input (files, or the MovieLens example when `input` is None, its same-second events
/// in the order of `tie_seed`) and builds the split.
pub fn prepare(input: Option<&Input>, name: Option<&str>, tie_seed: Option<u64>) -> Result<Prepared, String> {
    let (data, mut origin) = match input {
        Some(i) => files(i)?,
        None => example(tie_seed)?,
    };
    if let Some(n) = name {
        origin.name = n.into();
    }
    let tokenizer = std::fs::read(fetch::sources()?.tokenizer).map_err(|e| e.to_string())?;
    let vocab = TextEncoder::from_bytes(&tokenizer, 2, 1).map_err(|e| e.to_string())?.vocab_size();
    // One token row per vocabulary token: the rows come from the teacher's text model.
    let config = ModelConfig::new(data.categories.len() + 1).with_text_buckets(vocab + 1);
    let text = TextEncoder::from_bytes(&tokenizer, config.text_buckets, config.max_tokens)
        .map_err(|e| e.to_string())?;
    let split = Split::by_time(&data.events);
    let users = by_user(&data.events);
    let train_windows = windows(&users, split.valid_from, config.max_session);
    // Every 4th validation case: enough to pick the epoch, a quarter of the time.
    let valid: Vec<_> = cases(&users, split.valid_from, split.test_from, config.max_session)
        .into_iter()
        .step_by(4)
        .collect();
    if train_windows.is_empty() || valid.is_empty() {
        return Err(format!(
            "{}: too little data to train: {} training windows, {} validation cases (each user needs 2+ events before the 80th percentile of time, and later events to validate)",
            origin.description, train_windows.len(), valid.len()
        ));
    }
    eprintln!(
        "data: {} products, {} events; {} training windows, {} validation cases",
        data.products.len(),
        data.events.len(),
        train_windows.len(),
        valid.len()
    );
    let items = ItemInputs::new(&data, &text);
    Ok(Prepared { data, origin, tokenizer, config, items, split, users, train_windows, valid })
}
