//! libFuzzer twin of ../../tests/inputs.rs: the JSON decoders of browser inputs, then the
//! shipped model with what decoded. The first byte picks the decoder. libFuzzer reports any
//! panic or abort as a crash; the asserts are the decoders' documented ranges.
#![no_main]

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use localrank::input::{parse_candidates, parse_context, parse_event, parse_options};
use localrank::runtime::cpu_device;
use localrank::{ModelFiles, Ranker};

const MANIFEST: &[u8] = include_bytes!("../../../models/manifest.json");
const WEIGHTS: &[u8] = include_bytes!("../../../models/localrank.q8");
const TOKENIZER: &[u8] = include_bytes!("../../../models/vocab.txt");

fn ranker() -> &'static Mutex<Ranker> {
    static R: OnceLock<Mutex<Ranker>> = OnceLock::new();
    R.get_or_init(|| {
        let files = ModelFiles { manifest: MANIFEST, weights: WEIGHTS, tokenizer: TOKENIZER };
        Mutex::new(Ranker::load(files, cpu_device(), None).expect("the shipped model loads"))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, json)) = data.split_first() else { return };
    let mut ranker = ranker().lock().unwrap_or_else(|p| p.into_inner());
    match mode % 4 {
        0 => {
            if let Ok(event) = parse_event(json, 1.7e12) {
                ranker.clear();
                let _ = ranker.observe(event);
            }
        }
        1 => {
            if let Ok(items) = parse_candidates(json) {
                assert!(items.iter().all(|i| i.popularity.is_none_or(|p| p.is_finite() && p >= 0.0)));
                if let Ok(ranked) = ranker.rerank(&items, &Default::default(), Default::default()) {
                    assert_eq!(ranked.len(), items.len());
                    assert!(ranked.iter().all(|r| r.score.is_finite()));
                }
            }
        }
        2 => {
            if let Ok(ctx) = parse_context(json) {
                assert!(ctx.hour.is_none_or(|h| h <= 23) && ctx.weekday.is_none_or(|d| d <= 6));
            }
        }
        _ => {
            if let Ok((options, _)) = parse_options(json, localrank::RerankOptions::default()) {
                assert!(options.validate().is_ok());
            }
        }
    }
});
