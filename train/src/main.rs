//! localrank-train: fetch real data (or read a storefront's own files), train the shared model
//! natively, evaluate it, export `models/`. `localrank-train --help` lists the subcommands.
//!
//! ```text
//! cargo run -p train --release -- all        # the MovieLens example: regenerates models/
//! cargo run -p train --release -- all --events events.csv --catalogue catalogue.csv --out my-models
//! ```

mod baselines;
mod cli;
mod data;
mod evaluation;
mod export;
mod hash;
mod memory;
mod models;
mod parallel;
mod pipeline;
mod progress;

use clap::Parser;
use cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    memory::keep_freed_memory();
    let command = Cli::parse().command;
    // A missing GPU ends the run before the data is read, not hours into it.
    if let Err(e) = command.settings().map_or(Ok(()), |s| s.device.check()) {
        eprintln!("error: {e}");
        return std::process::ExitCode::from(2);
    }
    let result = match command {
        Command::Fetch => data::fetch::sources().map(|_| eprintln!("fetch: ok, cache in {}", data::fetch::cache_dir().display())),
        Command::All(run) => pipeline::run(&run, true),
        Command::Eval(run) => pipeline::run(&run, false),
        Command::Validate(input) => data::ingest::cli::validate(&input),
        Command::Ingest { input, epochs } => data::ingest::cli::ingest(&input, epochs),
        Command::ConvertExamples { out } => data::ingest::convert::run(&out.unwrap_or_else(data::ingest::convert::default_dir)),
        Command::Context(s) => evaluation::ablations::run_context(&s),
        Command::OrderSensitivity(s) => evaluation::order::run(&s),
        Command::Returning(s) => evaluation::returning::run(&s),
        Command::Uplift(a) => evaluation::uplift::run(&a),
        Command::SoftmaxCheck { run, model } => evaluation::softmax_check::run(&run, model),
        Command::Compact(args) => pipeline::compact::run(&args),
        Command::Students(s) => evaluation::ablations::run_students(&s),
        Command::Teacher(s) => evaluation::ablations::run_teacher(&s),
        Command::Distill(s) => evaluation::ablations::run_distill(&s),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
