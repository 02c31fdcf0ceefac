# Shared helpers for scripts/*: install what is missing, at pinned versions, and say so.
# Versions here must match Cargo.lock (wasm-bindgen) and are the only place they are pinned.
WASM_BINDGEN_VERSION=0.2.130
WASM_PACK_VERSION=0.15.1

step() { printf '\n==> %s\n' "$*" >&2; }

ensure_wasm_tools() {
  export PATH="$HOME/.cargo/bin:$PATH"
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    step "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
  if ! wasm-pack --version 2>/dev/null | grep -q "$WASM_PACK_VERSION"; then
    step "cargo install wasm-pack $WASM_PACK_VERSION"
    cargo install wasm-pack --version "$WASM_PACK_VERSION"
  fi
  # Without --locked: a crate its lock file names is missing from the registry.
  if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
    step "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION"
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
  fi
}

ensure_npm_deps() {
  if [ ! -d node_modules/playwright-core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    step "npm ci"
    npm ci --no-audit --no-fund
  fi
}

ensure_chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    step "apt-get install chromium chromium-driver"
    local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver
  fi
}

# Mesa's lavapipe: a Vulkan device on the CPU, so that scripts/test-gpu trains `--device gpu`
# (burn's wgpu backend) on a machine without a GPU, as SwiftShader serves WebGPU to the browser
# tests (train/src/models/trainer.rs, the_student_trains_to_the_same_model_on_the_gpu).
ensure_vulkan() {
  if ! ls /usr/share/vulkan/icd.d/lvp_icd.*.json >/dev/null 2>&1; then
    step "apt-get install libvulkan1 mesa-vulkan-drivers (lavapipe)"
    local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends libvulkan1 mesa-vulkan-drivers
  fi
}

# Reads build $1 of wasm-pack.toml ([builds.cpu] or [builds.webgpu]) and exports what cargo and
# scripts/build-wasm need for it: CARGO_TARGET_DIR, RUSTFLAGS, the release profile overrides,
# and WASM_FEATURES, WASM_OUT_DIR, WASM_OUT_NAME, WASM_TARGET, WASM_OPT_FLAGS, WASM_TARGET_DIR.
wasm_build_env() {
  local line
  line=$(python3 - "$1" <<'PY'
import shlex, sys, tomllib
c = tomllib.load(open("wasm-pack.toml", "rb"))
b = c["builds"][sys.argv[1]]
env = {
    "WASM_TARGET": c["target"], "WASM_OUT_NAME": c["out_name"], "WASM_OUT_DIR": b["out_dir"],
    "WASM_FEATURES": ",".join(b["features"]), "WASM_OPT_FLAGS": b["wasm_opt"],
    "WASM_TARGET_DIR": b["target_dir"], "RUSTFLAGS": b["rustflags"],
    "CARGO_PROFILE_RELEASE_LTO": str(b["lto"]).lower(),
    "CARGO_PROFILE_RELEASE_CODEGEN_UNITS": str(b["codegen_units"]),
    "CARGO_PROFILE_RELEASE_OPT_LEVEL": str(b["opt_level"]),
    # wasm32 cannot unwind; say so instead of relying on the target's default (same bytes).
    "CARGO_PROFILE_RELEASE_PANIC": "abort",
}
print(" ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()))
PY
)
  eval "export $line"
  export CARGO_TARGET_DIR="$PWD/$WASM_TARGET_DIR"
}
