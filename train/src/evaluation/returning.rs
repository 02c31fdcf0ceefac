//! Returning shoppers (issue 21): what a model gains when the shopper's device keeps their
//! earlier visits (`remember` in js/localrank.js) instead of the current session alone. The same
//! test requests, server candidates, model, blend and metric code; three views of what the model
//! reads before each request:
//!
//! * `session-only`: the current session's earlier events (the library without `remember`);
//! * `device-history`: what a device with `remember: { days, maxEvents }` holds: the user's
//!   events of the last `days` before the request, at most the newest `maxEvents`, this session
//!   included;
//! * `full-history`: every earlier event of the user, as a server that logs everything holds.
//!
//! The model reads the newest `max_session` (50) events of whichever view. Assumed: one device
//! per shopper, remembering since the shopper's first event. Shoppers on several devices, or who
//! clear their storage, sit between `session-only` and `device-history`.

use burn::prelude::*;

use crate::cli::Settings;
use crate::data::dataset::Case;
use crate::data::movielens::{Data, Interaction};
use crate::data::protocol::{self, Request, Stats};
use crate::evaluation::ablations::instacart_study;
use crate::evaluation::adapt;
use crate::evaluation::choices::{self, best};
use crate::evaluation::eval::{self, Bench, Row, Scorer};
use crate::evaluation::intervals::{self, Difference};
use crate::export::{model_dir, report};
use crate::models::trainer::{self, TrainConfig};
use crate::pipeline::prepare::prepare;
use crate::pipeline::train::{softmax, train_config};

/// What the browser keeps with `remember: true` (js/device-store.js defaults).
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Remember {
    pub days: i64,
    pub max_events: usize,
}

pub const REMEMBER: Remember = Remember { days: 30, max_events: 500 };

/// The three histories, in the order of the block's rows.
#[derive(Clone, Copy, Debug)]
pub enum View {
    Session,
    Device(Remember),
    Full,
}

impl View {
    pub fn name(self) -> &'static str {
        match self {
            View::Session => "session-only",
            View::Device(_) => "device-history",
            View::Full => "full-history",
        }
    }
}

pub const VIEWS: [View; 3] = [View::Session, View::Device(REMEMBER), View::Full];

/// What the model may read before `r` under `view` (oldest first). As the library: a visit
/// with no event yet keeps the server order whatever is remembered (js/device-store.js
/// `visitBegun`; `cold_visits` measures why), so both longer views are empty where the session is.
pub fn history(r: &Request, view: View) -> Vec<Interaction> {
    if r.session.is_empty() {
        return Vec::new();
    }
    remembered(r, view)
}

/// `history` without the cold-visit rule.
fn remembered(r: &Request, view: View) -> Vec<Interaction> {
    let earlier = r.server_history.iter().chain(&r.session);
    match view {
        View::Session => r.session.clone(),
        View::Full => earlier.copied().collect(),
        View::Device(m) => {
            // The store drops events older than `days` and all but the newest `max_events` on
            // every write (js/device-store.js), so at the request it holds exactly these.
            let since = r.target.time - m.days * 86_400;
            let kept: Vec<Interaction> = earlier.filter(|e| e.time >= since).copied().collect();
            kept[kept.len().saturating_sub(m.max_events)..].to_vec()
        }
    }
}

/// Why a visit without an event keeps the server order: on the requests whose session is empty,
/// the model reading the device-held history alone against the server order (what the library
/// shows there), paired, 95% interval over users.
pub fn cold_visits(data: &Data, stats: &Stats, requests: &[Request], repeats: bool, scorer: &Scorer) -> serde_json::Value {
    let cold: Vec<Request> = requests.iter().filter(|r| r.session.is_empty()).cloned().collect();
    if cold.is_empty() {
        return serde_json::json!({"requests": 0});
    }
    eprintln!("returning: {} requests without a current session", cold.len());
    let server = Bench::new(data, stats, &cold, repeats).row("server order (the library on arrival)", &Scorer::Server);
    let read: Vec<Request> = cold.iter().map(|r| Request { session: remembered(r, View::Device(REMEMBER)), ..r.clone() }).collect();
    let model = Bench::new(data, stats, &read, repeats).row("device-held history alone", scorer);
    let users: Vec<u32> = cold.iter().map(|r| r.target.user).collect();
    serde_json::json!({
        "requests": cold.len(),
        "rows": [{"model": server.model, "ndcg@10": server.list.ndcg10}, {"model": model.model, "ndcg@10": model.list.ndcg10}],
        "difference": intervals::difference(&users, (&model.model, &model.gains), (&server.model, &server.gains)),
    })
}

/// `requests` with `session` replaced by what `view` lets the device read. The server's
/// candidates depend on `server_history` only, so every view reranks the same lists; a request
/// whose view is empty keeps the server order, as the library does.
pub fn viewed(requests: &[Request], view: View) -> Vec<Request> {
    requests.iter().map(|r| Request { session: history(r, view), ..r.clone() }).collect()
}

/// One row per view for `scorer`, named by the view. `session`: the scorer's row on `requests`
/// as they are, if the caller has it (it is the session-only row: `all`'s "student-q8 shipped").
pub fn rows(data: &Data, stats: &Stats, requests: &[Request], repeats: bool, scorer: &Scorer, session: Option<&Row>) -> Vec<Row> {
    VIEWS
        .iter()
        .map(|&view| match (view, session) {
            (View::Session, Some(row)) => Row { model: view.name().into(), ..row.clone() },
            _ => {
                eprintln!("returning: {}", view.name());
                let requests = viewed(requests, view);
                Bench::new(data, stats, &requests, repeats).row(view.name(), scorer)
            }
        })
        .collect()
}

/// The rows of several seeds (each from `rows`) averaged per view.
pub fn mean_rows(per_seed: Vec<Vec<Row>>, users: &[u32]) -> Vec<Row> {
    (0..VIEWS.len())
        .map(|k| eval::mean_row(VIEWS[k].name(), per_seed.iter().map(|rows| rows[k].clone()).collect(), users))
        .collect()
}

/// How much each view reads: requests with anything before their session in the view, and the
/// mean number of events the model reads (the newest `window`).
fn reach(requests: &[Request], window: usize) -> serde_json::Value {
    let n = requests.len().max(1) as f64;
    let per_view: serde_json::Map<String, serde_json::Value> = VIEWS
        .iter()
        .map(|&v| {
            let lens: Vec<usize> = requests.iter().map(|r| history(r, v).len()).collect();
            let earlier = requests.iter().zip(&lens).filter(|(r, l)| **l > r.session.len()).count();
            let read = lens.iter().map(|&l| l.min(window)).sum::<usize>() as f64 / n;
            (v.name().to_string(), serde_json::json!({"requests_with_earlier_events": earlier, "mean_events_read": read}))
        })
        .collect();
    serde_json::Value::Object(per_view)
}

/// The `returning` block (or one data set's part of it) for `rows` (from `rows`/`mean_rows`)
/// over `requests`.
pub fn block(model: &str, rows: &[Row], requests: &[Request], window: usize) -> serde_json::Value {
    let users: &[u32] = &requests.iter().map(|r| r.target.user).collect::<Vec<_>>();
    let [session, device, full] = [&rows[0], &rows[1], &rows[2]];
    let d = |a: &Row, b: &Row| intervals::difference(users, (&a.model, &a.gains), (&b.model, &b.gains));
    let differences: Vec<Difference> = vec![d(device, session), d(full, session), d(full, device)];
    let closed = intervals::gap_closed(users, &session.gains, &device.gains, &full.gains);
    let slim: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::json!({"model": r.model, "ndcg@10": r.list.ndcg10, "hr@10": r.list.hr10, "ndcg@10_ci": r.ndcg10_ci,
                                    "mrr@10": r.list.mrr10, "seeds": r.seeds, "cases": r.list.cases}))
        .collect();
    serde_json::json!({
        "model": model,
        "remember": REMEMBER,
        "requests": requests.len(),
        "reach": reach(requests, window),
        "rows": slim,
        "differences": differences,
        "gap_closed": closed.map(|c| c.0),
        "gap_closed_ci": closed.map(|c| c.1),
    })
}

/// EVALUATION.md's section for a `returning` block (its `instacart` part included, if any).
pub fn section(block: &serde_json::Value) -> String {
    let mut md = String::from(
        "## Returning shoppers\n\nThe same model and candidate lists, reading the current session only, what \
         `remember` keeps on the device, or every earlier event (`localrank-train returning`; `all` \
         redoes the MovieLens part). Intervals 95%, bootstrap over users.\n\n### MovieLens-100k\n\n",
    );
    md += &part(block);
    let instacart = &block["instacart"];
    if instacart.is_object() {
        let chosen: Vec<String> = instacart["personalization"].as_array().into_iter().flatten().map(|c| format!("{}", c["personalization"])).collect();
        md += &format!("\n### Instacart sample\n\nBlends chosen on validation, per seed: {}.\n\n{}", chosen.join(", "), part(instacart));
        if instacart["model_alone"].is_object() {
            md += &format!("\n#### The model alone\n\n{}", part(&instacart["model_alone"]));
        }
    }
    md
}

/// One data set's table, differences and share of the gap closed.
fn part(b: &serde_json::Value) -> String {
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    let mut md = format!(
        "{}; `remember: {{ days: {}, maxEvents: {} }}`; {} test requests.\n\n\
         | history the model reads | NDCG@10 | 95% interval | HR@10 | MRR@10 | mean events read |\n|---|---:|---:|---:|---:|---:|\n",
        b["model"].as_str().unwrap_or("?"),
        b["remember"]["days"],
        b["remember"]["max_events"],
        b["requests"]
    );
    for r in b["rows"].as_array().into_iter().flatten() {
        let name = r["model"].as_str().unwrap_or("?");
        let (ci, read) = (&r["ndcg@10_ci"], f(&b["reach"][name]["mean_events_read"]));
        md += &format!("| {name} | {:.4} | {:.4}–{:.4} | {:.4} | {:.4} | {read:.1} |\n", f(&r["ndcg@10"]), f(&ci[0]), f(&ci[1]), f(&r["hr@10"]), f(&r["mrr@10"]));
    }
    md += "\n";
    for x in b["differences"].as_array().into_iter().flatten() {
        let ci = &x["ndcg@10_ci"];
        md += &format!("- {} − {}: {:+.4} ({:+.4} to {:+.4})\n", x["a"].as_str().unwrap_or("?"), x["b"].as_str().unwrap_or("?"), f(&x["ndcg@10"]), f(&ci[0]), f(&ci[1]));
    }
    md += &match (b["gap_closed"].as_f64(), &b["gap_closed_ci"]) {
        (Some(share), ci) => format!(
            "- share of the session-to-full-history gap that the device-held history closes: {:.0}% ({:.0}% to {:.0}%)\n",
            100.0 * share, 100.0 * f(&ci[0]), 100.0 * f(&ci[1])
        ),
        (None, _) => "- full history is not above the session alone here (interval of the difference not above 0): no gain for the device to close\n".to_string(),
    };
    if let Some(d) = b["cold_visits"]["difference"].as_object() {
        let f = |k: &str| d[k].as_f64().unwrap_or(f64::NAN);
        let ci = &d["ndcg@10_ci"];
        md += &format!(
            "- why a visit without an event keeps the server order: on the {} requests without a current session the model reading the device-held history alone scores {:+.4} ({:+.4} to {:+.4}) against the server order\n",
            b["cold_visits"]["requests"], f("ndcg@10"), ci[0].as_f64().unwrap_or(f64::NAN), ci[1].as_f64().unwrap_or(f64::NAN)
        );
    }
    if b["adaptation"].is_object() {
        md += &adaptation_md(&b["adaptation"]);
    }
    md
}

/// The adjustment's lines: the weight validation chose, the test difference, the cost.
fn adaptation_md(a: &serde_json::Value) -> String {
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    let tried: Vec<String> = a["validation"].as_array().into_iter().flatten().map(|t| format!("{}: {:.4}", t["setting"], f(&t["ndcg@10"]))).collect();
    let (d, ds, g) = (&a["difference"], &a["difference_session_only"], &a["validation_gain"]);
    format!(
        "- on-device adjustment ({}) at blend {}: validation NDCG@10 by weight {}; the best over 0 on validation {:+.4} ({:+.4} to {:+.4}); chosen {}; on test {:+.4} ({:+.4} to {:+.4}) over the device-held history without it, {:+.4} ({:+.4} to {:+.4}) over the session alone without it; {}; cost {:.4} ms per update, {:.4} ms per rerank of 100 candidates (native)\n",
        a["adjustment"].as_str().unwrap_or("?"), a["blend"], tried.join(", "), f(&g["ndcg@10"]), f(&g["ndcg@10_ci"][0]), f(&g["ndcg@10_ci"][1]), a["weight"], f(&d["ndcg@10"]), f(&d["ndcg@10_ci"][0]), f(&d["ndcg@10_ci"][1]),
        f(&ds["ndcg@10"]), f(&ds["ndcg@10_ci"][0]), f(&ds["ndcg@10_ci"][1]),
        if a["kept"].as_bool() == Some(true) { "kept" } else { "not kept" }, f(&a["cost_ms"]["update"]), f(&a["cost_ms"]["rerank_100_candidates_50_events"])
    )
}

/// `localrank-train returning`: the block for the model exported in OUT (the MovieLens example's,
/// read as the browser reads it) and, under `instacart`, for the student trained on the
/// Instacart sample (the settings' seeds and epochs); merged into OUT/evaluation.json, and a
/// section of EVALUATION.md.
pub fn run(s: &Settings) -> Result<(), String> {
    let mut json = exported_model(s)?;
    json["instacart"] = instacart(s)?;
    report::set_evaluation_block(&s.out, "returning", json.clone())?;
    let section = section(&json);
    report::replace_section(&s.out.join("..").join("EVALUATION.md"), "## Returning shoppers", &section)?;
    println!("{section}");
    Ok(())
}

/// MovieLens: the exported model at its manifest's blend, on the tables' test requests.
fn exported_model(s: &Settings) -> Result<serde_json::Value, String> {
    let dir = model_dir::read_dir(&s.out)?;
    let p = prepare(None, None, Some(s.order_seed))?;
    let (model, items, config) = (dir.load(&dir.weights)?, dir.items(&p.data)?, &dir.manifest.config);
    let flex = Device::flex();
    let scores = |cs: &[Case]| trainer::case_scores(&model, config, &items, cs, &flex);
    let scorer = Scorer::Model { scores: &scores, personalization: dir.personalization(), long_tail: 0.0 };
    let stats = Stats::fit(&p.users, p.data.products.len(), p.split.test_from);
    let requests = protocol::sample_users(protocol::requests(&p.users, p.split.test_from), protocol::MAX_REQUESTS);
    // The example is evaluated without repeat candidates (`all`'s default), as its tables are.
    let rows = rows(&p.data, &stats, &requests, false, &scorer, None);
    // The directory's own name, not its path: the block is committed with the model.
    let dir_name = s.out.canonicalize().ok().and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())).unwrap_or_default();
    let name = format!("student-q8 shipped ({}@{}, {dir_name}/)", dir.manifest.name, dir.manifest.version);
    let mut json = block(&name, &rows, &requests, config.max_session);
    json["cold_visits"] = cold_visits(&p.data, &stats, &requests, false, &scorer);
    let (valid_stats, valid) = choices::validation(&p);
    json["adaptation"] = adapt::measure(&adapt::Study {
        data: &p.data, scores: &scores, category: &items.category, window: config.max_session, blend: dir.personalization(), repeats: false,
        valid: (&valid_stats, &valid), test: (&stats, &requests),
    });
    json["adaptation"]["manifest"] = dir.manifest.adaptation.into();
    Ok(json)
}

/// The Instacart sample: the student (hour/weekday context, the settings' epochs) trained once
/// per seed on the orders before each user's last, scored on the last orders (the basket so far
/// as the session) at two blends: the one its own validation chose (each user's second-last
/// order, as `all` chooses the shipped blend: what a store would ship) and the model alone
/// (blend 1: what the longer history gives the model, whatever the server order is worth).
fn instacart(s: &Settings) -> Result<serde_json::Value, String> {
    let st = instacart_study()?;
    let n = st.orders.data.products.len();
    let sm = &softmax(s, n, &st.windows);
    let stats = Stats::fit(&st.before, n, i64::MAX);
    let users: Vec<u32> = st.requests.iter().map(|r| r.target.user).collect();
    let flex = Device::flex();
    let valid_stats = Stats::fit(&st.train_seqs, n, i64::MAX);
    let (mut adaptation, mut adaptation_alone, mut cold, mut blends) = (serde_json::Value::Null, serde_json::Value::Null, serde_json::Value::Null, Vec::new());
    let (mut validated, mut alone) = (Vec::new(), Vec::new());
    for k in 0..s.seeds.max(1) as u64 {
        let tc = TrainConfig { seed: s.seed + k, ..train_config(s) };
        eprintln!("returning: instacart student, seed {}", tc.seed);
        let (model, _) = trainer::train(&st.config, &tc, &st.items, &st.windows, &st.valid, None, None, sm);
        let scores = |cs: &[Case]| trainer::case_scores(&model, &st.config, &st.items, cs, &flex);
        // Instacart's lists may repeat earlier purchases (the context ablation's candidates).
        let valid = Bench::new(&st.orders.data, &valid_stats, &st.valid_requests, true);
        let tried = choices::blend_sweep(&valid, &scores);
        let blend = best(&tried) as f32;
        eprintln!("returning: seed {}: validation chose personalization {blend}", tc.seed);
        blends.push(serde_json::json!({"seed": tc.seed, "personalization": blend, "validation": tried}));
        let at = |personalization| Scorer::Model { scores: &scores, personalization, long_tail: 0.0 };
        if k == 0 {
            cold = cold_visits(&st.orders.data, &stats, &st.requests, true, &at(1.0));
            // The adjustment on the first seed's student (its categories are the products:
            // the biases favour what the shopper bought before), at both blends.
            let study = |blend| adapt::Study {
                data: &st.orders.data, scores: &scores, category: &st.items.category, window: st.config.max_session, blend, repeats: true,
                valid: (&valid_stats, &st.valid_requests), test: (&stats, &st.requests),
            };
            adaptation = adapt::measure(&study(blend));
            adaptation_alone = adapt::measure(&study(1.0));
        }
        validated.push(rows(&st.orders.data, &stats, &st.requests, true, &at(blend), None));
        alone.push(rows(&st.orders.data, &stats, &st.requests, true, &at(1.0), None));
    }
    let what = format!("student trained on the Instacart sample ({} seeds x {} epochs, from seed {})", s.seeds.max(1), s.epochs, s.seed);
    let mut json = block(&format!("{what}, each at the blend its validation chose"), &mean_rows(validated, &users), &st.requests, st.config.max_session);
    json["personalization"] = blends.into();
    json["adaptation"] = adaptation;
    let mut model_alone = block(&format!("{what}, the model alone (blend 1)"), &mean_rows(alone, &users), &st.requests, st.config.max_session);
    model_alone["adaptation"] = adaptation_alone;
    model_alone["cold_visits"] = cold;
    json["model_alone"] = model_alone;
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(item: usize, time: i64) -> Interaction {
        Interaction { user: 0, kind: 2, context: [0; 3], item, time }
    }

    #[test]
    fn each_view_reads_what_its_holder_would_have() {
        let day = 86_400;
        let r = Request {
            server_history: vec![ev(1, 0), ev(2, 10 * day), ev(3, 50 * day), ev(4, 55 * day)],
            session: vec![ev(5, 60 * day), ev(6, 60 * day + 60)],
            target: ev(7, 60 * day + 120),
        };
        let items = |v: Vec<Interaction>| v.iter().map(|e| e.item).collect::<Vec<_>>();
        assert_eq!(items(history(&r, View::Session)), [5, 6]);
        assert_eq!(items(history(&r, View::Full)), [1, 2, 3, 4, 5, 6]);
        // 30 days before the request: items 1 and 2 have expired.
        assert_eq!(items(history(&r, View::Device(REMEMBER))), [3, 4, 5, 6]);
        // The newest `max_events`, the session's included.
        assert_eq!(items(history(&r, View::Device(Remember { days: 365, max_events: 3 }))), [4, 5, 6]);
        let v = viewed(std::slice::from_ref(&r), View::Full);
        assert_eq!((v[0].server_history.len(), v[0].target.item), (4, 7), "only the session changes");
        // A visit without an event yet: the server order, whatever is remembered.
        let arrival = Request { session: vec![], ..r.clone() };
        assert!(VIEWS.iter().all(|&v| history(&arrival, v).is_empty()));
        assert_eq!(items(remembered(&arrival, View::Device(REMEMBER))), [3, 4]);
    }
}
