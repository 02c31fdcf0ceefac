//! Backend choice. The CPU backend (burn `flex`) is always there; WebGPU (burn `wgpu`) is
//! compiled in with the `webgpu` feature and used when the browser has an adapter.

use burn::prelude::Device;

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Cpu,
    WebGpu,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::WebGpu => "webgpu",
        }
    }
}

pub fn cpu_device() -> Device {
    Device::flex()
}

/// Initialises burn's wgpu runtime on the browser's WebGPU adapter.
#[cfg(feature = "webgpu")]
pub async fn webgpu_device() -> Result<Device> {
    Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| Error::backend(format!("WebGPU initialisation failed: {e:?}")))
}

#[cfg(not(feature = "webgpu"))]
pub async fn webgpu_device() -> Result<Device> {
    Err(Error::backend("this build of localrank has no WebGPU backend (built without the `webgpu` feature)"))
}

pub fn webgpu_compiled() -> bool {
    cfg!(feature = "webgpu")
}
