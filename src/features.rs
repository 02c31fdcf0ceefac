//! Shopper events and page context -> the integer inputs of the model.
//!
//! Pure Rust, so it is unit-tested natively; only `Batch`/`Candidates` touch burn tensors.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::model::attention_mask;
use crate::text::cap_text;

/// Number of page-context fields the model reads (see `model::CONTEXT_SIZES`).
pub const CONTEXT_FIELDS: usize = 6;

/// Shopper events, named as GA4 e-commerce names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    ViewItem,
    SelectItem,
    AddToCart,
    Purchase,
    Search,
}

impl EventKind {
    pub const NAMES: [&'static str; 5] =
        ["view_item", "select_item", "add_to_cart", "purchase", "search"];
    const ALL: [EventKind; 5] = [
        Self::ViewItem,
        Self::SelectItem,
        Self::AddToCart,
        Self::Purchase,
        Self::Search,
    ];

    pub fn parse(name: &str) -> Result<Self, Error> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self::ALL[i])
            .ok_or_else(|| {
                Error::input(format!(
                    "event: unknown event type {name:?} (expected one of {})",
                    Self::NAMES.join(", ")
                ))
            })
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Model index; 0 is padding.
    pub fn index(self) -> i64 {
        self as i64 + 1
    }
}

/// One shopper event kept in the on-device session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub kind: EventKind,
    pub item_id: Option<String>,
    pub title: String,
    pub category: String,
    pub price: Option<f64>,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: f64,
    pub dwell_ms: Option<f64>,
    pub query: Option<String>,
}

impl Event {
    /// Text the model reads for this event: the item's title and category, or the search query.
    pub fn text(&self) -> String {
        let mut text = String::new();
        self.write_text(&mut text);
        text
    }

    /// `text` into `buf` (cleared first), at most `text::MAX_TEXT_BYTES` of the query.
    pub fn write_text(&self, buf: &mut String) {
        match (self.kind, &self.query) {
            (EventKind::Search, Some(q)) => {
                buf.clear();
                buf.push_str(cap_text(q));
            }
            _ => write_item_text(buf, &self.title, &self.category),
        }
    }
}

/// A candidate product as the server sent it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub id: String,
    pub title: String,
    pub category: String,
    /// The server's popularity figure (sales, views...), used only by the long-tail option.
    #[serde(default)]
    pub popularity: Option<f32>,
}

/// The page the shopper is on. Every field is optional; unknown fields read as "unknown".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// 0..=23, UTC (`TrainedInputs::clock`: the clock of the training logs' timestamps).
    pub hour: Option<u32>,
    /// 0 = Sunday .. 6 = Saturday, UTC.
    pub weekday: Option<u32>,
    pub device: Option<String>,
    pub page_type: Option<String>,
    pub category: Option<String>,
    pub promotion: Option<bool>,
    pub query: Option<String>,
}

pub const DEVICES: [&str; 3] = ["desktop", "mobile", "tablet"];
pub const PAGE_TYPES: [&str; 6] = ["home", "search", "category", "product", "cart", "checkout"];

/// The text of a product: title then category, the same in training and in the browser.
pub fn item_text(title: &str, category: &str) -> String {
    let mut text = String::with_capacity(title.len() + 1 + category.len());
    write_item_text(&mut text, title, category);
    text
}

/// `item_text` into `buf` (cleared first): one buffer for a whole candidate list. Title and
/// category are each cut to `text::MAX_TEXT_BYTES`, which the tokeniser reads of the whole text
/// anyway (`cap_text` of the result is the same), so a 2 MB title is never copied.
pub fn write_item_text(buf: &mut String, title: &str, category: &str) {
    buf.clear();
    buf.push_str(cap_text(title));
    buf.push(' ');
    buf.push_str(cap_text(category));
}

/// The segments of a category path ("Action / Thriller", "Movies > Action"), trimmed, empty ones
/// dropped.
pub fn category_path(category: &str) -> impl Iterator<Item = &str> {
    category.split(['/', '>', '|', ',']).map(str::trim).filter(|c| !c.is_empty())
}

/// Index of a category in the model's vocabulary (first segment of a path such as
/// "Action / Thriller" or "Movies > Action"); 0 when unknown.
/// Reads at most `text::MAX_TEXT_BYTES` of `category`.
pub fn category_index(vocab: &[String], category: &str) -> i64 {
    let head = category_path(cap_text(category)).next().unwrap_or("");
    vocab
        .iter()
        .position(|c| c.eq_ignore_ascii_case(head))
        .map_or(0, |i| i as i64 + 1)
}

/// Milliseconds since the Unix epoch, now: the browser's clock in wasm, the system's natively
/// (negative if the clock is set before 1970).
#[cfg(target_arch = "wasm32")]
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// Milliseconds since the Unix epoch, now: the browser's clock in wasm, the system's natively
/// (negative if the clock is set before 1970).
#[cfg(not(target_arch = "wasm32"))]
pub fn now_ms() -> f64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64() * 1e3,
        Err(e) => -e.duration().as_secs_f64() * 1e3,
    }
}

/// Dwell-time bucket: 0 unknown, then <5 s, <30 s, <2 min, longer.
pub fn dwell_bucket(dwell_ms: Option<f64>) -> i64 {
    match dwell_ms {
        None => 0,
        Some(ms) if ms < 5_000.0 => 1,
        Some(ms) if ms < 30_000.0 => 2,
        Some(ms) if ms < 120_000.0 => 3,
        Some(_) => 4,
    }
}

fn vocab_index(vocab: &[&str], value: Option<&str>) -> i64 {
    value
        .and_then(|v| vocab.iter().position(|x| x.eq_ignore_ascii_case(v)))
        .map_or(0, |i| i as i64 + 1)
}

/// Context fields as model indices, in the order of `model::CONTEXT_SIZES`.
pub fn context_indices(ctx: &Context, categories: &[String]) -> [i64; CONTEXT_FIELDS] {
    [
        ctx.hour.map_or(0, |h| h as i64 % 24 + 1),
        ctx.weekday.map_or(0, |d| d as i64 % 7 + 1),
        vocab_index(&DEVICES, ctx.device.as_deref()),
        vocab_index(&PAGE_TYPES, ctx.page_type.as_deref()),
        ctx.category.as_deref().map_or(0, |c| category_index(categories, c)),
        ctx.promotion.map_or(0, |p| if p { 2 } else { 1 }),
    ]
}

/// The input values the model was trained on (manifest `inputs`, collected from the training
/// rows by `localrank-train`). Anything else the page sends is read as the value training used
/// for it, so that no input lands on an embedding row that training never updated: a dwell
/// bucket, context value or query the training data never had reads as "unknown" (0, which
/// training covers: it drops each context field of some requests on purpose), and an event kind
/// it never had reads as the most frequent trained kind (the one "interaction" the model knows,
/// e.g. MovieLens' `select_item`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainedInputs {
    /// `EventKind::index` values, most frequent first.
    pub event: Vec<i64>,
    /// `dwell_bucket` values.
    pub dwell: Vec<i64>,
    /// `context_indices` values per field, in `CONTEXT_NAMES` order; each holds 0.
    pub context: [Vec<i64>; CONTEXT_FIELDS],
    /// Whether requests in training carried a query.
    pub query: bool,
    /// The clock of hour and weekday: always "utc" (training reads log timestamps in UTC, and
    /// the browser fills them with `getUTCHours`/`getUTCDay`).
    pub clock: String,
}

/// The page-context fields, in `context_indices` order, named as in the JS API.
pub const CONTEXT_NAMES: [&str; CONTEXT_FIELDS] = ["hour", "weekday", "device", "pageType", "category", "promotion"];

/// The clock of hour and weekday on both sides.
pub const CLOCK: &str = "utc";

impl TrainedInputs {
    /// The event kind the model reads for `kind`.
    pub fn event(&self, kind: i64) -> i64 {
        match self.event.contains(&kind) {
            true => kind,
            false => self.event.first().copied().unwrap_or(kind),
        }
    }

    /// The dwell bucket the model reads for `bucket`.
    pub fn dwell(&self, bucket: i64) -> i64 {
        if self.dwell.contains(&bucket) { bucket } else { 0 }
    }

    /// The context indices the model reads for `ctx`.
    pub fn context(&self, ctx: [i64; CONTEXT_FIELDS]) -> [i64; CONTEXT_FIELDS] {
        std::array::from_fn(|f| if self.context[f].contains(&ctx[f]) { ctx[f] } else { 0 })
    }

    /// Checks the lists against the model's input sizes (`event_kinds`: kinds 1..=it;
    /// `dwell_buckets`, `context_sizes`: rows per table, 0 included).
    pub fn validate(&self, event_kinds: usize, dwell_buckets: usize, context_sizes: &[usize; CONTEXT_FIELDS]) -> Result<(), Error> {
        let bad = |what: String| Err(Error::model(format!("manifest.json inputs.{what}")));
        if self.clock != CLOCK {
            return bad(format!("clock is {:?}, expected {CLOCK:?}", self.clock));
        }
        if self.event.is_empty() || self.event.iter().any(|&k| !(1..=event_kinds as i64).contains(&k)) {
            return bad(format!("event {:?}: expected event kinds within 1..={event_kinds}, at least one", self.event));
        }
        let lists = std::iter::once(("dwell", &self.dwell, dwell_buckets))
            .chain((0..CONTEXT_FIELDS).map(|f| (CONTEXT_NAMES[f], &self.context[f], context_sizes[f])));
        for (name, values, rows) in lists {
            if !values.contains(&0) || values.iter().any(|&v| !(0..rows as i64).contains(&v)) {
                return bad(format!("{name} {values:?}: expected indices within 0..{rows}, 0 (unknown) included"));
            }
        }
        Ok(())
    }
}

/// Collects `TrainedInputs` from the rows training feeds the model.
#[derive(Default)]
pub struct TrainedInputsBuilder {
    event: std::collections::BTreeMap<i64, u64>,
    dwell: std::collections::BTreeSet<i64>,
    context: [std::collections::BTreeSet<i64>; CONTEXT_FIELDS],
    query: bool,
}

impl TrainedInputsBuilder {
    /// One session position: its event kind and dwell bucket.
    pub fn event(&mut self, kind: i64, dwell: i64) {
        *self.event.entry(kind).or_default() += 1;
        self.dwell.insert(dwell);
    }

    /// The context (and whether a query) of one request.
    pub fn request(&mut self, context: &[i64; CONTEXT_FIELDS], query: bool) {
        for (set, v) in self.context.iter_mut().zip(context) {
            set.insert(*v);
        }
        self.query |= query;
    }

    /// Row 0 of each context table is listed even when no request of a tiny training set had
    /// it dropped (with 50 requests, 1 - (7/8)^50 > 99.8% have): it is where the ranker sends
    /// every value training did not have.
    pub fn finish(mut self) -> TrainedInputs {
        self.dwell.insert(0);
        for set in &mut self.context {
            set.insert(0);
        }
        let mut event: Vec<(i64, u64)> = self.event.into_iter().collect();
        event.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        TrainedInputs {
            event: event.into_iter().map(|(k, _)| k).collect(),
            dwell: self.dwell.into_iter().collect(),
            context: self.context.map(|s| s.into_iter().collect()),
            query: self.query,
            clock: CLOCK.into(),
        }
    }
}

/// Hour of day and weekday (UTC) of a Unix time in seconds: the training data's clock.
pub fn utc_hour_weekday(unix_seconds: i64) -> (u32, u32) {
    let days = unix_seconds.div_euclid(86_400);
    let hour = unix_seconds.rem_euclid(86_400) / 3_600;
    // 1970-01-01 was a Thursday (4).
    let weekday = (days + 4).rem_euclid(7);
    (hour as u32, weekday as u32)
}

/// One session, encoded: `len` events (left-padded), `tokens` tokens each.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedSession {
    pub tokens: Vec<i64>,
    pub event: Vec<i64>,
    pub category: Vec<i64>,
    pub dwell: Vec<i64>,
    pub context: [i64; CONTEXT_FIELDS],
    pub query: Vec<i64>,
}

impl EncodedSession {
    /// Each position's item key (`items::ItemKey`: its tokens, then its category), padding
    /// included, concatenated.
    pub fn item_keys(&self) -> impl Iterator<Item = i64> + '_ {
        let t = self.tokens.len() / self.event.len().max(1);
        self.tokens.chunks_exact(t.max(1)).zip(&self.category).flat_map(|(tokens, &c)| tokens.iter().copied().chain([c]))
    }
}

/// What a session event contributes, already tokenised.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedEvent {
    pub tokens: Vec<i64>,
    pub event: i64,
    pub category: i64,
    pub dwell: i64,
}

impl EncodedSession {
    /// Left-pads (or keeps the newest `len` of) `events`; every token list must already be
    /// `tokens` long.
    pub fn new(
        events: &[EncodedEvent],
        len: usize,
        tokens: usize,
        context: [i64; CONTEXT_FIELDS],
        query: Vec<i64>,
    ) -> Self {
        let kept = &events[events.len().saturating_sub(len)..];
        let pad = len - kept.len();
        let mut s = Self {
            tokens: vec![0; pad * tokens],
            event: vec![0; pad],
            category: vec![0; pad],
            dwell: vec![0; pad],
            context,
            query,
        };
        for e in kept {
            s.tokens.extend_from_slice(&e.tokens);
            s.event.push(e.event);
            s.category.push(e.category);
            s.dwell.push(e.dwell);
        }
        s
    }
}

/// A batch of sessions as tensors.
#[derive(Clone, Debug)]
pub struct Batch {
    pub tokens: Tensor<3, Int>,
    pub event: Tensor<2, Int>,
    pub category: Tensor<2, Int>,
    pub dwell: Tensor<2, Int>,
    /// Context of the request that follows each position: [b, l, CONTEXT_FIELDS].
    pub context: Tensor<3, Int>,
    /// Query tokens of that request: [b, l, t].
    pub query: Tensor<3, Int>,
    /// `model::attention_mask` of `event`: [b, 1, l, l].
    pub mask: Tensor<4, Bool>,
}

pub fn ints<const D: usize>(values: Vec<i64>, shape: [usize; D], device: &Device) -> Tensor<D, Int> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

impl Batch {
    /// Sessions scored for one request each: the request's context applies at every position
    /// (only the last position's output is used at inference).
    pub fn new(sessions: &[EncodedSession], device: &Device) -> Self {
        let b = sessions.len();
        let l = sessions[0].event.len();
        let t = sessions[0].query.len();
        let cat = |f: fn(&EncodedSession) -> &[i64]| sessions.iter().flat_map(f).copied().collect();
        let per_position = |f: fn(&EncodedSession) -> &[i64]| {
            sessions.iter().flat_map(|s| f(s).repeat(l)).collect()
        };
        let events: Vec<i64> = cat(|s| &s.event);
        Self {
            tokens: ints(cat(|s| &s.tokens), [b, l, t], device),
            mask: attention_mask(&events, b, l, device),
            event: ints(events, [b, l], device),
            category: ints(cat(|s| &s.category), [b, l], device),
            dwell: ints(cat(|s| &s.dwell), [b, l], device),
            context: ints(per_position(|s| &s.context), [b, l, CONTEXT_FIELDS], device),
            query: ints(per_position(|s| &s.query), [b, l, t], device),
        }
    }
}

/// Candidate items as tensors: tokens [n, t], category [n].
#[derive(Clone, Debug)]
pub struct Candidates {
    pub tokens: Tensor<2, Int>,
    pub category: Tensor<1, Int>,
}

impl Candidates {
    /// `tokens`: n lists of equal length `t`.
    pub fn new(tokens: &[Vec<i64>], category: Vec<i64>, device: &Device) -> Self {
        let (n, t) = (tokens.len(), tokens.first().map_or(0, Vec::len));
        Self {
            tokens: ints(tokens.concat(), [n, t], device),
            category: ints(category, [n], device),
        }
    }

    /// From item keys (`items::ItemKey`: `t` token ids then the category id, concatenated).
    pub fn from_keys(keys: &[i64], t: usize, device: &Device) -> Self {
        let n = keys.len() / (t + 1);
        let tokens = keys.chunks_exact(t + 1).flat_map(|k| &k[..t]).copied().collect();
        let category = keys.chunks_exact(t + 1).map(|k| k[t]).collect();
        Self { tokens: ints(tokens, [n, t], device), category: ints(category, [n], device) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vec<String> {
        ["Action", "Comedy", "Drama"].map(String::from).to_vec()
    }

    #[test]
    fn event_names_round_trip_and_unknown_is_named() {
        for name in EventKind::NAMES {
            assert_eq!(EventKind::parse(name).unwrap().name(), name);
        }
        let err = EventKind::parse("teleport").unwrap_err().to_string();
        assert!(err.contains("teleport") && err.contains("view_item"), "{err}");
    }

    #[test]
    fn category_uses_first_path_segment_case_insensitively() {
        assert_eq!(category_index(&vocab(), "comedy / Drama"), 2);
        assert_eq!(category_index(&vocab(), "Drama > Indie"), 3);
        assert_eq!(category_index(&vocab(), "Garden"), 0);
    }

    #[test]
    fn context_fields_map_to_indices_with_zero_for_unknown() {
        let ctx = Context {
            hour: Some(23),
            weekday: Some(0),
            device: Some("Mobile".into()),
            page_type: Some("search".into()),
            category: Some("Action".into()),
            promotion: Some(true),
            query: None,
        };
        assert_eq!(context_indices(&ctx, &vocab()), [24, 1, 2, 2, 1, 2]);
        assert_eq!(context_indices(&Context::default(), &vocab()), [0; CONTEXT_FIELDS]);
    }

    /// Trained on clicks at hours 9 and 10 with device unknown or mobile: everything else the
    /// page sends reads as what training had.
    #[test]
    fn untrained_inputs_read_as_training_read_them() {
        let mut b = TrainedInputsBuilder::default();
        for _ in 0..3 {
            b.event(EventKind::SelectItem.index(), 0);
        }
        b.event(EventKind::Purchase.index(), 0);
        b.request(&[10, 4, 2, 0, 0, 0], false);
        b.request(&[11, 0, 0, 0, 0, 0], false);
        let t = b.finish();
        assert_eq!(t.event, vec![2, 4], "most frequent first");
        assert_eq!(t.context[0], vec![0, 10, 11]);
        assert_eq!(t.event(EventKind::AddToCart.index()), 2);
        assert_eq!(t.event(EventKind::Purchase.index()), 4);
        assert_eq!(t.dwell(dwell_bucket(Some(20_000.0))), 0);
        assert_eq!(t.context([10, 4, 2, 1, 3, 2]), [10, 4, 2, 0, 0, 0]);
        assert_eq!(t.context([12, 5, 3, 0, 0, 1]), [0, 0, 0, 0, 0, 0]);
        t.validate(5, 5, &[25, 8, 4, 7, 3, 3]).unwrap();
        let bad = TrainedInputs { dwell: vec![1], ..t.clone() };
        assert!(bad.validate(5, 5, &[25, 8, 4, 7, 3, 3]).unwrap_err().to_string().contains("inputs.dwell [1]"));
    }

    /// Item keys (tokens then category) split into the two candidate tensors (the WebGPU path's
    /// input; cargo-mutants: `t + 1` -> `t * 1` went unseen natively).
    #[test]
    fn candidates_from_keys_split_tokens_and_category() {
        let keys = [5, 6, 1, 7, 0, 2, 8, 9, 3];
        let c = Candidates::from_keys(&keys, 2, &Device::flex());
        let vec = |t: Tensor<2, Int>| t.into_data().convert::<i64>().try_into_vec::<i64>().unwrap();
        assert_eq!(c.tokens.dims(), [3, 2]);
        assert_eq!(vec(c.tokens), vec![5, 6, 7, 0, 8, 9]);
        assert_eq!(c.category.into_data().convert::<i64>().try_into_vec::<i64>().unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn utc_clock_matches_known_dates() {
        // 1998-04-22 23:10:49 UTC was a Wednesday (synthetic check value, not data).
        assert_eq!(utc_hour_weekday(893_286_649), (23, 3));
        assert_eq!(utc_hour_weekday(0), (0, 4));
    }

    #[test]
    fn dwell_buckets_are_monotone() {
        let b: Vec<i64> = [None, Some(1e3), Some(1e4), Some(6e4), Some(1e6)]
            .into_iter()
            .map(dwell_bucket)
            .collect();
        assert_eq!(b, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn session_is_left_padded_and_keeps_newest() {
        let ev = |i: i64| EncodedEvent { tokens: vec![i, i], event: 1, category: i, dwell: 0 };
        let s = EncodedSession::new(&[ev(7)], 3, 2, [0; CONTEXT_FIELDS], vec![0, 0]);
        assert_eq!(s.tokens, vec![0, 0, 0, 0, 7, 7]);
        assert_eq!(s.event, vec![0, 0, 1]);
        let s = EncodedSession::new(&[ev(1), ev(2), ev(3)], 2, 2, [0; CONTEXT_FIELDS], vec![0, 0]);
        assert_eq!(s.category, vec![2, 3]);
    }

    #[test]
    fn now_is_after_2020_and_before_2100() {
        let now = now_ms();
        assert!((1.577e12..4.1e12).contains(&now), "{now}");
    }

    #[test]
    fn texts_and_category_lookups_read_at_most_the_text_cap() {
        use crate::text::MAX_TEXT_BYTES;
        let long = "x".repeat(2 << 20);
        let text = item_text(&long, &long);
        assert_eq!(text.len(), 2 * MAX_TEXT_BYTES + 1);
        assert_eq!(cap_text(&text), cap_text(&(long.clone() + " " + &long)));
        assert_eq!(item_text("Heat (1995)", "Action"), "Heat (1995) Action");
        // "Drama" after the cap is not read (the head segment would be "Drama" without it).
        assert_eq!(category_index(&vocab(), &(" ".repeat(2 << 20) + "Drama")), 0);
        assert_eq!(category_index(&vocab(), &(" ".repeat(1000) + "Drama")), 3);
        let e = Event { kind: EventKind::Search, query: Some(long), ..search("") };
        assert_eq!(e.text().len(), MAX_TEXT_BYTES);
    }

    fn search(query: &str) -> Event {
        Event {
            kind: EventKind::Search,
            item_id: None,
            title: String::new(),
            category: String::new(),
            price: None,
            timestamp_ms: 1.7e12,
            dwell_ms: None,
            query: Some(query.into()),
        }
    }

    #[test]
    fn search_events_read_their_query() {
        let e = Event {
            kind: EventKind::Search,
            item_id: None,
            title: String::new(),
            category: String::new(),
            price: None,
            timestamp_ms: 0.0,
            dwell_ms: None,
            query: Some("space opera".into()),
        };
        assert_eq!(e.text(), "space opera");
    }
}
