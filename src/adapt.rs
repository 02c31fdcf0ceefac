//! Adapting on the device (issue 21): per-category biases fitted in the tab from the shopper's
//! own events. A candidate gains `weight` x the share of the events the model reads (its window)
//! that fall in the candidate's category, added to its standardised model score before the blend
//! with the server order (`rerank::order`), so the unit is one standard deviation of the list's
//! model scores. Fitting is counting: no gradient, nothing stored beyond the session.
//!
//! `localrank-train` measures it offline through this same function and writes the weight it
//! chose on validation to the manifest (`adaptation`; absent or 0: off). Measured
//! (docs/evaluation.md "Returning shoppers"): MovieLens validation chose 0; on the Instacart
//! sample, whose categories are the products, it acts as a repeat-purchase boost.

use foldhash::HashMap;

/// The largest weight a manifest may set: `localrank-train` tries 0..=16, and a weight far
/// above the blend's unit would leave the model nothing to say.
pub const MAX_WEIGHT: f32 = 64.0;

/// Each candidate's bias: `weight` x the share of `history` (the category keys of the events
/// the model reads, oldest first; 0 = no known category, never counted as one) in the
/// candidate's category key. All zeros for weight 0 or an empty history.
pub fn affinities(history: &[i64], candidates: &[i64], weight: f32) -> Vec<f32> {
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
    fn a_category_gains_its_share_of_the_history_times_the_weight() {
        // Four events: category 5 twice, 6 once, one event without a known category (a search).
        let got = affinities(&[5, 5, 6, 0], &[5, 6, 7, 0], 2.0);
        assert_eq!(got, [1.0, 0.5, 0.0, 0.0], "unknown (0) is not a category, but counts as an event");
        assert_eq!(affinities(&[5], &[5, 6], 0.0), [0.0, 0.0], "weight 0 is the model alone");
        assert_eq!(affinities(&[], &[5], 4.0), [0.0]);
    }
}
