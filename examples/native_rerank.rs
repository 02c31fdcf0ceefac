//! Warm reranks of the shipped model on the native CPU build, timed: the code path of the
//! browser's CPU backend, for `perf record` or callgrind (docs/speed-and-size.md).
//!   cargo run --release --example native_rerank --features burn/simd -- [events, default 50]
//! 100 candidates (the golden ones, with copies under other ids and titles), a session of
//! `events` clicks on them.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use localrank::features::{Context, Item};
use localrank::runtime::cpu_device;
use localrank::{Ranker, RerankOptions};

const CANDIDATES: usize = 100;
const RUNS: usize = 3_000;

fn main() {
    let events: usize = match std::env::args().nth(1).map(|s| s.parse()) {
        None => 50,
        Some(Ok(n)) => n,
        Some(Err(e)) => return eprintln!("events: {e}"),
    };
    let golden = common::golden().candidates;
    let items: Vec<Item> = (0..CANDIDATES)
        .map(|k| {
            let it = &golden[k % golden.len()];
            Item { id: format!("{}-{k}", it.id), title: format!("{} {}", it.title, k / golden.len()), ..it.clone() }
        })
        .collect();
    let mut ranker = Ranker::load(common::files(), cpu_device(), None).expect("the shipped model loads");
    for item in items.iter().cycle().take(events) {
        ranker.observe(common::click(item)).expect("a click is a valid event");
    }
    let rerank = || ranker.rerank(&items, &Context::default(), RerankOptions::default()).expect("rerank");
    (0..50).for_each(|_| drop(rerank()));
    let start = Instant::now();
    (0..RUNS).for_each(|_| drop(rerank()));
    let us = start.elapsed().as_secs_f64() * 1e6 / RUNS as f64;
    println!("{CANDIDATES} candidates, {events} events: {us:.1} µs per rerank ({RUNS} runs)");
}
