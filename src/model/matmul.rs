//! The matrix products of `fused.rs`, for its shapes: a few dozen rows by 32 to 192 columns.
//!
//! At these sizes a general kernel (gemm, which burn's flex backend calls) spends much of its
//! time packing operands and on edge tiles: the profile measured ~32 GFLOP/s in the browser.
//! Here the right operand is read in place, row by row (a linear layer's weights `[in, out]`,
//! the values of attention, the transposed keys), and each micro-tile keeps `R` rows by 8
//! columns of the result in registers: with wasm SIMD, two 4-lane vectors per row. The loops
//! are written so that LLVM vectorises them on any target (wasm `simd128`, SSE, NEON).

/// Rows of the left operand per micro-tile.
const MR: usize = 4;
/// Columns of the right operand per micro-tile.
const NR: usize = 8;

/// A row-major matrix in a slice: row `i` starts at `data[i * stride]`.
#[derive(Clone, Copy)]
pub(super) struct Rows<'a> {
    pub data: &'a [f32],
    pub stride: usize,
}

impl<'a> Rows<'a> {
    pub fn new(data: &'a [f32], stride: usize) -> Self {
        Self { data, stride }
    }

    /// Panics unless `[r, c]` lies inside the slice (a bug in the caller, never bad input).
    fn check(&self, r: usize, c: usize) {
        let len = self.data.len();
        assert!(r == 0 || c == 0 || (c <= self.stride && (r - 1) * self.stride + c <= len), "matmul: out of bounds");
    }
}

/// `c[m, n] = a[m, k] b[k, n]`, or `+=` when `accumulate`; `c`'s rows are `ldc` apart.
#[allow(clippy::too_many_arguments)]
pub(super) fn matmul(m: usize, n: usize, k: usize, a: Rows, b: Rows, c: &mut [f32], ldc: usize, accumulate: bool) {
    a.check(m, k);
    b.check(k, n);
    Rows::new(c, ldc).check(m, n);
    if m == 0 || n == 0 {
        return;
    }
    let mut i = 0;
    while i < m {
        let rows = (m - i).min(MR);
        let at = Tile { a: a.data[i * a.stride..].as_ptr(), lda: a.stride, b: b.data.as_ptr(), ldb: b.stride, k };
        let c = &mut c[i * ldc..];
        // Safety: the checks above keep rows i..i + rows of `a` and `c` and rows 0..k of `b`,
        // columns 0..k of `a` and 0..n of `b` and `c`, inside their slices.
        unsafe {
            match rows {
                4 => strip::<4>(at, n, c.as_mut_ptr(), ldc, accumulate),
                3 => strip::<3>(at, n, c.as_mut_ptr(), ldc, accumulate),
                2 => strip::<2>(at, n, c.as_mut_ptr(), ldc, accumulate),
                _ => strip::<1>(at, n, c.as_mut_ptr(), ldc, accumulate),
            }
        }
        i += rows;
    }
}

/// The operands of one strip of `R` rows: `a` at its first row, `b` at row 0, column 0.
#[derive(Clone, Copy)]
struct Tile {
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    k: usize,
}

/// `R` rows of the result, all `n` columns: 8 at a time, then 4, then one.
///
/// # Safety
/// `t`'s `R` rows of `k` values, `k` rows of `n` values of `b`, and `R` rows of `n` values at
/// `c` (`ldc` apart) must be readable (and `c` writable).
#[inline(always)]
unsafe fn strip<const R: usize>(t: Tile, n: usize, c: *mut f32, ldc: usize, accumulate: bool) {
    let mut j = 0;
    unsafe {
        while j + NR <= n {
            tile::<R, NR>(Tile { b: t.b.add(j), ..t }, c.add(j), ldc, accumulate);
            j += NR;
        }
        while j + 4 <= n {
            tile::<R, 4>(Tile { b: t.b.add(j), ..t }, c.add(j), ldc, accumulate);
            j += 4;
        }
        while j < n {
            tile::<R, 1>(Tile { b: t.b.add(j), ..t }, c.add(j), ldc, accumulate);
            j += 1;
        }
    }
}

/// One `R` x `C` block of the result, its sums in registers over the whole `k`.
///
/// # Safety
/// As `strip`, for `C` columns.
#[inline(always)]
unsafe fn tile<const R: usize, const C: usize>(t: Tile, c: *mut f32, ldc: usize, accumulate: bool) {
    let mut acc = [[0.0f32; C]; R];
    unsafe {
        if accumulate {
            for (r, acc) in acc.iter_mut().enumerate() {
                *acc = c.add(r * ldc).cast::<[f32; C]>().read_unaligned();
            }
        }
        for p in 0..t.k {
            let b = t.b.add(p * t.ldb).cast::<[f32; C]>().read_unaligned();
            for (r, acc) in acc.iter_mut().enumerate() {
                let a = *t.a.add(r * t.lda + p);
                for (s, b) in acc.iter_mut().zip(&b) {
                    *s += a * b;
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            c.add(r * ldc).cast::<[f32; C]>().write_unaligned(*acc);
        }
    }
}

/// Sum with eight partial sums (they vectorise; one running sum would not).
pub(super) fn sum(a: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let a8 = a.chunks_exact(8);
    let tail: f32 = a8.remainder().iter().sum();
    for x in a8 {
        for i in 0..8 {
            acc[i] += x[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Dot product with eight partial sums (they vectorise; one running sum would not).
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8.remainder().iter().zip(b8.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a8.zip(b8) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The product by definition, in f64.
    fn reference(m: usize, n: usize, k: usize, a: &[f32], lda: usize, b: &[f32], ldb: usize) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * lda + p] as f64 * b[p * ldb + j] as f64).sum();
            }
        }
        c
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        // A small LCG: reproducible values in [-1, 1).
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
            })
            .collect()
    }

    #[test]
    fn every_edge_tile_matches_the_definition() {
        // Rows 1..=9 cover every strip height; columns 1..=21 every column tail (8s, a 4, ones).
        for m in 1..=9 {
            for n in 1..=21 {
                let k = 13;
                let (lda, ldb, ldc) = (k + 3, n + 5, n + 2);
                let (a, b) = (values(m * lda, 1), values(k * ldb, 2));
                let expected = reference(m, n, k, &a, lda, &b, ldb);
                for accumulate in [false, true] {
                    let start = values(m * ldc, 3);
                    let mut c = start.clone();
                    matmul(m, n, k, Rows::new(&a, lda), Rows::new(&b, ldb), &mut c, ldc, accumulate);
                    for i in 0..m {
                        for j in 0..n {
                            let want = expected[i * n + j] + if accumulate { start[i * ldc + j] as f64 } else { 0.0 };
                            let got = c[i * ldc + j] as f64;
                            assert!((got - want).abs() < 1e-5, "m {m} n {n} ({i}, {j}): {got} vs {want}");
                        }
                        // The gap between rows of `c` is not written.
                        for j in n..ldc.min(c.len() - i * ldc) {
                            assert_eq!(c[i * ldc + j], start[i * ldc + j], "m {m} n {n}: wrote ({i}, {j})");
                        }
                    }
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "matmul: out of bounds")]
    fn a_too_short_operand_is_refused() {
        let (a, b, mut c) = (vec![0.0; 4 * 8 - 1], vec![0.0; 8 * 8], vec![0.0; 4 * 8]);
        matmul(4, 8, 8, Rows::new(&a, 8), Rows::new(&b, 8), &mut c, 8, false);
    }
}
