//! The CPU backend inside wasm (run with `wasm-pack test --node`): the shipped model gives the
//! golden scores written natively at export time.
#![cfg(target_arch = "wasm32")]

mod common;

use localrank::golden::TOLERANCE;
use localrank::runtime::cpu_device;
use localrank::Ranker;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn wasm_cpu_scores_match_native_golden() {
    let golden = common::golden();
    let mut ranker = Ranker::load(common::files(), cpu_device(), None).expect("model loads in wasm");
    for e in &golden.session {
        ranker.observe(e.clone()).unwrap();
    }
    let scores = ranker.model_scores(&golden.candidates, &golden.context).unwrap();
    let diff = golden.max_abs_diff(&scores);
    assert!(diff <= TOLERANCE, "wasm CPU scores differ from native golden by {diff}");
    // The check is not vacuous: scores vary across candidates.
    let spread = scores.iter().cloned().fold(f32::MIN, f32::max) - scores.iter().cloned().fold(f32::MAX, f32::min);
    assert!(spread > 0.1, "scores are nearly constant ({spread})");
}
