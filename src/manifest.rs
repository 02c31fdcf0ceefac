//! `models/manifest.json`: format version, model config, category vocabulary, and the size and
//! sha256 of every shipped file. Checked before any byte reaches burn, so a corrupted or
//! mismatched download is an error, never a panic.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::ModelConfig;

/// The manifest format this build reads. Bump on any incompatible change of the files.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub name: String,
    pub version: String,
    pub config: ModelConfig,
    /// Category vocabulary; model index = position + 1 (0 = unknown).
    pub categories: Vec<String>,
    /// Role ("weights", "tokenizer", ...) -> file.
    pub files: BTreeMap<String, FileEntry>,
    /// Encoding of the weights file: "lrq8" (8-bit, `quant.rs`) or "burnpack" (f32).
    #[serde(default = "default_weights_format")]
    pub weights_format: String,
    /// How the model was made (data, split, seed, metrics). Informational.
    #[serde(default)]
    pub training: serde_json::Value,
}

fn default_weights_format() -> String {
    "burnpack".into()
}

impl Manifest {
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::model(format!("manifest.json is not valid JSON: {e}")))?;
        let version = value.get("format_version").and_then(|v| v.as_u64());
        if version != Some(FORMAT_VERSION as u64) {
            return Err(Error::model(format!(
                "manifest.json format_version is {}, this build of localrank reads version {FORMAT_VERSION}",
                version.map_or("missing".to_string(), |v| v.to_string())
            )));
        }
        serde_json::from_value(value)
            .map_err(|e| Error::model(format!("manifest.json is malformed: {e}")))
    }

    pub fn file(&self, role: &str) -> Result<&FileEntry> {
        self.files
            .get(role)
            .ok_or_else(|| Error::model(format!("manifest.json lists no {role:?} file")))
    }

    /// Checks that `bytes` are the file the manifest lists for `role`.
    pub fn verify(&self, role: &str, bytes: &[u8]) -> Result<()> {
        self.verify_with(role, bytes.len(), || sha256_hex(bytes))
    }

    /// `verify` of a file of `len` bytes whose hex sha256 `digest` gives (computed only when the
    /// size matches; the browser computes it with SubtleCrypto).
    pub fn verify_with(&self, role: &str, len: usize, digest: impl FnOnce() -> String) -> Result<()> {
        let entry = self.file(role)?;
        if len as u64 != entry.bytes {
            return Err(Error::model(format!(
                "{} is {len} bytes, manifest.json says {} (truncated or wrong file?)",
                entry.path, entry.bytes
            )));
        }
        let digest = digest();
        if digest != entry.sha256 {
            return Err(Error::model(format!(
                "{} has sha256 {digest}, manifest.json says {} (corrupted download?)",
                entry.path, entry.sha256
            )));
        }
        Ok(())
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(version: u32) -> String {
        let config = serde_json::to_string(&ModelConfig::new(3)).unwrap();
        format!(
            r#"{{"format_version":{version},"name":"t","version":"0","config":{config},
            "categories":["A"],"files":{{"weights":{{"path":"w.bpk","bytes":3,"sha256":"{}"}}}}}}"#,
            sha256_hex(b"abc")
        )
    }

    #[test]
    fn wrong_format_version_is_named() {
        let err = Manifest::parse(manifest(99).as_bytes()).unwrap_err().to_string();
        assert!(err.contains("format_version is 99"), "{err}");
    }

    #[test]
    fn verify_catches_size_and_hash_mismatch() {
        let m = Manifest::parse(manifest(FORMAT_VERSION).as_bytes()).unwrap();
        assert!(m.verify("weights", b"abc").is_ok());
        assert!(m.verify("weights", b"abd").unwrap_err().to_string().contains("sha256"));
        assert!(m.verify("weights", b"ab").unwrap_err().to_string().contains("2 bytes"));
        assert!(m.verify("tokenizer", b"").unwrap_err().to_string().contains("tokenizer"));
    }
}
