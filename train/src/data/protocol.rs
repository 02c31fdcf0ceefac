//! The evaluation protocol (docs/evaluation.md): sessions, what the server knows, and the
//! server's candidate lists.
//!
//! * A session ends after 30 minutes without an event.
//! * For a test event, the *server* knows the user's events before the current session only;
//!   its candidate generator (popularity blended with item co-occurrence) returns 100 items.
//! * The *device* also knows the current session's earlier events: the reranker reads those.
//! * Every statistic (popularity, co-occurrence) is fitted on events before the test period.

use std::collections::HashMap;

use crate::data::movielens::Interaction;

/// Inactivity that ends a session, in seconds.
pub const SESSION_GAP: i64 = localrank::adapt::VISIT_GAP_SECONDS;
/// Candidates the server sends per request.
pub const CANDIDATES: usize = 100;
/// History items the candidate generator expands by co-occurrence.
const EXPAND_FROM: usize = 20;
/// Events either side of an event that count as co-occurring with it.
const COOC_WINDOW: usize = 5;

/// One test request.
#[derive(Clone)]
pub struct Request {
    /// What the server knows: events before the current session (oldest first).
    pub server_history: Vec<Interaction>,
    /// What only the device knows: earlier events of the current session (oldest first).
    pub session: Vec<Interaction>,
    pub target: Interaction,
}

/// Index of the first event of the session that contains `seq[i]`.
pub fn session_start(seq: &[Interaction], i: usize) -> usize {
    let mut s = i;
    while s > 0 && seq[s].time - seq[s - 1].time <= SESSION_GAP {
        s -= 1;
    }
    s
}

/// Requests for the events of `users` at or after `from`.
pub fn requests(users: &[Vec<Interaction>], from: i64) -> Vec<Request> {
    requests_between(users, from, i64::MAX)
}

/// Most requests an evaluation scores: above it, the requests of a seeded sample of users (all of
/// each sampled user's, so the bootstrap over users stays one). Every request costs a
/// full-catalogue score vector per model row: at 100,000 products the rows scored about 370
/// requests/s, and the 100,000 test requests of the 1 M-event SYNTHETIC log would have taken
/// over an hour per run of the tables. MovieLens (10,000 test requests) and the Instacart
/// sample (15,000) are below it and evaluated whole.
pub const MAX_REQUESTS: usize = 20_000;

/// `requests` if there are at most `max`, else those of users drawn in a seeded order until
/// `max` requests are reached, in their original order.
pub fn sample_users(requests: Vec<Request>, max: usize) -> Vec<Request> {
    if requests.len() <= max {
        return requests;
    }
    let mut per_user: HashMap<u32, usize> = HashMap::new();
    for r in &requests {
        *per_user.entry(r.target.user).or_insert(0) += 1;
    }
    let mut users: Vec<u32> = per_user.keys().copied().collect();
    users.sort_unstable();
    let mut state = 0x5eed_u64;
    for i in (1..users.len()).rev() {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        users.swap(i, ((state >> 33) % (i as u64 + 1)) as usize);
    }
    let (mut kept, mut n) = (std::collections::HashSet::new(), 0);
    for u in users {
        if n >= max {
            break;
        }
        n += per_user[&u];
        kept.insert(u);
    }
    requests.into_iter().filter(|r| kept.contains(&r.target.user)).collect()
}

/// Requests for the events of `users` in `[from, until)` (the validation period's: every event
/// they read is before `until`).
pub fn requests_between(users: &[Vec<Interaction>], from: i64, until: i64) -> Vec<Request> {
    let mut out = Vec::new();
    for seq in users {
        for (i, e) in seq.iter().enumerate().filter(|(_, e)| e.time >= from && e.time < until) {
            let start = session_start(seq, i);
            out.push(Request {
                server_history: seq[..start].to_vec(),
                session: seq[start..i].to_vec(),
                target: *e,
            });
        }
    }
    out
}

/// Item statistics fitted on the events before `until`: popularity and symmetric
/// co-occurrence within a window of each user's sequence.
pub struct Stats {
    pub popularity: Vec<f32>,
    cooc: Vec<HashMap<usize, f32>>,
}

impl Stats {
    pub fn fit(users: &[Vec<Interaction>], items: usize, until: i64) -> Self {
        let mut popularity = vec![0.0; items];
        let mut cooc = vec![HashMap::new(); items];
        for seq in users {
            let seq: Vec<usize> = seq.iter().filter(|e| e.time < until).map(|e| e.item).collect();
            for (i, &a) in seq.iter().enumerate() {
                popularity[a] += 1.0;
                for &b in seq.iter().skip(i + 1).take(COOC_WINDOW) {
                    *cooc[a].entry(b).or_insert(0.0) += 1.0;
                    *cooc[b].entry(a).or_insert(0.0) += 1.0;
                }
            }
        }
        Self { popularity, cooc }
    }

    /// Item-KNN score of every item given `history` (cosine-normalised co-occurrence).
    pub fn knn_scores(&self, history: &[Interaction]) -> Vec<f32> {
        let mut scores = vec![0.0; self.popularity.len()];
        for h in history.iter().rev().take(EXPAND_FROM) {
            for (&j, &c) in &self.cooc[h.item] {
                let norm = (self.popularity[h.item] * self.popularity[j]).sqrt().max(1.0);
                scores[j] += c / norm;
            }
        }
        scores
    }

    /// Item-KNN over the whole catalogue, ties broken by popularity.
    pub fn knn_ranking(&self, history: &[Interaction]) -> Vec<f32> {
        let knn = self.knn_scores(history);
        knn.iter().zip(&self.popularity).map(|(k, p)| k + p * 1e-6).collect()
    }

    /// The server's order over the whole catalogue: its candidates first, in their order, then
    /// the rest by popularity.
    pub fn server_ranking(&self, candidates: &[usize]) -> Vec<f32> {
        let mut s: Vec<f32> = self.popularity.iter().map(|p| p / 1e6).collect();
        for (rank, &j) in candidates.iter().enumerate() {
            s[j] = 1e3 - rank as f32;
        }
        s
    }

    /// The server's 100 candidates: popularity blended with co-occurrence from what the server
    /// knows. Items the user already had are excluded (films are watched once) unless
    /// `repeats` (groceries are bought again), in which case they are boosted by how often.
    pub fn candidates(&self, server_history: &[Interaction], repeats: bool) -> Vec<usize> {
        let knn = self.knn_scores(server_history);
        let max_pop = self.popularity.iter().cloned().fold(1.0, f32::max);
        let max_knn = knn.iter().cloned().fold(1e-6, f32::max);
        let mut had: HashMap<usize, f32> = HashMap::new();
        for e in server_history {
            *had.entry(e.item).or_insert(0.0) += 1.0;
        }
        let max_had = had.values().cloned().fold(1.0, f32::max);
        let mut scored: Vec<(usize, f32)> =
            knn.iter().zip(&self.popularity).enumerate().map(|(j, (k, p))| (j, 0.5 * p / max_pop + 0.5 * k / max_knn)).collect();
        // The user's items: boosted, or last (every other score is finite) and then dropped. A
        // hash lookup for every product took most of this function's time at 100,000 products.
        for (&j, c) in &had {
            scored[j].1 = if repeats { scored[j].1 + (1.0 + c / max_had) } else { f32::NEG_INFINITY };
        }
        let mut best = top(&mut scored, CANDIDATES);
        best.retain(|j| repeats || !had.contains_key(j));
        best
    }
}

/// The ids of the `k` best (id, score) pairs, best first, ties to the smaller id: the first `k`
/// of a full sort by that total order, in O(n) rather than O(n log n), and in a list of its own.
/// `scored.into_iter().take(k).collect()` reused the whole scored buffer (Vec's in-place collect
/// keeps the source allocation): 1.6 MB behind every 100-item list at 100,000 products, and the
/// evaluation of the 1 M-event SYNTHETIC log grew by 170 MB/s until the kernel killed it at 24 GB.
fn top(scored: &mut [(usize, f32)], k: usize) -> Vec<usize> {
    let order = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    let k = k.min(scored.len());
    if k < scored.len() {
        scored.select_nth_unstable_by(k, order);
    }
    let best = &mut scored[..k];
    best.sort_by(order);
    best.iter().map(|&(j, _)| j).collect()
}

/// New products in the server's lists: of every 10 candidate slots, the 10th is a "new arrival"
/// (the `CANDIDATES / NEW_ARRIVAL_EVERY` newest arrivals fill ranks 10, 20, .. 100), as a
/// storefront mixes new products into its lists by its own rule; the other slots are the usual
/// candidates in their order.
pub const NEW_ARRIVAL_EVERY: usize = 10;

/// Products without any event before the test period (no model or statistic has seen them), and
/// when each was first seen in the log: the server's own record of its arrivals.
pub struct Arrivals {
    /// New products by first-seen time, oldest first.
    by_time: Vec<(i64, usize)>,
    pub new: Vec<bool>,
}

impl Arrivals {
    pub fn new(users: &[Vec<Interaction>], items: usize, test_from: i64) -> Self {
        let mut first = vec![i64::MAX; items];
        for e in users.iter().flatten() {
            first[e.item] = first[e.item].min(e.time);
        }
        let new: Vec<bool> = first.iter().map(|&t| t >= test_from).collect();
        let mut by_time: Vec<(i64, usize)> = (0..items).filter(|&i| new[i] && first[i] < i64::MAX).map(|i| (first[i], i)).collect();
        by_time.sort_unstable();
        Self { by_time, new }
    }

    /// The `n` newest arrivals first seen strictly before `t` (the server's rule: newest first).
    /// Strictly: a product whose first event is the request's own target is not yet an arrival,
    /// or the rule would point at the answer.
    pub fn newest(&self, t: i64, n: usize) -> Vec<usize> {
        let end = self.by_time.partition_point(|&(first, _)| first < t);
        self.by_time[..end].iter().rev().take(n).map(|&(_, i)| i).collect()
    }

    /// Whether `target` is a new product the server could list at its request's time.
    pub fn reachable(&self, r: &Request) -> bool {
        self.new[r.target.item] && self.by_time.iter().any(|&(first, i)| i == r.target.item && first < r.target.time)
    }

    /// `candidates` with every `NEW_ARRIVAL_EVERY`-th slot given to the newest arrivals at the
    /// request's time (fewer arrivals: fewer slots), the rest in their order, the same length.
    pub fn mix_into(&self, candidates: &[usize], r: &Request) -> Vec<usize> {
        let arrivals = self.newest(r.target.time, candidates.len() / NEW_ARRIVAL_EVERY);
        let mut rest = candidates.iter().copied().filter(|c| !arrivals.contains(c));
        let mut next_arrival = arrivals.iter().copied();
        (1..=candidates.len())
            .filter_map(|slot| if slot % NEW_ARRIVAL_EVERY == 0 { next_arrival.next().or_else(|| rest.next()) } else { rest.next() })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(item: usize, time: i64) -> Interaction {
        Interaction::new(0, item, time)
    }

    #[test]
    fn sessions_split_on_thirty_minutes_of_inactivity() {
        // Synthetic times, for the rule only.
        let seq = [ev(0, 0), ev(1, 600), ev(2, 600 + SESSION_GAP + 1), ev(3, 4000)];
        assert_eq!(session_start(&seq, 1), 0);
        assert_eq!(session_start(&seq, 2), 2);
        assert_eq!(session_start(&seq, 3), 2);
    }

    #[test]
    fn requests_never_see_the_target_or_later_events() {
        let users = vec![vec![ev(0, 0), ev(1, 60), ev(2, 10_000), ev(3, 10_060)]];
        let r = requests(&users, 10_000);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].server_history.len(), 2);
        assert_eq!(r[1].session.iter().map(|e| e.item).collect::<Vec<_>>(), vec![2]);
        assert!(r.iter().all(|q| q.session.iter().chain(&q.server_history).all(|e| e.time < q.target.time)));
    }

    #[test]
    fn new_arrivals_take_every_tenth_slot_never_the_answer_before_it_exists() {
        // Items 0..100 are known before the test period (t = 1000); 100..105 arrive after it.
        let old: Vec<Interaction> = (0..100).map(|i| ev(i, 10)).collect();
        let new: Vec<Interaction> = (100..105).map(|i| ev(i, 1000 + i as i64)).collect();
        let arrivals = Arrivals::new(&[old, new], 105, 1000);
        assert!(arrivals.new[100] && !arrivals.new[99]);
        let target = |item, time| Request { server_history: vec![], session: vec![], target: ev(item, time) };
        let candidates: Vec<usize> = (0..100).collect();
        let mixed = arrivals.mix_into(&candidates, &target(104, 1104));
        assert_eq!(mixed.len(), 100);
        assert_eq!((mixed[9], mixed[19], mixed[39], mixed[49]), (103, 102, 100, 45), "newest first; once arrivals run out, regular candidates in order");
        assert_eq!(&mixed[..9], &candidates[..9]);
        assert!(!mixed.contains(&104), "104's first event is this request: not yet an arrival");
        assert!(!arrivals.reachable(&target(104, 1104)) && arrivals.reachable(&target(101, 1200)));
    }

    #[test]
    fn a_large_evaluation_keeps_whole_users_up_to_the_cap() {
        let users: Vec<Vec<Interaction>> = (0..100u32).map(|u| (0..(u as i64 % 7 + 1)).map(|t| Interaction { user: u, ..ev(1, 10_000 + t * 10_000) }).collect()).collect();
        let all = requests(&users, 10_000);
        assert_eq!(sample_users(all.clone(), all.len()).len(), all.len(), "at the cap: all of them");
        let some = sample_users(all.clone(), 100);
        let kept: std::collections::HashSet<u32> = some.iter().map(|r| r.target.user).collect();
        let whole = |u: u32| all.iter().filter(|r| r.target.user == u).count();
        assert!(some.len() >= 100 && some.len() < 107, "{} requests", some.len());
        assert!(kept.iter().all(|&u| some.iter().filter(|r| r.target.user == u).count() == whole(u)), "whole users only");
        assert!(kept.len() > 5 && kept.iter().any(|&u| u > 50), "a spread of users, not the first ones: {kept:?}");
        assert_eq!(some.iter().map(|r| r.target.user).collect::<Vec<_>>(), sample_users(all, 100).iter().map(|r| r.target.user).collect::<Vec<_>>(), "seeded");
    }

    #[test]
    fn the_top_k_is_a_full_sort_cut_to_k_and_holds_k_ids_only() {
        let mut state = 7u64;
        let scored: Vec<(usize, f32)> = (0..5000)
            .map(|j| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (j, ((state >> 40) % 300) as f32) // many ties: the id must break them
            })
            .collect();
        let mut sorted = scored.clone();
        sorted.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let want: Vec<usize> = sorted.iter().take(100).map(|&(j, _)| j).collect();
        let got = top(&mut scored.clone(), 100);
        assert_eq!(got, want);
        assert!(got.capacity() <= 100, "a 100-id list holds {} slots", got.capacity());
        assert_eq!(top(&mut scored[..50].to_vec(), 100).len(), 50, "fewer than k: all of them");
    }

    #[test]
    fn candidates_exclude_known_items_and_follow_cooccurrence() {
        let users = vec![
            vec![ev(0, 0), ev(1, 1), ev(2, 2)],
            vec![ev(0, 0), ev(1, 1)],
            vec![ev(3, 0), ev(4, 1)],
        ];
        let stats = Stats::fit(&users, 5, 100);
        let c = stats.candidates(&[ev(0, 5)], false);
        assert!(!c.contains(&0));
        assert_eq!(c[0], 1);
        assert_eq!(stats.candidates(&[ev(0, 5)], true)[0], 0, "repeat purchases come first");
    }
}
