//! The evaluation room: metrics, the tables of every model and baseline on one protocol, the
//! training/browser parity test, the ablation commands and the softmax check.

pub mod ablations;
pub mod adapt;
pub mod choices;
pub mod compact_check;
pub mod eval;
pub mod intervals;
pub mod metrics;
pub mod order;
pub mod returning;
pub mod softmax_check;
pub mod tables;
pub mod uplift;
#[cfg(test)]
mod parity;
