//! `localrank-train compact`: reads an exported model directory (full vocabulary, 8-bit), cuts
//! its vocabulary and stores its token table with 4 bits (`export::compact`), measures the
//! result against the original on the same test requests (`evaluation::compact_check`), and
//! writes the compact model directory with `compact-check.json`. docs/size.md.

use std::path::Path;

use burn::prelude::*;
use localrank::features::item_text;
use localrank::manifest::{sha256_hex, Manifest};
use localrank::text::TextEncoder;

use crate::cli::{CompactArgs, Input};
use crate::evaluation::compact_check::{self, Side};
use crate::export::{compact, model_dir};
use crate::pipeline::popular;
use crate::pipeline::prepare::{prepare, Prepared};

/// The model directory's three files.
struct ModelDir {
    manifest: Manifest,
    weights: Vec<u8>,
    tokenizer: Vec<u8>,
}

fn read_dir(dir: &Path) -> Result<ModelDir, String> {
    let read = |name: &str| std::fs::read(dir.join(name)).map_err(|e| format!("{}: {e}", dir.join(name).display()));
    let manifest = Manifest::parse(&read("manifest.json")?).map_err(|e| e.to_string())?;
    let file = |role: &str| manifest.file(role).map(|f| f.path.clone()).map_err(|e| e.to_string());
    let (weights, tokenizer) = (read(&file("weights")?)?, read(&file("tokenizer")?)?);
    manifest.verify("weights", &weights).map_err(|e| e.to_string())?;
    manifest.verify("tokenizer", &tokenizer).map_err(|e| e.to_string())?;
    Ok(ModelDir { manifest, weights, tokenizer })
}

pub fn run(args: &CompactArgs) -> Result<(), String> {
    let from = read_dir(&args.from)?;
    let full_config = from.manifest.config.clone();
    let vocab_size = TextEncoder::from_bytes(&from.tokenizer, 2, 1).map_err(|e| e.to_string())?.vocab_size();
    if full_config.text_buckets != vocab_size + 1 {
        return Err(format!(
            "{}: the model has {} token rows for a vocabulary of {vocab_size}: already compact (or folded); compact a model exported by `all`",
            args.from.display(),
            full_config.text_buckets
        ));
    }
    let input = args.events.as_ref().zip(args.catalogue.as_ref()).map(|(e, c)| Input { events: e.clone(), catalogue: c.clone() });
    let p = prepare(input.as_ref(), None, Some(args.order_seed))?;
    if p.data.categories != from.manifest.categories {
        return Err(format!("{}: the model's categories are not this data's: pass the files it was trained on", args.from.display()));
    }
    // The texts of the products the model learned: those with an event before the test period.
    let mut seen = vec![false; p.data.products.len()];
    p.data.events.iter().filter(|e| e.time < p.split.test_from).for_each(|e| seen[e.item] = true);
    let texts: Vec<String> = p.data.products.iter().zip(&seen).filter(|(_, s)| **s).map(|(q, _)| item_text(&q.title, &q.category())).collect();
    let full_text = TextEncoder::from_bytes(&from.tokenizer, full_config.text_buckets, full_config.max_tokens).map_err(|e| e.to_string())?;
    let tokenizer_json: serde_json::Value = serde_json::from_slice(&from.tokenizer).map_err(|e| e.to_string())?;
    let cut = |texts: &[String]| build(&from, &tokenizer_json, &full_text, texts, args.vocab);
    let shipped = cut(&texts)?;
    let vocab = &shipped.vocab;
    eprintln!(
        "compact: {} tokens kept of {vocab_size} ({} characters and specials, {} from {} product texts, {} frequent words)",
        vocab.keep.len(), vocab.characters, vocab.catalogue, texts.len(), vocab.frequent
    );
    let flex = Device::flex();
    let categories = &from.manifest.categories;
    let load = |c, w: &[u8]| localrank::quant::load(c, categories, w, &flex).map_err(|e| e.to_string());
    let full_model = load(&full_config, &from.weights)?;
    let compact_model = load(&shipped.config, &shipped.weights)?;
    let blend = from.manifest.personalization.unwrap_or(localrank::RerankOptions::default().personalization);
    let full = Side { name: "full vocabulary, 8-bit", config: &full_config, model: &full_model, tokenizer: &from.tokenizer };
    let small = Side { name: "compact", config: &shipped.config, model: &compact_model, tokenizer: &shipped.tokenizer };
    let mut check = compact_check::measure(&p, args.repeat_candidates, blend, &full, &small)?;
    check["personalization"] = blend.into();
    check["new_products"]["products_with_other_tokens"] = changed(&p, &full_text, &shipped, &seen, false)?.into();

    // The fallback where the slices above cannot show it (83 new-product requests on MovieLens):
    // a vocabulary cut without a seeded fifth of the products, scored on the requests whose
    // target is one of them.
    let held: Vec<bool> = (0..p.data.products.len()).map(|i| seen[i] && crate::hash::mix(&[HOLD_OUT_SEED, i as u64]) % 5 == 0).collect();
    let kept_texts: Vec<String> = p.data.products.iter().enumerate().filter(|&(i, _)| seen[i] && !held[i]).map(|(_, q)| item_text(&q.title, &q.category())).collect();
    let without = cut(&kept_texts)?;
    let without_model = load(&without.config, &without.weights)?;
    let small_without = Side { name: "compact, vocabulary without the held-out products", config: &without.config, model: &without_model, tokenizer: &without.tokenizer };
    let mut held_out = compact_check::measure_targets(&p, args.repeat_candidates, blend, &full, &small_without, |item| held[item])?;
    held_out["rule"] = serde_json::json!(format!(
        "a fifth of the products seen before the test period (seeded: mix({HOLD_OUT_SEED}, index) % 5 == 0; {} products) left out of the vocabulary's product texts; test requests whose target is one of them",
        held.iter().filter(|&&h| h).count()
    ));
    held_out["products_with_other_tokens"] = changed(&p, &full_text, &without, &held, true)?.into();
    check["held_out_vocabulary"] = held_out;
    check["from"] = serde_json::json!({
        "model": format!("{}@{}", from.manifest.name, from.manifest.version),
        "weights_sha256": sha256_hex(&from.weights), "weights_bytes": from.weights.len(),
        "tokenizer_bytes": from.tokenizer.len(), "token_rows": full_config.text_buckets,
    });
    let summary = serde_json::json!({
        "vocabulary": {"kept": vocab.keep.len(), "of": vocab_size, "characters_and_specials": vocab.characters,
            "catalogue": vocab.catalogue, "catalogue_products": texts.len(), "frequent_words": vocab.frequent, "budget": args.vocab,
            "rule": "specials, single characters and ## characters; every token of the products with an event before the test period; then the BERT vocabulary's words in id (frequency) order up to the budget"},
        "token_table": "4-bit, one f32 scale per 64 values (a row), clipped max-abs with the least squared error; other tensors 8-bit as before",
        "weights_bytes": shipped.weights.len(), "tokenizer_bytes": shipped.tokenizer.len(),
    });
    check["compact"] = summary.clone();
    check["command"] = serde_json::json!(crate::export::report::command_line());
    check["date"] = serde_json::json!(crate::export::report::utc_date_time(std::time::SystemTime::now()));

    let mut manifest = from.manifest.clone();
    manifest.config = shipped.config.clone();
    manifest.training["compact"] = summary;
    manifest.training["compact"]["from"] = check["from"].clone();
    let popular = popular(&p.data, p.split.valid_from);
    model_dir::write_dir(&args.out, manifest, &shipped.weights, &shipped.tokenizer, &p.data, &popular)?;
    let path = args.out.join("compact-check.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&check).unwrap()).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!(
        "compact: wrote {} (weights {} -> {} bytes, tokenizer {} -> {} bytes)",
        args.out.display(), from.weights.len(), shipped.weights.len(), from.tokenizer.len(), shipped.tokenizer.len()
    );
    Ok(())
}

/// Seed of the products left out of the held-out-vocabulary check's vocabulary.
const HOLD_OUT_SEED: u64 = 20_261_207;

/// A compact model: its vocabulary, config, bound weights and tokenizer file.
struct Built {
    vocab: compact::Vocabulary,
    config: localrank::model::ModelConfig,
    weights: Vec<u8>,
    tokenizer: Vec<u8>,
}

/// The compact model of `from` whose vocabulary covers `texts` (`export::compact`).
fn build(from: &ModelDir, tokenizer: &serde_json::Value, full_text: &TextEncoder, texts: &[String], budget: usize) -> Result<Built, String> {
    let vocab = compact::choose(tokenizer, full_text, texts, budget)?;
    let full = &from.manifest.config;
    let config = vocab.config(full);
    let cut = localrank::quant::compact_table(&from.weights, [full.text_buckets, full.d_model], &vocab.rows()).map_err(|e| e.to_string())?;
    let weights = localrank::quant::bind(&cut, &config, &from.manifest.categories).map_err(|e| e.to_string())?;
    let tokenizer = compact::tokenizer(tokenizer, &vocab)?;
    Ok(Built { vocab, config, weights, tokenizer })
}

/// How many products (those with `pick` equal to `among`) `small` tokenises into other pieces
/// than the full vocabulary does: the products whose words its vocabulary lacks.
fn changed(p: &Prepared, full: &TextEncoder, small: &Built, pick: &[bool], among: bool) -> Result<usize, String> {
    let text = TextEncoder::from_bytes(&small.tokenizer, small.config.text_buckets, small.config.max_tokens).map_err(|e| e.to_string())?;
    // Full bucket b is old id b - 1; kept, it is compact bucket (its index in `keep`) + 1.
    let mapped = |b: i64| if b == 0 { Some(0) } else { small.vocab.keep.binary_search(&((b - 1) as u32)).ok().map(|i| i as i64 + 1) };
    let mut n = 0;
    for (q, _) in p.data.products.iter().zip(pick).filter(|&(_, &k)| k == among) {
        let t = item_text(&q.title, &q.category());
        let (a, b) = (full.encode(&t).map_err(|e| e.to_string())?, text.encode(&t).map_err(|e| e.to_string())?);
        n += usize::from(a.iter().map(|&x| mapped(x)).ne(b.iter().map(|&x| Some(x))));
    }
    Ok(n)
}
