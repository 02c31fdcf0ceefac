//! Native training of the shared `localrank::model::Model` and the teacher, with full or sampled
//! softmax over the catalogue (`softmax.rs`).

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use localrank::model::{Model, ModelConfig};

use crate::data::dataset::{case_batch, flat_targets, window_batch, Case, ItemInputs, Window};
use crate::models::checkpoint::{Checkpoint, State};
use crate::models::device::{init_on, on_cpu, DeviceChoice};
use crate::models::softmax::{step_seed, Softmax};
use crate::models::teacher::{window_row, Row, Teacher};
use crate::evaluation::metrics::{rank_of, Accumulator, Metrics};

#[derive(Clone, Debug, serde::Serialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub seed: u64,
    /// The `--loss` asked for (part of a checkpoint's fingerprint: a run resumed with another
    /// loss must not continue this one).
    pub loss: crate::cli::LossChoice,
    /// Where the training steps run (`device.rs`); not in the fingerprint: a run may be resumed
    /// on another device.
    pub device: DeviceChoice,
    /// Per-epoch checkpoints (`checkpoint.rs`); `None` for the quick commands.
    #[serde(skip)]
    pub checkpoint: Option<Checkpoint>,
}

/// A teacher to distil from: its logits over the catalogue become soft targets.
pub struct Distill<'a> {
    pub teacher: &'a Teacher,
    /// The teacher's text embeddings, on the CPU device.
    pub text: Tensor<2>,
    /// Weight of the distillation term against the cross-entropy on the true item.
    pub alpha: f32,
    pub temperature: f32,
}

/// Trains the student on `windows`; keeps the epoch with the best validation NDCG@10.
/// `tokens`: a starting token table (the model2vec distillation of the teacher's text model)
/// instead of random rows; `distill`: the teacher's logits as soft targets; `softmax`: over the
/// whole catalogue or sampled (`softmax::Softmax::auto`).
#[allow(clippy::too_many_arguments)]
pub fn train(
    config: &ModelConfig,
    tc: &TrainConfig,
    items: &ItemInputs,
    windows: &[Window],
    valid: &[Case],
    tokens: Option<&TensorData>,
    distill: Option<&Distill>,
    softmax: &Softmax,
) -> (Model, Vec<serde_json::Value>) {
    let device = tc.device.training().expect("--device checked before training (main.rs)");
    let mut model = init_on(&device, tc.seed, |d| config.init(d));
    if let Some(table) = tokens {
        model = model.with_token_table(table.clone()).expect("token table fits the config");
    }
    let (item_tokens, item_cats) = items.tensors(&device);
    let loss = |model: &Model, ws: &[&Window], seed: u64| {
        let (batch, targets) = window_batch(ws, items, config, &device);
        let users = model.users(&batch);
        let [b, l, d] = users.dims();
        let users = users.reshape([b * l, d]);
        let subset = softmax.subset(&targets, seed);
        let (logits, targets) = match &subset {
            None => (users.matmul(model.embed_items(item_tokens.clone(), item_cats.clone()).transpose()), targets),
            Some(s) => {
                let idx = s.indices(&device);
                let vecs = model.embed_items(item_tokens.clone().select(0, idx.clone()), item_cats.clone().select(0, idx));
                (s.corrected(users.matmul(vecs.transpose()), &device), s.targets.clone())
            }
        };
        let ce = masked_cross_entropy(logits.clone(), &targets, &device);
        match distill {
            None => ce,
            Some(k) => {
                let rows: Vec<Row> = ws.iter().map(|w| window_row(w)).collect();
                let flex = Device::flex();
                let soft = match &subset {
                    None => k.teacher.logits(&rows, k.text.clone(), None, &flex),
                    Some(s) => s.corrected(k.teacher.logits(&rows, k.text.clone(), Some(s.indices(&flex)), &flex), &flex),
                };
                let soft = Tensor::<2>::from_data(soft.into_data(), &device);
                let kd = soft_cross_entropy(logits, soft, &targets, k.temperature, &device);
                ce * (1.0 - k.alpha) + kd * k.alpha
            }
        }
    };
    let validate = |m: &Model| streamed_metrics(valid, |cs| case_scores(m, config, items, cs, &Device::flex()), false);
    fit(model, tc, windows, loss, validate)
}

/// Trains the teacher on `windows` (full or sampled softmax, as the students).
pub fn train_teacher(
    tc: &TrainConfig,
    items: usize,
    max_session: usize,
    text: &Tensor<2>,
    windows: &[Window],
    valid: &[Case],
    softmax: &Softmax,
) -> (Teacher, Vec<serde_json::Value>) {
    let device = tc.device.training().expect("--device checked before training (main.rs)");
    let teacher = init_on(&device, tc.seed, |d| Teacher::new(items, max_session, d));
    let text_ad = Tensor::<2>::from_data(text.to_data(), &device);
    let loss = |model: &Teacher, ws: &[&Window], seed: u64| {
        let rows: Vec<Row> = ws.iter().map(|w| window_row(w)).collect();
        next_item_loss(softmax, &flat_targets(ws, max_session), seed, &device, |subset| model.logits(&rows, text_ad.clone(), subset, &device))
    };
    let validate = |m: &Teacher| streamed_metrics(valid, |cs| m.case_scores(cs, text.clone(), &Device::flex()), false);
    fit(teacher, tc, windows, loss, validate)
}

/// The training loop shared by student and teacher: Adam, shuffled batches, best epoch kept.
/// Each epoch's batch order, negatives and dropout come from (seed, epoch, step), so a run
/// resumed from a checkpoint ends where an uninterrupted one does.
pub fn fit<M: Module>(
    mut model: M,
    tc: &TrainConfig,
    windows: &[Window],
    loss_of: impl Fn(&M, &[&Window], u64) -> Tensor<1>,
    validate: impl Fn(&M) -> Metrics,
) -> (M, Vec<serde_json::Value>) {
    let mut optim = AdamConfig::new().with_weight_decay(None).init();
    let (mut best, mut best_model, mut log) = (-1.0, on_cpu(model.valid()), Vec::new());
    let mut first = 1;
    let fingerprint = fingerprint(tc, windows);
    if let Some(c) = &tc.checkpoint {
        match c.load(&fingerprint, model.clone(), optim.clone()) {
            Ok(Some((state, m, o, b))) => {
                (model, optim, best_model, best, log, first) = (m, o, on_cpu(b), state.best, state.log, state.epoch + 1);
            }
            Ok(None) => {}
            // A CLI-only crate: a checkpoint that cannot be used ends the run with its reason.
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
        }
    }
    let started = Instant::now();
    for epoch in first..=tc.epochs {
        let start = Instant::now();
        let order = epoch_order(windows.len(), tc.seed, epoch);
        model.devices().iter().for_each(|d| d.seed(step_seed(tc.seed, epoch, usize::MAX - 1)));
        let mut loss_sum = 0.0;
        let mut progress = crate::progress::Progress::new(format!("epoch {epoch}/{}", tc.epochs), order.len().div_ceil(tc.batch_size));
        for (step, chunk) in order.chunks(tc.batch_size).enumerate() {
            progress.tick(step, "batches");
            let ws: Vec<&Window> = chunk.iter().map(|&i| &windows[i]).collect();
            let loss = loss_of(&model, &ws, step_seed(tc.seed, epoch, step));
            loss_sum += loss.clone().into_scalar::<f32>() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(tc.lr, model, grads);
        }
        let valid_model = on_cpu(model.valid());
        let m = validate(&valid_model);
        let batches = order.len().div_ceil(tc.batch_size) as f64;
        let done = epoch + 1 - first;
        let left = started.elapsed().as_secs_f64() / done as f64 * (tc.epochs - epoch) as f64;
        eprintln!(
            "epoch {epoch:>3}/{}  loss {:.4}  valid ndcg@10 {:.4} hr@10 {:.4}  ({:.1}s, ~{left:.0}s left)",
            tc.epochs,
            loss_sum / batches,
            m.ndcg10,
            m.hr10,
            start.elapsed().as_secs_f64()
        );
        log.push(serde_json::json!({"epoch": epoch, "loss": loss_sum / batches, "valid": m}));
        if m.ndcg10 > best {
            best = m.ndcg10;
            best_model = valid_model;
        }
        if let Some(c) = &tc.checkpoint {
            let state = State { fingerprint: fingerprint.clone(), epoch, best, log: log.clone() };
            if let Err(e) = c.save(&state, &model, &optim, &best_model) {
                eprintln!("warning: checkpoint not saved ({e}); --resume would repeat this epoch");
            }
        }
    }
    (best_model, log)
}

/// What a checkpoint must match to be continued: the settings (not the epoch count, so a
/// finished run can be trained longer) and the training data.
fn fingerprint(tc: &TrainConfig, windows: &[Window]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for t in windows.iter().flat_map(|w| &w.targets) {
        h = (h ^ t.item as u64 ^ (t.time as u64).rotate_left(20)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("seed {} lr {} batch {} loss {:?} windows {} targets {h:016x}", tc.seed, tc.lr, tc.batch_size, tc.loss, windows.len())
}

/// The order of the windows in `epoch`: a shuffle seeded by (seed, epoch) alone.
fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    shuffle(&mut order, &mut (step_seed(seed, epoch, usize::MAX) | 1));
    order
}

/// Distillation term: cross-entropy of the student's tempered distribution against the
/// teacher's (equal to the KL divergence up to a constant), times T², over real positions.
fn soft_cross_entropy(student: Tensor<2>, teacher: Tensor<2>, targets: &[i64], t: f32, device: &Device) -> Tensor<1> {
    let n = targets.len();
    let mask: Vec<f32> = targets.iter().map(|&x| if x >= 0 { 1.0 } else { 0.0 }).collect();
    let count = mask.iter().sum::<f32>().max(1.0);
    let mask = Tensor::<2>::from_data(TensorData::new(mask, [n, 1]), device);
    let p = softmax(teacher / t as f64, 1);
    let logq = log_softmax(student / t as f64, 1);
    (p * logq * mask).sum().neg().mul_scalar(t * t / count)
}

/// The cross-entropy of flat `targets` (-1 = padding) under `softmax`: `logits_of(None)` scores
/// every position against the catalogue; sampled, `logits_of(Some(products))` against the batch's
/// subset, whose logits are logQ-corrected and whose targets are re-indexed into it.
pub fn next_item_loss(softmax: &Softmax, targets: &[i64], seed: u64, device: &Device, logits_of: impl FnOnce(Option<Tensor<1, Int>>) -> Tensor<2>) -> Tensor<1> {
    match softmax.subset(targets, seed) {
        None => masked_cross_entropy(logits_of(None), targets, device),
        Some(s) => masked_cross_entropy(s.corrected(logits_of(Some(s.indices(device))), device), &s.targets, device),
    }
}

/// Mean cross-entropy over positions whose target is not padding (-1).
pub fn masked_cross_entropy(logits: Tensor<2>, targets: &[i64], device: &Device) -> Tensor<1> {
    let n = targets.len();
    let mask: Vec<f32> = targets.iter().map(|&t| if t >= 0 { 1.0 } else { 0.0 }).collect();
    let count = mask.iter().sum::<f32>().max(1.0);
    let idx: Vec<i64> = targets.iter().map(|&t| t.max(0)).collect();
    let idx = Tensor::<2, Int>::from_data(TensorData::new(idx, [n, 1]), device);
    let mask = Tensor::<2>::from_data(TensorData::new(mask, [n, 1]), device);
    let picked = log_softmax(logits, 1).gather(1, idx);
    (picked * mask).sum().neg().div_scalar(count)
}

/// Full-catalogue model scores for each case, from its newest `max_session` events.
pub fn case_scores(model: &Model, config: &ModelConfig, items: &ItemInputs, cases: &[Case], device: &Device) -> Vec<Vec<f32>> {
    let (tokens, cats) = items.tensors(device);
    let all = model.embed_items(tokens, cats);
    let mut out = Vec::with_capacity(cases.len());
    for chunk in cases.chunks(256) {
        let cs: Vec<&Case> = chunk.iter().collect();
        let users = model.users(&case_batch(&cs, items, config, device));
        let [b, l, d] = users.dims();
        let last = users.narrow(1, l - 1, 1).reshape([b, d]);
        let flat: Vec<f32> = last
            .matmul(all.clone().transpose())
            .into_data()
            .convert::<f32>()
            .try_to_vec()
            .expect("f32 scores");
        out.extend(flat.chunks(flat.len() / b).map(<[f32]>::to_vec));
    }
    out
}

/// `full_metrics` of `cases` scored a chunk at a time: memory holds one chunk's scores over the
/// catalogue, not every case's (25,000 validation cases x 100,000 products would be 10 GB).
/// The chunks are scored on every core (`parallel`; inference draws no random numbers).
pub fn streamed_metrics(cases: &[Case], score: impl Fn(&[Case]) -> Vec<Vec<f32>> + Sync, exclude_seen: bool) -> Metrics {
    let mut acc = Accumulator::default();
    for ranks in crate::parallel::map_chunks(cases, 256, "", "", |chunk| full_ranks(chunk, &score(chunk), exclude_seen)) {
        ranks.into_iter().for_each(|r| acc.add(r));
    }
    acc.finish()
}

/// Full ranking over the catalogue. `exclude_seen`: items already in the case's history are
/// not ranked (the standard leave-one-out protocol).
pub fn full_metrics(cases: &[Case], scores: &[Vec<f32>], exclude_seen: bool) -> Metrics {
    let mut acc = Accumulator::default();
    full_ranks(cases, scores, exclude_seen).into_iter().for_each(|r| acc.add(r));
    acc.finish()
}

/// The target's rank (0 = top) among all products, per case; see `full_metrics`.
pub fn full_ranks(cases: &[Case], scores: &[Vec<f32>], exclude_seen: bool) -> Vec<usize> {
    cases
        .iter()
        .zip(scores)
        .map(|(c, s)| {
            let mut s = s.clone();
            if exclude_seen {
                for h in c.history.iter().filter(|h| h.item != c.target.item) {
                    s[h.item] = f32::NEG_INFINITY;
                }
            }
            rank_of(&s, c.target.item)
        })
        .collect()
}

/// Fisher-Yates with a small xorshift generator: reproducible from the seed.
fn shuffle(v: &mut [usize], state: &mut u64) {
    for i in (1..v.len()).rev() {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        v.swap(i, (*state % (i as u64 + 1)) as usize);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::data::dataset::short_and_long_cases;

    /// Scores of the short case scored alone (padded to its own length) and beside a long one
    /// (padded to the whole window); the largest difference.
    pub fn padding_effect(score: impl Fn(&[Case]) -> Vec<Vec<f32>>, cases: &[Case; 2]) -> f32 {
        let alone = score(&cases[..1]);
        let beside = score(cases);
        alone[0].iter().zip(&beside[0]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn a_session_scores_the_same_however_far_its_batch_is_padded() {
        let (items, device) = (30, Device::flex());
        let config = ModelConfig::new(1);
        let cases = short_and_long_cases(items, config.max_session);
        let inputs = ItemInputs { tokens: (0..items).map(|i| vec![i as i64 % 9 + 1; config.max_tokens]).collect(), category: vec![0; items], time_context: true };
        let student = config.init(&device);
        let d = padding_effect(|cs| case_scores(&student, &config, &inputs, cs, &device), &cases);
        assert!(d < 1e-4, "student: {d}");
        let teacher = Teacher::new(items, config.max_session, &device);
        let text = Tensor::<2>::random([items, crate::models::teacher::TEXT_DIM], burn::tensor::Distribution::Default, &device);
        let d = padding_effect(|cs| teacher.case_scores(cs, text.clone(), &device), &cases);
        assert!(d < 1e-4, "teacher: {d}");
    }

    /// `--device gpu` trains the same model as the CPU: the student without dropout (dropout
    /// masks come from each backend's own generator), same seed, 8 Adam steps on each device;
    /// the scores of the two trained models agree (within 5e-3; 6.6e-4 measured on lavapipe).
    /// Skips visibly without an adapter, fails under `LOCALRANK_REQUIRE_GPU=1`.
    #[cfg(feature = "gpu")]
    #[test]
    fn the_student_trains_to_the_same_model_on_the_gpu() {
        use crate::data::movielens::Interaction;
        use crate::models::device::DeviceChoice;
        use localrank::features::EventKind;
        if let Err(e) = DeviceChoice::Gpu.check() {
            assert_ne!(std::env::var("LOCALRANK_REQUIRE_GPU").as_deref(), Ok("1"), "{e}");
            eprintln!("SKIPPED (no GPU adapter): {e}");
            return;
        }
        let items = 40;
        let config = ModelConfig { dropout: 0.0, ..ModelConfig::new(1) };
        let inputs = ItemInputs { tokens: (0..items).map(|i| vec![i as i64 % 13 + 1; config.max_tokens]).collect(), category: vec![0; items], time_context: true };
        let event = |u: usize, k: usize| Interaction::of_kind(EventKind::ViewItem, u as u32, (u * 3 + k * 5) % items, 1_700_000_000 + k as i64 * 60);
        let windows: Vec<Window> = (0..64).map(|u| Window { inputs: (0..6).map(|k| event(u, k)).collect(), targets: (1..7).map(|k| event(u, k)).collect() }).collect();
        let cases: Vec<Case> = (0..16).map(|u| Case { history: (0..5).map(|k| event(u, k)).collect(), target: event(u, 5) }).collect();
        let tc = |device| TrainConfig { epochs: 1, batch_size: 8, lr: 3e-3, seed: 7, loss: crate::cli::LossChoice::Full, device, checkpoint: None };
        let trained = |device| train(&config, &tc(device), &inputs, &windows, &cases, None, None, &Softmax::Full).0;
        let (cpu, gpu) = (trained(DeviceChoice::Cpu), trained(DeviceChoice::Gpu));
        let flex = Device::flex();
        let (a, b) = (case_scores(&cpu, &config, &inputs, &cases, &flex), case_scores(&gpu, &config, &inputs, &cases, &flex));
        let untrained = case_scores(&init_on(&flex, 7, |d| config.init(d)), &config, &inputs, &cases, &flex);
        let diff = |x: &[Vec<f32>], y: &[Vec<f32>]| x.iter().flatten().zip(y.iter().flatten()).map(|(p, q)| (p - q).abs()).fold(0.0, f32::max);
        let (gap, moved) = (diff(&a, &b), diff(&a, &untrained));
        eprintln!("cpu vs gpu after 8 steps: max |score difference| {gap:.2e} (training moved scores by up to {moved:.2e})");
        assert!(moved > 1e-2, "training must change the scores for the comparison to mean anything: {moved}");
        // Measured on lavapipe (Mesa 22.3.6): 6.6e-4 after training moved scores by 0.87; Adam's
        // normalised steps carry rounding differences along, so the bound leaves room for
        // another adapter's reductions, well below what a wrong start (1.26) or no step gives.
        assert!(gap < 5e-3, "cpu and gpu trained models differ by {gap}");
    }
}
