//! Model scores -> the final order: a blend of the on-device model with the server's order.
//!
//! The server's order carries what the server knows (stock, margin, relevance to the page); the
//! model carries what only the device knows (this session). Both are standardised over the
//! candidate list before blending so that `personalization` means the same for any list.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RerankOptions {
    /// Return only the best `top_k` (all when absent).
    pub top_k: Option<usize>,
    /// Weight of the on-device model against the server order, 0..=1.
    pub personalization: f32,
}

impl Default for RerankOptions {
    fn default() -> Self {
        // 0.9: measured on the session protocol (EVALUATION.md); 0.7 cost ~15% NDCG@10 there.
        Self { top_k: None, personalization: 0.9 }
    }
}

impl RerankOptions {
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.personalization) {
            return Err(Error::input(format!(
                "options.personalization must be within 0..=1, got {}",
                self.personalization
            )));
        }
        if self.top_k == Some(0) {
            return Err(Error::input("options.topK must be at least 1"));
        }
        Ok(())
    }
}

/// One reranked candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ranked {
    pub id: String,
    pub score: f32,
    /// 1-based position in the list the server sent.
    pub server_rank: usize,
}

/// Server prior of the candidate at 0-based position `i`: a DCG-like discount.
fn server_prior(i: usize) -> f32 {
    -((i + 2) as f32).ln()
}

fn standardise(values: &[f32]) -> Vec<f32> {
    let n = values.len().max(1) as f32;
    let mean = values.iter().sum::<f32>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
    let sd = var.sqrt().max(1e-6);
    values.iter().map(|v| (v - mean) / sd).collect()
}

/// Orders `ids` (in server order). Without model scores (empty session) the server order is
/// kept as it is.
pub fn order(ids: &[String], model: Option<&[f32]>, options: &RerankOptions) -> Vec<Ranked> {
    let prior: Vec<f32> = (0..ids.len()).map(server_prior).collect();
    let scores = match model {
        None => prior,
        Some(m) => {
            let w = options.personalization;
            let (zm, zs) = (standardise(m), standardise(&prior));
            zm.iter().zip(&zs).map(|(a, b)| w * a + (1.0 - w) * b).collect()
        }
    };
    let mut ranked: Vec<Ranked> = ids
        .iter()
        .zip(scores)
        .enumerate()
        .map(|(i, (id, score))| Ranked { id: id.clone(), score, server_rank: i + 1 })
        .collect();
    // Stable sort: ties keep the server's order.
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
    ranked.truncate(options.top_k.unwrap_or(usize::MAX));
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("p{i}")).collect()
    }

    #[test]
    fn without_model_the_server_order_is_kept() {
        let out = order(&ids(5), None, &RerankOptions::default());
        let ranks: Vec<usize> = out.iter().map(|r| r.server_rank).collect();
        assert_eq!(ranks, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_strong_model_score_moves_an_item_up_and_top_k_cuts() {
        let model = [0.0, 0.0, 0.0, 0.0, 10.0];
        let opts = RerankOptions { top_k: Some(2), personalization: 0.7 };
        let out = order(&ids(5), Some(&model), &opts);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].id, "p4");
        assert_eq!(out[0].server_rank, 5);
    }

    #[test]
    fn zero_personalization_is_the_server_order() {
        let model = [5.0, 4.0, 3.0, 2.0, 9.0];
        let opts = RerankOptions { top_k: None, personalization: 0.0 };
        let out = order(&ids(5), Some(&model), &opts);
        assert_eq!(out[0].id, "p0");
        assert_eq!(out[4].id, "p4");
    }

    #[test]
    fn options_are_validated() {
        assert!(RerankOptions { top_k: Some(0), ..Default::default() }.validate().is_err());
        let err = RerankOptions { personalization: 2.0, ..Default::default() }.validate();
        assert!(err.unwrap_err().to_string().contains("personalization"));
    }
}
