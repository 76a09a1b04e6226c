//! Writing results: `timeseries.csv` and the errors of writing; the folder rules live in `staged`.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::model::Row;
use crate::timefmt::rfc3339;

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

/// Renders the time series as CSV.
#[must_use]
pub fn timeseries_csv(rows: &[Row]) -> String {
    let mut out = String::with_capacity(rows.len() * 80 + 100);
    out.push_str(
        "t,arrivals,backlog,in_flight,desired,running,pending,action,oldest_age_s,demand\n",
    );
    for r in rows {
        let action = r.action.map_or("", stepscale_engine::Action::as_str);
        let _ = writeln!(
            out,
            "{},{:.3},{:.3},{:.3},{},{},{},{},{:.3},{}",
            rfc3339(r.t_us),
            r.arrivals,
            r.backlog,
            r.in_flight,
            r.desired,
            r.running,
            r.pending,
            action,
            r.oldest_age_s,
            r.demand
        );
    }
    out
}

pub use crate::staged::{OutputRules, StagedDir};
