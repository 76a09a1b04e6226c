//! The row recorder: one time-series row every `resolution`, sent to memory, a CSV file or
//! nowhere, and folded into the plot envelope as it goes.

use super::csv::{csv_line, CSV_HEADER};
use super::envelope::{Envelope, EnvelopeBuilder};
use super::schedule::Control;
use super::{Prepared, Row};
use crate::arrivals::Micros;
use crate::fleet::SimFleet;

/// Collects time-series rows every `resolution`.
pub struct RowRecorder {
    /// Next row time.
    pub next_us: Micros,
    resolution_us: Micros,
    throughput_per_task: f64,
    sink: RowSink,
    rows: Vec<Row>,
    envelope: EnvelopeBuilder,
    write_error: Option<String>,
}

/// Where the time-series rows go as they are made. Nothing keeps a row per step of the
/// horizon unless asked to: memory stays bounded however long the run.
pub enum RowSink {
    /// Kept in memory (`compare`'s overlay, tests).
    Keep,
    /// Dropped; the plot envelope remains (`backtest --against`'s overlay; the summary's
    /// statistics are gathered on the simulation's steps, not here).
    Discard,
    /// Neither rows nor the envelope: the summary alone (`tune`'s candidates, `parity`'s
    /// replays), so a candidate pays nothing per row.
    Nothing,
    /// Written as `timeseries.csv` lines as they come.
    Csv(Box<dyn std::io::Write>),
}

/// What the recorder hands to the outcome.
pub struct Series {
    /// Kept rows.
    pub rows: Vec<Row>,
    /// The plot envelope.
    pub envelope: Envelope,
    /// A CSV write failure.
    pub write_error: Option<String>,
}

/// The model's state at a row boundary.
pub struct Snapshot {
    /// Arrivals since the previous row.
    pub arrivals: f64,
    /// The most visible messages since the previous row.
    pub backlog: f64,
    /// Messages in process.
    pub in_flight: f64,
    /// The oldest visible message's largest age since the previous row, in seconds.
    pub oldest_age_s: f64,
}

impl RowRecorder {
    /// A recorder whose first row is one resolution after `start_us`, sending rows to `sink`.
    #[must_use]
    pub fn new(p: &Prepared, mut sink: RowSink) -> Self {
        let mut write_error = None;
        if let RowSink::Csv(w) = &mut sink {
            if let Err(e) = w.write_all(CSV_HEADER.as_bytes()) {
                write_error = Some(e.to_string());
            }
        }
        Self {
            // No rows, no row times: a candidate's run is not cut at every row.
            next_us: if matches!(sink, RowSink::Nothing) {
                Micros::MAX
            } else {
                p.start_us + p.resolution_us
            },
            resolution_us: p.resolution_us,
            throughput_per_task: p.plant.task_throughput_per_s(),
            sink,
            rows: Vec::new(),
            envelope: EnvelopeBuilder::default(),
            write_error,
        }
    }

    fn push_row(&mut self, row: Row) {
        self.envelope.push(&row);
        match &mut self.sink {
            RowSink::Keep => self.rows.push(row),
            RowSink::Discard | RowSink::Nothing => {}
            RowSink::Csv(w) => {
                if self.write_error.is_none() {
                    let mut line = String::with_capacity(96);
                    csv_line(&mut line, &row);
                    line.push('\n');
                    if let Err(e) = w.write_all(line.as_bytes()) {
                        self.write_error = Some(e.to_string());
                    }
                }
            }
        }
    }

    /// Flushes the sink and hands over what the run keeps.
    #[must_use]
    pub fn finish(mut self) -> Series {
        if let RowSink::Csv(w) = &mut self.sink {
            if let Err(e) = w.flush() {
                self.write_error.get_or_insert(e.to_string());
            }
        }
        Series {
            rows: self.rows,
            envelope: self.envelope.env,
            write_error: self.write_error,
        }
    }

    /// Records the row due at `now`.
    pub fn record(
        &mut self,
        now: Micros,
        s: &Snapshot,
        fleet: &SimFleet,
        control: &mut Control<'_>,
    ) {
        self.push_snapshot(now, self.resolution_us, s, fleet, control);
        self.next_us += self.resolution_us;
    }

    /// Records the last, partial period when the run ends between two rows, so every arrival
    /// appears in the time series.
    pub fn record_final(
        &mut self,
        now: Micros,
        s: &Snapshot,
        fleet: &SimFleet,
        control: &mut Control<'_>,
    ) {
        let last_row = self.next_us - self.resolution_us;
        if now <= last_row {
            return;
        }
        self.push_snapshot(now, now - last_row, s, fleet, control);
        self.next_us = now + self.resolution_us;
    }

    /// The row closing an interval of `interval_us` at `now`.
    fn push_snapshot(
        &mut self,
        now: Micros,
        interval_us: Micros,
        s: &Snapshot,
        fleet: &SimFleet,
        control: &mut Control<'_>,
    ) {
        if matches!(self.sink, RowSink::Nothing) {
            return;
        }
        let rate = s.arrivals / (interval_us as f64 / 1e6);
        let demand = (rate / self.throughput_per_task - 1e-9).ceil().max(0.0) as u32;
        self.push_row(Row {
            t_us: now,
            arrivals: s.arrivals,
            backlog: s.backlog,
            in_flight: s.in_flight,
            desired: fleet.desired(),
            running: fleet.running(),
            pending: fleet.pending(),
            action: control.last_action.take(),
            oldest_age_s: s.oldest_age_s,
            demand,
            task_hours: fleet.task_hours(now),
        });
    }
}
