//! The compact model against the model it was cut from (`localrank-train compact`): the same
//! test requests, the same candidate lists, the same metric code, each model reading product
//! texts through its own tokenizer file as the browser does. Two slices: every test request
//! (the candidate lists of the evaluation's tables) and the new-products slice (targets no model
//! saw, whose words the cut vocabulary may lack: its fallback at work). Issue 20's bar: list
//! NDCG@10 within 2% of the full model's on both.

use burn::prelude::*;
use localrank::model::{Model, ModelConfig};

use crate::data::dataset::{Case, ItemInputs};
use crate::data::protocol;
use crate::evaluation::eval::{Bench, Row, Scorer};
use crate::evaluation::intervals;
use crate::models::trainer;
use crate::pipeline::prepare::Prepared;

/// The largest relative loss of list NDCG@10 the compact model may show (issue 20).
pub const MAX_RELATIVE_LOSS: f64 = 0.02;

/// One model as the browser would load it.
pub struct Side<'a> {
    pub name: &'a str,
    pub config: &'a ModelConfig,
    pub model: &'a Model,
    pub tokenizer: &'a [u8],
}

impl Side<'_> {
    fn items(&self, p: &Prepared) -> Result<ItemInputs, String> {
        ItemInputs::from_tokenizer(&p.data, self.tokenizer, self.config)
    }
}

/// Both slices for `full` and `compact` at the personalization `blend`, as JSON.
pub fn measure(p: &Prepared, repeat_candidates: bool, blend: f32, full: &Side, compact: &Side) -> Result<serde_json::Value, String> {
    with_scorers(p, blend, full, compact, |a, b| measure_with(p, repeat_candidates, (full.name, a), (compact.name, b)))
}

/// Calls `f` with the scorers of `full` and `compact` (each reading texts through its own
/// tokenizer file) at the personalization `blend`.
fn with_scorers<R>(p: &Prepared, blend: f32, full: &Side, compact: &Side, f: impl FnOnce(&Scorer, &Scorer) -> R) -> Result<R, String> {
    let (full_items, compact_items) = (full.items(p)?, compact.items(p)?);
    let flex = Device::flex();
    let full_scores = |cs: &[Case]| trainer::case_scores(full.model, full.config, &full_items, cs, &flex);
    let compact_scores = |cs: &[Case]| trainer::case_scores(compact.model, compact.config, &compact_items, cs, &flex);
    let scorer = |scores| Scorer::Model { scores, personalization: blend, long_tail: 0.0 };
    Ok(f(&scorer(&full_scores), &scorer(&compact_scores)))
}

fn measure_with(p: &Prepared, repeat_candidates: bool, (a_name, a): (&str, &Scorer), (b_name, b): (&str, &Scorer)) -> serde_json::Value {
    let n = p.data.products.len();
    let stats = protocol::Stats::fit(&p.users, n, p.split.test_from);
    let requests = test_requests(p);
    eprintln!("compact check: {} test requests", requests.len());
    let lists = Bench::new(&p.data, &stats, &requests, repeat_candidates);
    let all = slice(&lists, (a_name, a), (b_name, b));
    let arrivals = protocol::Arrivals::new(&p.users, n, p.split.test_from);
    let targets: Vec<protocol::Request> = requests.iter().filter(|r| arrivals.reachable(r)).cloned().collect();
    eprintln!("compact check: {} new-product requests", targets.len());
    let new_products = if targets.is_empty() {
        serde_json::json!({"requests": 0})
    } else {
        slice(&Bench::new(&p.data, &stats, &targets, repeat_candidates).mixing_new_arrivals(&arrivals), (a_name, a), (b_name, b))
    };
    serde_json::json!({
        "max_relative_loss": MAX_RELATIVE_LOSS,
        "lists": all,
        "new_products": new_products,
    })
}

/// The evaluation's test requests (`evaluation::tables`: a seeded sample of users above
/// `MAX_REQUESTS`).
fn test_requests(p: &Prepared) -> Vec<protocol::Request> {
    protocol::sample_users(protocol::requests(&p.users, p.split.test_from), protocol::MAX_REQUESTS)
}

/// Cross-fitted: for each fold, the test requests whose target `folds[i].1` picks, scored by
/// `full` and by the fold's compact model; the folds' requests pooled into one row per side and
/// their paired difference (95% interval over users), as `slice` reports one bench.
pub fn cross_fitted(p: &Prepared, repeat_candidates: bool, blend: f32, full: &Side, folds: &[(Side, &dyn Fn(usize) -> bool)]) -> Result<serde_json::Value, String> {
    let stats = protocol::Stats::fit(&p.users, p.data.products.len(), p.split.test_from);
    let all = test_requests(p);
    let (mut users, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
    for (compact, pick) in folds {
        let requests: Vec<protocol::Request> = all.iter().filter(|r| pick(r.target.item)).cloned().collect();
        let bench = Bench::new(&p.data, &stats, &requests, repeat_candidates);
        let (ra, rb) = with_scorers(p, blend, full, compact, |x, y| (bench.row(full.name, x), bench.row(compact.name, y)))?;
        users.extend_from_slice(&bench.users);
        a.extend(ra.gains);
        b.extend(rb.gains);
    }
    let mean = |g: &[f64]| g.iter().sum::<f64>() / g.len().max(1) as f64;
    let (ma, mb) = (mean(&a), mean(&b));
    let name = folds.first().map_or("compact", |f| f.0.name);
    let d = intervals::difference(&users, (name, &b), (full.name, &a));
    let relative = if ma > 0.0 { d.mean / ma } else { 0.0 };
    eprintln!("  cross-fitted over {} folds, {} requests: {} {ma:.4}, {name} {mb:.4}: {:+.4} ({:+.2}%)", folds.len(), users.len(), full.name, d.mean, 100.0 * relative);
    Ok(serde_json::json!({
        "requests": users.len(),
        "folds": folds.len(),
        "ndcg@10": {full.name: ma, name: mb},
        "ndcg@10_ci": {full.name: intervals::mean_ci(&users, &a), name: intervals::mean_ci(&users, &b)},
        "difference": d,
        "relative": relative,
        "within_target": relative >= -MAX_RELATIVE_LOSS,
    }))
}

/// Both rows on one bench, their paired difference (compact - full, 95% interval over users)
/// and the relative change of the compact model's NDCG@10.
fn slice(bench: &Bench, (a_name, a): (&str, &Scorer), (b_name, b): (&str, &Scorer)) -> serde_json::Value {
    let (ra, rb): (Row, Row) = (bench.row(a_name, a), bench.row(b_name, b));
    let d = intervals::difference(&bench.users, (b_name, &rb.gains), (a_name, &ra.gains));
    let relative = if ra.list.ndcg10 > 0.0 { d.mean / ra.list.ndcg10 } else { 0.0 };
    eprintln!("  {a_name} {:.4}, {b_name} {:.4}: {:+.4} ({:+.2}%)", ra.list.ndcg10, rb.list.ndcg10, d.mean, 100.0 * relative);
    serde_json::json!({
        "requests": bench.users.len(),
        "rows": [ra, rb],
        "difference": d,
        "relative": relative,
        "within_target": relative >= -MAX_RELATIVE_LOSS,
    })
}
