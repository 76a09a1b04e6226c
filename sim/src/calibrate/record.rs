//! Recorded runs as calibration data: reading and joining `run --record` files (refusing gaps
//! and mixed periods), arrivals from a log of sent messages, and arrivals per second.

use std::path::{Path, PathBuf};

use super::{input, CalibrateError};
use crate::parity::{read_record, LiveTick};

/// The median gap between rows, µs.
pub(super) fn median_gap(ticks: &[LiveTick]) -> i64 {
    let mut gaps: Vec<i64> = ticks.windows(2).map(|w| w[1].at_us - w[0].at_us).collect();
    gaps.sort_unstable();
    gaps.get(gaps.len() / 2).copied().unwrap_or(1_000_000)
}

/// Reads the records and joins them, refusing gaps: a gap's arrivals are unknown.
pub(super) fn read_all(records: &[PathBuf]) -> Result<Vec<LiveTick>, CalibrateError> {
    if records.is_empty() {
        return Err(input(
            "--record",
            "(none)",
            "give at least one recorded run",
        ));
    }
    let mut all: Vec<LiveTick> = Vec::new();
    let mut period: Option<(i64, &PathBuf)> = None;
    for path in records {
        let ticks = read_record(path)?;
        let gap = median_gap(&ticks);
        if let Some((first, first_path)) = period {
            if (gap - first).abs() * 4 > first {
                return Err(input(
                    "--record",
                    path.display(),
                    format!(
                        "has rows {:.1} s apart, and {} {:.1} s: give records of one run at one period",
                        gap as f64 / 1e6,
                        first_path.display(),
                        first as f64 / 1e6
                    ),
                ));
            }
        } else {
            period = Some((gap, path));
        }
        if let Some(w) = ticks.windows(2).find(|w| w[1].at_us - w[0].at_us > 5 * gap) {
            return Err(input(
                "--record",
                path.display(),
                format!(
                    "has a gap of {:.0} s after {} (rows are {:.1} s apart): the arrivals in it are unknown; calibrate on the parts before and after it separately",
                    (w[1].at_us - w[0].at_us) as f64 / 1e6,
                    stepscale_engine::time::rfc3339_millis(w[0].at_us / 1000),
                    gap as f64 / 1e6
                ),
            ));
        }
        if let (Some(last), Some(first)) = (all.last(), ticks.first()) {
            if first.at_us <= last.at_us || first.at_us - last.at_us > 5 * gap {
                return Err(input(
                    "--record",
                    path.display(),
                    format!(
                        "starts at {}, {} the previous record's end ({}): give records of one run in time order, each continuing the last",
                        stepscale_engine::time::rfc3339_millis(first.at_us / 1000),
                        if first.at_us <= last.at_us { "before" } else { "long after" },
                        stepscale_engine::time::rfc3339_millis(last.at_us / 1000)
                    ),
                ));
            }
        }
        all.extend(ticks);
    }
    if all.iter().all(|t| t.running.is_none()) {
        return Err(input(
            "--record",
            records[0].display(),
            "has no `running` column: record with a StepScale that writes it",
        ));
    }
    Ok(all)
}

/// Replaces each row's arrivals with the messages `log` has between it and the row before.
pub(super) fn arrivals_from_log(ticks: &mut [LiveTick], log: &Path) -> Result<(), CalibrateError> {
    let spec = crate::trace::TraceSpec {
        path: log.to_path_buf(),
        time_column: "time".into(),
        value_column: None,
        time_format: crate::timefmt::TimeFormat::Auto,
        scale: 1.0,
    };
    let arrivals =
        crate::trace::read(&spec).map_err(|e| input("--arrivals", log.display(), e.to_string()))?;
    let crate::arrivals::ArrivalKind::Events { times_us } = arrivals.kind else {
        return Err(input(
            "--arrivals",
            log.display(),
            "must have one row per message",
        ));
    };
    let mut next = 0;
    // Messages sent before the first row were in the queue when it looked.
    while times_us.get(next).is_some_and(|&t| t <= ticks[0].at_us) {
        next += 1;
    }
    ticks[0].arrivals = Some(0.0);
    for t in ticks.iter_mut().skip(1) {
        let from = next;
        while times_us.get(next).is_some_and(|&x| x <= t.at_us) {
            next += 1;
        }
        t.arrivals = Some((next - from) as f64);
    }
    Ok(())
}

/// Each row's arrivals spread over whole seconds from the first row, over the time since the
/// last row that read the queue.
pub(super) fn per_second(ticks: &[LiveTick]) -> Vec<(i64, f64)> {
    let start = ticks[0].at_us;
    let end = ticks[ticks.len() - 1].at_us;
    let secs = ((end - start) / 1_000_000 + 1) as usize;
    let mut out = vec![0.0; secs];
    // A row after rows whose reads failed counts its arrivals from the last row that read the
    // queue (as the recorder books them): they are spread over that whole span.
    let mut last_read: Option<i64> = None;
    for t in ticks {
        let Some(a) = t.arrivals else { continue };
        let Some(from_us) = last_read.replace(t.at_us) else {
            continue;
        };
        let (from, to) = (
            (from_us - start) as f64 / 1e6,
            (t.at_us - start) as f64 / 1e6,
        );
        let span = (to - from).max(1e-9);
        let mut t = from;
        while t < to {
            let s = t.floor();
            let next = (s + 1.0).min(to);
            if let Some(bin) = out.get_mut(s as usize) {
                *bin += a * (next - t) / span;
            }
            t = next;
        }
    }
    out.into_iter()
        .enumerate()
        .map(|(i, a)| (start + i as i64 * 1_000_000, a))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(at_s: i64, arrivals: Option<f64>) -> LiveTick {
        LiveTick {
            at_us: at_s * 1_000_000,
            arrivals,
            arrivals_estimated: false,
            visible: arrivals.map(|_| 0),
            in_flight: arrivals.map(|_| 0),
            desired: 1,
            running: Some(1),
            pending: Some(0),
            action: stepscale_engine::Action::Hold,
            read_ms: None,
            shadow_desired: Vec::new(),
        }
    }

    #[test]
    fn arrivals_after_a_failed_read_are_spread_over_the_whole_gap() {
        // The row at 3 s books the 6 messages since the last row that read (1 s).
        let ticks = [
            row(0, Some(0.0)),
            row(1, Some(4.0)),
            row(2, None),
            row(3, Some(6.0)),
        ];
        let got: Vec<f64> = per_second(&ticks).iter().map(|a| a.1).collect();
        assert_eq!(got, vec![4.0, 3.0, 3.0, 0.0]);
    }
}
