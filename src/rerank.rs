//! Model scores -> the final order: a blend of the on-device model with the server's order,
//! optionally traded for long-tail exposure and category diversity.
//!
//! The server's order carries what the server knows (stock, margin, relevance to the page); the
//! model carries what only the device knows (this session). Both are standardised over the
//! candidate list before blending so that `personalization` means the same for any list.

use foldhash::HashMap;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::explain::Reason;
use crate::features::{category_path, Item};
use crate::text::cap_text;

/// Candidates that the long-tail option diversifies: the first `MMR_WINDOW` of the debiased
/// order, from which maximal marginal relevance picks; the rest follow in that order, after
/// them. MMR compares every placed candidate with every one left, so its cost is quadratic in
/// the candidates it sees: over all of 5,000 candidates with 8-level categories, `longTail` 0.5,
/// `order` took 2.5 s for the whole list and 0.41 s for the top 500 (native, opt-level 1), and
/// 7.5 s for the top 20 with 200-level categories; with this window, `MAX_SEGMENTS` and segments
/// compared as integers, 2.6 ms, 2.0 ms and 1.0 ms. A shopper sees the head of the list, and a
/// candidate outside the window would need a debiased score within `longTail` of the window's
/// diversified picks to have been placed among them.
pub const MMR_WINDOW: usize = 256;

/// Category path segments that diversity compares, and bytes kept of each: real paths are a
/// few short segments (the demo catalogue: at most 6, of at most 11 bytes), and comparing two
/// paths costs the product of their lengths.
pub const MAX_SEGMENTS: usize = 8;
pub const MAX_SEGMENT_BYTES: usize = 64;

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
    /// Added to the candidate's standardised model score before the blend: the on-device
    /// adaptation (`adapt::affinities`), 0 without it.
    pub affinity: f32,
}

impl From<&Item> for ListItem {
    fn from(item: &Item) -> Self {
        Self { id: item.id.clone(), category: item.category.clone(), popularity: item.popularity, affinity: 0.0 }
    }
}

/// Category path segments, lower-cased ("Drama / Romance" -> ["drama", "romance"]): the first
/// `MAX_SEGMENTS` of the capped text, each cut to `MAX_SEGMENT_BYTES`.
fn segments(category: &str) -> impl Iterator<Item = String> + '_ {
    category_path(cap_text(category))
        .take(MAX_SEGMENTS)
        .map(|s| s[..s.floor_char_boundary(MAX_SEGMENT_BYTES)].trim_end().to_lowercase())
}

/// The segments of each category as small integers (equal strings, equal ids), so that
/// comparing two paths compares at most 8 x 8 integers.
fn segment_ids<'a>(categories: impl Iterator<Item = &'a str>) -> Vec<Vec<u32>> {
    let mut ids: HashMap<String, u32> = HashMap::default();
    categories
        .map(|c| {
            segments(c)
                .map(|s| {
                    let next = ids.len() as u32;
                    *ids.entry(s).or_insert(next)
                })
                .collect()
        })
        .collect()
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
fn overlap(a: &[u32], b: &[u32]) -> f32 {
    let inter = a.iter().filter(|c| b.contains(c)).count() as f32;
    let union = (a.len() + b.len()) as f32 - inter;
    if union == 0.0 { 0.0 } else { inter / union }
}

/// Orders `list` (in server order). Without model scores (empty session) the server order is
/// the base score; `long_tail` applies either way. Each candidate's `affinity` joins its
/// standardised model score (so it is weighed by `personalization` as the model is).
pub fn order(list: &[ListItem], model: Option<&[f32]>, options: &RerankOptions) -> Vec<Ranked> {
    let prior: Vec<f32> = (0..list.len()).map(server_prior).collect();
    let base = match model {
        None => standardise(&prior),
        Some(m) => {
            let w = options.personalization;
            let (zm, zs) = (standardise(m), standardise(&prior));
            zm.iter().zip(&zs).zip(list).map(|((a, b), c)| w * (a + c.affinity) + (1.0 - w) * b).collect()
        }
    };
    let lambda = options.long_tail;
    let ranked = if lambda > 0.0 {
        let pop = popularity(list, &prior);
        let debiased: Vec<f32> = base.iter().zip(&pop).map(|(s, p)| s - lambda * p).collect();
        diversify(list, &debiased, lambda, options.top_k.unwrap_or(list.len()))
    } else {
        by_score(&base)
    };
    ranked
        .into_iter()
        .take(options.top_k.unwrap_or(usize::MAX))
        .map(|(i, score)| Ranked { id: list[i].id.clone(), score, server_rank: i + 1, reasons: None })
        .collect()
}

/// Positions and scores, best first; ties keep the server's order (a stable sort).
fn by_score(scores: &[f32]) -> Vec<(usize, f32)> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    idx.into_iter().map(|i| (i, scores[i])).collect()
}

/// The best `k`: MMR's picks from the first `MMR_WINDOW` by score, then the others by score,
/// each with its score as given (they are not compared with the picks).
fn diversify(list: &[ListItem], scores: &[f32], lambda: f32, k: usize) -> Vec<(usize, f32)> {
    let sorted = by_score(scores);
    let (head, tail) = sorted.split_at(sorted.len().min(MMR_WINDOW));
    let head: Vec<usize> = head.iter().map(|&(i, _)| i).collect();
    let mut out = mmr(list, &head, scores, lambda, k);
    out.extend(tail.iter().take(k.saturating_sub(out.len())));
    out
}

/// Greedy maximal marginal relevance over the candidates `among`: each next item maximises its
/// score minus `lambda` times its largest category overlap with the items already chosen.
fn mmr(list: &[ListItem], among: &[usize], scores: &[f32], lambda: f32, k: usize) -> Vec<(usize, f32)> {
    let paths = segment_ids(among.iter().map(|&i| list[i].category.as_str()));
    // Positions in `among` not placed yet, and their largest overlap with those placed.
    let mut left: Vec<usize> = (0..among.len()).collect();
    let mut penalty = vec![0.0f32; among.len()];
    let mut out = Vec::with_capacity(k.min(among.len()));
    while out.len() < k {
        let gain = |p: usize| scores[among[p]] - lambda * penalty[p];
        // Ties go to the earlier server position.
        let Some((pos, best)) = left
            .iter()
            .copied()
            .enumerate()
            .max_by(|&(_, a), &(_, b)| gain(a).total_cmp(&gain(b)).then(among[b].cmp(&among[a])))
        else {
            break;
        };
        left.remove(pos);
        out.push((among[best], gain(best)));
        for &p in &left {
            penalty[p] = penalty[p].max(overlap(&paths[p], &paths[best]));
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

    /// The affinity is in units of the list's standardised model scores, inside the blend: it
    /// moves a candidate exactly as that much more model score would, and not at all without
    /// model scores (a visit with nothing to score keeps the server order).
    #[test]
    fn affinity_adds_to_the_standardised_model_score() {
        let model = [1.0, 0.0, -1.0, 0.0];
        let mut l = list(&["a"; 4]);
        let score = |l: &[ListItem], m: Option<&[f32]>| -> Vec<(usize, f32)> {
            order(l, m, &opts(1.0, 0.0)).iter().map(|r| (r.server_rank, r.score)).collect()
        };
        let before = score(&l, Some(&model));
        l[3].affinity = 2.0;
        let after = score(&l, Some(&model));
        assert_eq!(after[0].0, 4, "{after:?}");
        let moved = after[0].1 - before.iter().find(|r| r.0 == 4).unwrap().1;
        assert!((moved - 2.0).abs() < 1e-5, "{moved}");
        assert_eq!(score(&l, None), score(&list(&["a"; 4]), None));
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
    fn category_segments_are_capped_in_number_and_length() {
        let many = vec!["Segment"; 100_000].join(" / ");
        assert_eq!(segments(&many).collect::<Vec<_>>(), vec!["segment"; MAX_SEGMENTS]);
        let long = vec!["Segment ".repeat(40); 1_000].join(" / ");
        let segs: Vec<String> = segments(&long).collect();
        // The category is read up to `MAX_TEXT_BYTES`: three whole 320-byte segments and a part.
        assert_eq!(segs.len(), 4);
        assert!(segs.iter().all(|s| s.len() <= MAX_SEGMENT_BYTES && s.starts_with("segment")), "{segs:?}");
        let segs: Vec<String> = segments("Drama / Ça > Romance").collect();
        assert_eq!(segs, ["drama", "ça", "romance"]);
        assert_eq!(segment_ids(["a / b", "B > c", "c"].into_iter()), vec![vec![0, 1], vec![1, 2], vec![2]]);
    }

    /// Diversity reorders only the first `MMR_WINDOW` by score: the candidates after them keep
    /// their order, where MMR over all of them would lift the first one of another category.
    #[test]
    fn diversity_reorders_only_the_window() {
        let n = MMR_WINDOW + 50;
        let mut cats: Vec<&str> = (0..n).map(|i| if i < MMR_WINDOW { "shoes / red" } else { "hats" }).collect();
        // Close scores and one far below them: every hat is within `longTail` of the shoes.
        let model: Vec<f32> = (0..n).map(|i| if i + 1 < n { -(i as f32) * 1e-3 } else { -1e3 }).collect();
        let ranks = |cats: &[&str], top_k| {
            let mut l = list(cats);
            l.iter_mut().for_each(|c| c.popularity = Some(1.0)); // equal: no popularity debiasing
            let o = RerankOptions { top_k, ..opts(1.0, 0.5) };
            order(&l, Some(&model), &o).iter().map(|r| r.server_rank).collect::<Vec<_>>()
        };
        assert_eq!(ranks(&cats, None), (1..=n).collect::<Vec<_>>());
        let everything: Vec<usize> = (0..n).collect();
        let unbounded = mmr(&list(&cats), &everything, &standardise(&model), 0.5, 2);
        assert_eq!(unbounded[1].0, MMR_WINDOW, "the check would prove nothing");
        // Within the window it diversifies: a hat at server rank 3 comes second.
        cats[2] = "hats";
        let out = ranks(&cats, Some(MMR_WINDOW + 10));
        assert_eq!(out.len(), MMR_WINDOW + 10);
        assert_eq!(&out[..3], &[1, 3, 2]);
        assert_eq!(out[MMR_WINDOW], MMR_WINDOW + 1);
    }

    #[test]
    fn options_are_validated() {
        assert!(RerankOptions { top_k: Some(0), ..Default::default() }.validate().is_err());
        let err = opts(2.0, 0.0).validate().unwrap_err().to_string();
        assert!(err.contains("personalization"));
        assert!(opts(0.5, -0.1).validate().unwrap_err().to_string().contains("longTail"));
    }
}
