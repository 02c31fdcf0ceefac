//! The CPU inference of `Model::score` (item vectors, `last_user`, the scores), as loops over the
//! model's weights read out of it once at load.
//!
//! On a model this small burn's general machinery was most of a rerank: ~120 tensor operations
//! per call, each allocating, checking shapes and copying strided views, around ~5 MFLOP of
//! arithmetic (docs/speed-and-size.md, profile). This is the same computation with the same
//! weights, with one buffer per stage, matrix products sized for these shapes (`matmul.rs`),
//! attention that skips the keys its causal mask hides, no `exp` for masked keys, and an `erf`
//! and `exp` that vectorise (within 5e-7 and 2 ulp of the libm functions burn calls; tests
//! below). `Model` stays the one definition of the architecture: training, WebGPU and the
//! tests' reference all run it in burn, and `tests/model.rs` checks this path against
//! `Model::last_user` and `Model::score`.

use std::ops::Range;

use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;

use super::matmul::{dot, matmul, sum, Rows};
use super::{Block, Model, ModelConfig, CONTEXT_SIZES, DWELL_BUCKETS, EVENT_KINDS};
use crate::error::{Error, Result};
use crate::features::EncodedSession;

/// `Model::embed_items`, `Model::last_user` and `Model::score` on the host, for the CPU backend.
pub struct FusedEncoder {
    d: usize,
    heads: usize,
    /// `[text_buckets, d]` token rows (row 0: padding, never read).
    tokens: Vec<f32>,
    category: Vec<f32>,
    /// `[window, d]` position rows; sessions are right-aligned to the window's end.
    position: Vec<f32>,
    event: Vec<f32>,
    dwell: Vec<f32>,
    context: Vec<Vec<f32>>,
    blocks: Vec<FusedBlock>,
    norm: Norm,
}

impl FusedEncoder {
    /// `model`'s weights, taken out of it (its buffers are reused where burn allows, so that
    /// the token table is not held twice at load).
    pub fn new(model: Model) -> Result<Self> {
        let Model { tokens, category, position, event, dwell, context, blocks, norm, d_model: d, .. } = model;
        Ok(Self {
            d,
            heads: blocks.first().map_or(1, |b| b.heads),
            tokens: table(tokens)?,
            category: table(category)?,
            position: table(position)?,
            event: table(event)?,
            dwell: table(dwell)?,
            context: context.into_iter().map(table).collect::<Result<_>>()?,
            blocks: blocks.into_iter().map(|b| FusedBlock::new(b, d)).collect::<Result<_>>()?,
            norm: Norm::new(norm, d)?,
        })
    }

    /// `new` without a burn model: the parameters as `quant::load_params` decodes them, in the
    /// burn module's visit order (`param_shapes`), each checked against the architecture.
    pub fn from_params(config: &ModelConfig, params: Vec<(Vec<usize>, Vec<f32>)>) -> Result<Self> {
        check_param_shapes(config, params.iter().map(|(shape, _)| shape.as_slice()))?;
        let mut it = params.into_iter().map(|(_, values)| Ok::<_, Error>(values));
        let mut next = || it.next().expect("counted by check_param_shapes");
        let d = config.d_model;
        let tokens = next()?;
        let category = next()?;
        let position = next()?;
        let event = next()?;
        let dwell = next()?;
        let context = CONTEXT_SIZES
            .iter()
            .map(|_| next())
            .collect::<Result<_>>()?;
        let norm = |next: &mut dyn FnMut() -> Result<Vec<f32>>| -> Result<Norm> {
            Ok(Norm {
                gamma: next()?,
                beta: next()?,
                eps: LayerNormConfig::new(d).epsilon as f32,
            })
        };
        let dense = |next: &mut dyn FnMut() -> Result<Vec<f32>>, inputs: usize| -> Result<Dense> {
            Ok(Dense {
                w: next()?,
                b: next()?,
                inputs,
            })
        };
        let mut blocks = Vec::with_capacity(config.layers);
        for _ in 0..config.layers {
            blocks.push(FusedBlock {
                norm1: norm(&mut next)?,
                qkv: dense(&mut next, d)?,
                out: dense(&mut next, d)?,
                norm2: norm(&mut next)?,
                ff1: dense(&mut next, d)?,
                ff2: dense(&mut next, 2 * d)?,
            });
        }
        let final_norm = norm(&mut next)?;
        Ok(Self {
            d,
            heads: config.heads,
            tokens,
            category,
            position,
            event,
            dwell,
            context,
            blocks,
            norm: final_norm,
        })
    }

    pub fn d_model(&self) -> usize {
        self.d
    }

    /// `Model::embed_items` of items given as keys (`items::ItemKey`: `t` token ids, then the
    /// category id; concatenated): `[n, d]`.
    pub fn item_vectors(&self, keys: &[i64], t: usize) -> Result<Vec<f32>> {
        let mut out = vec![0.0; keys.len() / (t + 1) * self.d];
        for (key, v) in keys.chunks_exact(t + 1).zip(out.chunks_exact_mut(self.d)) {
            self.pool_text(&key[..t], v)?;
            v.iter_mut().zip(row(&self.category, self.d, key[t])?).for_each(|(v, c)| *v += c);
        }
        Ok(out)
    }

    /// `Model::pool_tokens` of one text into `out` (`[d]`): the mean of its non-padding tokens'
    /// rows, zero for padding only.
    fn pool_text(&self, tokens: &[i64], out: &mut [f32]) -> Result<()> {
        out.fill(0.0);
        let mut count = 0;
        for &id in tokens.iter().filter(|&&id| id != 0) {
            out.iter_mut().zip(row(&self.tokens, self.d, id)?).for_each(|(o, v)| *o += v);
            count += 1;
        }
        let count = count.max(1) as f32;
        out.iter_mut().for_each(|o| *o /= count);
        Ok(())
    }

    /// `Model::score`: scores `[sessions, n]` of `candidates` (their item vectors, `[n, d]`)
    /// for each session; `events` holds each session's event item vectors (`[l, d]` each,
    /// concatenated).
    pub fn scores(&self, sessions: &[EncodedSession], events: &[f32], candidates: &[f32]) -> Result<Vec<f32>> {
        let d = self.d;
        let n = candidates.len() / d;
        let mut out = vec![0.0; sessions.len() * n];
        let mut offset = 0;
        for (s, row) in sessions.iter().zip(out.chunks_exact_mut(n.max(1))) {
            let len = s.event.len() * d;
            let items = events.get(offset..offset + len).ok_or_else(|| shape("event item vectors", events.len()))?;
            offset += len;
            let user = self.last_user(s, items)?;
            for (score, candidate) in row.iter_mut().zip(candidates.chunks_exact(d)) {
                *score = dot(&user, candidate);
            }
        }
        Ok(out)
    }

    /// `Model::last_user` of one session, `[d]`: `items` are its events' item vectors `[l, d]`.
    pub fn last_user(&self, s: &EncodedSession, items: &[f32]) -> Result<Vec<f32>> {
        let (d, l) = (self.d, s.event.len());
        let window = self.position.len() / d;
        if l == 0 || l > window || items.len() != l * d || s.dwell.len() != l {
            return Err(shape("session", l));
        }
        let mut x = vec![0.0; l * d];
        for (i, xi) in x.chunks_exact_mut(d).enumerate() {
            let pos = row(&self.position, d, (window - l + i) as i64)?;
            let (ev, dw) = (row(&self.event, d, s.event[i])?, row(&self.dwell, d, s.dwell[i])?);
            for (j, v) in xi.iter_mut().enumerate() {
                *v = items[i * d + j] + pos[j] + ev[j] + dw[j];
            }
        }
        let mut h = match self.blocks.split_last() {
            Some((last, rest)) => {
                for block in rest {
                    x = block.forward(&x, &s.event, 0, d, self.heads);
                }
                last.forward(&x, &s.event, l - 1, d, self.heads)
            }
            None => x.split_off((l - 1) * d),
        };
        // The context vector (`Model::embed_context`): the pooled query plus each field's row.
        let mut ctx = vec![0.0; d];
        self.pool_text(&s.query, &mut ctx)?;
        for (field, &id) in self.context.iter().zip(&s.context) {
            ctx.iter_mut().zip(row(field, d, id)?).for_each(|(c, v)| *c += v);
        }
        h.iter_mut().zip(&ctx).for_each(|(h, c)| *h += c);
        Ok(self.norm.forward(&h, d))
    }
}

/// One encoder block (`Block::forward_from`).
struct FusedBlock {
    norm1: Norm,
    qkv: Dense,
    out: Dense,
    norm2: Norm,
    ff1: Dense,
    ff2: Dense,
}

impl FusedBlock {
    fn new(b: Block, d: usize) -> Result<Self> {
        Ok(Self {
            norm1: Norm::new(b.norm1, d)?,
            qkv: Dense::new(b.qkv)?,
            out: Dense::new(b.out)?,
            norm2: Norm::new(b.norm2, d)?,
            ff1: Dense::new(b.ff1)?,
            ff2: Dense::new(b.ff2)?,
        })
    }

    /// `x`: `[l, d]`; returns the block's output for positions `from..l`, `[l - from, d]`.
    fn forward(&self, x: &[f32], event: &[i64], from: usize, d: usize, heads: usize) -> Vec<f32> {
        let l = x.len() / d;
        let rows = l - from;
        let n1 = self.norm1.forward(x, d);
        // Keys and values of every position, queries of `from..l` only (the last block: one).
        let mut qkv = self.qkv.b.repeat(l);
        self.qkv.accumulate(&n1, 0..from, d..3 * d, &mut qkv);
        self.qkv.accumulate(&n1, from..l, 0..3 * d, &mut qkv);
        let y = attention(&qkv, event, from, d, heads);
        let mut x: Vec<f32> = x[from * d..].to_vec();
        x.iter_mut().zip(self.out.forward(&y)).for_each(|(x, a)| *x += a);
        let mut f = self.ff1.forward(&self.norm2.forward(&x, d));
        f.iter_mut().for_each(|v| *v = gelu(*v));
        x.iter_mut().zip(self.ff2.forward(&f)).for_each(|(x, f)| *x += f);
        debug_assert_eq!(x.len(), rows * d);
        x
    }
}

/// Masked multi-head attention of the queries at positions `from..l` over every key, as
/// `Block::forward_from` computes it: `qkv` is `[l, 3d]` (queries, keys, values side by side);
/// returns `[l - from, d]` with the heads side by side. Queries go in strips of `STRIP`: a strip
/// ending at position `end` sees keys `..end` only (the mask is causal), so the products skip
/// the keys after it.
fn attention(qkv: &[f32], event: &[i64], from: usize, d: usize, heads: usize) -> Vec<f32> {
    const STRIP: usize = 8;
    let (l, dh) = (qkv.len() / (3 * d), d / heads);
    let rows = l - from;
    let scale = (dh as f32).sqrt();
    let mut y = vec![0.0; rows * d];
    let mut att = vec![0.0; rows * l];
    let mut keys_t = vec![0.0; dh * l];
    for h in 0..heads {
        // This head's keys as columns, `[dh, l]`, so that both products read rows.
        for (key, k) in qkv.chunks_exact(3 * d).enumerate() {
            for (c, &v) in k[d + h * dh..][..dh].iter().enumerate() {
                keys_t[c * l + key] = v;
            }
        }
        for start in (from..l).step_by(STRIP) {
            let end = (start + STRIP).min(l);
            let (q, att) = (Rows::new(&qkv[start * 3 * d + h * dh..], 3 * d), &mut att[(start - from) * l..]);
            matmul(end - start, end, dh, q, Rows::new(&keys_t, l), att, l, false);
            for (r, scores) in att.chunks_exact_mut(l).take(end - start).enumerate() {
                masked_softmax(scores, start + r, event, scale);
            }
            let v = Rows::new(&qkv[2 * d + h * dh..], 3 * d);
            matmul(end - start, dh, end, Rows::new(att, l), v, &mut y[(start - from) * d + h * dh..], d, false);
        }
    }
    y
}

/// Softmax of `scores / scale` over the keys that `query` may attend to (`model::attention_mask`:
/// itself, and earlier positions that are not padding); the others get exactly 0, as `exp` of
/// the -1e9 that burn's path fills them with does. Branch-free loops, so that they vectorise.
fn masked_softmax(scores: &mut [f32], query: usize, event: &[i64], scale: f32) {
    let (seen, future) = scores.split_at_mut(query + 1);
    future.fill(0.0);
    let keep = |key: usize| key == query || event[key] != 0;
    let mut max = f32::NEG_INFINITY;
    for (key, s) in seen.iter_mut().enumerate() {
        *s /= scale;
        // A comparison, not `f32::max`: wasm's `f32.max` differs on NaN, so that is a libm call.
        let v = if keep(key) { *s } else { f32::NEG_INFINITY };
        max = if v > max { v } else { max };
    }
    for (key, s) in seen.iter_mut().enumerate() {
        *s = if keep(key) { exp(*s - max) } else { 0.0 };
    }
    let inv = 1.0 / sum(seen);
    seen.iter_mut().for_each(|s| *s *= inv);
}

/// GELU, `0.5 x (1 + erf(x / sqrt 2))` as burn computes it, with `erf` below.
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x / core::f32::consts::SQRT_2))
}

/// erf as a rational function of `x` clamped to [-4, 4] (beyond, erf is +-1 in f32): Eigen's
/// `generic_fast_erf_float`. Within 5e-7 of libm's `erff`, which burn calls per element and
/// which was a fifth of a rerank; this one vectorises.
fn erf(x: f32) -> f32 {
    const P: [f32; 7] = [
        -2.726_142_3e-10, 2.770_681_4e-8, -2.101_024e-6, -5.692_506_4e-5, -7.349_906e-4, -2.954_600_1e-3, -1.609_603_3e-2,
    ];
    const Q: [f32; 5] = [-1.456_607_2e-5, -2.133_740_6e-4, -1.682_827e-3, -7.373_329e-3, -1.426_474e-2];
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = P[1..].iter().fold(P[0], |acc, &c| acc * x2 + c) * x;
    let q = Q[1..].iter().fold(Q[0], |acc, &c| acc * x2 + c);
    p / q
}

/// e^x for x <= 0 (Cephes' `expf`: range reduction to [-ln2/2, ln2/2], a degree-6 polynomial,
/// the exponent written into the bits): within 2 ulp of libm's, and it vectorises.
fn exp(x: f32) -> f32 {
    let x = if x > -87.0 { x } else { -87.0 };
    let n = (x * core::f32::consts::LOG2_E + 0.5).floor();
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    const C: [f32; 6] = [1.987_569_1e-4, 1.398_2e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5];
    let poly = C[1..].iter().fold(C[0], |acc, &c| acc * r + c);
    let y = poly * r * r + r + 1.0;
    y * f32::from_bits(((n as i32 + 127) << 23) as u32)
}

/// A linear layer: `y = x W + b`, `W` as burn stores it, `[in, out]`.
struct Dense {
    w: Vec<f32>,
    b: Vec<f32>,
    inputs: usize,
}

impl Dense {
    fn new(linear: Linear) -> Result<Self> {
        let [inputs, outputs] = linear.weight.dims();
        let b = match linear.bias {
            Some(b) => floats(b.into_value())?,
            None => vec![0.0; outputs],
        };
        Ok(Self { w: floats(linear.weight.into_value())?, b, inputs })
    }

    /// `x`: `[rows, in]` -> `[rows, out]`.
    fn forward(&self, x: &[f32]) -> Vec<f32> {
        let m = x.len() / self.inputs;
        let mut y = self.b.repeat(m);
        self.accumulate(x, 0..m, 0..self.b.len(), &mut y);
        y
    }

    /// `y[rows, cols] += x[rows, :] W[:, cols]`, where `x` and `y` hold whole rows (`[m, in]`,
    /// `[m, out]`).
    fn accumulate(&self, x: &[f32], rows: Range<usize>, cols: Range<usize>, y: &mut [f32]) {
        let (k, n) = (self.inputs, self.b.len());
        if rows.is_empty() {
            return;
        }
        let (lhs, rhs) = (Rows::new(&x[rows.start * k..], k), Rows::new(&self.w[cols.start..], n));
        matmul(rows.len(), cols.len(), k, lhs, rhs, &mut y[rows.start * n + cols.start..], n, true);
    }
}

/// Layer normalisation over the last dimension, as burn's flex backend computes it: the mean,
/// the centred (biased) variance, then `(x - mean) * (gamma / sqrt(var + eps)) + beta`.
struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
}

impl Norm {
    fn new(norm: LayerNorm, d: usize) -> Result<Self> {
        let beta = match norm.beta {
            Some(b) => floats(b.into_value())?,
            None => vec![0.0; d],
        };
        // `Block` and `Model` build their norms with the config's default epsilon.
        let eps = LayerNormConfig::new(d).epsilon as f32;
        Ok(Self { gamma: floats(norm.gamma.into_value())?, beta, eps })
    }

    fn forward(&self, x: &[f32], d: usize) -> Vec<f32> {
        let mut out = vec![0.0; x.len()];
        let n = d as f32;
        for (xr, or) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            let mean = sum(xr) / n;
            or.iter_mut().zip(xr).for_each(|(o, v)| *o = v - mean);
            let inv_std = 1.0 / (dot(or, or) / n + self.eps).sqrt();
            for ((o, &g), &b) in or.iter_mut().zip(&self.gamma).zip(&self.beta) {
                *o = *o * (inv_std * g) + b;
            }
        }
        out
    }
}

/// Row `id` of a `[rows, d]` table.
fn row(table: &[f32], d: usize, id: i64) -> Result<&[f32]> {
    usize::try_from(id)
        .ok()
        .and_then(|i| table.get(i * d..(i + 1) * d))
        .ok_or_else(|| Error::backend(format!("index {id} is outside an embedding table of {} rows", table.len() / d)))
}

/// The shapes of the model's parameters in the burn module's visit order (fields in declaration
/// order; Linear: weight `[in, out]`, bias; LayerNorm: gamma, beta). A test checks it against
/// burn's own visit of `ModelConfig::init`: burn's order is the definition.
pub fn param_shapes(config: &ModelConfig) -> Vec<Vec<usize>> {
    let d = config.d_model;
    let mut out = vec![
        vec![config.text_buckets, d],
        vec![config.categories, d],
        vec![config.max_session, d],
        vec![EVENT_KINDS, d],
        vec![DWELL_BUCKETS, d],
    ];
    out.extend(
        CONTEXT_SIZES
            .iter()
            .map(|&n| vec![if n == 0 { config.categories } else { n }, d]),
    );
    let linear = |i: usize, o: usize| [vec![i, o], vec![o]];
    for _ in 0..config.layers {
        out.extend([vec![d], vec![d]]);
        out.extend(linear(d, 3 * d));
        out.extend(linear(d, d));
        out.extend([vec![d], vec![d]]);
        out.extend(linear(d, 2 * d));
        out.extend(linear(2 * d, d));
    }
    out.extend([vec![d], vec![d]]);
    out
}

/// `shapes` (a weights file's tensors, in order) against `param_shapes(config)`: the count, then
/// each shape, named by its 1-based index.
pub fn check_param_shapes<'a>(config: &ModelConfig, shapes: impl ExactSizeIterator<Item = &'a [usize]>) -> Result<()> {
    let expected = param_shapes(config);
    match shapes.len().cmp(&expected.len()) {
        std::cmp::Ordering::Less => return Err(Error::model("q8 weights hold fewer tensors than the architecture has")),
        std::cmp::Ordering::Greater => return Err(Error::model("q8 weights hold more tensors than the architecture has")),
        std::cmp::Ordering::Equal => {}
    }
    for (index, (shape, want)) in shapes.zip(&expected).enumerate() {
        if shape != want.as_slice() {
            return Err(Error::model(format!(
                "q8 tensor {} has shape {shape:?}, the architecture expects {want:?}",
                index + 1
            )));
        }
    }
    Ok(())
}

fn table(e: Embedding) -> Result<Vec<f32>> {
    floats(e.weight.into_value())
}

fn floats<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().map_err(|e| Error::model(format!("weights are not f32: {e:?}")))
}

fn shape(what: &str, len: usize) -> Error {
    Error::backend(format!("fused encoder: {what} of unexpected length {len}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::{Module, ModuleVisitor, Param};

    struct Shapes(Vec<Vec<usize>>);

    impl ModuleVisitor for Shapes {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.lazy_shape().dims::<D>().to_vec());
        }
    }

    /// burn's visit of the architecture is the definition of the parameters' order and shapes.
    #[test]
    fn param_shapes_are_burns_visit_order() {
        for config in [
            ModelConfig::new(20),
            ModelConfig {
                layers: 3,
                d_model: 8,
                heads: 2,
                ..ModelConfig::new(5)
            },
        ] {
            let mut seen = Shapes(Vec::new());
            config.init(&crate::runtime::cpu_device()).visit(&mut seen);
            assert_eq!(param_shapes(&config), seen.0);
        }
    }

    fn shipped() -> (crate::manifest::Manifest, Vec<u8>) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let manifest =
            crate::manifest::Manifest::parse(&std::fs::read(dir.join("manifest.json")).unwrap())
                .unwrap();
        let weights = std::fs::read(dir.join(&manifest.file("weights").unwrap().path)).unwrap();
        (manifest, weights)
    }

    /// The shipped model read straight into the encoder holds the very values the burn model does.
    #[test]
    fn from_params_equals_new_on_the_shipped_model() {
        let (manifest, weights) = shipped();
        let via_burn = FusedEncoder::new(
            crate::ranker::load_model(&manifest, &weights, &crate::runtime::cpu_device()).unwrap(),
        )
        .unwrap();
        let direct = crate::ranker::load_fused(&manifest, &weights).unwrap();
        assert_eq!(flat(&via_burn), flat(&direct));
        assert_eq!((via_burn.d, via_burn.heads), (direct.d, direct.heads));
    }

    /// Every number an encoder holds, in one order.
    fn flat(e: &FusedEncoder) -> Vec<Vec<f32>> {
        let norm = |n: &Norm| [n.gamma.clone(), n.beta.clone(), vec![n.eps]];
        let dense = |x: &Dense| [x.w.clone(), x.b.clone(), vec![x.inputs as f32]];
        let mut out = vec![
            e.tokens.clone(),
            e.category.clone(),
            e.position.clone(),
            e.event.clone(),
            e.dwell.clone(),
        ];
        out.extend(e.context.iter().cloned());
        for b in &e.blocks {
            out.extend(norm(&b.norm1));
            out.extend(dense(&b.qkv));
            out.extend(dense(&b.out));
            out.extend(norm(&b.norm2));
            out.extend(dense(&b.ff1));
            out.extend(dense(&b.ff2));
        }
        out.extend(norm(&e.norm));
        out
    }

    #[test]
    fn from_params_names_a_wrong_shape_and_count() {
        let config = ModelConfig::new(3);
        let mut params: Vec<(Vec<usize>, Vec<f32>)> = param_shapes(&config)
            .into_iter()
            .map(|s| {
                let n = s.iter().product();
                (s, vec![0.0; n])
            })
            .collect();
        params[3].0 = vec![1, 1];
        let err = FusedEncoder::from_params(&config, params.clone())
            .err()
            .expect("a wrong shape fails")
            .to_string();
        assert!(err.contains("q8 tensor 4 has shape [1, 1]"), "{err}");
        params.pop();
        let err = FusedEncoder::from_params(&config, params)
            .err()
            .expect("a missing tensor fails")
            .to_string();
        assert!(err.contains("the architecture has"), "{err}");
    }


    #[test]
    fn erf_is_within_5e7_of_libm() {
        let xs = (0..=120_000).map(|i| -6.0 + 12.0 * i as f32 / 120_000.0);
        let err = xs.map(|x| (erf(x) - libm::erff(x)).abs()).fold(0.0, f32::max);
        assert!(err < 5e-7, "erf is {err} away from libm's");
    }

    #[test]
    fn exp_of_non_positive_numbers_is_within_2_ulp_of_libm() {
        for x in (0..=100_000).map(|i| -87.0 * i as f32 / 100_000.0) {
            let (got, want) = (exp(x), libm::expf(x));
            assert!((got - want).abs() <= 2.0 * f32::EPSILON * want, "exp({x}) = {got}, libm: {want}");
        }
    }
}
