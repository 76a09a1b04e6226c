//! `aws_target_tracking`: AWS Application Auto Scaling target tracking on backlog per task, as
//! AWS runs it (its alarms, its proportional step, its cooldowns), for backtesting against.
//!
//! The metric is AWS's documented one for queue workers: the queue's backlog divided by the
//! running tasks (no datapoint while none run), one datapoint per `period_secs` (the average
//! of the samples in it, see [`crate::policy::alarm`]). AAS creates two alarms: the high alarm
//! fires when `scale_out_evaluation_periods` of as many datapoints are above the target (3 of
//! 3 one-minute datapoints), the low alarm when `scale_in_evaluation_periods` of as many are
//! below `scale_in_threshold_fraction` × target (15 of 15, about 10 % under the target). While
//! an alarm stays in ALARM it invokes the policy once per datapoint. The new capacity is
//! proportional: ceil(capacity × datapoint ÷ target), scale-out only up and scale-in only down,
//! so removing capacity never pushes the metric over the target.
//!
//! Cooldowns as AAS documents them: inside the scale-out cooldown the capacity the scale-out
//! that began it added counts, so only a larger scale-out adds tasks (the step is measured from
//! the capacity before it); the scale-in cooldown blocks scale-in, and a scale-out ends it.

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::decision::{Limit, Reason};
use crate::policy::alarm::Statistic;
use crate::policy::seed::ceil_u32;
use crate::state::ScalerState;

/// Parameters of the `aws_target_tracking` policy; names follow AAS's
/// `TargetTrackingScalingPolicyConfiguration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AwsTargetTrackingParams {
    /// The target backlog per running task (`TargetValue`).
    pub target_value: f64,
    /// Count in-flight messages in the backlog (AWS's example uses the visible count only).
    pub include_in_flight: bool,
    /// The metric period, seconds: 60, or 10 or 30 for a high-resolution metric.
    pub period_secs: i64,
    /// Datapoints (all of them) above the target that fire the high alarm (AWS: 3).
    pub scale_out_evaluation_periods: u32,
    /// Datapoints (all of them) below the low threshold that fire the low alarm (AWS: 15).
    pub scale_in_evaluation_periods: u32,
    /// The low alarm's threshold as a fraction of the target (AWS: about 10 % under, 0.9).
    pub scale_in_threshold_fraction: f64,
    /// `ScaleOutCooldown`, seconds (AAS's default for ECS services: 300).
    pub scale_out_cooldown_secs: i64,
    /// `ScaleInCooldown`, seconds (AAS's default for ECS services: 300).
    pub scale_in_cooldown_secs: i64,
    /// `DisableScaleIn`: the policy never removes capacity.
    pub disable_scale_in: bool,
}

impl Default for AwsTargetTrackingParams {
    fn default() -> Self {
        Self {
            target_value: 100.0,
            include_in_flight: false,
            period_secs: 60,
            scale_out_evaluation_periods: 3,
            scale_in_evaluation_periods: 15,
            scale_in_threshold_fraction: 0.9,
            scale_out_cooldown_secs: 300,
            scale_in_cooldown_secs: 300,
            disable_scale_in: false,
        }
    }
}

impl AwsTargetTrackingParams {
    /// The scale-out cooldown in milliseconds.
    #[must_use]
    pub fn scale_out_cooldown_ms(&self) -> i64 {
        self.scale_out_cooldown_secs.saturating_mul(1000)
    }

    /// The recommendation for `backlog` messages (none when a source failed: a partial sum
    /// is no datapoint, so it can never count towards the low alarm), `running` tasks and
    /// `current` capacity (the desired count); takes this decision's sample into the state's
    /// datapoints.
    pub fn recommend(
        &self,
        backlog: Option<f64>,
        running: u32,
        current: u32,
        now: Millis,
        state: &mut ScalerState,
    ) -> (u32, Reason, Option<Limit>) {
        let sample = backlog
            .filter(|_| running > 0)
            .map(|b| b / f64::from(running));
        let keep = self
            .scale_out_evaluation_periods
            .max(self.scale_in_evaluation_periods);
        let points = &mut state.reference_mut().datapoints;
        let period_ms = self.period_secs.saturating_mul(1000);
        if !points.observe(now, period_ms, sample, Statistic::Average, keep) {
            return (
                current,
                Reason::AwaitingPeriod {
                    period_secs: self.period_secs,
                },
                None,
            );
        }
        let target = self.target_value;
        let low_threshold = target * self.scale_in_threshold_fraction;
        let last = points.last_value();
        let n_out = self.scale_out_evaluation_periods;
        let n_in = self.scale_in_evaluation_periods;
        let high = points.in_alarm(n_out, n_out, |v| v > target);
        let low = points.in_alarm(n_in, n_in, |v| v < low_threshold);
        let Some(metric) = last else {
            return (current, Reason::NoAlarm { metric: None }, None);
        };
        if high {
            let in_cooldown = state
                .last_scale_out_ms
                .is_some_and(|t| now - t < self.scale_out_cooldown_ms());
            let base = if in_cooldown {
                state.cooldown_base_tasks.unwrap_or(current)
            } else {
                current
            };
            let tasks = ceil_u32(f64::from(base.max(1)) * metric / target);
            let reason = Reason::AlarmHigh {
                metric,
                threshold: target,
                tasks,
            };
            if tasks > current {
                return (tasks, reason, None);
            }
            let limit = in_cooldown.then_some(Limit::ScaleOutCooldown);
            return (current, reason, limit);
        }
        if low && !self.disable_scale_in {
            let tasks = ceil_u32(f64::from(current) * metric / target);
            let reason = Reason::AlarmLow {
                metric,
                threshold: low_threshold,
                tasks,
            };
            if tasks >= current {
                return (current, reason, None);
            }
            let in_cooldown = state.last_scale_in_ms.is_some_and(|t_in| {
                now - t_in < self.scale_in_cooldown_secs.saturating_mul(1000)
                    && state.last_scale_out_ms.is_none_or(|o| o < t_in)
            });
            if in_cooldown {
                return (current, reason, Some(Limit::ScaleInCooldown));
            }
            return (tasks, reason, None);
        }
        (
            current,
            Reason::NoAlarm {
                metric: Some(metric),
            },
            None,
        )
    }
}
