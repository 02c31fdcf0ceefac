//! 8-bit weights for shipping: every float parameter is stored as int8 with one f32 scale per
//! block of 32 consecutive values (symmetric, max-abs). Loading dequantises to f32 on the target
//! device, so the CPU and WebGPU backends compute with the very same weights (and the golden
//! scores hold on both) while the file is ~3.6x smaller than f32.
//!
//! File layout (little endian): `b"LRQ8"`, u32 version, u32 tensor count, then per tensor in
//! the module's visiting order: u32 rank, u32 dims[rank], f32 scales[ceil(n / 32)], i8 values[n].

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;

use crate::error::{Error, Result};
use crate::model::{Model, ModelConfig};

const MAGIC: &[u8; 4] = b"LRQ8";
const VERSION: u32 = 1;
/// Values per scale.
pub const BLOCK: usize = 32;

/// One quantised tensor.
#[derive(Clone, Debug, PartialEq)]
struct QTensor {
    shape: Vec<usize>,
    scales: Vec<f32>,
    values: Vec<i8>,
}

impl QTensor {
    fn quantize(shape: Vec<usize>, data: &[f32]) -> Self {
        let mut scales = Vec::with_capacity(data.len().div_ceil(BLOCK));
        let mut values = Vec::with_capacity(data.len());
        for block in data.chunks(BLOCK) {
            let max = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
            scales.push(scale);
            values.extend(block.iter().map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8));
        }
        Self { shape, scales, values }
    }

    fn dequantize(&self) -> Vec<f32> {
        // Sized up front: collecting a flat_map grew the vector step by step, which was ~10% of
        // `LocalRanker.create` in wasm.
        let mut out = Vec::with_capacity(self.values.len());
        for (block, &s) in self.values.chunks(BLOCK).zip(&self.scales) {
            out.extend(block.iter().map(|&q| q as f32 * s));
        }
        out
    }
}

/// Quantises every float parameter of `model`: returns the file bytes and the model with the
/// dequantised weights it will run with.
pub fn quantize(model: Model) -> (Vec<u8>, Model) {
    let mut q = Quantize { tensors: Vec::new() };
    let model = model.map(&mut q);
    (encode(&q.tensors), model)
}

/// Builds `config`'s model on `device` with the weights of an `LRQ8` file.
pub fn load(config: &ModelConfig, bytes: &[u8], device: &Device) -> Result<Model> {
    let tensors = decode(bytes)?;
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

fn encode(tensors: &[QTensor]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    let u32s = |out: &mut Vec<u8>, v: usize| out.extend_from_slice(&(v as u32).to_le_bytes());
    u32s(&mut out, VERSION as usize);
    u32s(&mut out, tensors.len());
    for t in tensors {
        u32s(&mut out, t.shape.len());
        for &d in &t.shape {
            u32s(&mut out, d);
        }
        out.extend(t.scales.iter().flat_map(|s| s.to_le_bytes()));
        out.extend(t.values.iter().map(|&v| v as u8));
    }
    out
}

/// Reads an `LRQ8` file, checking every length before it is trusted.
fn decode(bytes: &[u8]) -> Result<Vec<QTensor>> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(4)? != MAGIC {
        return Err(Error::model("weights are not an LRQ8 file (bad magic bytes)"));
    }
    let version = r.u32()?;
    if version != VERSION as usize {
        return Err(Error::model(format!("LRQ8 version {version}, this build reads version {VERSION}")));
    }
    let count = r.u32()?;
    let mut tensors = Vec::new();
    for _ in 0..count {
        let rank = r.u32()?;
        if rank == 0 || rank > 8 {
            return Err(Error::model(format!("LRQ8 tensor of rank {rank}")));
        }
        let shape = (0..rank).map(|_| r.u32()).collect::<Result<Vec<_>>>()?;
        let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
            .filter(|&n| n <= bytes.len())
            .ok_or_else(|| Error::model("LRQ8 tensor larger than the file"))?;
        let scales = r.take(n.div_ceil(BLOCK) * 4)?.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        let values = r.take(n)?.iter().map(|&b| b as i8).collect();
        tensors.push(QTensor { shape, scales, values });
    }
    if r.at != bytes.len() {
        return Err(Error::model("LRQ8 file has trailing bytes"));
    }
    Ok(tensors)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| Error::model("LRQ8 file is truncated"))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u32(&mut self) -> Result<usize> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()) as usize)
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
        let (bytes, deq) = quantize(config.init(&device));
        let loaded = load(&config, &bytes, &device).unwrap();
        let items = |m: &Model| -> Vec<f32> {
            let tokens = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 2, 3, 0, 5, 6], [2, 3]), &device);
            let cats = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 2], [2]), &device);
            m.embed_items(tokens, cats).into_data().convert::<f32>().try_to_vec().unwrap()
        };
        assert_eq!(items(&deq), items(&loaded));
        assert!(load(&config, &bytes[..bytes.len() - 1], &device).unwrap_err().to_string().contains("truncated"));
        assert!(load(&config, b"nope", &device).unwrap_err().to_string().contains("magic"));
        let other = ModelConfig::new(4).with_text_buckets(32).with_d_model(8).with_max_session(4);
        assert!(load(&other, &bytes, &device).unwrap_err().to_string().contains("shape"));
    }
}
