//! "Why here?": which session events and page-context fields raised or lowered each candidate.
//!
//! Occlusion, computed by the model itself: the session is scored as it is, then once with each
//! event removed and once with each known context field set to "unknown", all as one batch
//! through `Model::score`. A signal's effect on a candidate is how much the candidate's blended
//! score drops when the signal is taken away. Scores are standardised over the candidates per
//! variant first, so a shift that moves every candidate alike (and no rank) counts as nothing.

use serde::{Deserialize, Serialize};

use crate::features::{Context, EncodedEvent, EncodedSession, Event, EventKind, CONTEXT_FIELDS, CONTEXT_NAMES};
use crate::rerank::standardise;

/// Reasons kept per candidate on each side (raised / lowered).
pub const REASONS_PER_SIDE: usize = 3;
/// Effects smaller than this (in blended-score units) are noise, not reasons.
const MIN_EFFECT: f32 = 1e-3;

/// What a reason points at: one event of this session, or one field of the page context.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "camelCase")]
pub enum Signal {
    #[serde(rename_all = "camelCase")]
    Event {
        /// Position in the session, 0 = oldest kept.
        index: usize,
        /// GA4 event name.
        event: String,
        item_id: Option<String>,
        title: Option<String>,
        query: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    Context { field: String, value: String },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reason {
    #[serde(flatten)]
    pub signal: Signal,
    /// How much this signal raised (> 0) or lowered (< 0) the candidate's blended score, in the
    /// units of `Ranked::score`.
    pub effect: f32,
}

/// The sessions to score: the full one first, then one per signal in `Signal` order.
pub struct Occlusions {
    pub sessions: Vec<EncodedSession>,
    pub signals: Vec<Signal>,
}

/// What the model reads of one request, already encoded.
pub struct Encoded<'a> {
    /// The events the model's window holds, oldest first, with their index in the session.
    pub events: Vec<(usize, &'a Event, EncodedEvent)>,
    pub context: [i64; CONTEXT_FIELDS],
    pub query: Vec<i64>,
    pub window: usize,
    pub tokens: usize,
}

impl Encoded<'_> {
    fn session(&self, skip: Option<usize>, context: [i64; CONTEXT_FIELDS], query: Vec<i64>) -> EncodedSession {
        let events: Vec<EncodedEvent> = self
            .events
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != skip)
            .map(|(_, (_, _, e))| e.clone())
            .collect();
        EncodedSession::new(&events, self.window, self.tokens, context, query)
    }

    /// The full session alone.
    pub fn full(&self) -> EncodedSession {
        self.session(None, self.context, self.query.clone())
    }

    /// The full session, then each event removed, then each known context field (and the query)
    /// set to unknown.
    pub fn occlusions(&self, ctx: &Context) -> Occlusions {
        let mut sessions = vec![self.full()];
        let mut signals = Vec::new();
        for (i, (index, event, _)) in self.events.iter().enumerate() {
            sessions.push(self.session(Some(i), self.context, self.query.clone()));
            signals.push(event_signal(*index, event));
        }
        for (field, value) in context_values(ctx).into_iter().enumerate() {
            let Some(value) = value.filter(|_| self.context[field] != 0) else { continue };
            let mut context = self.context;
            context[field] = 0;
            sessions.push(self.session(None, context, self.query.clone()));
            signals.push(Signal::Context { field: CONTEXT_NAMES[field].into(), value });
        }
        if let Some(q) = ctx.query.as_ref().filter(|_| self.query.iter().any(|&t| t != 0)) {
            sessions.push(self.session(None, self.context, vec![0; self.query.len()]));
            signals.push(Signal::Context { field: "query".into(), value: q.clone() });
        }
        Occlusions { sessions, signals }
    }
}

fn event_signal(index: usize, e: &Event) -> Signal {
    let search = e.kind == EventKind::Search;
    Signal::Event {
        index,
        event: e.kind.name().into(),
        item_id: e.item_id.clone(),
        title: (!search).then(|| e.title.clone()),
        query: if search { e.query.clone() } else { None },
    }
}

/// The context fields as given (not as the model's vocabulary maps them).
fn context_values(ctx: &Context) -> [Option<String>; CONTEXT_FIELDS] {
    [
        ctx.hour.map(|h| h.to_string()),
        ctx.weekday.map(|d| d.to_string()),
        ctx.device.clone(),
        ctx.page_type.clone(),
        ctx.category.clone(),
        ctx.promotion.map(|p| p.to_string()),
    ]
}

/// Reasons per candidate (in candidate order). `rows[0]` are the full session's raw model
/// scores, `rows[1 + k]` those without `signals[k]`; `weight` is the model's share of the
/// blended score (`personalization`).
pub fn reasons(rows: &[Vec<f32>], signals: &[Signal], weight: f32) -> Vec<Vec<Reason>> {
    let z: Vec<Vec<f32>> = rows.iter().map(|r| standardise(r)).collect();
    let n = rows.first().map_or(0, Vec::len);
    (0..n)
        .map(|j| {
            let effects = signals.iter().zip(&z[1..]).map(|(s, zk)| (s, weight * (z[0][j] - zk[j])));
            top_reasons(effects.collect())
        })
        .collect()
}

/// Strongest raising reasons first, then the strongest lowering ones.
fn top_reasons(mut effects: Vec<(&Signal, f32)>) -> Vec<Reason> {
    effects.retain(|(_, e)| e.abs() >= MIN_EFFECT);
    effects.sort_by(|a, b| b.1.total_cmp(&a.1));
    let raised = effects.iter().filter(|(_, e)| *e > 0.0).take(REASONS_PER_SIDE);
    let lowered = effects.iter().rev().filter(|(_, e)| *e < 0.0).take(REASONS_PER_SIDE);
    raised
        .chain(lowered)
        .map(|(s, effect)| Reason { signal: (*s).clone(), effect: *effect })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(i: usize) -> Signal {
        Signal::Context { field: format!("f{i}"), value: String::new() }
    }

    #[test]
    fn effects_are_relative_to_the_other_candidates() {
        // Removing signal 0 shifts every candidate alike: no reason. Removing signal 1 narrows
        // candidate 2's lead: it raised candidate 2 and lowered candidate 1 relative to the rest.
        let rows = vec![vec![1.0, 2.0, 6.0], vec![0.0, 1.0, 5.0], vec![1.0, 2.0, 3.0]];
        let out = reasons(&rows, &[signal(0), signal(1)], 1.0);
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].len(), 1);
        assert_eq!(out[2][0].signal, signal(1));
        assert!(out[2][0].effect > 0.0);
        assert!(out[1].len() == 1 && out[1][0].signal == signal(1) && out[1][0].effect < 0.0, "{:?}", out[1]);
    }

    #[test]
    fn at_most_three_per_side_strongest_first() {
        let s: Vec<Signal> = (0..8).map(signal).collect();
        let effects: Vec<(&Signal, f32)> =
            s.iter().zip([0.5, -0.1, 0.9, 0.2, -0.7, 0.3, 0.0, -0.2]).collect();
        let out = top_reasons(effects);
        let e: Vec<f32> = out.iter().map(|r| r.effect).collect();
        assert_eq!(e, vec![0.9, 0.5, 0.3, -0.7, -0.2, -0.1]);
    }

    /// A click's reason names its title, a search's its query, never the other way round
    /// (cargo-mutants: deleting the `!` in `event_signal` went unseen).
    #[test]
    fn event_reasons_name_a_title_or_a_query() {
        let click = Event {
            kind: EventKind::SelectItem,
            item_id: Some("p1".into()),
            title: "Heat (1995)".into(),
            category: "Action".into(),
            price: None,
            timestamp_ms: 1.7e12,
            dwell_ms: None,
            query: None,
        };
        let search = Event { kind: EventKind::Search, item_id: None, title: String::new(), query: Some("heist".into()), ..click.clone() };
        let named = |e: &Event| match event_signal(3, e) {
            Signal::Event { index, title, query, .. } => (index, title, query),
            other => panic!("{other:?}"),
        };
        assert_eq!(named(&click), (3, Some("Heat (1995)".to_string()), None));
        assert_eq!(named(&search), (3, None, Some("heist".to_string())));
    }

    #[test]
    fn serialises_with_a_source_tag() {
        let r = Reason { signal: signal(1), effect: 0.5 };
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["source"], "context");
        assert_eq!(json["field"], "f1");
        assert_eq!(json["effect"], 0.5);
    }
}
