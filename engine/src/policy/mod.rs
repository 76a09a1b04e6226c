//! The scaling policies, each a documented formula selectable by `kind` in the policy file.

pub mod seed;
pub mod slo;
pub mod step;
pub mod target;

use serde::{Deserialize, Serialize};

pub use seed::SeedParams;
pub use slo::SloParams;
pub use step::{AdjustmentType, StepBand, StepMetric, StepParams};
pub use target::TargetParams;

/// A policy and its parameters, as written in the policy file's `[policy]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PolicySpec {
    /// fast-autoscaler v0.2's threshold algorithm, decision for decision.
    Seed(SeedParams),
    /// AWS Application Auto Scaling style step scaling.
    Step(StepParams),
    /// Backlog-per-task target tracking.
    Target(TargetParams),
    /// The fewest tasks that meet a wait-time quantile (M/M/c), or drain the backlog in time.
    Slo(SloParams),
}

impl Default for PolicySpec {
    fn default() -> Self {
        Self::Seed(SeedParams::default())
    }
}

impl PolicySpec {
    /// The policy's `kind` name.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Seed(_) => "seed",
            Self::Step(_) => "step",
            Self::Target(_) => "target",
            Self::Slo(_) => "slo",
        }
    }

    /// Whether in-flight messages count towards the policy's backlog metric.
    #[must_use]
    pub fn includes_in_flight(&self) -> bool {
        match self {
            Self::Seed(p) => p.use_combined_messages,
            Self::Step(p) => p.include_in_flight,
            Self::Target(p) => p.include_in_flight,
            // In-flight messages are being served, not waiting: the backlog to drain is the
            // visible count (the estimator reads in-flight messages on its own).
            Self::Slo(_) => false,
        }
    }
}

/// How several queue sources combine into the one metric a policy sees. `slo` sizes one
/// worker pool for every source's messages and requires `sum` when there are several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// The largest source's backlog (default): scale for the busiest queue.
    #[default]
    Max,
    /// The sum of the sources' backlogs: one worker pool drains them all.
    Sum,
    /// The sum of weight × backlog: sources whose messages cost more weigh more.
    Weighted,
}
