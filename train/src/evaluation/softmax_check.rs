//! `softmax-check`: is the sampled softmax (`models::softmax`) as good as the full one? The
//! student alone trained both ways from the same seeds on the same split, scored on the same
//! test candidate lists by the same metric code (`eval::Bench`, the model's own order), with
//! the paired difference and its 95% interval (bootstrap over users), and the training time of
//! each. Appends its block, keyed by data set, to OUT/softmax-check.json.

use std::time::Instant;

use crate::cli::Run;
use crate::data::protocol;
use crate::evaluation::eval::{self, Bench, Row, Scorer};
use crate::evaluation::intervals;
use crate::evaluation::tables::student_scores;
use crate::models::softmax::Softmax;
use crate::models::trainer::{train, TrainConfig};
use crate::pipeline::prepare::prepare;
use crate::pipeline::train::train_config;

pub fn run(run: &Run) -> Result<(), String> {
    let s = &run.settings;
    let p = prepare(run.input().as_ref(), run.name.as_deref(), Some(s.order_seed))?;
    let stats = protocol::Stats::fit(&p.users, p.data.products.len(), p.split.test_from);
    let requests = protocol::sample_users(protocol::requests(&p.users, p.split.test_from), protocol::MAX_REQUESTS);
    let bench = Bench::new(&p.data, &stats, &requests, run.repeat_candidates);
    let (mut rows, mut seconds) = (Vec::<Row>::new(), Vec::new());
    for (name, sampled) in [("full", false), ("sampled", true)] {
        let softmax = Softmax::choose(sampled, p.data.products.len(), &p.train_windows);
        let mut per_seed = Vec::new();
        let started = Instant::now();
        for seed in s.seed..s.seed + s.seeds.max(1) as u64 {
            eprintln!("student alone, {} softmax, seed {seed}", softmax.name());
            let tc = TrainConfig { seed, ..train_config(s) };
            let (model, _) = train(&p.config, &tc, &p.items, &p.train_windows, &p.valid, None, None, &softmax);
            per_seed.push(bench.row(name, &Scorer::Model { scores: &student_scores(&p, &model), personalization: 1.0, long_tail: 0.0 }));
        }
        seconds.push(started.elapsed().as_secs_f64() / s.seeds.max(1) as f64);
        rows.push(eval::mean_row(&format!("student-alone, {name} softmax"), per_seed, &bench.users));
    }
    let difference = intervals::difference(&bench.users, (&rows[1].model, &rows[1].gains), (&rows[0].model, &rows[0].gains));
    let block = serde_json::json!({
        "data": p.origin.description,
        "command": crate::export::report::command_line(),
        "epochs": s.epochs,
        "seeds": (s.seed..s.seed + s.seeds.max(1) as u64).collect::<Vec<_>>(),
        "negatives": crate::models::softmax::NEGATIVES,
        "rows": rows,
        "difference": difference,
        "train_seconds_per_seed": {"full": seconds[0], "sampled": seconds[1]},
        "machine": "2-core x86-64 (the project's CI kind)",
        "date": crate::export::report::utc_date_time(std::time::SystemTime::now()),
    });
    let path = s.out.join("softmax-check.json");
    let mut all: serde_json::Value = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_else(|| serde_json::json!({}));
    all[p.origin.name.as_str()] = block;
    std::fs::create_dir_all(&s.out).map_err(|e| format!("{}: {e}", s.out.display()))?;
    std::fs::write(&path, serde_json::to_vec_pretty(&all).expect("json")).map_err(|e| format!("{}: {e}", path.display()))?;
    println!(
        "{}\nsampled - full: {:+.4} ({:+.4} to {:+.4}); training {:.0} s (full) vs {:.0} s (sampled) per seed\nwrote {}",
        eval::table(&rows),
        difference.mean,
        difference.ci[0],
        difference.ci[1],
        seconds[0],
        seconds[1],
        path.display()
    );
    Ok(())
}
