//! End to end: the time series holds every arrival (the last partial period included), and a
//! run cut off at the drain limit says so in its output and in `summary.json`.

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn backtest(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .arg("backtest")
        .args(args)
        .current_dir(root())
        .output()
        .expect("the stepscale binary runs")
}

fn summary(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn the_last_partial_period_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("150s.csv");
    let text: String = std::iter::once("time,count\n".to_string())
        .chain((0..150).map(|i| format!("{},10\n", 1_700_000_000 + i)))
        .collect();
    std::fs::write(&trace, text).unwrap();
    for fidelity in ["discrete", "fluid"] {
        let out = dir.path().join(fidelity);
        let run = backtest(&[
            "--scenario",
            "scenarios/steady.toml",
            "--trace",
            trace.to_str().unwrap(),
            "--time-column",
            "time",
            "--value-column",
            "count",
            "--fidelity",
            fidelity,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let csv = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
        let total: f64 = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(1).unwrap().parse::<f64>().unwrap())
            .sum();
        assert!(
            (total - 1500.0).abs() < 1e-6,
            "{fidelity}: {total} of 1500 arrivals in the rows"
        );
        assert_eq!(summary(&out)["drained"], true);
    }
}

#[test]
fn a_run_cut_off_at_the_drain_limit_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("overloaded.toml");
    let text = std::fs::read_to_string(root().join("scenarios/steady.toml"))
        .unwrap()
        .replace("max_tasks = 60", "max_tasks = 1")
        .replace("initial_tasks = 5", "initial_tasks = 1")
        .replace(
            "duration_secs = 21600",
            "duration_secs = 600\ndrain_limit_secs = 10",
        );
    std::fs::write(&scenario, text).unwrap();
    let out = dir.path().join("out");
    let run = backtest(&[
        "--scenario",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("WARNING: the backlog had not drained"),
        "{stdout}"
    );
    assert_eq!(summary(&out)["drained"], false);
}

#[test]
fn an_environment_value_that_is_not_utf8_is_an_error_naming_it() {
    use std::os::unix::ffi::OsStrExt as _;
    let out = Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .arg("config")
        .env("MIN_TASKS", std::ffi::OsStr::from_bytes(b"\xff"))
        .current_dir(root())
        .output()
        .expect("the stepscale binary runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "accepted: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(err.contains("MIN_TASKS") && err.contains("UTF-8"), "{err}");
}

#[test]
fn a_run_that_fails_on_its_configuration_leaves_no_state_folder() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, "[service]\ncluster = \"c\"\nname = \"s\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .args(["run", "--once", "--dry-run", "--policy"])
        .arg(&policy)
        .current_dir(dir.path())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .output()
        .expect("the stepscale binary runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("queue_url"), "{err}");
    assert!(
        !dir.path().join("stepscale-state").exists(),
        "an empty state folder was left"
    );
}
