//! `localrank-train validate` as a user runs it: the report on stdout and the exit status
//! (0 clean, 1 problems), on the hand-written fixtures in tests/fixtures/ingest/.

use std::process::Command;

fn validate(events: &str, catalogue: &str) -> (i32, String) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ingest/");
    let out = Command::new(env!("CARGO_BIN_EXE_localrank-train"))
        .args(["validate", "--events", &format!("{dir}{events}"), "--catalogue", &format!("{dir}{catalogue}")])
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn clean_files_exit_0() {
    let (code, out) = validate("events.csv", "catalogue.csv");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("events: 5 rows read, 0 skipped") && out.contains("ok: no problems"), "{out}");
}

#[test]
fn problems_are_listed_and_exit_1() {
    let (code, out) = validate("events-all-defects.csv", "catalogue-duplicate-ids.csv");
    assert_eq!(code, 1, "{out}");
    for line in [
        "duplicate item_id: 1",
        "events: 4 rows read, 3 skipped",
        "bad timestamp: 1",
        "unknown event: 1",
        "non-UTF-8 text: 1",
        "events-all-defects.csv:5: column \"user_id\": invalid UTF-8 bytes",
    ] {
        assert!(out.contains(line), "{line:?} not in\n{out}");
    }
}
