//! `target`: backlog-per-task target tracking, as the Kubernetes HPA does it.
//!
//! raw = ceil(backlog / target_backlog_per_task). When backlog / (current × target) is within
//! `tolerance` of 1, the current count stays. Scale-in is stabilized: the highest raw
//! recommendation within `scale_in_stabilization_secs` wins, so a brief dip does not remove
//! tasks. Rate limits cap the change within `limit_period_secs`, measured from the count at
//! the start of the period (the most permissive of the task and percent limits applies, as
//! HPA's default `selectPolicy: Max`).

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::decision::{Limit, Reason};
use crate::policy::seed::{ceil_u32, floor_u32};
use crate::state::ScalerState;

/// Parameters of the `target` policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TargetParams {
    /// Backlog one task should carry.
    pub target_backlog_per_task: f64,
    /// Count in-flight messages in the backlog (default true: busy tasks are not idle).
    pub include_in_flight: bool,
    /// Relative band around the target inside which nothing changes (default 0.1).
    pub tolerance: f64,
    /// Window in which the highest recommendation wins for scale-in (default 300 s).
    pub scale_in_stabilization_secs: i64,
    /// Most tasks added per limit period.
    pub scale_out_limit_tasks: Option<u32>,
    /// Most percent added per limit period.
    pub scale_out_limit_percent: Option<f64>,
    /// Most tasks removed per limit period.
    pub scale_in_limit_tasks: Option<u32>,
    /// Most percent removed per limit period.
    pub scale_in_limit_percent: Option<f64>,
    /// The rate limits' period (default 60 s).
    pub limit_period_secs: i64,
}

impl Default for TargetParams {
    fn default() -> Self {
        Self {
            target_backlog_per_task: 100.0,
            include_in_flight: true,
            tolerance: 0.1,
            scale_in_stabilization_secs: 300,
            scale_out_limit_tasks: None,
            scale_out_limit_percent: None,
            scale_in_limit_tasks: None,
            scale_in_limit_percent: None,
            limit_period_secs: 60,
        }
    }
}

impl TargetParams {
    /// Whether any rate limit is configured.
    #[must_use]
    pub fn has_rate_limits(&self) -> bool {
        self.scale_out_limit_tasks.is_some()
            || self.scale_out_limit_percent.is_some()
            || self.scale_in_limit_tasks.is_some()
            || self.scale_in_limit_percent.is_some()
    }

    /// The recommendation for `backlog` and `current`; records it in `state` for the
    /// stabilization window.
    pub fn recommend(
        &self,
        backlog: f64,
        current: u32,
        now: Millis,
        state: &mut ScalerState,
    ) -> (u32, Reason, Option<Limit>) {
        let per_task = self.target_backlog_per_task;
        let raw = ceil_u32(backlog / per_task);
        let within_tolerance = current > 0
            && (backlog / (f64::from(current) * per_task) - 1.0).abs() <= self.tolerance;
        let (raw, reason) = if within_tolerance {
            (current, Reason::WithinTolerance { backlog, per_task })
        } else {
            (
                raw,
                Reason::Target {
                    backlog,
                    per_task,
                    tasks: raw,
                },
            )
        };

        // Stabilization: keep the window's recommendations, the highest wins for scale-in.
        let window_ms = self.scale_in_stabilization_secs.saturating_mul(1000);
        let highest = state.stabilization_floor(now, window_ms, raw);
        let mut desired = raw;
        let mut limit = None;
        if raw < current {
            let floor = highest.min(current);
            if floor > raw {
                desired = floor;
                limit = Some(Limit::StabilizationWindow);
            }
        }

        if self.has_rate_limits() {
            let period_ms = self.limit_period_secs.saturating_mul(1000);
            let net: i64 = state
                .changes
                .iter()
                .filter(|c| now - c.at_ms < period_ms)
                .map(|c| i64::from(c.to) - i64::from(c.from))
                .sum();
            let base = (i64::from(current) - net).max(0) as u32;
            if desired > current {
                let by_tasks = self.scale_out_limit_tasks.map(|t| base.saturating_add(t));
                let by_pct = self
                    .scale_out_limit_percent
                    .map(|p| ceil_u32(f64::from(base) * (1.0 + p / 100.0)));
                let allowed = by_tasks.into_iter().chain(by_pct).max().unwrap_or(u32::MAX);
                let allowed = allowed.max(current);
                if desired > allowed {
                    desired = allowed;
                    limit = Some(Limit::RateLimit);
                }
            } else if desired < current {
                let by_tasks = self.scale_in_limit_tasks.map(|t| base.saturating_sub(t));
                let by_pct = self
                    .scale_in_limit_percent
                    .map(|p| floor_u32(f64::from(base) * (1.0 - p / 100.0)));
                let allowed = by_tasks.into_iter().chain(by_pct).min().unwrap_or(0);
                let allowed = allowed.min(current);
                if desired < allowed {
                    desired = allowed;
                    limit = Some(Limit::RateLimit);
                }
            }
        }
        (desired, reason, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_recommendation_is_ceil_of_backlog_over_target() {
        let p = TargetParams {
            target_backlog_per_task: 10.0,
            scale_in_stabilization_secs: 0,
            ..TargetParams::default()
        };
        let mut s = ScalerState::default();
        assert_eq!(p.recommend(95.0, 1, 0, &mut s).0, 10);
        assert_eq!(p.recommend(101.0, 1, 0, &mut s).0, 11);
        // 105 / (10 × 10) = 1.05: within the 10% band, stays.
        assert_eq!(p.recommend(105.0, 10, 0, &mut s).0, 10);
    }

    #[test]
    fn highest_recommendation_in_window_wins_for_scale_in() {
        let p = TargetParams {
            target_backlog_per_task: 10.0,
            scale_in_stabilization_secs: 300,
            ..TargetParams::default()
        };
        let mut s = ScalerState::default();
        assert_eq!(p.recommend(200.0, 20, 0, &mut s).0, 20);
        let (d, _, lim) = p.recommend(50.0, 20, 60_000, &mut s);
        assert_eq!((d, lim), (20, Some(Limit::StabilizationWindow)));
        // Past the window the old recommendation of 20 is gone.
        assert_eq!(p.recommend(50.0, 20, 301_000, &mut s).0, 5);
    }

    #[test]
    fn rate_limit_caps_tasks_added_per_period() {
        let p = TargetParams {
            target_backlog_per_task: 10.0,
            scale_out_limit_tasks: Some(4),
            ..TargetParams::default()
        };
        let mut s = ScalerState::default();
        let (d, _, lim) = p.recommend(1_000.0, 2, 0, &mut s);
        assert_eq!((d, lim), (6, Some(Limit::RateLimit)));
    }
}
