//! The ranker: model + tokenizer + the shopper's session, all in memory on the device.
//!
//! Everything here is plain Rust; `web.rs` wraps it for JavaScript. Inputs are validated before
//! they reach burn so that bad input is an `Error`, never a panic, and a failed call leaves the
//! session as it was.

use std::collections::{HashSet, VecDeque};

use burn::prelude::*;

use crate::error::{Error, Result};
use crate::explain::{self, Encoded, Signal};
use crate::features::{
    category_index, context_indices, dwell_bucket, write_item_text, Context, EncodedEvent, EncodedSession, Event,
    EventKind, Item,
};
#[cfg(feature = "webgpu")]
use crate::features::{Batch, Candidates};
use crate::items::ItemVectors;
use crate::manifest::{sha256_hex, Manifest};
use crate::model::{FusedEncoder, Model};
use crate::rerank::{order, ListItem, Ranked, RerankOptions};
use crate::runtime::cpu_device;
use crate::text::TextEncoder;

/// Most candidates one call may rank (bounds memory on small devices).
pub const MAX_CANDIDATES: usize = 5_000;

/// The shipped model files, as bytes (fetched by the page, or read from disk natively).
pub struct ModelFiles<'a> {
    pub manifest: &'a [u8],
    pub weights: &'a [u8],
    pub tokenizer: &'a [u8],
}

/// Hex sha256 of the weights and tokenizer files, from the caller (the browser's SubtleCrypto
/// hashes in native code, ~20x faster than sha256 in wasm: it was 45% of `LocalRanker.create`).
pub struct FileDigests {
    pub weights: String,
    pub tokenizer: String,
}

pub struct Ranker {
    engine: Engine,
    text: TextEncoder,
    manifest: Manifest,
    session: VecDeque<Event>,
    max_session: usize,
}

/// What computes the scores (one per ranker: the variants' sizes do not matter).
#[allow(clippy::large_enum_variant)]
enum Engine {
    /// burn's `Model::score` on a device (WebGPU), read back asynchronously. Only in builds with
    /// WebGPU: without it the CPU is the only device, and leaving burn's forward pass out of the
    /// CPU-only wasm makes it smaller, which a returning shopper's page load waits for.
    #[cfg(feature = "webgpu")]
    Device { model: Model, device: Device },
    /// The CPU backend: the model's computation as host loops over its weights
    /// (`model::FusedEncoder`, built from the burn model, which is then dropped), with the item
    /// vectors of products seen before kept.
    Cpu { encoder: FusedEncoder, items: ItemVectors },
}

/// Model scores, `[sessions, n]`: still on the device (WebGPU) or already on the host (CPU).
enum Scores {
    #[cfg(feature = "webgpu")]
    Device(Box<Tensor<2>>),
    Host(Vec<f32>),
}

impl Scores {
    fn read(self) -> Result<Vec<f32>> {
        match self {
            #[cfg(feature = "webgpu")]
            Self::Device(t) => read_sync(*t),
            Self::Host(v) => Ok(v),
        }
    }

    async fn read_async(self) -> Result<Vec<f32>> {
        match self {
            #[cfg(feature = "webgpu")]
            Self::Device(t) => read_async(*t).await,
            Self::Host(v) => Ok(v),
        }
    }
}

impl Ranker {
    /// Checks the files against the manifest, then loads the weights onto `device`.
    /// `max_session` defaults to the model's window.
    pub fn load(files: ModelFiles, device: Device, max_session: Option<usize>) -> Result<Self> {
        Self::load_with_digests(files, None, device, max_session)
    }

    /// `load` with the files' sha256 already computed by the caller (checked against the
    /// manifest all the same); `None` hashes them here.
    pub fn load_with_digests(
        files: ModelFiles,
        digests: Option<&FileDigests>,
        device: Device,
        max_session: Option<usize>,
    ) -> Result<Self> {
        let manifest = Manifest::parse(files.manifest)?;
        let given = |f: fn(&FileDigests) -> &String| digests.map(f);
        let checked = [
            ("weights", files.weights, given(|d| &d.weights)),
            ("tokenizer", files.tokenizer, given(|d| &d.tokenizer)),
        ];
        // Every size before any hash or parse: a wrong file costs no hashing, and nothing reads
        // more bytes than the manifest (capped by `manifest::MAX_FILE_BYTES`) allows.
        for (role, bytes, _) in &checked {
            manifest.check_size(role, bytes.len())?;
        }
        for (role, bytes, digest) in checked {
            manifest.check_sha256(role, &digest.cloned().unwrap_or_else(|| sha256_hex(bytes)))?;
        }
        let config = &manifest.config;
        let text = TextEncoder::from_bytes(files.tokenizer, config.text_buckets, config.max_tokens)?;
        let max_session = max_session.unwrap_or(config.max_session);
        if max_session == 0 || max_session > 10_000 {
            return Err(Error::input(format!("maxSession must be within 1..=10000, got {max_session}")));
        }
        // The CPU path reads the weights straight into `FusedEncoder`, without a burn model: the
        // CPU-only wasm then links no burn tensor code (1,645,253 -> 575,053 B; a second visit to
        // the first rerank ~165 -> ~120 ms on the bench machine, 2026-12-07: docs/size.md).
        let engine = match device == cpu_device() {
            true => Engine::Cpu { encoder: load_fused(&manifest, files.weights)?, items: ItemVectors::default() },
            #[cfg(feature = "webgpu")]
            false => Engine::Device { model: load_model(&manifest, files.weights, &device)?, device },
            #[cfg(not(feature = "webgpu"))]
            false => return Err(Error::backend("this build of localrank computes on the CPU only (built without the `webgpu` feature)")),
        };
        Ok(Self { engine, text, manifest, session: VecDeque::new(), max_session })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The options a rerank uses where the caller sets none: the blend the model's training chose
    /// on validation (manifest `personalization`), else `RerankOptions::default()`.
    pub fn default_options(&self) -> RerankOptions {
        let defaults = RerankOptions::default();
        RerankOptions { personalization: self.manifest.personalization.unwrap_or(defaults.personalization), ..defaults }
    }

    pub fn session(&self) -> impl ExactSizeIterator<Item = &Event> {
        self.session.iter()
    }

    /// Records one event; the oldest is dropped beyond `max_session`.
    pub fn observe(&mut self, mut event: Event) -> Result<()> {
        validate_event(&event)?;
        cap_texts(&mut event);
        self.session.push_back(event);
        while self.session.len() > self.max_session {
            self.session.pop_front();
        }
        Ok(())
    }

    /// Replaces the session (e.g. restored from sessionStorage); the events it keeps (the newest
    /// `max_session`) are validated first.
    /// Only the newest `max_session` events are read: a stored list of any length costs no more
    /// than a full session.
    pub fn restore(&mut self, mut events: Vec<Event>) -> Result<()> {
        events.drain(..events.len().saturating_sub(self.max_session));
        events.iter().try_for_each(validate_event)?;
        events.iter_mut().for_each(cap_texts);
        self.session = events.into_iter().collect();
        Ok(())
    }

    pub fn clear(&mut self) {
        self.session.clear();
    }

    /// The session's events inside the model's window, the context and the query, encoded.
    fn encode(&self, ctx: &Context) -> Result<Encoded<'_>> {
        let config = &self.manifest.config;
        let cats = &self.manifest.categories;
        // What training fed the model, and nothing else (features::TrainedInputs).
        let trained = &self.manifest.inputs;
        let first = self.session.len().saturating_sub(config.max_session);
        let mut text = String::new();
        let events = self
            .session
            .iter()
            .enumerate()
            .skip(first)
            .map(|(i, e)| {
                e.write_text(&mut text);
                let encoded = EncodedEvent {
                    tokens: self.text.encode(&text)?,
                    event: trained.event(e.kind.index()),
                    category: category_index(cats, &e.category),
                    dwell: trained.dwell(dwell_bucket(e.dwell_ms)),
                };
                Ok((i, e, encoded))
            })
            .collect::<Result<Vec<_>>>()?;
        // Only the events present: padding positions are masked out of attention, so leaving
        // them out gives the same scores with up to 50x less work for a short session.
        let window = events.len().max(1);
        let query = match &ctx.query {
            Some(q) if trained.query => self.text.encode(q)?,
            _ => vec![0; config.max_tokens],
        };
        Ok(Encoded {
            events,
            context: trained.context(context_indices(ctx, cats)),
            query,
            window,
            tokens: config.max_tokens,
        })
    }

    /// What the model reads of the current session and `ctx` (the inputs the encoding-parity
    /// test compares with training's).
    pub fn model_inputs(&self, ctx: &Context) -> Result<EncodedSession> {
        Ok(self.encode(ctx)?.full())
    }

    /// Raw model scores of `candidates` for each of `sessions`, [sessions, n]: one forward pass
    /// however many sessions.
    fn score_sessions(&self, sessions: &[EncodedSession], candidates: &[Item]) -> Result<Scores> {
        let cats = &self.manifest.categories;
        let mut keys = Vec::with_capacity(candidates.len() * (self.text.max_tokens() + 1));
        let mut text = String::new();
        for c in candidates {
            write_item_text(&mut text, &c.title, &c.category);
            self.text.encode_into(&text, &mut keys)?;
            keys.push(category_index(cats, &c.category));
        }
        let t = self.text.max_tokens();
        match &self.engine {
            #[cfg(feature = "webgpu")]
            Engine::Device { model, device } => {
                let (batch, cands) = (Batch::new(sessions, device), Candidates::from_keys(&keys, t, device));
                Ok(Scores::Device(Box::new(model.score(&batch, &cands))))
            }
            Engine::Cpu { encoder, items } => {
                let embed = |missing: &[i64]| encoder.item_vectors(missing, t);
                let d = encoder.d_model();
                let cands = items.rows(&keys, t, d, embed)?;
                let events: Vec<i64> = sessions.iter().flat_map(EncodedSession::item_keys).collect();
                let events = items.rows(&events, t, d, embed)?;
                Ok(Scores::Host(encoder.scores(sessions, &events, &cands)?))
            }
        }
    }

    /// Raw model scores of `candidates` for the current session, [1, n].
    fn score_tensor(&self, candidates: &[Item], ctx: &Context) -> Result<Scores> {
        self.score_sessions(&[self.encode(ctx)?.full()], candidates)
    }

    /// Raw model scores of the session for `candidates` (computed even for an empty session;
    /// used by the golden tests). Synchronous read-back: native only.
    pub fn model_scores(&self, candidates: &[Item], ctx: &Context) -> Result<Vec<f32>> {
        validate_candidates(candidates)?;
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        self.score_tensor(candidates, ctx)?.read()
    }

    /// Starts a rerank: validates, encodes and launches the model. The result is read with
    /// `PendingRerank::complete` (native, or scores already on the host: `is_ready`) or
    /// `complete_async` (browser, WebGPU), so no borrow of the ranker is held while the device
    /// works.
    pub fn start_rerank(
        &self,
        candidates: &[Item],
        ctx: &Context,
        options: RerankOptions,
    ) -> Result<PendingRerank> {
        self.start(candidates, ctx, options, false)
    }

    /// `start_rerank`, and each candidate's `reasons`: the session events and context fields
    /// that most raised or lowered it (occlusion, in the same forward pass; `explain.rs`).
    pub fn start_explained_rerank(
        &self,
        candidates: &[Item],
        ctx: &Context,
        options: RerankOptions,
    ) -> Result<PendingRerank> {
        self.start(candidates, ctx, options, true)
    }

    fn start(&self, candidates: &[Item], ctx: &Context, options: RerankOptions, explain: bool) -> Result<PendingRerank> {
        options.validate()?;
        validate_candidates(candidates)?;
        let mut list: Vec<ListItem> = candidates.iter().map(ListItem::from).collect();
        if self.session.is_empty() || candidates.is_empty() {
            // The server order: nothing of the shopper to score or to explain.
            return Ok(PendingRerank { list, scores: None, signals: explain.then(Vec::new), options });
        }
        let encoded = self.encode(ctx)?;
        let (sessions, signals) = if explain {
            let o = encoded.occlusions(ctx);
            (o.sessions, Some(o.signals))
        } else {
            (vec![encoded.full()], None)
        };
        let scores = Some(self.score_sessions(&sessions, candidates)?);
        self.adapt(&mut list, candidates);
        Ok(PendingRerank { list, scores, signals, options })
    }

    /// The manifest's on-device adaptation (`adapt.rs`), counted over the earlier-visit events
    /// among those the model reads (the newest `config.max_session`, as `localrank-train`
    /// measured it).
    fn adapt(&self, list: &mut [ListItem], candidates: &[Item]) {
        let weight = self.manifest.adaptation.unwrap_or(0.0);
        if weight == 0.0 {
            return;
        }
        let cats = &self.manifest.categories;
        let first = self.session.len().saturating_sub(self.manifest.config.max_session);
        let times: Vec<f64> = self.session.iter().skip(first).map(|e| e.timestamp_ms / 1e3).collect();
        let history: Vec<i64> = self.session.iter().skip(first).map(|e| category_index(cats, &e.category)).collect();
        let keys: Vec<i64> = candidates.iter().map(|c| category_index(cats, &c.category)).collect();
        for (item, a) in list.iter_mut().zip(crate::adapt::affinities(&times, &history, &keys, weight)) {
            item.affinity = a;
        }
    }

    /// A throw-away inference: the first run compiles shaders and fills caches.
    pub fn warm_up(&self) -> Result<PendingRerank> {
        let item = Item {
            id: "warm-up".into(),
            title: "warm up".into(),
            category: String::new(),
            popularity: None,
        };
        Ok(PendingRerank {
            list: vec![ListItem::from(&item)],
            scores: Some(self.score_tensor(&[item], &Context::default())?),
            signals: None,
            options: RerankOptions::default(),
        })
    }

    /// Reranks synchronously (native CPU).
    pub fn rerank(&self, candidates: &[Item], ctx: &Context, options: RerankOptions) -> Result<Vec<Ranked>> {
        self.start_rerank(candidates, ctx, options)?.complete()
    }

    /// Reranks synchronously (native CPU), with each candidate's `reasons`.
    pub fn rerank_explained(&self, candidates: &[Item], ctx: &Context, options: RerankOptions) -> Result<Vec<Ranked>> {
        self.start_explained_rerank(candidates, ctx, options)?.complete()
    }
}

/// A rerank whose model scores are still on the device.
pub struct PendingRerank {
    list: Vec<ListItem>,
    /// [1 + signals, n]: the full session's scores, then one row per occluded signal.
    scores: Option<Scores>,
    /// `Some` when reasons were asked for.
    signals: Option<Vec<Signal>>,
    options: RerankOptions,
}

impl PendingRerank {
    /// The result, reading the scores synchronously (a WebGPU read-back works natively only).
    pub fn complete(mut self) -> Result<Vec<Ranked>> {
        let scores = self.scores.take().map(Scores::read).transpose()?;
        Ok(self.finish(scores))
    }

    /// True when the scores are already on the host (the CPU backend, or nothing to score):
    /// `complete_async` then finishes without waiting.
    pub fn is_ready(&self) -> bool {
        #[cfg(feature = "webgpu")]
        return !matches!(self.scores, Some(Scores::Device(_)));
        #[cfg(not(feature = "webgpu"))]
        true
    }

    pub async fn complete_async(mut self) -> Result<Vec<Ranked>> {
        let scores = match self.scores.take() {
            Some(s) => Some(s.read_async().await?),
            None => None,
        };
        Ok(self.finish(scores))
    }

    fn finish(self, scores: Option<Vec<f32>>) -> Vec<Ranked> {
        let n = self.list.len();
        let rows: Vec<Vec<f32>> = match scores {
            Some(s) if n > 0 => s.chunks(n).map(<[f32]>::to_vec).collect(),
            _ => Vec::new(),
        };
        let mut out = order(&self.list, rows.first().map(Vec::as_slice), &self.options);
        if let Some(signals) = &self.signals {
            let mut reasons = match rows.len() {
                0 => vec![Vec::new(); n],
                _ => explain::reasons(&rows, signals, self.options.personalization),
            };
            for r in &mut out {
                r.reasons = Some(std::mem::take(&mut reasons[r.server_rank - 1]));
            }
        }
        out
    }
}

#[cfg(feature = "webgpu")]
fn read_sync(t: Tensor<2>) -> Result<Vec<f32>> {
    let data = t
        .try_into_data()
        .map_err(|e| Error::backend(format!("reading scores failed: {e:?}")))?;
    to_f32(data)
}

#[cfg(feature = "webgpu")]
async fn read_async(t: Tensor<2>) -> Result<Vec<f32>> {
    let data = t
        .into_data_async()
        .await
        .map_err(|e| Error::backend(format!("reading scores failed: {e:?}")))?;
    to_f32(data)
}

/// `load_model`'s weights as the CPU path's `FusedEncoder`, without a burn model.
pub fn load_fused(manifest: &Manifest, weights: &[u8]) -> Result<FusedEncoder> {
    let path = &manifest.file("weights")?.path;
    let named = |e: Error| match e {
        Error::Model(m) => Error::model(format!("weights file {path}: {m}")),
        other => other,
    };
    if manifest.weights_format != crate::manifest::WEIGHTS_FORMAT {
        return Err(Error::model(format!(
            "manifest.json weights_format {:?} is not accepted (expected {:?})",
            manifest.weights_format,
            crate::manifest::WEIGHTS_FORMAT
        )));
    }
    let params = crate::quant::load_params(&manifest.config, &manifest.categories, weights)
        .map_err(named)?;
    FusedEncoder::from_params(&manifest.config, params).map_err(named)
}

/// The model in `weights`, decoded as the manifest's `weights_format` says: LRQ8 v2, the one
/// format whose header binds the config (`Manifest::parse` refuses any other).
pub fn load_model(manifest: &Manifest, weights: &[u8], device: &Device) -> Result<Model> {
    let path = &manifest.file("weights")?.path;
    match manifest.weights_format.as_str() {
        crate::manifest::WEIGHTS_FORMAT => crate::quant::load(&manifest.config, &manifest.categories, weights, device)
            .map_err(|e| match e {
                Error::Model(m) => Error::model(format!("weights file {path}: {m}")),
                other => other,
            }),
        other => Err(Error::model(format!(
            "manifest.json weights_format {other:?} is not accepted (expected {:?})",
            crate::manifest::WEIGHTS_FORMAT
        ))),
    }
}

#[cfg(feature = "webgpu")]
fn to_f32(data: TensorData) -> Result<Vec<f32>> {
    data.convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| Error::backend(format!("scores are not f32: {e:?}")))
}

/// Bytes of a candidate's or an event's item id: ids are keys (SKUs, slugs, URLs at most), kept
/// in the session and echoed in every result, so a longer one is an error, not a cost.
pub const MAX_ID_BYTES: usize = 512;

/// 2000-01-01T00:00:00Z in milliseconds since 1970: no storefront session starts earlier, and
/// seconds (a common mistake: 1.7e9) fall below it.
const EARLIEST_EVENT_MS: f64 = 946_684_800_000.0;
/// How far past the device's clock an event may be: a timestamp from the server or another
/// tab may run ahead of this device's clock.
const FUTURE_SLACK_MS: f64 = 86_400_000.0;
/// Longest dwell time accepted: a day.
const MAX_DWELL_MS: f64 = 86_400_000.0;

/// The device's clock, but never before 2000-01-01: on a device whose clock is wrong that far,
/// events stamped "now" must still be accepted (every observe would fail otherwise).
pub fn event_clock_ms() -> f64 {
    crate::features::now_ms().max(EARLIEST_EVENT_MS)
}

fn validate_event(e: &Event) -> Result<()> {
    validate_timestamp(e.timestamp_ms, event_clock_ms())?;
    if let Some(d) = e.dwell_ms.filter(|d| !(0.0..=MAX_DWELL_MS).contains(d)) {
        return Err(Error::input(format!(
            "event.dwellMs: {d} is not a dwell time (expected milliseconds from 0 to 86400000, 24 hours)"
        )));
    }
    if let Some(p) = e.price.filter(|p| !p.is_finite()) {
        return Err(Error::input(format!("event.price: {p} is not a finite number")));
    }
    if let Some(id) = e.item_id.as_ref().filter(|id| id.len() > MAX_ID_BYTES) {
        return Err(Error::input(format!("event.id: {} bytes, at most {MAX_ID_BYTES}", id.len())));
    }
    match e.kind {
        EventKind::Search if e.query.as_deref().is_none_or(|q| q.trim().is_empty()) => {
            Err(Error::input("event: a search event needs a non-empty query"))
        }
        EventKind::Search => Ok(()),
        _ if e.title.trim().is_empty() => Err(Error::input(format!(
            "event: a {} event needs the item's title",
            e.kind.name()
        ))),
        _ => Ok(()),
    }
}

/// Keeps an event's texts as the tokeniser reads them (`text::cap_text`), as `input::parse_event`
/// does: a restored session bypasses that parser, and a 2,000,000-character title restored by
/// `importSession` was cloned into every "Why here?" reason of 3,229 candidates, a ~4 GiB
/// allocation that aborted the wasm instance (tests/browser/fuzz.test.mjs, seed 1796570093526).
fn cap_texts(e: &mut Event) {
    let cap = |s: &mut String| {
        let n = crate::text::cap_text(s).len();
        s.truncate(n);
    };
    cap(&mut e.title);
    cap(&mut e.category);
    if let Some(q) = e.query.as_mut() {
        cap(q);
    }
}

/// An event's time must lie between 2000-01-01 and a day after `now` (NaN fails both).
fn validate_timestamp(ms: f64, now: f64) -> Result<()> {
    if (EARLIEST_EVENT_MS..=now + FUTURE_SLACK_MS).contains(&ms) {
        return Ok(());
    }
    Err(Error::input(format!(
        "event.timestamp: {ms} is not a plausible time (expected milliseconds since 1970 between 2000-01-01 and tomorrow)"
    )))
}

fn validate_candidates(candidates: &[Item]) -> Result<()> {
    if candidates.len() > MAX_CANDIDATES {
        return Err(Error::input(format!(
            "candidates: {} items, at most {MAX_CANDIDATES} per call",
            candidates.len()
        )));
    }
    let mut seen = HashSet::with_capacity_and_hasher(candidates.len(), foldhash::fast::RandomState::default());
    for (i, c) in candidates.iter().enumerate() {
        if c.id.is_empty() {
            return Err(Error::input(format!("candidates[{i}].id: must be a non-empty string")));
        }
        if c.id.len() > MAX_ID_BYTES {
            return Err(Error::input(format!("candidates[{i}].id: {} bytes, at most {MAX_ID_BYTES}", c.id.len())));
        }
        if c.title.trim().is_empty() {
            return Err(Error::input(format!("candidates[{i}].title: must be a non-empty string")));
        }
        // NaN, infinite or negative popularity made NaN scores with longTail > 0 (fuzz/).
        if let Some(p) = c.popularity.filter(|p| !(p.is_finite() && *p >= 0.0)) {
            return Err(Error::input(format!("candidates[{i}].popularity: {p} is not a non-negative number")));
        }
        if !seen.insert(c.id.as_str()) {
            return Err(Error::input(format!("candidates[{i}].id: {:?} appears twice", c.id)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn click(timestamp_ms: f64) -> Event {
        Event {
            kind: EventKind::SelectItem,
            item_id: Some("p1".into()),
            title: "Heat (1995)".into(),
            category: "Action".into(),
            price: Some(9.5),
            timestamp_ms,
            dwell_ms: Some(12_000.0),
            query: None,
        }
    }

    fn item(id: &str) -> Item {
        Item { id: id.into(), title: "Heat (1995)".into(), category: "Action".into(), popularity: None }
    }

    #[test]
    fn implausible_timestamps_are_refused_with_their_value() {
        let now = crate::features::now_ms();
        for ms in [now, EARLIEST_EVENT_MS, now + FUTURE_SLACK_MS - 1.0] {
            validate_event(&click(ms)).unwrap();
        }
        let expected = "is not a plausible time (expected milliseconds since 1970 between 2000-01-01 and tomorrow)";
        for ms in [-1.0, 0.0, 1_000.0, 1.7e9, EARLIEST_EVENT_MS - 1.0, now + 2.0 * FUTURE_SLACK_MS, now + 30.0 * 3.156e10, f64::NAN, f64::INFINITY] {
            let err = validate_event(&click(ms)).unwrap_err().to_string();
            assert!(err.contains(&format!("event.timestamp: {ms} {expected}")), "{err}");
        }
        assert!(validate_timestamp(1.7e12, 1.7e12 - 2.0 * FUTURE_SLACK_MS).is_err());
    }

    #[test]
    fn dwell_price_and_id_are_bounded() {
        let ok = click(1.7e12);
        for dwell in [-1.0, MAX_DWELL_MS + 1.0, f64::NAN, f64::INFINITY] {
            let err = validate_event(&Event { dwell_ms: Some(dwell), ..ok.clone() }).unwrap_err().to_string();
            assert!(err.contains(&format!("event.dwellMs: {dwell} ")), "{err}");
        }
        validate_event(&Event { dwell_ms: Some(MAX_DWELL_MS), ..ok.clone() }).unwrap();
        for price in [f64::NAN, f64::NEG_INFINITY] {
            let err = validate_event(&Event { price: Some(price), ..ok.clone() }).unwrap_err().to_string();
            assert!(err.contains(&format!("event.price: {price} ")), "{err}");
        }
        let long = Event { item_id: Some("x".repeat(MAX_ID_BYTES + 1)), ..ok.clone() };
        assert!(validate_event(&long).unwrap_err().to_string().contains("event.id: 513 bytes"));
        validate_event(&Event { item_id: Some("x".repeat(MAX_ID_BYTES)), ..ok }).unwrap();
    }

    #[test]
    fn long_candidate_ids_are_refused_with_their_index() {
        let mut items = vec![item("a"), item(&"b".repeat(MAX_ID_BYTES)), item("c")];
        validate_candidates(&items).unwrap();
        items[2].id = "c".repeat(2 << 20);
        let err = validate_candidates(&items).unwrap_err().to_string();
        assert!(err.contains(&format!("candidates[2].id: {} bytes, at most 512", 2 << 20)), "{err}");
        let many: Vec<Item> = (0..=MAX_CANDIDATES).map(|i| item(&i.to_string())).collect();
        assert!(validate_candidates(&many).unwrap_err().to_string().contains("5001 items, at most 5000"));
    }
}
