//! The baselines room: recommenders that are not the shipped model, run on the same splits
//! through the same metric code. Popularity and item-KNN live with the protocol's statistics
//! (`data::protocol::Stats`, which also makes the server's candidates).

pub mod sequential;
pub mod sknn;
