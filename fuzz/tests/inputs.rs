//! Fuzz target 2: the JSON decoding of browser inputs (`localrank::input`), then the ranker.
//!
//! Documents: objects of the known fields with values of the right and every wrong type
//! (unicode text, escapes such as a lone "\ud800", NUL, RTL marks; numbers at the edges: -0,
//! 1e308, 1e309, 2^64, 30-digit integers), arbitrary JSON values up to 8 levels deep, arbitrary
//! bytes, and byte mutations of all of these; fixed cases: 100,000 levels of nesting and 1 MB
//! strings. Checked: nothing panics; an error has a message; a decoded value is exactly what the
//! document says (fields, defaults, ranges: the oracle below reads the same bytes with
//! `serde_json::Value`), and a document of the known fields with valid values decodes; what
//! decodes then goes through the shipped model as the browser's calls do (observe, rerank,
//! rerank_explained), where a successful rerank is a permutation (or topK prefix) with finite
//! scores.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use localrank::features::{Context, Event, EventKind, Item};
use localrank::input::{parse_candidates, parse_context, parse_event, parse_options};
use localrank::runtime::cpu_device;
use localrank::{Ranker, RerankOptions};
use localrank_fuzz::proptest::prelude::*;
use localrank::text::cap_text;
use localrank_fuzz::{arb, check_error, check_ranked, check_result, ensure, files, no_panic, run, short};
use serde_json::{Map, Value};

const CI_CASES: u32 = 4000;

// ---- JSON text, built token by token (so that it can hold what serde_json would not write) ----

/// A JSON value as text pieces: numbers and string bodies are raw tokens.
#[derive(Clone)]
enum J {
    Null,
    Bool(bool),
    /// A number token as written, e.g. "-0", "1e309", "18446744073709551616".
    Num(String),
    /// A string's body between the quotes, escapes as written, e.g. "\\ud800".
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    fn write(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Num(n) => out.push_str(n),
            J::Str(s) => {
                out.push('"');
                out.push_str(s);
                out.push('"');
            }
            J::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            J::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('"');
                    out.push_str(k);
                    out.push_str("\":");
                    v.write(out);
                }
                out.push('}');
            }
        }
    }

    fn text(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }
}

impl fmt::Debug for J {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.text())
    }
}

/// Number tokens at the edges (some are not JSON, or out of f64's range: errors).
const NUMBERS: &[&str] = &[
    "0", "-0", "1", "-1", "0.5", "0.9", "1.0", "1e0", "2.5", "-0.0", "0.1e1", "23", "23.0", "24", "6", "7", "-1e-9",
    "1e308", "-1e308", "1.7976931348623157e308", "1e309", "-1e309", "5e-324", "1e-400", "4294967295", "4294967296",
    "9007199254740993", "18446744073709551615", "18446744073709551616", "-9223372036854775809",
    "123456789012345678901234567890", "0.9999999999999999", "1.0000000000000002", "3.4028234663852886e38",
    "3.4028235677973366e38", "1700000000000", "NaN", "Infinity", "-Infinity", "01", "1.", ".5", "+1", "0x10", "1e",
];

/// String bodies with escapes: lone and paired surrogates, NUL, BOM, RTL override, and invalid
/// escapes (errors).
const ESCAPES: &[&str] = &[
    "\\ud800", "\\udc00", "\\ud800\\udc00", "\\ud83d\\ude00", "\\udbff\\udfff", "\\u0000", "\\ufeff", "\\u202e",
    "\\uffff", "a\\u0301", "\\\"\\\\\\/\\b\\f\\n\\r\\t", "\\x41", "\\u12", "\\", "\\ud800x", "\u{1}", "\n",
];

fn string_body() -> BoxedStrategy<String> {
    prop_oneof![
        4 => arb::text().prop_map(|s| {
            let quoted = serde_json::to_string(&s).expect("a String serialises");
            quoted[1..quoted.len() - 1].to_string()
        }),
        1 => prop::sample::select(ESCAPES).prop_map(str::to_string),
        1 => (prop::sample::select(ESCAPES), "[a-z ]{0,8}").prop_map(|(e, s)| format!("{s}{e}{s}")),
    ]
    .boxed()
}

fn number() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(NUMBERS).prop_map(str::to_string),
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| format!("{f:?}")),
        1 => any::<i64>().prop_map(|i| i.to_string()),
        1 => (0u64..30).prop_map(|i| i.to_string()),
    ]
    .boxed()
}

fn leaf() -> BoxedStrategy<J> {
    prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        number().prop_map(J::Num),
        string_body().prop_map(J::Str),
    ]
    .boxed()
}

/// Any JSON value up to 8 levels deep.
fn any_json() -> BoxedStrategy<J> {
    leaf()
        .prop_recursive(8, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(J::Arr),
                prop::collection::vec(("[a-zA-Z]{0,8}|id|title|event|topK|hour", inner), 0..6).prop_map(J::Obj),
            ]
        })
        .boxed()
}

#[derive(Clone, Copy, Debug)]
enum Ty {
    Str,
    Num(Range),
    Bool,
    /// A GA4 event name.
    Name,
}

/// The values a number field accepts.
#[derive(Clone, Copy, Debug)]
enum Range {
    Any,
    /// Any finite number of milliseconds (the context's time).
    Millis,
    /// An event's time: 2000-01-01 to now.
    Time,
    /// A dwell time: 0 to 24 h.
    Dwell,
    Hour,
    Weekday,
    Count,
    Fraction,
    Popularity,
}

const EVENT_FIELDS: &[(&str, Ty)] = &[
    ("event", Ty::Name),
    ("id", Ty::Str),
    ("title", Ty::Str),
    ("category", Ty::Str),
    ("price", Ty::Num(Range::Any)),
    ("timestamp", Ty::Num(Range::Time)),
    ("dwellMs", Ty::Num(Range::Dwell)),
    ("query", Ty::Str),
];
const ITEM_FIELDS: &[(&str, Ty)] = &[
    ("id", Ty::Str),
    ("title", Ty::Str),
    ("category", Ty::Str),
    ("price", Ty::Num(Range::Any)),
    ("popularity", Ty::Num(Range::Popularity)),
];
const CONTEXT_FIELDS: &[(&str, Ty)] = &[
    ("timestamp", Ty::Num(Range::Millis)),
    ("hour", Ty::Num(Range::Hour)),
    ("weekday", Ty::Num(Range::Weekday)),
    ("device", Ty::Str),
    ("pageType", Ty::Str),
    ("category", Ty::Str),
    ("promotion", Ty::Bool),
    ("query", Ty::Str),
];
const OPTION_FIELDS: &[(&str, Ty)] = &[
    ("topK", Ty::Num(Range::Count)),
    ("personalization", Ty::Num(Range::Fraction)),
    ("longTail", Ty::Num(Range::Fraction)),
    ("explain", Ty::Bool),
];
/// Keys the decoders do not know (typos, prototype names, other cases).
const UNKNOWN_KEYS: &[&str] = &["topk", "Title", "dwell_ms", "extra", "__proto__", "constructor", "", "id ", "\\u0078tra"];

fn quoted(s: String) -> J {
    let q = serde_json::to_string(&s).expect("a String serialises");
    J::Str(q[1..q.len() - 1].to_string())
}

/// A value the field accepts.
fn good(ty: Ty) -> BoxedStrategy<J> {
    let num = |tokens: &'static [&'static str]| prop::sample::select(tokens).prop_map(|t| J::Num(t.into())).boxed();
    match ty {
        Ty::Str => prop_oneof![3 => arb::title().prop_map(quoted), 1 => string_body().prop_map(J::Str)].boxed(),
        Ty::Bool => any::<bool>().prop_map(J::Bool).boxed(),
        Ty::Name => prop::sample::select(&EventKind::NAMES[..]).prop_map(|s| J::Str(s.into())).boxed(),
        Ty::Num(Range::Any) => prop_oneof![(0.0..1e4f64).prop_map(|f| J::Num(format!("{f}"))), number().prop_map(J::Num)].boxed(),
        Ty::Num(Range::Millis) => prop_oneof![
            num(&["1700000000000", "0", "-0", "4000", "29999.5", "120000", "1e15"]),
            (0.0..1e6f64).prop_map(|f| J::Num(format!("{f}"))),
        ]
        .boxed(),
        Ty::Num(Range::Time) => prop_oneof![
            num(&["1700000000000", "1.7e12", "946684800000", "1.5e12"]),
            (946_684_800_000.0..1.76e12f64).prop_map(|f| J::Num(format!("{f}"))),
        ]
        .boxed(),
        Ty::Num(Range::Dwell) => prop_oneof![
            num(&["0", "-0", "4000", "29999.5", "120000", "86400000"]),
            (0.0..86_400_000.0f64).prop_map(|f| J::Num(format!("{f}"))),
        ]
        .boxed(),
        Ty::Num(Range::Hour) => prop_oneof![(0u32..24).prop_map(|h| J::Num(h.to_string())), num(&["-0", "23.0", "1e1"])].boxed(),
        Ty::Num(Range::Weekday) => prop_oneof![(0u32..7).prop_map(|h| J::Num(h.to_string())), num(&["-0", "6.0"])].boxed(),
        Ty::Num(Range::Count) => prop_oneof![(1u32..20).prop_map(|h| J::Num(h.to_string())), num(&["4294967295", "1.0", "1e2"])].boxed(),
        Ty::Num(Range::Fraction) => prop_oneof![
            num(&["0", "-0", "1", "0.5", "0.9", "1.0", "0.9999999999999999", "5e-324"]),
            (0.0..=1.0f64).prop_map(|f| J::Num(format!("{f}"))),
        ]
        .boxed(),
        Ty::Num(Range::Popularity) => prop_oneof![
            num(&["0", "-0", "1", "3.4028234663852886e38", "5e-324"]),
            (0.0..1e5f64).prop_map(|f| J::Num(format!("{f}"))),
        ]
        .boxed(),
    }
}

/// A value of the field's type or any other, within its range or outside.
fn any_value(ty: Ty) -> BoxedStrategy<J> {
    let edge = match ty {
        Ty::Str | Ty::Name => string_body().prop_map(J::Str).boxed(),
        Ty::Num(_) => number().prop_map(J::Num).boxed(),
        Ty::Bool => leaf(),
    };
    prop_oneof![4 => good(ty), 2 => edge, 1 => Just(J::Null), 1 => leaf(), 1 => any_json()].boxed()
}

/// An object of the known `fields`, each present or not. Clean (half of them): every value
/// valid; else values of every type and range, and sometimes one unknown key.
fn shaped(fields: &'static [(&'static str, Ty)], required: &'static [&'static str], clean_only: bool) -> BoxedStrategy<J> {
    let values = |clean: bool| -> Vec<BoxedStrategy<Option<J>>> {
        fields
            .iter()
            .map(|&(name, ty)| {
                let keep = if required.contains(&name) { 0.97 } else { 0.5 };
                prop::option::weighted(keep, if clean { good(ty) } else { any_value(ty) }).boxed()
            })
            .collect()
    };
    let unknown = prop::option::weighted(0.15, (prop::sample::select(UNKNOWN_KEYS), leaf()));
    let clean = (values(true), Just(None), any::<prop::sample::Index>());
    let any = match clean_only {
        true => clean.clone().boxed(),
        false => (values(false), unknown, any::<prop::sample::Index>()).boxed(),
    };
    prop_oneof![clean, any]
    .prop_map(move |(values, unknown, at)| {
        let mut out: Vec<(String, J)> =
            fields.iter().zip(values).filter_map(|(&(name, _), v)| v.map(|v| (name.to_string(), v))).collect();
        if let Some((k, v)) = unknown {
            out.insert(at.index(out.len() + 1), (k.to_string(), v));
        }
        J::Obj(out)
    })
    .boxed()
}

/// A document for one decoder; Debug shows its text.
#[derive(Clone)]
struct Doc {
    bytes: Vec<u8>,
    /// Built of known fields with distinct keys and unmutated: the oracle's Err is binding.
    shaped: bool,
}

impl fmt::Debug for Doc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = String::from_utf8_lossy(&self.bytes);
        match text.len() > 2_000 {
            true => write!(f, "{} bytes: {:?}...", self.bytes.len(), text.chars().take(500).collect::<String>()),
            false => write!(f, "{text:?}{}", if self.shaped { " (shaped)" } else { "" }),
        }
    }
}

#[derive(Clone, Debug)]
enum ByteOp {
    Flip(prop::sample::Index, u8),
    Truncate(prop::sample::Index),
    Insert(prop::sample::Index, Vec<u8>),
    Remove(prop::sample::Index, u8),
}

/// Bytes spliced in: JSON structure, invalid UTF-8 (0xff, an encoded surrogate, overlong NUL).
const SPLICES: &[&[u8]] = &[b"\"", b"\\", b"[", b"{", b"}", b",", b":", b"\xff", b"\xed\xa0\x80", b"\xc0\x80", b"\0", b"-", b"e9", b"null"];

fn byte_op() -> impl Strategy<Value = ByteOp> {
    prop_oneof![
        any::<(prop::sample::Index, u8)>().prop_map(|(i, b)| ByteOp::Flip(i, b)),
        any::<prop::sample::Index>().prop_map(ByteOp::Truncate),
        (any::<prop::sample::Index>(), prop_oneof![
            prop::sample::select(SPLICES).prop_map(<[u8]>::to_vec),
            prop::collection::vec(any::<u8>(), 1..4),
        ]).prop_map(|(i, b)| ByteOp::Insert(i, b)),
        any::<(prop::sample::Index, u8)>().prop_map(|(i, n)| ByteOp::Remove(i, n % 8)),
    ]
}

fn mutate(mut bytes: Vec<u8>, ops: &[ByteOp]) -> Vec<u8> {
    for op in ops {
        let at = |i: &prop::sample::Index, len: usize| if len == 0 { 0 } else { i.index(len) };
        match op {
            ByteOp::Flip(i, mask) if !bytes.is_empty() => {
                let at = at(i, bytes.len());
                bytes[at] ^= mask.max(&1);
            }
            ByteOp::Flip(..) => {}
            ByteOp::Truncate(i) => bytes.truncate(at(i, bytes.len() + 1)),
            ByteOp::Insert(i, b) => {
                let at = at(i, bytes.len() + 1);
                bytes.splice(at..at, b.iter().copied());
            }
            ByteOp::Remove(i, n) => {
                let at = at(i, bytes.len() + 1);
                bytes.drain(at..(at + *n as usize).min(bytes.len()));
            }
        }
    }
    bytes
}

/// Documents for a decoder whose well-formed input is `shaped_doc`.
fn doc(shaped_doc: BoxedStrategy<J>) -> BoxedStrategy<Doc> {
    prop_oneof![
        8 => shaped_doc.clone().prop_map(|j| Doc { bytes: j.text().into_bytes(), shaped: true }),
        2 => any_json().prop_map(|j| Doc { bytes: j.text().into_bytes(), shaped: false }),
        2 => (shaped_doc, prop::collection::vec(byte_op(), 1..4))
            .prop_map(|(j, ops)| Doc { bytes: mutate(j.text().into_bytes(), &ops), shaped: false }),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(|bytes| Doc { bytes, shaped: false }),
    ]
    .boxed()
}

fn candidates_doc(clean_only: bool) -> BoxedStrategy<J> {
    prop::collection::vec(shaped(ITEM_FIELDS, &["id", "title"], clean_only), 0..6).prop_map(J::Arr).boxed()
}

fn clean_doc(j: BoxedStrategy<J>) -> BoxedStrategy<Doc> {
    j.prop_map(|j| Doc { bytes: j.text().into_bytes(), shaped: true }).boxed()
}

#[derive(Clone, Debug)]
struct Case {
    event: Doc,
    now_ms: f64,
    candidates: Doc,
    context: Doc,
    options: Doc,
}

fn case() -> impl Strategy<Value = Case> {
    let any = (
        doc(shaped(EVENT_FIELDS, &["event", "title"], false)),
        arb::f64_edge(),
        doc(candidates_doc(false)),
        doc(shaped(CONTEXT_FIELDS, &[], false)),
        doc(shaped(OPTION_FIELDS, &[], false)),
    );
    // Every document valid: the decoded values then reach the model.
    let clean = (
        clean_doc(shaped(EVENT_FIELDS, &["event", "title"], true)),
        Just(1.7e12),
        clean_doc(candidates_doc(true)),
        clean_doc(shaped(CONTEXT_FIELDS, &[], true)),
        clean_doc(shaped(OPTION_FIELDS, &[], true)),
    );
    prop_oneof![2 => any, 1 => clean]
        .prop_map(|(event, now_ms, candidates, context, options)| Case { event, now_ms, candidates, context, options })
}

// ---- The oracle: what the documented decoding gives, read from serde_json::Value ----

/// What a document should decode to.
enum Expect<T> {
    Ok(T),
    Err(String),
    /// The oracle does not say (a JSON array read as a struct's fields in order).
    Unknown,
}

use Expect::Unknown;

fn err<T>(why: impl Into<String>) -> Expect<T> {
    Expect::Err(why.into())
}

/// A field: absent or null -> None; `Err` when of another type.
fn field<'a, T>(obj: &'a Map<String, Value>, key: &str, read: impl Fn(&'a Value) -> Option<T>) -> Result<Option<T>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => read(v).map(Some).ok_or_else(|| format!("{key}: wrong type {v}")),
    }
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// A text the model reads (title, category, query): kept as the tokeniser reads it, its first
/// `text::MAX_TEXT_BYTES` (since c58f340). Ids, devices and page types are kept whole.
fn model_text(v: &Value) -> Option<String> {
    v.as_str().map(|s| cap_text(s).to_string())
}

fn only_known(obj: &Map<String, Value>, fields: &[(&str, Ty)]) -> Result<(), String> {
    match obj.keys().find(|k| !fields.iter().any(|(name, _)| name == k)) {
        Some(k) => Err(format!("unknown field {}", short(k))),
        None => Ok(()),
    }
}

fn whole(v: f64, lo: f64, hi: f64) -> Result<f64, String> {
    match v.fract() == 0.0 && v >= lo && v <= hi {
        true => Ok(v),
        false => Err(format!("{v} is not a whole number within {lo}..={hi}")),
    }
}

/// The JSON value of `bytes`, or what the decoder must do without one.
fn json<T>(bytes: &[u8]) -> Result<Map<String, Value>, Expect<T>> {
    match serde_json::from_slice::<Value>(bytes) {
        Err(e) => Err(err(format!("not JSON: {e}"))),
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(Value::Array(_)) => Err(Unknown),
        Ok(other) => Err(err(format!("not an object: {other}"))),
    }
}

fn object_expect<T>(bytes: &[u8], f: impl FnOnce(&Map<String, Value>) -> Result<T, String>) -> Expect<T> {
    match json(bytes) {
        Err(e) => e,
        Ok(obj) => match f(&obj) {
            Ok(v) => Expect::Ok(v),
            Err(e) => err(e),
        },
    }
}

fn expect_event(bytes: &[u8], now_ms: f64) -> Expect<Event> {
    object_expect(bytes, |o| {
        only_known(o, EVENT_FIELDS)?;
        let name = field(o, "event", text)?.ok_or("event missing")?;
        let kind = EventKind::NAMES.iter().position(|n| *n == name).ok_or(format!("unknown event {}", short(&name)))?;
        let kinds = [EventKind::ViewItem, EventKind::SelectItem, EventKind::AddToCart, EventKind::Purchase, EventKind::Search];
        Ok(Event {
            kind: kinds[kind],
            item_id: field(o, "id", text)?,
            title: field(o, "title", model_text)?.unwrap_or_default(),
            category: field(o, "category", model_text)?.unwrap_or_default(),
            price: field(o, "price", Value::as_f64)?,
            timestamp_ms: field(o, "timestamp", Value::as_f64)?.unwrap_or(now_ms),
            dwell_ms: field(o, "dwellMs", Value::as_f64)?,
            query: field(o, "query", model_text)?,
        })
    })
}

fn expect_item(o: &Map<String, Value>) -> Result<Item, String> {
    only_known(o, ITEM_FIELDS)?;
    field(o, "price", Value::as_f64)?;
    let popularity = match field(o, "popularity", Value::as_f64)? {
        Some(p) if !(0.0..=f32::MAX as f64).contains(&p) => return Err(format!("popularity {p}")),
        p => p.map(|p| p as f32),
    };
    Ok(Item {
        id: field(o, "id", text)?.ok_or("id missing")?,
        title: field(o, "title", model_text)?.ok_or("title missing")?,
        category: field(o, "category", model_text)?.unwrap_or_default(),
        popularity,
    })
}

fn expect_candidates(bytes: &[u8]) -> Expect<Vec<Item>> {
    let items = match serde_json::from_slice::<Value>(bytes) {
        Err(e) => return err(format!("not JSON: {e}")),
        Ok(Value::Array(items)) => items,
        Ok(other) => return err(format!("not an array: {other}")),
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::Object(o) => match expect_item(o) {
                Ok(item) => out.push(item),
                Err(e) => return err(format!("candidates[{i}]: {e}")),
            },
            Value::Array(_) => return Unknown,
            other => return err(format!("candidates[{i}] is {other}")),
        }
    }
    Expect::Ok(out)
}

fn expect_context(bytes: &[u8]) -> Expect<Context> {
    object_expect(bytes, |o| {
        only_known(o, CONTEXT_FIELDS)?;
        field(o, "timestamp", Value::as_f64)?;
        let hour = field(o, "hour", Value::as_f64)?.map(|h| whole(h, 0.0, 23.0)).transpose()?;
        let weekday = field(o, "weekday", Value::as_f64)?.map(|d| whole(d, 0.0, 6.0)).transpose()?;
        Ok(Context {
            hour: hour.map(|h| h as u32),
            weekday: weekday.map(|d| d as u32),
            device: field(o, "device", text)?,
            page_type: field(o, "pageType", text)?,
            category: field(o, "category", model_text)?,
            promotion: field(o, "promotion", Value::as_bool)?,
            query: field(o, "query", model_text)?,
        })
    })
}

fn expect_options(bytes: &[u8]) -> Expect<(RerankOptions, bool)> {
    object_expect(bytes, |o| {
        only_known(o, OPTION_FIELDS)?;
        let defaults = RerankOptions::default();
        let fraction = |key: &str, default: f32| -> Result<f32, String> {
            match field(o, key, Value::as_f64)? {
                None => Ok(default),
                Some(v) if (0.0..=1.0).contains(&v) => Ok(v as f32),
                Some(v) => Err(format!("{key} {v}")),
            }
        };
        let top_k = field(o, "topK", Value::as_f64)?.map(|k| whole(k, 1.0, u32::MAX as f64)).transpose()?;
        Ok((
            RerankOptions {
                top_k: top_k.map(|k| k as usize),
                personalization: fraction("personalization", defaults.personalization)?,
                long_tail: fraction("longTail", defaults.long_tail)?,
            },
            field(o, "explain", Value::as_bool)?.unwrap_or(false),
        ))
    })
}

/// A decoder's result against the oracle: an Ok must be the oracle's value; an Err must have a
/// message, and (for a shaped document) the oracle must agree that it is an error.
fn judge<T: fmt::Debug>(what: &str, doc: &Doc, got: &localrank::Result<T>, expect: Expect<T>) -> Result<(), String> {
    check_result(what, got)?;
    // Values hold f64s (NaN != NaN): compared by their Debug.
    match (got, expect) {
        (Ok(v), Expect::Ok(e)) => {
            ensure(format!("{v:?}") == format!("{e:?}"), || format!("{what}: decoded {}, the document says {}", short(v), short(&e)))
        }
        (Ok(v), Expect::Err(why)) => Err(format!("{what}: decoded {} from a document that is not valid ({})", short(v), short(why))),
        (Err(e), Expect::Ok(v)) if doc.shaped => Err(format!("{what}: error {} for a valid document (expected {})", short(e), short(&v))),
        _ => Ok(()),
    }
}

/// Decoded Ok: events, candidate lists, contexts, options; then observes Ok and reranks that
/// ran the model.
static TALLY: [AtomicUsize; 6] = [const { AtomicUsize::new(0) }; 6];

fn tally<T, E>(i: usize, r: &Result<T, E>) {
    if r.is_ok() {
        TALLY[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// The decoders on one case, then the ranker with what decoded (as `web.rs` calls it).
fn check(ranker: &mut Ranker, case: &Case) -> Result<(), String> {
    let event = no_panic("parse_event", || parse_event(&case.event.bytes, case.now_ms))?;
    judge("parse_event", &case.event, &event, expect_event(&case.event.bytes, case.now_ms))?;
    let candidates = no_panic("parse_candidates", || parse_candidates(&case.candidates.bytes))?;
    judge("parse_candidates", &case.candidates, &candidates, expect_candidates(&case.candidates.bytes))?;
    let context = no_panic("parse_context", || parse_context(&case.context.bytes))?;
    judge("parse_context", &case.context, &context, expect_context(&case.context.bytes))?;
    let options = no_panic("parse_options", || parse_options(&case.options.bytes, RerankOptions::default()))?;
    judge("parse_options", &case.options, &options, expect_options(&case.options.bytes))?;
    [tally(0, &event), tally(1, &candidates), tally(2, &context), tally(3, &options)];
    if let Ok((o, _)) = &options {
        ensure(o.validate().is_ok(), || format!("parse_options gave options that do not validate: {}", short(o)))?;
    }

    ranker.clear();
    if let Ok(event) = event {
        let r = no_panic("observe", || ranker.observe(event))?;
        check_result("observe", &r)?;
        tally(4, &r);
    }
    if let (Ok(mut candidates), Ok(ctx), Ok((options, explain))) = (candidates, context, options) {
        // Distinct ids (as a storefront sends them) so that the model runs; duplicates are
        // ranker_state_machine's.
        candidates.iter_mut().enumerate().for_each(|(i, c)| c.id = format!("{i}:{}", c.id));
        let r = no_panic("rerank", || match explain {
            true => ranker.rerank_explained(&candidates, &ctx, options.clone()),
            false => ranker.rerank(&candidates, &ctx, options.clone()),
        })?;
        check_result("rerank", &r)?;
        if !candidates.is_empty() && ranker.session().len() > 0 {
            tally(5, &r);
        }
        if let Ok(ranked) = &r {
            check_ranked(&candidates, &options, explain, ranked, true)?;
        }
    }
    Ok(())
}

fn ranker() -> Mutex<Ranker> {
    Mutex::new(Ranker::load(files(), cpu_device(), None).expect("the shipped model loads"))
}

#[test]
fn inputs() {
    let ranker = ranker();
    run("inputs", CI_CASES, case(), |case| {
        let mut ranker = ranker.lock().unwrap_or_else(|p| p.into_inner());
        check(&mut ranker, &case)
    });
    let t: Vec<usize> = TALLY.iter().map(|t| t.load(Ordering::Relaxed)).collect();
    eprintln!(
        "inputs: decoded {} events, {} candidate lists, {} contexts, {} options; {} observed, {} reranks ran the model",
        t[0], t[1], t[2], t[3], t[4], t[5]
    );
}

// ---- Fixed cases: sizes a random case does not reach ----

fn all_decoders(bytes: &[u8]) -> Result<(), String> {
    let doc = Doc { bytes: bytes.to_vec(), shaped: false };
    let case = Case { event: doc.clone(), now_ms: 1.7e12, candidates: doc.clone(), context: doc.clone(), options: doc };
    check(&mut ranker().into_inner().unwrap(), &case)
}

fn must_fail(what: &str, r: localrank::Result<impl fmt::Debug>) -> Result<(), String> {
    match r {
        Ok(v) => Err(format!("{what}: decoded {}", short(v))),
        Err(e) => check_error(what, &e),
    }
}

#[test]
fn deep_nesting_is_an_error() {
    let n = 100_000;
    let docs = [
        "[".repeat(n),
        format!("{}{}", "[".repeat(n), "]".repeat(n)),
        format!("{}{}", "{\"a\":".repeat(n), "}".repeat(n)),
        format!("{{\"title\":{}1{}}}", "[".repeat(n), "]".repeat(n)),
        format!("[{{\"id\":\"a\",\"title\":{}}}]", "{\"x\":".repeat(n)),
    ];
    for d in &docs {
        all_decoders(d.as_bytes()).unwrap();
        let b = d.as_bytes();
        must_fail("parse_event", parse_event(b, 0.0)).unwrap();
        must_fail("parse_candidates", parse_candidates(b)).unwrap();
        must_fail("parse_context", parse_context(b)).unwrap();
        must_fail("parse_options", parse_options(b, RerankOptions::default())).unwrap();
    }
}

#[test]
fn megabyte_strings() {
    let big = "Toy Story \u{202E}e\u{301}\\u0000\\ud83d\\ude00 ".repeat(40_000);
    let event = format!(r#"{{"event":"search","title":"{big}","query":"{big}","category":"{big}","id":"{big}"}}"#);
    let items = format!(r#"[{{"id":"a","title":"{big}","category":"{big}"}},{{"id":"{big}","title":"x"}}]"#);
    let context = format!(r#"{{"query":"{big}","device":"{big}","pageType":"{big}","category":"{big}"}}"#);
    let case = Case {
        event: Doc { bytes: event.into_bytes(), shaped: true },
        now_ms: 1.7e12,
        candidates: Doc { bytes: items.into_bytes(), shaped: true },
        context: Doc { bytes: context.into_bytes(), shaped: true },
        options: Doc { bytes: br#"{"explain":true}"#.to_vec(), shaped: true },
    };
    check(&mut ranker().into_inner().unwrap(), &case).unwrap();
    all_decoders(" ".repeat(1 << 20).as_bytes()).unwrap();
    all_decoders(format!("\"{}\"", "\\ud800".repeat(200_000)).as_bytes()).unwrap();
}

#[test]
fn ten_thousand_candidates() {
    let items: Vec<String> = (0..10_000).map(|i| format!(r#"{{"id":"p{i}","title":"Movie {i}"}}"#)).collect();
    let case = Case {
        event: Doc { bytes: br#"{"event":"view_item","title":"Heat (1995)"}"#.to_vec(), shaped: true },
        now_ms: 1.7e12,
        candidates: Doc { bytes: format!("[{}]", items.join(",")).into_bytes(), shaped: true },
        context: Doc { bytes: b"{}".to_vec(), shaped: true },
        options: Doc { bytes: b"{}".to_vec(), shaped: true },
    };
    check(&mut ranker().into_inner().unwrap(), &case).unwrap();
}
