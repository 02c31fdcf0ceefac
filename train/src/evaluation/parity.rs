//! One encoding for training and the browser, proven: real histories go through the training
//! side (`dataset::case_batch`, `trainer::case_scores`, what the evaluation scores) and, as the
//! JSON `js/input.js` hands the wasm core, through the runtime `Ranker` (`input::parse_event`,
//! `parse_context`, `Ranker::observe`). The model inputs must be identical and the scores equal
//! within 1e-5: the browser then feeds the model what training fed it, and the evaluation tables
//! are the shipped model's.
//!
//! The browser sends more than training had (a dwell time, a device, a page type, a promotion
//! flag, add-to-cart events on a model trained on clicks only): the events below carry all of
//! it, so that the test fails if any of it reaches a row that training never updated.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use localrank::features::{utc_hour_weekday, Context, EncodedSession, EventKind, Item, CONTEXT_FIELDS, DEVICES, PAGE_TYPES};
use localrank::input::{parse_context, parse_event};
use localrank::text::TextEncoder;
use localrank::rerank::ListItem;
use localrank::{ModelFiles, Ranker};

use crate::data::dataset::{self, case_batch, cases, Case, ItemInputs};
use crate::data::movielens::{Data, Interaction};
use crate::pipeline::prepare::{self, Prepared};
use crate::evaluation::eval::Adapting;
use crate::models::trainer::case_scores;

/// Whole weeks added to every timestamp so that 1997's MovieLens events pass the runtime's
/// 2000-01-01 bound; a whole number of weeks keeps every UTC hour and weekday.
const SHIFT_S: i64 = 1_200 * 7 * 86_400;
/// Scores of the same inputs through burn (`Model::users` x items) and the fused CPU encoder
/// differ by float summation order only: measured 3.8e-6 on MovieLens (all 1,682 products) and
/// 3.0e-7 on the file-input log (printed by the tests).
const SCORE_TOLERANCE: f32 = 1e-5;

/// The model files of `dir` as bytes: the manifest and the files it lists (the shipped model's
/// vocabulary is `vocab.txt`, a full export's `tokenizer.json`).
fn files(dir: &Path) -> [Vec<u8>; 3] {
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()));
    let manifest = read("manifest.json");
    let m = localrank::manifest::Manifest::parse(&manifest).expect("manifest parses");
    let path = |role: &str| m.file(role).expect("listed").path.clone();
    let (weights, tokenizer) = (read(&path("weights")), read(&path("tokenizer")));
    [manifest, weights, tokenizer]
}

fn ranker(f: &[Vec<u8>; 3]) -> Ranker {
    let files = ModelFiles { manifest: &f[0], weights: &f[1], tokenizer: &f[2] };
    Ranker::load(files, localrank::runtime::cpu_device(), None).expect("model loads")
}

/// The event as `js/input.js` writes it, with what a browser adds: a dwell time on every
/// event, and (`extras`: the MovieLens model, trained on clicks only) an add-to-cart every
/// fifth event.
fn event_json(data: &Data, e: &Interaction, n: usize, extras: bool) -> Vec<u8> {
    let p = &data.products[e.item];
    let kind = EventKind::NAMES[e.kind as usize - 1];
    let kind = if extras && n % 5 == 4 { "add_to_cart" } else { kind };
    serde_json::to_vec(&serde_json::json!({
        "event": kind, "id": p.id, "title": p.title, "category": p.category(),
        "timestamp": ((e.time + SHIFT_S) * 1000) as f64, "dwellMs": (n % 7) as f64 * 9_000.0,
    }))
    .unwrap()
}

/// The request's context as `js/input.js` writes it: hour and weekday of the request's time in
/// UTC (as `getUTCHours`/`getUTCDay` give them; `tests/browser/clock.test.mjs` checks that
/// side), and the device, page type and promotion of the page the shopper is on (the log's
/// fields of their newest event); with `extras` (a log without them) what the demo sends instead.
fn context_json(case: &Case, extras: bool) -> Vec<u8> {
    let target = &case.target;
    let (hour, weekday) = utc_hour_weekday(target.time + SHIFT_S);
    let [device, page, promotion] = case.history.last().map_or([0; 3], |e| e.context).map(usize::from);
    let name = |vocab: &[&str], i: usize, extra: &str| match i {
        0 if extras => serde_json::json!(extra),
        0 => serde_json::Value::Null,
        i => serde_json::json!(vocab[i - 1]),
    };
    let promotion = match promotion {
        0 if extras => serde_json::json!(false),
        0 => serde_json::Value::Null,
        p => serde_json::json!(p == 2),
    };
    serde_json::to_vec(&serde_json::json!({
        "timestamp": ((target.time + SHIFT_S) * 1000) as f64, "hour": hour, "weekday": weekday,
        "device": name(&DEVICES, device, "mobile"), "pageType": name(&PAGE_TYPES, page, "home"),
        "category": if extras { serde_json::json!("Comedy") } else { serde_json::Value::Null },
        "promotion": promotion, "query": if extras { serde_json::json!("star wars") } else { serde_json::Value::Null },
    }))
    .unwrap()
}

/// What training feeds the model for `case`, padding stripped: the same shape as
/// `Ranker::model_inputs`.
fn training_inputs(p: &Prepared, items: &ItemInputs, case: &Case) -> EncodedSession {
    let batch = case_batch(&[case], items, &p.config, &Device::flex());
    let [_, l, t] = batch.tokens.dims();
    let event = ints(batch.event);
    let pad = event.iter().take_while(|&&e| e == 0).count();
    let context = ints(batch.context.narrow(1, l - 1, 1));
    EncodedSession {
        tokens: ints(batch.tokens)[pad * t..].to_vec(),
        event: event[pad..].to_vec(),
        category: ints(batch.category)[pad..].to_vec(),
        dwell: ints(batch.dwell)[pad..].to_vec(),
        context: <[i64; CONTEXT_FIELDS]>::try_from(context).unwrap(),
        query: ints(batch.query.narrow(1, l - 1, 1)),
    }
}

fn ints<const D: usize>(t: Tensor<D, Int>) -> Vec<i64> {
    t.into_data().convert::<i64>().try_into_vec::<i64>().unwrap()
}

/// Every `step`-th test case of `p` (history before the test period's events).
fn sample_cases(p: &Prepared, step: usize) -> Vec<Case> {
    cases(&p.users, p.split.test_from, i64::MAX, p.config.max_session).into_iter().step_by(step).collect()
}

/// Feeds `cases` through both sides; returns the largest score difference.
fn compare(p: &Prepared, model_dir: &Path, cases: &[Case]) -> f32 {
    let f = files(model_dir);
    let mut ranker = ranker(&f);
    let manifest = ranker.manifest().clone();
    let model = localrank::quant::load(&manifest.config, &manifest.categories, &f[1], &Device::flex()).unwrap();
    let items: Vec<Item> = p
        .data
        .products
        .iter()
        .map(|d| Item { id: d.id.clone(), title: d.title.clone(), category: d.category(), popularity: None })
        .collect();
    // Training's path with the model's own vocabulary file: the compact model numbers the same
    // tokens in another order (`localrank-train compact` checks the ids on every catalogue text).
    let text = TextEncoder::from_bytes(&f[2], p.config.text_buckets, p.config.max_tokens).unwrap();
    let encoded = ItemInputs::new(&p.data, &text);
    let trained = case_scores(&model, &p.config, &encoded, cases, &Device::flex());
    let mut worst = 0f32;
    for (case, trained) in cases.iter().zip(trained) {
        ranker.clear();
        for (n, e) in case.history.iter().enumerate() {
            let event = parse_event(&event_json(&p.data, e, n, p.origin.example), 0.0).unwrap();
            ranker.observe(event).unwrap();
        }
        let ctx: Context = parse_context(&context_json(case, p.origin.example)).unwrap();
        let runtime = ranker.model_inputs(&ctx).unwrap();
        let window = &case.history[case.history.len().saturating_sub(p.config.max_session)..];
        assert_eq!(runtime.event.len(), window.len());
        assert_eq!(runtime, training_inputs(p, &encoded, case), "model inputs differ (user {}, target time {})", case.target.user, case.target.time);
        let scores = ranker.model_scores(&items, &ctx).unwrap();
        for (a, b) in scores.iter().zip(&trained) {
            worst = worst.max((a - b).abs());
        }
        assert_same_rerank(&ranker, &items, &ctx, &encoded, case, &trained);
    }
    worst
}

/// The browser's rerank of the first 100 products (the manifest's blend and `adaptation`)
/// orders them as the evaluation does from training's scores (`eval::Adapting`, the same
/// category keys and window): one definition of the on-device adaptation on both sides.
fn assert_same_rerank(ranker: &Ranker, items: &[Item], ctx: &Context, encoded: &ItemInputs, case: &Case, trained: &[f32]) {
    let n = items.len().min(100);
    let options = ranker.default_options();
    let got: Vec<String> = ranker.rerank(&items[..n], ctx, options.clone()).unwrap().into_iter().map(|r| r.id).collect();
    let window = ranker.manifest().config.max_session;
    let adapting = Adapting { category: &encoded.category, window, weight: ranker.manifest().adaptation.unwrap_or(0.0) };
    let cands: Vec<usize> = (0..n).collect();
    let mut list: Vec<ListItem> = items[..n].iter().map(ListItem::from).collect();
    for (item, a) in list.iter_mut().zip(adapting.affinities(&case.history, &cands)) {
        item.affinity = a;
    }
    let expected: Vec<String> = localrank::rerank::order(&list, Some(&trained[..n]), &options).into_iter().map(|r| r.id).collect();
    // Scores agree to SCORE_TOLERANCE, so only near-ties could swap: compare the top 10.
    assert_eq!(got[..10], expected[..10], "rerank differs (user {}, target time {})", case.target.user, case.target.time);
}

#[test]
fn movielens_histories_reach_the_model_as_training_fed_them() {
    let p = prepare::prepare(None, None, Some(crate::data::movielens::DEFAULT_TIE_SEED)).unwrap();
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models");
    let cases = sample_cases(&p, 97);
    assert!(cases.len() >= 80, "{} cases", cases.len());
    let worst = compare(&p, &models, &cases);
    println!("movielens: {} test cases, all {} products scored: largest score difference {worst:e}", cases.len(), p.data.products.len());
    assert!(worst < SCORE_TOLERANCE, "scores differ by {worst}");
}

/// A file-input log with context columns (device, page type, promotion, several event kinds),
/// made from real MovieLens histories, through `localrank-train`'s own reader; the model is a
/// freshly initialised student exported as `all` exports it (random rows: any skew shows).
#[test]
fn file_input_with_context_columns_reaches_the_model_as_training_fed_it() {
    let root = std::env::temp_dir().join(format!("localrank-parity-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let input = write_context_log(&root);
    let p = prepare::prepare(Some(&input), None, Some(crate::data::movielens::DEFAULT_TIE_SEED)).unwrap();
    let kinds: std::collections::BTreeSet<u8> = p.data.events.iter().map(|e| e.kind).collect();
    let contexts: std::collections::BTreeSet<[u8; 3]> = p.data.events.iter().map(|e| e.context).collect();
    assert!(kinds.len() >= 3 && contexts.len() >= 10, "kinds {kinds:?}, {} contexts", contexts.len());
    let dir = root.join("models");
    let model = p.config.init(&Device::flex());
    let (q8, _) = localrank::quant::quantize(model);
    let inputs = dataset::trained_inputs(&p.train_windows, &p.items);
    let popular: Vec<usize> = (0..p.data.products.len()).collect();
    crate::export::model_dir::export(&dir, "parity", &q8, &p.config, &p.data, &p.tokenizer, &popular, inputs, 1.0, 2.0, serde_json::Value::Null).unwrap();
    let cases = sample_cases(&p, 7);
    assert!(cases.len() >= 50, "{} cases", cases.len());
    let worst = compare(&p, &dir, &cases);
    println!("file input: {} test cases: largest score difference {worst:e}", cases.len());
    assert!(worst < SCORE_TOLERANCE, "scores differ by {worst}");
    std::fs::remove_dir_all(&root).ok();
}

/// events.csv and catalogue.csv from the first 60 MovieLens users: each event gets a kind,
/// device, page type and promotion from its position (every value of each vocabulary occurs).
fn write_context_log(dir: &Path) -> crate::cli::Input {
    let src = crate::data::fetch::sources().unwrap();
    let data = crate::data::movielens::load(&src.inter, &src.item, Some(crate::data::movielens::DEFAULT_TIE_SEED)).unwrap();
    let mut catalogue = String::from("item_id,title,category\n");
    for p in &data.products {
        catalogue += &format!("{},\"{}\",\"{}\"\n", p.id, p.title.replace('"', "\"\""), p.category());
    }
    let mut events = String::from("user_id,item_id,event,timestamp,device,page_type,promotion\n");
    let kinds = ["view_item", "view_item", "select_item", "add_to_cart", "purchase"];
    for (n, e) in data.events.iter().filter(|e| e.user < 60).enumerate() {
        let device = ["desktop", "mobile", "tablet", ""][n % 4];
        let page = ["home", "search", "category", "product", "cart", "checkout", ""][n % 7];
        let promotion = ["true", "false", ""][n % 3];
        events += &format!("u{},{},{},{},{device},{page},{promotion}\n", e.user, data.products[e.item].id, kinds[n % 5], e.time);
    }
    let (events_path, catalogue_path) = (dir.join("events.csv"), dir.join("catalogue.csv"));
    std::fs::write(&events_path, events).unwrap();
    std::fs::write(&catalogue_path, catalogue).unwrap();
    crate::cli::Input { events: events_path, catalogue: catalogue_path }
}
