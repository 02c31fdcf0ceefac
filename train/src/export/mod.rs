//! The export room: the model directory the browser loads (weights, tokenizer, golden scores,
//! manifest) and the run's report.

pub mod compact;
pub mod model_dir;
pub mod report;
