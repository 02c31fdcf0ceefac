//! Evaluation of rerankers on the protocol of `protocol.rs`: candidate-list and full-ranking
//! metrics, catalogue coverage, long-tail share, intra-list diversity, and slices for cold
//! items and short sessions. Writes `models/evaluation.json` and `EVALUATION.md`.

use std::collections::HashSet;

use localrank::features::Item;
use localrank::rerank::{order, ListItem, RerankOptions};

use crate::dataset::Case;
use crate::metrics::{rank_of, Accumulator, Metrics};
use crate::movielens::Data;
use crate::protocol::{Request, Stats};

/// A reranker under evaluation: scores for every catalogue item, for each request.
pub enum Scorer<'a> {
    /// The server's candidate order, unchanged.
    Server,
    Popularity,
    ItemKnn,
    /// A model; `personalization`: its weight in the blend with the server order (1 = the model
    /// alone; `RerankOptions::default()` = as the library ships).
    /// `long_tail`: the rerank option of that name. `scores`: full-catalogue scores of cases
    /// (their history = the current session).
    Model { scores: &'a dyn Fn(&[Case]) -> Vec<Vec<f32>>, personalization: f32, long_tail: f32 },
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
    pub model: String,
    /// Over the candidate list: ndcg@10, hr@10, mrr@10 and the number of cases.
    #[serde(flatten)]
    pub list: Metrics,
    #[serde(rename = "full_ndcg@10")]
    pub full_ndcg10: f64,
    #[serde(rename = "full_hr@10")]
    pub full_hr10: f64,
    #[serde(rename = "loo_ndcg@10")]
    pub loo_ndcg10: Option<f64>,
    #[serde(rename = "loo_hr@10")]
    pub loo_hr10: Option<f64>,
    #[serde(rename = "coverage@10")]
    pub coverage10: f64,
    #[serde(rename = "tail_share@10")]
    pub tail_share10: f64,
    #[serde(rename = "diversity@10")]
    pub diversity10: f64,
    #[serde(rename = "cold_ndcg@10")]
    pub cold_ndcg10: Option<f64>,
    /// Cold targets ranked among all products (the candidate generator never sends them).
    #[serde(rename = "cold_full_ndcg@10")]
    pub cold_full_ndcg10: Option<f64>,
    #[serde(rename = "short_session_ndcg@10")]
    pub short_ndcg10: f64,
}

/// What every row is measured against.
pub struct Bench<'a> {
    pub data: &'a Data,
    pub stats: &'a Stats,
    pub requests: &'a [Request],
    pub candidates: Vec<Vec<usize>>,
    /// Items in the most popular 20% (by training popularity) are the head; the rest is tail.
    pub tail: Vec<bool>,
    /// Items with no event before the test period.
    pub cold: Vec<bool>,
}

impl<'a> Bench<'a> {
    /// `repeats`: whether the server may send items the user already had (see `Stats::candidates`).
    pub fn new(data: &'a Data, stats: &'a Stats, requests: &'a [Request], repeats: bool) -> Self {
        let candidates = requests.iter().map(|r| stats.candidates(&r.server_history, repeats)).collect();
        let mut by_pop: Vec<usize> = (0..data.products.len()).collect();
        by_pop.sort_by(|&a, &b| stats.popularity[b].total_cmp(&stats.popularity[a]));
        let mut tail = vec![true; by_pop.len()];
        for &i in by_pop.iter().take(by_pop.len() / 5) {
            tail[i] = false;
        }
        let cold = stats.popularity.iter().map(|&p| p == 0.0).collect();
        Self { data, stats, requests, candidates, tail, cold }
    }

    /// Share of requests whose target is among the server's candidates.
    pub fn recall(&self) -> f64 {
        let hits = self
            .requests
            .iter()
            .zip(&self.candidates)
            .filter(|(r, c)| c.contains(&r.target.item))
            .count();
        hits as f64 / self.requests.len().max(1) as f64
    }

    /// Full-catalogue scores of `scorer` for a chunk of requests.
    fn scores(&self, scorer: &Scorer, chunk: &[Request], offset: usize) -> Vec<Vec<f32>> {
        match scorer {
            Scorer::Server => (0..chunk.len())
                .map(|i| self.stats.server_ranking(&self.candidates[offset + i]))
                .collect(),
            Scorer::Popularity => vec![self.stats.popularity.clone(); chunk.len()],
            Scorer::ItemKnn => chunk.iter().map(|r| self.stats.knn_ranking(&r.session)).collect(),
            Scorer::Model { scores, .. } => {
                // The device reads the current session only.
                let cases: Vec<Case> =
                    chunk.iter().map(|r| Case { history: r.session.clone(), target: r.target }).collect();
                scores(&cases)
            }
        }
    }

    /// Order of the candidate list under `scorer` (the ranking a shopper would see).
    fn rerank_candidates(&self, scorer: &Scorer, request: &Request, cands: &[usize], scores: &[f32]) -> Vec<usize> {
        let list: Vec<ListItem> = cands
            .iter()
            .map(|&j| {
                let p = &self.data.products[j];
                let item = Item { id: j.to_string(), title: p.title.clone(), category: p.category(), popularity: Some(self.stats.popularity[j]) };
                ListItem::from(&item)
            })
            .collect();
        let sub: Vec<f32> = cands.iter().map(|&j| scores[j]).collect();
        let only = |p| RerankOptions { top_k: None, personalization: p, long_tail: 0.0, ..Default::default() };
        let personal = match scorer {
            Scorer::Server => None,
            Scorer::Popularity => Some(only(1.0)),
            Scorer::ItemKnn => (!request.session.is_empty()).then_some(only(1.0)),
            Scorer::Model { personalization, long_tail, .. } => {
                let o = RerankOptions { long_tail: *long_tail, ..only(*personalization) };
                // As the library: an empty session keeps the server order (long-tail aside).
                if request.session.is_empty() {
                    return order(&list, None, &o).iter().map(|r| cands[r.server_rank - 1]).collect();
                }
                Some(o)
            }
        };
        match personal {
            None => cands.to_vec(),
            Some(opts) => order(&list, Some(&sub), &opts).iter().map(|r| cands[r.server_rank - 1]).collect(),
        }
    }

    pub fn row(&self, name: &str, scorer: &Scorer) -> Row {
        let mut list = Accumulator::default();
        let (mut full, mut cold, mut short) = (Accumulator::default(), Accumulator::default(), Accumulator::default());
        let mut cold_full = Accumulator::default();
        let (mut tail_slots, mut slots, mut diversity) = (0usize, 0usize, 0.0);
        let mut shown = HashSet::new();
        let acc_of = |acc: &mut Accumulator, rank: usize| acc.add(rank);
        for (c, chunk) in self.requests.chunks(256).enumerate() {
            let scores = self.scores(scorer, chunk, c * 256);
            for (i, r) in chunk.iter().enumerate() {
                let cands = &self.candidates[c * 256 + i];
                let top = self.rerank_candidates(scorer, r, cands, &scores[i]);
                let rank = top.iter().position(|&j| j == r.target.item).unwrap_or(usize::MAX);
                acc_of(&mut list, rank);
                acc_of(&mut full, rank_of(&scores[i], r.target.item));
                if self.cold[r.target.item] {
                    acc_of(&mut cold, rank);
                    acc_of(&mut cold_full, rank_of(&scores[i], r.target.item));
                }
                if (1..=2).contains(&r.session.len()) {
                    acc_of(&mut short, rank);
                }
                let top10 = &top[..top.len().min(10)];
                shown.extend(top10.iter().copied());
                tail_slots += top10.iter().filter(|&&j| self.tail[j]).count();
                slots += top10.len();
                diversity += self.intra_list_diversity(top10);
            }
        }
        let (list, full, cold, short) = (list.finish(), full.finish(), cold.finish(), short.finish());
        let cold_full = cold_full.finish();
        Row {
            model: name.to_string(),
            list,
            full_ndcg10: full.ndcg10,
            full_hr10: full.hr10,
            loo_ndcg10: None,
            loo_hr10: None,
            coverage10: shown.len() as f64 / self.data.products.len() as f64,
            tail_share10: tail_slots as f64 / slots.max(1) as f64,
            diversity10: diversity / self.requests.len().max(1) as f64,
            cold_ndcg10: (cold.cases > 0).then_some(cold.ndcg10),
            cold_full_ndcg10: (cold_full.cases > 0).then_some(cold_full.ndcg10),
            short_ndcg10: short.ndcg10,
        }
    }

    /// Mean pairwise (1 - Jaccard similarity of genres) over a list.
    fn intra_list_diversity(&self, list: &[usize]) -> f64 {
        let genres = |j: usize| -> HashSet<&str> {
            self.data.products[j].genres.iter().map(String::as_str).collect()
        };
        let sets: Vec<HashSet<&str>> = list.iter().map(|&j| genres(j)).collect();
        let (mut sum, mut pairs) = (0.0, 0);
        for a in 0..sets.len() {
            for b in a + 1..sets.len() {
                let inter = sets[a].intersection(&sets[b]).count() as f64;
                let union = sets[a].union(&sets[b]).count().max(1) as f64;
                sum += 1.0 - inter / union;
                pairs += 1;
            }
        }
        if pairs == 0 { 0.0 } else { sum / pairs as f64 }
    }
}

/// The markdown table of `rows`.
pub fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| model | NDCG@10 | HR@10 | MRR@10 | full NDCG@10 | full HR@10 | LOO NDCG@10 | LOO HR@10 | coverage@10 | tail share@10 | diversity@10 | cold NDCG@10 | cold full NDCG@10 | short-session NDCG@10 |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let opt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.4}"));
    for r in rows {
        s += &format!(
            "| {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {} | {} | {:.4} | {:.4} | {:.4} | {} | {} | {:.4} |\n",
            r.model, r.list.ndcg10, r.list.hr10, r.list.mrr10, r.full_ndcg10, r.full_hr10, opt(r.loo_ndcg10), opt(r.loo_hr10), r.coverage10,
            r.tail_share10, r.diversity10, opt(r.cold_ndcg10), opt(r.cold_full_ndcg10), r.short_ndcg10
        );
    }
    s
}
