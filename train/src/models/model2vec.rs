//! The student's token table distilled from the teacher's text model, the model2vec recipe:
//! pass every vocabulary token through all-MiniLM-L6-v2 on its own, reduce the 384 dimensions
//! to the student's width with PCA, weight each token by a Zipf estimate of its frequency (SIF:
//! frequent tokens such as "(" or "the" say little about a product), and scale to the student's
//! initial magnitude. The student starts from this table and fine-tunes it; tokens that never
//! occur in the training titles keep their distilled rows, so an unseen title still gets a
//! meaningful vector from what ships (the tokenizer and this table, 8-bit like the rest).

use crate::models::bert::TextModel;

/// SIF coefficient (model2vec's default): weight = a / (a + p(token)).
const SIF: f64 = 1e-3;
/// First id of BERT's frequency-ordered word pieces; lower ids are special tokens, [unused]
/// slots and single characters, treated as the most frequent.
const FIRST_WORDPIECE: usize = 1996;
/// Mean row norm of the result: the size of a trained student's token rows, well above the
/// N(0, 0.02) of a fresh table, so the distilled structure is not washed out by the first steps.
const MEAN_NORM: f64 = 0.5;
/// Subspace iterations for the PCA (the top eigen-gaps of MiniLM token states are wide).
const PCA_ITERATIONS: usize = 60;

/// A `[rows, dim]` table (row-major) for the student's `tokens` embedding: row 0 is padding
/// (zeros), row 1 + id is token `id`. `rows` must be the vocabulary size + 1.
pub fn token_table(text: &TextModel, rows: usize, dim: usize) -> Result<Vec<f32>, String> {
    let (vocab, states) = text.token_states()?;
    if rows != vocab + 1 {
        return Err(format!("model2vec: the student has {rows} token rows, the vocabulary {vocab} tokens (+1 padding)"));
    }
    let width = states.len() / vocab;
    let rows_f64: Vec<Vec<f64>> = states.chunks(width).map(|r| r.iter().map(|&v| v as f64).collect()).collect();
    let reduced = pca(&rows_f64, dim);
    let weighted: Vec<Vec<f64>> = reduced
        .into_iter()
        .enumerate()
        .map(|(id, row)| {
            let w = sif_weight(id, vocab);
            row.into_iter().map(|v| v * w).collect()
        })
        .collect();
    let mean_norm = weighted.iter().map(|r| r.iter().map(|v| v * v).sum::<f64>().sqrt()).sum::<f64>() / vocab as f64;
    let scale = MEAN_NORM / mean_norm.max(1e-12);
    let mut table = vec![0.0f32; dim];
    table.extend(weighted.iter().flat_map(|r| r.iter().map(|v| (v * scale) as f32)));
    Ok(table)
}

/// SIF weight of token `id` under a Zipf law over the word pieces' id order.
fn sif_weight(id: usize, vocab: usize) -> f64 {
    let pieces = vocab.saturating_sub(FIRST_WORDPIECE).max(1);
    let harmonic = (pieces as f64).ln() + 0.5772;
    let rank = id.saturating_sub(FIRST_WORDPIECE - 1).max(1) as f64;
    let p = 1.0 / (rank * harmonic);
    SIF / (SIF + p)
}

/// Rows projected on the top `dim` principal directions (rows centred first).
fn pca(rows: &[Vec<f64>], dim: usize) -> Vec<Vec<f64>> {
    let width = rows[0].len();
    let n = rows.len() as f64;
    let mean: Vec<f64> = (0..width).map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n).collect();
    let centred: Vec<Vec<f64>> = rows.iter().map(|r| r.iter().zip(&mean).map(|(v, m)| v - m).collect()).collect();
    let mut cov = vec![vec![0.0; width]; width];
    for r in &centred {
        for i in 0..width {
            let ri = r[i];
            for (c, rj) in cov[i].iter_mut().zip(r) {
                *c += ri * rj;
            }
        }
    }
    let basis = top_eigenvectors(&cov, dim);
    centred.iter().map(|r| basis.iter().map(|b| dot(r, b)).collect()).collect()
}

/// Orthonormal basis of the top-`k` eigenspace of a symmetric matrix (subspace iteration).
fn top_eigenvectors(m: &[Vec<f64>], k: usize) -> Vec<Vec<f64>> {
    let n = m.len();
    // A fixed, deterministic start: unit vectors spread over the coordinates.
    let mut q: Vec<Vec<f64>> = (0..k).map(|i| (0..n).map(|j| (((i + 1) * (j + 3)) % 7) as f64 - 3.0).collect()).collect();
    orthonormalise(&mut q);
    for _ in 0..PCA_ITERATIONS {
        q = q.iter().map(|v| m.iter().map(|row| dot(row, v)).collect()).collect();
        orthonormalise(&mut q);
    }
    q
}

/// Modified Gram-Schmidt, in place.
fn orthonormalise(vs: &mut [Vec<f64>]) {
    for i in 0..vs.len() {
        for j in 0..i {
            let d = dot(&vs[i], &vs[j]);
            let (head, tail) = vs.split_at_mut(i);
            for (a, b) in tail[0].iter_mut().zip(&head[j]) {
                *a -= d * b;
            }
        }
        let norm = dot(&vs[i], &vs[i]).sqrt().max(1e-300);
        vs[i].iter_mut().for_each(|a| *a /= norm);
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_finds_the_dominant_direction() {
        // Points along (1, 1, 0) with small noise in z: the first component is that diagonal.
        let rows: Vec<Vec<f64>> = (0..50).map(|i| {
            let t = i as f64 - 25.0;
            vec![t, t, ((i * 7) % 5) as f64 * 0.01]
        }).collect();
        let basis = top_eigenvectors(&{
            let n = rows.len();
            let mut c = vec![vec![0.0; 3]; 3];
            for r in &rows { for i in 0..3 { for j in 0..3 { c[i][j] += r[i] * r[j] / n as f64; } } }
            c
        }, 1);
        let s = std::f64::consts::FRAC_1_SQRT_2;
        assert!((dot(&basis[0], &[s, s, 0.0]).abs() - 1.0).abs() < 1e-9, "{:?}", basis[0]);
        let reduced = pca(&rows, 2);
        assert_eq!(reduced.len(), 50);
        assert_eq!(reduced[0].len(), 2);
    }

    #[test]
    fn frequent_tokens_weigh_less() {
        let vocab = 30522;
        assert!(sif_weight(1010, vocab) < 0.05, "punctuation");
        assert!(sif_weight(1996, vocab) < sif_weight(5000, vocab));
        assert!(sif_weight(29000, vocab) > 0.99);
    }
}
