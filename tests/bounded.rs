//! Issue 17, bounded work per call, through the ranker on the shipped model: huge texts are read
//! only up to `text::MAX_TEXT_BYTES`, a full list with long categories reranks with diversity,
//! and implausible events and over-long ids are refused by name without changing the session.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::click;
use localrank::features::{Context, Event, Item};
use localrank::ranker::{MAX_CANDIDATES, MAX_ID_BYTES};
use localrank::runtime::cpu_device;
use localrank::text::{cap_text, MAX_TEXT_BYTES};
use localrank::{Ranker, RerankOptions};

fn ranker() -> Ranker {
    Ranker::load(common::files(), cpu_device(), None).expect("shipped model loads")
}

/// `text`, padded with 2 MB that would change its tokens if they were read.
fn huge(text: &str) -> String {
    let mut s = format!("{text:<width$}", width = MAX_TEXT_BYTES);
    s.push_str(&"zq".repeat(1 << 20));
    s
}

/// Titles, categories, session events and the query of 2 MB score as their first
/// `MAX_TEXT_BYTES`: nothing past them is tokenised.
#[test]
fn huge_texts_score_as_their_capped_prefix() {
    let items = common::golden().candidates;
    let big: Vec<Item> = items.iter().map(|i| Item { title: huge(&i.title), ..i.clone() }).collect();
    let capped: Vec<Item> = big.iter().map(|i| Item { title: cap_text(&i.title).to_owned(), ..i.clone() }).collect();
    let session = |r: &mut Ranker, f: &dyn Fn(&str) -> String| {
        for item in &items[..3] {
            r.observe(Event { title: f(&item.title), ..click(item) }).unwrap();
        }
    };
    let ctx = |q: String| Context { query: Some(q), ..Default::default() };
    let (mut a, mut b) = (ranker(), ranker());
    session(&mut a, &|t| huge(t));
    session(&mut b, &|t| cap_text(&huge(t)).to_owned());
    let scores_big = a.model_scores(&big, &ctx(huge("space opera"))).unwrap();
    let scores_capped = b.model_scores(&capped, &ctx(cap_text(&huge("space opera")).to_owned())).unwrap();
    assert_eq!(scores_big, scores_capped);
}

/// The largest list, with 12-level categories longer than the text cap, diversified over the
/// whole list.
#[test]
fn a_full_list_with_long_categories_reranks_with_long_tail() {
    let items: Vec<Item> = (0..MAX_CANDIDATES)
        .map(|i| Item {
            id: format!("p{i}"),
            title: format!("Item {i}"),
            category: (0..12).map(|l| format!("Level {l} {}", (i + l) % 7)).collect::<Vec<_>>().join(" / ")
                + &" / x".repeat(300),
            popularity: Some((i % 50) as f32),
        })
        .collect();
    let mut r = ranker();
    r.observe(click(&items[7])).unwrap();
    let options = RerankOptions { long_tail: 0.7, ..Default::default() };
    let out = r.rerank(&items, &Context::default(), options).unwrap();
    assert_eq!(out.len(), MAX_CANDIDATES);
    let mut ranks: Vec<usize> = out.iter().map(|x| x.server_rank).collect();
    ranks.sort_unstable();
    assert!(ranks.iter().enumerate().all(|(i, &r)| r == i + 1), "every candidate once");
}

#[test]
fn implausible_events_and_long_ids_are_refused_by_name() {
    let items = common::golden().candidates;
    let mut r = ranker();
    r.observe(click(&items[0])).unwrap();
    for ms in [0.0, 1_000.0, -5.0, 1.7e9, 1.7e12 + 30.0 * 3.156e10] {
        let err = r.observe(Event { timestamp_ms: ms, ..click(&items[1]) }).unwrap_err().to_string();
        assert!(err.contains(&format!("event.timestamp: {ms} is not a plausible time")), "{err}");
    }
    let err = r.observe(Event { dwell_ms: Some(90_000_000.0), ..click(&items[1]) }).unwrap_err();
    assert!(err.to_string().contains("event.dwellMs: 90000000"), "{err}");
    let err = r.observe(Event { price: Some(f64::NAN), ..click(&items[1]) }).unwrap_err();
    assert!(err.to_string().contains("event.price: NaN"), "{err}");
    assert_eq!(r.session().len(), 1, "refused events must not change the session");

    let mut bad = items.clone();
    bad[4].id = "i".repeat(MAX_ID_BYTES + 1);
    let err = r.rerank(&bad, &Context::default(), RerankOptions::default()).unwrap_err().to_string();
    assert!(err.contains("candidates[4].id: 513 bytes, at most 512"), "{err}");
}

/// A stored session of any length costs a full session: only the newest `max_session` events
/// are read (an invalid older one does not matter), and a refused restore changes nothing.
#[test]
fn restore_reads_only_the_newest_window() {
    let items = common::golden().candidates;
    let mut r = ranker();
    let window = r.manifest().config.max_session;
    let mut events: Vec<Event> = (0..100_000).map(|i| click(&items[i % items.len()])).collect();
    events[0].timestamp_ms = -1.0;
    r.restore(events).unwrap();
    assert_eq!(r.session().len(), window);
    let before: Vec<Event> = r.session().cloned().collect();
    let mut bad: Vec<Event> = (0..window).map(|i| click(&items[i % items.len()])).collect();
    bad[window - 1].timestamp_ms = -1.0;
    assert!(r.restore(bad).unwrap_err().to_string().contains("event.timestamp"));
    assert_eq!(r.session().cloned().collect::<Vec<_>>(), before, "a refused restore keeps the session");
}

/// Popularity that would make NaN scores under `longTail` is refused by name.
#[test]
fn non_finite_or_negative_popularity_is_refused() {
    let items = common::golden().candidates;
    let mut r = ranker();
    r.observe(click(&items[0])).unwrap();
    for p in [f32::NAN, f32::INFINITY, -1.0] {
        let mut list = items.clone();
        list[2].popularity = Some(p);
        let err = r.rerank(&list, &Context::default(), RerankOptions { long_tail: 1.0, ..Default::default() });
        assert!(err.unwrap_err().to_string().contains("candidates[2].popularity"), "{p}");
    }
}

/// A restored (or natively observed) event keeps its texts at the tokeniser's cap, as the JS
/// path's parser does: a 2,000,000-character title restored by `importSession` once made every
/// "Why here?" reason of 3,229 candidates carry it (a ~4 GiB allocation in wasm).
#[test]
fn restored_and_observed_texts_are_capped() {
    use localrank::text::MAX_TEXT_BYTES;
    let mut r = localrank::Ranker::load(common::files(), localrank::runtime::cpu_device(), None).unwrap();
    let item = common::golden().candidates[0].clone();
    let mut e = common::click(&item);
    e.title = "e\u{301}".repeat(1_000_000);
    e.category = "c".repeat(1 << 20);
    r.restore(vec![e.clone()]).unwrap();
    r.observe(e).unwrap();
    for kept in r.session() {
        assert!(kept.title.len() <= MAX_TEXT_BYTES && kept.category.len() <= MAX_TEXT_BYTES, "{} / {} bytes", kept.title.len(), kept.category.len());
        assert!(kept.title.starts_with("e\u{301}"));
    }
}
