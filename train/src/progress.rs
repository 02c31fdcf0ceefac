//! Progress lines for steps that can run for minutes (a catalogue's text embeddings, an epoch
//! over a large log): at most one line per `EVERY`, with the rate and the time left, so that a
//! long run is never silent (issue 24: the text step of a 121,206-product catalogue ran 532 s
//! without a line).

use std::time::{Duration, Instant};

/// At most one line per this interval.
const EVERY: Duration = Duration::from_secs(20);

pub struct Progress {
    label: String,
    total: usize,
    started: Instant,
    last: Instant,
}

impl Progress {
    pub fn new(label: impl Into<String>, total: usize) -> Self {
        let now = Instant::now();
        Self { label: label.into(), total, started: now, last: now }
    }

    /// `done` of `total` units finished; prints when `EVERY` has passed since the last line.
    pub fn tick(&mut self, done: usize, unit: &str) {
        if self.last.elapsed() < EVERY || done >= self.total {
            return;
        }
        self.last = Instant::now();
        eprintln!("{}", self.line(done, unit, self.started.elapsed().as_secs_f64()));
    }

    fn line(&self, done: usize, unit: &str, secs: f64) -> String {
        let rate = done as f64 / secs.max(1e-9);
        let left = (self.total - done.min(self.total)) as f64 / rate.max(1e-9);
        format!("{}: {done}/{} {unit} ({rate:.0} {unit}/s, ~{left:.0}s left)", self.label, self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_gives_the_rate_and_the_time_left() {
        let p = Progress::new("text", 1000);
        assert_eq!(p.line(250, "texts", 10.0), "text: 250/1000 texts (25 texts/s, ~30s left)");
    }
}
