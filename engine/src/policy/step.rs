//! `step`: AWS Application Auto Scaling step scaling over a backlog metric.
//!
//! Two alarms: scale-out when the metric is >= `scale_out_threshold`, scale-in when it is
//! <= `scale_in_threshold`. Each has step bands whose bounds are relative to its threshold
//! (AWS's `MetricIntervalLowerBound` / `UpperBound`): above the threshold a band holds
//! `lower <= metric - threshold < upper`; below it, `lower < metric - threshold <= upper`.
//! A missing bound is infinite. The band's `adjustment` is applied as
//! - `change_in_capacity`: current + adjustment;
//! - `percent_change_in_capacity`: current + current × adjustment / 100, rounded as AWS does
//!   (above 1 down, between 0 and 1 to 1, between -1 and 0 to -1, below -1 up), then raised to
//!   `min_adjustment_magnitude` when smaller;
//! - `exact_capacity`: adjustment.
//!
//! Cooldowns follow AWS: during a scale-out cooldown the step is measured from the capacity
//! before the scale-out that began it, so only a larger step's extra is added; a scale-in
//! cooldown blocks scale-in, and a scale-out ends it.

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::decision::{Limit, Reason};
use crate::guards::Guards;
use crate::policy::alarm::AlarmSpec;
use crate::policy::seed::floor_u32;
use crate::state::ScalerState;

/// What the step alarms compare with their thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StepMetric {
    /// Messages waiting (the queue's backlog).
    #[default]
    Backlog,
    /// Backlog divided by the current desired count (the whole backlog when it is 0).
    BacklogPerTask,
}

/// How a band's `adjustment` changes capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentType {
    /// Add the adjustment (negative removes).
    #[default]
    ChangeInCapacity,
    /// Add adjustment percent of the current capacity.
    PercentChangeInCapacity,
    /// Set capacity to the adjustment.
    ExactCapacity,
}

/// One step adjustment: a band relative to the alarm threshold and what to do in it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepBand {
    /// Lower bound relative to the threshold (none: minus infinity).
    #[serde(default)]
    pub lower: Option<f64>,
    /// Upper bound relative to the threshold (none: plus infinity).
    #[serde(default)]
    pub upper: Option<f64>,
    /// Tasks, percent or exact capacity, by `adjustment_type`.
    pub adjustment: f64,
}

impl StepBand {
    fn holds_above(&self, d: f64) -> bool {
        self.lower.is_none_or(|l| d >= l) && self.upper.is_none_or(|u| d < u)
    }

    fn holds_below(&self, d: f64) -> bool {
        self.lower.is_none_or(|l| d > l) && self.upper.is_none_or(|u| d <= u)
    }
}

/// Parameters of the `step` policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StepParams {
    /// What the alarms compare.
    pub metric: StepMetric,
    /// Count in-flight messages in the backlog.
    pub include_in_flight: bool,
    /// How adjustments apply.
    pub adjustment_type: AdjustmentType,
    /// Scale-out alarm threshold (metric >= this).
    pub scale_out_threshold: f64,
    /// Scale-in alarm threshold (metric <= this).
    pub scale_in_threshold: f64,
    /// Bands of the scale-out alarm (bounds >= 0).
    pub scale_out_steps: Vec<StepBand>,
    /// Bands of the scale-in alarm (bounds <= 0).
    pub scale_in_steps: Vec<StepBand>,
    /// Smallest change a percent adjustment makes.
    pub min_adjustment_magnitude: Option<u32>,
    /// The CloudWatch alarm in front of the steps (`[policy.alarm]`): without it, `step`
    /// compares every decision's reading; with it, one datapoint per metric period, M of N.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm: Option<AlarmSpec>,
}

impl Default for StepParams {
    fn default() -> Self {
        Self {
            metric: StepMetric::Backlog,
            include_in_flight: false,
            adjustment_type: AdjustmentType::ChangeInCapacity,
            scale_out_threshold: 100.0,
            scale_in_threshold: 10.0,
            scale_out_steps: vec![StepBand {
                lower: Some(0.0),
                upper: None,
                adjustment: 1.0,
            }],
            scale_in_steps: vec![StepBand {
                lower: None,
                upper: Some(0.0),
                adjustment: -1.0,
            }],
            min_adjustment_magnitude: None,
            alarm: None,
        }
    }
}

/// AWS's rounding of a fractional percent adjustment.
#[must_use]
pub fn round_aws(x: f64) -> i64 {
    if x >= 1.0 {
        x.floor() as i64
    } else if x > 0.0 {
        1
    } else if x > -1.0 && x < 0.0 {
        -1
    } else {
        x.ceil() as i64
    }
}

impl StepParams {
    /// The metric the alarms see for `backlog` messages and `current` tasks.
    #[must_use]
    pub fn metric_value(&self, backlog: f64, current: u32) -> f64 {
        match self.metric {
            StepMetric::Backlog => backlog,
            StepMetric::BacklogPerTask if current == 0 => backlog,
            StepMetric::BacklogPerTask => backlog / f64::from(current),
        }
    }

    fn apply(&self, base: u32, adjustment: f64) -> u32 {
        let base_f = f64::from(base);
        let target = match self.adjustment_type {
            AdjustmentType::ChangeInCapacity => base_f + adjustment.trunc(),
            AdjustmentType::ExactCapacity => adjustment.trunc(),
            AdjustmentType::PercentChangeInCapacity => {
                let raw = base_f * adjustment / 100.0;
                let mut change = if raw == 0.0 { 0 } else { round_aws(raw) };
                if let Some(min_mag) = self.min_adjustment_magnitude {
                    let min_mag = i64::from(min_mag);
                    if change != 0 && change.abs() < min_mag {
                        change = change.signum() * min_mag;
                    }
                }
                base_f + change as f64
            }
        };
        floor_u32(target)
    }

    /// The step recommendation behind `alarm`: the sample goes into the state's datapoints
    /// (none when a source failed: a partial sum is no datapoint); when a period closes and an
    /// alarm is in ALARM (the scale-out alarm first), the steps apply to its newest breaching
    /// datapoint; otherwise the count holds.
    pub fn recommend_alarmed(
        &self,
        alarm: &AlarmSpec,
        backlog: Option<f64>,
        current: u32,
        now: Millis,
        state: &mut ScalerState,
        guards: &Guards,
    ) -> (u32, Reason, Option<Limit>) {
        let sample = backlog.map(|b| self.metric_value(b, current));
        let points = &mut state.reference_mut().datapoints;
        let period_ms = alarm.period_secs.saturating_mul(1000);
        let (n, m) = (alarm.evaluation_periods, alarm.datapoints_to_alarm);
        if !points.observe(now, period_ms, sample, alarm.statistic, n) {
            return (
                current,
                Reason::AwaitingPeriod {
                    period_secs: alarm.period_secs,
                },
                None,
            );
        }
        let out = |v: f64| v >= self.scale_out_threshold;
        let into = |v: f64| v <= self.scale_in_threshold;
        let value = if points.in_alarm(n, m, out) {
            points.latest_breaching(n, out)
        } else if points.in_alarm(n, m, into) {
            points.latest_breaching(n, into)
        } else {
            None
        };
        let last = points.last_value();
        match value {
            Some(v) => self.recommend_metric(v, current, now, state, guards),
            None => (current, Reason::NoAlarm { metric: last }, None),
        }
    }

    /// The step recommendation, with AWS cooldown semantics, for `backlog` and `current`.
    #[must_use]
    pub fn recommend(
        &self,
        backlog: f64,
        current: u32,
        now: Millis,
        state: &ScalerState,
        guards: &Guards,
    ) -> (u32, Reason, Option<Limit>) {
        self.recommend_metric(
            self.metric_value(backlog, current),
            current,
            now,
            state,
            guards,
        )
    }

    /// The step recommendation for the alarm metric `metric` itself.
    fn recommend_metric(
        &self,
        metric: f64,
        current: u32,
        now: Millis,
        state: &ScalerState,
        guards: &Guards,
    ) -> (u32, Reason, Option<Limit>) {
        if metric >= self.scale_out_threshold {
            let reason = Reason::AboveThreshold {
                metric,
                threshold: self.scale_out_threshold,
            };
            let d = metric - self.scale_out_threshold;
            let Some(band) = self.scale_out_steps.iter().find(|b| b.holds_above(d)) else {
                return (current, reason, None);
            };
            let in_cooldown = !guards.scale_out_cooldown_bypass
                && state
                    .last_scale_out_ms
                    .is_some_and(|t| now - t < guards.scale_out_cooldown_ms());
            if in_cooldown {
                let base = state.cooldown_base_tasks.unwrap_or(current);
                let target = self.apply(base, band.adjustment);
                if target > current {
                    return (target, reason, None);
                }
                return (current, reason, Some(Limit::ScaleOutCooldown));
            }
            (
                self.apply(current, band.adjustment).max(current),
                reason,
                None,
            )
        } else if metric <= self.scale_in_threshold {
            let reason = Reason::BelowThreshold {
                metric,
                threshold: self.scale_in_threshold,
            };
            let d = metric - self.scale_in_threshold;
            let Some(band) = self.scale_in_steps.iter().find(|b| b.holds_below(d)) else {
                return (current, reason, None);
            };
            let target = self.apply(current, band.adjustment).min(current);
            let in_cooldown = match (state.last_scale_in_ms, state.last_scale_out_ms) {
                (Some(t_in), t_out) => {
                    now - t_in < guards.scale_in_cooldown_ms() && t_out.is_none_or(|o| o < t_in)
                }
                (None, _) => false,
            };
            if in_cooldown && target < current {
                return (current, reason, Some(Limit::ScaleInCooldown));
            }
            (target, reason, None)
        } else {
            (current, Reason::WithinThresholds { metric }, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_rounding_matches_the_documented_examples() {
        assert_eq!(round_aws(12.7), 12);
        assert_eq!(round_aws(0.45), 1);
        assert_eq!(round_aws(-0.45), -1);
        assert_eq!(round_aws(-6.67), -6);
        assert_eq!(round_aws(3.0), 3);
    }

    #[test]
    fn percent_adjustment_respects_minimum_magnitude() {
        let p = StepParams {
            adjustment_type: AdjustmentType::PercentChangeInCapacity,
            min_adjustment_magnitude: Some(2),
            ..StepParams::default()
        };
        // 10% of 4 = 0.4 -> rounds to 1 -> raised to 2.
        assert_eq!(p.apply(4, 10.0), 6);
        // 10% of 50 = 5 tasks.
        assert_eq!(p.apply(50, 10.0), 55);
        // -30% of 10 = -3.
        assert_eq!(p.apply(10, -30.0), 7);
    }

    fn bands() -> StepParams {
        StepParams {
            scale_out_threshold: 100.0,
            scale_out_steps: vec![
                StepBand {
                    lower: Some(0.0),
                    upper: Some(500.0),
                    adjustment: 1.0,
                },
                StepBand {
                    lower: Some(500.0),
                    upper: None,
                    adjustment: 3.0,
                },
            ],
            ..StepParams::default()
        }
    }

    #[test]
    fn band_is_chosen_by_distance_above_threshold() {
        let p = bands();
        let g = Guards::default();
        let s = ScalerState::default();
        assert_eq!(p.recommend(100.0, 10, 0, &s, &g).0, 11);
        assert_eq!(p.recommend(599.0, 10, 0, &s, &g).0, 11);
        assert_eq!(p.recommend(600.0, 10, 0, &s, &g).0, 13);
        assert_eq!(p.recommend(50.0, 10, 0, &s, &g).0, 10);
    }

    #[test]
    fn scale_out_cooldown_adds_only_a_larger_steps_extra() {
        let p = bands();
        let g = Guards::default();
        // A +1 scale-out from 10 to 11 happened 10 s ago.
        let s = ScalerState {
            last_scale_out_ms: Some(0),
            cooldown_base_tasks: Some(10),
            ..ScalerState::default()
        };
        // Same band again: 10 + 1 = 11, not above current: held.
        let (d, _, lim) = p.recommend(150.0, 11, 10_000, &s, &g);
        assert_eq!((d, lim), (11, Some(Limit::ScaleOutCooldown)));
        // Larger band: 10 + 3 = 13, so only 2 more.
        assert_eq!(p.recommend(700.0, 11, 10_000, &s, &g).0, 13);
    }

    #[test]
    fn scale_out_ends_scale_in_cooldown() {
        let p = bands();
        let g = Guards::default();
        let blocked = ScalerState {
            last_scale_in_ms: Some(0),
            ..ScalerState::default()
        };
        assert_eq!(
            p.recommend(0.0, 10, 10_000, &blocked, &g).2,
            Some(Limit::ScaleInCooldown)
        );
        let ended = ScalerState {
            last_scale_in_ms: Some(0),
            last_scale_out_ms: Some(5_000),
            ..ScalerState::default()
        };
        assert_eq!(p.recommend(0.0, 10, 10_000, &ended, &g).0, 9);
    }
}
