//! The student recommender: one definition shared by training (`train/`) and the browser.
//!
//! SASRec-style: a causal self-attention encoder over the shopper's last events, plus page-context
//! embeddings, produces a user vector per position; an item is represented *from its text* (hashed
//! tokenizer ids, mean-pooled) plus its category, so a product never seen in training still gets a
//! vector. Score = dot(user, item).

use burn::nn::{Initializer, Embedding, EmbeddingConfig, Gelu, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

use burn::store::ModuleRecord;
use burn::tensor::Bytes;

use crate::error::Error;
use crate::features::{Batch, Candidates, CONTEXT_FIELDS};

mod fused;
mod matmul;
pub use fused::{check_param_shapes, param_shapes, FusedEncoder};

/// Architecture hyper-parameters. Saved in `models/manifest.json` and checked on load.
#[derive(Config, Debug)]
pub struct ModelConfig {
    /// Hash buckets for tokenizer ids (bucket 0 = padding).
    #[config(default = 8192)]
    pub text_buckets: usize,
    /// Size of the category vocabulary, index 0 = unknown.
    pub categories: usize,
    #[config(default = 64)]
    pub d_model: usize,
    #[config(default = 2)]
    pub heads: usize,
    #[config(default = 2)]
    pub layers: usize,
    /// Events of the session the model reads (left-padded).
    #[config(default = 50)]
    pub max_session: usize,
    /// Tokens kept of an item's text.
    #[config(default = 24)]
    pub max_tokens: usize,
    #[config(default = 0.2)]
    pub dropout: f64,
}

/// Sizes of the small context vocabularies (index 0 always means "unknown").
pub const CONTEXT_SIZES: [usize; CONTEXT_FIELDS] = [
    25,  // hour of day + 1
    8,   // weekday + 1
    4,   // device: unknown, desktop, mobile, tablet
    7,   // page type: unknown, home, search, category, product, cart, checkout
    0,   // page category: sized from the category vocabulary at init
    3,   // promotion or holiday: unknown, no, yes
];
/// Event kinds + padding.
pub const EVENT_KINDS: usize = 6;
/// Dwell-time buckets + unknown.
pub const DWELL_BUCKETS: usize = 5;

#[derive(Module, Debug)]
pub struct Block {
    norm1: LayerNorm,
    qkv: Linear,
    out: Linear,
    norm2: LayerNorm,
    ff1: Linear,
    ff2: Linear,
    gelu: Gelu,
    dropout: nn::Dropout,
    heads: usize,
}

impl Block {
    /// A block of `config.d_model` with `config.heads` heads (also used by the training-side
    /// teacher, so that both models share one attention implementation).
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let d = config.d_model;
        Self {
            norm1: LayerNormConfig::new(d).init(device),
            qkv: LinearConfig::new(d, 3 * d).init(device),
            out: LinearConfig::new(d, d).init(device),
            norm2: LayerNormConfig::new(d).init(device),
            ff1: LinearConfig::new(d, 2 * d).init(device),
            ff2: LinearConfig::new(2 * d, d).init(device),
            gelu: Gelu::new(),
            dropout: nn::DropoutConfig::new(config.dropout).init(),
            heads: config.heads,
        }
    }

    /// Pre-norm block. `mask`: [batch, 1, len, len], true where attention is forbidden.
    pub fn forward(&self, x: Tensor<3>, mask: Tensor<4, Bool>) -> Tensor<3> {
        self.forward_from(x, mask, 0)
    }

    /// `forward` at the last position only (inference): [b, l, d] -> [b, 1, d], the same
    /// values as `forward(..).narrow(1, l - 1, 1)`.
    pub fn forward_last(&self, x: Tensor<3>, mask: Tensor<4, Bool>) -> Tensor<3> {
        let l = x.dims()[1];
        self.forward_from(x, mask, l - 1)
    }

    /// The block for positions `from..len`: queries and everything after attention for those
    /// positions, keys and values from every position.
    fn forward_from(&self, x: Tensor<3>, mask: Tensor<4, Bool>, from: usize) -> Tensor<3> {
        let [b, l, d] = x.dims();
        let (h, dh, rows) = (self.heads, d / self.heads, l - from);
        let qkv = self.qkv.forward(self.norm1.forward(x.clone()));
        let split = |i: usize, start: usize| {
            qkv.clone()
                .narrow(2, i * d, d)
                .narrow(1, start, l - start)
                .reshape([b, l - start, h, dh])
                .swap_dims(1, 2)
        };
        let (q, k, v) = (split(0, from), split(1, 0), split(2, 0));
        let att = q.matmul(k.swap_dims(2, 3)) / (dh as f64).sqrt();
        let att = softmax(att.mask_fill(mask.narrow(2, from, rows), -1e9), 3);
        let y = att.matmul(v).swap_dims(1, 2).reshape([b, rows, d]);
        let x = x.narrow(1, from, rows) + self.dropout.forward(self.out.forward(y));
        let y = self.ff2.forward(self.gelu.forward(self.ff1.forward(self.norm2.forward(x.clone()))));
        x + self.dropout.forward(y)
    }
}

#[derive(Module, Debug)]
pub struct Model {
    tokens: Embedding,
    category: Embedding,
    position: Embedding,
    event: Embedding,
    dwell: Embedding,
    context: Vec<Embedding>,
    blocks: Vec<Block>,
    norm: LayerNorm,
    dropout: nn::Dropout,
    d_model: usize,
}

impl ModelConfig {
    /// A model with fresh parameters. Load trained ones with `Model::load_bytes`.
    pub fn init(&self, device: &Device) -> Model {
        let d = self.d_model;
        // Small initial embeddings: sums of N(0, 1) rows give huge initial logits.
        let init = Initializer::Normal { mean: 0.0, std: 0.02 };
        let emb = |n: usize| EmbeddingConfig::new(n, d).with_initializer(init.clone()).init(device);
        let context = CONTEXT_SIZES
            .iter()
            .map(|&n| emb(if n == 0 { self.categories } else { n }))
            .collect();
        Model {
            tokens: emb(self.text_buckets),
            category: emb(self.categories),
            position: emb(self.max_session),
            event: emb(EVENT_KINDS),
            dwell: emb(DWELL_BUCKETS),
            context,
            blocks: (0..self.layers).map(|_| Block::new(self, device)).collect(),
            norm: LayerNormConfig::new(d).init(device),
            dropout: nn::DropoutConfig::new(self.dropout).init(),
            d_model: d,
        }
    }
}

/// Limits of a model config read from a manifest (`ModelConfig::validate`). Every bound is far
/// above what the shipped model (d 64, 2 heads, 2 layers, window 50, 24 tokens, 30,523 token rows)
/// and the training CLI use, and low enough that no accepted value can make an allocation or a
/// loop unbounded: a manifest is input, not code.
pub mod limits {
    use std::ops::RangeInclusive;

    pub const D_MODEL: RangeInclusive<usize> = 1..=1024;
    pub const LAYERS: RangeInclusive<usize> = 1..=16;
    /// Positions of the session window: attention costs window² per layer and call.
    pub const MAX_SESSION: RangeInclusive<usize> = 1..=1000;
    /// Tokens per text: every candidate and event allocates this many ids.
    pub const MAX_TOKENS: RangeInclusive<usize> = 1..=512;
    /// Token rows (row 0 is padding, so at least one real row).
    pub const TEXT_BUCKETS: RangeInclusive<usize> = 2..=1 << 22;
    /// Category rows including row 0 (unknown).
    pub const CATEGORIES: RangeInclusive<usize> = 1..=1 << 20;
    /// Parameters in all: 2^26 f32 values are 256 MiB in memory, the largest weights file a
    /// manifest may list (`manifest::MAX_FILE_BYTES`).
    pub const PARAMETERS: u64 = 1 << 26;
}

impl ModelConfig {
    /// Checks every value against `limits`, so that a manifest can neither panic the model
    /// (heads 0 divides by zero, dropout 1 trips burn's assertion), make it allocate without bound,
    /// nor run a silently different model (heads that do not divide d_model).
    pub fn validate(&self) -> crate::Result<()> {
        use limits::*;
        in_range("d_model", self.d_model, &D_MODEL)?;
        in_range("layers", self.layers, &LAYERS)?;
        in_range("max_session", self.max_session, &MAX_SESSION)?;
        in_range("max_tokens", self.max_tokens, &MAX_TOKENS)?;
        in_range("text_buckets", self.text_buckets, &TEXT_BUCKETS)?;
        in_range("categories", self.categories, &CATEGORIES)?;
        if self.heads == 0 || !self.d_model.is_multiple_of(self.heads) {
            return Err(Error::model(format!(
                "config.heads is {}: must be at least 1 and divide config.d_model ({})",
                self.heads, self.d_model
            )));
        }
        // burn's Dropout asserts 0 <= p <= 1; p = 1 zeroes every activation in training.
        if !(self.dropout.is_finite() && (0.0..1.0).contains(&self.dropout)) {
            return Err(Error::model(format!("config.dropout is {:?}: must be within [0, 1)", self.dropout)));
        }
        let parameters = self.parameters();
        if parameters > PARAMETERS {
            return Err(Error::model(format!(
                "config describes a model of {parameters} parameters (d_model {}, text_buckets {}, categories {}, layers {}): at most {PARAMETERS}",
                self.d_model, self.text_buckets, self.categories, self.layers
            )));
        }
        Ok(())
    }

    /// Parameters of `init`'s model (every value within `limits` keeps this far below u64::MAX).
    pub fn parameters(&self) -> u64 {
        let d = self.d_model as u64;
        let context: usize = CONTEXT_SIZES.iter().sum();
        let rows = self.text_buckets + 2 * self.categories + self.max_session + EVENT_KINDS + DWELL_BUCKETS + context;
        // Per block: qkv 3d², out d², ff1 2d², ff2 2d²; biases 7d; two norms 4d.
        let block = 8 * d * d + 11 * d;
        rows as u64 * d + self.layers as u64 * block + 2 * d
    }
}

fn in_range(field: &str, value: usize, range: &std::ops::RangeInclusive<usize>) -> crate::Result<()> {
    if range.contains(&value) {
        return Ok(());
    }
    Err(Error::model(format!(
        "config.{field} is {value}: must be within {}..={}",
        range.start(),
        range.end()
    )))
}

impl Model {
    /// The architecture of `config` with the weights of a burnpack record (`models/*.bpk`).
    pub fn from_bytes(config: &ModelConfig, bytes: &[u8], device: &Device) -> crate::Result<Self> {
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
            .map_err(|e| Error::model(format!("weights do not decode as burnpack: {e:?}")))?;
        config
            .init(device)
            .try_load_record(record)
            .map_err(|e| Error::model(format!("weights do not fit the architecture: {e:?}")))
    }

    /// The model with its token table replaced by `table` (`[text_buckets, d_model]`), e.g. the
    /// token embeddings distilled from the teacher's text model. Trainable as before.
    pub fn with_token_table(mut self, table: TensorData) -> crate::Result<Self> {
        let expected = [self.tokens.weight.dims()[0], self.d_model];
        if table.shape().as_slice() != expected.as_slice() {
            return Err(Error::model(format!("token table of shape {:?}, the model has {expected:?}", table.shape())));
        }
        self.tokens.weight = self.tokens.weight.map(|w| {
            let grad = w.is_require_grad();
            Tensor::from_data(table, &w.device()).set_require_grad(grad)
        });
        Ok(self)
    }

    /// Item vectors from text tokens [n, t] and category ids [n]: mean of token embeddings
    /// (padding excluded) plus the category embedding. Output [n, d].
    pub fn embed_items(&self, tokens: Tensor<2, Int>, category: Tensor<1, Int>) -> Tensor<2> {
        let pooled = self.pool_tokens(tokens.unsqueeze_dim(0)).squeeze_dim(0);
        pooled + self.category.forward(category.unsqueeze_dim(0)).squeeze_dim(0)
    }

    /// Mean of the embeddings of the non-padding tokens: [b, n, t] -> [b, n, d].
    fn pool_tokens(&self, tokens: Tensor<3, Int>) -> Tensor<3> {
        let [b, n, t] = tokens.dims();
        let mask = tokens.clone().not_equal_elem(0).float().unsqueeze_dim::<4>(3);
        let emb = self.tokens.forward(tokens.reshape([b * n, t])).reshape([b, n, t, self.d_model]);
        let count = mask.clone().sum_dim(2).clamp_min(1.0);
        (emb * mask).sum_dim(2).div(count).squeeze_dim(2)
    }

    /// Context vector per position, [b, l, d]: sum of the context-field embeddings plus the
    /// pooled query text. `context`: [b, l, fields]; `query`: [b, l, t].
    /// (One gather over the field tables stacked with `Tensor::cat` was tried: it saves a few
    /// small operations but adds 160 KB of wasm, 30 KB gzipped, more than the shipped total's
    /// margin under 3 MB.)
    fn embed_context(&self, context: Tensor<3, Int>, query: Tensor<3, Int>) -> Tensor<3> {
        let [b, l, _] = context.dims();
        let mut sum = self.pool_tokens(query);
        for (i, emb) in self.context.iter().enumerate() {
            let field = context.clone().narrow(2, i, 1).reshape([b, l]);
            sum = sum + emb.forward(field);
        }
        sum
    }

    /// Encodes sessions into one user vector per position: [b, len, d]. Position i has seen
    /// events 0..=i only (causal mask); padding keys are masked out.
    pub fn encode(&self, batch: &Batch) -> Tensor<3> {
        let mut x = self.embed_events(self.event_items(batch), batch);
        for block in &self.blocks {
            x = block.forward(x, batch.mask.clone());
        }
        x
    }

    /// The item vector of each session event, [b, l, d]: `embed_items` of its tokens and category.
    pub fn event_items(&self, batch: &Batch) -> Tensor<3> {
        self.pool_tokens(batch.tokens.clone()) + self.category.forward(batch.category.clone())
    }

    /// Encoder input of `batch`, [b, l, d]: the events' item vectors `items` ([b, l, d]) plus
    /// their position, event-kind and dwell embeddings.
    ///
    /// Sessions are right-aligned: the newest event always takes the window's last position, so
    /// a batch shorter than the window (inference leaves out the padding, which attention masks
    /// anyway) reads the last `l` position rows, the very rows a padded batch gives its events.
    fn embed_events(&self, items: Tensor<3>, batch: &Batch) -> Tensor<3> {
        let l = batch.tokens.dims()[1];
        let window = self.position.weight.dims()[0];
        let positions = self.position.weight.val().narrow(0, window - l, l).unsqueeze_dim::<3>(0);
        let x = items
            + positions
            + self.event.forward(batch.event.clone())
            + self.dwell.forward(batch.dwell.clone());
        self.dropout.forward(x)
    }

    /// User vectors: encoder output at each position plus the page context of the request
    /// that follows it. [b, l, d].
    pub fn users(&self, batch: &Batch) -> Tensor<3> {
        let h = self.encode(batch);
        let ctx = self.embed_context(batch.context.clone(), batch.query.clone());
        self.norm.forward(h + ctx)
    }

    /// `users(batch)` at the last position only, [b, d]: the last block, the context and the
    /// final norm run for that position alone (inference reads nothing else).
    /// On the CPU backend the ranker runs this as `FusedEncoder::last_user`.
    pub fn last_user(&self, batch: &Batch) -> Tensor<2> {
        let [b, l, _] = batch.tokens.dims();
        let mut x = self.embed_events(self.event_items(batch), batch);
        let h = match self.blocks.split_last() {
            Some((last, rest)) => {
                for block in rest {
                    x = block.forward(x, batch.mask.clone());
                }
                last.forward_last(x, batch.mask.clone())
            }
            None => x.narrow(1, l - 1, 1),
        };
        let ctx = self.embed_context(batch.context.clone().narrow(1, l - 1, 1), batch.query.clone().narrow(1, l - 1, 1));
        self.norm.forward(h + ctx).reshape([b, self.d_model])
    }

    /// Inference: scores of `candidates` for each session in the batch, [b, n]. Only the last
    /// position (the newest event; sessions are left-padded) is used.
    pub fn score(&self, batch: &Batch, candidates: &Candidates) -> Tensor<2> {
        let items = self.embed_items(candidates.tokens.clone(), candidates.category.clone());
        self.last_user(batch).matmul(items.transpose())
    }

    pub fn d_model(&self) -> usize {
        self.d_model
    }
}

/// `event`: `b` rows of `l` event kinds, 0 = padding.
/// True where attention is forbidden: future positions and padding keys, except that every
/// position may always see itself (a fully padded row must not softmax over nothing).
/// Shape [b, 1, l, l]. Built on the host from the ids the batch is made of: one upload instead of
/// a dozen small tensor ops on every call.
pub fn attention_mask(event: &[i64], b: usize, l: usize, device: &Device) -> Tensor<4, Bool> {
    assert_eq!(event.len(), b * l, "attention_mask: {} event ids for a [{b}, {l}] batch", event.len());
    let mut mask = Vec::with_capacity(b * l * l);
    for row in event.chunks_exact(l.max(1)) {
        for query in 0..l {
            mask.extend((0..l).map(|key| key != query && (key > query || row[key] == 0)));
        }
    }
    Tensor::from_data(TensorData::new(mask, [b, 1, l, l]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::cpu_device;

    #[test]
    fn attention_mask_forbids_the_future_and_padding_but_never_a_position_itself() {
        // Two sessions of 3 positions: [pad, a, b] and [a, b, c].
        let mask = attention_mask(&[0, 2, 1, 3, 1, 4], 2, 3, &cpu_device());
        let got: Vec<bool> = mask.into_data().try_to_vec().unwrap();
        #[rustfmt::skip]
        let want = [
            false, true, true,  // pad sees itself only
            true, false, true,  // a: not the padding, not b
            true, false, false, // b: a and itself
            false, true, true,
            false, false, true,
            false, false, false,
        ];
        assert_eq!(got, want);
    }
}
