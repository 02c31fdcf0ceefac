//! `softmax-check`: is the sampled softmax (`models::softmax`) as good as the full one? The
//! student alone (`--model student`) or the teacher (`--model teacher`) trained both ways from
//! the same seeds on the same split, scored on the same test candidate lists by the same metric
//! code (`eval::Bench`, the model's own order), with the paired difference and its 95% interval
//! (bootstrap over users), and the training time of each. Writes its block, keyed by data set,
//! to OUT/softmax-check.json (the teacher's under that block's `teacher` key).

use std::time::Instant;

use crate::cli::{CheckedModel, Run};
use crate::data::protocol;
use crate::evaluation::eval::{self, Bench, Row, Scorer};
use crate::evaluation::intervals;
use crate::evaluation::tables::student_scores;
use crate::models::softmax::Softmax;
use crate::models::trainer::{train, train_teacher, TrainConfig};
use crate::models::{bert, teacher};
use crate::pipeline::prepare::{prepare, Prepared};
use crate::pipeline::train::{teacher_config, train_config};
use burn::prelude::*;

pub fn run(run: &Run, model: CheckedModel) -> Result<(), String> {
    let s = &run.settings;
    let p = prepare(run.input().as_ref(), run.name.as_deref(), Some(s.order_seed))?;
    let stats = protocol::Stats::fit(&p.users, p.data.products.len(), p.split.test_from);
    let requests = protocol::sample_users(protocol::requests(&p.users, p.split.test_from), protocol::MAX_REQUESTS);
    let bench = Bench::new(&p.data, &stats, &requests, run.repeat_candidates);
    let arms = match model {
        CheckedModel::Student => both_ways(&p, s, "student-alone", |seed, softmax| {
            let tc = TrainConfig { seed, ..train_config(s) };
            let (model, _) = train(&p.config, &tc, &p.items, &p.train_windows, &p.valid, None, None, softmax);
            bench.row("", &Scorer::Model { scores: &student_scores(&p, &model), personalization: 1.0, long_tail: 0.0 })
        }),
        CheckedModel::Teacher => {
            let flex = Device::flex();
            let text = teacher::text_embeddings(&bert::TextModel::load_pinned(&flex)?, &p.data, &flex)?;
            both_ways(&p, s, "teacher", |seed, softmax| {
                let tc = TrainConfig { seed, ..teacher_config(s) };
                let (m, _) = train_teacher(&tc, p.data.products.len(), p.config.max_session, &text, &p.train_windows, &p.valid, softmax);
                bench.row("", &Scorer::Model { scores: &|cs: &[_]| m.case_scores(cs, text.clone(), &flex), personalization: 1.0, long_tail: 0.0 })
            })
        }
    };
    let rows: Vec<Row> = arms.iter().map(|a| eval::mean_row(&a.name, a.per_seed.clone(), &bench.users)).collect();
    let difference = intervals::difference(&bench.users, (&rows[1].model, &rows[1].gains), (&rows[0].model, &rows[0].gains));
    let block = serde_json::json!({
        "data": p.origin.description,
        "command": crate::export::report::command_line(),
        "epochs": s.epochs,
        "seeds": (s.seed..s.seed + s.seeds.max(1) as u64).collect::<Vec<_>>(),
        "negatives": crate::models::softmax::NEGATIVES,
        "rows": rows,
        "difference": difference,
        "train_seconds_per_seed": {"full": arms[0].seconds, "sampled": arms[1].seconds},
        "machine": "2-core x86-64 (the project's CI kind)",
        "date": crate::export::report::utc_date_time(std::time::SystemTime::now()),
    });
    let path = write(&s.out, p.origin.name.as_str(), model, block)?;
    println!(
        "{}\nsampled - full: {:+.4} ({:+.4} to {:+.4}); training {:.0} s (full) vs {:.0} s (sampled) per seed\nwrote {}",
        eval::table(&rows),
        difference.mean,
        difference.ci[0],
        difference.ci[1],
        arms[0].seconds,
        arms[1].seconds,
        path.display()
    );
    Ok(())
}

/// One softmax's arm: a row per seed and the mean training time per seed.
struct Arm {
    name: String,
    per_seed: Vec<Row>,
    seconds: f64,
}

/// `model` trained and scored for every seed with the full softmax, then with the sampled one.
fn both_ways(p: &Prepared, s: &crate::cli::Settings, model: &str, mut row_of: impl FnMut(u64, &Softmax) -> Row) -> Vec<Arm> {
    let seeds = s.seeds.max(1) as u64;
    [false, true]
        .into_iter()
        .map(|sampled| {
            let softmax = Softmax::choose(sampled, p.data.products.len(), &p.train_windows);
            let started = Instant::now();
            let per_seed = (s.seed..s.seed + seeds)
                .map(|seed| {
                    eprintln!("{model}, {} softmax, seed {seed}", softmax.name());
                    row_of(seed, &softmax)
                })
                .collect();
            let name = format!("{model}, {} softmax", if sampled { "sampled" } else { "full" });
            Arm { name, per_seed, seconds: started.elapsed().as_secs_f64() / seeds as f64 }
        })
        .collect()
}

/// Adds `block` to OUT/softmax-check.json under the data set's name: the student's keys at the
/// top of that entry (as before the teacher's arm existed), the teacher's under `teacher`; the
/// other model's results are kept.
fn write(out: &std::path::Path, data: &str, model: CheckedModel, block: serde_json::Value) -> Result<std::path::PathBuf, String> {
    let path = out.join("softmax-check.json");
    let mut all: serde_json::Value = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_else(|| serde_json::json!({}));
    let entry = &mut all[data];
    if !entry.is_object() {
        *entry = serde_json::json!({});
    }
    match model {
        CheckedModel::Teacher => entry["teacher"] = block,
        CheckedModel::Student => {
            let serde_json::Value::Object(fields) = block else { unreachable!("the block is an object") };
            fields.into_iter().for_each(|(k, v)| entry[k] = v);
        }
    }
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    std::fs::write(&path, serde_json::to_vec_pretty(&all).expect("json")).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}
