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
pub const SESSION_GAP: i64 = 30 * 60;
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
        let mut scored: Vec<(usize, f32)> = (0..knn.len())
            .filter(|j| repeats || !had.contains_key(j))
            .map(|j| {
                let again = if repeats { had.get(&j).map_or(0.0, |c| 1.0 + c / max_had) } else { 0.0 };
                (j, 0.5 * self.popularity[j] / max_pop + 0.5 * knn[j] / max_knn + again)
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.into_iter().take(CANDIDATES).map(|(j, _)| j).collect()
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
