//! The next-item loss over the catalogue: full softmax for small catalogues, and above
//! `SAMPLED_ABOVE` products a sampled softmax whose cost does not grow with the catalogue.
//!
//! Sampled: each batch scores its positions against the union of the batch's own targets
//! (in-batch negatives) and `negatives` products drawn by training popularity, and every logit
//! is corrected by the log of the product's probability of being in that union (logQ, as in
//! Jean et al. 2015 and TensorFlow's `sampled_softmax_loss`; Yi et al. 2019 for in-batch
//! negatives). The targets of a batch are themselves draws from the same popularity, so the
//! union is `targets + negatives` draws from one distribution and its inclusion probability is
//! `1 - (1 - p)^draws` for every member.

use burn::prelude::*;

use crate::data::dataset::Window;

/// Catalogue size above which the loss is sampled (`Softmax::auto`). Measured by `softmax-check`
/// on the 2-core machine (2026-12-06, docs/training.md "Scale"), the student alone, 3 seeds: at
/// 14,000 products (Instacart sample) sampled trained 3.8x faster (98 vs 374 s per seed) and
/// scored +0.0012 NDCG@10 (+0.0003 to +0.0022); at 1,682 (MovieLens) 1.3x faster per epoch and
/// equal (-0.0010 to +0.0010). Small catalogues keep the exact full softmax, which is cheap there.
pub const SAMPLED_ABOVE: usize = 5_000;
/// Popularity-sampled negatives per batch (gSASRec and Yi et al. use a few hundred).
pub const NEGATIVES: usize = 256;

/// Which softmax the trainers use.
#[derive(Clone, Debug)]
pub enum Softmax {
    Full,
    Sampled(Sampler),
}

impl Softmax {
    /// Full softmax up to `SAMPLED_ABOVE` products, sampled above.
    pub fn auto(items: usize, windows: &[Window]) -> Self {
        Self::choose(items > SAMPLED_ABOVE, items, windows)
    }

    pub fn choose(sampled: bool, items: usize, windows: &[Window]) -> Self {
        if sampled {
            Self::Sampled(Sampler::from_windows(items, windows, NEGATIVES))
        } else {
            Self::Full
        }
    }

    pub fn name(&self) -> String {
        match self {
            Self::Full => "full".into(),
            Self::Sampled(s) => format!("sampled ({} negatives + in-batch, logQ)", s.negatives),
        }
    }

    /// The products a batch with these flat `targets` (-1 = padding) is scored against, with
    /// the targets re-indexed into them; `None` means the whole catalogue.
    pub fn subset(&self, targets: &[i64], seed: u64) -> Option<Subset> {
        match self {
            Self::Full => None,
            Self::Sampled(s) => Some(s.subset(targets, seed)),
        }
    }
}

/// The popularity proposal of the sampled softmax.
#[derive(Clone, Debug)]
pub struct Sampler {
    /// Probability of each product per draw: training target count + 1, normalised (the +1
    /// lets products without training events appear as negatives).
    p: Vec<f64>,
    cumulative: Vec<f64>,
    negatives: usize,
}

/// The products of one sampled batch.
pub struct Subset {
    /// Sorted distinct product indices.
    pub items: Vec<usize>,
    /// Each flat target's position in `items`, or -1 for padding.
    pub targets: Vec<i64>,
    /// ln of each product's probability of being in `items`, [1, u] once on a device.
    pub log_q: Vec<f32>,
}

impl Sampler {
    pub fn from_windows(items: usize, windows: &[Window], negatives: usize) -> Self {
        let mut count = vec![1.0f64; items];
        for t in windows.iter().flat_map(|w| &w.targets) {
            count[t.item] += 1.0;
        }
        let total: f64 = count.iter().sum();
        let p: Vec<f64> = count.iter().map(|c| c / total).collect();
        let cumulative = p
            .iter()
            .scan(0.0, |acc, x| {
                *acc += x;
                Some(*acc)
            })
            .collect();
        Self { p, cumulative, negatives }
    }

    /// One draw by inverse CDF.
    fn draw(&self, state: &mut u64) -> usize {
        let u = (next(state) >> 11) as f64 / (1u64 << 53) as f64;
        self.cumulative.partition_point(|&c| c <= u).min(self.p.len() - 1)
    }

    /// The union of the batch's targets and `negatives` draws; deterministic in `seed`.
    pub fn subset(&self, targets: &[i64], seed: u64) -> Subset {
        let mut state = seed | 1;
        let mut items: Vec<usize> = targets.iter().filter(|&&t| t >= 0).map(|&t| t as usize).collect();
        let draws = items.len() + self.negatives;
        items.extend((0..self.negatives).map(|_| self.draw(&mut state)));
        items.sort_unstable();
        items.dedup();
        let targets = targets
            .iter()
            .map(|&t| if t < 0 { -1 } else { items.binary_search(&(t as usize)).expect("target in subset") as i64 })
            .collect();
        let log_q = items.iter().map(|&i| inclusion(self.p[i], draws).ln() as f32).collect();
        Subset { items, targets, log_q }
    }
}

/// Probability that a product of per-draw probability `p` is among `draws` draws.
fn inclusion(p: f64, draws: usize) -> f64 {
    -((draws as f64) * (-p).ln_1p()).exp_m1()
}

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

impl Subset {
    pub fn indices(&self, device: &Device) -> Tensor<1, Int> {
        let idx: Vec<i64> = self.items.iter().map(|&i| i as i64).collect();
        Tensor::from_data(TensorData::new(idx, [self.items.len()]), device)
    }

    /// `logits` [n, u] over `items`, minus ln q of each column.
    pub fn corrected(&self, logits: Tensor<2>, device: &Device) -> Tensor<2> {
        let q = Tensor::<2>::from_data(TensorData::new(self.log_q.clone(), [1, self.items.len()]), device);
        logits - q
    }
}

/// A per-step seed from the run's seed, the epoch and the step, so that a resumed run draws
/// the same negatives as an uninterrupted one.
pub fn step_seed(seed: u64, epoch: usize, step: usize) -> u64 {
    let mut s = seed ^ 0x9E37_79B9_7F4A_7C15;
    for x in [epoch as u64, step as u64] {
        s = (s ^ x).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        s ^= s >> 31;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::movielens::Interaction;

    fn windows(targets: &[usize]) -> Vec<Window> {
        let e = |item| Interaction::new(0, item, 0);
        vec![Window { inputs: targets.iter().map(|&i| e(i)).collect(), targets: targets.iter().map(|&i| e(i)).collect() }]
    }

    #[test]
    fn the_subset_holds_every_target_and_reindexes_it() {
        let s = Sampler::from_windows(1000, &windows(&[3, 3, 7, 999]), 16);
        let sub = s.subset(&[-1, 3, 7, 999, 3], 5);
        for (t, r) in [-1i64, 3, 7, 999, 3].iter().zip(&sub.targets) {
            assert_eq!(*t < 0, *r < 0);
            if *t >= 0 {
                assert_eq!(sub.items[*r as usize], *t as usize);
            }
        }
        assert!(sub.items.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
        assert!(sub.items.len() >= 3 && sub.items.len() <= 3 + 16);
    }

    #[test]
    fn the_same_seed_draws_the_same_negatives_and_another_seed_others() {
        let s = Sampler::from_windows(100_000, &windows(&[1, 2]), 256);
        assert_eq!(s.subset(&[1, 2], 9).items, s.subset(&[1, 2], 9).items);
        assert_ne!(s.subset(&[1, 2], 9).items, s.subset(&[1, 2], 10).items);
        assert_ne!(step_seed(1, 1, 2), step_seed(1, 2, 1));
    }

    #[test]
    fn draws_follow_popularity_and_the_correction_is_the_inclusion_probability() {
        // Product 0 is a target 999 times: p = 1000 / 1099 per draw.
        let s = Sampler::from_windows(100, &windows(&vec![0; 999]), 1);
        let mut state = 3;
        let zeros = (0..10_000).filter(|_| s.draw(&mut state) == 0).count();
        assert!((zeros as f64 / 10_000.0 - 1000.0 / 1099.0).abs() < 0.02, "{zeros}");
        // A product drawn with p per draw, 2 draws: 1 - (1 - p)^2.
        assert!((inclusion(0.1, 2) - 0.19).abs() < 1e-12);
        assert!((inclusion(1e-9, 1000) - 1e-6).abs() < 1e-9);
    }
}
