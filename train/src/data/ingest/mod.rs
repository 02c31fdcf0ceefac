//! A storefront's own files as training input (issue 8): an events log and a catalogue in CSV,
//! JSON lines or Parquet, streamed through arrow-rs readers in fixed-size batches.
//!
//! `validate` checks both files and lists every problem class with counts and examples;
//! `load` builds the pipeline's `Data` (`movielens.rs` structs) from them, skipping and
//! counting the rows `validate` would flag. Formats: docs/training.md, "Training on your own logs".

pub mod catalogue;
pub mod cli;
pub mod convert;
pub mod events;
pub mod table;
mod utf8;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;

/// Ingestion reports progress every this many usable event rows.
const PROGRESS_ROWS: usize = 1_000_000;

/// Examples kept per problem class.
const EXAMPLES: usize = 3;

/// One kind of defect in one file.
#[derive(Default, Debug)]
pub struct Class {
    pub count: usize,
    pub examples: Vec<String>,
}

/// Problems of one file, by class, with the rows read and the rows skipped because of them.
#[derive(Default, Debug)]
pub struct Problems {
    pub classes: BTreeMap<&'static str, Class>,
    pub rows: usize,
    pub skipped: usize,
}

impl Problems {
    /// Counts one problem; the example text is built only while examples are still wanted.
    pub fn add(&mut self, class: &'static str, example: impl FnOnce() -> String) {
        let c = self.classes.entry(class).or_default();
        c.count += 1;
        if c.examples.len() < EXAMPLES {
            c.examples.push(example());
        }
    }

    #[cfg(test)]
    pub fn count(&self, class: &str) -> usize {
        self.classes.get(class).map_or(0, |c| c.count)
    }

    pub fn render(&self, name: &str) -> String {
        let mut out = format!("{name}: {} rows read, {} skipped\n", self.rows, self.skipped);
        for (class, c) in &self.classes {
            out += &format!("  {class}: {}\n", c.count);
            for e in &c.examples {
                out += &format!("    {e}\n");
            }
        }
        out
    }
}

/// What `validate` found in both files.
pub struct Report {
    pub catalogue: Problems,
    pub events: Problems,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.catalogue.classes.is_empty() && self.events.classes.is_empty()
    }

    pub fn render(&self) -> String {
        format!("{}{}", self.catalogue.render("catalogue"), self.events.render("events"))
    }
}

/// Checks the catalogue, then the events against it, reading each file once in batches.
pub fn validate(events: &Path, catalogue: &Path) -> Result<Report, String> {
    let mut cat_problems = Problems::default();
    let cat = catalogue::read(catalogue, &mut cat_problems)?;
    let mut ev_problems = Problems::default();
    events::scan(events, &cat, &mut ev_problems, |_| {})?;
    Ok(Report { catalogue: cat_problems, events: ev_problems })
}

/// "found: a, b, c" for a missing-column message.
fn found(columns: &[String]) -> String {
    if columns.is_empty() { "no columns".into() } else { format!("found: {}", columns.join(", ")) }
}

/// Shortens a value for an error message.
fn shown(v: &str) -> String {
    let mut s: String = v.chars().take(40).collect();
    if s.len() < v.len() {
        s.push('…');
    }
    format!("{s:?}")
}

/// Peak resident memory of this process (Linux `VmHWM`), in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The pipeline's input built from a storefront's files, and what was left out.
pub struct Loaded {
    pub data: crate::data::movielens::Data,
    /// The files' user (or session) id of each `Interaction::user` index.
    pub users: Vec<String>,
    /// `search` events without an item: valid, but the item sequence has no place for them.
    pub searches: usize,
    /// Usable events per kind, in `EventKind::NAMES` order. Every event with an item is one
    /// step of the item sequence, with its kind as the model's event input.
    pub kinds: [usize; 5],
    pub report: Report,
}

/// Streams both files into `Data`: products in catalogue order, events sorted by time (ties in
/// the file's order), users
/// numbered in order of appearance. Memory grows with the catalogue, the users and the usable
/// events (24 bytes each), not with the file: the file is read in `table::BATCH`-row batches.
pub fn load(events: &Path, catalogue: &Path) -> Result<Loaded, String> {
    let mut cat_problems = Problems::default();
    let cat = catalogue::read(catalogue, &mut cat_problems)?;
    let mut ev_problems = Problems::default();
    let mut user_index: std::collections::HashMap<String, u32> = Default::default();
    let (mut users, mut out, mut searches, mut kinds) = (Vec::new(), Vec::new(), 0, [0; 5]);
    let started = std::time::Instant::now();
    events::scan(events, &cat, &mut ev_problems, |row| {
        kinds[row.kind as usize] += 1;
        let usable: usize = kinds.iter().sum();
        if usable % PROGRESS_ROWS == 0 {
            let s = started.elapsed().as_secs_f64();
            eprintln!("{}: {usable} usable rows read ({:.0} rows/s)", events.display(), usable as f64 / s.max(1e-9));
        }
        let Some(item) = row.item else {
            searches += 1;
            return;
        };
        let user = *user_index.entry(row.user.to_string()).or_insert_with(|| {
            users.push(row.user.to_string());
            users.len() as u32 - 1
        });
        let mut event = crate::data::movielens::Interaction::of_kind(row.kind, user, item, row.time);
        event.context = row.context;
        out.push(event);
    })?;
    // Stable: events of one user in the same second keep the log's row order.
    out.sort_by_key(|e| (e.time, e.user));
    let categories = crate::data::movielens::genre_vocabulary(&cat.products);
    let data = crate::data::movielens::Data { products: cat.products, events: out, categories };
    Ok(Loaded { data, users, searches, kinds, report: Report { catalogue: cat_problems, events: ev_problems } })
}
