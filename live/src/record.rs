//! `--record`: what a live run observed, as a CSV trace that `stepscale backtest` replays
//! (`--time-column time --value-column arrivals`).
//!
//! `arrivals` is the source's arrival rate × the time since the previous row when the probe
//! reports a rate (SQS NumberOfMessagesSent, RabbitMQ publish rate, SNS); otherwise the rise of
//! visible + in-flight messages since the previous row, a lower bound (`arrivals_estimated`
//! says which).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use stepscale_engine::{Decision, Millis, Reading, ServiceState};

use crate::runner::RunnerError;

/// Appends one row per decision to a CSV file.
#[derive(Debug)]
pub struct Recorder {
    path: PathBuf,
    last: Option<(Millis, f64)>,
}

const HEADER: &str =
    "time,arrivals,arrivals_estimated,visible,in_flight,delayed,desired,running,pending,action\n";

impl Recorder {
    /// A recorder appending to `path` (the header is written when the file is new).
    pub fn new(path: &Path) -> Result<Self, RunnerError> {
        let fresh = !path.exists();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Self::err(path, &e))?;
        if fresh {
            file.write_all(HEADER.as_bytes())
                .map_err(|e| Self::err(path, &e))?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            last: None,
        })
    }

    fn err(path: &Path, e: &std::io::Error) -> RunnerError {
        RunnerError::Record {
            path: path.to_path_buf(),
            detail: e.to_string(),
        }
    }

    /// Appends a row for one decision. Failed reads are recorded with empty counts.
    pub fn observe(
        &mut self,
        now_ms: Millis,
        readings: &[Reading],
        service: ServiceState,
        decision: &Decision,
    ) -> Result<(), RunnerError> {
        let ok: Vec<_> = readings.iter().filter_map(|r| r.as_ref().ok()).collect();
        let mut row = chrono_free_rfc3339(now_ms);
        if ok.is_empty() {
            let _ = write!(row, ",,,,,");
        } else {
            let visible: u64 = ok.iter().map(|s| s.visible).sum();
            let in_flight: u64 = ok.iter().map(|s| s.in_flight).sum();
            let delayed: u64 = ok.iter().map(|s| s.delayed).sum();
            let rate: Option<f64> = ok.iter().map(|s| s.arrival_rate_per_s).sum();
            let level = (visible + in_flight) as f64;
            let (arrivals, estimated) = match (rate, self.last) {
                (Some(r), Some((t, _))) => (r * (now_ms - t) as f64 / 1000.0, false),
                (_, Some((_, prev))) => ((level - prev).max(0.0), true),
                (_, None) => (0.0, true),
            };
            self.last = Some((now_ms, level));
            let _ = write!(
                row,
                ",{arrivals:.3},{estimated},{visible},{in_flight},{delayed}"
            );
        }
        let _ = writeln!(
            row,
            ",{},{},{},{}",
            service.desired, service.running, service.pending, decision.action
        );
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| Self::err(&self.path, &e))?;
        file.write_all(row.as_bytes())
            .map_err(|e| Self::err(&self.path, &e))
    }
}

/// RFC 3339 UTC with seconds, without a date crate: the live crate stays small.
fn chrono_free_rfc3339(ms: Millis) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_render_as_rfc3339() {
        assert_eq!(
            chrono_free_rfc3339(1_700_000_000_000),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(chrono_free_rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
    }
}
