//! 8-bit weights for shipping: every float parameter is stored as int8 with one f32 scale per
//! block of 32 consecutive values (symmetric, max-abs). Loading dequantises to f32 on the target
//! device, so the CPU and WebGPU backends compute with the very same weights (and the golden
//! scores hold on both) while the file is ~3.6x smaller than f32.
//!
//! File layout, version 3 (little endian): `b"LRQ8"`, u32 version = 3, the 32-byte sha256 of the
//! config the weights were exported with (`config_digest`), u32 tensor count, then per tensor in
//! the module's visiting order: u32 rank, u32 dims[rank], u8 bits (8 or 4), then
//!  - 8 bits: f32 scales[ceil(n / 32)], i8 values[n] (-127..=127);
//!  - 4 bits: f32 scales[ceil(n / 64)], values[n] packed two per byte (low nibble first), each
//!    nibble the value (-7..=7) plus 8;
//!  - 1 (row-coded, a rank-2 table [rows, width]): u32 k, u32 parts, a bitmap of the exact rows
//!    (ceil(rows / 8) bytes, low bit first), the exact rows as 4 bits, u8 codes[parts] per other
//!    row, then the codebooks [parts * k, width / parts] as 8 bits (`Coded`).
//! Version 2 is version 3 without the bits byte (every tensor 8-bit); both load.
//!
//! Why 4 bits, and only for the token table (`code_table`, the compact model): the 30,523 x 64 int8 token table
//! was 1.95 of the shipped model's 2.28 MB and int8 data does not compress (gzip: 2.19 MB), while
//! a product's text vector is the mean of its token rows, which averages the rounding out. The
//! other tensors (~90 KB) stay 8-bit. Blocks of 64 are one token row of the shipped width.
//!
//! Why the digest: the tensor shapes show d_model, text_buckets, categories, max_session and
//! layers, but not heads, max_tokens, dropout or the order of the category names, and a manifest
//! that changes one of those still loads and scores silently wrong. The manifest lists the
//! weights' sha256, so the weights bind the config and the manifest binds the weights.
//! Version 1 (no digest) is read only by `bind`, to migrate a file; `load` refuses it.

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::{Model, ModelConfig};

const MAGIC: &[u8; 4] = b"LRQ8";
const VERSION: u32 = 3;
/// Version 2: every tensor 8-bit, no bits byte (still read).
const VERSION_8BIT: u32 = 2;
/// Files of version 1 carry no config digest (`bind` migrates them).
const VERSION_UNBOUND: u32 = 1;
/// Values per scale of an 8-bit tensor.
pub const BLOCK: usize = 32;
/// Values per scale of a 4-bit tensor.
pub const BLOCK4: usize = 64;
/// The largest magnitude of a 4-bit value (symmetric: 15 levels).
const MAX4: f32 = 7.0;
/// Clipping ratios tried for each 4-bit block: the scale kept is the one with the least squared
/// error. Clipping the largest value of a row a little rounds the rest more finely
/// (`four_bit_blocks_round_trip_within_half_a_step_or_the_clip`: less error than max-abs on
/// blocks with an outlier; never more, since max-abs is among the ratios).
const CLIPS4: [f32; 8] = [1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65];
/// Rank of the largest tensor of the architecture is 2; 8 leaves room without trusting the file.
const MAX_RANK: usize = 8;
/// Tensors of the largest architecture `ModelConfig::validate` accepts: 11 embeddings, 12 per
/// block (16 at most), 2 in the final norm = 205. Bounds the per-tensor bookkeeping a header
/// can ask for.
const MAX_TENSORS: usize = 1024;
/// The digest `quantize` writes before `bind` sets the real one: it matches no config.
const UNBOUND: [u8; 32] = [0; 32];

/// What the digest covers: the config and the category names, serialised by serde_json in
/// declaration order (a struct, not a JSON map, so no map-ordering feature can change it).
#[derive(Serialize)]
struct Bound<'a> {
    config: &'a ModelConfig,
    categories: &'a [String],
}

/// The sha256 of the canonical JSON of `config` and `categories`, as the LRQ8 v2 header holds it.
pub fn config_digest(config: &ModelConfig, categories: &[String]) -> [u8; 32] {
    // Serialising plain integers, a float and strings into a Vec cannot fail.
    let json = serde_json::to_vec(&Bound { config, categories }).unwrap_or_default();
    Sha256::digest(json).into()
}

/// One quantised tensor: `values` are 8-bit (-127..=127, blocks of `BLOCK`) or 4-bit (-7..=7,
/// blocks of `BLOCK4`), one byte each in memory whatever `bits` says; or (`bits` = `CODED`) a
/// row-coded table, whose values are in `coded`.
#[derive(Clone, Debug, PartialEq)]
struct QTensor {
    shape: Vec<usize>,
    bits: u8,
    scales: Vec<f32>,
    values: Vec<i8>,
    coded: Option<Box<Coded>>,
}

/// The bits byte of a row-coded table (version 3): some rows kept exactly (4-bit), every other
/// row `parts` bytes, product quantisation: the row cut into `parts` equal pieces, each piece the
/// index of its nearest centroid in that piece's 8-bit codebook.
const CODED: u8 = 1;
/// At most this many pieces per coded row.
pub const MAX_PARTS: usize = 16;

/// A row-coded table [rows, width]: `exact[r]` says whether row r is in `rows` (4-bit, in row
/// order) or is coded: the i-th row not kept exactly is, piece j (`width / parts` values), row
/// `codes[i * parts + j]` of piece j's codebook, the rows `j * k..(j + 1) * k` of `codebook`
/// ([parts * k, width / parts]).
#[derive(Clone, Debug, PartialEq)]
struct Coded {
    exact: Vec<bool>,
    rows: QTensor,
    parts: usize,
    codes: Vec<u8>,
    codebook: QTensor,
}

impl QTensor {
    fn plain(shape: Vec<usize>, bits: u8, scales: Vec<f32>, values: Vec<i8>) -> Self {
        Self { shape, bits, scales, values, coded: None }
    }

    fn block(&self) -> usize {
        if self.bits == 4 { BLOCK4 } else { BLOCK }
    }

    /// 4-bit: each block's scale is the clipped max-abs with the least squared error.
    fn quantize4(shape: Vec<usize>, data: &[f32]) -> Self {
        let mut scales = Vec::with_capacity(data.len().div_ceil(BLOCK4));
        let mut values = Vec::with_capacity(data.len());
        for block in data.chunks(BLOCK4) {
            let max = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let scale = if max > 0.0 { best_scale4(block, max) } else { 1.0 };
            scales.push(scale);
            values.extend(block.iter().map(|v| (v / scale).round().clamp(-MAX4, MAX4) as i8));
        }
        Self::plain(shape, 4, scales, values)
    }

    fn quantize(shape: Vec<usize>, data: &[f32]) -> Self {
        let mut scales = Vec::with_capacity(data.len().div_ceil(BLOCK));
        let mut values = Vec::with_capacity(data.len());
        for block in data.chunks(BLOCK) {
            let max = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
            scales.push(scale);
            values.extend(block.iter().map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8));
        }
        Self::plain(shape, 8, scales, values)
    }

    fn dequantize(&self) -> Vec<f32> {
        if let Some(c) = &self.coded {
            return c.dequantize(self.shape[1]);
        }
        // Sized up front: collecting a flat_map grew the vector step by step, which was ~10% of
        // `LocalRanker.create` in wasm.
        let mut out = Vec::with_capacity(self.values.len());
        for (block, &s) in self.values.chunks(self.block()).zip(&self.scales) {
            out.extend(block.iter().map(|&q| q as f32 * s));
        }
        out
    }
}

impl Coded {
    fn dequantize(&self, width: usize) -> Vec<f32> {
        let (rows, book) = (self.rows.dequantize(), self.codebook.dequantize());
        let (piece, k) = (width / self.parts, self.codebook.shape[0] / self.parts);
        let mut out = Vec::with_capacity(self.exact.len() * width);
        let (mut kept, mut coded) = (rows.chunks(width), self.codes.chunks(self.parts));
        // `decode` checked that the counts and codes match the table.
        for &exact in &self.exact {
            if exact {
                out.extend_from_slice(kept.next().unwrap_or(&[]));
                continue;
            }
            for (j, &c) in coded.next().unwrap_or(&[]).iter().enumerate() {
                let at = (j * k + c as usize) * piece;
                out.extend_from_slice(&book[at..at + piece]);
            }
        }
        out
    }
}

/// The 4-bit scale of `block` (largest magnitude `max`) among the clipping ratios `CLIPS4`.
fn best_scale4(block: &[f32], max: f32) -> f32 {
    let error = |scale: f32| -> f32 {
        block.iter().map(|v| (v - (v / scale).round().clamp(-MAX4, MAX4) * scale).powi(2)).sum()
    };
    CLIPS4
        .iter()
        .map(|r| max * r / MAX4)
        .fold((f32::INFINITY, max / MAX4), |(best, at), s| match error(s) {
            e if e < best => (e, s),
            _ => (best, at),
        })
        .1
}

/// Quantises every float parameter of `model`: returns the file bytes and the model with the
/// dequantised weights it will run with. The file is bound to no config yet: `bind` it to the
/// manifest's config and categories before shipping (`load` refuses it until then).
pub fn quantize(model: Model) -> (Vec<u8>, Model) {
    let mut q = Quantize { tensors: Vec::new() };
    let model = model.map(&mut q);
    (encode(&UNBOUND, &q.tensors), model)
}

/// `bytes` (an LRQ8 file of version 1 or 2) rewritten as version 2 bound to `config` and
/// `categories`; the tensors are copied bit for bit.
pub fn bind(bytes: &[u8], config: &ModelConfig, categories: &[String]) -> Result<Vec<u8>> {
    config.validate()?;
    check_round_trip(config)?;
    let (_, tensors) = decode(bytes)?;
    Ok(encode(&config_digest(config, categories), &tensors))
}

/// `bytes` with its token table (shape `table`) replaced by a row-coded one of the same shape:
/// the rows of `data` (the new table, row-major) where `exact` is set, kept with 4 bits, and every
/// other row as `parts` codes (`codes`: `parts` per such row, in order) into `codebook` (`parts`
/// codebooks of k rows of `width / parts`, one after the other, stored 8-bit), not yet bound
/// (`bind` it). `localrank-train compact` (docs/size.md).
pub fn code_table(bytes: &[u8], table: [usize; 2], data: &[f32], exact: &[bool], parts: usize, codes: &[u8], codebook: &[f32]) -> Result<Vec<u8>> {
    let (_, mut tensors) = decode(bytes)?;
    let at = find_table(&tensors, table)?;
    let [rows, width] = table;
    if !(1..=MAX_PARTS).contains(&parts) || width % parts != 0 {
        return Err(Error::model(format!("compact: {parts} pieces of a row of {width} (1..={MAX_PARTS}, dividing the width)")));
    }
    let k = codebook.len() / width;
    let kept = exact.iter().filter(|&&e| e).count();
    if data.len() != rows * width || exact.len() != rows || codes.len() != (rows - kept) * parts || !(1..=256).contains(&k) || codebook.len() != k * width {
        return Err(Error::model(format!("compact: a coded {table:?} table needs {rows} exact flags, {} codes and whole codebook rows", rows.saturating_sub(kept) * parts)));
    }
    if let Some(c) = codes.iter().find(|&&c| c as usize >= k) {
        return Err(Error::model(format!("compact: code {c} of a {k}-row codebook")));
    }
    let exact_rows: Vec<f32> = data.chunks(width).zip(exact).filter(|(_, e)| **e).flat_map(|(r, _)| r.iter().copied()).collect();
    let kept_rows = if kept > 0 { QTensor::quantize4(vec![kept, width], &exact_rows) } else { QTensor::plain(vec![0, width], 4, Vec::new(), Vec::new()) };
    let codebook = QTensor::quantize(vec![parts * k, width / parts], codebook);
    let coded = Coded { exact: exact.to_vec(), rows: kept_rows, parts, codes: codes.to_vec(), codebook };
    tensors[at] = QTensor { shape: table.to_vec(), bits: CODED, scales: Vec::new(), values: Vec::new(), coded: Some(Box::new(coded)) };
    Ok(encode(&UNBOUND, &tensors))
}

/// The values of the token table (the one tensor of shape `table`) of an LRQ8 file, as f32.
pub fn token_table(bytes: &[u8], table: [usize; 2]) -> Result<Vec<f32>> {
    let (_, tensors) = decode(bytes)?;
    Ok(tensors[find_table(&tensors, table)?].dequantize())
}

/// The index of the one tensor of shape `table`.
fn find_table(tensors: &[QTensor], table: [usize; 2]) -> Result<usize> {
    let found: Vec<usize> = (0..tensors.len()).filter(|&i| tensors[i].shape == table).collect();
    match found[..] {
        [at] => Ok(at),
        _ => Err(Error::model(format!("compact: {} tensors have the token table's shape {table:?}, expected one", found.len()))),
    }
}

/// The digest is computed at export from the config in memory and at load from the config parsed
/// back out of manifest.json, so the two must be the same values: serde_json's default float
/// parsing is not exact for every decimal it writes (e.g. 17-digit dropouts).
fn check_round_trip(config: &ModelConfig) -> Result<()> {
    let json = serde_json::to_vec(config).map_err(|e| Error::model(format!("config does not serialise: {e}")))?;
    let back: ModelConfig = serde_json::from_slice(&json)
        .map_err(|e| Error::model(format!("config does not parse back from its JSON: {e}")))?;
    if serde_json::to_vec(&back).ok().as_deref() != Some(json.as_slice()) {
        return Err(Error::model(format!(
            "config.dropout {:?} does not survive a round trip through JSON: choose a shorter decimal",
            config.dropout
        )));
    }
    Ok(())
}

/// Builds `config`'s model on `device` with the weights of an `LRQ8` v2 file exported for
/// `config` and `categories` (the manifest's).
pub fn load(config: &ModelConfig, categories: &[String], bytes: &[u8], device: &Device) -> Result<Model> {
    let tensors = bound_tensors(config, categories, bytes)?;
    let mut load = Load { tensors: tensors.into_iter(), device: device.clone(), error: None, index: 0 };
    let model = config.init(device).map(&mut load);
    if let Some(e) = load.error {
        return Err(e);
    }
    if load.tensors.next().is_some() {
        return Err(Error::model("q8 weights hold more tensors than the architecture has"));
    }
    Ok(model)
}

/// The tensors of an LRQ8 file bound to `config` and `categories`, in the burn module's visit order.
fn bound_tensors(config: &ModelConfig, categories: &[String], bytes: &[u8]) -> Result<Vec<QTensor>> {
    // Also checked by `Manifest::parse`; again here because a `Manifest` can be built in code.
    config.validate()?;
    let (digest, tensors) = decode(bytes)?;
    let digest = digest.ok_or_else(|| {
        Error::model(format!(
            "weights are LRQ8 version {VERSION_UNBOUND}, which does not bind the model config: this build reads version {VERSION_8BIT} or version {VERSION} (re-export with localrank-train, or migrate with quant::bind)"
        ))
    })?;
    check_digest(&digest, config, categories)?;
    Ok(tensors)
}

/// `load` without burn: each parameter's shape and values, in the burn module's visit order,
/// for `FusedEncoder::from_params` (the CPU path then links no burn tensor code). Every shape is
/// checked against the architecture before any tensor is dequantised, as `load` does: a
/// row-coded table's full size is only bounded once its shape is the config's.
pub fn load_params(config: &ModelConfig, categories: &[String], bytes: &[u8]) -> Result<Vec<(Vec<usize>, Vec<f32>)>> {
    let tensors = bound_tensors(config, categories, bytes)?;
    crate::model::check_param_shapes(config, tensors.iter().map(|q| q.shape.as_slice()))?;
    Ok(tensors
        .into_iter()
        .map(|q| {
            let values = q.dequantize();
            (q.shape, values)
        })
        .collect())
}

fn check_digest(digest: &[u8; 32], config: &ModelConfig, categories: &[String]) -> Result<()> {
    if *digest == UNBOUND {
        return Err(Error::model(
            "weights were never bound to a config (quant::quantize output without quant::bind): export them with localrank-train",
        ));
    }
    if *digest != config_digest(config, categories) {
        return Err(Error::model(
            "config in manifest.json does not match the one the weights were exported with (config or category names edited, or weights of another model)",
        ));
    }
    Ok(())
}

struct Quantize {
    tensors: Vec<QTensor>,
}

impl ModuleMapper for Quantize {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| {
            let device = t.device();
            let shape = t.dims().to_vec();
            let data: Vec<f32> = t.into_data().convert::<f32>().try_to_vec().expect("f32 parameter");
            let q = QTensor::quantize(shape.clone(), &data);
            let deq = q.dequantize();
            self.tensors.push(q);
            Tensor::from_data(TensorData::new(deq, shape), &device)
        })
    }
}

struct Load {
    tensors: std::vec::IntoIter<QTensor>,
    device: Device,
    error: Option<Error>,
    index: usize,
}

impl ModuleMapper for Load {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        self.index += 1;
        if self.error.is_some() {
            return param;
        }
        // `lazy_shape` and `Param::initialized` leave the architecture's random initialiser
        // unrun: every value is about to be replaced (it was ~13% of a cold start in wasm).
        let expected: Vec<usize> = param.lazy_shape().dims::<D>().to_vec();
        let Some(q) = self.tensors.next() else {
            self.error = Some(Error::model("q8 weights hold fewer tensors than the architecture has"));
            return param;
        };
        if q.shape != expected {
            self.error = Some(Error::model(format!(
                "q8 tensor {} has shape {:?}, the architecture expects {expected:?}",
                self.index, q.shape
            )));
            return param;
        }
        let tensor = Tensor::from_data(TensorData::new(q.dequantize(), expected), &self.device);
        Param::initialized(param.id, tensor)
    }
}

fn encode(digest: &[u8; 32], tensors: &[QTensor]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    let u32s = |out: &mut Vec<u8>, v: usize| out.extend_from_slice(&(v as u32).to_le_bytes());
    u32s(&mut out, VERSION as usize);
    out.extend_from_slice(digest);
    u32s(&mut out, tensors.len());
    for t in tensors {
        u32s(&mut out, t.shape.len());
        for &d in &t.shape {
            u32s(&mut out, d);
        }
        out.push(t.bits);
        match &t.coded {
            Some(c) => encode_coded(&mut out, c),
            None => encode_plain(&mut out, t),
        }
    }
    out
}

fn encode_plain(out: &mut Vec<u8>, t: &QTensor) {
    out.extend(t.scales.iter().flat_map(|s| s.to_le_bytes()));
    match t.bits {
        4 => out.extend(t.values.chunks(2).map(|p| nibble(p[0]) | nibble(p.get(1).copied().unwrap_or(0)) << 4)),
        _ => out.extend(t.values.iter().map(|&v| v as u8)),
    }
}

fn encode_coded(out: &mut Vec<u8>, c: &Coded) {
    out.extend_from_slice(&((c.codebook.shape[0] / c.parts) as u32).to_le_bytes());
    out.extend_from_slice(&(c.parts as u32).to_le_bytes());
    let mut bitmap = vec![0u8; c.exact.len().div_ceil(8)];
    c.exact.iter().enumerate().filter(|(_, e)| **e).for_each(|(i, _)| bitmap[i / 8] |= 1 << (i % 8));
    out.extend_from_slice(&bitmap);
    encode_plain(out, &c.rows);
    out.extend_from_slice(&c.codes);
    encode_plain(out, &c.codebook);
}

/// A 4-bit value (-7..=7) as its stored nibble (1..=15).
fn nibble(v: i8) -> u8 {
    (v + 8) as u8
}

/// Reads an `LRQ8` file of version 1, 2 or 3: the config digest (`None` for version 1) and the
/// tensors. Every length is checked before it is trusted, and every allocation is bounded by the
/// bytes that remain.
fn decode(bytes: &[u8]) -> Result<(Option<[u8; 32]>, Vec<QTensor>)> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(4)? != MAGIC {
        return Err(Error::model("weights are not an LRQ8 file (bad magic bytes)"));
    }
    let version = r.u32()?;
    let digest = match version {
        v if v == VERSION as usize || v == VERSION_8BIT as usize => Some(r.take(32)?.try_into().map_err(|_| r.truncated(32))?),
        v if v == VERSION_UNBOUND as usize => None,
        v => return Err(Error::model(format!("weights are LRQ8 version {v}, this build reads versions 1 to {VERSION}"))),
    };
    let with_bits = version == VERSION as usize;
    let count = r.u32()?;
    // A tensor takes at least 13 bytes (rank, one dim, one scale, one value).
    if count > MAX_TENSORS.min(r.remaining() / 13) {
        return Err(Error::model(format!(
            "LRQ8 header claims {count} tensors: at most {MAX_TENSORS}, and the {} bytes that follow hold at most {}",
            r.remaining(),
            r.remaining() / 13
        )));
    }
    let tensors = (0..count).map(|i| tensor(&mut r, i, with_bits)).collect::<Result<Vec<_>>>()?;
    if r.at != bytes.len() {
        return Err(Error::model(format!("LRQ8 file has {} trailing bytes after its {count} tensors", r.remaining())));
    }
    Ok((digest, tensors))
}

/// Tensor `index` at the reader's position (`with_bits`: version 3's bits byte follows the dims).
fn tensor(r: &mut Reader, index: usize, with_bits: bool) -> Result<QTensor> {
    let rank = r.u32()?;
    if rank == 0 || rank > MAX_RANK {
        return Err(Error::model(format!("LRQ8 tensor {index} has rank {rank}, expected 1..={MAX_RANK}")));
    }
    let shape = (0..rank).map(|_| r.u32()).collect::<Result<Vec<_>>>()?;
    let too_large = || Error::model(format!("LRQ8 tensor {index} of shape {shape:?} is larger than the rest of the file"));
    let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(too_large)?;
    if n == 0 {
        return Err(Error::model(format!("LRQ8 tensor {index} of shape {shape:?} is empty")));
    }
    let bits = if with_bits { r.take(1)?[0] } else { 8 };
    if bits == CODED {
        return coded(r, index, shape);
    }
    // 4-bit values take half a byte: at most twice the bytes that remain (`take` checks exactly).
    if n > r.remaining().saturating_mul(2) {
        return Err(too_large());
    }
    let (scales, values) = plain(r, index, bits, n)?;
    Ok(QTensor::plain(shape, bits, scales, values))
}

/// The scales and values of `n` values with `bits` (8 or 4) at the reader's position.
fn plain(r: &mut Reader, index: usize, bits: u8, n: usize) -> Result<(Vec<f32>, Vec<i8>)> {
    let block = match bits {
        8 => BLOCK,
        4 => BLOCK4,
        b => return Err(Error::model(format!("LRQ8 tensor {index} has {b} bits per value, expected 8, 4 or {CODED} (row-coded)"))),
    };
    let scales: Vec<f32> = r.take(n.div_ceil(block) * 4)?.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    if let Some(s) = scales.iter().find(|s| !s.is_finite()) {
        return Err(Error::model(format!("LRQ8 tensor {index} has a scale of {s}")));
    }
    let values = match bits {
        4 => unpack4(r.take(n.div_ceil(2))?, n, index)?,
        _ => r.take(n)?.iter().map(|&b| b as i8).collect(),
    };
    Ok((scales, values))
}

/// A row-coded table at the reader's position: u32 k, u32 parts, the exact-row bitmap, the exact
/// rows (4-bit), `parts` codes per other row, the codebooks ([parts * k, width / parts], 8-bit).
/// Only what the file holds is allocated here; the full table is built by `dequantize`, after
/// `load` has checked the shape against the architecture.
fn coded(r: &mut Reader, index: usize, shape: Vec<usize>) -> Result<QTensor> {
    let bad = |what: String| Error::model(format!("LRQ8 tensor {index} (row-coded {shape:?}): {what}"));
    let [rows, width] = shape[..] else { return Err(bad("a row-coded table has rank 2".into())) };
    let (k, parts) = (r.u32()?, r.u32()?);
    if !(1..=256).contains(&k) || k.saturating_mul(width) > r.remaining() || rows > r.remaining().saturating_mul(8) {
        return Err(bad(format!("{k} centroids of width {width} for {rows} rows do not fit the {} bytes left", r.remaining())));
    }
    if !(1..=MAX_PARTS).contains(&parts) || width % parts != 0 {
        return Err(bad(format!("{parts} pieces per row: expected 1..={MAX_PARTS}, dividing the width {width}")));
    }
    let bitmap = r.take(rows.div_ceil(8))?;
    let exact: Vec<bool> = (0..rows).map(|i| bitmap[i / 8] >> (i % 8) & 1 == 1).collect();
    if rows % 8 != 0 && bitmap[rows / 8] >> (rows % 8) != 0 {
        return Err(bad("bits set past the last row".into()));
    }
    let kept = exact.iter().filter(|&&e| e).count();
    // Checked: on wasm32 a forged count times a forged width can overflow usize.
    let n_kept = kept.checked_mul(width).filter(|&n| n <= r.remaining().saturating_mul(2));
    let n_kept = n_kept.ok_or_else(|| bad(format!("{kept} exact rows of width {width} do not fit the {} bytes left", r.remaining())))?;
    let (scales, values) = if kept > 0 { plain(r, index, 4, n_kept)? } else { (Vec::new(), Vec::new()) };
    let n_codes = (rows - kept).checked_mul(parts).ok_or_else(|| bad(format!("{} coded rows of {parts} pieces overflow", rows - kept)))?;
    let codes = r.take(n_codes)?.to_vec();
    if let Some(c) = codes.iter().find(|&&c| c as usize >= k) {
        return Err(bad(format!("code {c} of a {k}-centroid codebook")));
    }
    let (book_scales, book) = plain(r, index, 8, k * width)?;
    Ok(QTensor {
        shape,
        bits: CODED,
        scales: Vec::new(),
        values: Vec::new(),
        coded: Some(Box::new(Coded {
            exact,
            rows: QTensor::plain(vec![kept, width], 4, scales, values),
            parts,
            codes,
            codebook: QTensor::plain(vec![parts * k, width / parts], 8, book_scales, book),
        })),
    })
}

/// `n` 4-bit values from their packed bytes; a zero nibble (never written) is an error.
fn unpack4(bytes: &[u8], n: usize, index: usize) -> Result<Vec<i8>> {
    let mut values = Vec::with_capacity(n + 1);
    for &b in bytes {
        values.extend([(b & 15) as i8 - 8, (b >> 4) as i8 - 8]);
    }
    values.truncate(n);
    if values.contains(&-8) {
        return Err(Error::model(format!("LRQ8 tensor {index} holds a 4-bit value of -8 (nibble 0), which is never written")));
    }
    Ok(values)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| self.truncated(n))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn truncated(&self, n: usize) -> Error {
        Error::model(format!(
            "LRQ8 file is truncated: {n} bytes needed at offset {}, the file has {}",
            self.at,
            self.bytes.len()
        ))
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn u32(&mut self) -> Result<usize> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_within_half_a_step() {
        // Synthetic values, for the arithmetic only.
        let data: Vec<f32> = (0..100).map(|i| (i as f32 * 0.37).sin() * (1 + i % 7) as f32).collect();
        let q = QTensor::quantize(vec![100], &data);
        assert_eq!(q.scales.len(), 4);
        for (i, (a, b)) in data.iter().zip(q.dequantize()).enumerate() {
            assert!((a - b).abs() <= q.scales[i / BLOCK] / 2.0 + 1e-6, "{i}: {a} vs {b}");
        }
    }

    #[test]
    fn model_round_trips_and_bad_files_are_errors() {
        let device = Device::flex();
        let config = ModelConfig::new(4).with_text_buckets(64).with_d_model(8).with_max_session(4);
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let (unbound, deq) = quantize(config.init(&device));
        assert!(load(&config, &names, &unbound, &device).unwrap_err().to_string().contains("never bound"));
        let bytes = bind(&unbound, &config, &names).unwrap();
        assert_eq!(bytes.len(), unbound.len());
        let loaded = load(&config, &names, &bytes, &device).unwrap();
        let items = |m: &Model| -> Vec<f32> {
            let tokens = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 2, 3, 0, 5, 6], [2, 3]), &device);
            let cats = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 2], [2]), &device);
            m.embed_items(tokens, cats).into_data().convert::<f32>().try_to_vec().unwrap()
        };
        assert_eq!(items(&deq), items(&loaded));
        let err = |config: &ModelConfig, bytes: &[u8]| load(config, &names, bytes, &device).unwrap_err().to_string();
        assert!(err(&config, &bytes[..bytes.len() - 1]).contains("truncated"));
        assert!(err(&config, b"nope").contains("magic"));
        // A config of another shape, bound into the file: its tensors do not fit.
        let other = ModelConfig::new(4).with_text_buckets(32).with_d_model(8).with_max_session(4);
        assert!(err(&other, &bind(&bytes, &other, &names).unwrap()).contains("shape"));
        assert!(err(&other, &bytes).contains("does not match"));
    }

    #[test]
    fn four_bit_blocks_round_trip_within_half_a_step_or_the_clip() {
        // Synthetic values with an outlier per block, for the arithmetic only.
        let data: Vec<f32> = (0..131).map(|i| (i as f32 * 0.61).cos() * if i % 64 == 5 { 4.0 } else { 1.0 }).collect();
        let q = QTensor::quantize4(vec![131], &data);
        assert_eq!((q.scales.len(), q.bits), (3, 4));
        for (i, (a, b)) in data.iter().zip(q.dequantize()).enumerate() {
            let s = q.scales[i / BLOCK4];
            let clipped = (a.abs() - MAX4 * s).max(0.0);
            assert!((a - b).abs() <= s / 2.0 + clipped + 1e-6, "{i}: {a} vs {b} (scale {s})");
        }
        // The clip search never does worse than max-abs, and here does better.
        let sse = |q: &QTensor| data.iter().zip(q.dequantize()).map(|(a, b)| (a - b).powi(2)).sum::<f32>();
        let plain = QTensor { scales: q.scales.iter().enumerate().map(|(k, _)| data[k * BLOCK4..].iter().take(BLOCK4).fold(0.0f32, |m, v| m.max(v.abs())) / MAX4).collect(), ..q.clone() };
        let plain = QTensor { values: data.iter().enumerate().map(|(i, v)| (v / plain.scales[i / BLOCK4]).round() as i8).collect(), ..plain };
        assert!(sse(&q) < sse(&plain), "{} vs {}", sse(&q), sse(&plain));
        // Packed and read back exactly (131 values: an odd count, the last byte half used).
        let bytes = encode(&UNBOUND, std::slice::from_ref(&q));
        assert_eq!(decode(&bytes).unwrap().1, vec![q]);
    }

    /// A dropout that serde_json writes as 17 digits and parses back one ulp off (found by a
    /// search over random f64s in 0.0625..0.125).
    const ODD_DROPOUT: f64 = 0.11809307903634775;

    #[test]
    fn a_row_coded_table_rebuilds_exact_rows_and_codebook_pieces() {
        let device = Device::flex();
        let config = ModelConfig::new(2).with_text_buckets(12).with_d_model(8).with_max_session(4);
        let names: Vec<String> = ["a", "b"].map(String::from).to_vec();
        let (unbound, _) = quantize(config.init(&device));
        // Synthetic values, for the arithmetic only.
        let data: Vec<f32> = (0..96).map(|i| ((i * 7 % 13) as f32 - 6.0) / 4.0).collect();
        let exact: Vec<bool> = (0..12).map(|r| r % 3 == 0).collect();
        let codebook: Vec<f32> = (0..16).map(|i| i as f32 / 8.0 - 1.0).collect();
        for (parts, codes) in [(1, vec![1u8, 0, 1, 1, 0, 0, 1, 0]), (2, vec![1u8, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 1])] {
            let bytes = bind(&code_table(&unbound, [12, 8], &data, &exact, parts, &codes, &codebook).unwrap(), &config, &names).unwrap();
            let table = token_table(&bytes, [12, 8]).unwrap();
            // Piece j of a coded row is row code of piece j's codebook (k = 2 rows of 8 / parts).
            let piece = 8 / parts;
            let mut coded = codes.chunks(parts);
            for (r, row) in table.chunks(8).enumerate() {
                let want: Vec<f32> = if exact[r] {
                    data[r * 8..(r + 1) * 8].to_vec()
                } else {
                    coded.next().unwrap().iter().enumerate().flat_map(|(j, &c)| codebook[(j * 2 + c as usize) * piece..][..piece].to_vec()).collect()
                };
                for (a, b) in row.iter().zip(&want) {
                    assert!((a - b).abs() <= 1.5 / MAX4 / 2.0 + 1e-6, "parts {parts}, row {r}: {row:?} vs {want:?}");
                }
            }
            assert!(load(&config, &names, &bytes, &device).is_ok());
            // The token table is tensor 0: bits, k, parts, a 2-byte bitmap, the 4 exact rows
            // (one scale, 16 packed bytes), then the codes.
            let bits_at = 4 + 4 + 32 + 4 + 4 + 4 * 2;
            assert_eq!((bytes[bits_at], bytes[bits_at + 5] as usize), (CODED, parts));
            let (bitmap_at, rows_at) = (bits_at + 1 + 8, bits_at + 1 + 8 + 2);
            let fails = |at: usize, set: &dyn Fn(&mut u8), want: &str| {
                let mut bad = bytes.clone();
                set(&mut bad[at]);
                let err = load(&config, &names, &bad, &device).unwrap_err().to_string();
                assert!(err.contains(want), "parts {parts}, byte {at}: {err}");
            };
            fails(rows_at + 4 + 16, &|b| *b = 9, "code 9");
            fails(bitmap_at + 1, &|b| *b |= 0x80, "past the last row");
            fails(rows_at + 4, &|b| *b &= 0xf0, "nibble 0");
            fails(bits_at, &|b| *b = 5, "5 bits");
            fails(bits_at + 5, &|b| *b = 3, "3 pieces");
            fails(bits_at + 5, &|b| *b = 0, "0 pieces");
        }
        let err = |parts: usize, codes: &[u8]| code_table(&unbound, [12, 8], &data, &exact, parts, codes, &codebook).unwrap_err().to_string();
        assert!(err(1, &[2, 0, 1, 1, 0, 0, 1, 0]).contains("code 2"));
        assert!(err(2, &[0; 8]).contains("16 codes"));
        assert!(err(3, &[0; 24]).contains("3 pieces"));
    }

    /// An 8-bit file in the layout of version 1 (no digest) or 2 (digest, no bits bytes).
    fn legacy(version: u32, digest: &[u8; 32], tensors: &[QTensor]) -> Vec<u8> {
        let mut out = [&MAGIC[..], &version.to_le_bytes()].concat();
        if version == 2 {
            out.extend_from_slice(digest);
        }
        out.extend_from_slice(&(tensors.len() as u32).to_le_bytes());
        for t in tensors {
            out.extend_from_slice(&(t.shape.len() as u32).to_le_bytes());
            t.shape.iter().for_each(|&d| out.extend_from_slice(&(d as u32).to_le_bytes()));
            out.extend(t.scales.iter().flat_map(|s| s.to_le_bytes()));
            out.extend(t.values.iter().map(|&v| v as u8));
        }
        out
    }

    #[test]
    fn bind_migrates_versions_1_and_2_and_refuses_a_dropout_json_changes() {
        let device = Device::flex();
        let config = ModelConfig::new(1).with_text_buckets(8).with_d_model(4).with_max_session(2).with_layers(1);
        let (v3, _) = quantize(config.init(&device));
        let (_, tensors) = decode(&v3).unwrap();
        // Version 2 (the layout of the models shipped before 4-bit tensors) loads as it is.
        let v2 = legacy(2, &config_digest(&config, &[]), &tensors);
        assert!(load(&config, &[], &v2, &device).is_ok());
        assert_eq!(bind(&v2, &config, &[]).unwrap(), bind(&v3, &config, &[]).unwrap());
        // Version 1: no digest.
        let mut v1 = legacy(1, &UNBOUND, &tensors);
        assert!(load(&config, &[], &v1, &device).unwrap_err().to_string().contains("version 1"));
        v1 = bind(&v1, &config, &[]).unwrap();
        assert_eq!(v1, bind(&v3, &config, &[]).unwrap());
        assert!(load(&config, &[], &v1, &device).is_ok());
        let odd = config.clone().with_dropout(ODD_DROPOUT);
        let msg = bind(&v1, &odd, &[]).map(|_| ()).unwrap_err().to_string();
        assert!(msg.contains("round trip"), "{msg}");
    }
}
