//! Training every model of a split: the teacher, the student alone, the student distilled from
//! the teacher, and the 8-bit copy of the better student, once per seed.

use std::time::Instant;

use burn::prelude::*;

use crate::baselines::sequential;
use crate::cli::Settings;
use crate::data::dataset;
use crate::models::trainer::{self, train, TrainConfig};
use crate::models::{bert, model2vec, teacher};
use crate::pipeline::prepare::Prepared;

/// What every split trains: the teacher, the student alone, the student distilled from the
/// teacher (its text model's token table + its logits), and the better of the two students by
/// *validation* NDCG@10 in 8-bit weights (the test split chooses nothing).
pub struct Models {
    pub seed: u64,
    pub teacher: teacher::Teacher,
    pub alone: localrank::model::Model,
    pub distilled: localrank::model::Model,
    pub q8: localrank::model::Model,
    pub q8_bytes: Vec<u8>,
    pub ship_distilled: bool,
    /// The id-only baselines of the same seed (SASRec, GRU4Rec).
    pub baselines: sequential::Trained,
    pub logs: serde_json::Value,
}

/// The teacher's view of the catalogue and the student's distilled token table: computed once
/// per run from the text model alone (no interaction data).
pub struct TeacherText {
    pub items: Tensor<2>,
    pub tokens: TensorData,
}

pub fn teacher_text(p: &Prepared) -> Result<TeacherText, String> {
    let flex = Device::flex();
    let started = Instant::now();
    let model = bert::TextModel::load_pinned(&flex)?;
    let items = teacher::text_embeddings(&model, &p.data, &flex)?;
    let (rows, d) = (p.config.text_buckets, p.config.d_model);
    let table = model2vec::token_table(&model, rows, d)?;
    eprintln!("teacher text: {} item embeddings, {rows} x {d} token table ({:.0}s)", p.data.products.len(), started.elapsed().as_secs_f64());
    Ok(TeacherText { items, tokens: TensorData::new(table, [rows, d]) })
}

/// Every model of a split, `seeds` times (seeds `s.seed`, `s.seed + 1`, ...): tables give the
/// mean over seeds with intervals; the first seed's 8-bit student is the one exported.
pub fn train_seeds(p: &Prepared, s: &Settings, seeds: usize, text: &TeacherText, windows: &[dataset::Window], valid: &[dataset::Case]) -> Vec<Models> {
    (0..seeds.max(1) as u64)
        .map(|k| {
            eprintln!("seed {} ({} of {})", s.seed + k, k + 1, seeds.max(1));
            train_models(p, s, s.seed + k, text, windows, valid)
        })
        .collect()
}

fn train_models(p: &Prepared, s: &Settings, seed: u64, text: &TeacherText, windows: &[dataset::Window], valid: &[dataset::Case]) -> Models {
    let tc = &TrainConfig { seed, ..train_config(s) };
    eprintln!("teacher ({} epochs)", tc.epochs);
    let teacher_tc = TrainConfig { seed, ..teacher_config(s) };
    let (teacher, teacher_log) = trainer::train_teacher(&teacher_tc, p.data.products.len(), p.config.max_session, &text.items, windows, valid);
    eprintln!("student alone");
    let (alone, alone_log) = train(&p.config, tc, &p.items, windows, valid, None, None);
    eprintln!("student distilled from the teacher");
    let distill = trainer::Distill { teacher: &teacher, text: text.items.clone(), alpha: s.alpha as f32, temperature: s.temperature as f32 };
    let (distilled, distilled_log) = train(&p.config, tc, &p.items, windows, valid, Some(&text.tokens), Some(&distill));
    let ship_distilled = best_valid(&distilled_log) >= best_valid(&alone_log);
    let chosen = if ship_distilled { distilled.clone() } else { alone.clone() };
    let (q8_bytes, q8) = localrank::quant::quantize(chosen);
    let (baselines, baseline_logs) = sequential::train_both(p.data.products.len(), p.config.max_session, tc, windows, valid);
    let logs = serde_json::json!({"teacher": teacher_log, "student_alone": alone_log, "student_distilled": distilled_log, "baselines": baseline_logs});
    Models { seed, teacher, alone, distilled, q8, q8_bytes, ship_distilled, baselines, logs }
}

/// Distillation's two parts, trained apart (the first seed only: two more students): the
/// student from the teacher text model's token table without its logits, and the student
/// distilled from its logits from random token rows. With `alone` (neither) and `distilled`
/// (both) they attribute the gain.
pub struct Attribution {
    pub tokens_only: localrank::model::Model,
    pub logits_only: localrank::model::Model,
}

pub fn attribution(p: &Prepared, s: &Settings, m: &Models, text: &TeacherText, windows: &[dataset::Window], valid: &[dataset::Case]) -> Attribution {
    let tc = &TrainConfig { seed: m.seed, ..train_config(s) };
    eprintln!("attribution: student from the token table, no teacher logits (seed {})", m.seed);
    let (tokens_only, _) = train(&p.config, tc, &p.items, windows, valid, Some(&text.tokens), None);
    eprintln!("attribution: student from random token rows with the teacher's logits (seed {})", m.seed);
    let distill = trainer::Distill { teacher: &m.teacher, text: text.items.clone(), alpha: s.alpha as f32, temperature: s.temperature as f32 };
    let (logits_only, _) = train(&p.config, tc, &p.items, windows, valid, None, Some(&distill));
    Attribution { tokens_only, logits_only }
}

/// The models of one seed, as the tables name them.
pub const MODEL_ROWS: [&str; 6] = ["teacher", "student-alone", "student-distilled", "student-q8", "sasrec", "gru4rec"];

/// Full-catalogue scores of cases, per model, in the order of `MODEL_ROWS`.
pub fn model_scores(p: &Prepared, m: &Models, text: &TeacherText, cases: &[dataset::Case]) -> [Vec<Vec<f32>>; 6] {
    let flex = Device::flex();
    let student = |s: &localrank::model::Model| trainer::case_scores(s, &p.config, &p.items, cases, &flex);
    let l = p.config.max_session;
    [
        m.teacher.case_scores(cases, text.items.clone(), &flex),
        student(&m.alone),
        student(&m.distilled),
        student(&m.q8),
        sequential::case_scores(&m.baselines.sasrec, cases, l, &flex),
        sequential::case_scores(&m.baselines.gru4rec, cases, l, &flex),
    ]
}

/// The best validation NDCG@10 of a training log (`trainer::fit`'s epochs).
pub fn best_valid(log: &[serde_json::Value]) -> f64 {
    log.iter().filter_map(|e| e["valid"]["ndcg@10"].as_f64()).fold(0.0, f64::max)
}

/// The teacher's training settings: the students' with its own learning rate.
pub fn teacher_config(s: &Settings) -> TrainConfig {
    TrainConfig { lr: s.teacher_lr, ..train_config(s) }
}

/// The training settings every model of a run shares (the first seed's).
pub fn train_config(s: &Settings) -> TrainConfig {
    TrainConfig { epochs: s.epochs, batch_size: 64, lr: s.lr, seed: s.seed }
}
