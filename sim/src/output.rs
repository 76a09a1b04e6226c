//! The errors of writing results; the folder rules live in `staged`, the CSV rows in `model`.

use std::path::PathBuf;

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
