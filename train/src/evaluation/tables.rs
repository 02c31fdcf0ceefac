//! The tables of a run: every baseline and every trained model (mean over seeds, 95% intervals
//! by the bootstrap over users) on the session protocol's test split, paired differences, and
//! the leave-one-out protocol; writes `evaluation.json` (and, for the example, `EVALUATION.md`).

use std::path::Path;

use burn::prelude::*;

use crate::baselines::sequential;
use crate::baselines::sknn::{self, Sknn};
use crate::cli::{Run, Settings};
use crate::data::{dataset, movielens, protocol};
use crate::evaluation::{adapt, choices, returning};
use crate::evaluation::eval::{self, Bench, Row, Scorer};
use crate::evaluation::intervals::{self, mean_ci};
use crate::evaluation::metrics::{ndcg_gain, Accumulator};
use crate::models::trainer;
use crate::pipeline::prepare::Prepared;
use crate::pipeline::train::{model_scores, train_seeds, Attribution, Models, TeacherText, MODEL_ROWS};

/// Rows of models trained in this run (they carry `seeds`).
#[cfg(test)]
pub const TRAINED_ROWS: [&str; 8] =
    ["sasrec", "gru4rec", "teacher", "student-alone", "student-distilled", "student-q8", "student-q8 model only", "student-q8 shipped"];

/// Full-catalogue scores of cases by a student model (`trainer::case_scores` on this run's inputs).
pub fn student_scores<'a>(p: &'a Prepared, model: &'a localrank::model::Model) -> impl Fn(&[dataset::Case]) -> Vec<Vec<f32>> + 'a {
    let flex = Device::flex();
    move |cs: &[dataset::Case]| trainer::case_scores(model, &p.config, &p.items, cs, &flex)
}

/// The trained rows of one seed's models: the id-only baselines alone over the candidates (as
/// every baseline), the teacher and students blended at `blend`, and the student-q8 alone.
fn seed_rows(bench: &Bench, p: &Prepared, m: &Models, text: &TeacherText, blend: f32) -> Vec<Row> {
    let flex = Device::flex();
    let (alone, distilled, q8) = (student_scores(p, &m.alone), student_scores(p, &m.distilled), student_scores(p, &m.q8));
    let teacher = |cs: &[dataset::Case]| m.teacher.case_scores(cs, text.items.clone(), &flex);
    let l = p.config.max_session;
    let sasrec = |cs: &[dataset::Case]| sequential::case_scores(&m.baselines.sasrec, cs, l, &flex);
    let gru4rec = |cs: &[dataset::Case]| sequential::case_scores(&m.baselines.gru4rec, cs, l, &flex);
    let model = |scores| Scorer::Model { scores, personalization: blend, long_tail: 0.0 };
    let by_itself = |scores| Scorer::Model { scores, personalization: 1.0, long_tail: 0.0 };
    let scorers = [
        ("sasrec", by_itself(&sasrec)),
        ("gru4rec", by_itself(&gru4rec)),
        ("teacher", model(&teacher)),
        ("student-alone", model(&alone)),
        ("student-distilled", model(&distilled)),
        ("student-q8", model(&q8)),
        ("student-q8 model only", by_itself(&q8)),
    ];
    scorers.iter().map(|(name, s)| {
        eprintln!("eval: {name} (seed {})", m.seed);
        bench.row(name, s)
    }).collect()
}

/// The baselines' rows: server order, popularity, item-KNN, V-SKNN (its setting from validation).
fn baseline_rows(bench: &Bench, p: &Prepared, chosen: &choices::Choices) -> Vec<Row> {
    let sknn_model = Sknn::fit(&p.users, p.data.products.len(), p.split.test_from);
    let sknn_scores = |session: &[movielens::Interaction]| sknn_model.scores(session, chosen.sknn);
    let scorers = [("server", Scorer::Server), ("popularity", Scorer::Popularity), ("item-knn", Scorer::ItemKnn), ("sknn", Scorer::Session(&sknn_scores))];
    scorers.iter().map(|(name, s)| {
        eprintln!("eval: {name}");
        bench.row(name, s)
    }).collect()
}

/// The session-protocol tables (and leave-one-out rows) for all models; writes
/// `evaluation.json` (and, for the example, `EVALUATION.md`). Returns the JSON, the blend and the
/// on-device adaptation's weight chosen on validation (the manifest's `personalization` and
/// `adaptation`).
pub fn evaluate_all(
    run: &Run,
    p: &Prepared,
    seeds: &[Models],
    attribution: &Attribution,
    text: &TeacherText,
    loo: &[serde_json::Value],
) -> Result<(serde_json::Value, f64, f32), String> {
    let s = &run.settings;
    let stats = protocol::Stats::fit(&p.users, p.data.products.len(), p.split.test_from);
    let all_requests = protocol::requests(&p.users, p.split.test_from);
    let total = all_requests.len();
    let requests = protocol::sample_users(all_requests, protocol::MAX_REQUESTS);
    let bench = Bench::new(&p.data, &stats, &requests, run.repeat_candidates);
    let shipped_scores = student_scores(p, &seeds[0].q8);
    let chosen = choices::choose(p, run.repeat_candidates, &shipped_scores);
    let blend = chosen.personalization as f32;
    eprintln!("validation chose personalization {blend} and V-SKNN {:?}", chosen.sknn);
    let adaptation = choose_adaptation(run, p, &shipped_scores, blend);
    let mut rows = baseline_rows(&bench, p, &chosen);
    let per_seed: Vec<Vec<Row>> = seeds.iter().map(|m| seed_rows(&bench, p, m, text, blend)).collect();
    for (k, name) in per_seed[0].iter().map(|r| r.model.clone()).enumerate() {
        rows.push(eval::mean_row(&name, per_seed.iter().map(|r| r[k].clone()).collect(), &bench.users));
    }
    let mut shipped = bench.row("student-q8 shipped", &Scorer::Model { scores: &shipped_scores, personalization: blend, long_tail: 0.0 });
    shipped.seeds = Some(1);
    rows.push(shipped.clone());
    for row in &mut rows {
        if let Some(l) = loo.iter().find(|l| l["model"] == row.model.as_str()) {
            (row.loo_ndcg10, row.loo_hr10) = (l["ndcg@10"].as_f64(), l["hr@10"].as_f64());
        }
    }
    let long_tail: Vec<Row> = [0.0, 0.3, 0.6]
        .iter()
        .map(|&lt| bench.row(&format!("student-q8 shipped longTail={lt}"), &Scorer::Model { scores: &shipped_scores, personalization: blend, long_tail: lt }))
        .collect();
    let differences = differences(&bench, &rows);
    let returning = returning_block(run, p, &stats, &requests, &Scorer::Model { scores: &shipped_scores, personalization: blend, long_tail: 0.0 }, &shipped);
    let (attribution, attribution_md) = distillation_attribution(&bench, p, &per_seed[0], attribution, blend);
    let (new_products, new_products_md) = new_products(run, p, &stats, &requests, seeds, &chosen);
    let recall = bench.recall();
    let split_text = format!(
        "time-ordered: events before the 80th percentile of time train, the next 10% validate, \
         the last 10% ({} requests{}) test; sessions end after 30 min without an event; the server \
         knows events before the current session, the device also the session's earlier events; \
         candidates: 100 from popularity blended with item co-occurrence{} (recall@100 {recall:.4})",
        requests.len(),
        if requests.len() < total { format!(": the whole histories of a seeded sample of users, of {total} requests") } else { String::new() },
        if run.repeat_candidates { " and the user's earlier items" } else { "" }
    );
    let dataset = if p.origin.example { "MovieLens-100k (recbole 1.2.1)".to_string() } else { p.origin.description.clone() };
    let json = serde_json::json!({
        "dataset": dataset,
        "split": split_text,
        "candidate_recall@100": recall,
        "rows": rows,
        "differences": differences,
        "personalization": chosen,
        "leave_one_out": loo,
        "new_products": new_products,
        "distillation_attribution": attribution,
        "long_tail": long_tail,
        "context_ablation": previous_block(&s.out, "context_ablation"),
        "returning": returning,
        "adaptation": adaptation.1,
    });
    std::fs::write(s.out.join("evaluation.json"), serde_json::to_vec_pretty(&json).unwrap()).map_err(|e| e.to_string())?;
    let md = format!(
        "# Evaluation\n\nProduced by `cargo run -p train --release -- all` (or `-- eval`, which does not \
         export) on MovieLens-100k, seed {}, {} epochs per model, learning rate {} (teacher {}), \
         distillation alpha {}, temperature {}.\n\n{split_text}.\n\n{}\n\
         Trained rows are the mean over {} seeds (from {}); intervals are 95%, bootstrap over \
         users; \"student-q8 shipped\" is the exported model alone (the first seed's). Rows \
         blend the model with the server order at the `personalization` chosen on validation \
         ({}), except \"model only\"; the on-device adaptation's weight validation chose, the \
         manifest's `adaptation`, is {} (0 = off; `localrank::adapt`).\n\n\
         ## Differences (paired, bootstrap over users)\n\n{}\n\
         ## Leave-one-out\n\n{}\n\
         Untrained baselines are fitted on that split's training events; every trained model is \
         retrained on it (same settings), so those rows are named for it.\n\n\
         ## New products\n\n{}\n\
         ## Distillation, attributed (first seed)\n\n{}\n\
         ## Long tail and diversity (`rerank` option `longTail`)\n\n{}\n\n{}",
        s.seed,
        s.epochs,
        s.lr,
        s.teacher_lr,
        s.alpha,
        s.temperature,
        eval::table(&rows),
        seeds.len(),
        s.seed,
        chosen.personalization,
        adaptation.0,
        differences_table(&differences),
        loo_table(loo),
        new_products_md,
        attribution_md,
        eval::table(&long_tail),
        returning::section(&returning)
    );
    println!("{md}");
    if p.origin.example {
        let md_path = s.out.join("..").join("EVALUATION.md");
        // Keep the context ablation section (written by `context`), which this run does not redo.
        let old = std::fs::read_to_string(&md_path).unwrap_or_default();
        // (Only that section: the returning section is this run's.)
        let context = old.find("## Context ablation").map(|i| {
            let rest = &old[i..];
            rest[..rest[1..].find("\n## ").map_or(rest.len(), |j| j + 2)].to_string()
        });
        let context = context.unwrap_or_default();
        std::fs::write(&md_path, format!("{md}\n{context}")).map_err(|e| e.to_string())?;
    }
    Ok((json, chosen.personalization, adaptation.0))

}

/// The on-device adaptation's weight for the shipped model at its blend, chosen on the device-held
/// view of the validation requests (`adapt::choose`), and its block for evaluation.json.
fn choose_adaptation(run: &Run, p: &Prepared, shipped: &(dyn Fn(&[dataset::Case]) -> Vec<Vec<f32>> + Sync), blend: f32) -> (f32, serde_json::Value) {
    let (stats, valid) = choices::validation(p);
    let study = adapt::Study {
        data: &p.data, scores: shipped, category: &p.items.category, window: p.config.max_session, blend, repeats: run.repeat_candidates,
        valid: (&stats, &valid), test: (&stats, &valid),
    };
    let (weight, tried, gain) = adapt::choose(&study);
    (weight, serde_json::json!({"weight": weight, "window": p.config.max_session, "validation": tried, "validation_gain": gain,
        "rule": "localrank::adapt per-category biases over earlier visits; validation list NDCG@10 on what a device with `remember` holds; the best weight if its paired gain over 0 is separated, else 0 (off)"}))
}

/// The `returning` block for the shipped model (its session-only row is `shipped`, the same
/// scorer on the same requests), with the Instacart part of an earlier `returning` run kept:
/// `all` does not train on Instacart.
fn returning_block(run: &Run, p: &Prepared, stats: &protocol::Stats, requests: &[protocol::Request], scorer: &Scorer, shipped: &Row) -> serde_json::Value {
    let rows = returning::rows(&p.data, stats, requests, run.repeat_candidates, scorer, Some(shipped));
    let mut block = returning::block("student-q8 shipped", &rows, requests, p.config.max_session);
    let instacart = &previous_block(&run.settings.out, "returning")["instacart"];
    if instacart.is_object() {
        block["instacart"] = instacart.clone();
    }
    block
}

/// The new-products slice: test requests whose target is a product no model or statistic has
/// seen (no event before the test period) and that the server lists as a new arrival (every
/// 10th slot: `protocol::Arrivals`). Rows: the baselines, the student-q8 over seeds, the
/// shipped model; differences of the student-q8 against popularity and item-KNN.
/// Returns the `new_products` block and its markdown.
fn new_products(run: &Run, p: &Prepared, stats: &protocol::Stats, requests: &[protocol::Request], seeds: &[Models], chosen: &choices::Choices) -> (serde_json::Value, String) {
    let arrivals = protocol::Arrivals::new(&p.users, p.data.products.len(), p.split.test_from);
    let targets: Vec<protocol::Request> = requests.iter().filter(|r| arrivals.reachable(r)).cloned().collect();
    if targets.is_empty() {
        return (serde_json::json!({"requests": 0, "rows": []}), "No test request has a new product as its target.\n".into());
    }
    eprintln!("new products: {} test requests", targets.len());
    let bench = Bench::new(&p.data, stats, &targets, run.repeat_candidates).mixing_new_arrivals(&arrivals);
    let blend = chosen.personalization as f32;
    let mut rows = baseline_rows(&bench, p, chosen);
    // Only the student-q8 row of each seed: the slice compares it with the baselines.
    let q8: Vec<Row> = seeds
        .iter()
        .map(|m| bench.row("student-q8", &Scorer::Model { scores: &student_scores(p, &m.q8), personalization: blend, long_tail: 0.0 }))
        .collect();
    rows.push(eval::mean_row("student-q8", q8, &bench.users));
    let shipped_scores = student_scores(p, &seeds[0].q8);
    let mut shipped = bench.row("student-q8 shipped", &Scorer::Model { scores: &shipped_scores, personalization: blend, long_tail: 0.0 });
    shipped.seeds = Some(1);
    rows.push(shipped.clone());
    let row = |name: &str| rows.iter().find(|r| r.model == name).expect("evaluated");
    let differences: Vec<intervals::Difference> = ["popularity", "item-knn", "sknn", "server"]
        .iter()
        .map(|&b| intervals::difference(&bench.users, ("student-q8", &row("student-q8").gains), (b, &row(b).gains)))
        .collect();
    let rule = format!("test requests whose target had no event before the test period and was first seen before the request; the server gives every {}th candidate slot to the newest such products (newest first)", protocol::NEW_ARRIVAL_EVERY);
    let md = format!("{rule}: {} requests, candidate recall@100 {:.4}.\n\n{}\n{}", targets.len(), bench.recall(), eval::table(&rows), differences_table(&differences));
    let json = serde_json::json!({"rule": rule, "requests": targets.len(), "candidate_recall@100": bench.recall(), "rows": rows, "differences": differences});
    (json, md)
}

/// Distillation's gain split into its parts, on the first seed (`train::attribution`): the
/// student with neither the token table nor the teacher's logits (`student-alone`), with each
/// alone, and with both (`student-distilled`); differences against neither, paired by request.
fn distillation_attribution(bench: &Bench, p: &Prepared, seed0: &[Row], a: &Attribution, blend: f32) -> (serde_json::Value, String) {
    let (tokens, logits) = (student_scores(p, &a.tokens_only), student_scores(p, &a.logits_only));
    let row = |name: &str| seed0.iter().find(|r| r.model == name).expect("evaluated").clone();
    let renamed = |mut r: Row, name: &str| {
        r.model = name.into();
        r
    };
    let model = |s| Scorer::Model { scores: s, personalization: blend, long_tail: 0.0 };
    let rows = vec![
        renamed(row("student-alone"), "neither (student-alone)"),
        bench.row("token table only", &model(&tokens)),
        bench.row("teacher logits only", &model(&logits)),
        renamed(row("student-distilled"), "both (student-distilled)"),
    ];
    let differences: Vec<intervals::Difference> = rows[1..]
        .iter()
        .map(|r| intervals::difference(&bench.users, (&r.model, &r.gains), (&rows[0].model, &rows[0].gains)))
        .collect();
    let md = format!("{}\n{}", eval::table(&rows), differences_table(&differences));
    (serde_json::json!({"seed": "the first", "rows": rows, "differences": differences}), md)
}

/// Paired differences of list NDCG@10 with 95% intervals (bootstrap over users): the student-q8
/// (mean over seeds) against every other row, and distillation's gain (distilled minus alone).
fn differences(bench: &Bench, rows: &[Row]) -> Vec<intervals::Difference> {
    let row = |name: &str| rows.iter().find(|r| r.model == name).expect("every named row is evaluated");
    let q8 = row("student-q8");
    let mut out: Vec<intervals::Difference> = ["server", "popularity", "item-knn", "sknn", "sasrec", "gru4rec", "teacher", "student-alone"]
        .iter()
        .map(|&b| intervals::difference(&bench.users, ("student-q8", &q8.gains), (b, &row(b).gains)))
        .collect();
    let (distilled, alone) = (row("student-distilled"), row("student-alone"));
    out.push(intervals::difference(&bench.users, ("student-distilled", &distilled.gains), ("student-alone", &alone.gains)));
    // Like for like: every baseline reorders the candidates alone, so does "model only".
    let only = row("student-q8 model only");
    for b in ["item-knn", "sknn", "sasrec", "gru4rec"] {
        out.push(intervals::difference(&bench.users, ("student-q8 model only", &only.gains), (b, &row(b).gains)));
    }
    out
}

fn differences_table(ds: &[intervals::Difference]) -> String {
    let mut s = String::from("| a | b | NDCG@10 a − b | 95% interval | interval excludes 0 |\n|---|---|---:|---:|---|\n");
    for d in ds {
        s += &format!("| {} | {} | {:+.4} | {:+.4} to {:+.4} | {} |\n", d.a, d.b, d.mean, d.ci[0], d.ci[1], if d.separated { "yes" } else { "no" });
    }
    s
}

fn loo_table(loo: &[serde_json::Value]) -> String {
    let mut s = String::from("| model | NDCG@10 | 95% interval | HR@10 | seeds |\n|---|---:|---:|---:|---:|\n");
    for r in loo {
        let ci = &r["ndcg@10_ci"];
        s += &format!(
            "| {} | {:.4} | {:.4}–{:.4} | {:.4} | {} |\n",
            r["model"].as_str().unwrap_or("?"), r["ndcg@10"].as_f64().unwrap_or(0.0), ci[0].as_f64().unwrap_or(0.0),
            ci[1].as_f64().unwrap_or(0.0), r["hr@10"].as_f64().unwrap_or(0.0), r["seeds"].as_u64().map_or("n/a".into(), |n| n.to_string())
        );
    }
    s
}

/// The `context_ablation` block of an earlier `evaluation.json` in `dir`, if any.
/// Block `key` of DIR/evaluation.json as an earlier run left it (null if none).
fn previous_block(dir: &Path, key: &str) -> serde_json::Value {
    std::fs::read(dir.join("evaluation.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .map(|j| j[key].clone())
        .unwrap_or(serde_json::Value::Null)
}

/// The standard leave-one-out protocol (last event per user tests, all items the user has not
/// had are ranked). Untrained baselines are fitted on that split's training sequences; every
/// model is trained anew on it, `s.loo_seeds` seeds, and named for it. One row per model:
/// `model`, `ndcg@10`, `ndcg@10_ci` (bootstrap over users: one case each), `hr@10`, `cases`,
/// `seeds` (trained rows).
pub fn leave_one_out(p: &Prepared, s: &Settings, text: &TeacherText) -> Vec<serde_json::Value> {
    let (train_seqs, valid, test) = dataset::leave_one_out(&p.users);
    let stats = protocol::Stats::fit(&train_seqs, p.data.products.len(), i64::MAX);
    let knn: Vec<Vec<f32>> = test.iter().map(|c| stats.knn_ranking(&c.history)).collect();
    let sknn = loo_sknn(&train_seqs, p, &valid, &test);
    let server: Vec<Vec<f32>> =
        test.iter().map(|c| stats.server_ranking(&stats.candidates(&c.history, false))).collect();
    let popularity = vec![stats.popularity.clone(); test.len()];
    let users: Vec<u32> = test.iter().map(|c| c.target.user).collect();
    let mut out = Vec::new();
    for (name, scores) in [("server", server), ("popularity", popularity), ("item-knn", knn), ("sknn", sknn)] {
        out.push(loo_row(name, &[trainer::full_ranks(&test, &scores, true)], &users, None));
    }
    eprintln!("leave-one-out: training every model on that split ({} users, {} seeds)", train_seqs.len(), s.loo_seeds);
    let windows = dataset::windows(&train_seqs, i64::MAX, p.config.max_session);
    let seeds = train_seeds(p, s, "leave-one-out", s.loo_seeds, text, &windows, &valid);
    let ranks: Vec<[Vec<usize>; 6]> =
        seeds.iter().map(|m| model_scores(p, m, text, &test).map(|scores| trainer::full_ranks(&test, &scores, true))).collect();
    for (k, name) in MODEL_ROWS.iter().enumerate() {
        let per_seed: Vec<Vec<usize>> = ranks.iter().map(|r| r[k].clone()).collect();
        // The id-only baselines are trained on each split as a matter of course; the teacher and
        // students are named for it: the shipped model is the session split's.
        let label = if name.starts_with("student") || *name == "teacher" { format!("{name} (retrained on leave-one-out)") } else { name.to_string() };
        out.push(loo_row(&label, &per_seed, &users, Some(seeds.len())));
    }
    out
}

/// One leave-one-out row from each seed's ranks of the test cases.
fn loo_row(name: &str, per_seed: &[Vec<usize>], users: &[u32], seeds: Option<usize>) -> serde_json::Value {
    let n = per_seed.len() as f64;
    let gains: Vec<f64> = (0..users.len()).map(|c| per_seed.iter().map(|r| ndcg_gain(r[c])).sum::<f64>() / n).collect();
    let hr = per_seed.iter().flatten().filter(|&&r| r < 10).count() as f64 / (n * users.len().max(1) as f64);
    let mut acc = Accumulator::default();
    per_seed.iter().flatten().for_each(|&r| acc.add(r));
    let m = acc.finish();
    eprintln!("loo {name}: ndcg@10 {:.4} hr@10 {hr:.4} mrr@10 {:.4}", m.ndcg10, m.mrr10);
    let mut row = serde_json::json!({"model": name, "ndcg@10": m.ndcg10, "ndcg@10_ci": mean_ci(users, &gains), "hr@10": hr, "cases": users.len()});
    if let Some(seeds) = seeds {
        row["seeds"] = seeds.into();
    }
    row
}

/// V-SKNN on leave-one-out: sessions of the training sequences; its setting chosen on the
/// validation cases; each case's newest `max_session` events are the current session.
fn loo_sknn(train_seqs: &[Vec<movielens::Interaction>], p: &Prepared, valid: &[dataset::Case], test: &[dataset::Case]) -> Vec<Vec<f32>> {
    let model = Sknn::fit(train_seqs, p.data.products.len(), i64::MAX);
    let recent = |c: &dataset::Case| c.history[c.history.len().saturating_sub(p.config.max_session)..].to_vec();
    let score = |cases: &[dataset::Case], setting| cases.iter().map(|c| model.scores(&recent(c), setting)).collect::<Vec<_>>();
    let tried: Vec<choices::Tried<sknn::Params>> = sknn::GRID
        .iter()
        .map(|&setting| choices::Tried { setting, ndcg10: trainer::full_metrics(valid, &score(valid, setting), true).ndcg10 })
        .collect();
    let setting = choices::best(&tried);
    eprintln!("loo sknn: validation chose {setting:?}");
    score(test, setting)
}
