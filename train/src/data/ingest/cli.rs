//! The input subcommands `validate` and `ingest` (flags in `crate::cli`).

use std::time::Instant;

use crate::cli::Input;

pub fn validate(f: &Input) -> Result<(), String> {
    let (events, catalogue) = (&f.events, &f.catalogue);
    let started = Instant::now();
    let report = super::validate(events, catalogue)?;
    print!("{}", report.render());
    eprintln!("{}", throughput(report.catalogue.rows + report.events.rows, started));
    if !report.is_clean() {
        std::process::exit(1);
    }
    println!("ok: no problems");
    Ok(())
}

pub fn ingest(f: &Input, epochs: usize) -> Result<(), String> {
    let (events, catalogue) = (&f.events, &f.catalogue);
    let started = Instant::now();
    let loaded = super::load(events, catalogue)?;
    let rows = loaded.report.catalogue.rows + loaded.report.events.rows;
    print!("{}", loaded.report.render());
    let d = &loaded.data;
    if d.events.is_empty() {
        return Err("ingest: no usable events".into());
    }
    let read = throughput(rows, started);
    let split = crate::data::dataset::Split::by_time(&d.events);
    let users = crate::data::dataset::by_user(&d.events);
    let max_session = localrank::model::ModelConfig::new(d.categories.len() + 1).max_session;
    let windows = crate::data::dataset::windows(&users, split.valid_from, max_session);
    let kinds: Vec<String> = localrank::features::EventKind::NAMES.iter().zip(loaded.kinds).map(|(n, c)| format!("{n} {c}")).collect();
    println!(
        "events by kind: {}\n\
         data: {} products, {} categories, {} events, {} users, {} searches without an item (not in the item sequence)\n\
         split: valid from {}, test from {} (Unix s); {} training windows of up to {max_session} events",
        kinds.join(", "), d.products.len(), d.categories.len(), d.events.len(), loaded.users.len(), loaded.searches,
        split.valid_from, split.test_from, windows.len()
    );
    eprintln!("read: {read}; with split and windows: {}", throughput(rows, started));
    if epochs > 0 {
        train_student(d, &users, &split, &windows, epochs)?;
    }
    Ok(())
}

/// The student alone (no teacher), as `all` trains it, on the files' windows: a measure of
/// training speed on file input. Validation: every 4th event of the validation period.
fn train_student(d: &crate::data::movielens::Data, users: &[Vec<crate::data::movielens::Interaction>], split: &crate::data::dataset::Split, windows: &[crate::data::dataset::Window], epochs: usize) -> Result<(), String> {
    let tokenizer = std::fs::read(crate::data::fetch::sources()?.tokenizer).map_err(|e| e.to_string())?;
    let config = localrank::model::ModelConfig::new(d.categories.len() + 1);
    let text = localrank::text::TextEncoder::from_bytes(&tokenizer, config.text_buckets, config.max_tokens).map_err(|e| e.to_string())?;
    let items = crate::data::dataset::ItemInputs::new(d, &text);
    let valid: Vec<_> = crate::data::dataset::cases(users, split.valid_from, split.test_from, config.max_session).into_iter().step_by(4).collect();
    let tc = crate::models::trainer::TrainConfig { epochs, batch_size: 64, lr: 3e-3, seed: 42, loss: crate::cli::LossChoice::Auto, device: Default::default(), checkpoint: None };
    let started = Instant::now();
    let sm = crate::models::softmax::Softmax::auto(d.products.len(), windows);
    eprintln!("loss: {} softmax over {} products", sm.name(), d.products.len());
    let (_, log) = crate::models::trainer::train(&config, &tc, &items, windows, &valid, None, None, &sm);
    let s = started.elapsed().as_secs_f64();
    let steps: usize = windows.iter().map(|w| w.inputs.len()).sum::<usize>() * epochs;
    let best = crate::pipeline::train::best_valid(&log);
    println!(
        "train: student alone, {epochs} epoch(s) over {} windows ({steps} events) in {s:.1} s with validation: {:.0} events/s; best validation ndcg@10 {best:.4} ({} cases)",
        windows.len(), steps as f64 / s, valid.len()
    );
    Ok(())
}

/// "N rows in S s (R rows/s), peak memory M MiB".
fn throughput(rows: usize, started: Instant) -> String {
    let s = started.elapsed().as_secs_f64();
    let peak = super::peak_rss_mib().map_or("unknown".into(), |m| format!("{m:.0} MiB"));
    format!("{rows} rows in {s:.2} s ({:.0} rows/s), peak memory {peak}", rows as f64 / s.max(1e-9))
}
