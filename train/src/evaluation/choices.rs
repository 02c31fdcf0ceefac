//! What the pipeline chooses on the validation period, never on the test split: the shipped
//! blend of model and server order (`personalization`, 0 = the server order) and V-SKNN's
//! settings. The validation requests are built as the test requests are (`protocol.rs`), with
//! statistics and candidates fitted on the events before the validation period.

use crate::baselines::sknn::{self, Sknn};
use crate::data::dataset::Case;
use crate::data::protocol::{requests_between, sample_users, Request, Stats, MAX_REQUESTS};
use crate::evaluation::eval::{Bench, Scorer};
use crate::pipeline::prepare::Prepared;

/// The blends the sweep compares: 0 (the server order) to 1 (the model alone) in steps of 0.1.
pub const BLENDS: [f64; 11] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// One setting's validation list NDCG@10.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Tried<T> {
    pub setting: T,
    #[serde(rename = "ndcg@10")]
    pub ndcg10: f64,
}

#[derive(Debug, serde::Serialize)]
pub struct Choices {
    /// The shipped model's blend; the manifest's `personalization`.
    pub personalization: f64,
    pub blends: Vec<Tried<f64>>,
    pub sknn: sknn::Params,
    pub sknn_tried: Vec<Tried<sknn::Params>>,
    /// Validation requests (every event of the validation period, or of a sample of users above
    /// `MAX_REQUESTS`).
    pub requests: usize,
}

/// The best setting; ties go to the first (the smaller blend: the server order unless the model
/// earns its weight).
pub fn best<T: Copy>(tried: &[Tried<T>]) -> T {
    tried.iter().fold(&tried[0], |b, t| if t.ndcg10 > b.ndcg10 { t } else { b }).setting
}

/// The validation period's statistics (fitted on the events before it) and requests (every
/// event of the period, or of a sample of users above `MAX_REQUESTS`).
pub fn validation(p: &Prepared) -> (Stats, Vec<Request>) {
    let (from, until) = (p.split.valid_from, p.split.test_from);
    let stats = Stats::fit(&p.users, p.data.products.len(), from);
    (stats, sample_users(requests_between(&p.users, from, until), MAX_REQUESTS))
}

/// Validation NDCG@10 of `scores` at each of `BLENDS` (the model's scores computed once).
pub fn blend_sweep(bench: &Bench, scores: &(dyn Fn(&[Case]) -> Vec<Vec<f32>> + Sync)) -> Vec<Tried<f64>> {
    bench
        .blend_rows(scores, &BLENDS.map(|b| b as f32))
        .into_iter()
        .zip(BLENDS)
        .map(|(row, setting)| Tried { setting, ndcg10: row.list.ndcg10 })
        .collect()
}

/// Sweeps the blend of `shipped` (full-catalogue scores of the shipped 8-bit model) and V-SKNN's
/// grid on the validation requests.
pub fn choose(p: &Prepared, repeat_candidates: bool, shipped: &(dyn Fn(&[Case]) -> Vec<Vec<f32>> + Sync)) -> Choices {
    let (from, items) = (p.split.valid_from, p.data.products.len());
    let (stats, requests) = validation(p);
    let bench = Bench::new(&p.data, &stats, &requests, repeat_candidates);
    eprintln!("validation: the blend of the shipped model ({} requests)", requests.len());
    let blends = blend_sweep(&bench, shipped);
    eprintln!("validation: V-SKNN's {} settings", sknn::GRID.len());
    let model = Sknn::fit(&p.users, items, from);
    let sknn_tried: Vec<Tried<sknn::Params>> = sknn::GRID
        .iter()
        .map(|&setting| {
            let scores = |s: &[_]| model.scores(s, setting);
            Tried { setting, ndcg10: bench.row("sknn", &Scorer::Session(&scores)).list.ndcg10 }
        })
        .collect();
    Choices { personalization: best(&blends), sknn: best(&sknn_tried), blends, sknn_tried, requests: requests.len() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_keep_the_server_order() {
        let tried = [Tried { setting: 0.0, ndcg10: 0.03 }, Tried { setting: 0.5, ndcg10: 0.03 }, Tried { setting: 1.0, ndcg10: 0.02 }];
        assert_eq!(best(&tried), 0.0);
        let better = [Tried { setting: 0.0, ndcg10: 0.03 }, Tried { setting: 0.7, ndcg10: 0.05 }];
        assert_eq!(best(&better), 0.7);
    }
}
