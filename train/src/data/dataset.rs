//! Time-ordered split and model inputs built from the MovieLens log.
//!
//! Split: the 80th and 90th percentiles of event time cut the log into train / validation /
//! test. Training windows use train events only; a validation or test example is one later event
//! scored from that user's events *before* it (nothing from the future).

use burn::prelude::*;
use localrank::features::{category_index, ints, item_text, utc_hour_weekday, Batch, TrainedInputs, TrainedInputsBuilder, CONTEXT_FIELDS};
use localrank::model::{attention_mask, ModelConfig};
use localrank::text::TextEncoder;

use crate::hash::mix;
use crate::data::movielens::{Data, Interaction};

pub struct Split {
    pub valid_from: i64,
    pub test_from: i64,
}

impl Split {
    pub fn by_time(events: &[Interaction]) -> Self {
        let at = |q: f64| events[((events.len() as f64 * q) as usize).min(events.len() - 1)].time;
        Self { valid_from: at(0.8), test_from: at(0.9) }
    }
}

/// Each product's model inputs, computed once.
pub struct ItemInputs {
    pub tokens: Vec<Vec<i64>>,
    pub category: Vec<i64>,
    /// Whether requests carry their hour and weekday (off for the context ablation).
    pub time_context: bool,
}

impl ItemInputs {
    pub fn new(data: &Data, text: &TextEncoder) -> Self {
        let tokens = data
            .products
            .iter()
            .map(|p| text.encode(&item_text(&p.title, &p.category())).expect("catalogue text tokenises"))
            .collect();
        let category = data
            .products
            .iter()
            .map(|p| category_index(&data.categories, &p.category()))
            .collect();
        Self { tokens, category, time_context: true }
    }

    /// The products' inputs as a model directory's own tokenizer file (the compact vocabulary or
    /// tokenizer.json) reads their texts: what the browser feeds that model.
    pub fn from_tokenizer(data: &Data, tokenizer: &[u8], config: &ModelConfig) -> Result<Self, String> {
        let text = TextEncoder::from_bytes(tokenizer, config.text_buckets, config.max_tokens).map_err(|e| e.to_string())?;
        Ok(Self::new(data, &text))
    }

    pub fn tensors(&self, device: &Device) -> (Tensor<2, Int>, Tensor<1, Int>) {
        let (n, t) = (self.tokens.len(), self.tokens[0].len());
        (
            ints(self.tokens.concat(), [n, t], device),
            ints(self.category.clone(), [n], device),
        )
    }
}

/// A training sequence: `inputs[i]` is followed by `targets[i]`.
#[derive(Clone)]
pub struct Window {
    pub inputs: Vec<Interaction>,
    pub targets: Vec<Interaction>,
}

/// An evaluation case: the history before `target`, newest last.
#[derive(Clone)]
pub struct Case {
    pub history: Vec<Interaction>,
    pub target: Interaction,
}

/// Events per user, in time order.
pub fn by_user(events: &[Interaction]) -> Vec<Vec<Interaction>> {
    let users = events.iter().map(|e| e.user as usize).max().unwrap_or(0) + 1;
    let mut out = vec![Vec::new(); users];
    for e in events {
        out[e.user as usize].push(*e);
    }
    out
}

/// Training windows of at most `len` inputs, from events before `until`.
pub fn windows(users: &[Vec<Interaction>], until: i64, len: usize) -> Vec<Window> {
    let mut out = Vec::new();
    for seq in users {
        let seq: Vec<Interaction> = seq.iter().copied().filter(|e| e.time < until).collect();
        let mut end = seq.len();
        while end >= 2 {
            let start = end.saturating_sub(len + 1);
            out.push(Window {
                inputs: seq[start..end - 1].to_vec(),
                targets: seq[start + 1..end].to_vec(),
            });
            end = start + 1;
        }
    }
    out
}

/// The standard leave-one-out protocol: per user (with at least 3 events), the last event is
/// the test case, the second-last the validation case, the rest trains. Case histories hold all
/// earlier events (the model reads the newest of them).
pub fn leave_one_out(users: &[Vec<Interaction>]) -> (Vec<Vec<Interaction>>, Vec<Case>, Vec<Case>) {
    let (mut train, mut valid, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for seq in users.iter().filter(|s| s.len() >= 3) {
        let n = seq.len();
        train.push(seq[..n - 2].to_vec());
        valid.push(Case { history: seq[..n - 2].to_vec(), target: seq[n - 2] });
        test.push(Case { history: seq[..n - 1].to_vec(), target: seq[n - 1] });
    }
    (train, valid, test)
}

/// Evaluation cases for events in `[from, until)` with at least one earlier event.
pub fn cases(users: &[Vec<Interaction>], from: i64, until: i64, len: usize) -> Vec<Case> {
    let mut out = Vec::new();
    for seq in users {
        for (i, e) in seq.iter().enumerate() {
            if e.time >= from && e.time < until && i > 0 {
                let start = i.saturating_sub(len);
                out.push(Case { history: seq[start..i].to_vec(), target: *e });
            }
        }
    }
    out
}

/// The context of the request that the shopper answered with `target`, as it was known when
/// the list was shown: the hour and weekday of that moment, and the page the shopper was on,
/// i.e. the device, page type and promotion of their event before it (`previous`). Never the
/// target row's own page fields: a purchase logged on the checkout page would tell the model the
/// answer (issue 19; `request_context_is_the_page_before_the_target` fails on the old rule).
fn context_of(previous: Option<&Interaction>, target: &Interaction, items: &ItemInputs) -> [i64; CONTEXT_FIELDS] {
    if !items.time_context {
        return [0; CONTEXT_FIELDS];
    }
    let (hour, weekday) = utc_hour_weekday(target.time);
    let [device, page_type, promotion] = previous.map_or([0; 3], |p| p.context).map(i64::from);
    [hour as i64 + 1, weekday as i64 + 1, device, page_type, 0, promotion]
}

/// One in this many training requests has each context field set to "unknown" (0), each field
/// on its own: so row 0 of every context table is trained, as the ranker maps what training never
/// had to 0 (`TrainedInputs`) and "Why here?" occludes a field by setting it to 0. Fixed per
/// request (a hash, not an RNG), so every epoch and every run drops the same ones.
const CONTEXT_DROPOUT_ONE_IN: u64 = 8;

/// The context of a training request: `context_of`, with the dropout above.
fn training_context(previous: &Interaction, target: &Interaction, items: &ItemInputs) -> [i64; CONTEXT_FIELDS] {
    let mut ctx = context_of(Some(previous), target, items);
    for (field, v) in ctx.iter_mut().enumerate() {
        let key = [target.user as u64, target.item as u64, target.time as u64, field as u64];
        if mix(&key).is_multiple_of(CONTEXT_DROPOUT_ONE_IN) {
            *v = 0;
        }
    }
    ctx
}

/// A training window as the model reads it: each input event with the context of the request
/// that follows it.
fn window_rows(w: &Window, items: &ItemInputs) -> Vec<(Interaction, [i64; CONTEXT_FIELDS])> {
    w.inputs.iter().zip(&w.targets).map(|(i, t)| (*i, training_context(i, t, items))).collect()
}

/// The input values training feeds the model (`batch` below: the event kinds and contexts of the
/// windows, dwell always unknown, no query), for the manifest.
pub fn trained_inputs(windows: &[Window], items: &ItemInputs) -> TrainedInputs {
    let mut seen = TrainedInputsBuilder::default();
    for w in windows {
        for (e, ctx) in window_rows(w, items) {
            seen.event(e.kind as i64, 0);
            seen.request(&ctx, false);
        }
    }
    seen.finish()
}

/// Builds a batch from sequences of (input event, context of the request that follows it),
/// left-padded to `config.max_session`.
pub fn batch(
    rows: &[Vec<(Interaction, [i64; CONTEXT_FIELDS])>],
    items: &ItemInputs,
    config: &ModelConfig,
    device: &Device,
) -> Batch {
    let (b, l, t) = (rows.len(), padded_len(rows.iter().map(Vec::len), config.max_session), config.max_tokens);
    let mut tokens = Vec::with_capacity(b * l * t);
    let (mut event, mut category, mut context) = (Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        let row = &row[row.len().saturating_sub(l)..]; // the newest `l` events
        let pad = l - row.len();
        tokens.extend(std::iter::repeat_n(0, pad * t));
        event.extend(std::iter::repeat_n(0, pad));
        category.extend(std::iter::repeat_n(0, pad));
        context.extend(std::iter::repeat_n(0, pad * CONTEXT_FIELDS));
        for (e, ctx) in row {
            tokens.extend_from_slice(&items.tokens[e.item]);
            event.push(e.kind as i64);
            category.push(items.category[e.item]);
            context.extend_from_slice(ctx);
        }
    }
    Batch {
        tokens: ints(tokens, [b, l, t], device),
        mask: attention_mask(&event, b, l, device),
        event: ints(event, [b, l], device),
        category: ints(category, [b, l], device),
        dwell: ints(vec![0; b * l], [b, l], device),
        context: ints(context, [b, l, CONTEXT_FIELDS], device),
        query: ints(vec![0; b * l * t], [b, l, t], device),
    }
}

/// Inputs and flat targets (item index, or -1 for padding) of training windows.
pub fn window_batch(
    ws: &[&Window],
    items: &ItemInputs,
    config: &ModelConfig,
    device: &Device,
) -> (Batch, Vec<i64>) {
    let rows: Vec<_> = ws.iter().map(|w| window_rows(w, items)).collect();
    (batch(&rows, items, config, device), flat_targets(ws, config.max_session))
}

/// The length a batch of sessions of these lengths is padded to: its longest, at most `max`.
/// Sessions are left-padded and right-aligned (the newest event takes the last position, whose
/// position embedding is the window's last), and attention never reads padding, so padding a
/// batch of short sessions to the whole window only costs time: the 1 M-event, 100,000-product
/// SYNTHETIC log (about 8 training events per window) padded its windows of 50 to about 16.
pub fn padded_len(lens: impl IntoIterator<Item = usize>, max: usize) -> usize {
    lens.into_iter().map(|n| n.min(max)).max().unwrap_or(0).max(1)
}

/// Targets of windows, flattened like the logits (`padded_len` positions per window, at most
/// `max`): item index, or -1 for padding.
pub fn flat_targets(ws: &[&Window], max: usize) -> Vec<i64> {
    let l = padded_len(ws.iter().map(|w| w.targets.len()), max);
    let mut targets = Vec::with_capacity(ws.len() * l);
    for w in ws {
        let newest = &w.targets[w.targets.len().saturating_sub(l)..];
        targets.extend(std::iter::repeat_n(-1, l - newest.len()));
        targets.extend(newest.iter().map(|t| t.item as i64));
    }
    targets
}

/// Inputs of evaluation cases: the context of each is the request's (`context_of`).
pub fn case_batch(cs: &[&Case], items: &ItemInputs, config: &ModelConfig, device: &Device) -> Batch {
    let rows: Vec<_> = cs
        .iter()
        .map(|c| {
            let ctx = context_of(c.history.last(), &c.target, items);
            c.history.iter().map(|h| (*h, ctx)).collect()
        })
        .collect();
    batch(&rows, items, config, device)
}

/// Two evaluation cases over `items` products for padding tests: a short history (3 events)
/// and one longer than a `max`-event window.
#[cfg(test)]
pub fn short_and_long_cases(items: usize, max: usize) -> [Case; 2] {
    use localrank::features::EventKind;
    let case = |n: usize| {
        let event = |k: usize| Interaction::of_kind(EventKind::ViewItem, 0, (k * 7 + n) % items, 1_700_000_000 + k as i64 * 60);
        Case { history: (0..n).map(event).collect(), target: event(n) }
    };
    [case(3), case(max + 2)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use localrank::features::{context_indices, Context, EventKind};

    #[test]
    fn a_batch_is_padded_to_its_longest_session_within_the_window() {
        assert_eq!(padded_len([3, 7, 2], 50), 7);
        assert_eq!(padded_len([3, 70], 50), 50);
        assert_eq!(padded_len([0, 0], 50), 1, "an empty batch still has one (padding) position");
        let w = |n: usize| Window { inputs: vec![Interaction::of_kind(EventKind::ViewItem, 0, 1, 0); n], targets: (0..n).map(|i| Interaction::of_kind(EventKind::ViewItem, 0, i, 0)).collect() };
        let (a, b) = (w(2), w(3));
        assert_eq!(flat_targets(&[&a, &b], 50), [-1, 0, 1, 0, 1, 2]);
        assert_eq!(flat_targets(&[&b], 2), [1, 2], "the newest targets of a window longer than max");
    }

    /// Page-context indices (device, page type, promotion) of a logged event.
    fn page(device: &str, page_type: &str, promotion: bool) -> [u8; 3] {
        let ctx = Context { device: Some(device.into()), page_type: Some(page_type.into()), promotion: Some(promotion), ..Context::default() };
        let all = context_indices(&ctx, &[]);
        [all[2], all[3], all[5]].map(|v| v as u8)
    }

    fn event(kind: EventKind, item: usize, time: i64, context: [u8; 3]) -> Interaction {
        Interaction { context, ..Interaction::of_kind(kind, 0, item, time) }
    }

    fn items() -> ItemInputs {
        ItemInputs { tokens: vec![vec![1]; 3], category: vec![0; 3], time_context: true }
    }

    /// A purchase logged on the checkout page must not tell the model that the request it answers
    /// came from checkout: the request's page is the one the shopper was on before it (a product
    /// page on mobile here). Under the old rule (the target row's own fields) both the window row
    /// and the evaluation case read `checkout` and this fails.
    #[test]
    fn request_context_is_the_page_before_the_target() {
        let before = page("mobile", "product", true);
        let checkout = page("desktop", "checkout", false);
        assert_ne!(before, checkout);
        let seq = vec![
            event(EventKind::ViewItem, 0, 100, page("mobile", "home", false)),
            event(EventKind::AddToCart, 1, 160, before),
            event(EventKind::Purchase, 2, 220, checkout),
        ];
        let items = items();
        let expected = before.map(i64::from);
        let fields = |c: [i64; CONTEXT_FIELDS]| [c[2], c[3], c[5]];
        let case = Case { history: seq[..2].to_vec(), target: seq[2] };
        assert_eq!(fields(context_of(case.history.last(), &case.target, &items)), expected);
        let w = &windows(&[seq.clone()], i64::MAX, 50)[0];
        let rows = window_rows(w, &items);
        let last = rows.last().unwrap().1;
        // The dropout may blank a field of this request; none may read as the target's page.
        for (got, (want, leak)) in fields(last).into_iter().zip(expected.into_iter().zip(checkout.map(i64::from))) {
            assert!(got == want || got == 0, "request context {got}, expected {want} (the page before) or unknown, not {leak}");
        }
        assert_eq!(fields(context_of(None, &case.target, &items)), [0; 3], "no earlier event: page unknown");
    }
}
