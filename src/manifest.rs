//! `models/manifest.json`: format version, model config, category vocabulary, and the size and
//! sha256 of every shipped file. The manifest is the contract between the model files and the
//! code: `Manifest::parse` checks every value that shapes computation, allocation or a fetch, so a
//! corrupted, mismatched or hostile model directory is an error, never a panic, a hang or a huge
//! allocation. The weights file then binds the config it was exported with (`quant.rs`, LRQ8 v2).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::features::TrainedInputs;
use crate::model::{ModelConfig, CONTEXT_SIZES, DWELL_BUCKETS, EVENT_KINDS};

/// The manifest format this build reads. Bump on any incompatible change of the files.
pub const FORMAT_VERSION: u32 = 1;
/// Largest manifest.json accepted (the shipped one is ~24 KB, mostly training metrics).
pub const MAX_MANIFEST_BYTES: usize = 1 << 20;
/// Largest file a manifest may list: 2^26 parameters in f32 (`model::limits::PARAMETERS`); the
/// shipped weights are 2.2 MB.
pub const MAX_FILE_BYTES: u64 = 256 << 20;
/// Longest `path` of a file entry.
pub const MAX_PATH_BYTES: usize = 255;
/// The only weights encoding accepted: LRQ8 v2 carries the sha256 of the config it was exported
/// with. burnpack (f32) was accepted before and carried none (heads, max_tokens and dropout do
/// not show in its tensor shapes), so it is refused; `Model::from_bytes` still reads it for tools.
pub const WEIGHTS_FORMAT: &str = "lrq8";

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
    /// Encoding of the weights file: `WEIGHTS_FORMAT` (required: a missing field used to mean
    /// burnpack, which is no longer accepted).
    pub weights_format: String,
    /// The input values training fed the model; the ranker reads anything else as training's
    /// "unknown" (`features::TrainedInputs`). Required: without it the browser's dwell, device,
    /// query... would reach rows that were never trained.
    pub inputs: TrainedInputs,
    /// The model's weight against the server order that `localrank-train` chose on validation
    /// (0 = the server order: the model did not beat it); the default of `rerank`'s
    /// `personalization`. Manifests from before the choice was made have none: 0.9.
    #[serde(default)]
    pub personalization: Option<f32>,
    /// The weight of the on-device per-category biases (`adapt.rs`) that `localrank-train` chose
    /// on validation, 0..=`adapt::MAX_WEIGHT`; absent or 0: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptation: Option<f32>,
    /// How the model was made (data, split, seed, metrics). Informational.
    #[serde(default)]
    pub training: serde_json::Value,
}

/// The one field read before the rest: which format the file is in (any JSON value: a version
/// that is not a number is named in the error like a missing one). Other fields are skipped.
#[derive(Deserialize)]
struct Versioned {
    #[serde(default)]
    format_version: Option<serde_json::Value>,
}

impl Manifest {
    /// Parses and checks a manifest: format version, config ranges, category count, weights
    /// format, and every file entry (confined path, size cap, sha256 syntax).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(Error::model(format!(
                "manifest.json is {} bytes, at most {MAX_MANIFEST_BYTES} are accepted",
                bytes.len()
            )));
        }
        // The version first, alone (another version may have another shape), then the manifest
        // straight from the bytes: through a `serde_json::Value` it was parsed and copied twice
        // per `create` (its 24 KB of training metrics included).
        let version: Versioned = serde_json::from_slice(bytes)
            .map_err(|e| Error::model(format!("manifest.json is not valid JSON: {e}")))?;
        let version = version.format_version.as_ref().and_then(serde_json::Value::as_u64);
        if version != Some(FORMAT_VERSION as u64) {
            return Err(Error::model(format!(
                "manifest.json format_version is {}, this build of localrank reads version {FORMAT_VERSION}",
                version.map_or("missing".to_string(), |v| v.to_string())
            )));
        }
        let manifest: Self = serde_json::from_slice(bytes)
            .map_err(|e| Error::model(format!("manifest.json is malformed: {e}")))?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// The checks of `parse` after decoding (also for a manifest built in code, e.g. by the
    /// exporter).
    pub fn validate(&self) -> Result<()> {
        self.config.validate().map_err(|e| match e {
            Error::Model(m) => Error::model(format!("manifest.json {m}")),
            other => other,
        })?;
        if self.config.categories != self.categories.len() + 1 {
            return Err(Error::model(format!(
                "manifest.json config.categories is {}, but categories lists {} names (expected names + 1: row 0 is unknown)",
                self.config.categories,
                self.categories.len()
            )));
        }
        if self.weights_format != WEIGHTS_FORMAT {
            return Err(Error::model(format!(
                "manifest.json weights_format is {:?}: this build reads only {WEIGHTS_FORMAT:?} (8-bit weights bound to their config)",
                shown(&self.weights_format)
            )));
        }
        let mut context_sizes = CONTEXT_SIZES;
        context_sizes[4] = self.config.categories;
        self.inputs.validate(EVENT_KINDS - 1, DWELL_BUCKETS, &context_sizes)?;
        if let Some(p) = self.personalization.filter(|p| !(0.0..=1.0).contains(p)) {
            return Err(Error::model(format!("manifest.json personalization is {p}, expected 0..=1")));
        }
        if let Some(w) = self.adaptation.filter(|w| !(0.0..=crate::adapt::MAX_WEIGHT).contains(w)) {
            return Err(Error::model(format!("manifest.json adaptation is {w}, expected 0..={}", crate::adapt::MAX_WEIGHT)));
        }
        self.files.iter().try_for_each(|(role, entry)| entry.validate(role))
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
        self.check_size(role, len)?;
        self.check_sha256(role, &digest())
    }

    /// The size half of `verify`: cheap, so callers check every file's size before hashing any.
    pub fn check_size(&self, role: &str, len: usize) -> Result<()> {
        let entry = self.file(role)?;
        if len as u64 != entry.bytes {
            return Err(Error::model(format!(
                "{role} file {} is {len} bytes, manifest.json says {} (truncated or wrong file?)",
                entry.path, entry.bytes
            )));
        }
        Ok(())
    }

    /// The digest half of `verify`: `digest` is the file's hex sha256.
    pub fn check_sha256(&self, role: &str, digest: &str) -> Result<()> {
        let entry = self.file(role)?;
        if digest != entry.sha256 {
            return Err(Error::model(format!(
                "{role} file {} has sha256 {}, manifest.json says {} (corrupted download?)",
                entry.path,
                shown(digest),
                entry.sha256
            )));
        }
        Ok(())
    }
}

impl FileEntry {
    fn validate(&self, role: &str) -> Result<()> {
        let at = || format!("manifest.json files[{:?}]", shown(role));
        check_path(&self.path).map_err(|why| {
            Error::model(format!("{}.path {:?} is refused: {why}", at(), shown(&self.path)))
        })?;
        if self.bytes > MAX_FILE_BYTES {
            return Err(Error::model(format!(
                "{}.bytes is {}: at most {MAX_FILE_BYTES} are accepted",
                at(),
                self.bytes
            )));
        }
        let hex = self.sha256.len() == 64 && self.sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !hex {
            return Err(Error::model(format!(
                "{}.sha256 {:?} is not 64 lowercase hex characters",
                at(),
                shown(&self.sha256)
            )));
        }
        Ok(())
    }
}

/// A path the page may fetch relative to the model directory and nothing else: segments of
/// `[A-Za-z0-9._-]` joined by '/', none empty, "." or "..". That leaves out absolute paths,
/// URLs with a scheme or host ("https:", "//"), backslashes, percent-escapes ("%2e%2e"), queries
/// and fragments, whatever the URL parser or server would make of them.
fn check_path(path: &str) -> std::result::Result<(), String> {
    if path.is_empty() || path.len() > MAX_PATH_BYTES {
        return Err(format!("its length is {} bytes, must be within 1..={MAX_PATH_BYTES}", path.len()));
    }
    for segment in path.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(format!("segment {segment:?}: paths are relative, without empty, \".\" or \"..\" segments"));
        }
        let odd = segment.chars().find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')));
        if let Some(c) = odd {
            return Err(format!("character {c:?}: only A-Z a-z 0-9 . _ - and '/' between segments"));
        }
    }
    Ok(())
}

/// At most 80 characters of a value from the file, for error messages (a path or role name of a
/// megabyte must not become a megabyte of error).
fn shown(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((end, _)) => format!("{}...", &s[..end]),
        None => s.to_string(),
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks `manifest_bytes` against a site's pin of the manifest it reviewed: 64 hex characters
/// (either case) or a Subresource Integrity value `"sha256-<base64>"`. Everything the model
/// runs is bound to the manifest (file sha256s, and the config through the weights' header),
/// so one pin covers the model directory.
pub fn sha256_matches(manifest_bytes: &[u8], expected: &str) -> Result<()> {
    let want = parse_pin(expected)?;
    let got: [u8; 32] = Sha256::digest(manifest_bytes).into();
    if got == want {
        return Ok(());
    }
    let got = match expected.trim().starts_with("sha256-") {
        true => format!("sha256-{}", base64(&got)),
        false => hex(&got),
    };
    Err(Error::model(format!(
        "manifest.json has sha256 {got}, the integrity pin says {} (the model directory changed since it was pinned)",
        shown(expected.trim())
    )))
}

/// The 32 bytes of a pin (see `sha256_matches`).
fn parse_pin(pin: &str) -> Result<[u8; 32]> {
    let pin = pin.trim();
    let malformed = |why: &str| {
        Error::input(format!(
            "integrity {:?} is malformed: {why} (expected 64 hex characters or \"sha256-<base64>\")",
            shown(pin)
        ))
    };
    if let Some(b64) = pin.strip_prefix("sha256-") {
        return base64_32(b64).ok_or_else(|| malformed("not the base64 of 32 bytes"));
    }
    if pin.starts_with("sha384-") || pin.starts_with("sha512-") {
        return Err(malformed("only sha256 pins are supported"));
    }
    if pin.len() != 64 || !pin.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed("not 64 hex characters"));
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        // ASCII only (checked above), so every slice falls on character boundaries.
        *o = u8::from_str_radix(&pin[2 * i..2 * i + 2], 16).map_err(|_| malformed("not 64 hex characters"))?;
    }
    Ok(out)
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Decodes the base64 of exactly 32 bytes: 43 characters plus an optional '=' (the standard or
/// the URL-safe alphabet, as browsers accept in SRI), the two spare bits zero. A dozen lines
/// instead of a dependency.
fn base64_32(s: &str) -> Option<[u8; 32]> {
    let s = s.strip_suffix('=').unwrap_or(s);
    if s.len() != 43 {
        return None;
    }
    let (mut out, mut bits, mut acc) = (Vec::with_capacity(32), 0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'-' => 62,
            b'_' => 63,
            _ => BASE64.iter().position(|&b| b == c)? as u32,
        };
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if acc != 0 {
        return None;
    }
    out.try_into().ok()
}

fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            let c = BASE64[(n >> (18 - 6 * i) & 63) as usize] as char;
            out.push(if i <= chunk.len() { c } else { '=' });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(version: u32) -> String {
        let config = serde_json::to_string(&ModelConfig::new(2)).unwrap();
        format!(
            r#"{{"format_version":{version},"name":"t","version":"0","config":{config},"weights_format":"lrq8",
            "inputs":{{"event":[2],"dwell":[0],"context":[[0],[0],[0],[0],[0],[0]],"query":false,"clock":"utc"}},
            "categories":["A"],"files":{{"weights":{{"path":"w.q8","bytes":3,"sha256":"{}"}}}}}}"#,
            sha256_hex(b"abc")
        )
    }

    #[test]
    fn wrong_format_version_is_named() {
        let err = Manifest::parse(manifest(99).as_bytes()).unwrap_err().to_string();
        assert!(err.contains("format_version is 99"), "{err}");
        // Read alone before the rest: a version of another type or none is named, not a JSON error.
        let quoted = manifest(FORMAT_VERSION).replacen(&format!(r#""format_version":{FORMAT_VERSION}"#), r#""format_version":"1""#, 1);
        let err = Manifest::parse(quoted.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("format_version is missing"), "{err}");
        let none = manifest(FORMAT_VERSION).replacen(&format!(r#""format_version":{FORMAT_VERSION},"#), "", 1);
        let err = Manifest::parse(none.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("format_version is missing"), "{err}");
        let broken = &manifest(FORMAT_VERSION)[..40];
        let err = Manifest::parse(broken.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("not valid JSON"), "{err}");
    }

    #[test]
    fn verify_catches_size_and_hash_mismatch() {
        let m = Manifest::parse(manifest(FORMAT_VERSION).as_bytes()).unwrap();
        assert!(m.verify("weights", b"abc").is_ok());
        assert!(m.verify("weights", b"abd").unwrap_err().to_string().contains("sha256"));
        assert!(m.verify("weights", b"ab").unwrap_err().to_string().contains("2 bytes"));
        assert!(m.verify("tokenizer", b"").unwrap_err().to_string().contains("tokenizer"));
    }

    #[test]
    fn base64_round_trips_and_rejects_non_canonical_text() {
        let digest: [u8; 32] = Sha256::digest(b"abc").into();
        let text = base64(&digest);
        // Known SRI value of "abc" (`openssl dgst -sha256 -binary | base64`).
        assert_eq!(text, "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
        assert_eq!(base64_32(&text), Some(digest));
        assert_eq!(base64_32(text.trim_end_matches('=')), Some(digest));
        assert_eq!(base64_32("ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"), Some(digest));
        assert_eq!(base64_32("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa1="), None, "spare bits set");
        assert_eq!(base64_32("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=="), None);
        assert_eq!(base64_32("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAF!0="), None);
    }
}
