//! End to end: the built `stepscale decide` binary, as a user runs it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn decide(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stepscale"));
    cmd.arg("decide").args(args).env_clear();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the stepscale binary runs");
    // A run that refuses its configuration exits before reading: a broken pipe is expected.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each output line is JSON"))
        .collect()
}

#[test]
fn environment_alone_gives_the_v02_decisions() {
    let env = [
        ("MIN_TASKS", "1"),
        ("MAX_TASKS", "100"),
        ("SCALE_UP_THRESHOLD", "100"),
        ("SCALE_DOWN_THRESHOLD", "10"),
        ("SCALE_IN_COOLDOWN", "60"),
        ("MAX_SCALE_DOWN_FACTOR", "0.5"),
    ];
    let input = r#"{"at": 1700000000, "visible": 200, "desired": 10}
{"at": 1700000010.5, "visible": 5, "desired": 12}
{"at": "2023-11-14T22:15:20Z", "visible": 5, "desired": 12}
{"at": 1700000200, "error": "AccessDenied", "desired": 6}
"#;
    let out = decide(&[], &env, input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let l = lines(&out);
    assert_eq!(l.len(), 4);
    assert_eq!(
        (l[0]["desired"].as_u64(), l[0]["action"].as_str()),
        (Some(12), Some("scale_out"))
    );
    // 10.5 s after a scale-out: the scale-in record was reset, 60 s cooldown.
    assert_eq!(
        (l[1]["desired"].as_u64(), l[1]["action"].as_str()),
        (Some(12), Some("hold"))
    );
    assert_eq!(l[1]["limited_by"].as_str(), Some("scale_in_cooldown"));
    // 120 s after: max(1, 0, floor(12 × 0.5)) = 6.
    assert_eq!(
        (l[2]["desired"].as_u64(), l[2]["action"].as_str()),
        (Some(6), Some("scale_in"))
    );
    // A failed read holds; it is never zero messages.
    assert_eq!(
        (l[3]["desired"].as_u64(), l[3]["action"].as_str()),
        (Some(6), Some("hold"))
    );
    assert_eq!(l[3]["limited_by"].as_str(), Some("metric_failure"));
}

#[test]
fn state_file_carries_cooldowns_between_invocations() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().unwrap();
    let env = [("MIN_TASKS", "1"), ("SCALE_DOWN_THRESHOLD", "10")];
    let first = decide(
        &["--state", state_arg],
        &env,
        "{\"at\": 1000, \"visible\": 500, \"desired\": 10}\n",
    );
    assert!(first.status.success());
    assert_eq!(lines(&first)[0]["action"].as_str(), Some("scale_out"));
    // 30 s later, in another process: the scale-out's reset of the scale-in record holds.
    let second = decide(
        &["--state", state_arg],
        &env,
        "{\"at\": 1030, \"visible\": 0, \"desired\": 15}\n",
    );
    assert_eq!(
        lines(&second)[0]["limited_by"].as_str(),
        Some("scale_in_cooldown")
    );
}

#[test]
fn malformed_line_names_the_line_and_leaves_state_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::write(&state, "{\"last_scale_in_ms\": 5}").unwrap();
    let input = "{\"at\": 1, \"visible\": 1, \"desired\": 10}\n{\"at\": 2, \"visible\": \"many\", \"desired\": 10}\n";
    let out = decide(&["--state", state.to_str().unwrap()], &[], input);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        "{\"last_scale_in_ms\": 5}"
    );
    let backwards = decide(&[], &[], "{\"at\": 20, \"visible\": 1, \"desired\": 10}\n{\"at\": 10, \"visible\": 1, \"desired\": 10}\n");
    assert!(!backwards.status.success());
    assert!(String::from_utf8_lossy(&backwards.stderr).contains("line 2"));
}

#[test]
fn bad_configuration_names_key_value_and_rule() {
    for (env, key, value, rule) in [
        (
            vec![("MIN_TASKS", "20"), ("MAX_TASKS", "5")],
            "MIN_TASKS",
            "20",
            "must be <= max_tasks",
        ),
        (
            vec![("SCALE_IN_COOLDOWN", "-5")],
            "SCALE_IN_COOLDOWN",
            "-5",
            ">= 0",
        ),
        (
            vec![("QUEUE_TYPE", "carrier-pigeon")],
            "QUEUE_TYPE",
            "carrier-pigeon",
            "unknown queue type",
        ),
        (
            vec![("MAX_SCALE_DOWN_FACTOR", "1.5")],
            "MAX_SCALE_DOWN_FACTOR",
            "1.5",
            "(0, 1]",
        ),
        (
            vec![("SCALE_DOWN_THRESHOLD", "200")],
            "SCALE_DOWN_THRESHOLD",
            "200",
            "scale-down threshold",
        ),
        (
            vec![("USE_COMBINED_MESSAGES", "maybe")],
            "USE_COMBINED_MESSAGES",
            "maybe",
            "boolean",
        ),
    ] {
        let out = decide(&[], &env, "{\"at\": 1, \"visible\": 1, \"desired\": 10}\n");
        assert!(!out.status.success(), "{key} should be refused");
        assert!(out.stdout.is_empty(), "nothing decided for {key}");
        let err = String::from_utf8_lossy(&out.stderr);
        for needle in [key, value, rule] {
            assert!(err.contains(needle), "{key}: {needle:?} missing from {err}");
        }
    }
}

#[test]
fn policy_file_with_an_unknown_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(&policy, "[guards]\nmin_taks = 3\n").unwrap();
    let out = decide(&["--policy", policy.to_str().unwrap()], &[], "");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("min_taks") && err.contains("p.toml"), "{err}");
}

#[test]
fn printed_config_never_shows_a_password() {
    let out = Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .args(["config"])
        .env_clear()
        .env("QUEUE_TYPE", "rabbitmq")
        .env("RABBITMQ_PASSWORD", "hunter2-secret")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("rabbitmq") && text.contains("********"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn sns_alone_is_refused_since_it_has_no_backlog() {
    let out = decide(
        &[],
        &[("QUEUE_TYPE", "sns")],
        "{\"at\": 1, \"visible\": 0, \"desired\": 10}\n",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("QUEUE_TYPE") && err.contains("SNS is a rate source"),
        "{err}"
    );
}
