//! Writing results: `timeseries.csv`, `summary.json`, and the output folder made whole or not at all.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::model::Row;
use crate::timefmt::rfc3339;

/// Why results could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// A file or folder operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
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

/// A folder filled under a temporary name and moved into place at the end, so a failed run
/// leaves no half-written output.
pub struct StagedDir {
    target: PathBuf,
    staging: PathBuf,
    done: bool,
}

fn io<'p>(action: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> OutputError + 'p {
    move |source| OutputError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

impl StagedDir {
    /// Starts staging for `target`.
    pub fn new(target: &Path) -> Result<Self, OutputError> {
        let name = target
            .file_name()
            .map_or_else(|| "out".to_string(), |n| n.to_string_lossy().into_owned());
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
        let staging = parent.join(format!(".{name}.staging-{}", std::process::id()));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(io("removing", &staging))?;
        }
        std::fs::create_dir(&staging).map_err(io("creating", &staging))?;
        Ok(Self {
            target: target.to_path_buf(),
            staging,
            done: false,
        })
    }

    /// Path of a file inside the staging folder.
    #[must_use]
    pub fn path(&self, file: &str) -> PathBuf {
        self.staging.join(file)
    }

    /// Writes a file into the staging folder.
    pub fn write(&self, file: &str, contents: &[u8]) -> Result<(), OutputError> {
        let path = self.path(file);
        std::fs::write(&path, contents).map_err(io("writing", &path))
    }

    /// Moves the staged folder into place, replacing an earlier run's output.
    pub fn commit(mut self) -> Result<(), OutputError> {
        if self.target.exists() {
            let old = self.staging.with_extension("old");
            std::fs::rename(&self.target, &old).map_err(io("moving aside", &self.target))?;
            std::fs::rename(&self.staging, &self.target)
                .map_err(io("moving into place", &self.target))?;
            std::fs::remove_dir_all(&old).map_err(io("removing", &old))?;
        } else {
            std::fs::rename(&self.staging, &self.target)
                .map_err(io("moving into place", &self.target))?;
        }
        self.done = true;
        Ok(())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}
