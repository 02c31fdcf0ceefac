//! The JavaScript API (wasm-bindgen). The only file that knows about JS; every export returns
//! `Result<_, JsError>` whose message says what was wrong and where.
//!
//! ```js
//! const ranker = await LocalRanker.create({ model: '/models/', device: 'auto' });
//! ranker.observe({ event: 'select_item', id: '50', title: 'Star Wars (1977)', category: 'Action' });
//! const order = await ranker.rerank(candidates, { pageType: 'home' }, { topK: 20 });
//! ```

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::error::Error;
use crate::features::{Context, Event, EventKind, Item};
use crate::ranker::{FileDigests, ModelFiles, PendingRerank, Ranker};
use crate::rerank::RerankOptions;
use crate::runtime::{cpu_device, webgpu_compiled, webgpu_device, Backend, DeviceRequest};

const STORAGE_KEY: &str = "localrank.session.v1";

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** Where the model comes from: the URL of its directory, or the three files' bytes. */
export interface ModelBytes { manifest: Uint8Array; weights: Uint8Array; tokenizer: Uint8Array; }
export interface CreateOptions {
  model: string | ModelBytes;
  /** 'auto' (default): WebGPU when this build has it (the `localrank/webgpu` build; the default
   * build is CPU only) and the browser offers an adapter, else the CPU backend. */
  device?: 'auto' | 'webgpu' | 'cpu';
  /** Events kept; the oldest are dropped (default: the model's window). */
  maxSession?: number;
  /** Keep the session in sessionStorage across reloads of this tab (default false). */
  persist?: boolean;
}
/** GA4 e-commerce event names. */
export type EventName = 'view_item' | 'select_item' | 'add_to_cart' | 'purchase' | 'search';
export interface ShopperEvent {
  event: EventName;
  id?: string | number; item_id?: string | number;
  title?: string; item_name?: string;
  category?: string; item_category?: string;
  price?: number;
  /** Milliseconds since the Unix epoch (default: now). */
  timestamp?: number;
  dwellMs?: number;
  /** For `search` events. */
  query?: string; search_term?: string;
}
export interface Candidate {
  id: string | number;
  title: string;
  category?: string;
  price?: number;
  /** The server's popularity figure; used by the `longTail` option when every candidate has one. */
  popularity?: number;
}
export interface PageContext {
  /** Milliseconds since the Unix epoch; hour and weekday default to this time's, local. */
  timestamp?: number;
  hour?: number;
  /** 0 = Sunday. */
  weekday?: number;
  device?: 'desktop' | 'mobile' | 'tablet';
  pageType?: 'home' | 'search' | 'category' | 'product' | 'cart' | 'checkout';
  category?: string | null;
  promotion?: boolean;
  query?: string | null;
}
export interface RerankOptions {
  topK?: number;
  /** Weight of the on-device model against the server order, 0..1 (default 0.9). */
  personalization?: number;
  /** 0..1: trade accuracy for long-tail items and category diversity (default 0). */
  longTail?: number;
  /** Also return each candidate's `reasons` ("Why here?"); costs one batched forward pass
   * with one extra session per event and per known context field (default false). */
  explain?: boolean;
}
/** A session event or a context field that raised (effect > 0) or lowered (effect < 0) a
 * candidate: its blended score with the signal minus without it (occlusion). */
export type Reason =
  | { source: 'event'; index: number; event: EventName; itemId?: string; title?: string; query?: string; effect: number }
  | { source: 'context'; field: 'hour' | 'weekday' | 'device' | 'pageType' | 'category' | 'promotion' | 'query'; value: string; effect: number };
export interface Ranked {
  id: string; score: number; serverRank: number;
  /** With `explain: true`: the strongest raising reasons first, then the lowering ones (up to 3 each). */
  reasons?: Reason[];
}
"#;

// `JsError: From<E: std::error::Error>` (wasm-bindgen) carries our messages through `?`.

fn input(msg: impl Into<String>) -> JsError {
    Error::input(msg).into()
}

unsafe extern "C" {
    /// Static constructors, synthesised by wasm-ld (cubecl registers kernels through `inventory`).
    fn __wasm_call_ctors();
}

#[wasm_bindgen(start)]
pub fn start() {
    // Calling the constructors explicitly, once, stops wasm-ld from wrapping *every* export in
    // a call to them: that wrapping cost milliseconds per JS -> wasm call (measured: ~7 ms per
    // candidate object, 0.5-1 s per rerank of 100 candidates).
    unsafe { __wasm_call_ctors() };
    console_error_panic_hook::set_once();
}

/// An on-device reranker. Create it with `await LocalRanker.create(options)`.
#[wasm_bindgen]
pub struct LocalRanker {
    inner: Rc<RefCell<Option<Ranker>>>,
    backend: Backend,
    persist: Cell<bool>,
    fallback_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateOptions {
    #[serde(default)]
    device: Option<String>,
    #[serde(default)]
    max_session: Option<usize>,
    #[serde(default)]
    persist: bool,
}

/// A product id as storefronts send it: a string or a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum JsId {
    Text(String),
    Number(f64),
}

impl JsId {
    fn into_string(self) -> String {
        match self {
            Self::Text(s) => s,
            // As JS's `String(n)` writes it (`rankedList` in js/interop.js does the same).
            Self::Number(n) => String::from(js_sys::Number::from(n).to_string_with_radix(10).unwrap_or_else(|_| n.to_string().into())),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsItem {
    #[serde(alias = "item_id")]
    id: Option<JsId>,
    #[serde(alias = "item_name", alias = "name")]
    title: Option<String>,
    #[serde(alias = "item_category", default)]
    category: Option<String>,
    #[serde(default)]
    price: Option<f64>,
    #[serde(default)]
    popularity: Option<f32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsEvent {
    event: Option<String>,
    #[serde(flatten)]
    item: JsItem,
    timestamp: Option<f64>,
    dwell_ms: Option<f64>,
    #[serde(alias = "search_term")]
    query: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsContext {
    timestamp: Option<f64>,
    hour: Option<u32>,
    weekday: Option<u32>,
    device: Option<String>,
    page_type: Option<String>,
    category: Option<String>,
    promotion: Option<bool>,
    query: Option<String>,
}

fn from_js<T: for<'de> Deserialize<'de>>(value: JsValue, what: &str) -> Result<T, JsError> {
    serde_wasm_bindgen::from_value(value).map_err(|e| input(format!("{what}: {e}")))
}

fn is_absent(v: &JsValue) -> bool {
    v.is_undefined() || v.is_null()
}

#[wasm_bindgen]
impl LocalRanker {
    /// Loads the model and picks a backend.
    ///
    /// `options.model`: base URL of the model directory (with `manifest.json`), or
    /// `{ manifest, weights, tokenizer }` as `Uint8Array`s. `options.device`: `'auto'` (default:
    /// WebGPU when an adapter exists, else CPU), `'webgpu'` or `'cpu'`. `options.maxSession`:
    /// events kept (default: the model's window). `options.persist`: keep the session in
    /// `sessionStorage` across reloads of this tab (default false).
    pub async fn create(
        #[wasm_bindgen(unchecked_param_type = "CreateOptions")] options: JsValue,
    ) -> Result<LocalRanker, JsError> {
        if is_absent(&options) || !options.is_object() {
            return Err(input("create: options must be an object such as { model: '/models/' }"));
        }
        // `model` may hold large byte arrays: read it apart from the other options.
        let (rest, model) = take_field(&options, "model")?;
        let opts: CreateOptions = from_js(rest, "options")?;
        let files = load_files(&model).await?;
        let digests = browser_digests(&files[1], &files[2]).await;
        let files = files.map(|a| a.to_vec());
        let request = DeviceRequest::parse(opts.device.as_deref())?;
        let (device, backend, fallback_reason) = choose_device(request).await?;
        let ranker = Ranker::load_with_digests(
            ModelFiles { manifest: &files[0], weights: &files[1], tokenizer: &files[2] },
            digests.as_ref(),
            device,
            opts.max_session,
        )?;
        let mut this = LocalRanker {
            inner: Rc::new(RefCell::new(Some(ranker))),
            backend,
            persist: Cell::new(opts.persist),
            fallback_reason,
        };
        this.restore_session()?;
        this.warm_up().await?;
        Ok(this)
    }

    /// `'webgpu'` or `'cpu'`: the backend in use.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.name().to_string()
    }

    /// Why `'auto'` fell back to the CPU, if it did.
    #[wasm_bindgen(getter, js_name = fallbackReason)]
    pub fn fallback_reason(&self) -> Option<String> {
        self.fallback_reason.clone()
    }

    #[wasm_bindgen(getter, js_name = modelVersion)]
    pub fn model_version(&self) -> Result<String, JsError> {
        self.with(|r| Ok(format!("{}@{}", r.manifest().name, r.manifest().version)))
    }

    /// Bytes of the model files (weights + tokenizer) as the manifest lists them.
    #[wasm_bindgen(getter, js_name = modelBytes)]
    pub fn model_bytes(&self) -> Result<f64, JsError> {
        self.with(|r| Ok(r.manifest().files.values().map(|f| f.bytes as f64).sum::<f64>()))
    }

    #[wasm_bindgen(getter, js_name = sessionLength)]
    pub fn session_length(&self) -> Result<usize, JsError> {
        self.with(|r| Ok(r.session().len()))
    }

    /// Records a shopper event locally. `event.event` is a GA4 name: `view_item`,
    /// `select_item`, `add_to_cart`, `purchase` or `search`. Nothing is sent anywhere.
    pub fn observe(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ShopperEvent")] event: JsValue,
    ) -> Result<(), JsError> {
        if is_absent(&event) || !event.is_object() {
            return Err(input("observe: the event must be an object such as { event: 'view_item', id, title }"));
        }
        let raw: JsEvent = from_js(event, "observe")?;
        let event = to_event(raw)?;
        self.with_mut(|r| r.observe(event))?;
        self.save_session()
    }

    /// Reorders `candidates` (server order; `[{ id, title, category, price? }]`) for this
    /// session in `context`. Resolves to `[{ id, score, serverRank }]`, best first.
    #[wasm_bindgen(unchecked_return_type = "Ranked[]")]
    pub async fn rerank(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Candidate[]")] candidates: JsValue,
        #[wasm_bindgen(unchecked_param_type = "PageContext")] context: Option<JsValue>,
        #[wasm_bindgen(unchecked_param_type = "RerankOptions")] options: Option<JsValue>,
    ) -> Result<JsValue, JsError> {
        let (pending, explain) = self.start_rerank(&candidates, context, options)?;
        if !explain && pending.is_ready() {
            // Scores already on the host: nothing is awaited, so the candidates are still as
            // `to_items` read them, and the result objects take their ids from them.
            return ranked_objects(pending, &candidates);
        }
        let ranked = pending.complete_async().await?;
        // One JSON.parse instead of a JS call per field of every result.
        let json = serde_json::to_string(&ranked).map_err(|e| input(format!("result: {e}")))?;
        js_sys::JSON::parse(&json).map_err(|e| input(format!("result: {}", js_message(&e))))
    }

    /// Keeps (true) or stops keeping (false) the session in `sessionStorage`; turning it off
    /// deletes the stored copy.
    #[wasm_bindgen(js_name = setPersist)]
    pub fn set_persist(&self, on: bool) -> Result<(), JsError> {
        self.persist.set(on);
        if on { self.save_session() } else { remove_stored_session() }
    }

    /// The session as an opaque JSON string, for `importSession` (e.g. a worker's host page
    /// keeping it across reloads). It never leaves the device unless the caller sends it.
    #[wasm_bindgen(js_name = exportSession)]
    pub fn export_session(&self) -> Result<String, JsError> {
        self.with(|r| {
            let events: Vec<&Event> = r.session().collect();
            serde_json::to_string(&events).map_err(|e| Error::input(e.to_string()))
        })
    }

    /// Replaces the session with one from `exportSession`; on bad input the session is kept.
    #[wasm_bindgen(js_name = importSession)]
    pub fn import_session(&self, json: &str) -> Result<(), JsError> {
        let events: Vec<Event> =
            serde_json::from_str(json).map_err(|e| input(format!("importSession: not a stored session: {e}")))?;
        self.with_mut(|r| r.restore(events))?;
        self.save_session()
    }

    /// Forgets the session, in memory and in `sessionStorage`.
    pub fn clear(&self) -> Result<(), JsError> {
        self.with_mut(|r| {
            r.clear();
            Ok(())
        })?;
        remove_stored_session()
    }

    /// Releases the model. Later calls fail with a clear error.
    pub fn dispose(&self) {
        self.inner.borrow_mut().take();
    }
}

impl LocalRanker {
    /// Reads and checks `rerank`'s arguments and starts it; also says whether reasons were
    /// asked for.
    fn start_rerank(
        &self,
        candidates: &JsValue,
        context: Option<JsValue>,
        options: Option<JsValue>,
    ) -> Result<(PendingRerank, bool), JsError> {
        let items = to_items(candidates)?;
        let ctx = to_context(context.unwrap_or(JsValue::UNDEFINED))?;
        let (options, explain) = to_options(options.unwrap_or(JsValue::UNDEFINED))?;
        let pending = self.with(|r| {
            if explain { r.start_explained_rerank(&items, &ctx, options) } else { r.start_rerank(&items, &ctx, options) }
        })?;
        Ok((pending, explain))
    }

    fn with<T>(&self, f: impl FnOnce(&Ranker) -> crate::Result<T>) -> Result<T, JsError> {
        let guard = self.inner.borrow();
        let ranker = guard.as_ref().ok_or_else(disposed)?;
        Ok(f(ranker)?)
    }

    fn with_mut<T>(&self, f: impl FnOnce(&mut Ranker) -> crate::Result<T>) -> Result<T, JsError> {
        let mut guard = self.inner.borrow_mut();
        let ranker = guard.as_mut().ok_or_else(disposed)?;
        Ok(f(ranker)?)
    }

    /// First inference compiles shaders / fills caches: do it now, not on the first rerank.
    async fn warm_up(&self) -> Result<(), JsError> {
        let pending = self.with(Ranker::warm_up)?;
        pending.complete_async().await?;
        Ok(())
    }

    fn save_session(&self) -> Result<(), JsError> {
        if !self.persist.get() {
            return Ok(());
        }
        let json = self.export_session()?;
        if let Some(storage) = session_storage() {
            storage
                .set_item(STORAGE_KEY, &json)
                .map_err(|_| input("persist: sessionStorage refused the session (full or disabled)"))?;
        }
        Ok(())
    }

    fn restore_session(&mut self) -> Result<(), JsError> {
        if !self.persist.get() {
            return Ok(());
        }
        let Some(json) = session_storage().and_then(|s| s.get_item(STORAGE_KEY).ok().flatten()) else {
            return Ok(());
        };
        // A stored session from an older build that no longer parses is dropped, not fatal.
        if let Ok(events) = serde_json::from_str::<Vec<Event>>(&json) {
            self.with_mut(|r| r.restore(events))?;
        }
        Ok(())
    }
}

fn disposed() -> JsError {
    input("this LocalRanker was disposed; create a new one")
}

/// A copy of `object` without `name`, and the value of `name`.
fn take_field(object: &JsValue, name: &str) -> Result<(JsValue, JsValue), JsError> {
    let copy = js_sys::Object::assign(&js_sys::Object::new(), object.unchecked_ref());
    let value = Reflect::get(&copy, &name.into()).map_err(|_| input(format!("options.{name}")))?;
    Reflect::delete_property(&copy, &name.into()).map_err(|_| input("options"))?;
    Ok((copy.into(), value))
}

/// `None` in a worker (no `window`): a worker's host page persists with `exportSession`.
fn session_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

fn remove_stored_session() -> Result<(), JsError> {
    match session_storage() {
        Some(storage) => storage
            .remove_item(STORAGE_KEY)
            .map_err(|_| Error::backend("sessionStorage refused to delete the stored session").into()),
        None => Ok(()),
    }
}

/// `RerankOptions` plus `explain`, which selects the call rather than tuning the order.
fn to_options(options: JsValue) -> Result<(RerankOptions, bool), JsError> {
    if is_absent(&options) {
        return Ok((RerankOptions::default(), false));
    }
    if !options.is_object() {
        return Err(input("options: expected an object such as { topK: 20 }"));
    }
    let (rest, explain) = take_field(&options, "explain")?;
    let explain = match explain {
        v if is_absent(&v) => false,
        v => v.as_bool().ok_or_else(|| input("options.explain: expected true or false"))?,
    };
    Ok((from_js(rest, "options")?, explain))
}

fn to_event(raw: JsEvent) -> Result<Event, JsError> {
    let name = raw.event.ok_or_else(|| input("observe: event.event is missing (e.g. 'view_item')"))?;
    let kind = EventKind::parse(&name)?;
    Ok(Event {
        kind,
        item_id: raw.item.id.map(JsId::into_string),
        title: raw.item.title.unwrap_or_default(),
        category: raw.item.category.unwrap_or_default(),
        price: raw.item.price,
        timestamp_ms: raw.timestamp.unwrap_or_else(js_sys::Date::now),
        dwell_ms: raw.dwell_ms,
        query: raw.query,
    })
}

#[wasm_bindgen(module = "/js/interop.js")]
extern "C" {
    /// The candidates as one JSON string. Throws on a cycle, a BigInt or a non-finite popularity.
    #[wasm_bindgen(catch, js_name = candidatesJson)]
    fn candidates_json(candidates: &JsValue) -> Result<Vec<u8>, JsValue>;
    /// Hex sha256 of each `Uint8Array` by SubtleCrypto: a Promise of strings, or of null.
    #[wasm_bindgen(js_name = sha256Hex)]
    fn sha256_hex(arrays: &Array) -> Promise;
    /// `[{ id, score, serverRank }]` from the candidates' 0-based server positions, best first,
    /// and their scores: one JS loop instead of JSON both ways.
    #[wasm_bindgen(catch, js_name = rankedList)]
    fn ranked_list(candidates: &JsValue, positions: &[u32], scores: &[f32]) -> Result<JsValue, JsValue>;
}

/// The result objects of a rerank whose scores are on the host, from `candidates` themselves.
fn ranked_objects(pending: PendingRerank, candidates: &JsValue) -> Result<JsValue, JsError> {
    let ranked = pending.complete()?;
    let positions: Vec<u32> = ranked.iter().map(|r| (r.server_rank - 1) as u32).collect();
    let scores: Vec<f32> = ranked.iter().map(|r| r.score).collect();
    ranked_list(candidates, &positions, &scores).map_err(|e| input(format!("result: {}", js_message(&e))))
}

/// Candidates from JS. One `JSON.stringify` and `serde_json` instead of a JS call per field
/// (`serde_wasm_bindgen`): the conversion was ~15% of a rerank of 100 candidates.
fn to_items(candidates: &JsValue) -> Result<Vec<Item>, JsError> {
    if !Array::is_array(candidates) {
        return Err(input("candidates: expected an array of { id, title, category }"));
    }
    let json = candidates_json(candidates)
        .map_err(|e| input(format!("candidates: cannot be read ({})", js_message(&e))))?;
    let raws: Vec<JsItem> = match serde_json::from_slice(&json) {
        Ok(raws) => raws,
        // Parse again, candidate by candidate, to say which one is wrong.
        Err(e) => return Err(bad_candidate(&json).unwrap_or_else(|| input(format!("candidates: {e}")))),
    };
    raws.into_iter().enumerate().map(|(i, raw)| to_item(i, raw)).collect()
}

/// The first candidate of `json` that is not a `JsItem`, as an error naming its index.
fn bad_candidate(json: &[u8]) -> Option<JsError> {
    let values: Vec<serde_json::Value> = serde_json::from_slice(json).ok()?;
    values.into_iter().enumerate().find_map(|(i, value)| {
        if !value.is_object() {
            return Some(input(format!("candidates[{i}]: expected an object {{ id, title, category }}")));
        }
        serde_json::from_value::<JsItem>(value).err().map(|e| input(format!("candidates[{i}]: {e}")))
    })
}

fn js_message(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>().map_or_else(|| format!("{e:?}"), |e| String::from(e.message()))
}

fn to_item(i: usize, raw: JsItem) -> Result<Item, JsError> {
    let id = raw.id.ok_or_else(|| input(format!("candidates[{i}].id: missing")))?;
    let title = raw.title.ok_or_else(|| input(format!("candidates[{i}].title: missing")))?;
    if raw.popularity.is_some_and(|p| !p.is_finite() || p < 0.0) {
        return Err(input(format!("candidates[{i}].popularity: must be a non-negative number")));
    }
    let category = raw.category.unwrap_or_default();
    Ok(Item { id: id.into_string(), title, category, popularity: raw.popularity })
}

fn to_context(context: JsValue) -> Result<Context, JsError> {
    let raw: JsContext = if is_absent(&context) { JsContext::default() } else { from_js(context, "context")? };
    if raw.hour.is_some_and(|h| h > 23) || raw.weekday.is_some_and(|d| d > 6) {
        return Err(input("context: hour must be 0..=23 and weekday 0..=6 (0 = Sunday)"));
    }
    // The page's local clock: hour and weekday from the timestamp (default: now).
    let date = js_sys::Date::new(&JsValue::from_f64(raw.timestamp.unwrap_or_else(js_sys::Date::now)));
    Ok(Context {
        hour: raw.hour.or(Some(date.get_hours())),
        weekday: raw.weekday.or(Some(date.get_day())),
        device: raw.device,
        page_type: raw.page_type,
        category: raw.category,
        promotion: raw.promotion,
        query: raw.query,
    })
}

/// The three model files: from a base URL (fetched; weights and tokenizer at once) or given
/// as bytes.
async fn load_files(model: &JsValue) -> Result<[Uint8Array; 3], JsError> {
    if let Some(base) = model.as_string() {
        let base = if base.ends_with('/') { base } else { format!("{base}/") };
        let manifest_bytes = fetch_bytes(format!("{base}manifest.json")).await?;
        let manifest = crate::manifest::Manifest::parse(&manifest_bytes.to_vec())?;
        let weights = fetch_promise(format!("{base}{}", manifest.file("weights")?.path));
        let tokenizer = fetch_promise(format!("{base}{}", manifest.file("tokenizer")?.path));
        let both = JsFuture::from(Promise::all(&Array::of2(&weights, &tokenizer)))
            .await
            .map_err(|e| JsError::new(&js_message(&e)))?;
        let both = Array::from(&both);
        return Ok([manifest_bytes, both.get(0).unchecked_into(), both.get(1).unchecked_into()]);
    }
    if model.is_object() {
        let field = |name: &str| -> Result<Uint8Array, JsError> {
            let v = Reflect::get(model, &name.into()).map_err(|_| input(format!("options.model.{name}")))?;
            v.dyn_into::<Uint8Array>().map_err(|_| input(format!("options.model.{name}: expected a Uint8Array")))
        };
        return Ok([field("manifest")?, field("weights")?, field("tokenizer")?]);
    }
    Err(input("options.model: expected the model directory's URL or { manifest, weights, tokenizer } bytes"))
}

/// `fetch_bytes` as a Promise, so that two downloads run at once.
fn fetch_promise(url: String) -> Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        fetch_bytes(url).await.map(JsValue::from).map_err(JsValue::from)
    })
}

/// The weights' and tokenizer's sha256 by SubtleCrypto; `None` where it is missing or fails
/// (the files are then hashed in wasm: never skipped).
async fn browser_digests(weights: &Uint8Array, tokenizer: &Uint8Array) -> Option<FileDigests> {
    let hex = JsFuture::from(sha256_hex(&Array::of2(weights, tokenizer))).await.ok()?;
    let hex = hex.dyn_into::<Array>().ok()?;
    Some(FileDigests { weights: hex.get(0).as_string()?, tokenizer: hex.get(1).as_string()? })
}

async fn fetch_bytes(url: String) -> Result<Uint8Array, JsError> {
    let url = url.as_str();
    let global = js_sys::global();
    let fetch: Function = Reflect::get(&global, &"fetch".into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| JsError::new("localrank: model: fetch() is not available here"))?;
    let failed = |what: &str| JsError::new(&format!("localrank: model: {what} {url}"));
    let promise: Promise = fetch.call1(&global, &url.into()).map_err(|_| failed("cannot fetch"))?.into();
    let response: web_sys::Response = JsFuture::from(promise)
        .await
        .map_err(|_| failed("network error fetching"))?
        .into();
    if !response.ok() {
        return Err(failed(&format!("HTTP {} for", response.status())));
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(|_| failed("cannot read"))?)
        .await
        .map_err(|_| failed("cannot read"))?;
    Ok(Uint8Array::new(&buffer))
}

/// Whether `navigator.gpu.requestAdapter()` gives an adapter (checked in JS first: asking wgpu
/// without one would fail deep inside it).
async fn has_webgpu_adapter() -> bool {
    let global = js_sys::global();
    let gpu = Reflect::get(&global, &"navigator".into())
        .and_then(|n| Reflect::get(&n, &"gpu".into()))
        .unwrap_or(JsValue::UNDEFINED);
    if is_absent(&gpu) {
        return false;
    }
    let Ok(request) = Reflect::get(&gpu, &"requestAdapter".into()).and_then(|f| f.dyn_into::<Function>().map_err(JsValue::from)) else {
        return false;
    };
    let Ok(promise) = request.call0(&gpu) else { return false };
    matches!(JsFuture::from(Promise::from(promise)).await, Ok(a) if !is_absent(&a))
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

async fn choose_device(
    request: DeviceRequest,
) -> Result<(burn::prelude::Device, Backend, Option<String>), JsError> {
    let cpu = || (cpu_device(), Backend::Cpu);
    match request {
        DeviceRequest::Cpu => Ok((cpu_device(), Backend::Cpu, None)),
        DeviceRequest::WebGpu => {
            if !webgpu_compiled() {
                return Err(Error::backend("device 'webgpu': this build has no WebGPU backend").into());
            }
            if !has_webgpu_adapter().await {
                return Err(Error::backend("device 'webgpu': this browser offers no WebGPU adapter (navigator.gpu.requestAdapter() gave none)").into());
            }
            Ok((webgpu().await?, Backend::WebGpu, None))
        }
        DeviceRequest::Auto => {
            if !webgpu_compiled() {
                let (d, b) = cpu();
                return Ok((d, b, Some("built without WebGPU".into())));
            }
            if !has_webgpu_adapter().await {
                let (d, b) = cpu();
                return Ok((d, b, Some("no WebGPU adapter".into())));
            }
            match webgpu().await {
                Ok(d) => Ok((d, Backend::WebGpu, None)),
                Err(e) => {
                    let (d, b) = cpu();
                    Ok((d, b, Some(e.to_string())))
                }
            }
        }
    }
}
