//! End to end: the messages that were unclear (issue 8) name the place and the cause once,
//! and say what the input should look like.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn stderr_of(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stepscale"));
    cmd.args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the stepscale binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn once(text: &str, cause: &str) {
    assert_eq!(
        text.matches(cause).count(),
        1,
        "{cause:?} not printed once: {text}"
    );
}

#[test]
fn messages_name_the_place_and_the_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    // A misspelt key inside [policy] is reported at its own line.
    let typo = dir.path().join("typo.toml");
    std::fs::write(
        &typo,
        "[guards]\nmin_tasks = 1\n\n[policy]\nkind = \"target\"\ntarget_backlog_per_task = 3.0\ntolerence = 0.1\n",
    )
    .unwrap();
    let e = stderr_of(&["config", "--policy", typo.to_str().unwrap()], "", &[]);
    assert!(
        e.contains("line 7, column 1: unknown field `tolerence`"),
        "{e}"
    );
    // decide: an array, and an `at` of the wrong type, say what a line looks like.
    let policy = "scenarios/policies/target.toml";
    let e = stderr_of(&["decide", "--policy", policy], "[1,2,3,4]\n", &[]);
    assert!(
        e.contains("a JSON object with named keys") && e.contains("{\"at\""),
        "{e}"
    );
    assert!(!e.contains("struct Observation"), "{e}");
    let e = stderr_of(
        &["decide", "--policy", policy],
        "{\"at\": true, \"visible\": 1, \"desired\": 1}\n",
        &[],
    );
    assert!(e.contains("`at` must be epoch seconds"), "{e}");
    assert!(!e.contains("untagged enum"), "{e}");
    // A cause is printed once.
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let under_file = file.join("scenario.toml");
    let e = stderr_of(
        &[
            "backtest",
            "--scenario",
            under_file.to_str().unwrap(),
            "--out",
            dir.path().join("o").to_str().unwrap(),
        ],
        "",
        &[],
    );
    once(&e, "Not a directory");
    // `--out .` says why in words.
    let e = stderr_of(
        &[
            "backtest",
            "--scenario",
            "scenarios/steady.toml",
            "--out",
            ".",
        ],
        "",
        &[],
    );
    assert!(e.contains("--out .:") && !e.contains("os error"), "{e}");
}

#[test]
fn an_unreachable_ecs_endpoint_is_named_with_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let host_port = redis.trim_start_matches("redis://").trim_end_matches('/');
    let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, "6379"));
    let policy = dir.path().join("p.toml");
    std::fs::write(
        &policy,
        format!(
            "[service]\ncluster = \"c\"\nname = \"s\"\n[[queues]]\ntype = \"redis\"\nhost = \"{host}\"\nport = {port}\nqueue_key = \"stepscale-clear-errors\"\nmissing_key_is_empty = true\n[guards]\nmin_tasks = 1\nmax_tasks = 5\n[policy]\nkind = \"target\"\ntarget_backlog_per_task = 3.0\n"
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let e = stderr_of(
        &[
            "run",
            "--policy",
            policy.to_str().unwrap(),
            "--once",
            "--state-dir",
            state.to_str().unwrap(),
        ],
        "",
        &[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_MAX_ATTEMPTS", "1"),
        ],
    );
    assert!(e.contains("cannot reach http://127.0.0.1:1"), "{e}");
    assert!(
        !e.contains("DispatchFailure") && !e.contains("ConnectorError {"),
        "{e}"
    );
}

#[test]
fn parity_names_the_record_line_and_the_scenario_key() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("observed.csv");
    let header =
        "time,arrivals,arrivals_estimated,visible,in_flight,delayed,desired,running,pending,action\n";
    std::fs::write(
        &record,
        format!(
            "{header}2026-01-05T00:00:00.000Z,0.000,true,0,0,0,1,1,0,hold\n2026-01-05T00:00:01.000Z,1.000,true,x,0,0,1,1,0,hold\n"
        ),
    )
    .unwrap();
    let args = |r: &std::path::Path| {
        vec![
            "parity".to_string(),
            "--scenario".into(),
            "tests/parity/plant.toml".into(),
            "--record".into(),
            r.display().to_string(),
        ]
    };
    let a = args(&record);
    let err = stderr_of(&a.iter().map(String::as_str).collect::<Vec<_>>(), "", &[]);
    once(&err, "line 3");
    assert!(err.contains("visible") && err.contains("\"x\""), "{err}");

    // Rows a minute apart against the plant's 1 s period.
    std::fs::write(
        &record,
        format!(
            "{header}2026-01-05T00:00:00.000Z,0.000,true,0,0,0,1,1,0,hold\n2026-01-05T00:01:00.000Z,1.000,true,1,0,0,1,1,0,hold\n"
        ),
    )
    .unwrap();
    let err = stderr_of(&a.iter().map(String::as_str).collect::<Vec<_>>(), "", &[]);
    once(&err, "controller.period_secs");
    assert!(err.contains("60.000 s apart"), "{err}");
}
