//! A CloudWatch metric alarm as the reference policies see it: samples aggregated into one
//! datapoint per metric period, and "M out of N" evaluation over the latest datapoints.
//!
//! A period's datapoint is the statistic of the samples taken inside it (`[k × period,
//! (k + 1) × period)`); it becomes visible at the first decision after the period ends, so a
//! datapoint is always at least one period old, as CloudWatch's are. The alarm is in ALARM
//! when at least `datapoints_to_alarm` of the latest `evaluation_periods` periods breach.
//! A period without a sample (no decision in it, or a per-task metric while no task runs)
//! is missing and counts as not breaching (CloudWatch's `TreatMissingData = notBreaching`).
//! Alarms are evaluated once per closed datapoint: an Auto Scaling action is invoked again
//! every period the alarm stays in ALARM (CloudWatch's "Alarm actions" page: except for Auto
//! Scaling actions, actions happen only on state transitions).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::clock::Millis;

/// How the samples of one period make its datapoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    /// The mean of the period's samples (target tracking's statistic).
    #[default]
    Average,
    /// The largest sample.
    Maximum,
    /// The smallest sample.
    Minimum,
    /// The sum of the samples.
    Sum,
}

/// The alarm in front of a step policy, as `PutMetricAlarm` states it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlarmSpec {
    /// The metric period, seconds: 10 or 30 (high resolution) or a multiple of 60.
    pub period_secs: i64,
    /// Periods the alarm looks back over (`EvaluationPeriods`).
    pub evaluation_periods: u32,
    /// Breaching periods among them that put the alarm in ALARM (`DatapointsToAlarm`).
    pub datapoints_to_alarm: u32,
    /// How the samples of a period make its datapoint.
    pub statistic: Statistic,
}

impl Default for AlarmSpec {
    /// One one-minute datapoint of the average: the CloudWatch console's defaults for a new
    /// alarm.
    fn default() -> Self {
        Self {
            period_secs: 60,
            evaluation_periods: 1,
            datapoints_to_alarm: 1,
            statistic: Statistic::Average,
        }
    }
}

/// Whether `secs` is a period CloudWatch accepts: 10, 30 or a positive multiple of 60.
#[must_use]
pub fn valid_period(secs: i64) -> bool {
    secs == 10 || secs == 30 || (secs > 0 && secs % 60 == 0)
}

/// The datapoints a reference policy has seen: the open period's running aggregate and the
/// closed datapoints, newest last. Kept in the scaler state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Datapoints {
    /// Index of the open period (its start is `index × period`).
    pub open: Option<i64>,
    /// Samples in the open period.
    pub count: u32,
    /// Their sum.
    pub sum: f64,
    /// Their largest.
    pub max: f64,
    /// Their smallest.
    pub min: f64,
    /// Closed periods, oldest first: (period index, datapoint); missing periods are absent.
    pub closed: VecDeque<(i64, f64)>,
    /// The latest closed period's index, even when it had no sample.
    pub latest: Option<i64>,
}

impl Datapoints {
    /// Takes `sample` (none: nothing to sample this decision) at `now` under `period_ms`,
    /// keeping the latest `keep` periods. Returns whether a period closed, so the alarms have
    /// a new datapoint (or a new missing one) to evaluate.
    pub fn observe(
        &mut self,
        now: Millis,
        period_ms: i64,
        sample: Option<f64>,
        statistic: Statistic,
        keep: u32,
    ) -> bool {
        let index = now.div_euclid(period_ms.max(1));
        let mut closed = false;
        match self.open {
            Some(open) if index > open => {
                if self.count > 0 {
                    let value = match statistic {
                        Statistic::Average => self.sum / f64::from(self.count),
                        Statistic::Maximum => self.max,
                        Statistic::Minimum => self.min,
                        Statistic::Sum => self.sum,
                    };
                    self.closed.push_back((open, value));
                }
                // The periods between the open one and now had no decision: missing.
                self.latest = Some(index.saturating_sub(1));
                self.count = 0;
                self.sum = 0.0;
                closed = true;
            }
            Some(open) if index < open => {
                // A clock that went back: start again from this period.
                *self = Self::default();
            }
            _ => {}
        }
        self.open = Some(index);
        if let Some(x) = sample.filter(|x| x.is_finite()) {
            if self.count == 0 {
                self.max = x;
                self.min = x;
            } else {
                self.max = self.max.max(x);
                self.min = self.min.min(x);
            }
            self.count += 1;
            self.sum += x;
        }
        if let Some(latest) = self.latest {
            let oldest = latest.saturating_sub(i64::from(keep.max(1)) - 1);
            while self.closed.front().is_some_and(|(i, _)| *i < oldest) {
                self.closed.pop_front();
            }
        }
        closed
    }

    /// The latest closed datapoint's value, when the latest closed period had one.
    #[must_use]
    pub fn last_value(&self) -> Option<f64> {
        let latest = self.latest?;
        self.closed
            .back()
            .filter(|(i, _)| *i == latest)
            .map(|(_, v)| *v)
    }

    /// The newest breaching datapoint among the latest `n` closed periods: the value a step
    /// policy measures its bands with when its alarm fires.
    #[must_use]
    pub fn latest_breaching(&self, n: u32, breaches: impl Fn(f64) -> bool) -> Option<f64> {
        let latest = self.latest?;
        let oldest = latest.saturating_sub(i64::from(n.max(1)) - 1);
        self.closed
            .iter()
            .rev()
            .take_while(|(i, _)| *i >= oldest)
            .find(|(i, v)| *i <= latest && breaches(*v))
            .map(|(_, v)| *v)
    }

    /// Whether at least `m` of the latest `n` closed periods breach (`breaches(value)`).
    #[must_use]
    pub fn in_alarm(&self, n: u32, m: u32, breaches: impl Fn(f64) -> bool) -> bool {
        let Some(latest) = self.latest else {
            return false;
        };
        let oldest = latest.saturating_sub(i64::from(n.max(1)) - 1);
        let breaching = self
            .closed
            .iter()
            .filter(|(i, v)| *i >= oldest && *i <= latest && breaches(*v))
            .count();
        breaching >= m.max(1) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datapoint_is_the_periods_statistic_and_closes_when_the_next_period_starts() {
        let mut d = Datapoints::default();
        assert!(!d.observe(0, 60_000, Some(2.0), Statistic::Average, 3));
        assert!(!d.observe(15_000, 60_000, Some(4.0), Statistic::Average, 3));
        assert_eq!(
            d.last_value(),
            None,
            "the open period is not a datapoint yet"
        );
        assert!(d.observe(60_000, 60_000, Some(10.0), Statistic::Average, 3));
        assert_eq!(d.last_value(), Some(3.0));
        let mut m = Datapoints::default();
        m.observe(0, 60_000, Some(2.0), Statistic::Maximum, 3);
        m.observe(15_000, 60_000, Some(4.0), Statistic::Maximum, 3);
        m.observe(60_000, 60_000, None, Statistic::Maximum, 3);
        assert_eq!(m.last_value(), Some(4.0));
    }

    #[test]
    fn three_of_three_needs_three_breaching_periods_in_a_row() {
        let mut d = Datapoints::default();
        let above = |v: f64| v > 10.0;
        for (minute, value) in [(0, 20.0), (1, 20.0), (2, 5.0), (3, 20.0), (4, 20.0)] {
            d.observe(minute * 60_000, 60_000, Some(value), Statistic::Average, 3);
        }
        // Closed: minutes 0..=3 → 20, 20, 5, 20: the latest three hold a 5.
        assert!(!d.in_alarm(3, 3, above));
        assert!(d.in_alarm(3, 2, above), "2 of 3 is met");
        d.observe(5 * 60_000, 60_000, Some(20.0), Statistic::Average, 3);
        d.observe(6 * 60_000, 60_000, Some(20.0), Statistic::Average, 3);
        assert!(d.in_alarm(3, 3, above));
    }

    #[test]
    fn a_period_without_a_sample_is_missing_and_does_not_breach() {
        let mut d = Datapoints::default();
        d.observe(0, 60_000, Some(20.0), Statistic::Average, 3);
        d.observe(60_000, 60_000, None, Statistic::Average, 3);
        d.observe(120_000, 60_000, Some(20.0), Statistic::Average, 3);
        // Skips minute 3 entirely.
        d.observe(240_000, 60_000, Some(20.0), Statistic::Average, 3);
        assert_eq!(d.latest, Some(3));
        assert_eq!(d.last_value(), None);
        assert!(!d.in_alarm(3, 3, |v| v > 10.0));
        assert!(d.in_alarm(3, 1, |v| v > 10.0));
    }

    #[test]
    fn cloudwatch_periods() {
        for ok in [10, 30, 60, 120, 300] {
            assert!(valid_period(ok), "{ok}");
        }
        for bad in [0, -60, 15, 45, 90] {
            assert!(!valid_period(bad), "{bad}");
        }
    }
}
