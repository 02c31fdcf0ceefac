//! Adapting on the device (issue 21), evaluated offline before anything of it ships: a
//! per-shopper adjustment fitted in the tab from the shopper's own events. Here per-category
//! biases: each category's share of the events the device holds (`remember`'s history at the
//! request) times a weight, in units of the spread of the request's model scores, added to the
//! model's scores. The weight is chosen on the validation period, 0 (no adjustment) included;
//! the test rows say whether a gain holds. Fitting is counting, so an update costs one increment
//! and a rerank one addition per candidate (timed below).

use std::time::Instant;

use crate::data::dataset::Case;
use crate::data::movielens::{Data, Interaction};
use crate::data::protocol::{Request, Stats};
use crate::evaluation::choices::{best, Tried};
use crate::evaluation::eval::{Bench, Scorer};
use crate::evaluation::intervals;
use crate::evaluation::returning::{viewed, View, REMEMBER};

/// The weights compared on validation (standard deviations of the request's scores per unit of
/// category share).
pub const WEIGHTS: [f32; 8] = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];

/// Adds `weight` x the spread of `scores` x the share of `history` in each product's category.
pub fn adjust(scores: &mut [f32], history: &[Interaction], category: &[i64], weight: f32) {
    if weight == 0.0 || history.is_empty() {
        return;
    }
    let mut counts = std::collections::HashMap::new();
    for e in history {
        *counts.entry(category[e.item]).or_insert(0u32) += 1;
    }
    let n = scores.len().max(1) as f32;
    let mean = scores.iter().sum::<f32>() / n;
    let sd = (scores.iter().map(|s| (s - mean) * (s - mean)).sum::<f32>() / n).sqrt();
    let unit = weight * sd / history.len() as f32;
    for (s, c) in scores.iter_mut().zip(category) {
        if let Some(&k) = counts.get(c) {
            *s += unit * k as f32;
        }
    }
}

/// What the study scores: a model, the product categories the biases are kept for, and the
/// validation and test requests with their statistics.
pub struct Study<'a> {
    pub data: &'a Data,
    pub scores: &'a (dyn Fn(&[Case]) -> Vec<Vec<f32>> + Sync),
    pub category: &'a [i64],
    pub blend: f32,
    pub repeats: bool,
    pub valid: (&'a Stats, &'a [Request]),
    pub test: (&'a Stats, &'a [Request]),
}

/// The weight chosen on validation, the test rows without and with it (both reading the
/// device-held history), their paired difference, and the cost of an update and of applying the
/// biases to 100 candidates.
pub fn measure(s: &Study) -> serde_json::Value {
    let adjusted = |w: f32| {
        move |cs: &[Case]| {
            let mut out = (s.scores)(cs);
            for (c, row) in cs.iter().zip(&mut out) {
                adjust(row, &c.history, s.category, w);
            }
            out
        }
    };
    let row = |(stats, requests): (&Stats, &[Request]), name: &str, w: f32| {
        let viewed = viewed(requests, View::Device(REMEMBER));
        let f = adjusted(w);
        Bench::new(s.data, stats, &viewed, s.repeats).row(name, &Scorer::Model { scores: &f, personalization: s.blend, long_tail: 0.0 })
    };
    let tried: Vec<Tried<f32>> = WEIGHTS
        .iter()
        .map(|&w| {
            eprintln!("adapt: validation, weight {w}");
            Tried { setting: w, ndcg10: row(s.valid, "validation", w).list.ndcg10 }
        })
        .collect();
    let chosen = best(&tried);
    eprintln!("adapt: validation chose weight {chosen}");
    let plain = row(s.test, "device-history", 0.0);
    let biased = row(s.test, "device-history + category biases", chosen);
    let users: Vec<u32> = s.test.1.iter().map(|r| r.target.user).collect();
    let d = intervals::difference(&users, (&biased.model, &biased.gains), (&plain.model, &plain.gains));
    serde_json::json!({
        "adjustment": "per-category biases: the category's share of the device-held history x weight x the spread of the request's scores",
        "validation": tried,
        "weight": chosen,
        // Validation decides (a weight above 0 chosen there); the test rows only report.
        "kept": chosen > 0.0,
        "test": [
            {"model": plain.model, "ndcg@10": plain.list.ndcg10, "hr@10": plain.list.hr10, "ndcg@10_ci": plain.ndcg10_ci},
            {"model": biased.model, "ndcg@10": biased.list.ndcg10, "hr@10": biased.list.hr10, "ndcg@10_ci": biased.ndcg10_ci},
        ],
        "difference": d,
        "cost_ms": cost_ms(s.category),
    })
}

/// Native milliseconds for one update (an event counted) and for the biases applied to 100
/// candidates after 50 events, the work the tab would do (medians of 1,000 timings; the wasm
/// build would be a few times slower, still far under a millisecond).
fn cost_ms(category: &[i64]) -> serde_json::Value {
    let n = category.len().min(100);
    let events: Vec<Interaction> = (0..50).map(|i| Interaction { user: 0, kind: 2, context: [0; 3], item: (i * 7) % n, time: i as i64 }).collect();
    let mut times = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let mut scores: Vec<f32> = (0..n).map(|j| j as f32 * 0.01).collect();
        let started = Instant::now();
        adjust(&mut scores, &events, &category[..n], 1.0);
        times.push(started.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(&scores);
    }
    times.sort_by(f64::total_cmp);
    let mut counts = std::collections::HashMap::new();
    let started = Instant::now();
    for e in &events {
        *counts.entry(category[e.item]).or_insert(0u32) += 1;
    }
    std::hint::black_box(&counts);
    serde_json::json!({"update": started.elapsed().as_secs_f64() * 1e3 / events.len() as f64, "rerank_100_candidates_50_events": times[times.len() / 2]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn biases_follow_the_history_s_categories_in_units_of_the_spread() {
        let ev = |item| Interaction { user: 0, kind: 2, context: [0; 3], item, time: 0 };
        // Products 0 and 1 in category 5, product 2 in category 6; scores with spread 1.
        let category = [5, 5, 6, 7];
        let mut scores = [1.0f32, -1.0, 1.0, -1.0];
        adjust(&mut scores, &[ev(0), ev(0), ev(2), ev(3)], &category, 2.0);
        // Category 5 holds half the history: +2 x 1 x 0.5; categories 6 and 7 a quarter each.
        assert_eq!(scores, [2.0, 0.0, 1.5, -0.5]);
        let mut same = [1.0f32, -1.0];
        adjust(&mut same, &[ev(0)], &category[..2], 0.0);
        assert_eq!(same, [1.0, -1.0], "weight 0 is the model alone");
    }
}
