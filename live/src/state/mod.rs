//! Scaler state between invocations: a local file, or S3 with conditional writes so two
//! overlapping invocations cannot both act. Reads fast-autoscaler v0.2's state keys.

mod file;
#[cfg(feature = "s3-state")]
mod s3;
pub mod v02;

pub use file::FileStateStore;
#[cfg(feature = "s3-state")]
pub(crate) use s3::Got;
#[cfg(feature = "s3-state")]
pub use s3::{S3Objects, S3StateStore};

use stepscale_engine::{Millis, ScalerState};

/// The state as loaded, with the version a conditional write must match.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The state (a safe default when the stored one was unreadable).
    pub state: ScalerState,
    /// The stored version (an S3 `ETag`, a file's content hash); none when nothing is stored.
    pub version: Option<String>,
    /// Where the state came from.
    pub source: StateSource,
}

/// Where loaded state came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateSource {
    /// StepScale's own document.
    StepScale,
    /// fast-autoscaler v0.2's `up-last-action` / `down-last-action` keys.
    V02,
    /// Nothing stored yet.
    Empty,
    /// The stored document was unreadable; a safe default stands in (no scale-in until a
    /// cooldown has passed).
    Corrupt,
}

/// Why state could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Another writer changed the state since it was read: this invocation must re-read and
    /// decide again, or stand down.
    #[error("state {location} changed since it was read: another invocation acted first")]
    Conflict {
        /// Bucket/key or file.
        location: String,
    },
    /// The store could not be reached or written.
    #[error("state {location}: {detail}")]
    Io {
        /// Bucket/key or file.
        location: String,
        /// The cause.
        detail: String,
    },
}

/// The state a corrupt document is replaced by: as if a scale-in had just happened, so no
/// scale-in follows until its cooldown has passed; scale-out is unaffected.
#[must_use]
pub fn safe_default(now_ms: Millis) -> ScalerState {
    ScalerState {
        last_scale_in_ms: Some(now_ms),
        ..ScalerState::default()
    }
}

/// Every state store this build includes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AnyStateStore {
    /// A local JSON file.
    File(FileStateStore),
    /// An S3 object.
    #[cfg(feature = "s3-state")]
    S3(S3StateStore),
}

impl AnyStateStore {
    /// Loads the state at `now_ms` (used for the safe default).
    pub async fn load(&self, now_ms: Millis) -> Result<Loaded, StateError> {
        match self {
            Self::File(s) => s.load(now_ms),
            #[cfg(feature = "s3-state")]
            Self::S3(s) => s.load(now_ms).await,
        }
    }

    /// Saves `state` if the stored version is still `version`; returns the new version.
    pub async fn save(
        &self,
        state: &ScalerState,
        version: Option<&str>,
    ) -> Result<String, StateError> {
        match self {
            Self::File(s) => s.save(state, version),
            #[cfg(feature = "s3-state")]
            Self::S3(s) => s.save(state, version).await,
        }
    }
}
