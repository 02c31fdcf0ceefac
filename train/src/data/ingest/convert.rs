//! `convert-examples`: the two real example data sets, as loaded by `movielens.rs` and
//! `instacart.rs` from their pinned PyPI wheels, written in the input format of this module, so
//! the documented path (`validate`, `ingest`) is the path the examples take.
//!
//! * MovieLens-100k: a rating is a `select_item` at the rating's Unix second; the catalogue has
//!   the title (with year) and the genres as a category path.
//! * Instacart sample: an order line is a `purchase`; timestamps are the loader's reconstructed
//!   clock (real weekday and hour, see `instacart.rs`), written as ISO 8601; the sample has no
//!   product names, so titles are "product <id>" as in the loader. user_id is the loader's index.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray, TimestampSecondArray};

use crate::data::movielens::Data;

fn write_csv(path: &Path, columns: Vec<(&str, ArrayRef)>) -> Result<(), String> {
    let batch = RecordBatch::try_from_iter(columns).map_err(|e| e.to_string())?;
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut w = arrow_csv::Writer::new(std::io::BufWriter::new(file));
    w.write(&batch).map_err(|e| format!("{}: {e}", path.display()))
}

fn strings(v: impl IntoIterator<Item = String>) -> ArrayRef {
    Arc::new(v.into_iter().map(Some).collect::<StringArray>())
}

/// Writes `dir/events.csv` and `dir/catalogue.csv`; `iso` writes timestamps as ISO 8601.
fn write_example(dir: &Path, data: &Data, event: &str, iso: bool) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let p = &data.products;
    write_csv(&dir.join("catalogue.csv"), vec![
        ("item_id", strings(p.iter().map(|p| p.id.clone()))),
        ("title", strings(p.iter().map(|p| p.title.clone()))),
        ("category", strings(p.iter().map(|p| p.category()))),
    ])?;
    let e = &data.events;
    let time: ArrayRef = if iso {
        Arc::new(TimestampSecondArray::from(e.iter().map(|e| e.time).collect::<Vec<_>>()).with_timezone("+00:00"))
    } else {
        strings(e.iter().map(|e| e.time.to_string()))
    };
    write_csv(&dir.join("events.csv"), vec![
        ("user_id", strings(e.iter().map(|e| e.user.to_string()))),
        ("item_id", strings(e.iter().map(|e| p[e.item].id.clone()))),
        ("event", strings(e.iter().map(|_| event.to_string()))),
        ("timestamp", time),
    ])
}

/// Both examples under `out/movielens-100k/` and `out/instacart-sample/`.
pub fn run(out: &Path) -> Result<(), String> {
    let src = crate::data::fetch::sources()?;
    let ml = crate::data::movielens::load(&src.inter, &src.item, Some(crate::data::movielens::DEFAULT_TIE_SEED))?;
    write_example(&out.join("movielens-100k"), &ml, "select_item", false)?;
    let ic = crate::data::instacart::load()?;
    write_example(&out.join("instacart-sample"), &ic.data, "purchase", true)?;
    eprintln!("convert-examples: wrote {}/{{movielens-100k,instacart-sample}}/{{events,catalogue}}.csv", out.display());
    Ok(())
}

pub fn default_dir() -> std::path::PathBuf {
    crate::data::fetch::cache_dir().join("examples")
}
