//! Adapting on the device (issue 21): per-category biases fitted in the tab from the shopper's
//! own events of earlier visits. A candidate gains `weight` x the share of the earlier-visit
//! events the model reads (its window) that fall in the candidate's category, added to its
//! standardised model score before the blend with the server order (`rerank::order`), so the
//! unit is one standard deviation of the list's model scores. Fitting is counting: no gradient,
//! nothing stored beyond the events.
//!
//! Earlier visits only: on the Instacart sample the same biases counted over the current visit
//! (the basket so far) cost -0.0196 NDCG@10 (-0.0216 to -0.0176), favouring what is already in
//! the basket, while counted over earlier visits they gain +0.0332 (+0.0291 to +0.0374) on the
//! device-held history (docs/evaluation.md "Returning shoppers"). So without `remember` (no
//! earlier visit in the session) it does nothing. `localrank-train` measures it offline through these functions and writes the weight
//! it chose on validation to the manifest (`adaptation`; absent or 0: off).

use foldhash::HashMap;

/// Seconds without an event that end a visit: the evaluation's session rule (`protocol.rs` in
/// localrank-train) and js/device-store.js's `currentVisitStart`.
pub const VISIT_GAP_SECONDS: i64 = 30 * 60;

/// Index of the first event of the last visit among event times (seconds, oldest first): the
/// events before it are from earlier visits. 0 for no events.
pub fn visit_start(times: &[f64]) -> usize {
    let mut s = times.len().saturating_sub(1);
    while s > 0 && times[s] - times[s - 1] <= VISIT_GAP_SECONDS as f64 {
        s -= 1;
    }
    s
}

/// The largest weight a manifest may set: `localrank-train` tries 0..=16, and a weight far
/// above the blend's unit would leave the model nothing to say.
pub const MAX_WEIGHT: f32 = 64.0;

/// Each candidate's bias after the events the model reads (oldest first; `times` in seconds,
/// `keys` their category keys, 0 = no known category, never counted as one): `weight` x the
/// share of the earlier visits' events (before `visit_start`) in the candidate's category key.
/// All zeros for weight 0 or no earlier visit.
pub fn affinities(times: &[f64], keys: &[i64], candidates: &[i64], weight: f32) -> Vec<f32> {
    let history = &keys[..visit_start(times).min(keys.len())];
    if weight == 0.0 || history.is_empty() {
        return vec![0.0; candidates.len()];
    }
    let mut counts: HashMap<i64, u32> = HashMap::default();
    for &k in history.iter().filter(|&&k| k != 0) {
        *counts.entry(k).or_insert(0) += 1;
    }
    let unit = weight / history.len() as f32;
    candidates
        .iter()
        .map(|k| counts.get(k).map_or(0.0, |&n| unit * n as f32))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_category_gains_its_share_of_the_earlier_visits_times_the_weight() {
        let gap = VISIT_GAP_SECONDS as f64;
        // An earlier visit of four events (category 5 twice, 6 once, one without a known
        // category: a search), then this visit's event in category 7, which is not counted.
        let times = [0.0, 1.0, 2.0, 3.0, 4.0 + gap];
        let got = affinities(&times, &[5, 5, 6, 0, 7], &[5, 6, 7, 0], 2.0);
        assert_eq!(got, [1.0, 0.5, 0.0, 0.0], "unknown (0) is not a category, but counts as an event");
        assert_eq!(affinities(&times, &[5, 5, 6, 0, 7], &[5, 6], 0.0), [0.0, 0.0], "weight 0 is the model alone");
        assert_eq!(affinities(&[0.0, 1.0], &[5, 5], &[5], 4.0), [0.0], "one visit: nothing earlier");
        assert_eq!(affinities(&[], &[], &[5], 4.0), [0.0]);
    }

    #[test]
    fn the_last_visit_starts_after_the_last_gap_of_over_30_minutes() {
        let gap = VISIT_GAP_SECONDS as f64;
        assert_eq!(visit_start(&[]), 0);
        assert_eq!(visit_start(&[5.0]), 0);
        assert_eq!(visit_start(&[0.0, gap, 2.0 * gap]), 0, "exactly 30 minutes apart: one visit");
        assert_eq!(visit_start(&[0.0, 10.0, 11.0 + gap, 20.0 + gap]), 2);
        assert_eq!(visit_start(&[0.0, 1.0 + gap]), 1);
    }
}
