//! The teacher: a larger SASRec-style model that never ships. Its item side is a learned id
//! embedding plus a projection of the item's all-MiniLM-L6-v2 sentence embedding (title +
//! genres, computed by `bert.rs`); its sequence side uses the same attention blocks as the
//! student (`localrank::model::Block`). Trained with full softmax over the catalogue.

use burn::nn::{Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use localrank::features::{ints, item_text, utc_hour_weekday};
use localrank::model::{attention_mask, Block, ModelConfig};

use crate::data::dataset::{padded_len, Case, Window};
use crate::data::movielens::{Data, Interaction};

/// Teacher size: wider and deeper than the student.
pub const D_MODEL: usize = 128;
pub const HEADS: usize = 4;
pub const LAYERS: usize = 3;
pub const TEXT_DIM: usize = 384;

#[derive(Module, Debug)]
pub struct Teacher {
    ids: Embedding,
    text: Linear,
    position: Embedding,
    hour: Embedding,
    weekday: Embedding,
    blocks: Vec<Block>,
    norm: LayerNorm,
    dropout: nn::Dropout,
    max_session: usize,
}

impl Teacher {
    pub fn new(items: usize, max_session: usize, device: &Device) -> Self {
        let init = Initializer::Normal { mean: 0.0, std: 0.02 };
        let emb = |n: usize| EmbeddingConfig::new(n, D_MODEL).with_initializer(init.clone()).init(device);
        // The student's block, at the teacher's width.
        let config = ModelConfig::new(1).with_d_model(D_MODEL).with_heads(HEADS);
        Self {
            ids: emb(items),
            text: LinearConfig::new(TEXT_DIM, D_MODEL).init(device),
            position: emb(max_session),
            hour: emb(25),
            weekday: emb(8),
            blocks: (0..LAYERS).map(|_| Block::new(&config, device)).collect(),
            norm: LayerNormConfig::new(D_MODEL).init(device),
            dropout: nn::DropoutConfig::new(0.2).init(),
            max_session,
        }
    }

    /// Item vectors [n, d] from ids and the fixed text embeddings [n, 384].
    pub fn item_vectors(&self, text: Tensor<2>) -> Tensor<2> {
        self.ids.weight.val() + self.text.forward(text)
    }

    /// The vectors of the products `idx` only: what a sampled batch needs of a large catalogue.
    fn vectors_of(&self, text: Tensor<2>, idx: Tensor<1, Int>) -> Tensor<2> {
        self.ids.weight.val().select(0, idx.clone()) + self.text.forward(text.select(0, idx))
    }

    /// Input vectors [b, l, d] of left-padded item indices (+1; 0 = padding, a zero vector),
    /// gathered from `items` (every product's vectors) or, without it, computed for the inputs
    /// alone.
    fn input_vectors(&self, seq: Tensor<2, Int>, items: Option<Tensor<2>>, text: Tensor<2>) -> Tensor<3> {
        let [b, l] = seq.dims();
        let device = seq.device();
        match items {
            Some(items) => {
                let table = Tensor::cat(vec![Tensor::zeros([1, D_MODEL], &device), items], 0);
                table.select(0, seq.reshape([b * l])).reshape([b, l, D_MODEL])
            }
            None => {
                let real = seq.clone().greater_elem(0).float().reshape([b * l, 1]);
                let idx = (seq - 1).clamp_min(0).reshape([b * l]);
                (self.vectors_of(text, idx) * real).reshape([b, l, D_MODEL])
            }
        }
    }

    /// User vectors [b, l, d] from input vectors `x` and the hour and weekday of the request
    /// that follows each position.
    fn users(&self, x: Tensor<3>, (seq, hour, weekday, mask): Inputs) -> Tensor<3> {
        let [b, l] = seq.dims();
        let mut x = self.dropout.forward(x + self.position.forward(right_aligned(b, l, self.max_session, &seq.device())));
        for block in &self.blocks {
            x = block.forward(x, mask.clone());
        }
        self.norm.forward(x + self.hour.forward(hour) + self.weekday.forward(weekday))
    }

    /// Logits at every position, [b * l, n]: over the catalogue, or over the products `subset`
    /// (a sampled batch; then only the inputs' and the subset's vectors are computed).
    pub fn logits(&self, rows: &[Row], text: Tensor<2>, subset: Option<Tensor<1, Int>>, device: &Device) -> Tensor<2> {
        let inputs = inputs(rows, self.max_session, device);
        let seq = inputs.0.clone();
        let (users, items) = match subset {
            None => {
                let items = self.item_vectors(text.clone());
                (self.users(self.input_vectors(seq, Some(items.clone()), text), inputs), items)
            }
            Some(idx) => (self.users(self.input_vectors(seq, None, text.clone()), inputs), self.vectors_of(text, idx)),
        };
        let [b, l, d] = users.dims();
        users.reshape([b * l, d]).matmul(items.transpose())
    }

    /// Full-catalogue scores of each case from the newest `max_session` events of its history
    /// (only the last position is scored: [256, 100,000] per chunk, not [256 x 50, 100,000]).
    pub fn case_scores(&self, cases: &[Case], text: Tensor<2>, device: &Device) -> Vec<Vec<f32>> {
        let items = self.item_vectors(text.clone());
        let mut out = Vec::with_capacity(cases.len());
        for chunk in cases.chunks(256) {
            let rows: Vec<Row> = chunk.iter().map(|c| case_row(c, self.max_session)).collect();
            let inputs = inputs(&rows, self.max_session, device);
            let users = self.users(self.input_vectors(inputs.0.clone(), Some(items.clone()), text.clone()), inputs);
            let [b, l, d] = users.dims();
            let last = users.narrow(1, l - 1, 1).reshape([b, d]).matmul(items.clone().transpose());
            let flat: Vec<f32> = last.into_data().convert::<f32>().try_to_vec().expect("f32 scores");
            out.extend(flat.chunks(flat.len() / b).map(<[f32]>::to_vec));
        }
        out
    }
}

/// One sequence: (input event, unix time of the request that follows it).
pub type Row = Vec<(Interaction, i64)>;

pub fn window_row(w: &Window) -> Row {
    w.inputs.iter().zip(&w.targets).map(|(i, t)| (*i, t.time)).collect()
}

pub fn case_row(c: &Case, len: usize) -> Row {
    let h = &c.history[c.history.len().saturating_sub(len)..];
    h.iter().map(|e| (*e, c.target.time)).collect()
}

/// Position ids [b, l] of a batch padded to `l` of a `window`-long model: sessions are
/// right-aligned, so the newest event always takes position `window - 1`, however short the
/// batch (`dataset::padded_len`).
pub fn right_aligned(b: usize, l: usize, window: usize, device: &Device) -> Tensor<2, Int> {
    let from = window.saturating_sub(l) as i64;
    Tensor::<1, Int>::arange(from..from + l as i64, device).unsqueeze_dim::<2>(0).repeat_dim(0, b)
}

/// Left-padded item indices (+1; 0 = padding), hours (+1) and weekdays (+1), [b, l] each, and
/// their attention mask; `l` is the rows' `padded_len` (at most `max`).
pub type Inputs = (Tensor<2, Int>, Tensor<2, Int>, Tensor<2, Int>, Tensor<4, Bool>);

pub fn inputs(rows: &[Row], max: usize, device: &Device) -> Inputs {
    let (b, l) = (rows.len(), padded_len(rows.iter().map(Vec::len), max));
    let (mut seq, mut hour, mut weekday) = (Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        let row = &row[row.len().saturating_sub(l)..];
        let pad = l - row.len();
        for v in [&mut seq, &mut hour, &mut weekday] {
            v.extend(std::iter::repeat_n(0, pad));
        }
        for (e, time) in row {
            let (h, d) = utc_hour_weekday(*time);
            seq.push(e.item as i64 + 1);
            hour.push(h as i64 + 1);
            weekday.push(d as i64 + 1);
        }
    }
    let mask = attention_mask(&seq, b, l, device);
    (ints(seq, [b, l], device), ints(hour, [b, l], device), ints(weekday, [b, l], device), mask)
}

/// all-MiniLM-L6-v2 embeddings of every product's text (the same text the student reads).
pub fn text_embeddings(model: &crate::models::bert::TextModel, data: &Data, device: &Device) -> Result<Tensor<2>, String> {
    let texts: Vec<String> = data.products.iter().map(|p| item_text(&p.title, &p.category())).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let emb = model.embed(&refs)?;
    let n = emb.len();
    Ok(Tensor::from_data(TensorData::new(emb.concat(), [n, TEXT_DIM]), device))
}
