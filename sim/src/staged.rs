//! Output folders made whole or not at all, replacing only what StepScale itself wrote.
//!
//! The rules, in the order they are checked before anything is written:
//! - `--out` may not hold (or be) any file the command reads: the scenario, the trace, the
//!   policy files. `--force` does not lift this.
//! - `--out` may not be the current directory or one of its ancestors.
//! - An existing `--out` must be an empty folder or a folder StepScale wrote: it holds the
//!   manifest [`MANIFEST`] and nothing that the manifest does not list. Anything else (a file,
//!   a folder of the user's, a StepScale folder with a file added) is refused unless `--force`.
//! - Results are staged in a hidden sibling folder (`.NAME.staging-PID`) and swapped in at the
//!   end, after the same rules are checked again: a file the user dropped into `--out` during a
//!   long run stops the swap and is named. A failed run, or one stopped by SIGINT or SIGTERM
//!   (see [`remove_staging`]), leaves the target untouched and no staging folder behind; one
//!   left by a process that was killed outright (SIGKILL, out of memory) is swept by the next
//!   run into the same `--out` once that process is gone.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

use crate::output::OutputError;

/// The file that marks a folder as StepScale's output.
pub const MANIFEST: &str = ".stepscale-output.json";

/// What the manifest records.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// Always "stepscale".
    pub written_by: String,
    /// The command that wrote the folder (`backtest`, `compare`, `tune`).
    pub command: String,
    /// The files written, relative to the folder.
    pub files: Vec<String>,
}

/// How an output folder may be replaced.
#[derive(Debug, Clone, Default)]
pub struct OutputRules {
    /// Replace a folder or file that StepScale did not write (`--force`).
    pub force: bool,
    /// Files the command reads; the output folder may never hold them.
    pub inputs: Vec<PathBuf>,
}

/// Set once this process has moved a results folder into place, so that an interrupt after it
/// does not claim that nothing was written.
static COMMITTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process has moved a results folder into place.
#[must_use]
pub fn committed() -> bool {
    COMMITTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Paths being written or swapped right now, for the signal handler.
static IN_PROGRESS: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn in_progress() -> MutexGuard<'static, BTreeSet<PathBuf>> {
    IN_PROGRESS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes every staging folder of this process. Called from the SIGINT/SIGTERM handler
/// before it exits; a swap in progress finishes first (it holds the same lock).
pub fn remove_staging() {
    let mut set = in_progress();
    for path in std::mem::take(&mut *set) {
        let _ = std::fs::remove_dir_all(&path);
    }
}

/// A folder filled under a temporary name and moved into place at the end, so a failed run
/// leaves no half-written output.
pub struct StagedDir {
    target: PathBuf,
    rules: OutputRules,
    staging: PathBuf,
    /// Where the target's previous contents wait while the new ones move in
    /// (`.NAME.old-PID`).
    aside: PathBuf,
    command: String,
    files: BTreeSet<String>,
    done: bool,
}

fn io<'p>(action: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> OutputError + 'p {
    move |cause| OutputError::Io {
        action,
        path: path.to_path_buf(),
        cause,
    }
}

fn refused(path: &Path, reason: impl Into<String>) -> OutputError {
    OutputError::Refused {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// `path` made absolute and free of `.` and `..`, resolving symlinks where the path exists.
fn absolute(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    // A path that does not exist yet: resolve its deepest existing ancestor.
    let base = std::env::current_dir().unwrap_or_default();
    let joined = base.join(path);
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    let mut existing = out.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (
            existing.file_name().map(ToOwned::to_owned),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return out,
        }
    }
    let mut resolved = std::fs::canonicalize(&existing).unwrap_or(existing);
    for name in rest.into_iter().rev() {
        resolved.push(name);
    }
    resolved
}

/// Reads the manifest of `dir`, if it has a valid one.
fn read_manifest(dir: &Path) -> Option<Manifest> {
    let text = std::fs::read_to_string(dir.join(MANIFEST)).ok()?;
    let m: Manifest = serde_json::from_str(&text).ok()?;
    (m.written_by == "stepscale").then_some(m)
}

/// Checks that `target` may be replaced under `rules`.
pub fn check_target(target: &Path, rules: &OutputRules) -> Result<(), OutputError> {
    if target.as_os_str().is_empty() {
        return Err(refused(target, "is empty; name a folder for the results"));
    }
    let abs = absolute(target);
    for input in &rules.inputs {
        let input_abs = absolute(input);
        if input_abs.starts_with(&abs) {
            return Err(refused(
                target,
                format!(
                    "holds {}, which this command reads; StepScale never replaces its inputs \
                     (not even with --force): choose another folder",
                    input.display()
                ),
            ));
        }
    }
    if let Ok(cwd) = std::env::current_dir() {
        let cwd = std::fs::canonicalize(&cwd).unwrap_or(cwd);
        if cwd.starts_with(&abs) {
            return Err(refused(
                target,
                "is the current folder or holds it; choose a new folder such as out/run1",
            ));
        }
    }
    let Ok(meta) = std::fs::symlink_metadata(target) else {
        return Ok(());
    };
    if !meta.is_dir() {
        return if rules.force {
            Ok(())
        } else {
            Err(refused(
                target,
                "is an existing file, not a results folder; StepScale replaces only folders it \
                 wrote. Choose another path, or pass --force to replace it",
            ))
        };
    }
    let entries = std::fs::read_dir(target).map_err(io("reading", target))?;
    let mut foreign = Vec::new();
    let mut names = Vec::new();
    for e in entries {
        let e = e.map_err(io("reading", target))?;
        names.push(e.file_name().to_string_lossy().into_owned());
    }
    if names.is_empty() || rules.force {
        return Ok(());
    }
    let Some(manifest) = read_manifest(target) else {
        names.sort();
        let shown: Vec<&str> = names.iter().take(3).map(String::as_str).collect();
        return Err(refused(
            target,
            format!(
                "is a folder StepScale did not write (no {MANIFEST}) and holds {}{}; choose a \
                 new folder, move them out, or pass --force to replace it",
                shown.join(", "),
                if names.len() > shown.len() {
                    format!(" and {} more", names.len() - shown.len())
                } else {
                    String::new()
                }
            ),
        ));
    };
    for name in names {
        if name != MANIFEST && !manifest.files.contains(&name) {
            foreign.push(name);
        }
    }
    if let Some(first) = foreign.first() {
        return Err(refused(
            target,
            format!(
                "holds {first}, which StepScale did not write ({} such file(s)); move it out, \
                 or pass --force to replace the folder",
                foreign.len()
            ),
        ));
    }
    Ok(())
}

impl StagedDir {
    /// Checks `target` under `rules`, then starts staging for it.
    pub fn new(target: &Path, command: &str, rules: &OutputRules) -> Result<Self, OutputError> {
        check_target(target, rules)?;
        let name = target
            .file_name()
            .map_or_else(|| "out".to_string(), |n| n.to_string_lossy().into_owned());
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
        sweep_orphans(parent, &name);
        let staging = parent.join(format!(".{name}.staging-{}", std::process::id()));
        let aside = parent.join(format!(".{name}.old-{}", std::process::id()));
        // Only this process writes a folder of this name; an earlier one of ours may be left
        // from a process that was killed with SIGKILL and had the same id.
        if read_manifest(&staging).is_some() || is_empty_dir(&staging) {
            std::fs::remove_dir_all(&staging).map_err(io("removing", &staging))?;
        }
        in_progress().insert(staging.clone());
        if let Err(e) = std::fs::create_dir(&staging) {
            in_progress().remove(&staging);
            return Err(io("creating", &staging)(e));
        }
        Ok(Self {
            target: target.to_path_buf(),
            rules: rules.clone(),
            staging,
            aside,
            command: command.to_string(),
            files: BTreeSet::new(),
            done: false,
        })
    }

    /// Path of a file inside the staging folder; the file is recorded in the manifest.
    #[must_use]
    pub fn path(&mut self, file: &str) -> PathBuf {
        self.files.insert(file.to_string());
        self.staging.join(file)
    }

    /// Writes a file into the staging folder.
    pub fn write(&mut self, file: &str, contents: &[u8]) -> Result<(), OutputError> {
        let path = self.path(file);
        std::fs::write(&path, contents).map_err(io("writing", &path))
    }

    /// Writes the manifest and moves the staged folder into place, replacing an earlier run's
    /// output (already checked by [`StagedDir::new`]).
    pub fn commit(mut self) -> Result<(), OutputError> {
        let manifest = Manifest {
            written_by: "stepscale".into(),
            command: self.command.clone(),
            files: self.files.iter().cloned().collect(),
        };
        let mut json = serde_json::to_string_pretty(&manifest).unwrap_or_default();
        json.push('\n');
        let path = self.staging.join(MANIFEST);
        std::fs::write(&path, json).map_err(io("writing", &path))?;
        // Looked at again now: the folder may have changed during a long run.
        check_target(&self.target, &self.rules)?;
        let mut set = in_progress();
        let old = self.aside.clone();
        let replaced = match std::fs::symlink_metadata(&self.target) {
            Ok(meta) => {
                std::fs::rename(&self.target, &old).map_err(io("moving aside", &self.target))?;
                set.insert(old.clone());
                Some(meta.is_dir())
            }
            Err(_) => None,
        };
        if let Err(e) = std::fs::rename(&self.staging, &self.target) {
            if replaced.is_some() {
                let _ = std::fs::rename(&old, &self.target);
                set.remove(&old);
            }
            return Err(io("moving into place", &self.target)(e));
        }
        set.remove(&self.staging);
        self.done = true;
        COMMITTED.store(true, std::sync::atomic::Ordering::SeqCst);
        drop(set);
        match replaced {
            Some(true) => std::fs::remove_dir_all(&old).map_err(io("removing", &old))?,
            Some(false) => std::fs::remove_file(&old).map_err(io("removing", &old))?,
            None => {}
        }
        in_progress().remove(&old);
        Ok(())
    }
}

/// Whether process `pid` is gone. Only Linux can tell (through /proc); elsewhere every
/// process is taken to be alive, so nothing is swept.
fn process_gone(pid: u32) -> bool {
    cfg!(target_os = "linux")
        && Path::new("/proc/self").exists()
        && !Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes the staging and aside folders (`.NAME.staging-PID`, `.NAME.old-PID`) that processes
/// which no longer exist left beside `NAME` in `parent`: runs killed before they could clean
/// up. Those names are StepScale's own; a folder of another process still running is left.
fn sweep_orphans(parent: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let prefixes = [format!(".{name}.staging-"), format!(".{name}.old-")];
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let pid = prefixes
            .iter()
            .find_map(|p| file.strip_prefix(p.as_str()))
            .and_then(|rest| rest.parse::<u32>().ok());
        let Some(pid) = pid else { continue };
        if pid == std::process::id() || !process_gone(pid) {
            continue;
        }
        let path = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            tracing::info!(path = %path.display(), pid, "Removing a staging folder left by a run that was killed.");
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_none())
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.staging);
            in_progress().remove(&self.staging);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `remove_staging` acts on the whole process: tests that stage run one at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn serial() -> MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn rules(inputs: &[&Path]) -> OutputRules {
        OutputRules {
            force: false,
            inputs: inputs.iter().map(|p| p.to_path_buf()).collect(),
        }
    }

    fn stage(target: &Path, r: &OutputRules) -> Result<(), OutputError> {
        let mut s = StagedDir::new(target, "test", r)?;
        s.write("a.txt", b"a")?;
        s.commit()
    }

    #[test]
    fn a_new_or_empty_folder_is_written_with_a_manifest() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        stage(&out, &rules(&[])).unwrap();
        assert_eq!(std::fs::read_to_string(out.join("a.txt")).unwrap(), "a");
        assert!(read_manifest(&out).is_some());
        // Its own output is replaced.
        stage(&out, &rules(&[])).unwrap();
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        stage(&empty, &rules(&[])).unwrap();
    }

    #[test]
    fn a_users_folder_or_file_is_refused_and_kept() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::write(theirs.join("notes.txt"), "mine").unwrap();
        let err = stage(&theirs, &rules(&[])).unwrap_err().to_string();
        assert!(err.contains("did not write"), "{err}");
        assert!(
            err.contains("holds notes.txt"),
            "names what is in the way: {err}"
        );
        assert_eq!(
            std::fs::read_to_string(theirs.join("notes.txt")).unwrap(),
            "mine"
        );
        let file = dir.path().join("file.txt");
        std::fs::write(&file, "keep").unwrap();
        let err = stage(&file, &rules(&[])).unwrap_err().to_string();
        assert!(err.contains("existing file"), "{err}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 2, "nothing left behind");
        // --force replaces both.
        let force = OutputRules {
            force: true,
            inputs: vec![],
        };
        stage(&theirs, &force).unwrap();
        assert!(!theirs.join("notes.txt").exists());
        stage(&file, &force).unwrap();
        assert!(file.join("a.txt").exists());
    }

    #[test]
    fn a_file_dropped_into_the_folder_during_a_run_stops_the_swap() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        stage(&out, &rules(&[])).unwrap();
        let mut s = StagedDir::new(&out, "test", &rules(&[])).unwrap();
        s.write("a.txt", b"new").unwrap();
        // The user drops a file in while the run works.
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        let err = s.commit().unwrap_err().to_string();
        assert!(err.contains("notes.txt"), "{err}");
        assert_eq!(
            std::fs::read_to_string(out.join("notes.txt")).unwrap(),
            "mine"
        );
        assert_eq!(std::fs::read_to_string(out.join("a.txt")).unwrap(), "a");
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["out"], "no staging or aside folder left");
    }

    #[test]
    fn a_staging_folder_of_a_killed_process_is_swept_and_a_live_ones_kept() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        // A pid that cannot exist (above Linux's pid_max) and this test's parent's, alive.
        let dead = dir.path().join(".out.staging-4194305");
        let old = dir.path().join(".out.old-4194306");
        let alive = dir.path().join(format!(
            ".out.staging-{}",
            std::os::unix::process::parent_id()
        ));
        for d in [&dead, &old, &alive] {
            std::fs::create_dir(d).unwrap();
            std::fs::write(d.join("timeseries.csv"), "x").unwrap();
        }
        stage(&dir.path().join("out"), &rules(&[])).unwrap();
        assert!(
            !dead.exists() && !old.exists(),
            "the killed runs' folders are swept"
        );
        assert!(alive.exists(), "a running process's folder is left");
    }

    #[test]
    fn a_file_added_to_an_output_folder_is_protected() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        stage(&out, &rules(&[])).unwrap();
        std::fs::write(out.join("analysis.ipynb"), "mine").unwrap();
        let err = stage(&out, &rules(&[])).unwrap_err().to_string();
        assert!(err.contains("analysis.ipynb"), "{err}");
        assert!(out.join("analysis.ipynb").exists());
    }

    #[test]
    fn inputs_are_never_replaced_even_with_force() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let scenario = dir.path().join("s.toml");
        std::fs::write(&scenario, "x").unwrap();
        for force in [false, true] {
            let r = OutputRules {
                force,
                inputs: vec![scenario.clone()],
            };
            let err = stage(dir.path(), &r).unwrap_err().to_string();
            assert!(err.contains("which this command reads"), "{err}");
            let err = stage(&scenario, &r).unwrap_err().to_string();
            assert!(err.contains("which this command reads"), "{err}");
        }
        assert_eq!(std::fs::read_to_string(&scenario).unwrap(), "x");
    }

    #[test]
    fn the_current_folder_is_refused() {
        let _serial = serial();
        let err = stage(Path::new("."), &rules(&[])).unwrap_err().to_string();
        assert!(err.contains("current folder"), "{err}");
    }

    #[test]
    fn remove_staging_removes_the_folder_being_written() {
        let _serial = serial();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut s = StagedDir::new(&out, "test", &rules(&[])).unwrap();
        s.write("a.txt", b"a").unwrap();
        remove_staging();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        drop(s);
        assert!(!out.exists());
    }
}
