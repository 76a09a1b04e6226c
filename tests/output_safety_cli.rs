//! End to end: `--out` never deletes or overwrites what StepScale did not write, never its own
//! inputs, and a signal during the write leaves no staging folder behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn stepscale(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the stepscale binary runs")
}

/// A copy of the diurnal scenario and its policy in a fresh folder.
fn scenario_copy(dir: &Path) -> PathBuf {
    let scen = dir.join("scen");
    std::fs::create_dir_all(scen.join("policies")).unwrap();
    std::fs::copy(
        root().join("scenarios/diurnal.toml"),
        scen.join("diurnal.toml"),
    )
    .unwrap();
    std::fs::copy(
        root().join("scenarios/policies/diurnal-tuned.toml"),
        scen.join("policies/diurnal-tuned.toml"),
    )
    .unwrap();
    scen.join("diurnal.toml")
}

fn refused(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted: {stderr}");
    assert!(stderr.contains(needle), "{stderr}");
}

#[test]
fn backtest_never_replaces_its_inputs_or_a_users_files() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario_copy(dir.path());
    let s = scenario.to_str().unwrap();
    let folder = scenario.parent().unwrap();
    // The folder holding the scenario, even with --force.
    for force in [false, true] {
        let mut args = vec![
            "backtest",
            "--scenario",
            s,
            "--out",
            folder.to_str().unwrap(),
        ];
        if force {
            args.push("--force");
        }
        refused(&stepscale(&args), "which this command reads");
        assert!(scenario.is_file());
    }
    // The policy's folder.
    let policies = folder.join("policies");
    refused(
        &stepscale(&[
            "backtest",
            "--scenario",
            s,
            "--out",
            policies.to_str().unwrap(),
            "--force",
        ]),
        "which this command reads",
    );
    // A user's file.
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "mine").unwrap();
    refused(
        &stepscale(&["backtest", "--scenario", s, "--out", file.to_str().unwrap()]),
        "is an existing file",
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
    // A user's folder.
    let theirs = dir.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::fs::write(theirs.join("keep.txt"), "mine").unwrap();
    refused(
        &stepscale(&[
            "backtest",
            "--scenario",
            s,
            "--out",
            theirs.to_str().unwrap(),
        ]),
        "StepScale did not write",
    );
    assert!(theirs.join("keep.txt").is_file());
    // The current folder.
    refused(
        &stepscale(&["backtest", "--scenario", s, "--out", "."]),
        "current folder",
    );
    // No staging folder is left anywhere.
    let hidden: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            n.starts_with('.').then_some(n)
        })
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
    // Its own output is replaced; with a user's file added, it is not.
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    assert!(stepscale(&["backtest", "--scenario", s, "--out", o])
        .status
        .success());
    assert!(stepscale(&["backtest", "--scenario", s, "--out", o])
        .status
        .success());
    std::fs::write(out.join("analysis.txt"), "mine").unwrap();
    refused(
        &stepscale(&["backtest", "--scenario", s, "--out", o]),
        "analysis.txt",
    );
    assert!(out.join("analysis.txt").is_file());
    // --force replaces a user's folder.
    let run = stepscale(&[
        "backtest",
        "--scenario",
        s,
        "--out",
        theirs.to_str().unwrap(),
        "--force",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(theirs.join("summary.json").is_file() && !theirs.join("keep.txt").exists());
}

#[test]
fn compare_and_tune_follow_the_same_rules() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario_copy(dir.path());
    let s = scenario.to_str().unwrap();
    let theirs = dir.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::fs::write(theirs.join("keep.txt"), "mine").unwrap();
    let t = theirs.to_str().unwrap();
    let policy = root().join("scenarios/policies/step.toml");
    refused(
        &stepscale(&[
            "compare",
            "--scenario",
            s,
            "--policy",
            policy.to_str().unwrap(),
            "--out",
            t,
        ]),
        "StepScale did not write",
    );
    let space = root().join("tests/spaces/target-small.toml");
    refused(
        &stepscale(&[
            "tune",
            "--scenario",
            s,
            "--space",
            space.to_str().unwrap(),
            "--out",
            t,
        ]),
        "StepScale did not write",
    );
    refused(
        &stepscale(&[
            "tune",
            "--scenario",
            s,
            "--space",
            space.to_str().unwrap(),
            "--out",
            root().join("tests/spaces").to_str().unwrap(),
            "--force",
        ]),
        "which this command reads",
    );
    assert!(theirs.join("keep.txt").is_file());
    // compare with one policy adds the scenario's own.
    let out = dir.path().join("cmp");
    let run = stepscale(&[
        "compare",
        "--scenario",
        s,
        "--policy",
        policy.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let csv = std::fs::read_to_string(out.join("compare.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.contains("\nscenario,"), "{csv}");
}

#[test]
fn a_signal_during_the_write_removes_the_staging_folder() {
    let dir = tempfile::tempdir().unwrap();
    let mut interrupted = 0;
    for attempt in 0..20 {
        let out = dir.path().join(format!("out{attempt}"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_stepscale"))
            .args([
                "backtest",
                "--scenario",
                "scenarios/worldcup98.toml",
                "--out",
            ])
            .arg(&out)
            .current_dir(root())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let staging = dir
            .path()
            .join(format!(".out{attempt}.staging-{}", child.id()));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !staging.exists() && Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let signal = if attempt % 2 == 0 { "-INT" } else { "-TERM" };
        let _ = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status();
        let run = child.wait_with_output().unwrap();
        if !run.status.success() {
            interrupted += 1;
            assert!(!out.exists(), "an interrupted run left {}", out.display());
            // It says so, in one line.
            let said = String::from_utf8_lossy(&run.stderr);
            assert!(
                said.contains("interrupted by SIG") && said.contains("nothing was written"),
                "{said}"
            );
        }
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("staging"))
            .collect();
        assert!(
            left.is_empty(),
            "attempt {attempt} ({signal}) left {left:?}"
        );
        if interrupted >= 4 {
            break;
        }
    }
    assert!(
        interrupted >= 4,
        "only {interrupted} runs were stopped during the write"
    );
}
