//! Ranking metrics with one relevant item: rank 0 is the top.

#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Metrics {
    #[serde(rename = "ndcg@10")]
    pub ndcg10: f64,
    #[serde(rename = "hr@10")]
    pub hr10: f64,
    #[serde(rename = "mrr@10")]
    pub mrr10: f64,
    pub cases: usize,
}

/// Accumulates metrics case by case.
#[derive(Default)]
pub struct Accumulator {
    sum: Metrics,
}

impl Accumulator {
    pub fn add(&mut self, rank: usize) {
        self.sum.cases += 1;
        if rank < 10 {
            self.sum.hr10 += 1.0;
            self.sum.ndcg10 += ndcg_gain(rank);
            self.sum.mrr10 += 1.0 / (rank + 1) as f64;
        }
    }

    pub fn finish(self) -> Metrics {
        let n = self.sum.cases.max(1) as f64;
        Metrics { ndcg10: self.sum.ndcg10 / n, hr10: self.sum.hr10 / n, mrr10: self.sum.mrr10 / n, cases: self.sum.cases }
    }
}

/// NDCG@10 of one request whose relevant item is at `rank` (0 = top; one relevant item, so the
/// ideal DCG is 1).
pub fn ndcg_gain(rank: usize) -> f64 {
    if rank < 10 { 1.0 / ((rank + 2) as f64).log2() } else { 0.0 }
}

/// Rank of `target` among `scores`: how many items score strictly higher, plus half the ties
/// (so a constant scorer gets the expected rank of a random order, not the best one).
pub fn rank_of(scores: &[f32], target: usize) -> usize {
    let s = scores[target];
    let higher = scores.iter().filter(|&&x| x > s).count();
    let ties = scores.iter().filter(|&&x| x == s).count() - 1;
    higher + ties / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_missed_ranks() {
        let mut a = Accumulator::default();
        a.add(0);
        a.add(10);
        let m = a.finish();
        assert!((m.ndcg10 - 0.5).abs() < 1e-12 && (m.hr10 - 0.5).abs() < 1e-12);
        assert_eq!(rank_of(&[0.1, 0.9, 0.5], 2), 1);
        assert_eq!(rank_of(&[1.0; 5], 0), 2);
    }
}
