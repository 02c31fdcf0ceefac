//! The evaluation room: metrics, the tables of every model and baseline on one protocol, the
//! training/browser parity test, and the ablation commands.

pub mod ablations;
pub mod choices;
pub mod eval;
pub mod intervals;
pub mod metrics;
pub mod order;
pub mod tables;
#[cfg(test)]
mod parity;
