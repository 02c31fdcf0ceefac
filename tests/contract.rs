//! The model directory is the contract (issue 17): whatever a manifest.json, weights file or
//! tokenizer.json holds, `Ranker::load` answers with a value or a named error, never a panic, a
//! hang or a huge allocation, and every config value that shapes the computation is either
//! validated or bound to the weights by a sha256.
#![cfg(not(target_arch = "wasm32"))]

#[allow(dead_code)]
mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use serde_json::{json, Value};

use localrank::manifest::{sha256_hex, Manifest};
use localrank::runtime::cpu_device;
use localrank::{ModelFiles, Ranker};

/// What `Ranker::load` did with a set of files (read through `Debug` in failure reports).
#[derive(Debug)]
#[allow(dead_code)]
enum Outcome {
    Loaded,
    Refused(String),
    Panicked(String),
}

fn outcome(files: ModelFiles) -> Outcome {
    match catch_unwind(AssertUnwindSafe(|| Ranker::load(files, cpu_device(), None))) {
        Ok(Ok(_)) => Outcome::Loaded,
        Ok(Err(e)) => Outcome::Refused(e.to_string()),
        Err(p) => Outcome::Panicked(
            p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default(),
        ),
    }
}

/// The shipped manifest with `edit` applied.
fn manifest_with(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(common::MANIFEST).unwrap();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

fn load_manifest(manifest: &[u8]) -> Outcome {
    outcome(ModelFiles { manifest, ..common::files() })
}

/// Runs every case and reports all that were not refused with a message holding each of
/// `needles` (a panic in one case does not hide the others).
fn expect_refused(cases: Vec<(String, Outcome, Vec<String>)>) {
    let failures: Vec<String> = cases
        .into_iter()
        .filter_map(|(case, outcome, needles)| match &outcome {
            Outcome::Refused(m) if needles.iter().all(|n| m.contains(n.as_str())) => None,
            _ => Some(format!("{case}: {outcome:?} (expected an error naming {needles:?})")),
        })
        .collect();
    assert!(failures.is_empty(), "{} cases:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn shipped_model_satisfies_the_contract() {
    let m = Manifest::parse(common::MANIFEST).expect("shipped manifest parses");
    m.config.validate().expect("shipped config is in range");
    assert!(matches!(outcome(common::files()), Outcome::Loaded));
}

/// Defect 1: heads 0 divided by zero, dropout 1 tripped burn's assertion, huge sizes were
/// accepted, heads 3 with d_model 64 loaded and scored silently wrong.
#[test]
fn every_config_value_out_of_range_is_refused_by_name() {
    let cases: Vec<(&str, Value)> = vec![
        ("heads", json!(0)),
        ("heads", json!(3)),
        ("heads", json!(128)),
        ("dropout", json!(1.0)),
        ("dropout", json!(1.5)),
        ("dropout", json!(-0.1)),
        ("max_tokens", json!(1_000_000_000u64)),
        ("max_tokens", json!(0)),
        ("max_session", json!(0)),
        ("max_session", json!(100_000_000u64)),
        ("d_model", json!(0)),
        ("d_model", json!(1u64 << 20)),
        ("layers", json!(0)),
        ("layers", json!(1_000_000u64)),
        ("text_buckets", json!(1)),
        ("text_buckets", json!(1u64 << 40)),
        ("categories", json!(0)),
        ("categories", json!(1u64 << 30)),
        ("categories", json!(5)),
    ];
    let cases = cases
        .into_iter()
        .map(|(field, value)| {
            let manifest = manifest_with(|m| m["config"][field] = value.clone());
            (format!("config.{field} = {value}"), load_manifest(&manifest), vec![field.to_string(), value.to_string()])
        })
        .collect();
    expect_refused(cases);
}

/// The blend and the adaptation weight the manifest sets are bounded (issue 21: the weight
/// reaches every candidate's score).
#[test]
fn personalization_and_adaptation_out_of_range_are_refused_by_name() {
    let cases = [("personalization", json!(1.5)), ("personalization", json!(-0.1)), ("adaptation", json!(-1)), ("adaptation", json!(65)), ("adaptation", json!(1e30))]
        .into_iter()
        .map(|(field, value)| {
            let manifest = manifest_with(|m| m[field] = value.clone());
            (format!("{field} = {value}"), load_manifest(&manifest), vec![format!("manifest.json {field}")])
        })
        .collect();
    expect_refused(cases);
    for ok in [0.0, 16.0] {
        assert!(matches!(load_manifest(&manifest_with(|m| m["adaptation"] = json!(ok))), Outcome::Loaded), "adaptation {ok}");
    }
}

/// Every value in range may still produce a model too large for a page.
#[test]
fn configs_too_large_in_all_are_refused() {
    let manifest = manifest_with(|m| {
        m["config"]["d_model"] = json!(1024);
        m["config"]["text_buckets"] = json!(1 << 22);
    });
    expect_refused(vec![("d_model 1024 x 2^22 rows".into(), load_manifest(&manifest), vec!["parameters".into()])]);
}

/// Defect 2: values the tensor shapes do not show (heads, max_tokens, dropout, the order and
/// names of the categories) were covered by no sha256.
#[test]
fn config_in_range_but_unlike_the_export_is_refused_by_the_weights_digest() {
    type Edit = Box<dyn Fn(&mut Value)>;
    let edits: Vec<(&str, Edit)> = vec![
        ("heads 4", Box::new(|m| m["config"]["heads"] = json!(4))),
        ("heads 1", Box::new(|m| m["config"]["heads"] = json!(1))),
        ("max_tokens 16", Box::new(|m| m["config"]["max_tokens"] = json!(16))),
        ("dropout 0.1", Box::new(|m| m["config"]["dropout"] = json!(0.1))),
        ("categories swapped", Box::new(|m| m["categories"].as_array_mut().unwrap().swap(0, 1))),
        ("category renamed", Box::new(|m| m["categories"][0] = json!("Opera"))),
    ];
    let cases = edits
        .into_iter()
        .map(|(case, edit)| (case.to_string(), load_manifest(&manifest_with(edit)), vec!["does not match".to_string()]))
        .collect();
    expect_refused(cases);
}

/// Defect 3: a file of the wrong size is caught before any file is hashed or parsed.
#[test]
fn load_checks_both_sizes_before_hashing_or_parsing() {
    let mut weights = common::WEIGHTS.to_vec();
    weights[100] ^= 1;
    let tokenizer = &common::TOKENIZER[..common::TOKENIZER.len() - 1];
    let files = ModelFiles { weights: &weights, tokenizer, ..common::files() };
    let needles = vec!["tokenizer".to_string(), format!("{} bytes", tokenizer.len())];
    expect_refused(vec![("wrong weights, short tokenizer".into(), outcome(files), needles)]);
}

/// Defect 4: manifest paths are fetched relative to the model directory, so only plain relative
/// paths are accepted.
#[test]
fn manifest_paths_are_confined_to_the_model_directory() {
    let long = "a".repeat(300);
    let bad = [
        "../x", "a/../../x", "/abs", "https://evil/x", "//host/x", "a\\b", "..\\x", "%2e%2e/x", "x?y", "x#y", "", ".",
        "./x", "a//b", "a/", "C:x", "x y", "é", long.as_str(),
    ];
    let cases = bad
        .iter()
        .map(|&path| {
            let manifest = manifest_with(|m| m["files"]["weights"]["path"] = json!(path));
            let outcome = match Manifest::parse(&manifest) {
                Ok(_) => Outcome::Loaded,
                Err(e) => Outcome::Refused(e.to_string()),
            };
            let shown: String = path.chars().take(40).collect();
            (format!("path {path:.40?}"), outcome, vec!["weights".into(), format!("{shown:?}").trim_end_matches('"').to_string()])
        })
        .collect();
    expect_refused(cases);
    for good in ["localrank.q8", "v2/model-1_0.q8", "a.b.c"] {
        let manifest = manifest_with(|m| m["files"]["golden"]["path"] = json!(good));
        Manifest::parse(&manifest).unwrap_or_else(|e| panic!("{good}: {e}"));
    }
}

/// Defect 5: a file entry's size is capped and its sha256 is 64 lowercase hex characters.
#[test]
fn file_entries_have_capped_sizes_and_hex_digests() {
    let upper = sha256_hex(b"x").to_uppercase();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("bytes", json!(1u64 << 40), "1099511627776"),
        ("sha256", json!(upper), "sha256"),
        ("sha256", json!("abc"), "\"abc\""),
        ("sha256", json!(format!("{}g", &sha256_hex(b"x")[1..])), "sha256"),
    ];
    let cases = cases
        .into_iter()
        .map(|(field, value, needle)| {
            let manifest = manifest_with(|m| m["files"]["tokenizer"][field] = value.clone());
            let outcome = match Manifest::parse(&manifest) {
                Ok(_) => Outcome::Loaded,
                Err(e) => Outcome::Refused(e.to_string()),
            };
            (format!("{field} = {value}"), outcome, vec!["tokenizer".into(), field.into(), needle.into()])
        })
        .collect();
    expect_refused(cases);
}

#[test]
fn oversized_manifest_and_foreign_weights_formats_are_refused() {
    let mut big = common::MANIFEST.to_vec();
    big.extend(std::iter::repeat_n(b' ', 1 << 20));
    let burnpack = manifest_with(|m| m["weights_format"] = json!("burnpack"));
    let missing = manifest_with(|m| {
        m.as_object_mut().unwrap().remove("weights_format");
    });
    expect_refused(vec![
        ("manifest over 1 MiB".into(), load_manifest(&big), vec![format!("{} bytes", big.len())]),
        ("burnpack".into(), load_manifest(&burnpack), vec!["weights_format".into(), "burnpack".into()]),
        ("no weights_format".into(), load_manifest(&missing), vec!["weights_format".into()]),
    ]);
}

/// `inputs` (what training fed the model) is required and checked: without it, or with a list
/// that lacks the trained "unknown" or names a row the model does not have, the ranker could send
/// the browser's values to rows that were never trained.
#[test]
fn trained_inputs_are_required_and_in_range() {
    type Edit = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        ("no inputs", Box::new(|m| drop(m.as_object_mut().unwrap().remove("inputs"))), "missing field `inputs`"),
        ("local clock", Box::new(|m| m["inputs"]["clock"] = json!("local")), "inputs.clock is \"local\", expected \"utc\""),
        ("no event kind", Box::new(|m| m["inputs"]["event"] = json!([])), "inputs.event []"),
        ("event kind 6", Box::new(|m| m["inputs"]["event"] = json!([2, 6])), "inputs.event [2, 6]"),
        ("dwell without 0", Box::new(|m| m["inputs"]["dwell"] = json!([1])), "inputs.dwell [1]: expected indices within 0..5, 0 (unknown) included"),
        ("hour 25", Box::new(|m| m["inputs"]["context"][0] = json!([0, 25])), "inputs.hour [0, 25]: expected indices within 0..25"),
        ("device without 0", Box::new(|m| m["inputs"]["context"][2] = json!([2])), "inputs.device [2]"),
        ("category past the vocabulary", Box::new(|m| m["inputs"]["context"][4] = json!([0, 20])), "inputs.category [0, 20]: expected indices within 0..20"),
    ];
    expect_refused(
        cases.into_iter().map(|(case, edit, needle)| (case.to_string(), load_manifest(&manifest_with(edit)), vec![needle.to_string()])).collect(),
    );
}

/// The blend chosen on validation is the default of `rerank`'s `personalization`; out of range
/// it is refused; a manifest without it (older exports) keeps the library's 0.9.
#[test]
fn manifest_personalization_is_the_default_blend() {
    let load = |edit: Box<dyn FnOnce(&mut Value)>| {
        let manifest = manifest_with(edit);
        Ranker::load(ModelFiles { manifest: &manifest, ..common::files() }, cpu_device(), None).map(|r| r.default_options().personalization)
    };
    assert_eq!(load(Box::new(|m| m["personalization"] = json!(0.3))).unwrap(), 0.3);
    assert_eq!(load(Box::new(|m| m["personalization"] = json!(0.0))).unwrap(), 0.0, "0: the server order");
    let older = load(Box::new(|m| drop(m.as_object_mut().unwrap().remove("personalization")))).unwrap();
    assert_eq!(older, localrank::RerankOptions::default().personalization);
    for bad in [json!(1.5), json!(-0.1)] {
        let err = load(Box::new(move |m| m["personalization"] = bad.clone())).err().expect("refused").to_string();
        assert!(err.contains("personalization"), "{err}");
    }
}

/// serde_json stops at 128 levels of nesting (its `unbounded_depth` feature is not enabled in
/// this workspace), so a deeply nested tokenizer.json is an error, not a stack overflow.
#[test]
fn deeply_nested_tokenizer_json_is_an_error() {
    let depth = 100_000;
    let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    let model = format!(r#"{{"model":{{"type":"WordPiece","vocab":{objects}}}}}"#);
    let ignored = format!(r#"{{"unknown":{arrays}}}"#);
    for json in [arrays, objects, model, ignored] {
        let Err(err) = localrank::wordpiece::WordPiece::from_bytes(json.as_bytes()) else {
            panic!("a JSON nested {depth} deep was accepted");
        };
        assert!(err.to_string().contains("tokenizer.json"), "{err}");
    }
}

/// LRQ8 version 2, the config digest, the bounds of the decoder, and the manifest pin.
mod v2 {
    use super::*;
    use localrank::manifest::sha256_matches;
    use localrank::quant;

    /// Byte offset of the tensor count in a version 2 file.
    const COUNT_AT: usize = 40;

    /// The shipped files with `weights` in place of the shipped weights (the manifest's entry
    /// updated to match, so only the weights' content is under test).
    fn load_weights(weights: &[u8]) -> Outcome {
        let manifest = manifest_with(|m| {
            m["files"]["weights"]["bytes"] = json!(weights.len());
            m["files"]["weights"]["sha256"] = json!(sha256_hex(weights));
        });
        outcome(ModelFiles { manifest: &manifest, weights, ..common::files() })
    }

    fn header(count: u32) -> Vec<u8> {
        let m = Manifest::parse(common::MANIFEST).unwrap();
        let digest = quant::config_digest(&m.config, &m.categories);
        [&b"LRQ8"[..], &2u32.to_le_bytes(), &digest, &count.to_le_bytes()].concat()
    }

    fn u32s(values: &[u32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// The shipped model is compact (docs/size.md): LRQ8 version 3 (bits bytes, a row-coded
    /// token table), bound to the shipped config.
    #[test]
    fn shipped_weights_are_version_3_bound_to_the_shipped_config() {
        let m = Manifest::parse(common::MANIFEST).unwrap();
        assert_eq!(&common::WEIGHTS[..8], &[&b"LRQ8"[..], &3u32.to_le_bytes()].concat()[..]);
        assert_eq!(common::WEIGHTS[8..COUNT_AT], quant::config_digest(&m.config, &m.categories));
    }

    #[test]
    fn version_1_weights_are_refused_with_a_clear_message() {
        // A well-formed version 1 file (no digest, no bits bytes): one 8-bit tensor of one value.
        let v1 = [&b"LRQ8"[..], &1u32.to_le_bytes(), &u32s(&[1, 1, 1]), &1f32.to_le_bytes(), &[1]].concat();
        expect_refused(vec![("v1".into(), load_weights(&v1), vec!["version 1".into(), "version 2".into()])]);
    }

    #[test]
    fn lrq8_headers_that_claim_too_much_are_errors() {
        let tail = vec![0u8; 64];
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("2^32-1 tensors", [header(u32::MAX), tail.clone()].concat(), "4294967295 tensors"),
            ("1024+ tensors", [header(5000), vec![0; 5000 * 13]].concat(), "5000 tensors"),
            ("rank 2^32-1", [header(1), u32s(&[u32::MAX]), tail.clone()].concat(), "rank 4294967295"),
            ("dims overflow", [header(1), u32s(&[8]), u32s(&[u32::MAX; 8]), tail.clone()].concat(), "larger than"),
            ("dims beyond file", [header(1), u32s(&[2, 65536, 65536]), tail.clone()].concat(), "larger than"),
            ("empty tensor", [header(1), u32s(&[2, 0, 7]), tail.clone()].concat(), "empty"),
            ("NaN scale", [header(1), u32s(&[1, 1]), f32::NAN.to_le_bytes().to_vec(), vec![1]].concat(), "scale"),
            ("truncated header", header(1)[..20].to_vec(), "truncated"),
            ("trailing bytes", [common::WEIGHTS, &[0]].concat(), "trailing"),
        ];
        let cases = cases
            .into_iter()
            .map(|(case, bytes, needle)| (case.to_string(), load_weights(&bytes), vec![needle.to_string()]))
            .collect();
        expect_refused(cases);
    }

    #[test]
    fn manifest_pin_accepts_hex_and_sri_and_names_a_mismatch() {
        let hex = sha256_hex(common::MANIFEST);
        let digest: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
        let sri = format!("sha256-{}", base64(&digest));
        for pin in [hex.clone(), hex.to_uppercase(), sri.clone(), sri.trim_end_matches('=').to_string(), format!(" {sri} ")] {
            sha256_matches(common::MANIFEST, &pin).unwrap_or_else(|e| panic!("{pin}: {e}"));
        }
        let other = sha256_hex(b"another manifest");
        let err = sha256_matches(common::MANIFEST, &other).unwrap_err().to_string();
        assert!(err.contains(&hex) && err.contains(&other), "{err}");
        let err = sha256_matches(b"x", &sri).unwrap_err().to_string();
        assert!(err.contains(&sri) && err.contains("sha256-"), "{err}");
        for bad in ["", "sha256-", "sha256-abc", "sha384-abc", &hex[1..], format!("{}z", &hex[1..]).as_str(), "sha256-???"] {
            let err = sha256_matches(common::MANIFEST, bad).unwrap_err().to_string();
            assert!(err.contains("integrity") && err.contains("malformed"), "{bad:?}: {err}");
        }
    }

    /// Standard base64 with padding, written out here so that the test does not share the
    /// decoder it checks.
    fn base64(bytes: &[u8]) -> String {
        let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in bytes.chunks(3) {
            let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
            let n = u32::from_be_bytes([0, b[0], b[1], b[2]]);
            for i in 0..4 {
                out.push(if i <= c.len() { table[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
            }
        }
        out
    }

    /// One-off migration of the shipped weights to LRQ8 v2 (tensors unchanged, so
    /// models/golden.json stays valid) and of the manifest's weights entry. Idempotent.
    /// Run: `cargo test -p localrank --test contract -- --ignored rewrite_shipped_weights`.
    #[test]
    #[ignore = "rewrites models/localrank.q8 and models/manifest.json"]
    fn rewrite_shipped_weights_as_version_2() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
        let m: Manifest = serde_json::from_str(&text).unwrap();
        let old = m.file("weights").unwrap().clone();
        let weights = std::fs::read(dir.join(&old.path)).unwrap();
        let new = quant::bind(&weights, &m.config, &m.categories).unwrap();
        let (sha, bytes) = (sha256_hex(&new), new.len());
        let start = text.find("\"weights\": {").unwrap();
        let entry = &text[start..start + text[start..].find('}').unwrap()];
        let updated = entry
            .replace(&format!("\"bytes\": {}", old.bytes), &format!("\"bytes\": {bytes}"))
            .replace(&old.sha256, &sha);
        std::fs::write(dir.join(&old.path), &new).unwrap();
        std::fs::write(dir.join("manifest.json"), text.replacen(entry, &updated, 1)).unwrap();
        println!("{}: {bytes} bytes, sha256 {sha}", old.path);
    }
}
