//! `order-sensitivity`: how much the headline numbers depend on the order of one user's events
//! in the same second (MovieLens records seconds; a rater enters several films at once, and the
//! file lists them by item id). The same split and protocol under the item-id order of earlier
//! versions and under three seeded shuffles: the untrained baselines on both protocols, and the
//! exported model (read from `--out`, at its manifest's blend) on the session protocol. The
//! exported model is not scored on leave-one-out: it was trained on most users' last events.

use burn::prelude::*;

use crate::baselines::sknn::{self, Sknn};
use crate::cli::Settings;
use crate::data::{dataset, protocol};
use crate::evaluation::eval::{Bench, Scorer};
use crate::export::model_dir;
use crate::models::trainer;
use crate::pipeline::prepare::{prepare, Prepared};

/// The orders compared: the file's item-id order, then seeded shuffles.
const ORDERS: [Option<u64>; 4] = [None, Some(1), Some(2), Some(3)];

pub fn run(s: &Settings) -> Result<(), String> {
    let dir = model_dir::read_dir(&s.out)?;
    let (manifest, model, blend) = (&dir.manifest, dir.load(&dir.weights)?, dir.personalization());
    let mut rows = Vec::new();
    for order in ORDERS {
        let p = prepare(None, None, order)?;
        let label = order.map_or("item id (the file's)".to_string(), |seed| format!("shuffle, seed {seed}"));
        // The products as the directory's own tokenizer file reads them (the compact vocabulary
        // of the shipped model), as in the browser.
        let items = dir.items(&p.data)?;
        rows.push(measure(&p, &label, (&model, &items), blend));
    }
    let mut table = String::from("| same-second order | server | item-knn | sknn | exported model | LOO server | LOO item-knn | LOO sknn |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in &rows {
        let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        table += &format!(
            "| {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} |\n",
            r["order"].as_str().unwrap_or("?"), f("server"), f("item-knn"), f("sknn"), f("model"), f("loo server"), f("loo item-knn"), f("loo sknn")
        );
    }
    println!("List NDCG@10 on the session protocol's test split (LOO: leave-one-out NDCG@10), exported model {} at personalization {blend}:\n\n{table}", manifest.name);
    let path = s.out.join("order-sensitivity.json");
    let json = serde_json::json!({"model": manifest.name, "weights_sha256": manifest.file("weights").map_err(|e| e.to_string())?.sha256, "personalization": blend, "rows": rows});
    std::fs::write(&path, serde_json::to_vec_pretty(&json).unwrap()).map_err(|e| format!("{}: {e}", path.display()))
}

/// One order's figures: list NDCG@10 of the baselines and the model on the session protocol,
/// and the baselines' leave-one-out NDCG@10. V-SKNN keeps one setting (100 neighbours of 1,000
/// sampled sessions) so that only the order changes.
fn measure(p: &Prepared, label: &str, (model, items): (&localrank::model::Model, &dataset::ItemInputs), blend: f32) -> serde_json::Value {
    eprintln!("order: {label}");
    let n = p.data.products.len();
    let setting = sknn::Params { neighbours: 100, sample: 1000 };
    let stats = protocol::Stats::fit(&p.users, n, p.split.test_from);
    let requests = protocol::requests(&p.users, p.split.test_from);
    let bench = Bench::new(&p.data, &stats, &requests, false);
    let sknn_model = Sknn::fit(&p.users, n, p.split.test_from);
    let sknn_scores = |s: &[_]| sknn_model.scores(s, setting);
    let flex = Device::flex();
    let scores = |cs: &[dataset::Case]| trainer::case_scores(model, &p.config, items, cs, &flex);
    let ndcg = |scorer: &Scorer| bench.row("", scorer).list.ndcg10;
    let (train_seqs, _, test) = dataset::leave_one_out(&p.users);
    let loo_stats = protocol::Stats::fit(&train_seqs, n, i64::MAX);
    let loo_sknn = Sknn::fit(&train_seqs, n, i64::MAX);
    let loo = |f: &dyn Fn(&dataset::Case) -> Vec<f32>| {
        let s: Vec<Vec<f32>> = test.iter().map(f).collect();
        trainer::full_metrics(&test, &s, true).ndcg10
    };
    serde_json::json!({
        "order": label,
        "server": ndcg(&Scorer::Server),
        "item-knn": ndcg(&Scorer::ItemKnn),
        "sknn": ndcg(&Scorer::Session(&sknn_scores)),
        "model": ndcg(&Scorer::Model { scores: &scores, personalization: blend, long_tail: 0.0 }),
        "loo server": loo(&|c| loo_stats.server_ranking(&loo_stats.candidates(&c.history, false))),
        "loo item-knn": loo(&|c| loo_stats.knn_ranking(&c.history)),
        "loo sknn": loo(&|c| loo_sknn.scores(&c.history[c.history.len().saturating_sub(p.config.max_session)..], setting)),
    })
}
