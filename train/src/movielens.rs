//! MovieLens-100k (RecBole's atomic files) as a product catalogue and a time-ordered event log.
//! Each movie is a product: its title (with year) and genres are its text; a rating is a
//! `select_item` event at the rating's time.

use std::collections::HashMap;
use std::path::Path;

use localrank::features::EventKind;

#[derive(Clone, Debug)]
pub struct Product {
    pub id: String,
    pub title: String,
    pub genres: Vec<String>,
}

impl Product {
    /// The storefront category: genres as a path, most specific listed first by the data.
    pub fn category(&self) -> String {
        self.genres.join(" / ")
    }
}

/// One event of the item sequence: 24 bytes (the kind and context fill the user id's word).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interaction {
    pub user: u32,
    /// `EventKind::index()` of the event (MovieLens: every rating is a `select_item`).
    pub kind: u8,
    /// The page context of the event's request that the log records, as model indices
    /// (`features::context_indices` order): device, page type, promotion; 0 = unknown.
    pub context: [u8; 3],
    /// Index into `Data::products`.
    pub item: usize,
    /// Unix seconds.
    pub time: i64,
}

impl Interaction {
    /// A `select_item` with no recorded page context.
    pub fn new(user: u32, item: usize, time: i64) -> Self {
        Self::of_kind(EventKind::SelectItem, user, item, time)
    }

    pub fn of_kind(kind: EventKind, user: u32, item: usize, time: i64) -> Self {
        Self { user, kind: kind.index() as u8, context: [0; 3], item, time }
    }
}

pub struct Data {
    pub products: Vec<Product>,
    /// Sorted by (time, user, item): the order the events happened in.
    pub events: Vec<Interaction>,
    /// Genres, most frequent first: the category vocabulary.
    pub categories: Vec<String>,
}

fn rows(path: &Path) -> Result<Vec<Vec<String>>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .skip(1) // header: name:type columns
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect())
}

pub fn load(inter: &Path, item: &Path) -> Result<Data, String> {
    let mut products = Vec::new();
    let mut index = HashMap::new();
    for (n, r) in rows(item)?.into_iter().enumerate() {
        let [id, title, year, genres] = <[String; 4]>::try_from(r)
            .map_err(|r| format!("{}: line {}: expected 4 columns, got {}", item.display(), n + 2, r.len()))?;
        let title = if year.trim().is_empty() { title } else { format!("{title} ({year})") };
        let genres = genres.split_whitespace().map(str::to_string).collect();
        index.insert(id.clone(), products.len());
        products.push(Product { id, title, genres });
    }
    let mut events = Vec::new();
    for (n, r) in rows(inter)?.into_iter().enumerate() {
        let bad = |what: &str| format!("{}: line {}: {what}", inter.display(), n + 2);
        if r.len() != 4 {
            return Err(bad("expected 4 columns"));
        }
        let user = r[0].parse().map_err(|_| bad("user_id is not a number"))?;
        let item = *index.get(&r[1]).ok_or_else(|| bad("item_id not in the catalogue"))?;
        let time = r[3].parse::<f64>().map_err(|_| bad("timestamp is not a number"))? as i64;
        events.push(Interaction::new(user, item, time));
    }
    events.sort_by_key(|e| (e.time, e.user, e.item));
    let categories = genre_vocabulary(&products);
    Ok(Data { products, events, categories })
}

pub(crate) fn genre_vocabulary(products: &[Product]) -> Vec<String> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for g in products.iter().flat_map(|p| &p.genres) {
        *counts.entry(g).or_default() += 1;
    }
    let mut genres: Vec<(&str, usize)> = counts.into_iter().collect();
    genres.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    genres.into_iter().map(|(g, _)| g.to_string()).collect()
}
