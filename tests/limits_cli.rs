//! End to end: each input that once crashed `backtest` or exhausted memory (issue 8) is refused
//! at once with its key, its value and the documented limit, and nothing is written.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn refused(args: &[&str], needles: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let out = Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .arg("backtest")
        .args(args)
        .arg("--out")
        .arg(&out_dir)
        .current_dir(root())
        .output()
        .expect("the stepscale binary runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: {n:?} missing from: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out_dir.exists(), "{args:?}: output written");
}

#[test]
fn the_inputs_that_crashed_are_refused_with_key_value_and_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let steady = std::fs::read_to_string(root().join("scenarios/steady.toml")).unwrap();
    let bursts = std::fs::read_to_string(root().join("scenarios/bursts.toml"))
        .unwrap()
        .replace(
            "policies/",
            &format!("{}/scenarios/policies/", root().display()),
        );
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "u64-max-duration",
            steady.replace(
                "duration_secs = 21600",
                "duration_secs = 18446744073709551615",
            ),
            vec!["duration_secs", "18446744073709551615", "at most 632448000"],
        ),
        (
            "huge-duration",
            steady.replace("duration_secs = 21600", "duration_secs = 1000000000000000"),
            vec!["duration_secs", "1000000000000000", "at most"],
        ),
        (
            "huge-rate",
            steady.replace("rate_per_s = 20.0", "rate_per_s = 1e12"),
            vec![
                "arrivals.synthetic",
                "1000000000000 messages/s",
                "1e6 messages/s",
            ],
        ),
        (
            "huge-concurrency",
            steady.replace(
                "initial_tasks = 5",
                "initial_tasks = 5\nconcurrency = 4294967295",
            ),
            vec!["plant.concurrency", "4294967295", "at most 10000"],
        ),
        (
            "huge-initial-tasks",
            steady.replace("initial_tasks = 5", "initial_tasks = 86400000"),
            vec!["plant.initial_tasks", "86400000", "at most 100000"],
        ),
        (
            "huge-metric-delay",
            format!("{steady}\n[controller]\nmetric_delay_secs = 1e12\n"),
            vec![
                "controller.metric_delay_secs",
                "1000000000000",
                "86400 seconds",
            ],
        ),
        (
            "discrete-bursts-at-a-million-per-second",
            bursts.replace("rate_per_s = 80.0", "rate_per_s = 1e6"),
            vec!["discrete", "messages", "fluid"],
        ),
        (
            "huge-max-tasks",
            steady.replace("max_tasks = 60", "max_tasks = 4000000"),
            vec!["guards.max_tasks", "4000000", "at most 100000"],
        ),
    ];
    for (name, text, needles) in cases {
        let path = tmp.path().join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        refused(&["--scenario", path.to_str().unwrap()], &needles);
    }
    refused(
        &[
            "--scenario",
            "scenarios/steady.toml",
            "--resolution",
            "1e15",
        ],
        &["--resolution", "1e15", "86400"],
    );
    refused(
        &[
            "--scenario",
            "scenarios/worldcup98.toml",
            "--scale",
            "1e300",
        ],
        &["scale", "1e300", "at most 1e6"],
    );
    // Two rows ten years and a second apart: billions of one-second bins.
    let trace = tmp.path().join("sparse.csv");
    std::fs::write(
        &trace,
        "time,count\n2000-01-01T00:00:00Z,1\n2000-01-01T00:00:01Z,1\n2012-01-01T00:00:00Z,1\n",
    )
    .unwrap();
    refused(
        &[
            "--scenario",
            "scenarios/worldcup98.toml",
            "--trace",
            trace.to_str().unwrap(),
            "--time-column",
            "time",
            "--value-column",
            "count",
        ],
        &["sparse.csv", "10 years", "bins"],
    );
}

/// Inputs that were accepted without a word (issue 8) are refused, naming key, value and rule.
#[test]
fn inputs_that_were_accepted_silently_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let policy = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let negative = policy(
        "negative.toml",
        "[policy]\nkind = \"step\"\nscale_out_threshold = 10.0\nscale_in_threshold = -5.0\n[[policy.scale_out_steps]]\nlower = 0.0\nadjustment = 1\n[[policy.scale_in_steps]]\nupper = 0.0\nadjustment = -1\n",
    );
    let gap = policy(
        "gap.toml",
        "[policy]\nkind = \"step\"\nscale_out_threshold = 10.0\nscale_in_threshold = 5.0\n[[policy.scale_out_steps]]\nlower = 0.0\nupper = 100.0\nadjustment = 1\n[[policy.scale_out_steps]]\nlower = 200.0\nadjustment = 3\n[[policy.scale_in_steps]]\nupper = 0.0\nadjustment = -1\n",
    );
    refused(
        &["--scenario", "scenarios/steady.toml", "--policy", &negative],
        &["scale_in_threshold", "-5", ">= 0"],
    );
    refused(
        &["--scenario", "scenarios/steady.toml", "--policy", &gap],
        &["scale_out_steps[1].lower", "200", "without a gap"],
    );
    refused(
        &["--scenario", "scenarios/steady.toml", "--scale", "2"],
        &["--scale", "synthetic"],
    );
    let year0 = tmp.path().join("year0.csv");
    std::fs::write(
        &year0,
        "time,count\n0000-01-01T00:00:00Z,1\n0000-01-01T00:01:00Z,1\n",
    )
    .unwrap();
    refused(
        &[
            "--scenario",
            "scenarios/worldcup98.toml",
            "--trace",
            year0.to_str().unwrap(),
            "--time-column",
            "time",
            "--value-column",
            "count",
        ],
        &["year0.csv", "0000-01-01", "before 1970"],
    );
    // decide: a negative age.
    let mut child = Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .args(["decide", "--policy", "scenarios/policies/target.toml"])
        .current_dir(root())
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        b"{\"at\": 1700000000, \"visible\": 5, \"oldest_age_s\": -4, \"desired\": 2}\n",
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("`oldest_age_s` = -4"),
        "{err}"
    );
}
