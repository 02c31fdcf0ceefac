//! The events file: `user_id` or `session_id`, `item_id`, `event` (GA4 names), `timestamp`
//! (ISO 8601 or Unix seconds), optional `query` and page-context columns `device`
//! (desktop / mobile / tablet), `page_type` (home / search / category / product / cart /
//! checkout) and `promotion` (true / false / 1 / 0). The event kind and the context become the
//! model's inputs as the browser gives them; a context value outside those vocabularies reads as
//! "unknown", as it does in the browser. Other columns are ignored.

use std::path::Path;

use localrank::features::{context_indices, Context, EventKind};

use super::catalogue::{Catalogue, MISSING_COLUMN};
use super::table::{self, Chunk};
use super::{found, shown, Problems};

pub const BAD_TIMESTAMP: &str = "bad timestamp";
pub const UNKNOWN_EVENT: &str = "unknown event";
pub const UNKNOWN_ITEM: &str = "unknown item_id (not in the catalogue)";
pub const MISSING_USER: &str = "empty user_id and session_id";
pub const MISSING_ITEM: &str = "empty item_id";

const COLUMNS: [&str; 9] = ["user_id", "session_id", "item_id", "event", "timestamp", "query", "device", "page_type", "promotion"];
// Indices into COLUMNS.
const USER: usize = 0;
const SESSION: usize = 1;
const ITEM: usize = 2;
const EVENT: usize = 3;
const TIME: usize = 4;
const DEVICE: usize = 6;
const PAGE_TYPE: usize = 7;
const PROMOTION: usize = 8;

/// One usable event. `item` is None for a `search` without an item.
pub struct Row<'a> {
    pub user: &'a str,
    pub item: Option<usize>,
    pub time: i64,
    pub kind: EventKind,
    /// Device, page type, promotion as model indices (`features::context_indices`); 0 unknown.
    pub context: [u8; 3],
}

/// Streams the events, checking each against the catalogue; `visit` sees the usable rows.
pub fn scan(path: &Path, cat: &Catalogue, problems: &mut Problems, mut visit: impl FnMut(Row)) -> Result<(), String> {
    let mut t = table::open(path, &COLUMNS)?;
    let missing: Vec<&str> = ["item_id", "event", "timestamp"].into_iter().filter(|c| !t.has(c)).collect();
    let no_user = !t.has("user_id") && !t.has("session_id");
    for c in missing.iter().copied().chain(no_user.then_some("user_id or session_id")) {
        problems.add(MISSING_COLUMN, || {
            format!("{}: no column {c:?} ({}); expected user_id or session_id, item_id, event, timestamp[, query, ...]", path.display(), found(&t.columns))
        });
    }
    table::scan(&mut t, &COLUMNS, problems, |chunk, i, at, problems| match check(cat, chunk, i, at, problems) {
        Some(row) => {
            visit(row);
            true
        }
        None => false,
    });
    Ok(())
}

/// Checks every column of row `i` (so one row can report several problems); the row is usable
/// only when all pass.
fn check<'a>(cat: &Catalogue, chunk: &'a Chunk, i: usize, at: &dyn Fn() -> String, problems: &mut Problems) -> Option<Row<'a>> {
    let user = chunk.cell(USER, i).or_else(|| chunk.cell(SESSION, i));
    if user.is_none() && (chunk.columns[USER].is_some() || chunk.columns[SESSION].is_some()) {
        problems.add(MISSING_USER, || format!("{}: columns \"user_id\"/\"session_id\": both empty, expected who the event belongs to", at()));
    }
    let kind = event_kind(chunk, i, at, problems);
    let time = chunk.columns[TIME].as_ref().and_then(|_| {
        let raw = chunk.cell(TIME, i).unwrap_or("");
        parse_time(raw)
            .map_err(|why| problems.add(BAD_TIMESTAMP, || format!("{}: column \"timestamp\": got {}, expected {why}", at(), shown(raw))))
            .ok()
    });
    let item = item(cat, chunk, i, kind, at, problems);
    let context = page_context(chunk, i);
    Some(Row { user: user?, item: item?, time: time?, kind: kind?, context })
}

/// The row's device, page type and promotion as the model's context indices.
fn page_context(chunk: &Chunk, i: usize) -> [u8; 3] {
    let promotion = chunk.cell(PROMOTION, i).and_then(|v| match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    });
    let ctx = Context {
        device: chunk.cell(DEVICE, i).map(str::to_string),
        page_type: chunk.cell(PAGE_TYPE, i).map(str::to_string),
        promotion,
        ..Context::default()
    };
    let all = context_indices(&ctx, &[]);
    [all[2], all[3], all[5]].map(|v| v as u8)
}

fn event_kind(chunk: &Chunk, i: usize, at: &dyn Fn() -> String, problems: &mut Problems) -> Option<EventKind> {
    chunk.columns[EVENT].as_ref()?;
    let raw = chunk.cell(EVENT, i).unwrap_or("");
    EventKind::parse(raw)
        .map_err(|_| problems.add(UNKNOWN_EVENT, || format!("{}: column \"event\": got {}, expected one of {}", at(), shown(raw), EventKind::NAMES.join(", "))))
        .ok()
}

/// The item's catalogue index; `Some(None)` for a search that names no item.
fn item(cat: &Catalogue, chunk: &Chunk, i: usize, kind: Option<EventKind>, at: &dyn Fn() -> String, problems: &mut Problems) -> Option<Option<usize>> {
    chunk.columns[ITEM].as_ref()?;
    match chunk.cell(ITEM, i) {
        None if kind == Some(EventKind::Search) => Some(None),
        None => {
            problems.add(MISSING_ITEM, || format!("{}: column \"item_id\": empty, expected an id from the catalogue", at()));
            None
        }
        Some(id) => match cat.index.get(id) {
            Some(&idx) => Some(Some(idx)),
            None => {
                problems.add(UNKNOWN_ITEM, || format!("{}: column \"item_id\": got {}, expected an item_id of the catalogue", at(), shown(id)));
                None
            }
        },
    }
}

const TIME_EXPECTED: &str = "ISO 8601 (2024-05-01T12:00:00Z) or Unix seconds (1714564800)";

/// Unix seconds from Unix seconds or ISO 8601 (arrow-cast's parser; no zone means UTC).
pub fn parse_time(raw: &str) -> Result<i64, &'static str> {
    if let Ok(v) = raw.parse::<f64>() {
        // Milliseconds since 1970 pass 1e11 in 1973; seconds reach it in the year 5138.
        return match v {
            v if !v.is_finite() => Err(TIME_EXPECTED),
            v if v.abs() >= 1e11 => Err("Unix seconds (this looks like milliseconds: divide by 1000)"),
            v => Ok(v as i64),
        };
    }
    arrow_cast::parse::string_to_timestamp_nanos(raw).map(|ns| ns.div_euclid(1_000_000_000)).map_err(|_| TIME_EXPECTED)
}
