//! Fuzz target 3: the `Ranker` API as a state machine on the shipped model.
//!
//! Random sequences of observe / restore / clear / rerank / rerank_explained / model_scores
//! with valid and invalid values, against a model of the session (a deque of at most
//! `max_session` events). Checked after every call: nothing panics; an error has a message and
//! leaves the session exactly as it was; what the documented validation refuses is an error; a
//! rerank returns a permutation of the candidate ids (or with topK a prefix of min(k, n)
//! distinct ids) with finite scores; the session never exceeds its maximum.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use localrank::features::{Context, Event, EventKind, Item};
use localrank::ranker::MAX_CANDIDATES;
use localrank::runtime::cpu_device;
use localrank::{Ranker, RerankOptions};
use localrank_fuzz::proptest::prelude::*;
use localrank_fuzz::{arb, check_ranked, check_result, ensure, files, no_panic, run, short};

/// The CI budget (each case is a handful of calls on a tiny model: ~1 ms).
const CI_CASES: u32 = 2000;
/// The second ranker's session maximum: small, so that eviction happens within a case.
const SMALL_MAX: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    Observe(Event),
    Restore(Vec<Event>),
    Clear,
    Rerank { candidates: Vec<Item>, ctx: Context, options: RerankOptions, explained: bool },
    ModelScores { candidates: Vec<Item>, ctx: Context },
}

#[derive(Clone, Debug)]
struct Case {
    /// On the ranker whose session holds at most `SMALL_MAX` events (else the model's 50).
    small: bool,
    ops: Vec<Op>,
}

fn op() -> impl Strategy<Value = Op> {
    let candidates = || arb::candidates(5);
    prop_oneof![
        6 => arb::event().prop_map(Op::Observe),
        1 => prop_oneof![4 => prop::collection::vec(arb::event(), 0..6), 1 => prop::collection::vec(arb::event(), 45..60)]
            .prop_map(Op::Restore),
        1 => Just(Op::Clear),
        5 => (candidates(), arb::context(), arb::options(), any::<bool>())
            .prop_map(|(candidates, ctx, options, explained)| Op::Rerank { candidates, ctx, options, explained }),
        1 => (candidates(), arb::context()).prop_map(|(candidates, ctx)| Op::ModelScores { candidates, ctx }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (any::<bool>(), prop::collection::vec(op(), 1..10)).prop_map(|(small, ops)| Case { small, ops })
}

// What the documented validation (src/ranker.rs, src/rerank.rs) refuses in any version: a call
// with such a value must be an error. The rules may grow stricter (so a value that passes
// these may still be refused: the tallies printed at the end show how many got through).

fn event_invalid(e: &Event) -> bool {
    let text_missing = match e.kind {
        EventKind::Search => e.query.as_deref().is_none_or(|q| q.trim().is_empty()),
        _ => e.title.trim().is_empty(),
    };
    !e.timestamp_ms.is_finite() || e.dwell_ms.is_some_and(|d| !d.is_finite() || d < 0.0) || text_missing
}

fn candidates_invalid(c: &[Item]) -> bool {
    let mut ids = std::collections::HashSet::new();
    let ok = |i: &Item| {
        let popularity = i.popularity.is_none_or(|p| p.is_finite() && p >= 0.0);
        !i.id.is_empty() && !i.title.trim().is_empty() && popularity && ids.insert(i.id.clone())
    };
    c.len() > MAX_CANDIDATES || !c.iter().all(ok)
}

fn options_invalid(o: &RerankOptions) -> bool {
    !(0.0..=1.0).contains(&o.personalization) || !(0.0..=1.0).contains(&o.long_tail) || o.top_k == Some(0)
}

/// `Err` when `r` is Ok although `invalid`.
fn refused<T: std::fmt::Debug>(what: &str, r: &localrank::Result<T>, invalid: bool, input: impl std::fmt::Debug) -> Result<(), String> {
    ensure(!(invalid && r.is_ok()), || format!("{what} accepted an invalid {}: {}", short(input), short(r)))
}

/// Events as text: `Event` holds f64s (NaN != NaN), so sessions are compared by their Debug.
fn shown<'a>(events: impl Iterator<Item = &'a Event>) -> Vec<String> {
    events.map(|e| format!("{e:?}")).collect()
}

/// Calls made, by outcome: observe/restore Ok, Err; reranks that ran the model (non-empty
/// session, valid input), reranks that were errors; model_scores Ok.
static TALLY: [AtomicUsize; 5] = [const { AtomicUsize::new(0) }; 5];

fn tally(i: usize) {
    TALLY[i].fetch_add(1, Ordering::Relaxed);
}

/// One op on `ranker`, checked against the session model `model` (updated on success).
fn apply(ranker: &mut Ranker, max: usize, model: &mut VecDeque<Event>, op: &Op) -> Result<(), String> {
    let before = shown(ranker.session());
    ensure(before == shown(model.iter()), || format!("session {} differs from the model {}", short(&before), short(&*model)))?;
    let outcome = no_panic(&short(op), || -> Result<(), String> {
        match op {
            Op::Observe(e) => {
                let r = ranker.observe(e.clone());
                check_result("observe", &r)?;
                tally(if r.is_ok() { 0 } else { 1 });
                refused("observe", &r, event_invalid(e), e)?;
                if r.is_ok() {
                    model.push_back(kept_as(e));
                    while model.len() > max {
                        model.pop_front();
                    }
                }
            }
            Op::Restore(events) => {
                let r = ranker.restore(events.clone());
                check_result("restore", &r)?;
                tally(if r.is_ok() { 0 } else { 1 });
                // Only the newest `max` events are read (and validated) since f02216e.
                let kept = &events[events.len().saturating_sub(max)..];
                refused("restore", &r, kept.iter().any(event_invalid), kept)?;
                if r.is_ok() {
                    *model = events.iter().map(kept_as).collect();
                    while model.len() > max {
                        model.pop_front();
                    }
                }
            }
            Op::Clear => {
                ranker.clear();
                model.clear();
            }
            Op::Rerank { candidates, ctx, options, explained } => {
                let r = match explained {
                    true => ranker.rerank_explained(candidates, ctx, options.clone()),
                    false => ranker.rerank(candidates, ctx, options.clone()),
                };
                check_result("rerank", &r)?;
                match &r {
                    Ok(_) if model.is_empty() || candidates.is_empty() => {}
                    Ok(_) => tally(2),
                    Err(_) => tally(3),
                }
                refused("rerank", &r, options_invalid(options) || candidates_invalid(candidates), (candidates, options))?;
                if let Ok(ranked) = &r {
                    check_ranked(candidates, options, *explained, ranked, true)?;
                }
            }
            Op::ModelScores { candidates, ctx } => {
                let r = ranker.model_scores(candidates, ctx);
                check_result("model_scores", &r)?;
                tally(if r.is_ok() { 4 } else { 3 });
                refused("model_scores", &r, candidates_invalid(candidates), candidates)?;
                if let Ok(scores) = &r {
                    ensure(scores.len() == candidates.len(), || format!("{} scores for {} candidates", scores.len(), candidates.len()))?;
                    ensure(scores.iter().all(|s| s.is_finite()), || format!("non-finite model scores {}", short(scores)))?;
                }
            }
        }
        Ok(())
    })?;
    outcome?;
    let after = shown(ranker.session());
    ensure(after.len() <= max, || format!("session of {} events, max {max}", after.len()))?;
    // On an error the model was left alone, so this is also "an error changes nothing".
    ensure(after == shown(model.iter()), || format!("after {}: session {}, expected {}", short(op), short(&after), short(&*model)))
}

fn load(max: Option<usize>) -> Ranker {
    Ranker::load(files(), cpu_device(), max).expect("the shipped model loads")
}

#[test]
fn ranker_state_machine() {
    let (big, small) = (Mutex::new(load(None)), Mutex::new(load(Some(SMALL_MAX))));
    let big_max = big.lock().unwrap().manifest().config.max_session;
    run("ranker_state_machine", CI_CASES, case(), |case| {
        let (lock, max) = if case.small { (&small, SMALL_MAX) } else { (&big, big_max) };
        // A panic in an earlier case poisons the lock; the ranker is reset below either way.
        let mut ranker = lock.lock().unwrap_or_else(|p| p.into_inner());
        ranker.clear();
        let mut model = VecDeque::new();
        for (i, op) in case.ops.iter().enumerate() {
            apply(&mut ranker, max, &mut model, op).map_err(|e| format!("op {i}: {e}"))?;
        }
        Ok(())
    });
    let t: Vec<usize> = TALLY.iter().map(|t| t.load(Ordering::Relaxed)).collect();
    eprintln!(
        "ranker_state_machine: {} events/restores accepted, {} refused; {} reranks ran the model, {} calls refused; {} model_scores",
        t[0], t[1], t[2], t[3], t[4]
    );
}

// Fixed cases: sizes a random case would not reach cheaply.

fn title_event(title: String) -> Event {
    Event {
        kind: EventKind::SelectItem,
        item_id: Some("p1".into()),
        title,
        category: "Drama".into(),
        price: None,
        timestamp_ms: 1.7e12,
        dwell_ms: None,
        query: None,
    }
}

/// The event as the session keeps it: title, category and query at the tokeniser's cap
/// (`text::cap_text`), as `Ranker::observe`/`restore` keep them.
fn kept_as(e: &Event) -> Event {
    use localrank::text::cap_text;
    Event {
        title: cap_text(&e.title).to_string(),
        category: cap_text(&e.category).to_string(),
        query: e.query.as_deref().map(|q| cap_text(q).to_string()),
        ..e.clone()
    }
}

fn item(id: usize, title: String) -> Item {
    Item { id: format!("p{id}"), title, category: "Comedy".into(), popularity: None }
}

#[test]
fn one_megabyte_titles_and_queries() {
    let mut ranker = load(None);
    let mut model = VecDeque::new();
    let big = "Toy Story ".repeat(100_000);
    let weird: String = "e\u{301}\u{202E}\u{FFFD}\0".chars().cycle().take(250_000).collect();
    let ctx = Context { query: Some(big.clone()), ..Context::default() };
    let ops = [
        Op::Observe(title_event(big.clone())),
        Op::Observe(Event { kind: EventKind::Search, query: Some(weird.clone()), ..title_event("x".into()) }),
        Op::Rerank { candidates: vec![item(1, big), item(2, weird), item(3, "Heat".into())], ctx, options: RerankOptions::default(), explained: true },
    ];
    for op in &ops {
        apply(&mut ranker, 50, &mut model, op).unwrap();
    }
}

#[test]
fn too_many_candidates_and_a_full_session() {
    let mut ranker = load(None);
    let max = ranker.manifest().config.max_session;
    let mut model = VecDeque::new();
    let events: Vec<Event> = (0..max + 7).map(|i| title_event(format!("Movie {i}"))).collect();
    let many: Vec<Item> = (0..MAX_CANDIDATES + 1).map(|i| item(i, "Heat".into())).collect();
    let ops = [
        Op::Restore(events.clone()),
        Op::Observe(title_event("Alien (1979)".into())),
        Op::Rerank { candidates: many.clone(), ctx: Context::default(), options: RerankOptions::default(), explained: false },
        Op::Rerank { candidates: many[..MAX_CANDIDATES].to_vec(), ctx: Context::default(), options: RerankOptions { top_k: Some(5), ..RerankOptions::default() }, explained: false },
        Op::Restore(vec![title_event(" ".into())]),
    ];
    for op in &ops {
        apply(&mut ranker, max, &mut model, op).unwrap();
    }
}

/// Found by this target at 633cebc (minimal input: one candidate, popularity -8.4e30, longTail
/// 0.957, empty session): `Ranker::rerank` accepted any f32 popularity and `rerank::popularity`
/// took `ln_1p` of it, NaN below -1 (and for NaN, +inf), so with longTail > 0 every score was NaN
/// or infinite. Fixed in f02216e (validate_candidates refuses it); kept as a regression test.
#[test]
fn out_of_range_popularity_is_an_error_or_finite_scores() {
    let mut ranker = load(None);
    let mut failures = Vec::new();
    for session in [false, true] {
        if session {
            ranker.observe(title_event("Heat (1995)".into())).unwrap();
        }
        for p in [-8.376768e30, -2.0, -1.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            // Every candidate with a popularity: only then are the figures used.
            let candidates = vec![
                Item { popularity: Some(p), ..item(0, "Aaa (1950)".into()) },
                Item { popularity: Some(3.0), ..item(1, "Heat".into()) },
            ];
            let options = RerankOptions { long_tail: 0.957, ..RerankOptions::default() };
            let mut model: VecDeque<Event> = ranker.session().cloned().collect();
            let op = Op::Rerank { candidates, ctx: Context::default(), options, explained: false };
            if let Err(e) = apply(&mut ranker, 50, &mut model, &op) {
                failures.push(format!("popularity {p}, session {session}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
