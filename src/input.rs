//! Browser inputs -> validated Rust values.
//!
//! The page's arguments cross into wasm as JSON text that `js/input.js` writes: a flat object of
//! known fields, every value a string, a finite number, a boolean or null (it never serialises the
//! page's own objects, so nesting, cycles, Proxies and getters stay on the JS side, where they
//! become errors). This module is the one place that decides what those fields mean, and it is
//! plain Rust so that the fuzz targets (`fuzz/`) reach it natively. serde_json stops at 128
//! levels of nesting, so even JSON that did not come from `js/input.js` cannot exhaust the stack.

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::features::{Context, Event, EventKind, Item};
use crate::rerank::RerankOptions;
use crate::text::cap_text;

/// An event as `js/input.js` writes it (GA4 aliases already mapped to these names).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawEvent {
    event: Option<String>,
    id: Option<String>,
    title: Option<String>,
    category: Option<String>,
    price: Option<f64>,
    timestamp: Option<f64>,
    dwell_ms: Option<f64>,
    query: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawItem {
    id: Option<String>,
    title: Option<String>,
    category: Option<String>,
    /// Read from the page but unused by the order (kept so a page may send it).
    #[allow(dead_code)]
    price: Option<f64>,
    popularity: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawContext {
    /// The page's time; `js/input.js` has already turned it into hour and weekday (UTC).
    timestamp: Option<f64>,
    hour: Option<f64>,
    weekday: Option<f64>,
    device: Option<String>,
    page_type: Option<String>,
    category: Option<String>,
    promotion: Option<bool>,
    query: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawOptions {
    top_k: Option<f64>,
    personalization: Option<f64>,
    long_tail: Option<f64>,
    explain: Option<bool>,
}

fn capped(text: Option<String>) -> Option<String> {
    text.map(|mut t| {
        t.truncate(cap_text(&t).len());
        t
    })
}

/// A JSON object decoded as `T` (serde would also take an array of the fields in order: a
/// shape `js/input.js` never writes, so it is refused rather than given a meaning).
fn parse<T: for<'de> Deserialize<'de>>(json: &[u8], what: &str) -> Result<T> {
    if json.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Error::input(format!("{what}: expected a JSON object")));
    }
    serde_json::from_slice(json).map_err(|e| Error::input(format!("{what}: {e}")))
}

/// A whole number within `range`, or an error naming `what`.
fn whole(v: f64, range: std::ops::RangeInclusive<u64>, what: &str) -> Result<u64> {
    if v.fract() != 0.0 || v < *range.start() as f64 || v > *range.end() as f64 {
        return Err(Error::input(format!(
            "{what}: expected a whole number within {}..={}, got {v}",
            range.start(),
            range.end()
        )));
    }
    Ok(v as u64)
}

/// One shopper event; `now_ms` is its time when the page gave none.
pub fn parse_event(json: &[u8], now_ms: f64) -> Result<Event> {
    let raw: RawEvent = parse(json, "observe")?;
    let name = raw.event.ok_or_else(|| Error::input("observe: event.event is missing (e.g. 'view_item')"))?;
    // Texts are kept as the tokeniser reads them (`cap_text`), so a stored session stays small.
    Ok(Event {
        kind: EventKind::parse(&name)?,
        item_id: raw.id,
        title: capped(raw.title).unwrap_or_default(),
        category: capped(raw.category).unwrap_or_default(),
        price: raw.price,
        timestamp_ms: raw.timestamp.unwrap_or(now_ms),
        dwell_ms: raw.dwell_ms,
        query: capped(raw.query),
    })
}

/// The candidate list, in server order. Checks shape and types; `Ranker` checks the rest
/// (count, empty or duplicate ids).
pub fn parse_candidates(json: &[u8]) -> Result<Vec<Item>> {
    let raws: Vec<RawItem> = match serde_json::from_slice(json) {
        Ok(raws) => raws,
        Err(e) => return Err(bad_candidate(json).unwrap_or_else(|| Error::input(format!("candidates: {e}")))),
    };
    raws.into_iter().enumerate().map(|(i, raw)| to_item(i, raw)).collect()
}

/// The first candidate of `json` that is not a `RawItem`, as an error naming its index.
fn bad_candidate(json: &[u8]) -> Option<Error> {
    let values: Vec<serde_json::Value> = serde_json::from_slice(json).ok()?;
    values.into_iter().enumerate().find_map(|(i, value)| {
        if !value.is_object() {
            return Some(Error::input(format!("candidates[{i}]: expected an object {{ id, title, category }}")));
        }
        serde_json::from_value::<RawItem>(value).err().map(|e| Error::input(format!("candidates[{i}]: {e}")))
    })
}

fn to_item(i: usize, raw: RawItem) -> Result<Item> {
    let id = raw.id.ok_or_else(|| Error::input(format!("candidates[{i}].id: missing")))?;
    let title = raw.title.ok_or_else(|| Error::input(format!("candidates[{i}].title: missing")))?;
    let popularity = match raw.popularity {
        Some(p) if !(0.0..=f32::MAX as f64).contains(&p) => {
            return Err(Error::input(format!("candidates[{i}].popularity: must be a non-negative number, got {p}")));
        }
        p => p.map(|p| p as f32),
    };
    Ok(Item { id, title: capped(Some(title)).unwrap_or_default(), category: capped(raw.category).unwrap_or_default(), popularity })
}

/// The page context. Hour and weekday are UTC, as training reads them (`js/input.js` fills them from
/// the clock or `timestamp` when the page gives none).
pub fn parse_context(json: &[u8]) -> Result<Context> {
    let raw: RawContext = parse(json, "context")?;
    if let Some(t) = raw.timestamp
        && !t.is_finite()
    {
        return Err(Error::input(format!("context.timestamp: expected milliseconds since 1970, got {t}")));
    }
    let hour = raw.hour.map(|h| whole(h, 0..=23, "context.hour")).transpose()?;
    let weekday = raw.weekday.map(|d| whole(d, 0..=6, "context.weekday (0 = Sunday)")).transpose()?;
    Ok(Context {
        hour: hour.map(|h| h as u32),
        weekday: weekday.map(|d| d as u32),
        device: raw.device,
        page_type: raw.page_type,
        category: capped(raw.category),
        promotion: raw.promotion,
        query: capped(raw.query),
    })
}

/// `RerankOptions` (`defaults` where a field is absent: `Ranker::default_options`), and whether
/// reasons were asked for (`explain` selects the call rather than tuning the order).
pub fn parse_options(json: &[u8], defaults: RerankOptions) -> Result<(RerankOptions, bool)> {
    let raw: RawOptions = parse(json, "options")?;
    let fraction = |v: Option<f64>, default: f32, what: &str| -> Result<f32> {
        match v {
            None => Ok(default),
            Some(v) if (0.0..=1.0).contains(&v) => Ok(v as f32),
            Some(v) => Err(Error::input(format!("options.{what} must be within 0..=1, got {v}"))),
        }
    };
    let options = RerankOptions {
        top_k: raw.top_k.map(|k| whole(k, 1..=u32::MAX as u64, "options.topK")).transpose()?.map(|k| k as usize),
        personalization: fraction(raw.personalization, defaults.personalization, "personalization")?,
        long_tail: fraction(raw.long_tail, defaults.long_tail, "longTail")?,
    };
    options.validate()?;
    Ok((options, raw.explain.unwrap_or(false)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_read_and_unknown_fields_are_named() {
        let e = parse_event(br#"{"event":"view_item","id":"7","title":"Heat (1995)"}"#, 5.0).unwrap();
        assert_eq!((e.kind, e.item_id.as_deref(), e.timestamp_ms), (EventKind::ViewItem, Some("7"), 5.0));
        let err = parse_event(br#"{"event":"view_item","extra":1}"#, 0.0).unwrap_err().to_string();
        assert!(err.contains("unknown field `extra`"), "{err}");
        let err = parse_event(br#"{"title":"x"}"#, 0.0).unwrap_err().to_string();
        assert!(err.contains("event.event is missing"), "{err}");
    }

    #[test]
    fn deep_json_is_an_error_not_a_stack_overflow() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        for f in [parse_candidates as fn(&[u8]) -> Result<Vec<Item>>] {
            assert!(f(deep.as_bytes()).is_err());
        }
        assert!(parse_context(deep.as_bytes()).is_err());
        assert!(parse_options(deep.as_bytes(), RerankOptions::default()).is_err());
        assert!(parse_event(deep.as_bytes(), 0.0).is_err());
    }

    #[test]
    fn candidates_name_the_bad_one() {
        let err = parse_candidates(br#"[{"id":"a","title":"A"},{"id":"b","title":3}]"#).unwrap_err().to_string();
        assert!(err.contains("candidates[1]"), "{err}");
        let err = parse_candidates(br#"[{"id":"a","title":"A","popularity":-1}]"#).unwrap_err().to_string();
        assert!(err.contains("candidates[0].popularity"), "{err}");
        assert_eq!(parse_candidates(b"[]").unwrap(), Vec::new());
    }

    #[test]
    fn context_and_options_ranges() {
        assert!(parse_context(br#"{"hour":24}"#).unwrap_err().to_string().contains("context.hour"));
        assert!(parse_context(br#"{"weekday":1.5}"#).unwrap_err().to_string().contains("weekday"));
        assert_eq!(parse_context(br#"{"hour":7}"#).unwrap().hour, Some(7));
        assert!(parse_options(br#"{"topK":0}"#, RerankOptions::default()).unwrap_err().to_string().contains("topK"));
        assert!(parse_options(b"[2, 0.5, 0.1, true]", RerankOptions::default()).unwrap_err().to_string().contains("expected a JSON object"));
        assert!(parse_options(br#"{"longTail":2}"#, RerankOptions::default()).unwrap_err().to_string().contains("longTail"));
        let (o, explain) = parse_options(br#"{"topK":5,"explain":true}"#, RerankOptions::default()).unwrap();
        assert_eq!((o.top_k, explain), (Some(5), true));
    }
}
