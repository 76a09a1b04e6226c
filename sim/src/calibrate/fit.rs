//! The estimators: service time by Little's law over a recorded run, start-up delays from the
//! time each ordered task took to run, a lognormal fitted to them, and intervals by batch
//! means and by a seeded bootstrap.

use serde::Serialize;

use crate::parity::LiveTick;
use crate::rng::SimRng;

/// One fitted parameter, as `calibration.json` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fitted {
    /// The parameter, as the scenario names it.
    pub parameter: String,
    /// The estimate.
    pub estimate: f64,
    /// A 90 % confidence interval, low and high.
    pub interval_90: [f64; 2],
    /// How many samples (intervals, tasks, rows) it rests on.
    pub samples: usize,
    /// The data it came from.
    pub data: String,
    /// How it was computed.
    pub method: String,
}

/// Why a fit could not be made: what is missing and how much more is needed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("not enough data for {parameter}: {detail}")]
pub struct Thin {
    /// The parameter.
    pub parameter: String,
    /// What is missing, and what to do.
    pub detail: String,
}

/// Completions per interval (arrivals less the rise of visible + in flight), with the mean
/// in-flight count over it, for every pair of rows that both read the queue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Start, µs.
    pub from_us: i64,
    /// Length, seconds.
    pub secs: f64,
    /// Messages completed in it.
    pub completed: f64,
    /// Mean messages in flight over it (trapezoid).
    pub in_flight: f64,
    /// The in-flight count when it kept every slot busy: the queue not empty at either end
    /// and the in-flight count the same at both (for the service time's spread).
    pub steady_busy: Option<f64>,
}

/// The intervals of `ticks` whose two ends read the queue and record arrivals.
#[must_use]
pub fn intervals(ticks: &[LiveTick]) -> Vec<Interval> {
    ticks
        .windows(2)
        .filter_map(|w| {
            let (a, b) = (&w[0], &w[1]);
            let (va, ia) = (a.visible? as f64, a.in_flight? as f64);
            let (vb, ib) = (b.visible? as f64, b.in_flight? as f64);
            let arrived = b.arrivals?;
            let secs = (b.at_us - a.at_us) as f64 / 1e6;
            Some(Interval {
                from_us: a.at_us,
                secs,
                completed: arrived - ((vb + ib) - (va + ia)),
                in_flight: f64::midpoint(ia, ib),
                // The counts are whole numbers: compared as such.
                steady_busy: (a.visible > Some(0)
                    && b.visible > Some(0)
                    && a.in_flight > Some(0)
                    && a.in_flight == b.in_flight)
                    .then_some(ia),
            })
        })
        .collect()
}

/// The fitted (or stated) mean service time's name in `calibration.json`.
pub const SERVICE_MEAN: &str = "plant.service_time (mean)";
/// The start-up lognormal's median's name in `calibration.json`.
pub const STARTUP_MEDIAN: &str = "plant.startup (lognormal median_secs)";

/// The mean service time: the time-integral of the in-flight count over the messages
/// completed (Little's law, L = λW, over the busy slots), with a 90 % interval from the
/// spread of ten batches of consecutive intervals.
///
/// # Errors
/// Fewer than 100 messages completed, or fewer than 20 intervals.
pub fn service_time(iv: &[Interval]) -> Result<(Fitted, Vec<(i64, f64)>), Thin> {
    let thin = |detail: String| Thin {
        parameter: "plant.service_time".into(),
        detail,
    };
    let completed: f64 = iv.iter().map(|i| i.completed).sum();
    let busy: f64 = iv.iter().map(|i| i.in_flight * i.secs).sum();
    if iv.len() < 20 {
        return Err(thin(format!(
            "{} intervals with both a completion count and an in-flight figure; at least 20 are needed: record (or read history) longer, or state the mean with --service-secs (a source without an in-flight count, such as Kafka or Kinesis, never gives it)",
            iv.len()
        )));
    }
    if completed < 100.0 || busy <= 0.0 {
        return Err(thin(format!(
            "{completed:.0} messages completed with {busy:.0} message-seconds in flight; at least 100 completed messages (and work in flight) are needed: record while the service works, or state the mean with --service-secs (a source without an in-flight count, such as Kafka or Kinesis, never gives it)"
        )));
    }
    let mean = busy / completed;
    // Ten batches: each its own Little's-law ratio; their spread gives the interval.
    let batches = 10;
    let per = iv.len() / batches;
    let mut ratios = Vec::new();
    let mut series = Vec::new();
    for b in 0..batches {
        let part = &iv[b * per..if b + 1 == batches {
            iv.len()
        } else {
            (b + 1) * per
        }];
        let c: f64 = part.iter().map(|i| i.completed).sum();
        let w: f64 = part.iter().map(|i| i.in_flight * i.secs).sum();
        if c > 0.0 && w > 0.0 {
            ratios.push(w / c);
            series.push((part[part.len() / 2].from_us, w / c));
        }
    }
    let half = t90(ratios.len()) * sd(&ratios) / (ratios.len() as f64).sqrt();
    Ok((
        Fitted {
            parameter: SERVICE_MEAN.into(),
            estimate: mean,
            interval_90: [(mean - half).max(0.0), mean + half],
            samples: iv.len(),
            data: format!(
                "{completed:.0} messages completed over {} intervals ({:.0} s): arrivals less the rise of visible + in flight",
                iv.len(),
                iv.iter().map(|i| i.secs).sum::<f64>()
            ),
            method: format!(
                "Little's law: message-seconds in flight ÷ messages completed; interval from {} batches of consecutive intervals",
                ratios.len()
            ),
        },
        series,
    ))
}

/// The seconds each task a scale-out ordered took to run: from the decision's row to the
/// first row where ECS ran that many tasks, taken at the middle of the period it fell in.
/// Tasks whose count was lowered again before they ran, and scale-outs while stopped tasks
/// still ran above the desired count, give no sample.
#[must_use]
pub fn startup_samples(ticks: &[LiveTick]) -> Vec<f64> {
    let mut out = Vec::new();
    for k in 0..ticks.len().saturating_sub(1) {
        let (now, next) = (&ticks[k], &ticks[k + 1]);
        let (Some(running), from, to) = (now.running, now.desired, next.desired) else {
            continue;
        };
        if to <= from || running > from {
            continue;
        }
        for j in from + 1..=to {
            for m in k + 1..ticks.len() {
                if ticks[m].desired < j {
                    break;
                }
                if ticks[m].running.is_some_and(|r| r >= j) {
                    let before = (ticks[m - 1].at_us - now.at_us) as f64 / 1e6;
                    let at = (ticks[m].at_us - now.at_us) as f64 / 1e6;
                    out.push(f64::midpoint(before, at));
                    break;
                }
            }
        }
    }
    out
}

/// A lognormal fitted to start-up delays: the median and σ of the logs, with 90 % intervals
/// on the mean from a bootstrap of 1,000 resamples (seeded: the same data give the same
/// interval).
///
/// # Errors
/// Fewer than 5 samples.
pub fn startup(samples: &[f64], ticks: usize) -> Result<([Fitted; 2], f64), Thin> {
    if samples.len() < 5 {
        return Err(Thin {
            parameter: "plant.startup".into(),
            detail: format!(
                "{} tasks were seen starting in {ticks} rows; at least 5 are needed: record a run with scale-outs (at a period well under the start-up delay), or state the start-up (--startup-secs with --since, or startup in the scenario)",
                samples.len()
            ),
        });
    }
    let logs: Vec<f64> = samples.iter().map(|s| s.max(1e-3).ln()).collect();
    let mu = mean(&logs);
    let sigma = sd(&logs);
    let mean_of = |mu: f64, sigma: f64| (mu + sigma * sigma / 2.0).exp();
    let mut rng = SimRng::new(0x5741_5254);
    let mut boot = Vec::with_capacity(1000);
    let mut medians = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let pick: Vec<f64> = (0..logs.len())
            .map(|_| logs[((rng.uniform() * logs.len() as f64) as usize).min(logs.len() - 1)])
            .collect();
        let (m, s) = (mean(&pick), sd(&pick));
        boot.push(mean_of(m, s));
        medians.push(m.exp());
    }
    let data = format!(
        "{} tasks: from the row of the scale-out that ordered each to the first row ECS ran it (the middle of that period)",
        samples.len()
    );
    Ok((
        [
        Fitted {
            parameter: STARTUP_MEDIAN.into(),
            estimate: mu.exp(),
            interval_90: quantiles(&mut medians),
            samples: samples.len(),
            data: data.clone(),
            method: "lognormal: median = exp(mean of the logs); interval: bootstrap, 1,000 resamples".into(),
        },
        Fitted {
            parameter: "plant.startup (mean, from the lognormal fit)".into(),
            estimate: mean_of(mu, sigma),
            interval_90: quantiles(&mut boot),
            samples: samples.len(),
            data,
            method: format!(
                "lognormal: exp(μ + σ²/2) with σ = {sigma:.3} (the sd of the logs); interval: bootstrap, 1,000 resamples"
            ),
        },
    ],
        sigma,
    ))
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

pub(super) fn sd(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

/// The 5 % and 95 % points of `v` (sorted here).
fn quantiles(v: &mut [f64]) -> [f64; 2] {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((q * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
    [at(0.05), at(0.95)]
}

/// Student's t at 95 % one-sided (a 90 % two-sided interval) for `n` samples.
pub(super) fn t90(n: usize) -> f64 {
    match n {
        0..=2 => 6.314,
        3 => 2.920,
        4 => 2.353,
        5 => 2.132,
        6 => 2.015,
        7 => 1.943,
        8 => 1.895,
        9 => 1.860,
        10 => 1.833,
        _ => 1.645,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lognormal_sample_gives_back_its_median() {
        let mut rng = SimRng::new(3);
        let samples: Vec<f64> = (0..400)
            .map(|_| 40.0 * (0.3 * rng.normal()).exp())
            .collect();
        let ([median, mean], sigma) = startup(&samples, 400).unwrap();
        assert!((sigma - 0.3).abs() < 0.05, "{sigma}");
        assert!((median.estimate - 40.0).abs() < 2.0, "{median:?}");
        assert!(median.interval_90[0] < 40.0 && 40.0 < median.interval_90[1]);
        assert!((mean.estimate - 40.0 * (0.045_f64).exp()).abs() < 2.0);
    }

    #[test]
    fn thin_data_says_how_much_more_is_needed() {
        let e = startup(&[30.0, 31.0], 50).unwrap_err().to_string();
        assert!(e.contains("2 tasks") && e.contains("at least 5"), "{e}");
        let e = service_time(&[]).unwrap_err().to_string();
        assert!(
            e.contains("0 intervals") && e.contains("at least 20"),
            "{e}"
        );
    }
}
