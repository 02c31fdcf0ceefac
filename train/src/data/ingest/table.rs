//! Opens an input file as a stream of Arrow record batches, every wanted column as text.
//!
//! The format comes from the extension: `.csv`, `.jsonl`/`.ndjson`/`.json` (JSON lines),
//! `.parquet`. Batches hold `BATCH` rows, so memory stays flat however long the log is.
//! Columns are read (CSV, JSON) or cast (Parquet) as UTF-8 text and checked by `events.rs` /
//! `catalogue.rs`: that is where a bad value gets its line, column and expectation.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::{RecordBatch, StringArray};
use arrow_schema::{ArrowError, DataType, Field, Schema};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::utf8::{BadByte, Repair};

pub const BATCH: usize = 64 * 1024;

type Batches = Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>>>;

pub struct Table {
    pub path: PathBuf,
    /// Every column of the file, in file order (for "missing column" messages).
    pub columns: Vec<String>,
    /// Line of the first data row (CSV 2, JSON lines 1); `None` for Parquet (rows, not lines).
    /// Also tells CSV (2) apart, whose repaired bytes know their column.
    first_line: Option<usize>,
    batches: Batches,
    pub bad_bytes: Option<Arc<Mutex<Vec<BadByte>>>>,
}

/// One batch: the wanted columns (None where the file lacks one) and the batch's first row.
pub struct Chunk {
    pub columns: Vec<Option<StringArray>>,
    pub rows: usize,
    pub first_row: usize,
}

fn err(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", path.display())
}

/// All `names` as nullable text columns.
fn text_schema(names: &[String]) -> Arc<Schema> {
    Arc::new(Schema::new(names.iter().map(|n| Field::new(n, DataType::Utf8, true)).collect::<Vec<_>>()))
}

fn utf8_reader(path: &Path) -> Result<Repair<File>, String> {
    Ok(Repair::new(File::open(path).map_err(|e| err(path, e))?))
}

fn open_csv(path: &Path) -> Result<Table, String> {
    let format = arrow_csv::reader::Format::default().with_header(true);
    let (schema, _) = format.infer_schema(utf8_reader(path)?, Some(0)).map_err(|e| err(path, e))?;
    let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let reader = utf8_reader(path)?;
    let bad_bytes = Some(reader.found.clone());
    let batches = arrow_csv::ReaderBuilder::new(text_schema(&columns))
        .with_header(true)
        .with_batch_size(BATCH)
        .build(reader)
        .map_err(|e| err(path, e))?;
    Ok(Table { path: path.into(), columns, first_line: Some(2), batches: Box::new(batches), bad_bytes })
}

fn open_json(path: &Path) -> Result<Table, String> {
    let (schema, _) = arrow_json::reader::infer_json_schema(BufReader::new(utf8_reader(path)?), Some(1000))
        .map_err(|e| err(path, e))?;
    let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let reader = utf8_reader(path)?;
    let bad_bytes = Some(reader.found.clone());
    // Numbers (Unix seconds) and booleans arrive as text too.
    let batches = arrow_json::ReaderBuilder::new(text_schema(&columns))
        .with_batch_size(BATCH)
        .with_coerce_primitive(true)
        .build(BufReader::new(reader))
        .map_err(|e| err(path, e))?;
    Ok(Table { path: path.into(), columns, first_line: Some(1), batches: Box::new(batches), bad_bytes })
}

fn open_parquet(path: &Path, wanted: &[&str]) -> Result<Table, String> {
    let file = File::open(path).map_err(|e| err(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| err(path, e))?;
    let columns: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    let keep: Vec<usize> = (0..columns.len()).filter(|&i| wanted.contains(&columns[i].as_str())).collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), keep);
    let reader = builder.with_batch_size(BATCH).with_projection(mask).build().map_err(|e| err(path, e))?;
    let batches = reader.map(|b| b.and_then(as_text));
    Ok(Table { path: path.into(), columns, first_line: None, batches: Box::new(batches), bad_bytes: None })
}

/// Casts every column to text (Parquet timestamps become ISO 8601, integers digits).
fn as_text(batch: RecordBatch) -> Result<RecordBatch, ArrowError> {
    let names: Vec<String> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
    let cols = batch.columns().iter().map(|c| arrow_cast::cast(c, &DataType::Utf8)).collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(text_schema(&names), cols)
}

/// Opens `path`; `wanted` are the columns the caller reads (Parquet reads only those).
pub fn open(path: &Path, wanted: &[&str]) -> Result<Table, String> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "csv" => open_csv(path),
        "jsonl" | "ndjson" | "json" => open_json(path),
        "parquet" => open_parquet(path, wanted),
        _ => Err(err(path, "unknown format: expected a .csv, .jsonl (JSON lines) or .parquet file")),
    }
}

impl Table {
    pub fn has(&self, column: &str) -> bool {
        self.columns.iter().any(|c| c == column)
    }

    /// "file:LINE" for CSV / JSON lines (assuming one record per line), "file: row N" for Parquet.
    pub fn locate(&self, row: usize) -> String {
        match self.first_line {
            Some(first) => format!("{}:{}", self.path.display(), first + row),
            None => format!("{}: row {}", self.path.display(), row + 1),
        }
    }

    /// Data row index of a physical line (for the UTF-8 repairs, which know lines only).
    pub fn row_of_line(&self, line: usize) -> Option<usize> {
        self.first_line.and_then(|first| line.checked_sub(first))
    }

    /// The next batch with `wanted`'s columns, or the reader's error (the stream ends there).
    pub fn next_chunk(&mut self, wanted: &[&str], first_row: usize) -> Option<Result<Chunk, String>> {
        let batch = match self.batches.next()? {
            Ok(b) => b,
            Err(e) => return Some(Err(format!("{}: {e}", self.path.display()))),
        };
        let columns = wanted.iter().map(|w| batch.column_by_name(w).map(|c| c.as_string::<i32>().clone())).collect();
        Some(Ok(Chunk { columns, rows: batch.num_rows(), first_row }))
    }
}

impl Chunk {
    /// The value of wanted column `col` in row `i`, trimmed; None when absent, null or empty.
    pub fn cell(&self, col: usize, i: usize) -> Option<&str> {
        let a = self.columns[col].as_ref()?;
        if a.is_null(i) {
            return None;
        }
        Some(a.value(i).trim()).filter(|v| !v.is_empty())
    }
}

pub const NON_UTF8: &str = "non-UTF-8 text";
pub const UNREADABLE: &str = "unreadable record (reading stopped here)";

/// Streams every row of `table` through `row(chunk, i, location, problems)`, which returns
/// whether the row is usable. Rows with repaired bytes are reported and skipped here; a reader
/// error (e.g. a CSV record with too many fields) is reported and ends the scan.
pub fn scan(
    table: &mut Table,
    wanted: &[&str],
    problems: &mut super::Problems,
    mut row: impl FnMut(&Chunk, usize, &dyn Fn() -> String, &mut super::Problems) -> bool,
) {
    let mut bad: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    let (mut next_row, started) = (0, std::time::Instant::now());
    while let Some(chunk) = table.next_chunk(wanted, next_row) {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                // arrow rejects the whole batch: say from where nothing was read.
                problems.add(UNREADABLE, || format!("{e}; nothing from {} on was read", table.locate(next_row)));
                break;
            }
        };
        if let Some(found) = &table.bad_bytes {
            for b in found.lock().unwrap().drain(..) {
                if let Some(r) = table.row_of_line(b.line) {
                    bad.entry(r).or_insert(b.field);
                }
            }
        }
        for i in 0..chunk.rows {
            let r = chunk.first_row + i;
            problems.rows += 1;
            let at = || table.locate(r);
            let ok = match bad.remove(&r) {
                Some(field) => {
                    // Unquoted commas name the column in CSV only (JSON keys need not be in order).
                    let column = match table.first_line {
                        Some(2) => table.columns.get(field).map_or("?".to_string(), |c| format!("column {c:?}")),
                        _ => "a value".to_string(),
                    };
                    problems.add(NON_UTF8, || format!("{}: {column}: invalid UTF-8 bytes, expected UTF-8 text", at()));
                    false
                }
                None => row(&chunk, i, &at, problems),
            };
            problems.skipped += usize::from(!ok);
        }
        next_row += chunk.rows;
        progress(table, next_row, started);
    }
}

/// Rows read so far, every `PROGRESS` rows, on stderr (a 10 M-row log takes seconds to minutes).
const PROGRESS: usize = 16 * BATCH;

fn progress(table: &Table, rows: usize, started: std::time::Instant) {
    if rows % PROGRESS == 0 {
        let rate = rows as f64 / started.elapsed().as_secs_f64().max(1e-9);
        eprintln!("{}: {rows} rows read ({rate:.0} rows/s)", table.path.display());
    }
}
