//! What the fuzz targets (`tests/*.rs`) share: the shipped model files, the case budget, a
//! runner that reports cases and time, the checks made of every localrank result, and the
//! strategies for the values the browser hands the library (text, numbers, events, items).
//!
//! Budget: `PROPTEST_CASES` (every target) or each target's small default, so that
//! `cargo test --workspace` (CI) stays short and `PROPTEST_CASES=20000 cargo test -p
//! localrank-fuzz --release` is a long run (README.md).

use std::fmt::Debug;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use localrank::features::{Context, Event, EventKind, Item};
use localrank::{Error, ModelFiles, RerankOptions};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};

pub use proptest;

pub const MANIFEST: &[u8] = include_bytes!("../../models/manifest.json");
pub const WEIGHTS: &[u8] = include_bytes!("../../models/localrank.q8");
pub const TOKENIZER: &[u8] = include_bytes!("../../models/vocab.txt");

/// The shipped model files.
pub fn files() -> ModelFiles<'static> {
    ModelFiles { manifest: MANIFEST, weights: WEIGHTS, tokenizer: TOKENIZER }
}

/// Cases per target: `PROPTEST_CASES` when set, else `default` (the CI budget).
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

/// The seed of a run: `PROPTEST_RNG_SEED` when set; else a fixed one for the CI budget (so that
/// `cargo test` explores the same cases every time and is not flaky), and a fresh one for a run
/// given `PROPTEST_CASES` (a long run explores new cases). Printed either way, so that a failure
/// is reproduced with `PROPTEST_RNG_SEED=<seed>`.
pub fn seed() -> u64 {
    if let Some(seed) = std::env::var("PROPTEST_RNG_SEED").ok().and_then(|v| v.trim().parse().ok()) {
        return seed;
    }
    match std::env::var_os("PROPTEST_CASES") {
        None => 17,
        Some(_) => {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
            h.finish()
        }
    }
}

/// Runs `test` on `cases(default_cases)` values of `strategy`, prints the cases run, the seed
/// and the time taken, and on a failure panics with the failure and the shrunk (minimal) input.
/// A panic of `test` (of localrank) is caught and reported as a failure with its message, never
/// unwound past the runner, so proptest shrinks it like any other failure.
pub fn run<S>(name: &str, default_cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), String>)
where
    S: Strategy,
    S::Value: Debug,
{
    let seed = seed();
    let config = Config {
        cases: cases(default_cases),
        rng_seed: RngSeed::Fixed(seed),
        // Failures are reported with their input and kept as #[test]s in the target, not in
        // proptest-regressions files.
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    };
    let cases = config.cases;
    // An abort (a failed allocation) ends the process before proptest can report: with
    // FUZZ_TRACE set, each input is printed before it runs, so the last one printed is it.
    let trace = std::env::var_os("FUZZ_TRACE").is_some();
    let mut runner = TestRunner::new(config);
    let calls = AtomicU64::new(0);
    let start = Instant::now();
    let result = runner.run(&strategy, |value| {
        calls.fetch_add(1, Ordering::Relaxed);
        if trace {
            eprintln!("fuzz {name}: input {value:?}");
        }
        match catch_unwind(AssertUnwindSafe(|| test(value))) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(failure)) => Err(TestCaseError::fail(failure)),
            Err(panic) => Err(TestCaseError::fail(format!("panicked: {}", panic_message(&*panic)))),
        }
    });
    let calls = calls.load(Ordering::Relaxed);
    let secs = start.elapsed().as_secs_f64();
    match result {
        Ok(()) => eprintln!("fuzz {name}: {cases} cases passed in {secs:.1} s (PROPTEST_RNG_SEED={seed})"),
        Err(TestError::Fail(reason, input)) => {
            eprintln!("fuzz {name}: FAILED after {calls} runs (shrinking included) in {secs:.1} s (PROPTEST_RNG_SEED={seed})");
            let input = format!("{input:#?}");
            let input = match input.char_indices().nth(20_000) {
                Some((at, _)) => format!("{}... ({} bytes in all)", &input[..at], input.len()),
                None => input,
            };
            panic!("fuzz {name}: {reason}\nminimal input: {input}");
        }
        Err(TestError::Abort(reason)) => {
            panic!("fuzz {name}: aborted after {calls} runs in {secs:.1} s (PROPTEST_RNG_SEED={seed}): {reason}")
        }
    }
}

/// The message of a caught panic.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a panic without a string message)".into())
}

/// `f()`, with a panic turned into an `Err` naming `what` (for the fixed cases: the input is
/// in the test's name).
pub fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| format!("{what} panicked: {}", panic_message(&*p)))
}

/// An error of localrank must say what is wrong: a non-empty message.
pub fn check_error(what: &str, e: &Error) -> Result<(), String> {
    let (Error::Input(m) | Error::Model(m) | Error::Backend(m)) = e;
    if m.trim().is_empty() || e.to_string().trim().is_empty() {
        return Err(format!("{what}: error with an empty message: {}", short(e)));
    }
    Ok(())
}

/// `check_error` of a result's error, if any.
pub fn check_result<T>(what: &str, r: &localrank::Result<T>) -> Result<(), String> {
    match r {
        Ok(_) => Ok(()),
        Err(e) => check_error(what, e),
    }
}

/// `Debug` of `value`, cut to 600 characters: failures print inputs of megabytes otherwise.
pub fn short(value: impl Debug) -> String {
    let text = format!("{value:?}");
    match text.char_indices().nth(600) {
        Some((at, _)) => format!("{}... ({} bytes)", &text[..at], text.len()),
        None => text,
    }
}

/// `Err(msg)` unless `cond`.
pub fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(msg()) }
}

/// Checks a successful rerank of `candidates`: with `top_k` absent a permutation of their ids,
/// else a prefix of length min(k, n) of distinct candidate ids; every `server_rank` pointing at
/// the candidate with that id; reasons present exactly when asked for; and, when
/// `finite_scores`, every score and reason effect finite.
pub fn check_ranked(
    candidates: &[Item],
    options: &RerankOptions,
    explained: bool,
    ranked: &[localrank::Ranked],
    finite_scores: bool,
) -> Result<(), String> {
    let n = candidates.len();
    let want = options.top_k.map_or(n, |k| k.min(n));
    ensure(ranked.len() == want, || format!("{} results for {n} candidates and topK {:?}", ranked.len(), options.top_k))?;
    let mut seen = std::collections::HashSet::new();
    for (i, r) in ranked.iter().enumerate() {
        ensure(seen.insert(r.id.as_str()), || format!("results[{i}]: id {} twice", short(&r.id)))?;
        let c = r.server_rank.checked_sub(1).and_then(|at| candidates.get(at));
        ensure(c.is_some_and(|c| c.id == r.id), || {
            format!("results[{i}]: id {} with serverRank {}, not that candidate's", short(&r.id), r.server_rank)
        })?;
        ensure(r.reasons.is_some() == explained, || format!("results[{i}]: reasons {}, explained {explained}", short(&r.reasons)))?;
        if finite_scores {
            ensure(r.score.is_finite(), || format!("results[{i}] ({}): score {} is not finite", short(&r.id), r.score))?;
            for reason in r.reasons.iter().flatten() {
                ensure(reason.effect.is_finite(), || format!("results[{i}]: reason {} has a non-finite effect", short(reason)))?;
            }
        }
    }
    Ok(())
}

/// Strategies for what a page hands the library.
pub mod arb {
    use super::*;

    /// Texts that have broken tokenizers: empty and blank, NUL and control characters, lone
    /// surrogates' replacement, RTL overrides, combining marks, case mappings that change
    /// length, CJK, emoji, BERT's special tokens, words longer than WordPiece's 100 characters.
    pub const TRICKY_TEXTS: &[&str] = &[
        "",
        " ",
        "\t\n\r",
        "\0",
        "a\0b",
        "\u{FFFD}",
        "\u{202E}Star Wars\u{202C}",
        "\u{200F}\u{05E9}\u{05DC}\u{05D5}\u{05DD}",
        "e\u{301}\u{302}\u{303}\u{304}\u{305}",
        "\u{301}",
        "\u{130}stanbul",
        "Stra\u{DF}e",
        "\u{FB03}",
        "\u{96FB}\u{5F71} \u{4E16}\u{754C}",
        "\u{1F600}\u{1F3AC}\u{200D}\u{1F525}",
        "\u{E000}\u{10FFFF}",
        "\u{7F}\u{9F}\u{AD}",
        "[UNK]",
        "[CLS] Toy Story [SEP] [MASK] [PAD]",
        "##ing ## #",
        "Toy Story (1995)",
        "Star Wars (1977) Action / Sci-Fi",
        "Drama > Romance | War, Crime",
        "supercalifragilisticexpialidocioussupercalifragilisticexpialidocioussupercalifragilisticexpialidocious!",
    ];

    pub fn text() -> BoxedStrategy<String> {
        prop_oneof![
            4 => proptest::sample::select(TRICKY_TEXTS).prop_map(str::to_string),
            3 => "[a-zA-Z0-9 ()'&:,.-]{1,40}",
            2 => any::<String>().prop_map(|s| s.chars().take(64).collect()),
            1 => (proptest::sample::select(TRICKY_TEXTS), proptest::sample::select(TRICKY_TEXTS))
                .prop_map(|(a, b)| format!("{a}{b}")),
            1 => (any::<char>(), 0..400usize).prop_map(|(c, n)| std::iter::repeat_n(c, n).collect()),
        ]
        .boxed()
    }

    /// Mostly real-looking titles (so that rerank gets past validation), sometimes tricky text.
    pub fn title() -> BoxedStrategy<String> {
        prop_oneof![
            6 => "[A-Z][a-z]{2,8}( [A-Z][a-z]{2,8}){0,3} \\(19[5-9][0-9]\\)",
            2 => text(),
        ]
        .boxed()
    }

    pub fn category() -> BoxedStrategy<String> {
        prop_oneof![
            proptest::sample::select(&["Drama", "Comedy", "action", "Sci-Fi", "Drama / War", "Movies > Horror", "unknown", "Nope", ""][..])
                .prop_map(str::to_string),
            text(),
        ]
        .boxed()
    }

    /// f64 edges: zeros of both signs, subnormals, the largest, infinities, NaN, epoch millis.
    pub fn f64_edge() -> BoxedStrategy<f64> {
        prop_oneof![
            3 => Just(1.7e12),
            2 => any::<f64>(),
            1 => proptest::sample::select(&[0.0, -0.0, 1e308, -1e308, f64::MAX, f64::MIN, f64::MIN_POSITIVE, 5e-324,
                f64::INFINITY, f64::NEG_INFINITY, f64::NAN, -1.0, 9.007_199_254_740_993e15][..]),
            1 => 0.0..1e6,
        ]
        .boxed()
    }

    pub fn f32_edge() -> BoxedStrategy<f32> {
        prop_oneof![
            2 => 0.0f32..=1.0,
            1 => any::<f32>(),
            1 => proptest::sample::select(&[0.0, -0.0, 1.0, -1.0, f32::MAX, f32::MIN, f32::MIN_POSITIVE, 1e-45,
                f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 1.000_000_1, -1e-7][..]),
        ]
        .boxed()
    }

    /// Event times: mostly plausible ones (2000-01-01 to now: the rule since c58f340), else edges.
    pub fn timestamp() -> BoxedStrategy<f64> {
        prop_oneof![6 => 946_684_800_000.0..1.76e12, 1 => f64_edge()].boxed()
    }

    /// Dwell times: mostly within a day (the rule since c58f340), else edges.
    pub fn dwell() -> BoxedStrategy<f64> {
        prop_oneof![6 => 0.0..86_400_000.0, 1 => f64_edge()].boxed()
    }

    pub fn price() -> BoxedStrategy<f64> {
        prop_oneof![6 => 0.0..1e4, 1 => f64_edge()].boxed()
    }

    pub fn kind() -> impl Strategy<Value = EventKind> {
        proptest::sample::select(&[EventKind::ViewItem, EventKind::SelectItem, EventKind::AddToCart, EventKind::Purchase, EventKind::Search][..])
    }

    pub fn event() -> impl Strategy<Value = Event> {
        (
            kind(),
            proptest::option::of(prop_oneof![3 => "p[0-9]{1,2}", 1 => text()]),
            title(),
            category(),
            proptest::option::of(price()),
            timestamp(),
            proptest::option::weighted(0.5, dwell()),
            proptest::option::weighted(0.7, title()),
        )
            .prop_map(|(kind, item_id, title, category, price, timestamp_ms, dwell_ms, query)| Event {
                kind,
                item_id,
                title,
                category,
                price,
                timestamp_ms,
                dwell_ms,
                query,
            })
    }

    /// A candidate; ids from a small pool so that duplicates happen. Popularity mostly within
    /// 0..=f32::MAX, sometimes negative, NaN or infinite (refused since f02216e: they made NaN
    /// scores).
    pub fn item() -> impl Strategy<Value = Item> {
        let popularity = prop_oneof![
            6 => 0.0f32..1e4,
            2 => proptest::sample::select(&[0.0, -0.0, 1e-45, f32::MIN_POSITIVE, 1.0, 1e30, f32::MAX][..]),
            1 => f32_edge(),
        ];
        (
            prop_oneof![6 => "p[0-9]", 1 => Just(String::new()), 1 => text()],
            title(),
            category(),
            proptest::option::weighted(0.3, popularity),
        )
            .prop_map(|(id, title, category, popularity)| Item { id, title, category, popularity })
    }

    pub fn context() -> impl Strategy<Value = Context> {
        let small = || proptest::option::of(prop_oneof![3 => 0u32..30, 1 => any::<u32>()]);
        let word = |words: &'static [&'static str]| {
            proptest::option::of(prop_oneof![3 => proptest::sample::select(words).prop_map(str::to_string), 1 => text()])
        };
        (
            small(),
            small(),
            word(&["desktop", "mobile", "tablet", "TABLET", "watch"]),
            word(&["home", "search", "category", "product", "cart", "checkout"]),
            proptest::option::of(category()),
            proptest::option::of(any::<bool>()),
            proptest::option::of(title()),
        )
            .prop_map(|(hour, weekday, device, page_type, category, promotion, query)| Context {
                hour,
                weekday,
                device,
                page_type,
                category,
                promotion,
                query,
            })
    }

    /// A candidate list of up to `max` items, with distinct ids four times in five (else as
    /// drawn: duplicates and empty ids happen).
    pub fn candidates(max: usize) -> impl Strategy<Value = Vec<Item>> {
        (proptest::collection::vec(item(), 0..=max), proptest::bool::weighted(0.8)).prop_map(|(mut items, distinct)| {
            if distinct {
                items.iter_mut().enumerate().for_each(|(i, c)| c.id = format!("p{i}"));
            }
            items
        })
    }

    pub fn options() -> impl Strategy<Value = RerankOptions> {
        (
            proptest::option::of(prop_oneof![3 => 1usize..12, 1 => Just(0), 1 => any::<usize>()]),
            prop_oneof![3 => Just(0.9f32), 2 => 0.0f32..=1.0, 1 => f32_edge()],
            prop_oneof![3 => Just(0.0f32), 2 => 0.0f32..=1.0, 1 => f32_edge()],
        )
            .prop_map(|(top_k, personalization, long_tail)| RerankOptions { top_k, personalization, long_tail })
    }
}
