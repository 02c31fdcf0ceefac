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
    /// Sorted by time, then user; events of one user in the same second (MovieLens records
    /// seconds, and raters enter several films at once) in a seeded shuffle (`load`), a log's
    /// own row order for a storefront's files.
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

/// The seed of the same-second order unless `--order-seed` says otherwise.
pub const DEFAULT_TIE_SEED: u64 = 1;

/// Reads the two atomic files. Events of one user in the same second are ordered by a shuffle
/// seeded with `tie_seed`: the file's order is by item id, and that order would decide which
/// film is each user's "last" one in leave-one-out (issue 19; `docs/evaluation.md` reports the
/// headline numbers under other seeds).
pub fn load(inter: &Path, item: &Path, tie_seed: Option<u64>) -> Result<Data, String> {
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
    // `None`: the item-id order of earlier versions, kept for the order-sensitivity table.
    events.sort_by_cached_key(|e| (e.time, e.user, tie_seed.map_or(e.item as u64, |seed| crate::hash::mix(&[seed, e.user as u64, e.item as u64]))));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// One rater enters 20 films in the same second (synthetic files in RecBole's format).
    fn same_second_files(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
        std::fs::create_dir_all(dir).unwrap();
        let (inter, item) = (dir.join("x.inter"), dir.join("x.item"));
        let mut i = String::from("user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t99\t5\t10\n");
        let mut m = String::from("item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n99\tEarlier\t1990\tDrama\n");
        for n in 1..=20 {
            i += &format!("1\t{n}\t4\t20\n");
            m += &format!("{n}\tFilm {n}\t1995\tComedy\n");
        }
        std::fs::write(&inter, i).unwrap();
        std::fs::write(&item, m).unwrap();
        (inter, item)
    }

    #[test]
    fn same_second_events_follow_the_seeded_shuffle_not_the_item_order() {
        let dir = std::env::temp_dir().join(format!("localrank-ties-{}", std::process::id()));
        let (inter, item) = same_second_files(&dir);
        let order = |seed| -> Vec<String> {
            let d = load(&inter, &item, Some(seed)).unwrap();
            assert_eq!(d.events[0].time, 10, "time order first");
            d.events[1..].iter().map(|e| d.products[e.item].id.clone()).collect()
        };
        let by_id: Vec<String> = (1..=20).map(|n| n.to_string()).collect();
        let (a, b) = (order(1), order(2));
        assert_eq!(a, order(1), "the same seed gives the same order");
        assert_ne!(a, b, "another seed, another order");
        assert_ne!(a, by_id, "not the file's item order");
        let d = load(&inter, &item, None).unwrap();
        assert_eq!(d.events[1..].iter().map(|e| d.products[e.item].id.clone()).collect::<Vec<_>>(), by_id, "None: item order");
        std::fs::remove_dir_all(&dir).ok();
    }
}
