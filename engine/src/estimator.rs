//! The `slo` policy's online estimates of the arrival rate λ and the service time, kept in
//! [`ScalerState`](crate::ScalerState) so the simulator and the live runners carry them alike.
//!
//! Each decision sees a [`Flow`]: visible messages V, in-flight messages B (messages being
//! worked: busy slots), optionally the source's reported arrival rate R and the age of the
//! oldest visible message. Between two observations dt seconds apart, with N = V + B and
//! B̄ = (B_prev + B_now)/2 (trapezoid), message conservation says
//!
//! arrivals = ΔN + completions, completions = B̄·dt / S (Little's law on the busy slots),
//!
//! where S is the mean service time (a message's time in flight, receive to delete).
//!
//! **Arrival rate sample**, the first that applies:
//! 1. R, when a source reports one (summed over the sources that do), unless R = 0 while the
//!    counts show arrivals (see below);
//! 2. the backlog-age rate (below), when enough messages waited at both ends;
//! 3. with S known (configured or learned), λᵢ = max(0, ΔN/dt + B̄/S);
//! 4. when no slot was busy at either end, λᵢ = max(0, ΔN/dt) (nothing completed);
//! 5. otherwise no sample: λ̂ keeps its value.
//!
//! The first observation has no interval: its sample is R, or B/S when S is known (steady
//! state: as many arrive as complete), and it starts λ̂ when λ̂ has no value yet. The trapezoid B̄ is exact for a fleet that holds still and errs by at most half
//! the step when the fleet changes within the interval at a moment the counts do not show;
//! under a backlog the age rate (2) does not depend on B̄ at all.
//!
//! The latest λᵢ is kept beside λ̂ (none when the interval gave no sample): the `slo` policy
//! sizes its scale-in floor for the higher of the two.
//!
//! **A reported 0 that the counts contradict is not used.** A metric source reads 0 for a
//! window that holds no data point yet (CloudWatch publishes minutes late), which a live
//! queue cannot be told apart from "nothing was sent" by. So R = 0 is taken as unknown, and
//! the next rule applies, when messages are in flight at this observation (a busy slot was
//! handed a message, so one arrived within a service time or the slot is still on an old
//! one) or when the count N = V + B grew since the last (nothing grows without arrivals).
//! A queue that is truly idle (nothing in flight, N not growing) keeps its reported 0.
//!
//! **Smoothing.** An exponentially weighted moving average in time with time constant
//! τ = `rate_smoothing_secs`: λ̂ ← λ̂ + α·(λᵢ − λ̂), α = 1 − exp(−dt/τ) (τ = 0: no smoothing).
//! Uneven periods weigh correctly, and a gap of several τ forgets the past. The in-flight
//! count is a point sample, so on a steady load λᵢ scatters by about √a / (S·√2) around λ
//! (a = λS busy slots); τ trades that scatter against how fast λ̂ follows a real change.
//!
//! **Learning S** (when `service_secs` is omitted) needs the throughput measured without S:
//! throughput X = A/dt − ΔN/dt, with A from an arrival count that does not depend on S:
//! - R, when the source reports a rate;
//! - else the backlog's age: in a FIFO queue every visible message arrived after the oldest
//!   one, so V arrived in the last `oldest_age` seconds and λ ≈ (V_prev + V_now) /
//!   (age_prev + age_now). Used only when at least [`MIN_AGED_BACKLOG`] messages wait at both
//!   ends and there is a single source, and, when both ages are whole seconds (a source that
//!   rounds, as SQS does), only when both are at least [`MIN_COARSE_AGE_MS`].
//!
//! An interval with messages waiting at both ends whose in-flight count moved by more than
//! [`FLEET_STEP_TOLERANCE`] teaches nothing once S has an estimate: every slot was busy, so
//! the fleet changed at a moment the counts do not show and B̄ is known only within half the
//! step. Before the first estimate it is used all the same (B̄ the trapezoid): a fleet that
//! grows at every decision while a backlog builds would otherwise never learn S, and later
//! steady intervals outweigh it. Over the other intervals (B̄ > 0) the
//! estimator keeps EWMAs of B̄ and X, both started at 0 and weighted alike with time constant
//! [`SERVICE_SMOOTHING_SECS`], and S = EWMA(B̄) / EWMA(X): busy time over completions,
//! Little's law again. Starting both at 0 biases neither the ratio, so the first interval alone
//! gives an estimate and later ones refine it. The horizon is longer than λ's because a
//! service time changes with deployments, not with traffic, and one interval's throughput is
//! noisy (a few percent on a minute of Poisson arrivals).
//!
//! **Limits.** Counts alone identify only the offered load a = λ·S (the busy slots), not λ and
//! S apart: a fleet that never queues and a source that reports no rate never reveal S. Such
//! deployments (Redis lists, Kafka lag, SQS without CloudWatch) should set `service_secs`.
//! A source's reported rate may lag (CloudWatch is minutes old); the learned S then errs in
//! transients and settles on a steady load. With several sources R is the sum of the rates
//! reported, so each queue's inflow must be reported exactly once (an SQS queue with CloudWatch
//! metrics or the SNS topic that feeds it, not both). A partial read (one source failed) is
//! not used: the missing source would look like messages vanishing.

use serde::{Deserialize, Serialize};

use crate::clock::Millis;

/// Time constant of the service-time averages, seconds.
pub const SERVICE_SMOOTHING_SECS: f64 = 600.0;

/// Largest relative move of the in-flight count, under a backlog, in an interval that still
/// teaches the service time.
pub const FLEET_STEP_TOLERANCE: f64 = 0.1;

/// Fewest visible messages, at both ends of an interval, for the backlog-age arrival rate.
/// Below it V/age is too noisy (one message with a young age reads as a burst).
pub const MIN_AGED_BACKLOG: u64 = 10;

/// Youngest oldest-message age, milliseconds, at both ends of an interval, for the
/// backlog-age arrival rate when both ages are whole seconds. Such a source (SQS's
/// `ApproximateAgeOfOldestMessage`) rounds by up to a second, and below 5 s that error skews
/// S by more than a fifth. The error would go unseen: the reactive fleet depends on λ̂·S,
/// which the busy slots pin down whatever S is, but the forecast stores λ̂ alone.
pub const MIN_COARSE_AGE_MS: u64 = 5_000;

/// What the sources add up to at one decision, as the estimator sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Flow {
    /// Visible messages, summed over the sources.
    pub visible: u64,
    /// In-flight messages, summed over the sources.
    pub in_flight: u64,
    /// The sum of the reported arrival rates, when at least one source reports one.
    pub arrival_rate_per_s: Option<f64>,
    /// Age of the oldest visible message, when there is one source and it knows it.
    pub oldest_age_ms: Option<u64>,
}

/// One observation, kept for the next interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlowSnapshot {
    /// When it was made.
    pub at_ms: Millis,
    /// Visible messages.
    pub visible: u64,
    /// In-flight messages.
    pub in_flight: u64,
    /// Age of the oldest visible message, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_age_ms: Option<u64>,
}

/// The estimator's memory between decisions (see the module doc for the formulas).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArrivalEstimate {
    /// The last observation used; none before the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<FlowSnapshot>,
    /// Smoothed arrival rate λ̂, messages per second; none until there is a sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_per_s: Option<f64>,
    /// The latest interval's own sample λᵢ, before smoothing; none when the last observation
    /// gave no sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_per_s: Option<f64>,
    /// Busy slots over the intervals whose throughput was measured, EWMA from 0 (only its
    /// ratio to `throughput_per_s` means anything).
    pub busy_slots: f64,
    /// Throughput over the same intervals, messages per second, EWMA from 0 (0: none yet).
    pub throughput_per_s: f64,
}

impl ArrivalEstimate {
    /// The learned mean service time S = EWMA(busy slots) / EWMA(throughput), in seconds;
    /// none until an interval has measured the throughput.
    #[must_use]
    pub fn learned_service_secs(&self) -> Option<f64> {
        let s = self.busy_slots / self.throughput_per_s;
        (self.throughput_per_s > 0.0 && s.is_finite() && s > 0.0).then_some(s)
    }

    /// The service time in use: `configured`, else the learned one.
    #[must_use]
    pub fn service_secs(&self, configured: Option<f64>) -> Option<f64> {
        configured.or_else(|| self.learned_service_secs())
    }

    /// Takes one observation at `now`. `configured_service_secs` is the policy's
    /// `service_secs`; `smoothing_secs` is τ. A time that does not move forward is ignored.
    pub fn observe(
        &mut self,
        now: Millis,
        flow: &Flow,
        configured_service_secs: Option<f64>,
        smoothing_secs: f64,
    ) {
        let total_now = flow.visible as f64 + flow.in_flight as f64;
        let grew = self
            .last
            .is_some_and(|p| total_now > p.visible as f64 + p.in_flight as f64);
        let reported = flow
            .arrival_rate_per_s
            .filter(|r| r.is_finite() && *r >= 0.0)
            // An empty metric window reads 0; the counts say whether that can be true.
            .filter(|r| *r > 0.0 || (flow.in_flight == 0 && !grew));
        let here = FlowSnapshot {
            at_ms: now,
            visible: flow.visible,
            in_flight: flow.in_flight,
            oldest_age_ms: flow.oldest_age_ms,
        };
        let Some(prev) = self.last else {
            self.last = Some(here);
            let first = reported.or_else(|| {
                self.service_secs(configured_service_secs)
                    .map(|s| flow.in_flight as f64 / s)
            });
            self.sample_per_s = first;
            if self.rate_per_s.is_none() {
                self.rate_per_s = first;
            }
            return;
        };
        if now <= prev.at_ms {
            return;
        }
        self.last = Some(here);
        let dt = (now - prev.at_ms) as f64 / 1000.0;
        let alpha = smoothing_weight(dt, smoothing_secs);
        let total_prev = prev.visible as f64 + prev.in_flight as f64;
        let growth = (total_now - total_prev) / dt;
        let busy = f64::midpoint(prev.in_flight as f64, flow.in_flight as f64);

        let measured = reported.or_else(|| aged_arrival_rate(&prev, &here));
        let fleet_stepped = prev.visible > 0
            && here.visible > 0
            && prev.in_flight.abs_diff(here.in_flight) as f64
                > FLEET_STEP_TOLERANCE * prev.in_flight.max(here.in_flight) as f64;
        // Until a first estimate exists, a stepped interval still teaches: B̄ then errs by at
        // most half the step, far less than not knowing S at all, and later steady intervals
        // outweigh it.
        let learned = self.throughput_per_s > 0.0;
        if configured_service_secs.is_none() && busy > 0.0 && (!fleet_stepped || !learned) {
            if let Some(arrivals) = measured {
                let throughput = (arrivals - growth).max(0.0);
                let weight = smoothing_weight(dt, SERVICE_SMOOTHING_SECS);
                self.busy_slots += weight * (busy - self.busy_slots);
                self.throughput_per_s += weight * (throughput - self.throughput_per_s);
            }
        }

        let sample = measured
            .or_else(|| {
                self.service_secs(configured_service_secs)
                    .map(|s| (growth + busy / s).max(0.0))
            })
            .or_else(|| (busy == 0.0).then_some(growth.max(0.0)));
        self.sample_per_s = sample;
        if let Some(sample) = sample {
            self.rate_per_s = Some(match self.rate_per_s {
                Some(rate) => rate + alpha * (sample - rate),
                None => sample,
            });
        }
    }
}

/// The EWMA weight of an interval of `dt` seconds under time constant `tau` (0: no memory).
///
/// A controller ticks on a fixed period, so the same (dt, τ) pairs come back every tick: the
/// last two weights are kept per thread, and `exp_m1` runs only for a new pair. The value is
/// the same either way.
fn smoothing_weight(dt: f64, tau: f64) -> f64 {
    use std::cell::Cell;
    thread_local! {
        /// (dt bits, τ bits, weight), most recent first; τ = 0 never gets here, so the zero
        /// keys match nothing.
        static RECENT: Cell<[(u64, u64, f64); 2]> = const { Cell::new([(0, 0, 0.0); 2]) };
    }
    if tau.is_nan() || tau <= 0.0 {
        return 1.0;
    }
    let key = (dt.to_bits(), tau.to_bits());
    RECENT.with(|recent| {
        let [a, b] = recent.get();
        if (a.0, a.1) == key {
            return a.2;
        }
        if (b.0, b.1) == key {
            recent.set([b, a]);
            return b.2;
        }
        let w = -(-dt / tau).exp_m1();
        recent.set([(key.0, key.1, w), a]);
        w
    })
}

/// λ from the backlog's age (see the module doc), when enough messages waited at both ends.
fn aged_arrival_rate(prev: &FlowSnapshot, now: &FlowSnapshot) -> Option<f64> {
    if prev.visible < MIN_AGED_BACKLOG || now.visible < MIN_AGED_BACKLOG {
        return None;
    }
    let (age_prev, age_now) = (prev.oldest_age_ms?, now.oldest_age_ms?);
    let whole_seconds = age_prev % 1000 == 0 && age_now % 1000 == 0;
    if whole_seconds && age_prev.min(age_now) < MIN_COARSE_AGE_MS {
        return None;
    }
    let ages_ms = age_prev.saturating_add(age_now);
    Some((prev.visible as f64 + now.visible as f64) * 1000.0 / ages_ms as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_weights_are_the_computed_ones() {
        // Two pairs alternating (both hit the memory), a third evicting one, and τ <= 0.
        let pairs: [(f64, f64); 4] = [(60.0, 300.0), (60.0, 3600.0), (60.0, 300.0), (30.0, 300.0)];
        for _ in 0..3 {
            for (dt, tau) in pairs {
                let w: f64 = -(-dt / tau).exp_m1();
                assert_eq!(
                    smoothing_weight(dt, tau).to_bits(),
                    w.to_bits(),
                    "{dt} {tau}"
                );
            }
        }
        assert_eq!(smoothing_weight(60.0, 0.0).to_bits(), 1.0f64.to_bits());
        assert_eq!(smoothing_weight(60.0, f64::NAN).to_bits(), 1.0f64.to_bits());
    }

    fn flow(visible: u64, in_flight: u64) -> Flow {
        Flow {
            visible,
            in_flight,
            ..Flow::default()
        }
    }

    #[test]
    fn conservation_with_a_known_service_time() {
        let mut e = ArrivalEstimate::default();
        // 10 busy slots at 0.5 s each complete 20/s; the total grew by 60 in 60 s: λ = 21/s.
        e.observe(0, &flow(0, 10), Some(0.5), 0.0);
        assert_eq!(e.rate_per_s, Some(20.0));
        e.observe(60_000, &flow(60, 10), Some(0.5), 0.0);
        assert_eq!(e.rate_per_s, Some(21.0));
    }

    #[test]
    fn a_reported_rate_wins_and_teaches_the_service_time() {
        let mut e = ArrivalEstimate::default();
        let mut f = flow(100, 8);
        f.arrival_rate_per_s = Some(10.0);
        e.observe(0, &f, None, 60.0);
        assert_eq!(e.rate_per_s, Some(10.0));
        // The backlog fell by 60 in 60 s: throughput 11/s on 8 busy slots, S = 8/11 s.
        f.visible = 40;
        e.observe(60_000, &f, None, 60.0);
        assert_eq!(e.rate_per_s, Some(10.0));
        let s = e.learned_service_secs().unwrap_or_default();
        assert!((s - 8.0 / 11.0).abs() < 1e-12, "{s}");
    }

    #[test]
    fn a_reported_zero_that_the_counts_contradict_is_not_used() {
        // S = 0.5 s configured; an empty CloudWatch window reports 0 while 10 slots work.
        let zero = |visible, in_flight| Flow {
            arrival_rate_per_s: Some(0.0),
            ..flow(visible, in_flight)
        };
        let mut e = ArrivalEstimate::default();
        e.observe(0, &zero(0, 10), Some(0.5), 0.0);
        assert_eq!(e.rate_per_s, Some(20.0));
        // Conservation, not the 0: 10 slots of 0.5 s complete 20/s and 60 more wait.
        e.observe(60_000, &zero(60, 10), Some(0.5), 0.0);
        assert_eq!(e.rate_per_s, Some(21.0));
        // Without S, nothing in flight but a growing count: ΔN/dt, not 0.
        let mut e = ArrivalEstimate::default();
        e.observe(0, &zero(0, 0), None, 0.0);
        e.observe(10_000, &zero(50, 0), None, 0.0);
        assert_eq!(e.rate_per_s, Some(5.0));
        // Idle and not growing: the reported 0 stands.
        e.observe(20_000, &zero(50, 0), None, 0.0);
        assert_eq!(e.rate_per_s, Some(0.0));
        // A positive report is taken as it is, as before.
        let mut f = flow(50, 3);
        f.arrival_rate_per_s = Some(7.0);
        e.observe(30_000, &f, None, 0.0);
        assert_eq!(e.rate_per_s, Some(7.0));
    }

    #[test]
    fn the_backlog_age_teaches_the_service_time() {
        let mut e = ArrivalEstimate::default();
        // FIFO at 20/s: 400 waiting span 20 s; 15 slots at 1 s drain 15/s, so V grows 5/s.
        let at = |t: u64| Flow {
            visible: 400 + 5 * t,
            in_flight: 15,
            oldest_age_ms: Some((400 + 5 * t) * 1000 / 20),
            ..Flow::default()
        };
        e.observe(0, &at(0), None, 60.0);
        assert_eq!(e.rate_per_s, None);
        e.observe(60_000, &at(60), None, 60.0);
        let s = e.learned_service_secs().unwrap_or_default();
        assert!((s - 1.0).abs() < 1e-9, "{s}");
        let rate = e.rate_per_s.unwrap_or_default();
        assert!((rate - 20.0).abs() < 1e-9, "{rate}");
    }

    #[test]
    fn a_growing_fleet_still_teaches_the_first_estimate() {
        // FIFO at 20/s; the fleet grows from 10 to 15 slots of 1 s midway through the
        // interval, so 450 more messages are in the queue (visible or in flight) after 60 s.
        let at = |visible: u64, in_flight: u64| Flow {
            visible,
            in_flight,
            oldest_age_ms: Some(visible * 1000 / 20),
            ..Flow::default()
        };
        let mut e = ArrivalEstimate::default();
        e.observe(0, &at(600, 10), None, 60.0);
        e.observe(60_000, &at(1045, 15), None, 60.0);
        // B̄ = 12.5 by the trapezoid; throughput 20 − 7.5 = 12.5/s: S = 1 s.
        let s = e.learned_service_secs().unwrap_or_default();
        assert!((s - 1.0).abs() < 1e-9, "{s}");
        // Once S is known, a stepped interval no longer moves it.
        let before = (e.busy_slots, e.throughput_per_s);
        e.observe(120_000, &at(1200, 25), None, 60.0);
        assert_eq!((e.busy_slots, e.throughput_per_s), before);
    }

    #[test]
    fn short_whole_second_ages_do_not_teach() {
        // 2 s and 3 s reported in whole seconds could be 3 and 4: a third off.
        let at = |visible: u64, age_ms: u64| Flow {
            visible,
            in_flight: 10,
            oldest_age_ms: Some(age_ms),
            ..Flow::default()
        };
        let mut e = ArrivalEstimate::default();
        e.observe(0, &at(40, 2_000), None, 60.0);
        e.observe(60_000, &at(60, 3_000), None, 60.0);
        assert_eq!(e.learned_service_secs(), None);
        // The same backlog with ages to the millisecond teaches.
        let mut e = ArrivalEstimate::default();
        e.observe(0, &at(40, 2_001), None, 60.0);
        e.observe(60_000, &at(60, 3_001), None, 60.0);
        assert!(e.learned_service_secs().is_some());
    }

    #[test]
    fn the_latest_sample_is_kept_beside_the_average() {
        let mut e = ArrivalEstimate::default();
        e.observe(0, &flow(0, 10), Some(1.0), 60.0);
        e.observe(60_000, &flow(600, 10), Some(1.0), 60.0);
        // λᵢ = 600/60 + 10/1 = 20/s; λ̂ moves only part of the way from 10.
        assert_eq!(e.sample_per_s, Some(20.0));
        assert!(e.rate_per_s.unwrap_or_default() < 20.0);
        // An interval with no sample clears it rather than keep a stale one.
        e.observe(120_000, &flow(5, 3), None, 60.0);
        assert_eq!(e.sample_per_s, None);
    }

    #[test]
    fn unknown_service_time_without_aged_backlog_gives_no_rate() {
        let mut e = ArrivalEstimate::default();
        e.observe(0, &flow(3, 5), None, 60.0);
        e.observe(60_000, &flow(2, 6), None, 60.0);
        assert_eq!(e.rate_per_s, None);
        assert_eq!(e.learned_service_secs(), None);
    }

    #[test]
    fn idle_slots_measure_arrivals_exactly() {
        let mut e = ArrivalEstimate::default();
        e.observe(0, &flow(0, 0), None, 0.0);
        e.observe(10_000, &flow(50, 0), None, 0.0);
        assert_eq!(e.rate_per_s, Some(5.0));
    }

    #[test]
    fn time_that_does_not_advance_is_ignored() {
        let mut e = ArrivalEstimate::default();
        e.observe(5_000, &flow(0, 4), Some(1.0), 60.0);
        let before = e;
        e.observe(5_000, &flow(900, 4), Some(1.0), 60.0);
        e.observe(1_000, &flow(900, 4), Some(1.0), 60.0);
        assert_eq!(e, before);
    }

    #[test]
    fn smoothing_weighs_by_elapsed_time() {
        let mut e = ArrivalEstimate {
            rate_per_s: Some(10.0),
            last: Some(FlowSnapshot::default()),
            ..ArrivalEstimate::default()
        };
        let mut f = flow(0, 0);
        f.arrival_rate_per_s = Some(20.0);
        e.observe(60_000, &f, None, 60.0);
        let expected = 10.0 + (1.0 - (-1.0f64).exp()) * 10.0;
        let got = e.rate_per_s.unwrap_or_default();
        assert!((got - expected).abs() < 1e-12, "{got}");
    }
}
