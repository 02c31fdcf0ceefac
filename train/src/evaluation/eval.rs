//! Evaluation of rerankers on the protocol of `protocol.rs`: candidate-list and full-ranking
//! metrics, catalogue coverage, long-tail share, intra-list diversity, and slices for cold
//! items and short sessions. Writes `models/evaluation.json` and `EVALUATION.md`.

use std::collections::HashSet;

use localrank::features::Item;
use localrank::rerank::{order, ListItem, RerankOptions};

use crate::data::dataset::Case;
use crate::data::movielens::{Data, Interaction};
use crate::data::protocol::{Arrivals, Request, Stats};
use crate::evaluation::intervals::mean_ci;
use crate::evaluation::metrics::{ndcg_gain, rank_of, Accumulator, Metrics};

/// A reranker under evaluation: scores for every catalogue item, for each request.
pub enum Scorer<'a> {
    /// The server's candidate order, unchanged.
    Server,
    Popularity,
    ItemKnn,
    /// A device-side baseline that reads the current session (V-SKNN): full-catalogue scores.
    Session(&'a (dyn Fn(&[Interaction]) -> Vec<f32> + Sync)),
    /// A model; `personalization`: its weight in the blend with the server order (1 = the model
    /// alone; `RerankOptions::default()` = as the library ships).
    /// `long_tail`: the rerank option of that name. `scores`: full-catalogue scores of cases
    /// (their history = the current session).
    Model { scores: &'a (dyn Fn(&[Case]) -> Vec<Vec<f32>> + Sync), personalization: f32, long_tail: f32 },
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
    pub model: String,
    /// Over the candidate list: ndcg@10, hr@10, mrr@10 and the number of cases.
    #[serde(flatten)]
    pub list: Metrics,
    /// 95% interval of the list NDCG@10, bootstrap over users (`intervals.rs`).
    #[serde(rename = "ndcg@10_ci")]
    pub ndcg10_ci: [f64; 2],
    /// Trained rows: how many seeds the figures average over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seeds: Option<usize>,
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
    /// The list NDCG@10 of each request, for paired differences.
    #[serde(skip)]
    pub gains: Vec<f64>,
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
    /// The user of each request: intervals resample users.
    pub users: Vec<u32>,
    /// The on-device adaptation the model's rows apply (`adapting`); none: the model alone.
    pub adapting: Option<Adapting<'a>>,
}

/// The on-device adaptation (`localrank::adapt`) as the browser applies it: each product's
/// category key (`ItemInputs::category`, the browser's `category_index`), the events it counts
/// (the newest `window`, the model's) and its weight.
#[derive(Clone, Copy, Debug)]
pub struct Adapting<'a> {
    pub category: &'a [i64],
    pub window: usize,
    pub weight: f32,
}

impl Adapting<'_> {
    /// The candidates' affinities after `session` (what `Ranker` sets on its `ListItem`s: the
    /// earlier-visit events among the newest `window`).
    pub fn affinities(&self, session: &[Interaction], cands: &[usize]) -> Vec<f32> {
        let read = &session[session.len().saturating_sub(self.window)..];
        let times: Vec<f64> = read.iter().map(|e| e.time as f64).collect();
        let history: Vec<i64> = read.iter().map(|e| self.category[e.item]).collect();
        let keys: Vec<i64> = cands.iter().map(|&j| self.category[j]).collect();
        localrank::adapt::affinities(&times, &history, &keys, self.weight)
    }
}

impl<'a> Bench<'a> {
    /// `repeats`: whether the server may send items the user already had (see `Stats::candidates`).
    pub fn new(data: &'a Data, stats: &'a Stats, requests: &'a [Request], repeats: bool) -> Self {
        // O(catalogue) per request: 100,000 products x 100,000 requests on the 1 M-event log.
        let candidates = crate::parallel::map_chunks(requests, 256, "server candidates", "requests", |rs| {
            rs.iter().map(|r| stats.candidates(&r.server_history, repeats)).collect::<Vec<_>>()
        })
        .concat();
        let mut by_pop: Vec<usize> = (0..data.products.len()).collect();
        by_pop.sort_by(|&a, &b| stats.popularity[b].total_cmp(&stats.popularity[a]));
        let mut tail = vec![true; by_pop.len()];
        for &i in by_pop.iter().take(by_pop.len() / 5) {
            tail[i] = false;
        }
        let cold = stats.popularity.iter().map(|&p| p == 0.0).collect();
        let users = requests.iter().map(|r| r.target.user).collect();
        Self { data, stats, requests, candidates, tail, cold, users, adapting: None }
    }

    /// The same bench with the model's rows adapted on the device (`Adapting`).
    pub fn adapting(mut self, adapting: Adapting<'a>) -> Self {
        self.adapting = Some(adapting);
        self
    }

    /// The same bench with the server's lists mixing in new arrivals (`Arrivals::mix_into`).
    pub fn mixing_new_arrivals(mut self, arrivals: &Arrivals) -> Self {
        self.candidates = self.requests.iter().zip(&self.candidates).map(|(r, c)| arrivals.mix_into(c, r)).collect();
        self
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
            Scorer::Session(scores) => chunk.iter().map(|r| scores(&r.session)).collect(),
            Scorer::Model { scores, .. } => {
                // The device reads the current session only.
                let cases: Vec<Case> =
                    chunk.iter().map(|r| Case { history: r.session.clone(), target: r.target }).collect();
                scores(&cases)
            }
        }
    }

    /// Order of the candidate list under `scorer` (the ranking a shopper would see).
    fn rerank_candidates(&self, scorer: &Scorer, adapting: Option<&Adapting>, request: &Request, cands: &[usize], scores: &[f32]) -> Vec<usize> {
        let mut list: Vec<ListItem> = cands
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
            Scorer::ItemKnn | Scorer::Session(_) => (!request.session.is_empty()).then_some(only(1.0)),
            Scorer::Model { personalization, long_tail, .. } => {
                let o = RerankOptions { long_tail: *long_tail, ..only(*personalization) };
                // As the library: an empty session keeps the server order (long-tail aside).
                if request.session.is_empty() {
                    return order(&list, None, &o).iter().map(|r| cands[r.server_rank - 1]).collect();
                }
                if let Some(a) = adapting {
                    for (item, x) in list.iter_mut().zip(a.affinities(&request.session, cands)) {
                        item.affinity = x;
                    }
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
        let mut acc = RowAcc::default();
        for (r, o) in self.requests.iter().zip(self.outcomes(&format!("eval: {name}"), std::slice::from_ref(scorer), &[self.adapting]).concat()) {
            acc.add(self, r, o);
        }
        acc.finish(name, self)
    }

    /// Rows of one model at several blends with the server order (`personalization`), its
    /// scores computed once: the validation sweep that chooses the shipped blend.
    pub fn blend_rows(&self, scores: &(dyn Fn(&[Case]) -> Vec<Vec<f32>> + Sync), blends: &[f32]) -> Vec<Row> {
        let scorers: Vec<Scorer> = blends.iter().map(|&p| Scorer::Model { scores, personalization: p, long_tail: 0.0 }).collect();
        let names: Vec<String> = blends.iter().map(|p| format!("personalization={p}")).collect();
        self.variant_rows("eval: blends", &scorers, &vec![self.adapting; blends.len()], &names)
    }

    /// Rows of one model at one blend, adapted on the device at each of `weights` (category keys
    /// and window of `adapting`), its scores computed once: the validation sweep that chooses the
    /// manifest's `adaptation`.
    pub fn adaptation_rows(&self, scores: &(dyn Fn(&[Case]) -> Vec<Vec<f32>> + Sync), personalization: f32, adapting: Adapting<'a>, weights: &[f32]) -> Vec<Row> {
        let scorers: Vec<Scorer> = weights.iter().map(|_| Scorer::Model { scores, personalization, long_tail: 0.0 }).collect();
        let adapted: Vec<Option<Adapting>> = weights.iter().map(|&weight| Some(Adapting { weight, ..adapting })).collect();
        let names: Vec<String> = weights.iter().map(|w| format!("adaptation={w}")).collect();
        self.variant_rows("eval: adaptation weights", &scorers, &adapted, &names)
    }

    /// One row per scorer (sharing the first one's scores), adapted as `adapting` says, named.
    fn variant_rows(&self, label: &str, scorers: &[Scorer], adapting: &[Option<Adapting>], names: &[String]) -> Vec<Row> {
        let mut accs: Vec<RowAcc> = scorers.iter().map(|_| RowAcc::default()).collect();
        let per_request = self.outcomes(label, scorers, adapting).into_iter().flat_map(|c| c.chunks(scorers.len()).map(<[Outcome]>::to_vec).collect::<Vec<_>>());
        for (r, os) in self.requests.iter().zip(per_request) {
            for (acc, o) in accs.iter_mut().zip(os) {
                acc.add(self, r, o);
            }
        }
        accs.into_iter().zip(names).map(|(acc, name)| acc.finish(name, self)).collect()
    }

    /// Each request's outcome under each of `scorers` (which share the first one's scores), each
    /// adapted as its entry in `adapting` says, request-major, one vector per chunk of 256
    /// requests, in order. Chunks are scored on every core (`parallel`); the rows then add them
    /// up in request order, so a row does not depend on the thread count.
    fn outcomes(&self, label: &str, scorers: &[Scorer], adapting: &[Option<Adapting>]) -> Vec<Vec<Outcome>> {
        let starts: Vec<usize> = (0..self.requests.len()).step_by(256).collect();
        crate::parallel::map_chunks(&starts, 1, label, "chunks of 256 requests", |start| {
            let start = start[0];
            let chunk = &self.requests[start..(start + 256).min(self.requests.len())];
            let scores = self.scores(&scorers[0], chunk, start);
            let mut out = Vec::with_capacity(chunk.len() * scorers.len());
            for (i, r) in chunk.iter().enumerate() {
                for (scorer, a) in scorers.iter().zip(adapting) {
                    let top = self.rerank_candidates(scorer, a.as_ref(), r, &self.candidates[start + i], &scores[i]);
                    out.push(self.outcome(r, &top, &scores[i]));
                }
            }
            out
        })
    }

    /// One request: `top` is the reranked candidate list, `scores` the full-catalogue scores.
    fn outcome(&self, r: &Request, top: &[usize], scores: &[f32]) -> Outcome {
        let top10 = top[..top.len().min(10)].to_vec();
        Outcome {
            rank: top.iter().position(|&j| j == r.target.item).unwrap_or(usize::MAX),
            full: rank_of(scores, r.target.item),
            diversity: self.intra_list_diversity(&top10),
            top10,
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

/// The mean of one model's rows over seeds: every figure averaged, the per-request gains averaged
/// (so the interval is over users of the seed-averaged model).
pub fn mean_row(name: &str, rows: Vec<Row>, users: &[u32]) -> Row {
    let n = rows.len() as f64;
    let avg = |f: &dyn Fn(&Row) -> f64| rows.iter().map(f).sum::<f64>() / n;
    let avg_opt = |f: &dyn Fn(&Row) -> Option<f64>| rows.iter().map(f).sum::<Option<f64>>().map(|v| v / n);
    let gains: Vec<f64> = (0..rows[0].gains.len()).map(|i| rows.iter().map(|r| r.gains[i]).sum::<f64>() / n).collect();
    let list = Metrics { ndcg10: avg(&|r| r.list.ndcg10), hr10: avg(&|r| r.list.hr10), mrr10: avg(&|r| r.list.mrr10), cases: rows[0].list.cases };
    Row {
        model: name.to_string(),
        list,
        ndcg10_ci: mean_ci(users, &gains),
        seeds: Some(rows.len()),
        full_ndcg10: avg(&|r| r.full_ndcg10),
        full_hr10: avg(&|r| r.full_hr10),
        loo_ndcg10: None,
        loo_hr10: None,
        coverage10: avg(&|r| r.coverage10),
        tail_share10: avg(&|r| r.tail_share10),
        diversity10: avg(&|r| r.diversity10),
        cold_ndcg10: avg_opt(&|r| r.cold_ndcg10),
        cold_full_ndcg10: avg_opt(&|r| r.cold_full_ndcg10),
        short_ndcg10: avg(&|r| r.short_ndcg10),
        gains,
    }
}

/// The per-request sums behind one row.
#[derive(Default)]
struct RowAcc {
    list: Accumulator,
    full: Accumulator,
    cold: Accumulator,
    cold_full: Accumulator,
    short: Accumulator,
    tail_slots: usize,
    slots: usize,
    diversity: f64,
    shown: HashSet<usize>,
    gains: Vec<f64>,
}

/// What one request adds to a row (`Bench::outcome`).
#[derive(Clone)]
struct Outcome {
    /// The target's rank in the reranked list (`usize::MAX`: not in it) and among all products.
    rank: usize,
    full: usize,
    top10: Vec<usize>,
    diversity: f64,
}

impl RowAcc {
    fn add(&mut self, bench: &Bench, r: &Request, o: Outcome) {
        self.list.add(o.rank);
        self.gains.push(ndcg_gain(o.rank));
        self.full.add(o.full);
        if bench.cold[r.target.item] {
            self.cold.add(o.rank);
            self.cold_full.add(o.full);
        }
        if (1..=2).contains(&r.session.len()) {
            self.short.add(o.rank);
        }
        self.shown.extend(o.top10.iter().copied());
        self.tail_slots += o.top10.iter().filter(|&&j| bench.tail[j]).count();
        self.slots += o.top10.len();
        self.diversity += o.diversity;
    }

    fn finish(self, name: &str, bench: &Bench) -> Row {
        let (list, full, cold, short, cold_full) =
            (self.list.finish(), self.full.finish(), self.cold.finish(), self.short.finish(), self.cold_full.finish());
        Row {
            model: name.to_string(),
            list,
            ndcg10_ci: mean_ci(&bench.users, &self.gains),
            seeds: None,
            full_ndcg10: full.ndcg10,
            full_hr10: full.hr10,
            loo_ndcg10: None,
            loo_hr10: None,
            coverage10: self.shown.len() as f64 / bench.data.products.len() as f64,
            tail_share10: self.tail_slots as f64 / self.slots.max(1) as f64,
            diversity10: self.diversity / bench.requests.len().max(1) as f64,
            cold_ndcg10: (cold.cases > 0).then_some(cold.ndcg10),
            cold_full_ndcg10: (cold_full.cases > 0).then_some(cold_full.ndcg10),
            short_ndcg10: short.ndcg10,
            gains: self.gains,
        }
    }
}

/// The markdown table of `rows`.
pub fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| model | NDCG@10 | 95% interval | HR@10 | MRR@10 | full NDCG@10 | full HR@10 | LOO NDCG@10 | LOO HR@10 | coverage@10 | tail share@10 | diversity@10 | cold NDCG@10 | cold full NDCG@10 | short-session NDCG@10 |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let opt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.4}"));
    for r in rows {
        s += &format!(
            "| {} | {:.4} | {:.4}–{:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {} | {} | {:.4} | {:.4} | {:.4} | {} | {} | {:.4} |\n",
            r.model, r.list.ndcg10, r.ndcg10_ci[0], r.ndcg10_ci[1], r.list.hr10, r.list.mrr10, r.full_ndcg10, r.full_hr10, opt(r.loo_ndcg10), opt(r.loo_hr10), r.coverage10,
            r.tail_share10, r.diversity10, opt(r.cold_ndcg10), opt(r.cold_full_ndcg10), r.short_ndcg10
        );
    }
    s
}
