//! The wasm side of the JavaScript API (wasm-bindgen). The only Rust file that knows about JS.
//!
//! The public API is `js/localrank.js` (`LocalRanker`), which wraps the `RankerCore` exported
//! here. That split is what makes every call settle: the wrapper reads the page's arguments
//! safely (`js/input.js`: no getter, Proxy, cycle or deep object ever reaches wasm), fetches and
//! size-checks the model files before a byte is copied in, and turns a trap (a panic: wasm32
//! cannot unwind) into a rejected call and a ranker marked broken. Everything that can run
//! synchronously does: a panic inside an async Rust function would leave wasm-bindgen-futures'
//! task queue half-run, so on the CPU backend no Rust future is ever polled; only the WebGPU
//! build's `loadWebgpu`/`rerankAsync` are async, and the wrapper rejects all of them after a
//! panic instead of waiting.
//!
//! Inputs arrive as JSON text in the shape `js/input.js` writes and are decoded by `input.rs`
//! (native, fuzzed); every export returns `Result<_, JsError>` whose message says what was
//! wrong and where.

use std::cell::RefCell;

use js_sys::{Array, Function};
use wasm_bindgen::prelude::*;

use crate::error::Error;
use crate::input::{parse_candidates, parse_context, parse_event, parse_options};
use crate::manifest::{sha256_matches, Manifest};
use crate::ranker::{FileDigests, ModelFiles, PendingRerank, Ranker, MAX_CANDIDATES};
use crate::rerank::Ranked;
use crate::runtime::{cpu_device, webgpu_compiled, webgpu_device, Backend};

unsafe extern "C" {
    /// Static constructors, synthesised by wasm-ld (cubecl registers kernels through `inventory`).
    fn __wasm_call_ctors();
}

thread_local! {
    /// The wrapper's function told of a panic before the trap (`setPanicListener`).
    static PANIC_LISTENER: RefCell<Option<Function>> = const { RefCell::new(None) };
}

/// Registers the function the panic hook calls with the panic's message, before wasm traps:
/// the wrapper (`js/localrank.js`) then rejects what the trap would leave pending.
#[wasm_bindgen(js_name = setPanicListener)]
pub fn set_panic_listener(listener: Function) {
    PANIC_LISTENER.with(|l| *l.borrow_mut() = Some(listener));
}

fn tell_panic_listener(message: &str) {
    PANIC_LISTENER.with(|l| {
        if let Ok(l) = l.try_borrow()
            && let Some(f) = l.as_ref()
        {
            let _ = f.call1(&JsValue::NULL, &message.into());
        }
    });
}

#[wasm_bindgen(start)]
pub fn start() {
    // Calling the constructors explicitly, once, stops wasm-ld from wrapping *every* export in
    // a call to them: that wrapping cost milliseconds per JS -> wasm call (measured: ~7 ms per
    // candidate object, 0.5-1 s per rerank of 100 candidates).
    unsafe { __wasm_call_ctors() };
    std::panic::set_hook(Box::new(|info| {
        tell_panic_listener(&info.to_string());
        console_error_panic_hook::hook(info);
    }));
}

/// The limits the wrapper applies before anything is copied into wasm (one definition: here).
#[wasm_bindgen(js_name = limits)]
pub fn limits() -> JsValue {
    let o = js_sys::Object::new();
    let set = |k: &str, v: f64| js_sys::Reflect::set(&o, &k.into(), &v.into()).ok();
    set("maxCandidates", MAX_CANDIDATES as f64);
    set("maxTextBytes", crate::text::MAX_TEXT_BYTES as f64);
    set("maxIdBytes", crate::ranker::MAX_ID_BYTES as f64);
    set("maxManifestBytes", crate::manifest::MAX_MANIFEST_BYTES as f64);
    set("maxFileBytes", crate::manifest::MAX_FILE_BYTES as f64);
    set("webgpuCompiled", if webgpu_compiled() { 1.0 } else { 0.0 });
    o.into()
}

/// The files a manifest lists, `{ role: { path, bytes, sha256 } }` as JSON, after checking the
/// manifest (format, config, confined paths, sizes) and the site's pin of it, if any: the
/// wrapper fetches only what this returns, and no more bytes than it says.
#[wasm_bindgen(js_name = inspectManifest)]
pub fn inspect_manifest(manifest: &[u8], integrity: Option<String>) -> Result<String, JsError> {
    if let Some(pin) = integrity {
        sha256_matches(manifest, &pin)?;
    }
    let m = Manifest::parse(manifest)?;
    Ok(serde_json::to_string(&m.files).map_err(|e| Error::model(e.to_string()))?)
}

/// An on-device reranker's model and session (wrapped by `LocalRanker` in `js/localrank.js`).
#[wasm_bindgen]
pub struct RankerCore {
    inner: Ranker,
    backend: Backend,
}

#[wasm_bindgen]
impl RankerCore {
    /// Loads the model on the CPU backend (synchronously: see the module comment).
    /// `digests`: the weights' and tokenizer's hex sha256 from SubtleCrypto, or absent.
    pub fn load(
        manifest: &[u8],
        weights: &[u8],
        tokenizer: &[u8],
        digests: Option<Array>,
        max_session: Option<f64>,
    ) -> Result<RankerCore, JsError> {
        let files = ModelFiles { manifest, weights, tokenizer };
        let inner = Ranker::load_with_digests(files, to_digests(digests).as_ref(), cpu_device(), to_max_session(max_session)?)?;
        inner.warm_up()?.complete()?;
        Ok(RankerCore { inner, backend: Backend::Cpu })
    }

    /// Loads the model on the browser's WebGPU adapter (the `webgpu` build only).
    #[wasm_bindgen(js_name = loadWebgpu)]
    pub async fn load_webgpu(
        manifest: Vec<u8>,
        weights: Vec<u8>,
        tokenizer: Vec<u8>,
        digests: Option<Array>,
        max_session: Option<f64>,
    ) -> Result<RankerCore, JsError> {
        let device = webgpu().await?;
        let files = ModelFiles { manifest: &manifest, weights: &weights, tokenizer: &tokenizer };
        let inner = Ranker::load_with_digests(files, to_digests(digests).as_ref(), device, to_max_session(max_session)?)?;
        // First inference compiles shaders: do it now, not on the first rerank.
        inner.warm_up()?.complete_async().await?;
        Ok(RankerCore { inner, backend: Backend::WebGpu })
    }

    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.name().to_string()
    }

    #[wasm_bindgen(getter, js_name = modelName)]
    pub fn model_name(&self) -> String {
        self.inner.manifest().name.clone()
    }

    #[wasm_bindgen(getter, js_name = modelVersion)]
    pub fn model_version(&self) -> String {
        format!("{}@{}", self.inner.manifest().name, self.inner.manifest().version)
    }

    /// Bytes of the model files (weights + tokenizer) as the manifest lists them.
    #[wasm_bindgen(getter, js_name = modelBytes)]
    pub fn model_bytes(&self) -> f64 {
        self.inner.manifest().files.values().map(|f| f.bytes as f64).sum()
    }

    #[wasm_bindgen(getter, js_name = sessionLength)]
    pub fn session_length(&self) -> usize {
        self.inner.session().len()
    }

    /// Records one event (JSON from `js/input.js`), stamped now when the page gave no time.
    pub fn observe(&mut self, event: &[u8]) -> Result<(), JsError> {
        let event = parse_event(event, crate::ranker::event_clock_ms())?;
        Ok(self.inner.observe(event)?)
    }

    /// A rerank without reasons on scores that are on the host (CPU): the candidates' 0-based
    /// server positions, best first, then their scores, in one array (one copy out of wasm; the
    /// wrapper builds the result objects from the page's own candidates).
    #[wasm_bindgen(js_name = rerankPositions)]
    pub fn rerank_positions(&self, candidates: &[u8], context: &[u8], options: &[u8]) -> Result<Vec<f32>, JsError> {
        let pending = self.start(candidates, context, options, false)?;
        let ranked = pending.complete()?;
        Ok(positions_then_scores(&ranked))
    }

    /// A rerank as JSON `Ranked[]` (reasons included with `explain`), synchronously (CPU).
    #[wasm_bindgen(js_name = rerankJson)]
    pub fn rerank_json(&self, candidates: &[u8], context: &[u8], options: &[u8]) -> Result<String, JsError> {
        let explain = parse_options(options, self.inner.default_options())?.1;
        to_json(self.start(candidates, context, options, explain)?.complete()?)
    }

    /// `rerankJson` with the scores read back from the GPU.
    #[wasm_bindgen(js_name = rerankAsync)]
    pub async fn rerank_async(&self, candidates: Vec<u8>, context: Vec<u8>, options: Vec<u8>) -> Result<String, JsError> {
        let explain = parse_options(&options, self.inner.default_options())?.1;
        let pending = self.start(&candidates, &context, &options, explain)?;
        to_json(pending.complete_async().await?)
    }

    /// The session as an opaque JSON string, for `importSession`.
    #[wasm_bindgen(js_name = exportSession)]
    pub fn export_session(&self) -> Result<String, JsError> {
        let events: Vec<_> = self.inner.session().collect();
        Ok(serde_json::to_string(&events).map_err(|e| Error::input(e.to_string()))?)
    }

    /// Replaces the session with one from `exportSession`; on bad input the session is kept.
    #[wasm_bindgen(js_name = importSession)]
    pub fn import_session(&mut self, json: &[u8]) -> Result<(), JsError> {
        let events = serde_json::from_slice(json)
            .map_err(|e| Error::input(format!("importSession: not a stored session: {e}")))?;
        Ok(self.inner.restore(events)?)
    }

    pub fn clear(&mut self) {
        self.inner.clear();
    }
}

impl RankerCore {
    fn start(&self, candidates: &[u8], context: &[u8], options: &[u8], explain: bool) -> Result<PendingRerank, JsError> {
        let items = parse_candidates(candidates)?;
        let ctx = parse_context(context)?;
        let (options, _) = parse_options(options, self.inner.default_options())?;
        let r = &self.inner;
        Ok(if explain { r.start_explained_rerank(&items, &ctx, options)? } else { r.start_rerank(&items, &ctx, options)? })
    }
}

fn positions_then_scores(ranked: &[Ranked]) -> Vec<f32> {
    let positions = ranked.iter().map(|r| (r.server_rank - 1) as f32);
    positions.chain(ranked.iter().map(|r| r.score)).collect()
}

fn to_json(ranked: Vec<Ranked>) -> Result<String, JsError> {
    Ok(serde_json::to_string(&ranked).map_err(|e| Error::backend(format!("result: {e}")))?)
}

fn to_max_session(v: Option<f64>) -> Result<Option<usize>, JsError> {
    match v {
        None => Ok(None),
        Some(n) if n.fract() == 0.0 && (1.0..=10_000.0).contains(&n) => Ok(Some(n as usize)),
        Some(n) => Err(Error::input(format!("options.maxSession: expected a whole number within 1..=10000, got {n}")).into()),
    }
}

fn to_digests(hex: Option<Array>) -> Option<FileDigests> {
    let hex = hex?;
    Some(FileDigests { weights: hex.get(0).as_string()?, tokenizer: hex.get(1).as_string()? })
}

thread_local! {
    // burn's wgpu runtime is initialised once per page; later rankers reuse its device.
    static WEBGPU: RefCell<Option<burn::prelude::Device>> = const { RefCell::new(None) };
}

async fn webgpu() -> crate::Result<burn::prelude::Device> {
    if let Some(d) = WEBGPU.with(|w| w.borrow().clone()) {
        return Ok(d);
    }
    let device = webgpu_device().await?;
    WEBGPU.with(|w| *w.borrow_mut() = Some(device.clone()));
    Ok(device)
}

/// Traps on purpose, for the browser tests of the wrapper's trap handling (a trap must never
/// be reachable from input, so the tests need one of their own): `1` panics, `2` overflows
/// the wasm stack (which, unhandled, left the stack pointer at the bottom of the stack and
/// every later call of the module failing with "memory access out of bounds").
#[wasm_bindgen(js_name = __selfTestTrap)]
pub fn self_test_trap(kind: u32) -> u32 {
    match kind {
        1 => panic!("self-test panic (__selfTestTrap(1))"),
        2 => recurse(u32::MAX),
        _ => 0,
    }
}

fn recurse(n: u32) -> u32 {
    // A frame the optimiser cannot elide: black_box keeps the array on the stack.
    let frame = std::hint::black_box([n; 64]);
    if n == 0 { frame[1] } else { recurse(n - 1).wrapping_add(frame[63]) }
}
