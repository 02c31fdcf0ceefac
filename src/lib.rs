//! localrank: rerank a storefront's candidate products inside the shopper's browser.
//!
//! The session (what the shopper viewed, clicked, bought, searched) and the page context stay on
//! the device; a small burn model scores the server's candidates and `rerank` blends those scores
//! with the server's order. `web.rs` is the only file that knows about JavaScript.

pub mod adapt;
pub mod error;
pub mod explain;
pub mod features;
pub mod golden;
pub mod input;
pub mod items;
pub mod manifest;
pub mod model;
pub mod quant;
pub mod ranker;
pub mod rerank;
pub mod runtime;
pub mod text;
pub mod wordpiece;

#[cfg(target_arch = "wasm32")]
mod web;

pub use error::{Error, Result};
pub use explain::{Reason, Signal};
pub use features::{Context, Event, EventKind, Item};
pub use ranker::{ModelFiles, PendingRerank, Ranker};
pub use rerank::{Ranked, RerankOptions};
