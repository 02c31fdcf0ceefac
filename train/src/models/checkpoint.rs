//! Per-epoch checkpoints of `trainer::fit`: after every epoch the model, Adam's state and the best
//! epoch's model so far go to the model's checkpoint directory, so that `--resume` continues an
//! interrupted run from its last completed epoch (and skips models already trained) with the
//! same result as an uninterrupted run: batch order, negatives and dropout are drawn from
//! (seed, epoch, step), not from a generator that runs across epochs.
//!
//! Files of epoch k carry k in their names and `state.json` is written last (by rename), so an
//! interruption while saving leaves the previous epoch's checkpoint whole.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;

/// Where one model's checkpoints go, and whether to continue from them.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub dir: PathBuf,
    pub resume: bool,
}

/// What `fit` needs to continue after `epoch`.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct State {
    /// The settings and data a checkpoint belongs to (`fit` refuses another run's checkpoint).
    pub fingerprint: String,
    pub epoch: usize,
    pub best: f64,
    pub log: Vec<serde_json::Value>,
}

/// A restored checkpoint: its state, the model after its epoch, Adam, the best epoch's model.
pub type Restored<M> = (State, M, ModuleOptimizer, M);

impl Checkpoint {
    /// The checkpoint of a part (`sasrec` of the baselines' directory).
    pub fn child(&self, name: &str) -> Self {
        Self { dir: self.dir.join(name), resume: self.resume }
    }

    fn file(&self, name: &str, epoch: usize) -> PathBuf {
        self.dir.join(format!("{name}-{epoch}.bpk"))
    }

    /// The checkpoint to continue from, if `resume` and one exists. `Err` when it belongs to
    /// other settings or data, or its files do not load.
    pub fn load<M: Module>(&self, fingerprint: &str, model: M, optim: ModuleOptimizer) -> Result<Option<Restored<M>>, String> {
        let path = self.dir.join("state.json");
        if !self.resume || !path.exists() {
            return Ok(None);
        }
        let state: State = serde_json::from_slice(&std::fs::read(&path).map_err(|e| at(&path, e))?).map_err(|e| at(&path, e))?;
        if state.fingerprint != fingerprint {
            return Err(format!(
                "{}: this checkpoint is of another run ({}), not of this one ({fingerprint}); remove the directory or run without --resume",
                self.dir.display(),
                state.fingerprint
            ));
        }
        let (m, o, b) = (self.file("model", state.epoch), self.file("adam", state.epoch), self.file("best", state.epoch));
        let best = model.valid().try_load_file(&b).map_err(|e| at(&b, e))?;
        let model = model.try_load_file(&m).map_err(|e| at(&m, e))?;
        let optim = optim.load(&o).map_err(|e| at(&o, e))?;
        eprintln!("resumed {} after epoch {}", self.dir.display(), state.epoch);
        Ok(Some((state, model, optim, best)))
    }

    /// Saves the checkpoint after `state.epoch` and removes the previous epoch's files.
    pub fn save<M: Module>(&self, state: &State, model: &M, optim: &ModuleOptimizer, best: &M) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir).map_err(|e| at(&self.dir, e))?;
        let k = state.epoch;
        let (m, o, b) = (self.file("model", k), self.file("adam", k), self.file("best", k));
        model.clone().save_file(&m).map_err(|e| at(&m, e))?;
        optim.save(&o).map_err(|e| at(&o, e))?;
        best.clone().save_file(&b).map_err(|e| at(&b, e))?;
        let tmp = self.dir.join("state.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(state).expect("state serialises")).map_err(|e| at(&tmp, e))?;
        std::fs::rename(&tmp, self.dir.join("state.json")).map_err(|e| at(&tmp, e))?;
        if k > 1 {
            for name in ["model", "adam", "best"] {
                let _ = std::fs::remove_file(self.file(name, k - 1));
            }
        }
        Ok(())
    }
}

fn at(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", path.display())
}

/// The little-endian f32s of a file of exactly `len` of them, or None (missing, short, other).
pub fn read_f32s(path: &Path, len: usize) -> Option<Vec<f32>> {
    let bytes = std::fs::read(path).ok()?;
    (bytes.len() == len * 4).then(|| bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// `values` as little-endian bytes (what `read_f32s` reads).
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// `compute`'s `len` values, kept at `path` for later runs. A kept file is used only when `probe`
/// (the first values of the result, computed again) equals its start bit for bit, so that other
/// code, inputs or float kernels recompute instead of reading stale values. The file is written
/// under a temporary name and renamed: runs side by side each see a whole file or none; a failed
/// write only costs the next run the computation again. Returns the values and whether they
/// were the kept ones.
pub fn kept_or_computed(
    path: &Path,
    len: usize,
    probe: impl FnOnce() -> Result<Vec<f32>, String>,
    compute: impl FnOnce() -> Result<Vec<f32>, String>,
) -> Result<(Vec<f32>, bool), String> {
    if let Some(kept) = read_f32s(path, len) {
        let probe = probe()?;
        if probe.len() <= kept.len() && kept.iter().zip(&probe).all(|(a, b)| a.to_bits() == b.to_bits()) {
            return Ok((kept, true));
        }
    }
    let values = compute()?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    if let Err(e) = std::fs::write(&tmp, f32_bytes(&values)).and_then(|()| std::fs::rename(&tmp, path)) {
        eprintln!("warning: {}: {e}; computed again next time", path.display());
        std::fs::remove_file(&tmp).ok();
    }
    Ok((values, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_values_are_used_only_when_the_probe_matches() {
        let dir = std::env::temp_dir().join(format!("localrank-kept-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("values.f32");
        let unused = || -> Result<Vec<f32>, String> { panic!("computed although the kept values match") };
        let (v, kept) = kept_or_computed(&path, 3, || Ok(vec![1.0]), || Ok(vec![1.0, 2.0, 3.0])).unwrap();
        assert_eq!((v, kept), (vec![1.0, 2.0, 3.0], false));
        let (v, kept) = kept_or_computed(&path, 3, || Ok(vec![1.0]), unused).unwrap();
        assert_eq!((v, kept), (vec![1.0, 2.0, 3.0], true));
        // Another first value (other weights or kernels), or another length: computed again.
        let (v, kept) = kept_or_computed(&path, 3, || Ok(vec![1.5]), || Ok(vec![1.5, 2.0, 3.0])).unwrap();
        assert_eq!((v, kept), (vec![1.5, 2.0, 3.0], false));
        let (v, kept) = kept_or_computed(&path, 2, || Ok(vec![1.5]), || Ok(vec![1.5, 2.0])).unwrap();
        assert_eq!((v, kept), (vec![1.5, 2.0], false));
        std::fs::remove_dir_all(&dir).ok();
    }
}

