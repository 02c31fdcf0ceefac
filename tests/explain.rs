//! "Why here?" on the shipped model: reasons name real session events and given context
//! fields, explaining does not change the order, and after clicks on one genre the risen
//! members of that genre owe their rise to those clicks.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::HashSet;

use common::click;
use localrank::features::{Context, Item};
use localrank::runtime::cpu_device;
use localrank::{Ranker, RerankOptions, Signal};

fn ranker() -> Ranker {
    Ranker::load(common::files(), cpu_device(), None).expect("shipped model loads")
}

fn genre(i: &Item) -> &str {
    i.category.split(" / ").next().unwrap()
}

fn context() -> Context {
    Context { hour: Some(20), weekday: Some(5), device: Some("mobile".into()), page_type: Some("home".into()), ..Default::default() }
}

/// The genre with the most candidates, its first three members clicked, plus one other item.
fn genre_session() -> (Ranker, Vec<Item>, String, Vec<String>) {
    let items = common::golden().candidates;
    let mut counts = std::collections::HashMap::<&str, usize>::new();
    for i in &items {
        *counts.entry(genre(i)).or_default() += 1;
    }
    let (target, _) = counts.into_iter().max_by_key(|&(g, n)| (n, g)).unwrap();
    let target = target.to_string();
    let clicked: Vec<&Item> = items.iter().filter(|i| genre(i) == target).take(3).collect();
    let mut r = ranker();
    let other = items.iter().find(|i| genre(i) != target).unwrap();
    r.observe(click(other)).unwrap();
    for item in &clicked {
        r.observe(click(item)).unwrap();
    }
    let ids = clicked.iter().map(|i| i.id.clone()).collect();
    (r, items, target, ids)
}

#[test]
fn explaining_keeps_the_order_and_reasons_name_real_signals() {
    let (r, items, _, _) = genre_session();
    let plain = r.rerank(&items, &context(), RerankOptions::default()).unwrap();
    let explained = r.rerank_explained(&items, &context(), RerankOptions::default()).unwrap();
    let ids = |v: &[localrank::Ranked]| v.iter().map(|x| x.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&plain), ids(&explained));
    assert!(plain.iter().all(|x| x.reasons.is_none()));

    let session: HashSet<String> = r.session().filter_map(|e| e.item_id.clone()).collect();
    let fields = HashSet::from(["hour", "weekday", "device", "pageType"]);
    let mut with_reasons = 0;
    for item in &explained {
        let reasons = item.reasons.as_ref().expect("explain gives every item its reasons");
        with_reasons += usize::from(!reasons.is_empty());
        assert!(reasons.len() <= 6);
        for reason in reasons {
            match &reason.signal {
                Signal::Event { item_id, index, .. } => {
                    assert!(session.contains(item_id.as_ref().unwrap()), "{reason:?}");
                    assert!(*index < r.session().len());
                }
                Signal::Context { field, .. } => assert!(fields.contains(field.as_str()), "{reason:?}"),
            }
        }
        // Raising reasons first, strongest first; then lowering ones, strongest first.
        let raised: Vec<f32> = reasons.iter().map(|x| x.effect).take_while(|&e| e > 0.0).collect();
        assert!(raised.windows(2).all(|w| w[0] >= w[1]), "{reasons:?}");
    }
    assert!(with_reasons > items.len() / 2, "only {with_reasons} items have reasons");
}

#[test]
fn a_risen_genre_member_owes_its_rise_to_the_genre_clicks() {
    let (r, items, target, clicked) = genre_session();
    let out = r.rerank_explained(&items, &Context::default(), RerankOptions::default()).unwrap();
    let risen: Vec<_> = out
        .iter()
        .enumerate()
        .filter(|(pos, x)| {
            let item = items.iter().find(|i| i.id == x.id).unwrap();
            genre(item) == target && !clicked.contains(&x.id) && x.server_rank > pos + 1 + 5
        })
        .collect();
    assert!(!risen.is_empty(), "no {target} candidate rose 5+ places");
    for (_, x) in &risen {
        let top = &x.reasons.as_ref().unwrap()[0];
        assert!(top.effect > 0.0, "{:?}", x.reasons);
        match &top.signal {
            Signal::Event { item_id: Some(id), .. } => {
                assert!(clicked.contains(id), "{} rose, but its top reason is {top:?}, not a {target} click", x.id)
            }
            other => panic!("{} rose, but its top reason is {other:?}", x.id),
        }
    }
}

#[test]
fn an_empty_session_explains_nothing_and_bad_input_is_an_error() {
    let mut r = ranker();
    let items = common::golden().candidates;
    let out = r.rerank_explained(&items, &context(), RerankOptions::default()).unwrap();
    assert!(out.iter().all(|x| x.reasons.as_deref() == Some(&[][..])));
    r.observe(click(&items[0])).unwrap();
    let mut bad = items.clone();
    bad[1].title.clear();
    assert!(r.rerank_explained(&bad, &context(), RerankOptions::default()).is_err());
    assert_eq!(r.session().len(), 1);
}
