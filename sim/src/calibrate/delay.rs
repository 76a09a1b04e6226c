//! The metric delay from a record and a log of the messages sent: how late the probe's counts
//! follow the sends.
//!
//! Over each interval the count of visible + in-flight messages rises by the messages sent less
//! those completed. The probe sees both `d` seconds late; the log has the sends on time. The
//! completions follow from the in-flight count the probe read (Little's law: in flight × the
//! interval ÷ the mean service time), late by the same `d`. So the delay is the shift of the
//! sends that best balances each interval's flow: the least sum of squared imbalances.

use super::fit::Fitted;
use crate::parity::LiveTick;

/// The fitted delay's name in `calibration.json`.
pub const METRIC_DELAY: &str = "controller.metric_delay_secs";
/// Shifts tried: up to this many periods, and at most half an hour.
const MAX_PERIODS: f64 = 30.0;
/// Shifts tried per period.
const STEPS_PER_PERIOD: f64 = 10.0;
/// Below this share of the rises' variance explained, the sends do not explain them: no fit.
const MIN_EXPLAINED: f64 = 0.3;

/// The delay and how well the shifted sends explain the rises.
#[derive(Debug, Clone)]
pub struct DelayFit {
    /// The delay, its interval, its data and its method.
    pub fitted: Fitted,
    /// The share of the flow's variance the shifted sends explain (R²).
    pub explained: f64,
}

/// The delay fitted from `ticks`, whose `arrivals` are the sends in each interval (from a log,
/// not the probe's own rate, which is as late as its counts), with `mean_service_s` the mean
/// service time; or why it could not be.
///
/// # Errors
/// Too few intervals, no in-flight counts, or rises the sends do not explain.
pub fn metric_delay(ticks: &[LiveTick], mean_service_s: f64) -> Result<DelayFit, String> {
    // The cumulative sends at each tick (linear between ticks), and each interval's rise plus
    // its completions: what was sent in it, as the probe saw it.
    let mut at = Vec::with_capacity(ticks.len());
    let mut cum = Vec::with_capacity(ticks.len());
    let mut seen_sent = Vec::with_capacity(ticks.len());
    let mut total = 0.0;
    let mut last: Option<(f64, f64, f64)> = None;
    for t in ticks {
        total += t.arrivals.unwrap_or(0.0);
        let secs = t.at_us as f64 / 1e6;
        at.push(secs);
        cum.push(total);
        let now = match (t.visible, t.in_flight) {
            (Some(v), Some(f)) => Some((secs, (v + f) as f64, f as f64)),
            _ => None,
        };
        seen_sent.push(match (last, now) {
            (Some((t0, b0, f0)), Some((t1, b1, f1))) => {
                Some(b1 - b0 + f64::midpoint(f0, f1) * (t1 - t0) / mean_service_s)
            }
            _ => None,
        });
        last = now;
    }
    if at.len() < 40 || mean_service_s.is_nan() || mean_service_s <= 0.0 {
        return Err(format!(
            "{} rows; at least 40 with a mean service time are needed to line the sends up with the counts",
            at.len()
        ));
    }
    let period = (at[at.len() - 1] - at[0]) / (at.len() - 1) as f64;
    if !(period.is_finite() && period > 0.0) {
        // No time between the rows: no shift could be stepped through.
        return Err(format!(
            "the rows span {:.3} s: no time to line the sends up in",
            at[at.len() - 1] - at[0]
        ));
    }
    let sent_by = |x: f64| -> Option<f64> {
        if x < at[0] || x > at[at.len() - 1] {
            return None;
        }
        let k = at.partition_point(|&t| t < x);
        if k == 0 {
            return Some(cum[0]);
        }
        let (t0, t1) = (at[k - 1], at[k]);
        let f = if t1 > t0 { (x - t0) / (t1 - t0) } else { 1.0 };
        Some(cum[k - 1] + f * (cum[k] - cum[k - 1]))
    };
    let max_shift = (MAX_PERIODS * period).min(1_800.0);
    let step = period / STEPS_PER_PERIOD;
    // Only intervals every shift can use, so the sums compare like with like.
    let first = at.partition_point(|&t| t < at[0] + max_shift) + 1;
    let ks: Vec<usize> = (first.max(1)..at.len())
        .filter(|&k| seen_sent[k].is_some())
        .collect();
    if ks.len() < 30 {
        return Err(format!(
            "{} intervals read the queue after the first {max_shift:.0} s; at least 30 are needed",
            ks.len()
        ));
    }
    let n = ks.len() as f64;
    let mean_seen = ks.iter().filter_map(|&k| seen_sent[k]).sum::<f64>() / n;
    let total_var: f64 = ks
        .iter()
        .filter_map(|&k| seen_sent[k])
        .map(|y| (y - mean_seen).powi(2))
        .sum();
    if total_var <= 1e-9 {
        return Err(
            "the counts do not change, so no shift of the sends can be told from another".into(),
        );
    }
    let mut curve = Vec::new();
    let mut shift = 0.0;
    while shift <= max_shift + 1e-9 {
        let sse: f64 = ks
            .iter()
            .filter_map(|&k| {
                let sent = sent_by(at[k] - shift)? - sent_by(at[k - 1] - shift)?;
                Some((seen_sent[k]? - sent).powi(2))
            })
            .sum();
        curve.push((shift, sse));
        shift += step;
    }
    let Some(&(best, sse)) = curve.iter().min_by(|a, b| a.1.total_cmp(&b.1)) else {
        return Err("no shift could be tried".into());
    };
    let explained = 1.0 - sse / total_var;
    if explained < MIN_EXPLAINED {
        return Err(format!(
            "the sends explain the counts poorly at any shift up to {max_shift:.0} s (at most {:.0} % of their variance, and {:.0} % is needed)",
            explained * 100.0,
            MIN_EXPLAINED * 100.0
        ));
    }
    // A profile-likelihood interval: the shifts whose squared imbalance is within the 90 %
    // point of χ²(1) (2.71) of the best, in units of the best's variance per interval.
    let bound = sse * (1.0 + 2.71 / n);
    let near: Vec<f64> = curve.iter().filter(|c| c.1 <= bound).map(|c| c.0).collect();
    let lo = near.iter().copied().fold(best, f64::min);
    let hi = near.iter().copied().fold(best, f64::max);
    Ok(DelayFit {
        fitted: Fitted {
            parameter: METRIC_DELAY.into(),
            estimate: best,
            interval_90: [lo, hi],
            samples: ks.len(),
            data: format!(
                "{} intervals: the rise of visible + in flight plus the completions (in flight × interval ÷ {mean_service_s:.3} s), against the log's sends",
                ks.len()
            ),
            method: format!(
                "the shift of the sends (0 to {max_shift:.0} s, every {step:.2} s) with the least squared flow imbalance ({:.0} % of the variance explained); interval: the shifts within χ²(1)'s 90 % point of it",
                explained * 100.0
            ),
        },
        explained,
    })
}
