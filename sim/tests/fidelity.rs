//! Fluid against discrete on a high-volume trace, Little's law, and determinism of the library.

use std::path::{Path, PathBuf};

use stepscale_sim::{Backtest, Fidelity, Overrides};

fn scenario(dir: &Path) -> PathBuf {
    let path = dir.join("high-volume.toml");
    std::fs::write(
        &path,
        r#"
name = "high-volume"
seed = 7
duration_secs = 14400

[arrivals]
poisson = true
[[arrivals.synthetic]]
kind = "diurnal"
mean_per_s = 500.0
amplitude_per_s = 300.0
period_secs = 14400
peak_at_secs = 7200

[[arrivals.synthetic]]
kind = "on_off"
on_secs = 900
off_secs = 2700
rate_per_s = 900.0
offset_secs = 1800

[plant]
initial_tasks = 10
concurrency = 4
service_time = { kind = "exponential", mean_secs = 0.2 }
startup = { kind = "uniform", min_secs = 60.0, max_secs = 120.0 }

[slo]
wait_secs = 30

[scaler.guards]
min_tasks = 2
max_tasks = 200
scale_out_cooldown_secs = 0
scale_in_cooldown_secs = 120

[scaler.policy]
kind = "target"
target_backlog_per_task = 3.0
include_in_flight = true
scale_in_stabilization_secs = 300
"#,
    )
    .unwrap();
    path
}

fn within(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-9)
}

#[test]
fn fluid_matches_discrete_on_a_high_volume_trace() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path());
    let run = |fidelity| {
        let o = Overrides {
            fidelity: Some(fidelity),
            ..Overrides::default()
        };
        Backtest::prepare(&path, &o).unwrap().simulate().1
    };
    let fluid = run(Fidelity::Fluid);
    let discrete = run(Fidelity::Discrete);
    assert!(
        discrete.messages > 5.0e6,
        "high volume: {}",
        discrete.messages
    );
    assert!(
        within(fluid.wait_p99_s, discrete.wait_p99_s, 0.05),
        "p99 wait: fluid {} s vs discrete {} s",
        fluid.wait_p99_s,
        discrete.wait_p99_s
    );
    assert!(
        within(fluid.task_hours, discrete.task_hours, 0.05),
        "task-hours: fluid {} vs discrete {}",
        fluid.task_hours,
        discrete.task_hours
    );
}

#[test]
fn littles_law_holds_in_both_fidelities() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path());
    for fidelity in [Fidelity::Fluid, Fidelity::Discrete] {
        let o = Overrides {
            fidelity: Some(fidelity),
            resolution_secs: Some(1.0),
            ..Overrides::default()
        };
        let s = Backtest::prepare(&path, &o).unwrap().simulate().1;
        assert!(
            within(s.little_mean_backlog, s.little_rate_times_wait, 0.03),
            "{fidelity:?}: L = {} vs λW = {}",
            s.little_mean_backlog,
            s.little_rate_times_wait
        );
    }
}

#[test]
fn littles_law_holds_on_every_shipped_scenario() {
    for path in shipped_scenarios() {
        // Default options: the time-average backlog L is taken on the simulation's own steps,
        // whatever the resolution of the rows.
        let s = Backtest::prepare(&path, &Overrides::default())
            .unwrap()
            .simulate()
            .1;
        assert!(
            within(s.little_mean_backlog, s.little_rate_times_wait, 0.01),
            "{}: L = {} vs λW = {}",
            path.display(),
            s.little_mean_backlog,
            s.little_rate_times_wait
        );
    }
}

fn shipped_scenarios() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut scenarios: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    scenarios.sort();
    assert!(scenarios.len() >= 7);
    scenarios
}

#[test]
fn the_summary_does_not_depend_on_the_resolution() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    // A fluid and a discrete scenario, each with rows every 1, 60 and 600 s.
    for name in ["diurnal", "spike"] {
        let path = dir.join(format!("{name}.toml"));
        let summaries: Vec<_> = [1.0, 60.0, 600.0]
            .into_iter()
            .map(|resolution| {
                let o = Overrides {
                    resolution_secs: Some(resolution),
                    ..Overrides::default()
                };
                let (outcome, summary) = Backtest::prepare(&path, &o).unwrap().simulate();
                // The rows did change: the test compares different outputs.
                assert!(!outcome.rows.is_empty());
                (outcome.rows.len(), summary)
            })
            .collect();
        assert!(
            summaries[0].0 > 100 * summaries[2].0,
            "{name}: rows did not change"
        );
        for (rows, s) in &summaries[1..] {
            assert_eq!(
                serde_json::to_string_pretty(s).unwrap(),
                serde_json::to_string_pretty(&summaries[0].1).unwrap(),
                "{name}: the summary at {rows} rows differs from the one at {} rows",
                summaries[0].0
            );
        }
    }
}

#[test]
fn a_redelivered_message_keeps_its_arrival_time_in_both_fidelities() {
    // One task of 100 slots at 10 s a message serves 10 messages/s; 6 arrive per second, so
    // the queue is empty until the task crashes (crashes are frequent here). Its 60 or so
    // messages in flight come back 300 s after their receive, 300 s old or more, and take
    // several seconds to serve: the oldest message's age and the SLO (60 s) must count them
    // from their arrival, not from their return.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("requeue.toml");
    std::fs::write(
        &path,
        r#"
name = "requeue"
seed = 3
duration_secs = 3600

[[arrivals.synthetic]]
kind = "constant"
rate_per_s = 6.0

[plant]
initial_tasks = 1
concurrency = 100
service_time = { kind = "constant", secs = 10.0 }
startup = { kind = "constant", secs = 5.0 }
stop = "requeue"
visibility_timeout_secs = 300
crash_rate_per_task_hour = 2.0

[slo]
wait_secs = 60

[scaler.guards]
min_tasks = 1
max_tasks = 1

[scaler.policy]
kind = "target"
target_backlog_per_task = 1000.0
"#,
    )
    .unwrap();
    for fidelity in [Fidelity::Fluid, Fidelity::Discrete] {
        let o = Overrides {
            fidelity: Some(fidelity),
            resolution_secs: Some(1.0),
            ..Overrides::default()
        };
        let (outcome, s) = Backtest::prepare(&path, &o).unwrap().simulate();
        assert!(s.redeliveries > 0.0, "{fidelity:?}: no task crashed");
        let oldest = outcome
            .rows
            .iter()
            .map(|r| r.oldest_age_s)
            .fold(0.0, f64::max);
        assert!(
            oldest >= 300.0,
            "{fidelity:?}: the oldest message was {oldest} s old at most"
        );
        assert!(
            s.slo_violation_s > 0.0,
            "{fidelity:?}: no SLO violation counted"
        );
    }
}
