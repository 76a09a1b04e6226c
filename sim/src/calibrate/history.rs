//! A calibration's data from metric history instead of a record: one-minute series of the
//! messages sent, the messages completed and the average in flight (CloudWatch's, per queue type),
//! and the start-up delays of the service's tasks as ECS reports them.

use super::fit::Interval;
use super::Observed;

/// One-minute metric history of one queue and its service.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Messages sent per minute: (minute start, epoch seconds; count).
    pub sent: Vec<(i64, f64)>,
    /// Messages deleted (completed) per minute.
    pub deleted: Vec<(i64, f64)>,
    /// Messages in flight, averaged over each minute.
    pub in_flight: Vec<(i64, f64)>,
    /// Start-up delays of the service's tasks (created to started), seconds.
    pub startup_samples: Vec<f64>,
    /// A start-up delay stated instead (`--startup-secs`).
    pub startup_secs: Option<f64>,
    /// The controller's period, seconds (stated: history cannot tell it).
    pub period_secs: f64,
    /// The service's desired count at the start of the history (stated: ECS keeps no history).
    pub initial_tasks: u32,
    /// Where the series came from, for `calibration.json`.
    pub source: String,
    /// The metric the arrivals come from, for messages about it (`NumberOfMessagesSent`).
    pub arrivals_metric: String,
    /// What the reader of the series warned about.
    pub warnings: Vec<String>,
}

/// The history as calibration data: one interval per minute with both a completion count and
/// an in-flight average, the arrivals per minute with missing minutes read as none sent
/// (CloudWatch omits a minute without data), and the tasks' start-ups.
#[must_use]
pub fn observe_history(h: &History) -> Observed {
    let deleted: std::collections::BTreeMap<i64, f64> = h.deleted.iter().copied().collect();
    let intervals: Vec<Interval> = h
        .in_flight
        .iter()
        .filter_map(|&(t, busy)| {
            deleted.get(&t).map(|&done| Interval {
                from_us: t * 1_000_000,
                secs: 60.0,
                completed: done,
                in_flight: busy,
                // The minute's visible count is not read: no spread from history.
                steady_busy: None,
            })
        })
        .collect();
    let mut warnings = h.warnings.clone();
    let mut arrivals = Vec::new();
    if let (Some(first), Some(last)) = (h.sent.first(), h.sent.last()) {
        let sent: std::collections::BTreeMap<i64, f64> = h.sent.iter().copied().collect();
        let mut missing = 0;
        let mut t = first.0;
        while t <= last.0 {
            let n = sent.get(&t).copied().unwrap_or_else(|| {
                missing += 1;
                0.0
            });
            arrivals.push((t * 1_000_000, n));
            t += 60;
        }
        if missing > 0 {
            warnings.push(format!(
                "{missing} minutes between the first and the last had no {} datapoint: read as none sent",
                h.arrivals_metric
            ));
        }
    }
    Observed {
        rows: intervals.len(),
        intervals,
        startup_samples: h.startup_samples.clone(),
        startup_secs: h.startup_secs,
        arrivals,
        arrivals_source: h.source.clone(),
        period_us: (h.period_secs * 1e6).round() as i64,
        initial_tasks: h.initial_tasks,
        description: h.source.clone(),
        warnings,
        metric_delay: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_without_arrivals_is_refused_not_written_as_an_empty_trace() {
        let minutes: Vec<(i64, f64)> = (0..40).map(|m| (1_800_000_000 + 60 * m, 600.0)).collect();
        let h = History {
            deleted: minutes.clone(),
            in_flight: minutes.iter().map(|&(t, _)| (t, 25.0)).collect(),
            startup_secs: Some(30.0),
            period_secs: 60.0,
            source: "CloudWatch, queue jobs".into(),
            ..History::default()
        };
        let inputs = super::super::CalibrateInputs {
            policy: std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../scenarios/records/parity-slo-redis.toml"),
            ..super::super::CalibrateInputs::default()
        };
        let e = super::super::build(observe_history(&h), &inputs)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no arrivals") && e.contains("CloudWatch, queue jobs"),
            "{e}"
        );
    }
}
