//! The scaler's memory between decisions: last actions, recent recommendations, failure count.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::clock::Millis;

/// One recommendation of the target policy, kept for its stabilization window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recommendation {
    /// When it was made.
    pub at_ms: Millis,
    /// Tasks recommended.
    pub tasks: u32,
}

/// One change of the desired count, kept for rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// When it was made.
    pub at_ms: Millis,
    /// Desired count before.
    pub from: u32,
    /// Desired count after.
    pub to: u32,
}

/// Everything the engine remembers between decisions. It survives a serde round trip, so it
/// can live in a file, in S3, or in the simulator's memory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScalerState {
    /// Time of the last scale-out.
    pub last_scale_out_ms: Option<Millis>,
    /// Time of the last scale-in record. As in fast-autoscaler v0.2, a scale-out also sets it.
    pub last_scale_in_ms: Option<Millis>,
    /// Capacity before the scale-out that began the current scale-out cooldown (step policy).
    pub cooldown_base_tasks: Option<u32>,
    /// Recent recommendations (target policy's stabilization window).
    pub recommendations: VecDeque<Recommendation>,
    /// Recent changes of the desired count (rate limits).
    pub changes: VecDeque<Change>,
    /// Decisions in a row that saw at least one failed metric read.
    pub consecutive_failures: u32,
}
