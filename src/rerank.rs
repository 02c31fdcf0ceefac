//! Model scores -> the final order: a blend of the on-device model with the server's order,
//! optionally traded for long-tail exposure and category diversity.
//!
//! The server's order carries what the server knows (stock, margin, relevance to the page); the
//! model carries what only the device knows (this session). Both are standardised over the
//! candidate list before blending so that `personalization` means the same for any list.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::explain::Reason;
use crate::features::{category_path, Item};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct RerankOptions {
    /// Return only the best `top_k` (all when absent).
    pub top_k: Option<usize>,
    /// Weight of the on-device model against the server order, 0..=1.
    pub personalization: f32,
    /// 0..=1: how much accuracy to trade for long-tail items and category diversity. Popular
    /// items (by the candidates' `popularity`, or by server rank when absent) are pushed down
    /// by this weight, and a candidate loses this weight times its category overlap with the
    /// items already placed above it (maximal marginal relevance).
    pub long_tail: f32,
}

impl Default for RerankOptions {
    fn default() -> Self {
        // 0.9: measured on the session protocol (EVALUATION.md); 0.7 cost ~15% NDCG@10 there.
        Self { top_k: None, personalization: 0.9, long_tail: 0.0 }
    }
}

impl RerankOptions {
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [("personalization", self.personalization), ("longTail", self.long_tail)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(Error::input(format!("options.{name} must be within 0..=1, got {v}")));
            }
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
    /// Written as the f64 of the f32 (not its shortest f32 decimal), so that JSON gives JS the
    /// same number as a `Float32Array` does.
    #[serde(serialize_with = "f32_as_f64")]
    pub score: f32,
    /// 1-based position in the list the server sent.
    pub server_rank: usize,
    /// With `explain`: the session events and context fields that most raised or lowered this
    /// candidate (`explain.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<Reason>>,
}

fn f32_as_f64<S: serde::Serializer>(v: &f32, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(f64::from(*v))
}

/// What ordering needs of a candidate.
#[derive(Clone, Debug, PartialEq)]
pub struct ListItem {
    pub id: String,
    /// As the candidate gave it ("Drama / Romance"); split only where diversity needs it.
    pub category: String,
    pub popularity: Option<f32>,
}

impl From<&Item> for ListItem {
    fn from(item: &Item) -> Self {
        Self { id: item.id.clone(), category: item.category.clone(), popularity: item.popularity }
    }
}

/// Category path segments, lower-cased ("Drama / Romance" -> ["drama", "romance"]).
fn segments(category: &str) -> Vec<String> {
    category_path(category).map(str::to_lowercase).collect()
}

/// Server prior of the candidate at 0-based position `i`: a DCG-like discount.
fn server_prior(i: usize) -> f32 {
    -((i + 2) as f32).ln()
}

/// Values minus their mean, over their standard deviation.
pub(crate) fn standardise(values: &[f32]) -> Vec<f32> {
    let n = values.len().max(1) as f32;
    let mean = values.iter().sum::<f32>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
    let sd = var.sqrt().max(1e-6);
    values.iter().map(|v| (v - mean) / sd).collect()
}

/// Standardised popularity of each candidate: the given figures when every candidate has one,
/// else the server's order as a proxy.
fn popularity(list: &[ListItem], prior: &[f32]) -> Vec<f32> {
    match list.iter().map(|c| c.popularity).collect::<Option<Vec<f32>>>() {
        Some(p) => standardise(&p.iter().map(|v| v.ln_1p()).collect::<Vec<_>>()),
        None => standardise(prior),
    }
}

/// Jaccard overlap of two category paths.
fn overlap(a: &[String], b: &[String]) -> f32 {
    let inter = a.iter().filter(|c| b.contains(c)).count() as f32;
    let union = (a.len() + b.len()) as f32 - inter;
    if union == 0.0 { 0.0 } else { inter / union }
}

/// Orders `list` (in server order). Without model scores (empty session) the server order is
/// the base score; `long_tail` applies either way.
pub fn order(list: &[ListItem], model: Option<&[f32]>, options: &RerankOptions) -> Vec<Ranked> {
    let prior: Vec<f32> = (0..list.len()).map(server_prior).collect();
    let base = match model {
        None => standardise(&prior),
        Some(m) => {
            let w = options.personalization;
            let (zm, zs) = (standardise(m), standardise(&prior));
            zm.iter().zip(&zs).map(|(a, b)| w * a + (1.0 - w) * b).collect()
        }
    };
    let lambda = options.long_tail;
    let ranked = if lambda > 0.0 {
        let pop = popularity(list, &prior);
        let debiased: Vec<f32> = base.iter().zip(&pop).map(|(s, p)| s - lambda * p).collect();
        mmr(list, &debiased, lambda, options.top_k.unwrap_or(list.len()))
    } else {
        let mut idx: Vec<usize> = (0..list.len()).collect();
        // Stable sort: ties keep the server's order.
        idx.sort_by(|&a, &b| base[b].total_cmp(&base[a]));
        idx.into_iter().map(|i| (i, base[i])).collect()
    };
    ranked
        .into_iter()
        .take(options.top_k.unwrap_or(usize::MAX))
        .map(|(i, score)| Ranked { id: list[i].id.clone(), score, server_rank: i + 1, reasons: None })
        .collect()
}

/// Greedy maximal marginal relevance: each next item maximises its score minus `lambda` times
/// its largest category overlap with the items already chosen.
fn mmr(list: &[ListItem], scores: &[f32], lambda: f32, k: usize) -> Vec<(usize, f32)> {
    let paths: Vec<Vec<String>> = list.iter().map(|c| segments(&c.category)).collect();
    let mut left: Vec<usize> = (0..list.len()).collect();
    let mut penalty = vec![0.0f32; list.len()];
    let mut out = Vec::with_capacity(k.min(list.len()));
    while !left.is_empty() && out.len() < k {
        let gain = |i: usize| scores[i] - lambda * penalty[i];
        // Ties go to the earlier server position.
        let (pos, best) = left
            .iter()
            .copied()
            .enumerate()
            .max_by(|&(_, a), &(_, b)| gain(a).total_cmp(&gain(b)).then(b.cmp(&a)))
            .expect("non-empty");
        left.remove(pos);
        out.push((best, gain(best)));
        for &i in &left {
            penalty[i] = penalty[i].max(overlap(&paths[i], &paths[best]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Synthetic candidates: `p0` .. `p{n-1}`, categories as given.
    fn list(categories: &[&str]) -> Vec<ListItem> {
        categories
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let item = Item { id: format!("p{i}"), title: "t".into(), category: c.to_string(), popularity: None };
                ListItem::from(&item)
            })
            .collect()
    }

    fn opts(personalization: f32, long_tail: f32) -> RerankOptions {
        RerankOptions { top_k: None, personalization, long_tail }
    }

    #[test]
    fn without_model_the_server_order_is_kept() {
        let out = order(&list(&["a"; 5]), None, &RerankOptions::default());
        let ranks: Vec<usize> = out.iter().map(|r| r.server_rank).collect();
        assert_eq!(ranks, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_strong_model_score_moves_an_item_up_and_top_k_cuts() {
        let model = [0.0, 0.0, 0.0, 0.0, 10.0];
        let o = RerankOptions { top_k: Some(2), ..opts(0.7, 0.0) };
        let out = order(&list(&["a"; 5]), Some(&model), &o);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].id.as_str(), out[0].server_rank), ("p4", 5));
    }

    #[test]
    fn zero_personalization_is_the_server_order() {
        let out = order(&list(&["a"; 5]), Some(&[5.0, 4.0, 3.0, 2.0, 9.0]), &opts(0.0, 0.0));
        assert_eq!((out[0].id.as_str(), out[4].id.as_str()), ("p0", "p4"));
    }

    #[test]
    fn long_tail_spreads_categories_and_lifts_unpopular_items() {
        let l = list(&["drama", "drama / war", "drama", "comedy", "drama", "horror"]);
        let top3 = |lt: f32| -> Vec<String> {
            order(&l, None, &opts(0.9, lt)).into_iter().take(3).map(|r| r.id).collect()
        };
        assert_eq!(top3(0.0), vec!["p0", "p1", "p2"]);
        let diverse = top3(0.8);
        assert!(diverse.contains(&"p3".to_string()), "{diverse:?}");
        // Given popularity figures take precedence over the server order.
        let mut l2 = list(&["a"; 4]);
        for (i, c) in l2.iter_mut().enumerate() {
            c.popularity = Some([1000.0, 10.0, 500.0, 1.0][i]);
        }
        let out = order(&l2, None, &opts(0.9, 1.0));
        assert_eq!(out[0].id, "p1");
    }

    #[test]
    fn options_are_validated() {
        assert!(RerankOptions { top_k: Some(0), ..Default::default() }.validate().is_err());
        let err = opts(2.0, 0.0).validate().unwrap_err().to_string();
        assert!(err.contains("personalization"));
        assert!(opts(0.5, -0.1).validate().unwrap_err().to_string().contains("longTail"));
    }
}
