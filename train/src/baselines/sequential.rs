//! SASRec (Kang & McAuley 2018) and GRU4Rec (Hidasi et al. 2016) with item ids only, as in
//! their papers: no titles, no page context. Sizes are RecBole 1.2.1's defaults (SASRec: 2
//! blocks of 64 with 2 heads, learned positions; GRU4Rec: 64-wide embeddings, one GRU layer of
//! 128, a projection back to 64), both scoring by the dot product with the shared item
//! embeddings and trained as the students are: the same softmax (full or sampled), Adam, the same epochs, learning
//! rate and batches, the best epoch by validation NDCG@10 (`trainer::fit`).

use burn::nn::gru::{Gru, GruConfig};
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use localrank::model::{Block, ModelConfig};

use crate::data::dataset::{flat_targets, Case, Window};
use crate::models::teacher::{case_row, inputs, right_aligned, window_row, Row};
use crate::models::softmax::Softmax;
use crate::models::device::init_on;
use crate::models::trainer::{fit, next_item_loss, streamed_metrics, TrainConfig};

const D: usize = 64;
const SASREC_BLOCKS: usize = 2;
const SASREC_HEADS: usize = 2;
const GRU_HIDDEN: usize = 128;

/// A next-item model over item ids: hidden states [b, l, D] of left-padded id sequences (0 =
/// padding, item i = i + 1) and the item embeddings they are scored against.
pub trait IdModel: Module + Sync {
    fn hidden(&self, seq: Tensor<2, Int>, mask: Tensor<4, Bool>) -> Tensor<3>;
    fn ids(&self) -> &Embedding;
}

/// Item rows with a zero row 0 for padding.
fn table(ids: &Embedding) -> Tensor<2> {
    let w = ids.weight.val();
    let device = w.device();
    Tensor::cat(vec![Tensor::zeros([1, D], &device), w], 0)
}

fn embed(ids: &Embedding, seq: Tensor<2, Int>) -> Tensor<3> {
    let [b, l] = seq.dims();
    table(ids).select(0, seq.reshape([b * l])).reshape([b, l, D])
}

fn init_ids(items: usize, device: &Device) -> Embedding {
    EmbeddingConfig::new(items, D).with_initializer(Initializer::Normal { mean: 0.0, std: 0.02 }).init(device)
}

#[derive(Module, Debug)]
pub struct Sasrec {
    ids: Embedding,
    position: Embedding,
    blocks: Vec<Block>,
    norm: LayerNorm,
    dropout: Dropout,
}

impl Sasrec {
    pub fn new(items: usize, max_session: usize, device: &Device) -> Self {
        let config = ModelConfig::new(1).with_d_model(D).with_heads(SASREC_HEADS);
        Self {
            ids: init_ids(items, device),
            position: EmbeddingConfig::new(max_session, D).init(device),
            blocks: (0..SASREC_BLOCKS).map(|_| Block::new(&config, device)).collect(),
            norm: LayerNormConfig::new(D).init(device),
            dropout: DropoutConfig::new(0.2).init(),
        }
    }
}

impl IdModel for Sasrec {
    fn hidden(&self, seq: Tensor<2, Int>, mask: Tensor<4, Bool>) -> Tensor<3> {
        let [b, l] = seq.dims();
        let positions = right_aligned(b, l, self.position.weight.dims()[0], &seq.device());
        // The paper scales the item embeddings by sqrt(d) before adding positions.
        let mut x = self.dropout.forward(embed(&self.ids, seq).mul_scalar((D as f32).sqrt()) + self.position.forward(positions));
        for block in &self.blocks {
            x = block.forward(x, mask.clone());
        }
        self.norm.forward(x)
    }

    fn ids(&self) -> &Embedding {
        &self.ids
    }
}

#[derive(Module, Debug)]
pub struct Gru4rec {
    ids: Embedding,
    gru: Gru,
    out: Linear,
    dropout: Dropout,
}

impl Gru4rec {
    pub fn new(items: usize, device: &Device) -> Self {
        Self {
            ids: init_ids(items, device),
            // No bias: a zero input (padding) keeps a zero state, so left padding changes nothing.
            gru: GruConfig::new(D, GRU_HIDDEN, false).init(device),
            out: LinearConfig::new(GRU_HIDDEN, D).init(device),
            dropout: DropoutConfig::new(0.3).init(),
        }
    }
}

impl IdModel for Gru4rec {
    fn hidden(&self, seq: Tensor<2, Int>, _mask: Tensor<4, Bool>) -> Tensor<3> {
        let x = self.dropout.forward(embed(&self.ids, seq));
        self.out.forward(self.gru.forward(x, None))
    }

    fn ids(&self) -> &Embedding {
        &self.ids
    }
}

/// Hidden states at every position of `rows`, [b, l, D] (`l`: the rows' `padded_len`, at most
/// `max`).
fn states<M: IdModel>(m: &M, rows: &[Row], max: usize, device: &Device) -> Tensor<3> {
    let (seq, _, _, mask) = inputs(rows, max, device);
    m.hidden(seq, mask)
}

/// Full-catalogue scores of each case from its newest `l` events (the last position only).
pub fn case_scores<M: IdModel>(m: &M, cases: &[Case], l: usize, device: &Device) -> Vec<Vec<f32>> {
    let mut out = Vec::with_capacity(cases.len());
    for chunk in cases.chunks(256) {
        let rows: Vec<Row> = chunk.iter().map(|c| case_row(c, l)).collect();
        let h = states(m, &rows, l, device);
        let [b, len, d] = h.dims();
        let last = h.narrow(1, len - 1, 1).reshape([b, d]);
        let scores = last.matmul(m.ids().weight.val().transpose());
        let flat: Vec<f32> = scores.into_data().convert::<f32>().try_to_vec().expect("f32 scores");
        out.extend(flat.chunks(flat.len() / rows.len()).map(<[f32]>::to_vec));
    }
    out
}

/// Trains `model` on `windows` (full or sampled softmax, as the students); keeps the epoch with
/// the best validation NDCG@10.
pub fn train<M: IdModel>(
    model: impl FnOnce(&Device) -> M,
    tc: &TrainConfig,
    l: usize,
    windows: &[Window],
    valid: &[Case],
    softmax: &Softmax,
) -> (M, Vec<serde_json::Value>) {
    let device = tc.device.training().expect("--device checked before training (main.rs)");
    let initial = init_on(&device, tc.seed, model);
    let loss = |m: &M, ws: &[&Window], seed: u64| {
        let rows: Vec<Row> = ws.iter().map(|w| window_row(w)).collect();
        let h = states(m, &rows, l, &device);
        let [b, len, d] = h.dims();
        let h = h.reshape([b * len, d]);
        let ids = m.ids().weight.val();
        next_item_loss(softmax, &flat_targets(ws, l), seed, &device, |subset| match subset {
            None => h.matmul(ids.transpose()),
            Some(idx) => h.matmul(ids.select(0, idx).transpose()),
        })
    };
    let validate = |m: &M| streamed_metrics(valid, |cs| case_scores(m, cs, l, &Device::flex()), false);
    fit(initial, tc, windows, loss, validate)
}

/// Both baselines of one seed.
pub struct Trained {
    pub sasrec: Sasrec,
    pub gru4rec: Gru4rec,
}

pub fn train_both(items: usize, l: usize, tc: &TrainConfig, windows: &[Window], valid: &[Case], softmax: &Softmax) -> (Trained, serde_json::Value) {
    let part = |name: &str| TrainConfig { checkpoint: tc.checkpoint.as_ref().map(|c| c.child(name)), ..tc.clone() };
    eprintln!("sasrec (ids only)");
    let (sasrec, sasrec_log) = train(|d| Sasrec::new(items, l, d), &part("sasrec"), l, windows, valid, softmax);
    eprintln!("gru4rec (ids only)");
    let (gru4rec, gru_log) = train(|d| Gru4rec::new(items, d), &part("gru4rec"), l, windows, valid, softmax);
    (Trained { sasrec, gru4rec }, serde_json::json!({"sasrec": sasrec_log, "gru4rec": gru_log}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::dataset::short_and_long_cases;
    use crate::models::trainer::tests::padding_effect;

    #[test]
    fn a_session_scores_the_same_however_far_its_batch_is_padded() {
        let (items, max, device) = (30, 12, Device::flex());
        let cases = short_and_long_cases(items, max);
        let sasrec = Sasrec::new(items, max, &device);
        let d = padding_effect(|cs| case_scores(&sasrec, cs, max, &device), &cases);
        assert!(d < 1e-4, "sasrec: {d}");
        let gru = Gru4rec::new(items, &device);
        let d = padding_effect(|cs| case_scores(&gru, cs, max, &device), &cases);
        assert!(d < 1e-4, "gru4rec: {d}");
    }
}
