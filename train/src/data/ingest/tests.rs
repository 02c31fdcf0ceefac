//! `validate` on hand-written fixtures (train/tests/fixtures/ingest/, labelled as fixtures):
//! one test per defect class, each checking the class, its count and the line/column named.

use std::path::PathBuf;

use super::catalogue::{DUPLICATE, EMPTY_TITLE, MISSING_COLUMN};
use super::events::{BAD_TIMESTAMP, MISSING_USER, UNKNOWN_EVENT, UNKNOWN_ITEM};
use super::table::NON_UTF8;
use super::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ingest").join(name)
}

fn check(events: &str, catalogue: &str) -> Report {
    validate(&fixture(events), &fixture(catalogue)).unwrap()
}

/// The class's count and its examples joined, for one file's problems.
fn class<'a>(p: &'a Problems, name: &str) -> (usize, String) {
    (p.count(name), p.classes.get(name).map_or(String::new(), |c| c.examples.join("\n")))
}

#[test]
fn clean_files_have_no_problems() {
    let r = check("events.csv", "catalogue.csv");
    assert!(r.is_clean(), "{}", r.render());
    assert_eq!((r.catalogue.rows, r.events.rows, r.events.skipped), (3, 5, 0));
}

#[test]
fn missing_column() {
    let r = check("events-missing-column.csv", "catalogue.csv");
    let (n, ex) = class(&r.events, MISSING_COLUMN);
    assert_eq!(n, 2, "{}", r.render());
    assert!(ex.contains("events-missing-column.csv: no column \"event\"") && ex.contains("\"timestamp\""), "{ex}");
    assert!(ex.contains("found: user_id, item_id, ts"), "{ex}");
    assert_eq!(r.events.skipped, 1, "a row without the required columns is skipped, and counted");
}

#[test]
fn bad_timestamp() {
    let r = check("events-bad-timestamp.csv", "catalogue.csv");
    let (n, ex) = class(&r.events, BAD_TIMESTAMP);
    assert_eq!(n, 2, "{}", r.render());
    assert!(ex.contains("events-bad-timestamp.csv:2: column \"timestamp\": got \"yesterday\", expected ISO 8601"), "{ex}");
    assert!(ex.contains(":3: column \"timestamp\"") && ex.contains("milliseconds"), "{ex}");
    assert_eq!(r.events.skipped, 2);
}

#[test]
fn unknown_event() {
    let r = check("events-unknown-event.csv", "catalogue.csv");
    let (n, ex) = class(&r.events, UNKNOWN_EVENT);
    assert_eq!(n, 1, "{}", r.render());
    assert!(ex.contains(":2: column \"event\": got \"page_view\", expected one of view_item, select_item"), "{ex}");
}

#[test]
fn unknown_item_in_events() {
    let r = check("events-unknown-item.csv", "catalogue.csv");
    let (n, ex) = class(&r.events, UNKNOWN_ITEM);
    assert_eq!(n, 1, "{}", r.render());
    assert!(ex.contains("events-unknown-item.csv:3: column \"item_id\": got \"Z9\""), "{ex}");
}

#[test]
fn duplicate_item_ids() {
    let r = check("events.csv", "catalogue-duplicate-ids.csv");
    let (n, ex) = class(&r.catalogue, DUPLICATE);
    assert_eq!(n, 1, "{}", r.render());
    assert!(ex.contains("catalogue-duplicate-ids.csv:4: column \"item_id\": \"A1\" already defined"), "{ex}");
}

#[test]
fn empty_title() {
    let r = check("events.csv", "catalogue-empty-title.csv");
    let (n, ex) = class(&r.catalogue, EMPTY_TITLE);
    assert_eq!(n, 2, "{}", r.render());
    assert!(ex.contains("catalogue-empty-title.csv:3: column \"title\": empty for item \"B2\""), "{ex}");
    // The untitled products are left out, so their events are unknown items: both reported.
    assert_eq!(r.events.count(UNKNOWN_ITEM), 3, "{}", r.render());
}

#[test]
fn non_utf8() {
    let r = check("events-non-utf8.csv", "catalogue.csv");
    let (n, ex) = class(&r.events, NON_UTF8);
    assert_eq!(n, 1, "{}", r.render());
    assert!(ex.contains("events-non-utf8.csv:3: column \"user_id\": invalid UTF-8"), "{ex}");
    // Reading goes on past the bad bytes.
    assert_eq!((r.events.rows, r.events.skipped), (3, 1));
}

#[test]
fn every_class_in_one_pass() {
    let r = check("events-all-defects.csv", "catalogue.csv");
    for c in [UNKNOWN_ITEM, UNKNOWN_EVENT, BAD_TIMESTAMP, MISSING_USER, NON_UTF8] {
        assert_eq!(r.events.count(c), 1, "{c}\n{}", r.render());
    }
    assert_eq!((r.events.rows, r.events.skipped), (4, 3));
}

#[test]
fn json_lines_with_session_ids() {
    let r = check("events.jsonl", "catalogue.csv");
    assert!(r.is_clean(), "{}", r.render());
    assert_eq!(r.events.rows, 2);
}

#[test]
fn parquet_events_with_typed_columns() {
    use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use std::sync::Arc;
    let dir = std::env::temp_dir().join(format!("localrank-ingest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("events.parquet");
    let s = |v: &[&str]| Arc::new(StringArray::from(v.to_vec())) as ArrayRef;
    let batch = RecordBatch::try_from_iter([
        ("user_id", s(&["u1", "u1", "u2"])),
        ("item_id", s(&["A1", "Z9", "C3"])),
        ("event", s(&["view_item", "purchase", "select_item"])),
        ("timestamp", Arc::new(Int64Array::from(vec![1714564800, 1714564900, 1714565000])) as ArrayRef),
    ])
    .unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let loaded = load(&path, &fixture("catalogue.csv")).unwrap();
    let (n, ex) = class(&loaded.report.events, UNKNOWN_ITEM);
    assert!(n == 1 && ex.contains("events.parquet: row 2: column \"item_id\""), "{ex}");
    assert_eq!(loaded.data.events.len(), 2);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn load_builds_the_pipeline_data() {
    let l = load(&fixture("events.csv"), &fixture("catalogue.csv")).unwrap();
    assert_eq!((l.data.products.len(), l.data.events.len(), l.searches), (3, 4, 1));
    assert_eq!(l.data.products[0].category(), "Shoes / Running");
    assert_eq!(l.data.products[0].title, "Trail shoe, waterproof");
    // Sorted by time: 12:06+02:00 is 10:06 UTC, the earliest event.
    let first = l.data.events[0];
    assert_eq!((l.users[first.user as usize].as_str(), first.item, first.time), ("u2", 1, 1714557960));
    assert_eq!(l.data.events.iter().map(|e| e.time).max(), Some(1714565000));
}

/// The event kind and the page-context columns reach the model's inputs as the browser's
/// `context_indices` map them; values outside the vocabularies read as unknown (0).
#[test]
fn event_kinds_and_context_columns_become_model_inputs() {
    let l = load(&fixture("events-context.csv"), &fixture("catalogue.csv")).unwrap();
    assert!(l.report.is_clean(), "{}", l.report.render());
    let got: Vec<(u8, [u8; 3])> = l.data.events.iter().map(|e| (e.kind, e.context)).collect();
    let kind = |k: localrank::features::EventKind| k.index() as u8;
    use localrank::features::EventKind::*;
    assert_eq!(got, vec![(kind(ViewItem), [2, 4, 2]), (kind(AddToCart), [3, 5, 1]), (kind(Purchase), [0, 6, 0])]);
}

#[test]
fn timestamps() {
    use super::events::parse_time;
    assert_eq!(parse_time("1714564800"), Ok(1714564800));
    assert_eq!(parse_time("2024-05-01T12:00:00Z"), Ok(1714564800));
    assert_eq!(parse_time("2024-05-01T14:00:00+02:00"), Ok(1714564800));
    assert_eq!(parse_time("2024-05-01 12:00:00"), Ok(1714564800));
    assert!(parse_time("1714564800000").is_err() && parse_time("01/05/2024").is_err() && parse_time("").is_err());
}

/// The converted examples read back into exactly the loaders' data (real data: the pinned
/// MovieLens-100k and Instacart wheels, fetched like the pipeline's own tests).
#[test]
fn converted_examples_read_back_as_the_loaders_data() {
    let dir = std::env::temp_dir().join(format!("localrank-examples-{}", std::process::id()));
    super::convert::run(&dir).unwrap();
    let src = crate::data::fetch::sources().unwrap();
    let ml = crate::data::movielens::load(&src.inter, &src.item, Some(crate::data::movielens::DEFAULT_TIE_SEED)).unwrap();
    let ic = crate::data::instacart::load().unwrap().data;
    for (name, want) in [("movielens-100k", ml), ("instacart-sample", ic)] {
        let got = load(&dir.join(name).join("events.csv"), &dir.join(name).join("catalogue.csv")).unwrap();
        assert!(got.report.is_clean(), "{name}: {}", got.report.render());
        let products = |d: &crate::data::movielens::Data| d.products.iter().map(|p| (p.id.clone(), p.title.clone(), p.category())).collect::<Vec<_>>();
        assert_eq!(products(&got.data), products(&want), "{name}");
        assert_eq!(got.data.categories, want.categories, "{name}");
        // Same events at the same times, by the files' user ids.
        let events = |d: &crate::data::movielens::Data, user: &dyn Fn(u32) -> String| {
            let mut v: Vec<_> = d.events.iter().map(|e| (e.time, user(e.user), d.products[e.item].id.clone())).collect();
            v.sort();
            v
        };
        assert_eq!(events(&got.data, &|u| got.users[u as usize].clone()), events(&want, &|u| u.to_string()), "{name}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn unreadable_record_is_reported_not_dropped() {
    let r = check("events-extra-field.csv", "catalogue.csv");
    let (n, ex) = class(&r.events, super::table::UNREADABLE);
    assert_eq!(n, 1, "{}", r.render());
    assert!(ex.contains("events-extra-field.csv") && ex.contains("line 3"), "{ex}");
}

#[test]
fn non_utf8_in_json_lines() {
    let r = check("events-non-utf8.jsonl", "catalogue.csv");
    let (n, ex) = class(&r.events, NON_UTF8);
    assert_eq!(n, 1, "{}", r.render());
    assert!(ex.contains("events-non-utf8.jsonl:2: a value: invalid UTF-8"), "{ex}");
    assert_eq!((r.events.rows, r.events.skipped), (2, 1));
}
