//! Writing results: `timeseries.csv` and the errors of writing; the folder rules live in `staged`.

use std::path::PathBuf;

use crate::model::Row;

/// Why results could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// A file or folder operation failed.
    #[error("{action} {path}: {cause}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// The cause (not a `source`: it is printed once, here).
        cause: std::io::Error,
    },
    /// The output path may not be written.
    #[error("--out {path}: {reason}")]
    Refused {
        /// The output path.
        path: PathBuf,
        /// Why, and what to do.
        reason: String,
    },
    /// A plot could not be drawn.
    #[error("drawing {path}: {detail}")]
    Plot {
        /// The file.
        path: PathBuf,
        /// The cause.
        detail: String,
    },
}

/// Renders the time series as CSV (the whole text in memory; `Backtest::run_and_write`
/// streams instead).
#[must_use]
pub fn timeseries_csv(rows: &[Row]) -> String {
    let mut out = String::with_capacity(rows.len() * 80 + 100);
    out.push_str(crate::model::CSV_HEADER);
    for r in rows {
        crate::model::csv_line(&mut out, r);
        out.push('\n');
    }
    out
}

pub use crate::staged::{OutputRules, StagedDir};
