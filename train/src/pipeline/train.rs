//! Training every model of a split: the teacher, the student alone, the student distilled from
//! the teacher, and the 8-bit copy of the better student, once per seed.

use std::time::Instant;

use burn::prelude::*;

use crate::baselines::sequential;
use crate::cli::{LossChoice, Settings};
use crate::data::dataset;
use crate::models::checkpoint::{f32_bytes, read_f32s, Checkpoint};
use crate::models::softmax::Softmax;
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

/// `teacher_text`, saved under OUT/checkpoints and read back from there with `--resume` (on
/// 121,206 products the text step took 532 s).
pub fn teacher_text_checkpointed(p: &Prepared, s: &Settings) -> Result<TeacherText, String> {
    let path = s.out.join("checkpoints").join("text.bin");
    let (n, rows, d) = (p.data.products.len(), p.config.text_buckets, p.config.d_model);
    if s.resume {
        if let Some(v) = read_f32s(&path, n * teacher::TEXT_DIM + rows * d) {
            eprintln!("resumed the text step from {}", path.display());
            let (items, table) = v.split_at(n * teacher::TEXT_DIM);
            let items = Tensor::from_data(TensorData::new(items.to_vec(), [n, teacher::TEXT_DIM]), &Device::flex());
            return Ok(TeacherText { items, tokens: TensorData::new(table.to_vec(), [rows, d]) });
        }
    }
    let text = teacher_text(p)?;
    let mut bytes = Vec::new();
    for t in [text.items.to_data(), text.tokens.clone()] {
        bytes.extend(f32_bytes(t.convert::<f32>().as_slice::<f32>().map_err(|e| format!("{e:?}"))?));
    }
    let saved = std::fs::create_dir_all(path.parent().expect("under OUT")).and_then(|()| std::fs::write(&path, bytes));
    if let Err(e) = saved {
        eprintln!("warning: {}: {e}; --resume would compute the text step again", path.display());
    }
    Ok(text)
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
/// `scope` names the split in the checkpoint directories (`checkpointed`).
pub fn train_seeds(p: &Prepared, s: &Settings, scope: &str, seeds: usize, text: &TeacherText, windows: &[dataset::Window], valid: &[dataset::Case]) -> Vec<Models> {
    (0..seeds.max(1) as u64)
        .map(|k| {
            eprintln!("seed {} ({} of {})", s.seed + k, k + 1, seeds.max(1));
            train_models(p, s, scope, s.seed + k, text, windows, valid)
        })
        .collect()
}

/// `tc` with the checkpoint of one model of a run: OUT/checkpoints/SCOPE/seedN/MODEL.
fn checkpointed(tc: &TrainConfig, s: &Settings, scope: &str, model: &str) -> TrainConfig {
    let dir = s.out.join("checkpoints").join(scope).join(format!("seed{}", tc.seed)).join(model);
    TrainConfig { checkpoint: Some(Checkpoint { dir, resume: s.resume }), ..tc.clone() }
}

/// The loss `s.loss` asks for on these training windows (`Softmax::auto` decides by catalogue
/// size).
pub fn softmax(s: &Settings, items: usize, windows: &[dataset::Window]) -> Softmax {
    match s.loss {
        LossChoice::Auto => Softmax::auto(items, windows),
        LossChoice::Full => Softmax::choose(false, items, windows),
        LossChoice::Sampled => Softmax::choose(true, items, windows),
    }
}

fn train_models(p: &Prepared, s: &Settings, scope: &str, seed: u64, text: &TeacherText, windows: &[dataset::Window], valid: &[dataset::Case]) -> Models {
    let plain = TrainConfig { seed, ..train_config(s) };
    let tc = &checkpointed(&plain, s, scope, "student-alone");
    let sm = &softmax(s, p.data.products.len(), windows);
    eprintln!("loss: {} softmax over {} products", sm.name(), p.data.products.len());
    eprintln!("teacher ({} epochs)", tc.epochs);
    let teacher_tc = checkpointed(&TrainConfig { seed, ..teacher_config(s) }, s, scope, "teacher");
    let (teacher, teacher_log) = trainer::train_teacher(&teacher_tc, p.data.products.len(), p.config.max_session, &text.items, windows, valid, sm);
    eprintln!("student alone");
    let (alone, alone_log) = train(&p.config, tc, &p.items, windows, valid, None, None, sm);
    eprintln!("student distilled from the teacher");
    let distill = trainer::Distill { teacher: &teacher, text: text.items.clone(), alpha: s.alpha as f32, temperature: s.temperature as f32 };
    let (distilled, distilled_log) = train(&p.config, &checkpointed(&plain, s, scope, "student-distilled"), &p.items, windows, valid, Some(&text.tokens), Some(&distill), sm);
    let ship_distilled = best_valid(&distilled_log) >= best_valid(&alone_log);
    let chosen = if ship_distilled { distilled.clone() } else { alone.clone() };
    let (q8_bytes, q8) = localrank::quant::quantize(chosen);
    let (baselines, baseline_logs) = sequential::train_both(p.data.products.len(), p.config.max_session, &checkpointed(&plain, s, scope, "baselines"), windows, valid, sm);
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
    let plain = TrainConfig { seed: m.seed, ..train_config(s) };
    let sm = &softmax(s, p.data.products.len(), windows);
    eprintln!("attribution: student from the token table, no teacher logits (seed {})", m.seed);
    let (tokens_only, _) = train(&p.config, &checkpointed(&plain, s, "attribution", "tokens-only"), &p.items, windows, valid, Some(&text.tokens), None, sm);
    eprintln!("attribution: student from random token rows with the teacher's logits (seed {})", m.seed);
    let distill = trainer::Distill { teacher: &m.teacher, text: text.items.clone(), alpha: s.alpha as f32, temperature: s.temperature as f32 };
    let (logits_only, _) = train(&p.config, &checkpointed(&plain, s, "attribution", "logits-only"), &p.items, windows, valid, None, Some(&distill), sm);
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
    TrainConfig { epochs: s.epochs, batch_size: 64, lr: s.lr, seed: s.seed, loss: s.loss, device: s.device, checkpoint: None }
}
