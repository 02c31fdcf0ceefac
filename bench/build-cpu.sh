#!/usr/bin/env bash
# Bench-only build: the CPU-only localrank package (burn flex, no wgpu) with wasm SIMD, into
# bench/pkg-cpu/ (git-ignored). scripts/build-wasm (pkg/, CPU + WebGPU) is untouched.
#   - no `webgpu` feature: the crate's default features are `cpu` only
#   - RUSTFLAGS +simd128 and burn's `simd` feature (burn-flex's SIMD kernels, gemm's wasm SIMD)
#   - release profile overridden from the environment (Cargo.toml untouched): fat LTO, 1 CGU
#   - wasm-opt from npm's `binaryen` (Debian's breaks the output), run by us, not wasm-pack
# Its own target dir (bench/target) so it never invalidates the main build's cache.
#   bench/build-cpu.sh                   -> bench/pkg-cpu/    (speed: opt-level 3, wasm-opt -O3)
#   LOCALRANK_OPT=z bench/build-cpu.sh   -> bench/pkg-cpu-z/  (size: opt-level "z", wasm-opt -Oz)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source scripts/lib.sh
ensure_wasm_tools
OUT=$ROOT/bench/pkg-cpu
SRC=$ROOT
OPT=${LOCALRANK_OPT:-3}
# LOCALRANK_OPT=z: size-optimised variant, into <out>-z/ (opt-level "z", wasm-opt -Oz)
[ "$OPT" = z ] && OUT=$OUT-z
export CARGO_TARGET_DIR="$ROOT/bench/target"
export RUSTFLAGS="-C target-feature=+simd128"
export CARGO_PROFILE_RELEASE_LTO=fat
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
export CARGO_PROFILE_RELEASE_OPT_LEVEL="$OPT"
step "wasm-pack build (CPU only, +simd128, burn/simd, opt-level $OPT, fat LTO) -> $OUT"
(cd "$SRC" && wasm-pack build --mode no-install --target web --release --no-opt \
  --out-dir "$OUT" --out-name localrank . -- --features burn/simd)
WASM_OPT=$ROOT/node_modules/binaryen/bin/wasm-opt
# A copy with the name section, for bench/profile.mjs (wasm-opt without -g drops the names).
mkdir -p "$ROOT/bench/target/prof-$(basename "$OUT")"
cp "$OUT/localrank.js" "$OUT/localrank_bg.wasm" "$ROOT/bench/target/prof-$(basename "$OUT")/"
if [ -x "$WASM_OPT" ]; then
  step "wasm-opt -O$([ "$OPT" = z ] && echo z || echo 3) (npm binaryen $("$WASM_OPT" --version))"
  "$WASM_OPT" "$OUT/localrank_bg.wasm" -o "$OUT/localrank_bg.opt.wasm" \
    "-O$([ "$OPT" = z ] && echo z || echo 3)" --enable-simd --enable-reference-types --enable-bulk-memory \
    --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --enable-multivalue
  mv "$OUT/localrank_bg.opt.wasm" "$OUT/localrank_bg.wasm"
else
  echo "no $WASM_OPT (npm ci): wasm-opt skipped" >&2
fi
ls -l "$OUT"/*.wasm
