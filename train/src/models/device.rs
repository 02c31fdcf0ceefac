//! Where the models train (`--device`): burn-flex on the CPU (the default, and the
//! only choice of a default build), or a GPU through burn's wgpu backend (Vulkan on Linux, Metal
//! on macOS, DX12 on Windows) in a build with `--features gpu`. Only the training steps move:
//! validation, the text model, quantisation and every evaluation stay on burn-flex, so a model
//! trained on either device is scored by the same code.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;

/// The `--device` a run asked for.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// burn-flex on the CPU.
    #[default]
    Cpu,
    /// burn-wgpu on the first high-power adapter wgpu finds (needs `--features gpu`).
    Gpu,
}

impl DeviceChoice {
    /// The device the training steps run on (autodiff on top), or why this build cannot train
    /// there.
    pub fn training(self) -> Result<Device, String> {
        match self {
            DeviceChoice::Cpu => Ok(Device::flex().autodiff()),
            DeviceChoice::Gpu => gpu().map(Device::autodiff),
        }
    }

    /// Checks that the device exists before hours of work start (a missing GPU is an error with
    /// its reason, never a panic in the middle of a run).
    pub fn check(self) -> Result<(), String> {
        match self {
            DeviceChoice::Cpu => Ok(()),
            DeviceChoice::Gpu => gpu().and_then(|d| probe(&d)),
        }
    }
}

#[cfg(feature = "gpu")]
fn gpu() -> Result<Device, String> {
    Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice))
}

#[cfg(not(feature = "gpu"))]
fn gpu() -> Result<Device, String> {
    Err("--device gpu: this localrank-train was built without a GPU backend; build it with `cargo build -p train --release --features gpu` (burn's wgpu backend: Vulkan, Metal or DX12)".into())
}

/// One small computation on `device`: wgpu panics when no adapter exists, so the first use is
/// caught here and turned into an error.
fn probe(device: &Device) -> Result<(), String> {
    let device = device.clone();
    let run = std::panic::catch_unwind(move || Tensor::<1>::from_floats([1.0, 2.0], &device).sum().into_scalar::<f32>());
    match run {
        Ok(x) if x == 3.0 => Ok(()),
        Ok(x) => Err(format!("--device gpu: the adapter computed 1 + 2 = {x}")),
        Err(_) => Err("--device gpu: no GPU adapter found (wgpu found no Vulkan, Metal or DX12 device; on Linux install the GPU's Vulkan driver)".into()),
    }
}

/// A model trained on any device, on burn-flex (where validation and evaluation run).
pub fn on_cpu<M: Module>(model: M) -> M {
    model.to_device(&Device::flex())
}

/// Initialises on burn-flex from `seed` and then moves to `device`: the starting weights are the
/// same numbers whichever device trains, so the CPU and GPU runs of one seed differ only by the
/// arithmetic and the dropout masks. burn draws a parameter's initial values lazily, at its first
/// use and on the device it then lives on, so the weights are drawn here, at once, before the move
/// (moved lazily, a GPU run drew them from the GPU's generator: a trained student 1.26 apart in
/// score from the CPU's, against 7e-7 drawn here).
pub fn init_on<M: Module>(device: &Device, seed: u64, init: impl FnOnce(&Device) -> M) -> M {
    let on_flex = *device == Device::flex();
    let cpu = if on_flex { device.clone() } else { Device::flex().autodiff() };
    cpu.seed(seed);
    let model = init(&cpu);
    model.visit(&mut Materialise);
    if on_flex {
        model
    } else {
        device.seed(seed);
        // `fork`, not `to_device`: the moved weights start a graph of their own on `device`
        // (moved, they stayed the output of a copy on the CPU's tape, whose first backward
        // consumed it: "graph tape has already been consumed" at the second step).
        model.fork(device)
    }
}

/// Draws every lazily initialised parameter of a module now.
struct Materialise;

impl ModuleVisitor for Materialise {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
    fn visit_int<const D: usize>(&mut self, param: &Param<Tensor<D, Int>>) {
        let _ = param.val();
    }
    fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<D, Bool>>) {
        let _ = param.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_is_the_default_and_always_there() {
        assert_eq!(DeviceChoice::default(), DeviceChoice::Cpu);
        assert!(DeviceChoice::Cpu.check().is_ok());
        assert!(DeviceChoice::Cpu.training().unwrap().is_autodiff());
    }

    #[cfg(not(feature = "gpu"))]
    #[test]
    fn a_cpu_build_refuses_the_gpu_and_says_how_to_get_one() {
        let e = DeviceChoice::Gpu.check().unwrap_err();
        assert!(e.contains("--features gpu"), "{e}");
    }
}
