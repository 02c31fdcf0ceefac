//! Inference on every core: the text model over a catalogue, its vocabulary, and each epoch's
//! validation scoring, split into chunks that the machine's threads take in turn; results keep
//! the input order, so the output is the same at any thread count.
//!
//! Training itself stays on one thread: burn-flex draws dropout (and initial weights) from one
//! process-wide generator, so batches trained on several threads would make a seed's result
//! depend on thread timing, and `--resume` could not promise an uninterrupted run's result.
//! burn-flex's own rayon kernels do not help at the students' sizes either: one MovieLens epoch
//! took 10.53 s on 1 thread and 10.40 s on 2 (RAYON_NUM_THREADS, 2026-12-06, 2-core machine).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::progress::Progress;

/// Threads to use: `LOCALRANK_THREADS`, else every core.
pub fn threads() -> usize {
    std::env::var("LOCALRANK_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// `f` of every `chunk`-sized piece of `items`, in order, computed on `threads()` threads, with
/// progress lines (`label`, in `unit`s of items) when `label` is not empty.
pub fn map_chunks<T: Sync, R: Send>(items: &[T], chunk: usize, label: &str, unit: &str, f: impl Fn(&[T]) -> R + Sync) -> Vec<R> {
    let pieces: Vec<&[T]> = items.chunks(chunk.max(1)).collect();
    let results: Vec<Mutex<Option<R>>> = pieces.iter().map(|_| Mutex::new(None)).collect();
    let (next, done) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let progress = Mutex::new(Progress::new(label, items.len()));
    std::thread::scope(|scope| {
        for _ in 0..threads().min(pieces.len()).max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(piece) = pieces.get(i) else { break };
                let r = f(piece);
                *results[i].lock().expect("no poisoned result") = Some(r);
                let n = done.fetch_add(piece.len(), Ordering::Relaxed) + piece.len();
                if !label.is_empty() {
                    progress.lock().expect("progress").tick(n, unit);
                }
            });
        }
    });
    results.into_iter().map(|r| r.into_inner().expect("no poisoned result").expect("every chunk computed")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_input_order() {
        let items: Vec<u32> = (0..1000).collect();
        let sums = map_chunks(&items, 7, "", "", |c| c.iter().sum::<u32>());
        let expected: Vec<u32> = items.chunks(7).map(|c| c.iter().sum()).collect();
        assert_eq!(sums, expected);
    }
}
