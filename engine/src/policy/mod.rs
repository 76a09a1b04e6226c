//! The scaling policies, each a documented formula selectable by `kind` in the policy file.

pub mod alarm;
pub mod aws_target;
pub mod keda;
pub mod script;
pub mod seed;
pub mod slo;
pub mod step;
pub mod target;

use serde::{Deserialize, Serialize};

pub use alarm::{AlarmSpec, Statistic};
pub use aws_target::AwsTargetTrackingParams;
pub use keda::KedaParams;
pub use script::ScriptParams;
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
    /// Reference: AWS Application Auto Scaling target tracking, alarms and cooldowns included.
    AwsTargetTracking(AwsTargetTrackingParams),
    /// Reference: AWS step scaling behind its CloudWatch alarm (`[policy.alarm]`, default one
    /// one-minute datapoint).
    AwsStepScaling(StepParams),
    /// Reference: a KEDA queue scaler with the Kubernetes HPA behind it.
    Keda(KedaParams),
    /// A rule of the user's own, written in Rhai (sandboxed); the guards apply after it.
    Script(ScriptParams),
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
            Self::AwsTargetTracking(_) => "aws_target_tracking",
            Self::AwsStepScaling(_) => "aws_step_scaling",
            Self::Keda(_) => "keda",
            Self::Script(_) => "script",
        }
    }

    /// Whether this is a reference policy (what AWS or KEDA would do), which applies its own
    /// cooldowns and timing and none of StepScale's extra guards.
    #[must_use]
    pub fn is_reference(&self) -> bool {
        matches!(
            self,
            Self::AwsTargetTracking(_) | Self::AwsStepScaling(_) | Self::Keda(_)
        )
    }

    /// The period at which the policy acts on its own clock (metric period, HPA sync, KEDA
    /// poll), seconds; the controller's period must divide each. None for StepScale's own
    /// policies without an alarm, which act at every decision.
    #[must_use]
    pub fn own_periods(&self) -> Vec<(&'static str, i64)> {
        match self {
            Self::AwsTargetTracking(p) => vec![("policy.period_secs", p.period_secs)],
            Self::Step(p) | Self::AwsStepScaling(p) => self
                .step_alarm(p)
                .map(|a| vec![("policy.alarm.period_secs", a.period_secs)])
                .unwrap_or_default(),
            Self::Keda(p) => vec![
                ("policy.polling_interval_secs", p.polling_interval_secs),
                ("policy.sync_period_secs", p.sync_period_secs),
            ],
            _ => Vec::new(),
        }
    }

    /// The alarm in front of a step policy: its `[policy.alarm]`, or under `aws_step_scaling`
    /// the default alarm when none is written.
    #[must_use]
    pub fn step_alarm(&self, p: &StepParams) -> Option<AlarmSpec> {
        match self {
            Self::AwsStepScaling(_) => Some(p.alarm.unwrap_or_default()),
            _ => p.alarm,
        }
    }

    /// The rate limits' period, when the policy has rate limits (kept in the state's changes).
    #[must_use]
    pub fn rate_limit_period_ms(&self) -> Option<i64> {
        match self {
            Self::Target(p) if p.has_rate_limits() => Some(p.limit_period_secs),
            Self::Keda(p) => Some(p.policy_period_secs),
            _ => None,
        }
        .map(|s| s.saturating_mul(1000))
    }

    /// Whether in-flight messages count towards the policy's backlog metric.
    #[must_use]
    pub fn includes_in_flight(&self) -> bool {
        match self {
            Self::Seed(p) => p.use_combined_messages,
            Self::Step(p) | Self::AwsStepScaling(p) => p.include_in_flight,
            Self::Target(p) => p.include_in_flight,
            Self::AwsTargetTracking(p) => p.include_in_flight,
            Self::Keda(p) => p.scale_on_in_flight,
            Self::Script(p) => p.include_in_flight,
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
