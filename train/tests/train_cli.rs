//! The documented path for a storefront's own logs, end to end through the command line on real
//! data: `convert-examples` writes MovieLens-100k in the input format, `validate` accepts it,
//! `all --events --catalogue` trains teacher and students, distils, quantises, evaluates and
//! exports. The exported model must beat popularity on its own evaluation, record its seed and
//! config, and (tests/browser/trained-model.test.mjs) load in the browser package.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the browser test finds the model (`LOCALRANK_E2E_MODELS` there, this path by default).
fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("localrank-e2e").join("models")
}

fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_localrank-train")).args(args).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn ndcg(evaluation: &serde_json::Value, model: &str) -> f64 {
    let rows = evaluation["rows"].as_array().unwrap();
    rows.iter().find(|r| r["model"] == model).unwrap_or_else(|| panic!("no row {model}"))["ndcg@10"].as_f64().unwrap()
}

#[test]
fn examples_train_through_the_cli_into_a_model_that_beats_popularity() {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("localrank-e2e");
    let examples = root.join("examples");
    let (code, _, err) = cli(&["convert-examples", "--out", examples.to_str().unwrap()]);
    assert_eq!(code, 0, "convert-examples failed:\n{err}");
    let dir = examples.join("movielens-100k");
    let (events, catalogue) = (dir.join("events.csv"), dir.join("catalogue.csv"));
    let (events, catalogue) = (events.to_str().unwrap(), catalogue.to_str().unwrap());
    let (code, out, _) = cli(&["validate", "--events", events, "--catalogue", catalogue]);
    assert_eq!(code, 0, "validate:\n{out}");

    let models = models_dir();
    std::fs::remove_dir_all(&models).ok();
    let args = [
        "all", "--events", events, "--catalogue", catalogue, "--epochs", "2", "--seed", "42", "--seeds", "1", "--skip-loo",
        "--name", "localrank-e2e", "--out", models.to_str().unwrap(), "--check-folds", "0",
    ];
    let (code, _, err) = cli(&args);
    assert_eq!(code, 0, "all failed:\n{err}");
    assert!(err.contains("epoch   2/2") && err.contains("left)"), "progress lines (epoch, loss, validation, time left) missing:\n{err}");

    let evaluation = json(&models.join("evaluation.json"));
    // The model alone (blend 1), so that a blend chosen near the server order (0.0256 here,
    // above popularity's 0.0230) cannot pass it: at 2 epochs 0.0337 (2026-12-08).
    let (q8, popularity) = (ndcg(&evaluation, "student-q8 model only"), ndcg(&evaluation, "popularity"));
    assert!(q8 > popularity, "the exported student-q8 alone (NDCG@10 {q8:.4}) must beat popularity ({popularity:.4})");

    let manifest = json(&models.join("manifest.json"));
    assert_eq!(manifest["name"], "localrank-e2e");
    let training = &manifest["training"];
    assert_eq!(training["settings"]["seed"], 42);
    assert_eq!(training["settings"]["epochs"], 2);
    assert_eq!(training["inputs"].as_array().map(Vec::len), Some(2), "both input files with their sha256");
    assert_eq!(training["inputs"][0]["sha256"].as_str().map(str::len), Some(64));
    let report = std::fs::read_to_string(models.join("report.md")).unwrap();
    for part in ["## Data", "events: 100000 rows read, 0 skipped", "## Split", "## Test metrics", "| student-q8 |", "localrank.q8"] {
        assert!(report.contains(part), "report.md lacks {part:?}:\n{report}");
    }
    // The compact model ships (docs/size.md); the full one it was cut from stays in full/.
    for file in ["localrank.q8", "vocab.txt", "golden.json", "compact-check.json", "full/localrank.q8", "full/tokenizer.json"] {
        assert!(models.join(file).exists(), "{file} not exported");
    }
    assert_eq!(json(&models.join("manifest.json"))["files"]["tokenizer"]["path"], "vocab.txt");
    let check = json(&models.join("compact-check.json"));
    assert_eq!(check["compact"]["parts"], 1);
    // The held-out-products check (one more model per fold) is skipped here to save CI time.
    for slice in ["lists", "new_products"] {
        assert!(check[slice]["requests"].as_u64().is_some_and(|n| n > 0), "{slice}: {}", check[slice]);
    }
    assert!(check["held_out_products"].is_null(), "--check-folds 0");
    assert!(!models.join("tokenizer.json").exists(), "the full vocabulary is not shipped");
    assert!(report.contains("Stored compactly"), "report.md's Model section describes the compact model:\n{report}");
}

#[test]
fn bad_input_names_the_file_and_fails() {
    let missing = "/nonexistent/events.csv";
    let (code, _, err) = cli(&["all", "--events", missing, "--catalogue", missing, "--epochs", "1"]);
    assert_eq!(code, 2);
    assert!(err.contains(missing), "{err}");
}

/// The last saved state of the quick teacher's checkpoint under `out`.
fn teacher_state(out: &Path) -> serde_json::Value {
    json(&out.join("checkpoints/quick/seed7/teacher/state.json"))
}

#[test]
fn an_interrupted_run_resumed_ends_where_an_uninterrupted_one_does() {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("localrank-resume");
    let (whole, stopped) = (root.join("whole"), root.join("stopped"));
    std::fs::remove_dir_all(&root).ok();
    let run = |out: &Path, epochs: &str, resume: bool| {
        let mut args = vec!["teacher", "--epochs", epochs, "--seed", "7", "--loss", "sampled", "--out", out.to_str().unwrap()];
        if resume {
            args.push("--resume");
        }
        let (code, _, err) = cli(&args);
        assert_eq!(code, 0, "teacher {args:?} failed:\n{err}");
        err
    };
    run(&whole, "2", false);
    // "Interrupted" after epoch 1: its checkpoint holds 1 epoch; --resume trains the second.
    run(&stopped, "1", false);
    assert_eq!(teacher_state(&stopped)["epoch"], 1);
    let err = run(&stopped, "2", true);
    assert!(err.contains("after epoch 1") && !err.contains("epoch   1/2") && err.contains("epoch   2/2"), "did not continue after epoch 1:\n{err}");
    let (a, b) = (teacher_state(&whole), teacher_state(&stopped));
    assert_eq!(b["epoch"], 2);
    // Losses and validation metrics of every epoch, to f64 precision: the second epoch's loss
    // depends on every weight and Adam moment after the first, and on its batches and negatives.
    assert_eq!(a["log"], b["log"], "resumed run differs from the uninterrupted one");

    // A checkpoint of other settings (learning rate, loss) is refused with its reason, not
    // silently continued.
    for other in [["--teacher-lr", "0.01", "--loss", "sampled"], ["--teacher-lr", "0.003", "--loss", "full"]] {
        let mut args = vec!["teacher", "--epochs", "2", "--seed", "7", "--resume", "--out", stopped.to_str().unwrap()];
        args.extend(other);
        let (code, _, err) = cli(&args);
        assert_ne!(code, 0, "{args:?} continued another run's checkpoint");
        assert!(err.contains("another run"), "{err}");
    }
}
