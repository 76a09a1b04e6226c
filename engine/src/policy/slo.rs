//! `slo`: the fewest tasks that keep the `quantile` of message waits within `wait_secs`.
//!
//! Each decision first updates the arrival-rate estimate λ̂ and, when `service_secs` (S) is
//! omitted, the learned service time; [`crate::estimator`] states the formulas, in short:
//! - λ̂ is an EWMA in time (time constant `rate_smoothing_secs`) of per-interval samples: the
//!   source's reported rate; else, under a backlog, visible / age of the oldest message (FIFO);
//!   else message conservation, ΔN/dt + B̄/S (N = visible + in flight, B̄ the mean in-flight
//!   count: busy slots complete B̄/S messages a second).
//! - S is learned as busy slots over throughput (Little's law), averaged over the intervals
//!   whose arrivals were measured without S (a reported rate, or the backlog's age), with
//!   throughput = arrivals − ΔN/dt. Counts alone cannot tell λ from S while nothing queues:
//!   sources that report neither a rate nor an age should set `service_secs`.
//!
//! With k = `concurrency` slots per task, V visible messages and p = 1 − `quantile`:
//! - queueing fleet: the M/M/c model ([`crate::queueing`]) with λ̂ arrivals per second,
//!   μ = 1/S per slot and c = tasks × k slots. c* = the fewest slots with c > λ̂·S and
//!   P(W > wait_secs) = C(c, λ̂S) · exp(−(cμ − λ̂)·wait_secs) <= p; tasks = ceil(c* / k).
//! - drain fleet: enough slots to work off the V waiting messages within `wait_secs` while
//!   serving the λ̂ that keeps arriving: tasks = ceil((V / wait_secs + λ̂) · S / k).
//! - raw = the larger of the two: a decision scales out to it at once.
//!
//! Scale-in is stabilized, with a dead band. At each decision the window records the steady
//! fleet: the queueing fleet at (1 + [`SCALE_IN_HEADROOM`]) × max(λ̂, λᵢ), λᵢ the interval's
//! own, unsmoothed rate sample. A scale-in goes no lower than the highest steady fleet within
//! `scale_in_stabilization_secs`. So:
//! - a brief lull removes nothing, as under `target`;
//! - λᵢ brings back the peaks that λ̂ smooths away: the minute whose burst built a backlog
//!   keeps its fleet for the window, and the fleet does not shrink into the next one;
//! - the headroom is a dead band between scaling in and scaling out again: after a scale-in
//!   the fleet still meets the goal at 15 % more than the window's highest rate, so the
//!   ordinary wander of a real trace (a few percent a minute) does not flip it back. On the
//!   worldcup98 trace this cuts direction flips several-fold for a few percent more
//!   task-hours;
//! - the drain fleet is not recorded: once the backlog is gone its extra tasks go, held only
//!   by the scale-in cooldown.
//!
//! While S is neither configured nor learned, the policy cannot size the fleet. It holds the
//! current count, doubling it (at least one task more) at each decision while the oldest
//! message is older than `wait_secs` or messages wait with no task running: the shortfall may
//! be any multiple of the fleet, and one task per decision takes as many decisions as the
//! shortfall has tasks. The backlog that builds up then teaches S (see the estimator),
//! usually by the next decision. It never scales in without S.
//!
//! The model's limits: M/M/c assumes Poisson arrivals, exponential service and FIFO slots that
//! share one queue. Burstier arrivals or more variable service times wait longer than it
//! predicts; steadier ones wait less. λ̂ is a smoothed estimate, so a sudden rise shows first as
//! backlog, which the drain fleet answers; that fleet counts the whole goal from now, not from
//! when the oldest message arrived. Guards (bounds, cooldowns, steps) apply afterwards,
//! as for every policy; tasks still starting count as ordered capacity.

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::decision::{Limit, Reason};
use crate::estimator::{ArrivalEstimate, Flow};
use crate::policy::seed::ceil_u32;
use crate::queueing::min_servers_for_wait_quantile;
use crate::state::ScalerState;

/// Extra arrival rate, as a fraction of the window's highest, that the fleet left by a
/// scale-in still carries within the goal: the dead band between scaling in and out again.
/// One value for every workload (like the HPA's 10 % tolerance), not a per-service knob.
pub const SCALE_IN_HEADROOM: f64 = 0.15;

/// Parameters of the `slo` policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SloParams {
    /// The wait goal, seconds (default 60).
    pub wait_secs: f64,
    /// Fraction of messages that should wait at most `wait_secs`, in (0, 1) (default 0.99).
    pub quantile: f64,
    /// Mean time one message is in flight, seconds; learned online when omitted.
    pub service_secs: Option<f64>,
    /// Messages one task works at once (default 1).
    pub concurrency: u32,
    /// Window in which the highest recommendation wins for scale-in (default 300 s).
    pub scale_in_stabilization_secs: i64,
    /// Time constant of the arrival-rate average (default 60 s; 0: no smoothing).
    pub rate_smoothing_secs: i64,
}

impl Default for SloParams {
    fn default() -> Self {
        Self {
            wait_secs: 60.0,
            quantile: 0.99,
            service_secs: None,
            concurrency: 1,
            scale_in_stabilization_secs: 300,
            rate_smoothing_secs: 60,
        }
    }
}

impl SloParams {
    /// The queueing fleet and the drain fleet, in tasks, for `lambda` arrivals per second,
    /// `service_secs` per message and `backlog` waiting messages (formulas in the module doc).
    #[must_use]
    pub fn fleets(&self, lambda: f64, service_secs: f64, backlog: f64) -> (u32, u32) {
        let per_task = self.concurrency.max(1);
        let servers = min_servers_for_wait_quantile(
            lambda,
            1.0 / service_secs,
            self.wait_secs,
            1.0 - self.quantile,
        );
        let queueing = servers.div_ceil(per_task);
        let drain = ceil_u32(
            (backlog / self.wait_secs + lambda.max(0.0)) * service_secs / f64::from(per_task),
        );
        (queueing, drain)
    }

    /// The recommendation for `flow` (the sources' sums) and `current` tasks. `complete` is
    /// false when a source failed: the estimator then skips this observation. Updates the
    /// estimator and the stabilization window in `state`.
    pub fn recommend(
        &self,
        flow: &Flow,
        complete: bool,
        current: u32,
        now: Millis,
        state: &mut ScalerState,
    ) -> (u32, Reason, Option<Limit>) {
        let estimate = state.arrivals.get_or_insert_with(ArrivalEstimate::default);
        if complete {
            estimate.observe(
                now,
                flow,
                self.service_secs,
                self.rate_smoothing_secs as f64,
            );
        }
        let backlog = flow.visible as f64;
        // `steady`: the part of `raw` that the arrival rate needs, which the stabilization
        // window remembers; the drain fleet's extra is for a backlog, gone once it drains.
        let (raw, steady, reason) =
            if let Some(service_secs) = estimate.service_secs(self.service_secs) {
                // No rate yet only when no complete observation was ever made: assume steady state.
                let lambda = estimate
                    .rate_per_s
                    .unwrap_or(flow.in_flight as f64 / service_secs);
                let (queueing_tasks, drain_tasks) = self.fleets(lambda, service_secs, backlog);
                // What the window remembers: the fleet for the higher of λ̂ and the interval's
                // own rate (λ̂ smooths away the peaks that build backlogs), with headroom, so
                // that scale-in leaves a dead band below the next scale-out.
                let peak = estimate
                    .sample_per_s
                    .map_or(lambda, |sample| sample.max(lambda));
                let steady = self
                    .fleets(peak * (1.0 + SCALE_IN_HEADROOM), service_secs, 0.0)
                    .0
                    .max(queueing_tasks);
                (
                    queueing_tasks.max(drain_tasks),
                    steady,
                    Reason::Slo {
                        arrival_rate_per_s: lambda,
                        service_secs,
                        backlog,
                        queueing_tasks,
                        drain_tasks,
                    },
                )
            } else {
                let late = flow
                    .oldest_age_ms
                    .is_some_and(|age| age as f64 > self.wait_secs * 1000.0);
                let starved = current == 0 && flow.visible > 0;
                let raw = if late || starved {
                    // The fleet's capacity is unknown, so probe multiplicatively: a late backlog
                    // may be any multiple of what the fleet serves, and +1 a decision takes as
                    // many decisions as the shortfall has tasks.
                    current.saturating_mul(2).max(current.saturating_add(1))
                } else {
                    current
                };
                (raw, raw, Reason::ServiceTimeUnknown { backlog })
            };

        let window_ms = self.scale_in_stabilization_secs.saturating_mul(1000);
        let highest = state.stabilization_floor(now, window_ms, steady);
        if raw < current {
            let floor = highest.min(current);
            if floor > raw {
                return (floor, reason, Some(Limit::StabilizationWindow));
            }
        }
        (raw, reason, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> SloParams {
        SloParams {
            wait_secs: 30.0,
            service_secs: Some(1.0),
            scale_in_stabilization_secs: 0,
            ..SloParams::default()
        }
    }

    fn flow(visible: u64, in_flight: u64) -> Flow {
        Flow {
            visible,
            in_flight,
            ..Flow::default()
        }
    }

    #[test]
    fn queueing_fleet_is_the_erlang_c_answer() {
        let p = params();
        // λ = 20/s, S = 1 s, 30 s at p99: 21 slots (checked independently in Python).
        assert_eq!(p.fleets(20.0, 1.0, 0.0), (21, 20));
        let four = SloParams {
            concurrency: 4,
            ..params()
        };
        // 21 slots at 4 per task: 6 tasks.
        assert_eq!(four.fleets(20.0, 1.0, 0.0).0, 6);
    }

    #[test]
    fn drain_fleet_works_off_the_backlog_within_the_goal() {
        let p = params();
        // 600 waiting within 30 s is 20/s, plus 20/s arriving: 40 slots of 1 s.
        assert_eq!(p.fleets(20.0, 1.0, 600.0).1, 40);
        let mut s = ScalerState::default();
        let (d, reason, _) = p.recommend(&flow(600, 20), true, 21, 0, &mut s);
        assert_eq!(d, 40, "{reason}");
    }

    #[test]
    fn scale_in_waits_for_the_stabilization_window() {
        let p = SloParams {
            scale_in_stabilization_secs: 300,
            rate_smoothing_secs: 0,
            ..params()
        };
        let mut s = ScalerState::default();
        assert_eq!(p.recommend(&flow(0, 20), true, 21, 0, &mut s).0, 21);
        // The load halves: the raw answer drops, but 21 held within the window.
        let (d, _, lim) = p.recommend(&flow(0, 10), true, 21, 60_000, &mut s);
        assert_eq!((d, lim), (21, Some(Limit::StabilizationWindow)));
        let (d, _, _) = p.recommend(&flow(0, 10), true, 21, 360_000, &mut s);
        assert!(d < 21, "{d}");
    }

    #[test]
    fn unknown_service_time_holds_and_only_doubles_when_late_or_starved() {
        let p = SloParams {
            service_secs: None,
            ..params()
        };
        let mut s = ScalerState::default();
        let (d, reason, _) = p.recommend(&flow(5, 3), true, 4, 0, &mut s);
        assert_eq!(
            (d, reason),
            (4, Reason::ServiceTimeUnknown { backlog: 5.0 })
        );
        let late = Flow {
            oldest_age_ms: Some(31_000),
            ..flow(5, 3)
        };
        assert_eq!(p.recommend(&late, true, 4, 60_000, &mut s).0, 8);
        assert_eq!(p.recommend(&flow(5, 0), true, 0, 120_000, &mut s).0, 1);
        assert_eq!(p.recommend(&flow(0, 0), true, 0, 180_000, &mut s).0, 0);
    }

    #[test]
    fn the_drain_fleet_is_not_held_after_the_backlog_drains() {
        let p = SloParams {
            scale_in_stabilization_secs: 300,
            rate_smoothing_secs: 0,
            ..params()
        };
        let mut s = ScalerState::default();
        // 20/s on 1 s: 21 for the queue; 600 waiting add 20 more to drain them within 30 s.
        assert_eq!(p.recommend(&flow(600, 20), true, 21, 0, &mut s).0, 40);
        // Drained a minute later at the same 20/s: back to the queueing fleet with headroom
        // (20/s + 15 % in 30 s at p99: 24), not held at 40 for the window.
        let (d, _, lim) = p.recommend(&flow(0, 20), true, 40, 60_000, &mut s);
        assert_eq!((d, lim), (24, Some(Limit::StabilizationWindow)));
    }

    #[test]
    fn scale_in_keeps_headroom_over_the_windows_peak_rate() {
        let p = SloParams {
            scale_in_stabilization_secs: 300,
            rate_smoothing_secs: 0,
            ..params()
        };
        let mut s = ScalerState::default();
        p.recommend(&flow(0, 20), true, 30, 0, &mut s);
        // The rate halves: the raw answer is the queueing fleet for 10/s, but scale-in stops
        // at the fleet for 20/s × 1.15, the window's peak with headroom.
        let (d, reason, lim) = p.recommend(&flow(0, 10), true, 30, 60_000, &mut s);
        let peak = p.fleets(20.0 * (1.0 + SCALE_IN_HEADROOM), 1.0, 0.0).0;
        assert_eq!(
            (d, lim),
            (peak, Some(Limit::StabilizationWindow)),
            "{reason}"
        );
        assert!(peak > p.fleets(20.0, 1.0, 0.0).0);
        // Once the window has passed, the headroom is over the new rate only.
        let (d, _, _) = p.recommend(&flow(0, 10), true, peak, 400_000, &mut s);
        assert_eq!(d, p.fleets(10.0 * (1.0 + SCALE_IN_HEADROOM), 1.0, 0.0).0);
        // It scales out at once, without headroom, when the rate comes back (the first
        // interval's trapezoid sees half the step: 15/s).
        p.recommend(&flow(0, 20), true, 12, 460_000, &mut s);
        let (d, _, lim) = p.recommend(&flow(0, 20), true, 16, 520_000, &mut s);
        assert_eq!((d, lim), (21, None));
    }

    #[test]
    fn a_partial_read_leaves_the_estimator_alone() {
        let p = params();
        let mut s = ScalerState::default();
        p.recommend(&flow(0, 20), true, 21, 0, &mut s);
        let before = s.arrivals;
        p.recommend(&flow(0, 0), false, 21, 60_000, &mut s);
        assert_eq!(s.arrivals, before);
    }
}
