//! The catalogue file: `item_id`, `title`, optional `category`, `price`, `description`.

use std::collections::HashMap;
use std::path::Path;

use super::table::{self, Chunk};
use super::{found, shown, Problems};
use crate::data::movielens::Product;

pub const MISSING_COLUMN: &str = "missing column";
pub const MISSING_ID: &str = "empty item_id";
pub const DUPLICATE: &str = "duplicate item_id";
pub const EMPTY_TITLE: &str = "empty title";
pub const BAD_PRICE: &str = "bad price";

const COLUMNS: [&str; 5] = ["item_id", "title", "category", "price", "description"];
// Indices into COLUMNS.
const ID: usize = 0;
const TITLE: usize = 1;
const CATEGORY: usize = 2;
const PRICE: usize = 3;

/// The products in file order (duplicates and untitled rows left out, and counted).
pub struct Catalogue {
    pub products: Vec<Product>,
    pub index: HashMap<String, usize>,
}

/// Reads the catalogue; `Err` only when the file cannot be opened at all.
pub fn read(path: &Path, problems: &mut Problems) -> Result<Catalogue, String> {
    let mut t = table::open(path, &COLUMNS)?;
    for c in ["item_id", "title"].into_iter().filter(|c| !t.has(c)) {
        problems.add(MISSING_COLUMN, || format!("{}: no column {c:?} ({}); expected item_id, title[, category, price, description]", path.display(), found(&t.columns)));
    }
    let mut cat = Catalogue { products: Vec::new(), index: HashMap::new() };
    table::scan(&mut t, &COLUMNS, problems, |chunk, i, at, problems| row(&mut cat, chunk, i, at, problems));
    Ok(cat)
}

fn row(cat: &mut Catalogue, chunk: &Chunk, i: usize, at: &dyn Fn() -> String, problems: &mut Problems) -> bool {
    if let Some(p) = chunk.cell(PRICE, i).filter(|p| p.parse::<f64>().map_or(true, |v| !v.is_finite() || v < 0.0)) {
        problems.add(BAD_PRICE, || format!("{}: column \"price\": got {}, expected a non-negative number", at(), shown(p)));
    }
    let Some(id) = chunk.cell(ID, i) else {
        if chunk.columns[ID].is_some() {
            problems.add(MISSING_ID, || format!("{}: column \"item_id\": empty, expected an id", at()));
        }
        return false;
    };
    if cat.index.contains_key(id) {
        problems.add(DUPLICATE, || format!("{}: column \"item_id\": {} already defined, expected each id once (the first is kept)", at(), shown(id)));
        return false;
    }
    let Some(title) = chunk.cell(TITLE, i) else {
        if chunk.columns[TITLE].is_some() {
            problems.add(EMPTY_TITLE, || format!("{}: column \"title\": empty for item {}, expected the product's name", at(), shown(id)));
        }
        return false;
    };
    // A category path "A / B" becomes the genres the pipeline joins back with " / ".
    let genres = chunk.cell(CATEGORY, i).map_or(Vec::new(), |c| c.split(" / ").map(|g| g.trim().to_string()).collect());
    cat.index.insert(id.to_string(), cat.products.len());
    cat.products.push(Product { id: id.to_string(), title: title.to_string(), genres });
    true
}
