//! `localrank-train compact` (and the last step of `all`): reads an exported model directory
//! (full vocabulary, 8-bit), stores it compactly (`export::compact`: exact 4-bit rows for the
//! catalogue's tokens, product-quantised codes for the rest, a front-coded vocabulary file), measures the result against the
//! original on the same test requests (`evaluation::compact_check`), and writes the compact
//! model directory with `compact-check.json`. docs/size.md.

use std::path::Path;

use localrank::features::item_text;
use localrank::manifest::sha256_hex;
use localrank::text::TextEncoder;
use localrank::wordpiece::WordPiece;

use crate::cli::{CompactArgs, CompactSettings, Input};
use crate::evaluation::compact_check::{self, Side};
use crate::export::model_dir::{self, read_dir, ModelDir};
use crate::export::compact;
use crate::pipeline::popular;
use crate::pipeline::prepare::{prepare, Prepared};

/// The compact vocabulary file's name in the model directory.
pub const VOCAB: &str = "vocab.txt";
/// Where `all` keeps the full model it compacted, under its output directory.
pub const FULL: &str = "full";
/// Seed of the k-means start and of the products left out of the held-out check's exact rows.
const SEED: u64 = 20_261_207;

/// What every compact model of one run shares: the full model, its token table and the order.
struct Source<'a> {
    from: &'a ModelDir,
    tokenizer: serde_json::Value,
    text: TextEncoder,
    table: Vec<f32>,
}

impl Source<'_> {
    /// The compact weights whose exact rows cover `texts`, and why each row is exact.
    fn build(&self, order: &compact::Order, texts: &[String], settings: &CompactSettings) -> Result<(compact::Exact, Vec<u8>), String> {
        let exact = compact::choose(&self.tokenizer, &self.text, texts, settings.vocab)?;
        let c = &self.from.manifest.config;
        let coded = compact::code(&self.table, c.d_model, order, &exact.ids, settings.parts, SEED);
        let shape = [c.text_buckets, c.d_model];
        let unbound = localrank::quant::code_table(&self.from.weights, shape, &coded.rows, &coded.exact, coded.parts, &coded.codes, &coded.codebook)
            .map_err(|e| e.to_string())?;
        let weights = localrank::quant::bind(&unbound, c, &self.from.manifest.categories).map_err(|e| e.to_string())?;
        Ok((exact, weights))
    }

    /// `weights` (the full model's or a compact one) as the model they hold.
    fn load(&self, weights: &[u8]) -> Result<localrank::model::Model, String> {
        self.from.load(weights)
    }
}

/// `localrank-train compact`.
pub fn run(args: &CompactArgs) -> Result<(), String> {
    let input = args.events.as_ref().zip(args.catalogue.as_ref()).map(|(e, c)| Input { events: e.clone(), catalogue: c.clone() });
    let p = prepare(input.as_ref(), None, Some(args.order_seed))?;
    compact_dir(&args.from, &args.out, &p, args.repeat_candidates, &args.compact)
}

/// Compacts the full model in `from` (trained on `p`) into `out` (which may be `from`: it is read
/// first), with `out/compact-check.json`.
pub fn compact_dir(from_dir: &Path, out: &Path, p: &Prepared, repeat_candidates: bool, settings: &CompactSettings) -> Result<(), String> {
    let from = read_dir(from_dir)?;
    let config = from.manifest.config.clone();
    let vocab_size = TextEncoder::from_bytes(&from.tokenizer, 2, 1).map_err(|e| e.to_string())?.vocab_size();
    if config.text_buckets != vocab_size + 1 || !from.tokenizer.starts_with(b"{") {
        return Err(format!("{}: not a full model (tokenizer.json and one token row per token): compact a model exported by `all`", from_dir.display()));
    }
    if p.data.categories != from.manifest.categories {
        return Err(format!("{}: the model's categories are not this data's: pass the files it was trained on", from_dir.display()));
    }
    let src = Source {
        from: &from,
        tokenizer: serde_json::from_slice(&from.tokenizer).map_err(|e| e.to_string())?,
        text: TextEncoder::from_bytes(&from.tokenizer, config.text_buckets, config.max_tokens).map_err(|e| e.to_string())?,
        table: localrank::quant::token_table(&from.weights, [config.text_buckets, config.d_model]).map_err(|e| e.to_string())?,
    };
    let order = compact::order(&src.tokenizer)?;
    let vocab = compact::vocab_file(&src.tokenizer, &order)?;
    same_ids(&from.tokenizer, &vocab, &order, p.data.products.iter().map(|q| item_text(&q.title, &q.category())))?;
    // The texts of the products the model learned: those with an event before the test period.
    let mut seen = vec![false; p.data.products.len()];
    p.data.events.iter().filter(|e| e.time < p.split.test_from).for_each(|e| seen[e.item] = true);
    let texts = texts_of(p, &|i| seen[i]);
    let (exact, weights) = src.build(&order, &texts, settings)?;
    eprintln!(
        "compact: {} exact rows of {} ({} characters and specials, {} from {} product texts, {} frequent words); the rest in {} pieces of {} centroids",
        exact.ids.len() + 1, config.text_buckets, exact.characters, exact.catalogue, texts.len(), exact.frequent, settings.parts, compact::CENTROIDS
    );

    let (full_model, compact_model) = (src.load(&from.weights)?, src.load(&weights)?);
    let blend = from.manifest.personalization.unwrap_or(localrank::RerankOptions::default().personalization);
    let full = Side { name: "full (tokenizer.json, 8-bit table)", config: &config, model: &full_model, tokenizer: &from.tokenizer };
    let small = Side { name: "compact", config: &config, model: &compact_model, tokenizer: &vocab };
    let mut check = compact_check::measure(p, repeat_candidates, blend, &full, &small)?;
    check["personalization"] = blend.into();
    check["new_products"]["products_with_coded_rows"] = coded_products(p, &src.text, &exact, &|i| !seen[i])?.into();
    if settings.check_folds > 0 {
        check["held_out_products"] = held_out(p, &src, &order, &vocab, &seen, repeat_candidates, blend, &full, settings)?;
    }

    let summary = serde_json::json!({
        "exact_rows": {"rows": exact.ids.len() + 1, "of": config.text_buckets, "characters_and_specials": exact.characters,
            "catalogue": exact.catalogue, "catalogue_products": texts.len(), "frequent_words": exact.frequent, "budget": settings.vocab,
            "rule": "padding, specials, single characters and ## characters; every token of the products with an event before the test period; then the BERT vocabulary's words in id (frequency) order up to the budget; 4-bit, one f32 scale per 64 values (a row), clipped max-abs with the least squared error"},
        "other_rows": format!(
            "{} bytes each: the row in {} pieces, each the nearest of {} centroids of its piece (k-means over {} rows' pieces), 8-bit",
            settings.parts, settings.parts, compact::CENTROIDS, config.text_buckets - exact.ids.len() - 1
        ),
        "parts": settings.parts,
        "vocabulary": format!("{VOCAB}: the full vocabulary, [PAD] first then sorted, front-coded; tokenisation identical to tokenizer.json's"),
        "weights_bytes": weights.len(), "tokenizer_bytes": vocab.len(),
        "from": {"model": format!("{}@{}", from.manifest.name, from.manifest.version), "weights_sha256": sha256_hex(&from.weights),
            "weights_bytes": from.weights.len(), "tokenizer_bytes": from.tokenizer.len()},
    });
    check["compact"] = summary.clone();
    check["command"] = serde_json::json!(crate::export::report::command_line());
    check["date"] = serde_json::json!(crate::export::report::utc_date_time(std::time::SystemTime::now()));

    let mut manifest = from.manifest.clone();
    manifest.training["compact"] = summary;
    let popular = popular(&p.data, p.split.valid_from);
    model_dir::write_dir(out, manifest, &weights, (VOCAB, &vocab), &p.data, &popular)?;
    let path = out.join("compact-check.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&check).unwrap()).map_err(|e| format!("{}: {e}", path.display()))?;
    // The full vocabulary of an earlier export to `out` (or of `from`, compacted in place, whose
    // weights are now the compact ones) is listed by no manifest there: not shipped by mistake.
    std::fs::remove_file(out.join(model_dir::TOKENIZER)).ok();
    let shipped = from.manifest.training["shipped"].as_str().unwrap_or("student").split(',').next().unwrap_or("student").to_string();
    crate::export::report::rewrite_model_section(out, &shipped, &model_dir::file_sizes(out)?)?;
    eprintln!(
        "compact: wrote {} (weights {} -> {} bytes, tokenizer {} -> {} bytes)",
        out.display(), from.weights.len(), weights.len(), from.tokenizer.len(), vocab.len()
    );
    Ok(())
}

/// The fallback where the slices of `measure` cannot show it (83 new-product requests on
/// MovieLens): folds of the products seen before the test period; each fold's exact rows are
/// chosen without that fold's products, and its model scores the requests whose target is in it.
#[allow(clippy::too_many_arguments)]
fn held_out(p: &Prepared, src: &Source, order: &compact::Order, vocab: &[u8], seen: &[bool], repeat_candidates: bool, blend: f32, full: &Side, settings: &CompactSettings) -> Result<serde_json::Value, String> {
    let fold_of: Vec<Option<usize>> = (0..p.data.products.len())
        .map(|i| seen[i].then(|| (crate::hash::mix(&[SEED, i as u64]) % settings.check_folds as u64) as usize))
        .collect();
    let fold_of = &fold_of;
    let picks: Vec<_> = (0..settings.check_folds).map(|k| move |i: usize| fold_of[i] == Some(k)).collect();
    let (mut models, mut coded) = (Vec::new(), 0);
    for pick in &picks {
        let (held_exact, w) = src.build(order, &texts_of(p, &|i| seen[i] && !pick(i)), settings)?;
        coded += coded_products(p, &src.text, &held_exact, pick)?;
        models.push(src.load(&w)?);
    }
    let name = "compact, exact rows chosen without the fold's products";
    let folds: Vec<(Side, &dyn Fn(usize) -> bool)> = models
        .iter()
        .zip(&picks)
        .map(|(m, pick)| (Side { name, config: &src.from.manifest.config, model: m, tokenizer: vocab }, pick as &dyn Fn(usize) -> bool))
        .collect();
    let mut held_out = compact_check::cross_fitted(p, repeat_candidates, blend, full, &folds)?;
    let k = settings.check_folds;
    held_out["rule"] = serde_json::json!(format!(
        "the products seen before the test period in {k} seeded folds (mix({SEED}, index) % {k}); each fold's compact model chooses its exact rows without that fold's product texts and scores the test requests whose target is in the fold"
    ));
    held_out["products_with_coded_rows"] = coded.into();
    Ok(held_out)
}

/// The texts (title and category, as the model reads them) of the products `pick` picks.
fn texts_of(p: &Prepared, pick: &dyn Fn(usize) -> bool) -> Vec<String> {
    p.data.products.iter().enumerate().filter(|&(i, _)| pick(i)).map(|(_, q)| item_text(&q.title, &q.category())).collect()
}

/// Checks that the vocabulary file gives every text the ids tokenizer.json gives it, renumbered
/// (`compact::order`): the compact model reads exactly what the full one read.
fn same_ids(json: &[u8], vocab: &[u8], order: &compact::Order, texts: impl Iterator<Item = String>) -> Result<(), String> {
    let (a, b) = (WordPiece::from_bytes(json).map_err(|e| e.to_string())?, WordPiece::from_bytes(vocab).map_err(|e| e.to_string())?);
    for t in texts {
        let want: Vec<u32> = a.encode(&t).iter().map(|&id| order.new[id as usize]).collect();
        if b.encode(&t) != want {
            return Err(format!("compact: the vocabulary file tokenises {t:?} differently from tokenizer.json"));
        }
    }
    Ok(())
}

/// How many products (those `pick` picks) have a token whose row is coded, not exact: the
/// products the fallback serves.
fn coded_products(p: &Prepared, full: &TextEncoder, exact: &compact::Exact, pick: &dyn Fn(usize) -> bool) -> Result<usize, String> {
    let mut n = 0;
    for (_, q) in p.data.products.iter().enumerate().filter(|&(i, _)| pick(i)) {
        let buckets = full.encode(&item_text(&q.title, &q.category())).map_err(|e| e.to_string())?;
        n += usize::from(buckets.iter().any(|&b| b > 0 && !exact.ids.contains(&((b - 1) as u32))));
    }
    Ok(n)
}
