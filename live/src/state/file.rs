//! A local JSON file as state store, for the long-running binary and for tests.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use stepscale_engine::{Millis, ScalerState};

use super::{safe_default, Loaded, StateError, StateSource};

/// State in one JSON file; the version is a hash of its bytes.
#[derive(Debug, Clone)]
pub struct FileStateStore {
    path: PathBuf,
}

fn version_of(bytes: &[u8]) -> String {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    format!("{:016x}", h.finish())
}

impl FileStateStore {
    /// A store at `path`.
    #[must_use]
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
        }
    }

    fn io(&self, e: &std::io::Error) -> StateError {
        StateError::Io {
            location: self.path.display().to_string(),
            detail: e.to_string(),
        }
    }

    /// Loads the state; a missing file is empty state, a corrupt one a warning and the safe
    /// default.
    pub fn load(&self, now_ms: Millis) -> Result<Loaded, StateError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Loaded {
                    state: ScalerState::default(),
                    version: None,
                    source: StateSource::Empty,
                })
            }
            Err(e) => return Err(self.io(&e)),
        };
        let version = Some(version_of(&bytes));
        match serde_json::from_slice::<ScalerState>(&bytes) {
            Ok(state) => Ok(Loaded {
                state,
                version,
                source: StateSource::StepScale,
            }),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "State file unreadable: no scale-in until a cooldown has passed.");
                Ok(Loaded {
                    state: safe_default(now_ms),
                    version,
                    source: StateSource::Corrupt,
                })
            }
        }
    }

    /// The lock beside the state file (`NAME.lock`), held while a save compares and
    /// replaces, so that the compare-and-swap is atomic across processes sharing the folder.
    fn lock_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        self.path.with_file_name(name)
    }

    /// Saves if the file still has `version` (none: the file must not exist). The compare and
    /// the replace happen under an exclusive OS lock (`flock` on `NAME.lock`), so of two
    /// processes that loaded the same version exactly one saves; the other gets
    /// [`StateError::Conflict`].
    pub fn save(&self, state: &ScalerState, version: Option<&str>) -> Result<String, StateError> {
        // The folder is made on the first save, so a run that fails before it (a bad
        // configuration, a dry run) leaves no empty folder behind.
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.io(&e))?;
        }
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.lock_path())
            .map_err(|e| self.io(&e))?;
        // Released when `lock` is closed, at the end of this function (or if the process dies).
        lock.lock().map_err(|e| self.io(&e))?;
        let current = match std::fs::read(&self.path) {
            Ok(b) => Some(version_of(&b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(self.io(&e)),
        };
        if current.as_deref() != version {
            return Err(StateError::Conflict {
                location: self.path.display().to_string(),
            });
        }
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| StateError::Io {
            location: self.path.display().to_string(),
            detail: e.to_string(),
        })?;
        let tmp = self
            .path
            .with_extension(format!("tmp-{}", std::process::id()));
        std::fs::write(&tmp, &bytes).map_err(|e| self.io(&e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| self.io(&e))?;
        drop(lock);
        Ok(version_of(&bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_conflict_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStateStore::new(dir.path().join("s.json"));
        let empty = store.load(0).unwrap();
        assert_eq!(empty.source, StateSource::Empty);
        let state = ScalerState {
            last_scale_out_ms: Some(42),
            ..ScalerState::default()
        };
        let v1 = store.save(&state, None).unwrap();
        assert!(matches!(
            store.save(&state, None),
            Err(StateError::Conflict { .. })
        ));
        let loaded = store.load(0).unwrap();
        assert_eq!(
            (loaded.state, loaded.version),
            (state.clone(), Some(v1.clone()))
        );
        store.save(&ScalerState::default(), Some(&v1)).unwrap();
        assert!(matches!(
            store.save(&state, Some(&v1)),
            Err(StateError::Conflict { .. })
        ));
        std::fs::write(dir.path().join("s.json"), "{oops").unwrap();
        let corrupt = store.load(7_000).unwrap();
        assert_eq!(corrupt.source, StateSource::Corrupt);
        assert_eq!(corrupt.state.last_scale_in_ms, Some(7_000));
    }
}
