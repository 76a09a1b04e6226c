//! `--record`: what a live run observed, as a CSV trace that `stepscale backtest` replays
//! (`--time-column time --value-column arrivals`).
//!
//! `arrivals` is the source's arrival rate × the time since the previous row when the probe
//! reports a rate (SQS NumberOfMessagesSent, RabbitMQ publish rate, SNS); otherwise the rise of
//! visible + in-flight messages since the previous row, a lower bound (`arrivals_estimated`
//! says which). The previous row is the file's last one, so separate `--once` runs (cron, a
//! Lambda) record the arrivals between them.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use stepscale_engine::time::{parse_rfc3339_ms, rfc3339_millis};
use stepscale_engine::{Decision, Millis, Reading, ServiceState};

/// Appends one row per decision to a CSV file.
#[derive(Debug)]
pub struct TraceRecorder {
    path: PathBuf,
    last: Option<(Millis, f64)>,
    shadows: usize,
    /// Whether rows carry `read_ms` (a file begun before the column keeps its own format).
    read_column: bool,
}

const HEADER: &str =
    "time,arrivals,arrivals_estimated,visible,in_flight,delayed,desired,running,pending,action";

/// The header for these shadow policies: one `shadow_desired` column for one shadow,
/// `shadow_desired.NAME` for each of several; with `read`, the `read_ms` column (when the
/// queue was read, milliseconds after the row's `time`) before them.
fn header(shadows: &[&str], read: bool) -> String {
    let mut h = HEADER.to_string();
    if read {
        h.push_str(",read_ms");
    }
    match shadows {
        [] => {}
        [_] => h.push_str(",shadow_desired"),
        many => {
            for name in many {
                let _ = write!(h, ",shadow_desired.{name}");
            }
        }
    }
    h
}

/// Why the trace could not be recorded: the file or object, and the cause.
#[derive(Debug, thiserror::Error)]
#[error("recording {path}: {detail}")]
pub struct RecordError {
    /// The file, or the S3 object as `s3://bucket/key`.
    pub path: PathBuf,
    /// The cause.
    pub detail: String,
}

impl TraceRecorder {
    /// A recorder appending to `path` (the header is written when the file is new), with a
    /// column for each of `shadows`. An existing file is appended to only when its header is
    /// the one this recorder writes: a file StepScale did not write, or one recorded with
    /// other shadows, is refused and left untouched.
    pub fn new(path: &Path, shadows: &[&str]) -> Result<Self, RecordError> {
        let fresh = !path.exists();
        let expected = header(shadows, true);
        let mut read_column = true;
        if !fresh {
            let text = std::fs::read_to_string(path).map_err(|e| Self::err(path, &e))?;
            let first = text.lines().next().unwrap_or("");
            // A trace begun by a StepScale without `read_ms` goes on as it was written.
            read_column = first != header(shadows, false);
            if read_column && first != expected {
                return Err(RecordError {
                    path: path.to_path_buf(),
                    detail: format!(
                        "the file exists and its header is {first:?}, not {expected:?}: StepScale appends only to a trace it wrote with the same shadow policies; record to a new file"
                    ),
                });
            }
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Self::err(path, &e))?;
        if fresh {
            file.write_all(format!("{expected}\n").as_bytes())
                .map_err(|e| Self::err(path, &e))?;
        }
        // Continue from the file's last row, so `--once` runs (cron, a Lambda) record the
        // arrivals between them instead of starting from nothing each time.
        let last = if fresh {
            None
        } else {
            last_level_in(&std::fs::read_to_string(path).map_err(|e| Self::err(path, &e))?)
        };
        Ok(Self {
            path: path.to_path_buf(),
            last,
            shadows: shadows.len(),
            read_column,
        })
    }

    fn err(path: &Path, e: &std::io::Error) -> RecordError {
        RecordError {
            path: path.to_path_buf(),
            detail: e.to_string(),
        }
    }

    /// Appends a row for one decision, with what each shadow would have set. Failed reads are
    /// recorded with empty counts, a shadow without a decision with an empty cell.
    ///
    /// `now_ms` is the decision's time, `read_ms` how long after it the queue was read.
    pub fn observe(
        &mut self,
        (now_ms, read_ms): (Millis, u64),
        readings: &[Reading],
        service: ServiceState,
        decision: &Decision,
        shadow_desired: &[Option<u32>],
    ) -> Result<(), RecordError> {
        let (row, level) = render_row(
            self.last,
            self.shadows,
            (now_ms, self.read_column.then_some(read_ms)),
            readings,
            service,
            decision,
            shadow_desired,
        );
        if level.is_some() {
            self.last = level;
        }
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| Self::err(&self.path, &e))?;
        file.write_all(row.as_bytes())
            .map_err(|e| Self::err(&self.path, &e))
    }
}

/// One recorded row (newline included) after the row `last` (its time and visible + in-flight
/// level), with `shadows` shadow columns; and this row's own time and level, none when every
/// read failed.
fn render_row(
    last: Option<(Millis, f64)>,
    shadows: usize,
    (now_ms, read_ms): (Millis, Option<u64>),
    readings: &[Reading],
    service: ServiceState,
    decision: &Decision,
    shadow_desired: &[Option<u32>],
) -> (String, Option<(Millis, f64)>) {
    let ok: Vec<_> = readings.iter().filter_map(|r| r.as_ref().ok()).collect();
    let mut row = rfc3339_millis(now_ms);
    let mut next = None;
    if ok.len() < readings.len() || ok.is_empty() {
        // A source failed: the service's counts are unknown, and a sum of the sources that
        // answered would read as a smaller backlog (to `parity`, to a reader of the trace).
        // Written empty, as a failed read, and no baseline: the next complete row counts its
        // arrivals from the last complete one, so a failed source's backlog is never booked
        // as new arrivals.
        let _ = write!(row, ",,,,,");
    } else {
        let visible: u64 = ok.iter().map(|s| s.visible).sum();
        let in_flight: u64 = ok.iter().map(|s| s.in_flight).sum();
        let delayed: u64 = ok.iter().map(|s| s.delayed).sum();
        let rate: Option<f64> = ok.iter().map(|s| s.arrival_rate_per_s).sum();
        let level = (visible + in_flight) as f64;
        // A previous row from the future (a clock moved back) or over a day old (an earlier
        // deployment) says nothing of the arrivals since: start afresh.
        let last = last.filter(|(t, _)| *t <= now_ms && now_ms - *t <= 86_400_000);
        // A reported 0 that the counts contradict (messages in flight, or the count grew) is
        // a window without data yet, not a measured 0: the engine's estimator distrusts it
        // too (engine::estimator), and the row falls back to the count's rise.
        let rate = rate
            .filter(|r| *r > 0.0 || (in_flight == 0 && last.is_none_or(|(_, prev)| level <= prev)));
        let (arrivals, estimated) = match (rate, last) {
            (Some(r), Some((t, _))) => (r * (now_ms - t) as f64 / 1000.0, false),
            (_, Some((_, prev))) => ((level - prev).max(0.0), true),
            (_, None) => (0.0, true),
        };
        next = Some((now_ms, level));
        let _ = write!(
            row,
            ",{arrivals:.3},{estimated},{visible},{in_flight},{delayed}"
        );
    }
    let _ = write!(
        row,
        ",{},{},{},{}",
        service.desired, service.running, service.pending, decision.action
    );
    if let Some(ms) = read_ms {
        let _ = write!(row, ",{ms}");
    }
    for i in 0..shadows {
        match shadow_desired.get(i).copied().flatten() {
            Some(d) => {
                let _ = write!(row, ",{d}");
            }
            None => row.push(','),
        }
    }
    row.push('\n');
    (row, next)
}

/// The level of the last complete row of a recorded trace's text (rows where a read failed are
/// passed over), if it has one.
fn last_level_in(text: &str) -> Option<(Millis, f64)> {
    text.lines()
        .rev()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("time,"))
        .find_map(last_level)
}

/// Appends one row to the day's trace object in S3, `{base}/{YYYY-MM-DD}.csv` (UTC), read and
/// written with a condition on its version, so two overlapping invocations cannot lose a row.
/// The previous row is the object's last one, or at a day's first row the previous day's last
/// row, so arrivals between invocations are recorded across midnight too. An object whose
/// header is not StepScale's is refused and left as it is.
#[cfg(feature = "s3-state")]
pub async fn record_to_s3(
    objects: &crate::state::S3Objects,
    base: &str,
    now_ms: Millis,
    readings: &[Reading],
    service: ServiceState,
    decision: &Decision,
) -> Result<String, RecordError> {
    use crate::state::{Got, StateError};
    let day = |ms: Millis| rfc3339_millis(ms)[..10].to_string();
    let key = format!("{base}/{}.csv", day(now_ms));
    let fail = |detail: String| RecordError {
        path: PathBuf::from(objects.location(&key)),
        detail,
    };
    let text_of = |body: &[u8]| String::from_utf8_lossy(body).into_owned();
    for attempt in 0..3 {
        let (text, version) = match objects.get(&key).await.map_err(|e| fail(e.to_string()))? {
            Got::Found { body, etag } => (text_of(&body), etag),
            Got::Missing => (String::new(), None),
        };
        let mut last = last_level_in(&text);
        if text.is_empty() {
            let yesterday = format!("{base}/{}.csv", day(now_ms - 86_400_000));
            if let Got::Found { body, .. } = objects
                .get(&yesterday)
                .await
                .map_err(|e| fail(e.to_string()))?
            {
                last = last_level_in(&text_of(&body));
            }
        } else if text.lines().next() != Some(HEADER) {
            return Err(fail(format!(
                "the object's header is not {HEADER:?}: StepScale appends only to a trace it wrote"
            )));
        }
        // A write retried after it had succeeded finds its own row (this decision's time)
        // already last: done, not written twice. Rows are one per decision and strictly later
        // than the one before, so the time names the row.
        let stamp = rfc3339_millis(now_ms);
        if text
            .lines()
            .last()
            .is_some_and(|l| l.split(',').next() == Some(stamp.as_str()))
        {
            return Ok(objects.location(&key));
        }
        // The day objects keep the header they have always had: no `read_ms`.
        let (row, _) = render_row(last, 0, (now_ms, None), readings, service, decision, &[]);
        let body = if text.is_empty() {
            format!("{HEADER}\n{row}")
        } else {
            format!("{text}{row}")
        };
        match objects
            .put_if(&key, body.into_bytes(), "text/csv", version.as_deref())
            .await
        {
            Ok(_) => return Ok(objects.location(&key)),
            Err(StateError::Conflict { .. }) if attempt < 2 => {}
            Err(e) => return Err(fail(e.to_string())),
        }
    }
    Err(fail("the object kept changing under us".into()))
}

/// The time and the visible + in-flight level of a recorded row; none for a row where a read
/// failed (its counts are empty) or one this recorder did not write.
fn last_level(row: &str) -> Option<(Millis, f64)> {
    let cols: Vec<&str> = row.split(',').collect();
    let t = parse_rfc3339_ms(cols.first()?).ok()?;
    let visible: f64 = cols.get(3)?.parse().ok()?;
    let in_flight: f64 = cols.get(4)?.parse().ok()?;
    Some((t, visible + in_flight))
}

/// Copies every day object of a recorded run in S3 (`s3://bucket/prefix/`, as the Lambda writes
/// `{prefix}/{cluster}/{service}/{YYYY-MM-DD}.csv`) into `dir`, oldest first, for `calibrate`.
/// Only objects ending in `.csv` directly under the prefix are taken.
///
/// # Errors
/// A URL that is not `s3://bucket/prefix/`, a listing or a read that fails, or no object.
#[cfg(feature = "s3-state")]
pub async fn fetch_from_s3(
    sdk: &aws_config::SdkConfig,
    url: &str,
    dir: &Path,
) -> Result<Vec<PathBuf>, RecordError> {
    let fail = |detail: String| RecordError {
        path: PathBuf::from(url),
        detail,
    };
    let Some((bucket, prefix)) = url
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(b, _)| !b.is_empty())
    else {
        return Err(fail(
            "must be s3://BUCKET/PREFIX/ (the folder of one service's day objects)".into(),
        ));
    };
    let prefix = if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    };
    let objects = crate::state::S3Objects::new(sdk, bucket);
    let keys = objects
        .list_csv(&prefix)
        .await
        .map_err(|e| fail(e.to_string()))?;
    if keys.is_empty() {
        return Err(fail(format!(
            "holds no .csv object directly under {prefix:?}: give the folder of one service's records ({{prefix}}/{{cluster}}/{{service}}/)"
        )));
    }
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let body = match objects.get(&key).await.map_err(|e| fail(e.to_string()))? {
            crate::state::Got::Found { body, .. } => body,
            crate::state::Got::Missing => {
                return Err(fail(format!("{key} went missing while it was read")))
            }
        };
        let name = key.rsplit('/').next().unwrap_or("record.csv");
        let path = dir.join(name);
        std::fs::write(&path, body).map_err(|e| RecordError {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        out.push(path);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_row_is_read_back_with_its_time_and_level() {
        let stamp = rfc3339_millis(1_700_000_000_250);
        assert_eq!(
            last_level(&format!("{stamp},0.000,true,7,3,0,2,2,0,hold")),
            Some((1_700_000_000_250, 10.0))
        );
        assert_eq!(
            last_level("2023-13-14T22:13:20Z,0.000,true,7,3,0,2,2,0,hold"),
            None
        );
        assert_eq!(
            last_level("2023-11-14T22:13:20Z,0.000,true,7,3,0,2,2,0,hold"),
            Some((1_700_000_000_000, 10.0))
        );
        assert_eq!(last_level("2023-11-14T22:13:20Z,,,,,,2,2,0,hold"), None);
    }

    #[test]
    fn a_file_with_another_header_is_refused_and_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.csv");
        std::fs::write(&path, "a,b\n1,2\n").unwrap();
        let err = TraceRecorder::new(&path, &[]).unwrap_err().to_string();
        assert!(err.contains("record to a new file"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a,b\n1,2\n");
        // A trace recorded without shadows is not continued with one.
        let trace = dir.path().join("trace.csv");
        drop(TraceRecorder::new(&trace, &[]).unwrap());
        assert!(TraceRecorder::new(&trace, &["slo"]).is_err());
        assert!(TraceRecorder::new(&trace, &[]).is_ok());
        assert_eq!(
            header(&["slo"], true),
            format!("{HEADER},read_ms,shadow_desired")
        );
        assert_eq!(
            header(&["a", "b"], false),
            format!("{HEADER},shadow_desired.a,shadow_desired.b")
        );
    }

    #[test]
    fn rows_carry_the_read_time_and_a_trace_begun_without_it_goes_on_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh.csv");
        let mut rec = TraceRecorder::new(&fresh, &[]).unwrap();
        let fleet = ServiceState::settled(2);
        rec.observe(
            (1_700_000_000_000, 37),
            &[Ok(sample(3, 1, None))],
            fleet,
            &hold(),
            &[],
        )
        .unwrap();
        let text = std::fs::read_to_string(&fresh).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(format!("{HEADER},read_ms").as_str()));
        assert_eq!(cell(lines.next().unwrap(), 10), "37", "{text}");
        // A trace begun before the column: continued in its own format, never a mixed file.
        let old = dir.path().join("old.csv");
        let before = format!("{HEADER}\n2023-11-14T22:13:20.000Z,0.000,true,10,5,0,2,2,0,hold\n");
        std::fs::write(&old, &before).unwrap();
        let mut rec = TraceRecorder::new(&old, &[]).unwrap();
        rec.observe(
            (1_700_000_060_000, 37),
            &[Ok(sample(3, 1, None))],
            fleet,
            &hold(),
            &[],
        )
        .unwrap();
        let text = std::fs::read_to_string(&old).unwrap();
        assert!(text.starts_with(&before), "{text}");
        assert!(text.lines().all(|l| l.split(',').count() == 10), "{text}");
    }

    fn hold() -> Decision {
        Decision {
            at_ms: 0,
            previous: 2,
            desired: 2,
            recommended: 2,
            action: stepscale_engine::Action::Hold,
            reason: stepscale_engine::Reason::ServiceTimeUnknown { backlog: 0.0 },
            limited_by: None,
            metric: None,
        }
    }

    fn sample(visible: u64, in_flight: u64, rate: Option<f64>) -> stepscale_engine::QueueSample {
        stepscale_engine::QueueSample {
            visible,
            in_flight,
            arrival_rate_per_s: rate,
            ..stepscale_engine::QueueSample::default()
        }
    }

    fn cell(row: &str, i: usize) -> String {
        row.trim_end()
            .split(',')
            .nth(i)
            .unwrap_or_default()
            .to_string()
    }

    #[test]
    fn a_row_with_a_failed_source_is_no_baseline_and_books_nothing() {
        let fleet = ServiceState::settled(2);
        let failed: Reading = Err(stepscale_engine::ReadFailure::new("timed out"));
        let t0 = 1_700_000_000_000;
        // Complete: 10 + 500 waiting.
        let (_, full) = render_row(
            None,
            0,
            (t0, None),
            &[Ok(sample(10, 0, None)), Ok(sample(500, 0, None))],
            fleet,
            &hold(),
            &[],
        );
        // The second source fails: the row is a failed read (no partial sum that would read
        // as a smaller backlog) and no new baseline.
        let (row, partial) = render_row(
            full,
            0,
            (t0 + 60_000, None),
            &[Ok(sample(12, 0, None)), failed],
            fleet,
            &hold(),
            &[],
        );
        assert_eq!(partial, None);
        assert_eq!(cell(&row, 1), "", "{row}");
        assert_eq!(cell(&row, 3), "", "no partial visible count: {row}");
        // Both answer again: 2 + 5 arrived since the last complete row, not 502.
        let (row, _) = render_row(
            full,
            0,
            (t0 + 120_000, None),
            &[Ok(sample(12, 0, None)), Ok(sample(505, 0, None))],
            fleet,
            &hold(),
            &[],
        );
        assert_eq!(cell(&row, 1), "7.000", "{row}");
        // A --once run after failed rows continues from the last complete row.
        let text = format!(
            "{HEADER}\n2023-11-14T22:13:20.000Z,0.000,true,10,5,0,2,2,0,hold\n\
             2023-11-14T22:14:20.000Z,,,,,,2,2,0,hold\n\
             2023-11-14T22:15:20.000Z,,,,,,2,2,0,hold\n"
        );
        assert_eq!(last_level_in(&text), Some((1_700_000_000_000, 15.0)));
    }

    #[test]
    fn a_reported_zero_the_counts_contradict_is_not_written_as_measured() {
        let fleet = ServiceState::settled(2);
        let t0 = 1_700_000_000_000;
        let last = Some((t0, 10.0));
        // Rate 0, but 4 in flight and the count rose by 6: an estimate from the rise.
        let (row, _) = render_row(
            last,
            0,
            (t0 + 60_000, None),
            &[Ok(sample(12, 4, Some(0.0)))],
            fleet,
            &hold(),
            &[],
        );
        assert_eq!(
            (cell(&row, 1), cell(&row, 2)),
            ("6.000".into(), "true".into()),
            "{row}"
        );
        // An idle queue keeps its measured 0.
        let (row, _) = render_row(
            last,
            0,
            (t0 + 60_000, None),
            &[Ok(sample(10, 0, Some(0.0)))],
            fleet,
            &hold(),
            &[],
        );
        assert_eq!(
            (cell(&row, 1), cell(&row, 2)),
            ("0.000".into(), "false".into()),
            "{row}"
        );
    }
}
