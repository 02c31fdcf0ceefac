//! Time-ordered split and model inputs built from the MovieLens log.
//!
//! Split: the 80th and 90th percentiles of event time cut the log into train / validation /
//! test. Training windows use train events only; a validation or test example is one later event
//! scored from that user's events *before* it (nothing from the future).

use burn::prelude::*;
use localrank::features::{category_index, ints, item_text, utc_hour_weekday, Batch, TrainedInputs, TrainedInputsBuilder, CONTEXT_FIELDS};
use localrank::model::{attention_mask, ModelConfig};
use localrank::text::TextEncoder;

use crate::movielens::{Data, Interaction};

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

fn context_of(target: &Interaction, items: &ItemInputs) -> [i64; CONTEXT_FIELDS] {
    if !items.time_context {
        return [0; CONTEXT_FIELDS];
    }
    let (hour, weekday) = utc_hour_weekday(target.time);
    let [device, page_type, promotion] = target.context.map(i64::from);
    [hour as i64 + 1, weekday as i64 + 1, device, page_type, 0, promotion]
}

/// One in this many training requests has each context field set to "unknown" (0), each field
/// on its own: so row 0 of every context table is trained, as the ranker maps what training never
/// had to 0 (`TrainedInputs`) and "Why here?" occludes a field by setting it to 0. Fixed per
/// request (a hash, not an RNG), so every epoch and every run drops the same ones.
const CONTEXT_DROPOUT_ONE_IN: u64 = 8;

/// The context of a training request: `context_of`, with the dropout above.
fn training_context(target: &Interaction, items: &ItemInputs) -> [i64; CONTEXT_FIELDS] {
    let mut ctx = context_of(target, items);
    for (field, v) in ctx.iter_mut().enumerate() {
        let key = [target.user as u64, target.item as u64, target.time as u64, field as u64];
        if mix(key).is_multiple_of(CONTEXT_DROPOUT_ONE_IN) {
            *v = 0;
        }
    }
    ctx
}

/// splitmix64 over the words of `key`.
fn mix(key: [u64; 4]) -> u64 {
    key.iter().fold(0x9e37_79b9_7f4a_7c15u64, |h, &w| {
        let mut z = (h ^ w).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

/// A training window as the model reads it: each input event with the context of the request
/// that follows it.
fn window_rows(w: &Window, items: &ItemInputs) -> Vec<(Interaction, [i64; CONTEXT_FIELDS])> {
    w.inputs.iter().zip(&w.targets).map(|(i, t)| (*i, training_context(t, items))).collect()
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
    let (b, l, t) = (rows.len(), config.max_session, config.max_tokens);
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
    let l = config.max_session;
    let rows: Vec<_> = ws.iter().map(|w| window_rows(w, items)).collect();
    (batch(&rows, items, config, device), flat_targets(ws, l))
}

/// Targets of windows, flattened like the logits: item index, or -1 for padding.
pub fn flat_targets(ws: &[&Window], l: usize) -> Vec<i64> {
    let mut targets = Vec::with_capacity(ws.len() * l);
    for w in ws {
        targets.extend(std::iter::repeat_n(-1, l - w.targets.len()));
        targets.extend(w.targets.iter().map(|t| t.item as i64));
    }
    targets
}

/// Inputs of evaluation cases: the context of each is its target's time.
pub fn case_batch(cs: &[&Case], items: &ItemInputs, config: &ModelConfig, device: &Device) -> Batch {
    let rows: Vec<_> = cs
        .iter()
        .map(|c| c.history.iter().map(|h| (*h, context_of(&c.target, items))).collect())
        .collect();
    batch(&rows, items, config, device)
}
