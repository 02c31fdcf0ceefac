// A wasm SIMD kernel for the machine's measured f32 throughput: 8 independent f32x4
// multiply-add chains (wasm SIMD has no FMA: one f32x4.mul + one f32x4.add = 8 FLOPs) over a
// 4 KiB block that stays in L1, i.e. what a well-blocked matmul inner loop can reach at best.
// Assembled from the text below with npm's binaryen; run in the benchmark's Chromium.
import binaryen from 'binaryen';

const lanes = [...Array(8).keys()];
const WAT = `(module
  (memory (export "mem") 1)
  (func (export "run") (param $iters i32) (result f32)
    (local $p i32) ${lanes.map((i) => `(local $a${i} v128)`).join(' ')} (local $y v128)
    (local.set $y (f32x4.splat (f32.const 1.0001)))
    (block $done (loop $outer
      (br_if $done (i32.eqz (local.get $iters)))
      (local.set $p (i32.const 0))
      (loop $inner
        ${lanes.map((i) => `(local.set $a${i} (f32x4.add (local.get $a${i}) (f32x4.mul (v128.load offset=${i * 16} (local.get $p)) (local.get $y))))`).join('\n        ')}
        (local.set $p (i32.add (local.get $p) (i32.const 128)))
        (br_if $inner (i32.lt_u (local.get $p) (i32.const 4096))))
      (local.set $iters (i32.sub (local.get $iters) (i32.const 1)))
      (br $outer)))
    (f32x4.extract_lane 0 ${lanes.slice(1).reduce((e, i) => `(f32x4.add ${e} (local.get $a${i}))`, '(local.get $a0)')})))`;
/** FLOPs of one `run(1)`: 32 inner iterations x 8 vectors x 4 lanes x 2. */
export const FLOPS_PER_ITER = (4096 / 128) * 8 * 4 * 2;

export function simdKernel() {
  const mod = binaryen.parseText(WAT);
  mod.setFeatures(binaryen.Features.All);
  if (!mod.validate()) throw new Error('throughput kernel does not validate');
  const bytes = mod.emitBinary();
  mod.dispose();
  return Buffer.from(bytes).toString('base64');
}
