//! V-SKNN, the session-based nearest-neighbour baseline of Ludewig & Jannach ("Evaluation of
//! session-based recommendation algorithms", 2018), which matched or beat GRU4Rec and NARM in
//! their comparison. Past sessions that share items with the current one are its neighbours:
//! a neighbour's similarity is the sum of the current session's position weights of the items
//! it shares (linear decay: the newest event weighs 1, the oldest 1/n); the `neighbours` most
//! similar of the `sample` most recent candidate sessions vote for their items with their
//! similarity. Reads the current session only, as the device does.

use crate::data::movielens::Interaction;
use crate::data::protocol::SESSION_GAP;

/// The two settings, chosen on validation (`GRID`).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Params {
    pub neighbours: usize,
    pub sample: usize,
}

/// What `tune` searches: the values Ludewig & Jannach's session-rec framework searches for
/// V-SKNN (k 50..500 neighbours, 500..5000 sampled sessions), 12 settings.
pub const GRID: [Params; 12] = {
    let (k, m) = ([50, 100, 200, 500], [500, 1000, 5000]);
    let mut out = [Params { neighbours: 0, sample: 0 }; 12];
    let mut i = 0;
    while i < 12 {
        out[i] = Params { neighbours: k[i / 3], sample: m[i % 3] };
        i += 1;
    }
    out
};

/// Past sessions (distinct items, newest session last) and, per item, the sessions holding it.
pub struct Sknn {
    sessions: Vec<Vec<usize>>,
    postings: Vec<Vec<u32>>,
    /// Training popularity: breaks ties among unscored items as item-KNN does.
    popularity: Vec<f32>,
}

impl Sknn {
    /// Sessions (30 minutes of inactivity end one) of the events before `until`.
    pub fn fit(users: &[Vec<Interaction>], items: usize, until: i64) -> Self {
        let mut timed: Vec<(i64, Vec<usize>)> = Vec::new();
        for seq in users {
            let seq: Vec<&Interaction> = seq.iter().filter(|e| e.time < until).collect();
            let mut start = 0;
            for i in 1..=seq.len() {
                if i == seq.len() || seq[i].time - seq[i - 1].time > SESSION_GAP {
                    let mut its: Vec<usize> = seq[start..i].iter().map(|e| e.item).collect();
                    its.sort_unstable();
                    its.dedup();
                    timed.push((seq[i - 1].time, its));
                    start = i;
                }
            }
        }
        timed.sort_by_key(|(t, _)| *t);
        let mut postings = vec![Vec::new(); items];
        let mut popularity = vec![0.0; items];
        for (s, (_, its)) in timed.iter().enumerate() {
            for &i in its {
                postings[i].push(s as u32);
                popularity[i] += 1.0;
            }
        }
        Self { sessions: timed.into_iter().map(|(_, its)| its).collect(), postings, popularity }
    }

    /// Scores of every item for the current `session` (oldest first).
    pub fn scores(&self, session: &[Interaction], p: Params) -> Vec<f32> {
        let mut scores: Vec<f32> = self.popularity.iter().map(|c| c * 1e-6).collect();
        if session.is_empty() {
            return scores;
        }
        let n = session.len() as f32;
        // Position weights in a dense array (0 = not in the session): the similarity sums below
        // read it once per item of every candidate session. With a HashMap those lookups were
        // a fifth of a whole `all --epochs 1` run's CPU time (perf, 2026-12-07).
        let mut weight = vec![0.0f32; scores.len()];
        let mut distinct: Vec<usize> = Vec::new();
        for (pos, e) in session.iter().enumerate() {
            if weight[e.item] == 0.0 {
                distinct.push(e.item);
            }
            weight[e.item] = weight[e.item].max((pos + 1) as f32 / n);
        }
        let mut candidates: Vec<u32> = distinct.iter().flat_map(|&i| self.postings[i].iter().copied()).collect();
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        candidates.dedup();
        candidates.truncate(p.sample);
        let mut neighbours: Vec<(f32, u32)> = candidates
            .into_iter()
            .map(|s| (self.sessions[s as usize].iter().map(|&i| weight[i]).sum::<f32>() / n, s))
            .collect();
        neighbours.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
        for &(sim, s) in neighbours.iter().take(p.neighbours) {
            for &i in &self.sessions[s as usize] {
                scores[i] += sim;
            }
        }
        scores
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(user: u32, item: usize, time: i64) -> Interaction {
        Interaction::new(user, item, time)
    }

    /// Synthetic sessions, for the rule only: the neighbour sharing the newest item wins.
    #[test]
    fn neighbours_sharing_the_newest_items_vote_most() {
        let users = vec![
            vec![ev(0, 0, 0), ev(0, 5, 60)],            // shares the older item 0 -> votes for 5
            vec![ev(1, 1, 0), ev(1, 6, 60)],            // shares the newer item 1 -> votes for 6
            vec![ev(2, 2, 0), ev(2, 7, 60)],            // shares nothing
            vec![ev(3, 1, 0), ev(3, 9, 10_000)],        // item 9 is in a later session: no vote
        ];
        let m = Sknn::fit(&users, 10, 100_000);
        let s = m.scores(&[ev(9, 0, 0), ev(9, 1, 30)], Params { neighbours: 10, sample: 100 });
        assert!(s[6] > s[5] && s[5] > s[7], "{s:?}");
        assert!(s[9] < s[5], "{s:?}");
        let one = m.scores(&[ev(9, 0, 0), ev(9, 1, 30)], Params { neighbours: 1, sample: 100 });
        assert!(one[5] < 1e-3, "only the best neighbour votes: {one:?}");
        assert!(GRID.iter().all(|p| p.neighbours > 0 && p.sample > 0) && GRID[11] == Params { neighbours: 500, sample: 5000 });
    }
}
