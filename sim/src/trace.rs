//! Reading a CSV trace with polars into [`Arrivals`], with errors naming the file, row and rule.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::arrivals::{ArrivalKind, Arrivals, Micros};
use crate::timefmt::{self, TimeFormat};

/// How to read a trace file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceSpec {
    /// The CSV file (relative paths are relative to the scenario file).
    pub path: PathBuf,
    /// The time column's name.
    #[serde(default = "default_time_column")]
    pub time_column: String,
    /// The count column's name; without one, each row is one arrival.
    #[serde(default)]
    pub value_column: Option<String>,
    /// How times are written.
    #[serde(default)]
    pub time_format: TimeFormat,
    /// Multiplies every count (requests to messages, say).
    #[serde(default = "one")]
    pub scale: f64,
}

fn default_time_column() -> String {
    "time".into()
}

fn one() -> f64 {
    1.0
}

/// Why a trace could not be read. Lines count from 1, the header being line 1.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// The file could not be opened or is not CSV.
    #[error("trace {path}: cannot read CSV: {detail}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        detail: String,
    },
    /// A named column is not in the header.
    #[error("trace {path}: no column `{column}` (for {role}); the header has: {available}")]
    UnknownColumn {
        /// The file.
        path: PathBuf,
        /// The missing column.
        column: String,
        /// time or value.
        role: &'static str,
        /// The columns present.
        available: String,
    },
    /// A row broke a rule.
    #[error("trace {path}, line {line}: {column} = {value:?}: {rule}")]
    Row {
        /// The file.
        path: PathBuf,
        /// 1-based line (the header is line 1).
        line: usize,
        /// The column.
        column: String,
        /// The value as written.
        value: String,
        /// The rule broken.
        rule: String,
    },
    /// The file has no data rows.
    #[error("trace {path}: no data rows")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The trace is beyond the documented limits.
    #[error("trace {path}: {detail}")]
    Limit {
        /// The file.
        path: PathBuf,
        /// What and which limit.
        detail: String,
    },
    /// The scale factor is unusable.
    #[error("trace {path}: scale = {scale}: must be a number above 0 and at most 1e6")]
    Scale {
        /// The file.
        path: PathBuf,
        /// The factor.
        scale: f64,
    },
}

fn column<'a>(
    df: &'a DataFrame,
    path: &Path,
    name: &str,
    role: &'static str,
) -> Result<&'a StringChunked, TraceError> {
    let unknown = || TraceError::UnknownColumn {
        path: path.to_path_buf(),
        column: name.to_string(),
        role,
        available: df
            .get_column_names()
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let col = df.column(name).map_err(|_| unknown())?;
    col.str().map_err(|_| unknown())
}

/// Most bins a count trace may span (10 years of minutes is 5.3 million).
const MAX_BINS: i64 = 20_000_000;

/// Reads a trace. Counts traces are binned at the smallest gap between rows; missing
/// intervals are zero. Rows must be in time order, without duplicate times (count traces),
/// with non-negative numeric counts.
pub fn read(spec: &TraceSpec) -> Result<Arrivals, TraceError> {
    let path = spec.path.as_path();
    if !(spec.scale.is_finite() && spec.scale > 0.0 && spec.scale <= crate::limits::MAX_SCALE) {
        return Err(TraceError::Scale {
            path: path.to_path_buf(),
            scale: spec.scale,
        });
    }
    let read_err = |e: PolarsError| TraceError::Read {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    // Every column as text: the parsing below reports the exact row of a bad value.
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .map_err(read_err)?
        .finish()
        .map_err(read_err)?;
    let times = column(&df, path, &spec.time_column, "time")?;
    let values = match &spec.value_column {
        Some(name) => Some(column(&df, path, name, "value")?),
        None => None,
    };
    if df.height() == 0 {
        return Err(TraceError::Empty {
            path: path.to_path_buf(),
        });
    }
    let row_err = |i: usize, column: &str, value: &str, rule: String| TraceError::Row {
        path: path.to_path_buf(),
        line: i + 2,
        column: column.to_string(),
        value: value.to_string(),
        rule,
    };
    let format = match spec.time_format {
        TimeFormat::Auto => times.get(0).map_or(TimeFormat::DateTime, timefmt::detect),
        f => f,
    };
    let mut stamps: Vec<Micros> = Vec::with_capacity(df.height());
    for (i, t) in times.iter().enumerate() {
        let t = t.unwrap_or("");
        let us =
            timefmt::parse(t, format).map_err(|rule| row_err(i, &spec.time_column, t, rule))?;
        if let Some(&prev) = stamps.last() {
            if us < prev {
                return Err(row_err(
                    i,
                    &spec.time_column,
                    t,
                    "rows must be in time order (this one is earlier than the row before)".into(),
                ));
            }
            if us == prev && values.is_some() {
                return Err(row_err(
                    i,
                    &spec.time_column,
                    t,
                    "duplicate time: each time may appear once in a count trace".into(),
                ));
            }
        }
        stamps.push(us);
    }
    let Some(values) = values else {
        let start_us = stamps[0].div_euclid(1_000_000) * 1_000_000;
        return Ok(Arrivals {
            start_us,
            kind: ArrivalKind::Events { times_us: stamps },
        });
    };
    let value_name = spec.value_column.as_deref().unwrap_or("value");
    let mut counts: Vec<f64> = Vec::with_capacity(stamps.len());
    for (i, v) in values.iter().enumerate() {
        let v = v.unwrap_or("");
        let n: f64 = v
            .trim()
            .parse()
            .map_err(|_| row_err(i, value_name, v, "a count must be a number".into()))?;
        if !n.is_finite() || n < 0.0 {
            return Err(row_err(
                i,
                value_name,
                v,
                "a count must be a finite number >= 0".into(),
            ));
        }
        if n * spec.scale > crate::limits::MAX_TRACE_COUNT {
            return Err(row_err(
                i,
                value_name,
                v,
                format!(
                    "a count times the scale ({}) must be at most {:e} messages",
                    spec.scale,
                    crate::limits::MAX_TRACE_COUNT
                ),
            ));
        }
        counts.push(n * spec.scale);
    }
    let bin_us = stamps
        .windows(2)
        .map(|w| w[1] - w[0])
        .min()
        .unwrap_or(60_000_000)
        .max(1);
    let start_us = stamps[0];
    let last = stamps[stamps.len() - 1];
    let span_us = last.saturating_sub(start_us);
    let bins = span_us / bin_us + 1;
    if span_us / 1_000_000 > crate::limits::MAX_TRACE_SPAN_SECS || bins > MAX_BINS {
        return Err(TraceError::Limit {
            path: path.to_path_buf(),
            detail: format!(
                "it spans {} s in bins of {} s ({bins} bins); the limits are {} s (10 years) and {MAX_BINS} bins (the bin is the smallest gap between rows)",
                span_us / 1_000_000,
                bin_us as f64 / 1e6,
                crate::limits::MAX_TRACE_SPAN_SECS,
            ),
        });
    }
    let bins = bins as usize;
    let mut binned = vec![0.0; bins];
    for (&t, &c) in stamps.iter().zip(&counts) {
        binned[((t - start_us) / bin_us) as usize] += c;
    }
    Ok(Arrivals {
        start_us,
        kind: ArrivalKind::Binned {
            bin_us,
            counts: binned,
        },
    })
}
