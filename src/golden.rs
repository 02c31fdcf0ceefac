//! The golden file written at export time (`models/golden.json`): a fixed session, context and
//! candidate list with the scores the native CPU backend gave. Tests load the shipped model on
//! each backend and must reproduce these scores.

use serde::{Deserialize, Serialize};

use crate::features::{Context, Event, Item};

/// Largest absolute score difference tests accept between backends.
pub const TOLERANCE: f32 = 1e-4;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Golden {
    pub session: Vec<Event>,
    pub context: Context,
    pub candidates: Vec<Item>,
    pub scores: Vec<f32>,
}

impl Golden {
    /// Largest absolute difference between `scores` and the golden ones (infinite when the
    /// lengths differ).
    pub fn max_abs_diff(&self, scores: &[f32]) -> f32 {
        if scores.len() != self.scores.len() {
            return f32::INFINITY;
        }
        self.scores.iter().zip(scores).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
    }
}
