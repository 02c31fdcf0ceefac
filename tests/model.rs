//! Native tests of the shipped model: it decodes into the architecture, reproduces the golden
//! scores, reacts to the session, and bad input or bad files give errors, not panics.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use burn::prelude::*;

use common::click;

use localrank::features::{Context, Event, EventKind, Item};
use localrank::golden::TOLERANCE;
use localrank::runtime::cpu_device;
use localrank::{ModelFiles, Ranker, RerankOptions};

fn ranker() -> Ranker {
    Ranker::load(common::files(), cpu_device(), None).expect("shipped model loads")
}

#[test]
fn shipped_model_reproduces_golden_scores() {
    let golden = common::golden();
    let mut r = ranker();
    for e in &golden.session {
        r.observe(e.clone()).unwrap();
    }
    let scores = r.model_scores(&golden.candidates, &golden.context).unwrap();
    let diff = golden.max_abs_diff(&scores);
    assert!(diff <= TOLERANCE, "scores differ from models/golden.json by {diff}");
}

/// Real catalogue items (the golden candidates are the most popular products).
fn catalogue() -> Vec<Item> {
    common::golden().candidates
}

fn genre(i: &Item) -> String {
    i.category.split(" / ").next().unwrap().to_string()
}

/// The demo's 100 candidates in server order (`www/data/`, written by the same export as the
/// model): the list the browser tests rerank.
fn demo_candidates() -> Vec<Item> {
    let catalog: serde_json::Value = serde_json::from_str(include_str!("../www/data/catalog.json")).unwrap();
    let server: serde_json::Value = serde_json::from_str(include_str!("../www/data/server-candidates.json")).unwrap();
    let by_id: std::collections::HashMap<&str, &serde_json::Value> =
        catalog["items"].as_array().unwrap().iter().map(|i| (i["id"].as_str().unwrap(), i)).collect();
    server["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| {
            let i = by_id[id.as_str().unwrap()];
            let text = |k: &str| i[k].as_str().unwrap().to_string();
            Item { id: text("id"), title: text("title"), category: text("category"), popularity: None }
        })
        .collect()
}

/// Mean position (1-based) of `ids` in the reranked list after clicks on `clicked`, with a
/// fixed context (hour and weekday matter to the model; the clock must not).
fn mean_position_after_clicks(items: &[Item], clicked: &[&Item], ids: &[&str]) -> f64 {
    let mut r = ranker();
    for item in clicked {
        r.observe(click(item)).unwrap();
    }
    let ctx = Context { hour: Some(15), weekday: Some(3), ..Context::default() };
    let out = r.rerank(items, &ctx, RerankOptions::default()).unwrap();
    let sum: usize = out.iter().enumerate().filter(|(_, x)| ids.contains(&x.id.as_str())).map(|(p, _)| p + 1).sum();
    sum as f64 / ids.len() as f64
}

/// The 99th percentile of the same statistic (mean position of `k` products in one order minus
/// in another) when both orders are random permutations of `n`: what a ranker that ignores the
/// session would reach by chance. Seeded, 2,000 draws.
fn random_lift_p99(n: usize, k: usize) -> f64 {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    let mut mean_of_k = || {
        let mut order: Vec<usize> = (1..=n).collect();
        for i in (1..n).rev() {
            order.swap(i, next(i + 1));
        }
        order[..k].iter().sum::<usize>() as f64 / k as f64
    };
    let mut lifts: Vec<f64> = (0..2_000).map(|_| mean_of_k() - mean_of_k()).collect();
    lifts.sort_by(f64::total_cmp);
    lifts[lifts.len() * 99 / 100]
}

/// Personalisation against a control: on the demo's 100 candidates, a genre's unclicked
/// products must sit clearly higher after five clicks on that genre than after five clicks on
/// another genre (the control: products whose path does not name the target), by a fixed margin
/// and by more than the 99th percentile of the same lift between two random orders.
fn assert_lift(items: &[Item], target: &str, control: &str, min_lift: f64) -> f64 {
    let t: Vec<&Item> = items.iter().filter(|i| genre(i) == target).collect();
    let c: Vec<&Item> = items.iter().filter(|i| genre(i) == control && !i.category.contains(target)).collect();
    let rest: Vec<&str> = t[5..].iter().map(|i| i.id.as_str()).collect();
    let after_target = mean_position_after_clicks(items, &t[..5], &rest);
    let after_control = mean_position_after_clicks(items, &c[..5], &rest);
    let (lift, chance) = (after_control - after_target, random_lift_p99(items.len(), rest.len()));
    println!("{target} ({} unclicked): mean position {after_target:.1} after {target} clicks, {after_control:.1} after {control} clicks: lift {lift:.1} (margin {min_lift}, random p99 {chance:.1})", rest.len());
    assert!(lift >= min_lift.max(chance), "{target}: lift {lift:.1} over clicks on {control}, expected at least {min_lift} and the random p99 {chance:.1}");
    lift
}

#[test]
fn clicking_one_genre_lifts_that_genre_against_clicks_on_another() {
    let items = demo_candidates();
    assert_eq!(items.len(), 100);
    // Margins: the measured lift with the shipped model (the student trained alone, exported
    // 2026-12-06 evening) is in each line's comment; the random p99 (13.7 for 33 products, 31.9
    // for 8) is asserted as well. Drama, the largest genre of MovieLens, is not a target: the
    // model exported before did not lift it beyond chance (23 unclicked Drama products: lift 4.3
    // places over Comedy clicks against a random p99 of 17.6), and it is the control for Action.
    assert_lift(&items, "Action", "Drama", 10.0); // 16.8 (18.8 with the model exported before)
    assert_lift(&items, "Comedy", "Action", 20.0); // 50.0 (39.2 before)
}

/// A ranker whose manifest sets the on-device adaptation's weight (`localrank::adapt`).
fn adapted_ranker(weight: f64) -> Ranker {
    let mut m: serde_json::Value = serde_json::from_slice(common::MANIFEST).unwrap();
    m["adaptation"] = serde_json::json!(weight);
    let manifest = serde_json::to_vec(&m).unwrap();
    Ranker::load(ModelFiles { manifest: &manifest, ..common::files() }, cpu_device(), None).expect("adapted manifest loads")
}

/// The manifest's `adaptation` moves each candidate by exactly personalization x weight x its
/// category's share of the events of earlier visits, and nothing else: against the same ranker
/// without it (the control), candidates of a category the shopper did not touch, or touched only
/// in the current visit, keep their scores, and the earlier visits' category rises.
#[test]
fn adaptation_adds_the_earlier_visits_category_shares_and_nothing_else() {
    let items = demo_candidates();
    let action: Vec<&Item> = items.iter().filter(|i| genre(i) == "Action").take(3).collect();
    let comedy = items.iter().find(|i| genre(i) == "Comedy").unwrap();
    let drama = items.iter().find(|i| genre(i) == "Drama").unwrap();
    let ctx = Context { hour: Some(15), weekday: Some(3), ..Context::default() };
    let opts = RerankOptions { personalization: 0.8, ..RerankOptions::default() };
    let scores = |weight: f64| -> std::collections::HashMap<String, f32> {
        let mut r = adapted_ranker(weight);
        // An earlier visit (four clicks a second apart), then, three hours later, this visit.
        for (k, i) in action.iter().copied().chain([comedy]).enumerate() {
            r.observe(Event { timestamp_ms: 1.7e12 + k as f64 * 1e3, ..click(i) }).unwrap();
        }
        r.observe(Event { timestamp_ms: 1.7e12 + 3.0 * 3.6e6, ..click(drama) }).unwrap();
        r.rerank(&items, &ctx, opts.clone()).unwrap().into_iter().map(|x| (x.id, x.score)).collect()
    };
    let (plain, adapted) = (scores(0.0), scores(2.0));
    // The earlier visit's 4 events: Action 3, Comedy 1 (categories are read by their first
    // segment); this visit's Drama click is not counted.
    let share = |i: &Item| match genre(i).as_str() {
        "Action" => 0.75,
        "Comedy" => 0.25,
        _ => 0.0,
    };
    for i in &items {
        let moved = adapted[&i.id] - plain[&i.id];
        let expected = 0.8 * 2.0 * share(i);
        assert!((moved - expected).abs() < 1e-4, "{} ({}): moved {moved}, expected {expected}", i.id, i.category);
    }
    let position = |s: &std::collections::HashMap<String, f32>, id: &str| s.values().filter(|&&v| v > s[id]).count();
    let unclicked = items.iter().find(|i| genre(i) == "Action" && !action.iter().any(|a| a.id == i.id)).unwrap();
    assert!(position(&adapted, &unclicked.id) < position(&plain, &unclicked.id), "an unclicked Action product rises");
}

/// Polls `f` to completion on this thread (the CPU backend's futures are ready at once; a
/// no-op waker is enough, and no executor crate is needed for the test).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context as TaskContext, Poll, RawWaker, RawWakerVTable, Waker};
    fn raw() -> RawWaker {
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    static VTABLE: RawWakerVTable = RawWakerVTable::new(|_| raw(), |_| {}, |_| {}, |_| {});
    let waker = unsafe { Waker::from_raw(raw()) };
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut TaskContext::from_waker(&waker)) {
            return v;
        }
    }
}

/// The asynchronous completion (what the browser's `rerank` awaits) gives the synchronous
/// result, reasons included (cargo-mutants: `complete_async -> Ok(vec![])` went unseen).
#[test]
fn async_completion_equals_the_synchronous_rerank() {
    let items = demo_candidates();
    let mut r = ranker();
    for item in items.iter().filter(|i| genre(i) == "Comedy").take(3) {
        r.observe(click(item)).unwrap();
    }
    let ctx = Context { hour: Some(15), weekday: Some(3), ..Context::default() };
    let pending = r.start_explained_rerank(&items, &ctx, RerankOptions::default()).unwrap();
    assert!(pending.is_ready(), "CPU scores are on the host");
    let got = block_on(pending.complete_async()).unwrap();
    assert_eq!(got, r.rerank_explained(&items, &ctx, RerankOptions::default()).unwrap());
    assert_eq!(got.len(), items.len());
}

#[test]
fn empty_session_keeps_server_order() {
    let items = catalogue();
    let out = ranker().rerank(&items, &Context::default(), RerankOptions::default()).unwrap();
    assert!(out.iter().enumerate().all(|(i, r)| r.server_rank == i + 1));
}

#[test]
fn bad_candidates_are_named_and_the_ranker_keeps_working() {
    let mut r = ranker();
    let items = catalogue();
    r.observe(click(&items[0])).unwrap();
    let mut bad = items.clone();
    bad[3].id.clear();
    let err = r.rerank(&bad, &Context::default(), RerankOptions::default()).unwrap_err();
    assert!(err.to_string().contains("candidates[3].id"), "{err}");
    bad[3] = items[2].clone();
    let err = r.rerank(&bad, &Context::default(), RerankOptions::default()).unwrap_err();
    assert!(err.to_string().contains("appears twice"), "{err}");
    assert_eq!(r.session().len(), 1, "a failed call must not change the session");
    assert_eq!(r.rerank(&items, &Context::default(), RerankOptions::default()).unwrap().len(), items.len());
}

#[test]
fn events_without_text_are_refused_without_losing_state() {
    let mut r = ranker();
    let items = catalogue();
    r.observe(click(&items[0])).unwrap();
    let mut e = click(&items[1]);
    e.title.clear();
    assert!(r.observe(e).unwrap_err().to_string().contains("title"));
    let search = Event { kind: EventKind::Search, query: None, ..click(&items[1]) };
    assert!(r.observe(search).unwrap_err().to_string().contains("query"));
    assert_eq!(r.session().len(), 1);
}

#[test]
fn session_is_bounded() {
    let mut r = Ranker::load(common::files(), cpu_device(), Some(3)).unwrap();
    for item in catalogue().iter().take(5) {
        r.observe(click(item)).unwrap();
    }
    assert_eq!(r.session().len(), 3);
}

#[test]
fn corrupted_or_foreign_model_files_are_errors() {
    let mut weights = common::WEIGHTS.to_vec();
    let middle = weights.len() / 2;
    weights[middle] ^= 0xff;
    let files = ModelFiles { weights: &weights, ..common::files() };
    let err = Ranker::load(files, cpu_device(), None).err().expect("corruption detected");
    assert!(err.to_string().contains("sha256"), "{err}");

    let manifest = String::from_utf8(common::MANIFEST.to_vec())
        .unwrap()
        .replacen("\"format_version\": 1", "\"format_version\": 7", 1);
    let files = ModelFiles { manifest: manifest.as_bytes(), ..common::files() };
    let err = Ranker::load(files, cpu_device(), None).err().expect("version mismatch detected");
    assert!(err.to_string().contains("format_version is 7"), "{err}");

    let files = ModelFiles { tokenizer: b"{not json", ..common::files() };
    assert!(Ranker::load(files, cpu_device(), None).is_err());
}

/// The inference path (`Model::last_user`: the last block for the newest position only) gives
/// the full encoder's last-position user vectors, with padding and with a truncated session.
#[test]
fn last_position_inference_equals_the_full_encoder() {
    use localrank::features::{Batch, EncodedEvent, EncodedSession};
    let device = cpu_device();
    let config = localrank::model::ModelConfig::new(6);
    let model = config.init(&device);
    let (l, t) = (config.max_session, config.max_tokens);
    let event = |k: i64| EncodedEvent {
        tokens: (0..t as i64).map(|i| (i * 7 + k) % 50 + 1).collect(),
        event: 1 + k % 5,
        category: k % 6,
        dwell: k % 5,
    };
    let session = |n: usize| {
        let events: Vec<EncodedEvent> = (0..n as i64).map(event).collect();
        EncodedSession::new(&events, l, t, [21, 3, 2, 4, 1, 2], (1..=t as i64).collect())
    };
    let batch = Batch::new(&[session(3), session(l + 5)], &device);
    let full = model.users(&batch).narrow(1, l - 1, 1).reshape([2, config.d_model]);
    let last = model.last_user(&batch);
    let diff = (full.clone() - last).abs().max().into_scalar::<f32>();
    assert!(diff < 1e-5, "last-position inference differs from the full encoder by {diff}");
    let spread = (full.clone().narrow(0, 0, 1) - full.narrow(0, 1, 1)).abs().max().into_scalar::<f32>();
    assert!(spread > 1e-3, "the two sessions give the same vector ({spread}): the check would prove nothing");
}

/// The CPU backend's encoder (`FusedEncoder`: host loops over the model's weights) gives burn's
/// `Model::embed_items`, `Model::last_user` and `Model::score`: with a query and without,
/// left-padded and not, and a session longer than the window.
#[test]
fn fused_encoder_equals_the_burn_model() {
    use localrank::features::{Batch, Candidates, EncodedEvent, EncodedSession};
    use localrank::model::FusedEncoder;
    let device = cpu_device();
    let config = localrank::model::ModelConfig::new(6).with_layers(3);
    let model = config.init(&device);
    let fused = FusedEncoder::new(model.clone()).unwrap();
    let (l, t, d) = (config.max_session, config.max_tokens, config.d_model);
    let event = |k: i64| EncodedEvent {
        tokens: (0..t as i64).map(|i| if i < 3 + k % 7 { (i * 7 + k) % 50 + 1 } else { 0 }).collect(),
        event: 1 + k % 5,
        category: k % 6,
        dwell: k % 5,
    };
    let session = |n: usize, window: usize, query: bool| {
        let events: Vec<EncodedEvent> = (0..n as i64).map(event).collect();
        let query = (0..t as i64).map(|i| if query && i < 4 { i * 3 + 2 } else { 0 }).collect();
        EncodedSession::new(&events, window, t, [21, 3, 2, 4, 1, 2], query)
    };
    let floats = |x: Tensor<2>| x.into_data().try_to_vec::<f32>().unwrap();
    let items: Vec<Vec<i64>> = (0..9).map(|k| (0..t as i64).map(|i| (i * 5 + k) % 40).collect()).collect();
    let cands = Candidates::new(&items, (0..9).map(|k| k % 6).collect(), &device);
    let max_diff = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    let keys = |s: &[EncodedSession]| s.iter().flat_map(EncodedSession::item_keys).collect::<Vec<i64>>();
    let cand_keys: Vec<i64> = items.iter().zip(0..).flat_map(|(i, k)| i.iter().copied().chain([k % 6])).collect();
    let cand_vectors = fused.item_vectors(&cand_keys, t).unwrap();
    let diff = max_diff(&cand_vectors, &floats(model.embed_items(cands.tokens.clone(), cands.category.clone())));
    assert!(diff < 1e-6, "fused item vectors differ from Model::embed_items by {diff}");
    for sessions in [vec![session(3, l, true), session(l + 5, l, false)], vec![session(3, 3, false), session(4, 3, true)]] {
        let batch = Batch::new(&sessions, &device);
        let [b, w, _] = batch.tokens.dims();
        let events = fused.item_vectors(&keys(&sessions), t).unwrap();
        let diff = max_diff(&events, &floats(model.event_items(&batch).reshape([b * w, d])));
        assert!(diff < 1e-6, "fused event item vectors differ from Model::event_items by {diff}");
        let want = floats(model.score(&batch, &cands));
        let got = fused.scores(&sessions, &events, &cand_vectors).unwrap();
        let diff = max_diff(&want, &got);
        assert_eq!(got.len(), b * 9);
        assert!(diff < 1e-5, "fused scores differ from Model::score by {diff} (window {w})");
        let users = floats(model.last_user(&batch));
        for (i, s) in sessions.iter().enumerate() {
            let user = fused.last_user(s, &events[i * w * d..(i + 1) * w * d]).unwrap();
            let diff = max_diff(&users[i * d..(i + 1) * d], &user);
            assert!(diff < 1e-5, "fused user vector {i} differs from Model::last_user by {diff} (window {w})");
        }
        let spread = max_diff(&want[..9], &want[9..]);
        assert!(spread > 1e-4, "the two sessions score alike ({spread}): the check would prove nothing");
    }
    let short = session(2, 2, false);
    let err = fused.last_user(&short, &[0.0; 3]).unwrap_err();
    assert!(err.to_string().contains("session"), "{err}");
}

/// The ranker's fast paths (item vectors from the cache, sessions without their padding) give the
/// scores of the plain model: `Model::score` on the padded session and freshly pooled items.
#[test]
fn cached_items_and_unpadded_sessions_score_as_the_plain_model() {
    use localrank::features::{
        category_index, context_indices, dwell_bucket, item_text, Batch, Candidates, EncodedEvent, EncodedSession,
    };
    use localrank::manifest::Manifest;
    use localrank::ranker::load_model;
    use localrank::text::TextEncoder;

    let (golden, files, device) = (common::golden(), common::files(), cpu_device());
    let manifest = Manifest::parse(files.manifest).unwrap();
    let (c, cats, trained) = (&manifest.config, &manifest.categories, &manifest.inputs);
    assert!(golden.session.len() < c.max_session, "the golden session must be shorter than the window");
    let model = load_model(&manifest, files.weights, &device).unwrap();
    let text = TextEncoder::from_bytes(files.tokenizer, c.text_buckets, c.max_tokens).unwrap();
    let events: Vec<EncodedEvent> = golden
        .session
        .iter()
        .map(|e| EncodedEvent {
            tokens: text.encode(&e.text()).unwrap(),
            event: trained.event(e.kind.index()),
            category: category_index(cats, &e.category),
            dwell: trained.dwell(dwell_bucket(e.dwell_ms)),
        })
        .collect();
    let query = match golden.context.query.as_deref() {
        Some(q) if trained.query => text.encode(q).unwrap(),
        _ => vec![0; c.max_tokens],
    };
    let context = trained.context(context_indices(&golden.context, cats));
    let session = EncodedSession::new(&events, c.max_session, c.max_tokens, context, query);
    let items = &golden.candidates;
    let tokens: Vec<Vec<i64>> = items.iter().map(|i| text.encode(&item_text(&i.title, &i.category)).unwrap()).collect();
    let category = items.iter().map(|i| category_index(cats, &i.category)).collect();
    let plain = model.score(&Batch::new(&[session], &device), &Candidates::new(&tokens, category, &device));
    let plain = plain.into_data().try_to_vec::<f32>().unwrap();

    let mut r = ranker();
    for e in &golden.session {
        r.observe(e.clone()).unwrap();
    }
    let first = r.model_scores(items, &golden.context).unwrap(); // fills the item cache
    let again = r.model_scores(items, &golden.context).unwrap(); // reads it
    assert_eq!(first, again, "scores from cached item vectors differ from the first call's");
    let diff = plain.iter().zip(&first).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(diff < 1e-5, "the ranker's scores differ from Model::score on the padded session by {diff}");
}
