//! The data room: where events and products come from (the pinned MovieLens and Instacart
//! packages, a storefront's own files), the time split, the training windows and evaluation
//! cases, and the evaluation protocol's requests and server candidates.

pub mod dataset;
pub mod fetch;
pub mod ingest;
pub mod instacart;
pub mod movielens;
pub mod protocol;
