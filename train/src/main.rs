//! localrank-train: fetch real data (or read a storefront's own files), train the shared model
//! natively, evaluate it, export `models/`. `localrank-train --help` lists the subcommands.
//!
//! ```text
//! cargo run -p train --release -- all        # the MovieLens example: regenerates models/
//! cargo run -p train --release -- all --events events.csv --catalogue catalogue.csv --out my-models
//! ```

mod ablations;
#[cfg(test)]
mod parity;
mod bert;
mod cli;
mod dataset;
mod eval;
mod export;
mod fetch;
mod hash;
mod ingest;
mod instacart;
mod metrics;
mod model2vec;
mod movielens;
mod pipeline;
mod protocol;
mod report;
mod teacher;
mod trainer;

use clap::Parser;
use cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let result = match Cli::parse().command {
        Command::Fetch => fetch::sources().map(|_| eprintln!("fetch: ok, cache in {}", fetch::cache_dir().display())),
        Command::All(run) => pipeline::run(&run, true),
        Command::Eval(run) => pipeline::run(&run, false),
        Command::Validate(input) => ingest::cli::validate(&input),
        Command::Ingest { input, epochs } => ingest::cli::ingest(&input, epochs),
        Command::ConvertExamples { out } => ingest::convert::run(&out.unwrap_or_else(ingest::convert::default_dir)),
        Command::Context(s) => ablations::run_context(&s),
        Command::Students(s) => ablations::run_students(&s),
        Command::Teacher(s) => ablations::run_teacher(&s),
        Command::Distill(s) => ablations::run_distill(&s),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
