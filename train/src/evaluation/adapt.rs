//! Adapting on the device (issue 21), evaluated offline through the library's own code: the
//! per-category biases of `localrank::adapt` (each candidate gains the weight x its category's
//! share of the earlier-visit events the model reads, in units of the list's model-score
//! spread), applied by `eval::Bench` exactly as `Ranker` applies the manifest's `adaptation`. The weight is chosen
//! on the validation period, 0 (no adjustment) included, on what a device with `remember` holds;
//! the test rows say whether a gain holds. Fitting is counting, so an update costs one increment
//! and a rerank one addition per candidate (timed below).

use std::time::Instant;

use crate::data::dataset::Case;
use crate::data::movielens::Data;
use crate::data::protocol::{Request, Stats};
use crate::evaluation::choices::{best, Tried};
use crate::evaluation::eval::{Adapting, Bench, Scorer};
use crate::evaluation::intervals::{self, Difference};
use crate::evaluation::returning::{viewed, View, REMEMBER};

/// The weights compared on validation (standard deviations of the list's model scores per unit
/// of category share).
pub const WEIGHTS: [f32; 8] = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];

/// What the study scores: a model at its blend, the product categories (the browser's keys)
/// and the model's window, and the validation and test requests with their statistics.
pub struct Study<'a> {
    pub data: &'a Data,
    pub scores: &'a (dyn Fn(&[Case]) -> Vec<Vec<f32>> + Sync),
    pub category: &'a [i64],
    pub window: usize,
    pub blend: f32,
    pub repeats: bool,
    pub valid: (&'a Stats, &'a [Request]),
    pub test: (&'a Stats, &'a [Request]),
}

/// Validation's weight: the rows of every weight in `WEIGHTS` on the device-held view of
/// `s.valid` (the model's scores computed once); the best, kept only if its paired gain over
/// weight 0 is separated from 0 (95% interval over users), else 0. The MovieLens model's best,
/// 0.25, was 0.0648 against 0.0647 at 0 on validation and -0.0000 (-0.0004 to +0.0004) on test:
/// a best of several settings alone is not a gain. Returns the weight, the validation rows and
/// the paired difference of the best against 0.
pub fn choose(s: &Study) -> (f32, Vec<Tried<f32>>, Difference) {
    let (stats, requests) = s.valid;
    let viewed = viewed(requests, View::Device(REMEMBER));
    let bench = Bench::new(s.data, stats, &viewed, s.repeats);
    let adapting = Adapting { category: s.category, window: s.window, weight: 0.0 };
    let rows = bench.adaptation_rows(s.scores, s.blend, adapting, &WEIGHTS);
    let tried: Vec<Tried<f32>> = WEIGHTS.iter().zip(&rows).map(|(&setting, r)| Tried { setting, ndcg10: r.list.ndcg10 }).collect();
    let best_weight = best(&tried);
    let (top, off) = (&rows[WEIGHTS.iter().position(|&w| w == best_weight).unwrap_or(0)], &rows[0]);
    let gain = intervals::difference(&bench.users, (&top.model, &top.gains), (&off.model, &off.gains));
    let chosen = if gain.separated && gain.mean > 0.0 { best_weight } else { 0.0 };
    eprintln!("adapt: validation's best weight {best_weight} (of {WEIGHTS:?}), gain {:+.4} ({:+.4} to {:+.4}): chose {chosen}", gain.mean, gain.ci[0], gain.ci[1]);
    (chosen, tried, gain)
}

/// The weight chosen on validation; the test rows without and with it, reading the device-held
/// history and (as a ranker without `remember` applies it too) the session alone; the paired
/// differences; the cost of an update and of the biases for 100 candidates.
pub fn measure(s: &Study) -> serde_json::Value {
    let (chosen, tried, gain) = choose(s);
    let (stats, requests) = s.test;
    let users: Vec<u32> = requests.iter().map(|r| r.target.user).collect();
    let scorer = Scorer::Model { scores: s.scores, personalization: s.blend, long_tail: 0.0 };
    let adapting = Adapting { category: s.category, window: s.window, weight: chosen };
    let pair = |view: View| {
        let viewed = viewed(requests, view);
        let bench = Bench::new(s.data, stats, &viewed, s.repeats);
        let plain = bench.row(view.name(), &scorer);
        let biased = bench.adapting(adapting).row(&format!("{} + category biases", view.name()), &scorer);
        let d = intervals::difference(&users, (&biased.model, &biased.gains), (&plain.model, &plain.gains));
        let row = |r: &crate::evaluation::eval::Row| serde_json::json!({"model": r.model, "ndcg@10": r.list.ndcg10, "hr@10": r.list.hr10, "ndcg@10_ci": r.ndcg10_ci});
        (vec![row(&plain), row(&biased)], d)
    };
    let (device, device_d) = pair(View::Device(REMEMBER));
    let (session, session_d) = pair(View::Session);
    serde_json::json!({
        "adjustment": "localrank::adapt: the category's share of the earlier-visit events the model reads (its window) x weight, added to the standardised model score before the blend (manifest `adaptation`)",
        "window": s.window,
        "blend": s.blend,
        "validation": tried,
        "validation_gain": gain,
        "weight": chosen,
        // Validation decides (a separated gain there); the test rows only report.
        "kept": chosen > 0.0,
        "test": [device[0], device[1], session[0], session[1]],
        "difference": device_d,
        "difference_session_only": session_d,
        "cost_ms": cost_ms(s.category),
    })
}

/// Native milliseconds for one update (an event counted) and for the biases of 100 candidates
/// after 50 events, the work the tab does (medians of 1,000 timings; the wasm build would be a
/// few times slower, still far under a millisecond).
fn cost_ms(category: &[i64]) -> serde_json::Value {
    let n = category.len().min(100);
    let history: Vec<i64> = (0..50).map(|i| category[(i * 7) % n]).collect();
    // An hour apart: every event but the newest is from an earlier visit, all counted.
    let at: Vec<f64> = (0..50).map(|i| i as f64 * 3_600.0).collect();
    let mut times = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let started = Instant::now();
        std::hint::black_box(localrank::adapt::affinities(&at, &history, &category[..n], 1.0));
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let mut counts = std::collections::HashMap::new();
    let started = Instant::now();
    for k in &history {
        *counts.entry(*k).or_insert(0u32) += 1;
    }
    std::hint::black_box(&counts);
    serde_json::json!({"update": started.elapsed().as_secs_f64() * 1e3 / history.len() as f64, "rerank_100_candidates_50_events": times[times.len() / 2]})
}
