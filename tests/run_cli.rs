//! End to end: `stepscale run --once` with fast-autoscaler v0.2's environment, against moto
//! (ECS, S3) and Redis: a dry run records and changes nothing, a real run scales.

mod support;

use std::process::Command;

fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".into())
}

async fn ecs_service(desired: i32) -> (String, String, aws_sdk_ecs::Client) {
    let sdk = support::aws::sdk().await;
    let (cluster, service) = support::aws::ecs_service(&sdk, desired).await;
    (cluster, service, aws_sdk_ecs::Client::new(&sdk))
}

async fn desired(ecs: &aws_sdk_ecs::Client, cluster: &str, service: &str) -> i32 {
    let out = ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .unwrap();
    out.services()[0].desired_count()
}

fn stepscale_run(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stepscale"));
    cmd.arg("run").args(args).env_clear();
    cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("LOG_LEVEL", "info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

#[tokio::test]
async fn v02_environment_drives_a_live_run_dry_then_real() {
    let (cluster, service, ecs) = ecs_service(2).await;
    let key = support::unique("jobs");
    support::redis_list(&key, 400).await;
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("observed.csv");
    let state_dir = dir.path().join("state");
    let env = [
        ("QUEUE_TYPE", "redis"),
        ("REDIS_HOST", "127.0.0.1"),
        ("REDIS_QUEUE_KEY", key.as_str()),
        ("ECS_CLUSTER", cluster.as_str()),
        ("SERVICE_NAME", service.as_str()),
        ("MIN_TASKS", "1"),
        ("MAX_TASKS", "20"),
        ("SCALE_DOWN_THRESHOLD", "10"),
    ];
    let common = ["--once", "--state-dir", state_dir.to_str().unwrap()];
    let mut dry_args = common.to_vec();
    dry_args.extend(["--dry-run", "--record", record.to_str().unwrap()]);
    let dry = stepscale_run(&dry_args, &env);
    let log = String::from_utf8_lossy(&dry.stderr);
    assert!(dry.status.success(), "{log}");
    assert!(log.contains("Dry run: would scale."), "{log}");
    assert_eq!(
        desired(&ecs, &cluster, &service).await,
        2,
        "a dry run never touches ECS"
    );
    assert!(
        !state_dir
            .join(format!("{cluster}__{service}.json"))
            .exists(),
        "nor the state"
    );
    let csv = std::fs::read_to_string(&record).unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("time,arrivals,"));
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!((row[3], row[6], row[9]), ("400", "2", "scale_out"), "{csv}");
    // The recording is a trace `backtest` replays.
    let replay_dir = dir.path().join("replay");
    let replay = Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["backtest", "--scenario", "scenarios/steady.toml", "--trace"])
        .arg(&record)
        .args([
            "--time-column",
            "time",
            "--value-column",
            "arrivals",
            "--out",
        ])
        .arg(&replay_dir)
        .output()
        .unwrap();
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert!(replay_dir.join("summary.json").is_file());

    let real = stepscale_run(&common, &env);
    assert!(
        real.status.success(),
        "{}",
        String::from_utf8_lossy(&real.stderr)
    );
    // 400 messages: 2 + floor(400 × 0.01) = 6.
    assert_eq!(desired(&ecs, &cluster, &service).await, 6);
    assert!(state_dir
        .join(format!("{cluster}__{service}.json"))
        .exists());
}

#[tokio::test]
async fn a_missing_service_is_a_clear_error_and_nothing_scales() {
    let key = support::unique("jobs");
    support::redis_list(&key, 10).await;
    let dir = tempfile::tempdir().unwrap();
    let out = stepscale_run(
        &["--once", "--state-dir", dir.path().to_str().unwrap()],
        &[
            ("QUEUE_TYPE", "redis"),
            ("REDIS_QUEUE_KEY", key.as_str()),
            ("ECS_CLUSTER", "nowhere"),
            ("SERVICE_NAME", "nobody"),
        ],
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a failed --once run exits non-zero");
    assert!(log.contains("nobody") && log.contains("not found"), "{log}");
}

#[tokio::test]
async fn once_exits_3_when_every_read_failed_and_the_engine_held() {
    let (cluster, service, ecs) = ecs_service(4).await;
    let dir = tempfile::tempdir().unwrap();
    let out = stepscale_run(
        &["--once", "--state-dir", dir.path().to_str().unwrap()],
        &[
            ("QUEUE_TYPE", "redis"),
            // Nothing listens here: every read fails.
            ("REDIS_HOST", "127.0.0.1"),
            ("REDIS_PORT", "1"),
            ("REDIS_QUEUE_KEY", "jobs"),
            ("ECS_CLUSTER", cluster.as_str()),
            ("SERVICE_NAME", service.as_str()),
            ("MIN_TASKS", "1"),
            ("MAX_TASKS", "20"),
        ],
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{log}");
    assert!(log.contains("Every metric read failed"), "{log}");
    assert_eq!(desired(&ecs, &cluster, &service).await, 4, "nothing scaled");
}

/// Runs `--once` with ECS's DescribeServices answered by `reply`; the run must fail naming
/// `needle`, and the service's desired count must stay as it was.
async fn ecs_reply_is_refused(reply: &'static str, needle: &str) {
    use support::relay::{self, Verdict};
    let (cluster, service, ecs) = ecs_service(4).await;
    let key = support::unique("jobs");
    support::redis_list(&key, 10).await;
    let ecs_relay = relay::start(move |request| match request.target_operation() {
        Some("DescribeServices") => Verdict::Respond {
            status: 200,
            body: reply,
        },
        _ => Verdict::Forward,
    });
    let dir = tempfile::tempdir().unwrap();
    let out = stepscale_run(
        &["--once", "--state-dir", dir.path().to_str().unwrap()],
        &[
            ("AWS_ENDPOINT_URL_ECS", ecs_relay.as_str()),
            ("AWS_MAX_ATTEMPTS", "1"),
            ("QUEUE_TYPE", "redis"),
            ("REDIS_QUEUE_KEY", key.as_str()),
            ("ECS_CLUSTER", cluster.as_str()),
            ("SERVICE_NAME", service.as_str()),
            ("MIN_TASKS", "1"),
            ("MAX_TASKS", "20"),
        ],
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains(needle), "{log}");
    assert_eq!(desired(&ecs, &cluster, &service).await, 4, "nothing scaled");
}

/// An ECS reply with a negative count is an error, never 0 tasks: nothing is decided on it.
#[tokio::test]
async fn a_negative_count_in_the_ecs_reply_is_an_error() {
    ecs_reply_is_refused(
        r#"{"services":[{"serviceName":"s","status":"ACTIVE","desiredCount":4,"runningCount":-3,"pendingCount":0,"deployments":[]}],"failures":[]}"#,
        "runningCount = -3",
    )
    .await;
}

/// An ECS reply that lacks a count is an error too: the SDK alone would read it as 0.
#[tokio::test]
async fn a_missing_count_in_the_ecs_reply_is_an_error() {
    ecs_reply_is_refused(
        r#"{"services":[{"serviceName":"s","status":"ACTIVE","desiredCount":4,"pendingCount":0,"deployments":[]}],"failures":[]}"#,
        "no runningCount",
    )
    .await;
}

/// With the slo policy, each decision's log line carries the arrival-rate estimate.
#[tokio::test]
async fn slo_decisions_log_the_arrival_rate_estimate() {
    let (cluster, service, _ecs) = ecs_service(2).await;
    let key = support::unique("jobs");
    support::redis_list(&key, 100).await;
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("slo.toml");
    let redis = support::redis_address();
    std::fs::write(
        &policy,
        format!(
            "[service]\ncluster = \"{cluster}\"\nname = \"{service}\"\n[[queues]]\ntype = \"redis\"\nhost = \"{}\"\nport = {}\nqueue_key = \"{key}\"\n[guards]\nmin_tasks = 1\nmax_tasks = 20\n[policy]\nkind = \"slo\"\nwait_secs = 30.0\nconcurrency = 2\nservice_secs = 0.5\n",
            redis.0, redis.1
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let args = [
        "--policy",
        policy.to_str().unwrap(),
        "--once",
        "--state-dir",
        state.to_str().unwrap(),
    ];
    let run = |args: &[&str]| {
        // `--log-format` is global: it goes before `run`.
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stepscale"));
        cmd.args(["--log-format", "json", "run"]).args(args);
        cmd.env("AWS_ENDPOINT_URL", endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("LOG_LEVEL", "info");
        cmd.output().expect("the binary runs")
    };
    let first = run(&args);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    support::redis_list(&key, 160).await;
    let second = run(&args);
    let log = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{log}");
    let decided: serde_json::Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["fields"]["message"] == "Decided.")
        .unwrap_or_else(|| panic!("no Decided. line: {log}"));
    let rate = decided["fields"]["arrival_rate_per_s"]
        .as_f64()
        .unwrap_or_else(|| panic!("no estimate in {decided}"));
    assert!(rate > 0.0, "{decided}");
}

/// Two `--once --record` runs with 10 messages added between them record 10 arrivals: the
/// recorder continues from the file's last row.
#[tokio::test]
async fn once_runs_record_the_arrivals_between_them() {
    let (cluster, service, _ecs) = ecs_service(2).await;
    let key = support::unique("jobs");
    support::redis_list(&key, 30).await;
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("observed.csv");
    let state = dir.path().join("state");
    let env = [
        ("QUEUE_TYPE", "redis"),
        ("REDIS_QUEUE_KEY", key.as_str()),
        ("ECS_CLUSTER", cluster.as_str()),
        ("SERVICE_NAME", service.as_str()),
        ("MIN_TASKS", "1"),
        ("MAX_TASKS", "20"),
    ];
    let args = [
        "--once",
        "--dry-run",
        "--state-dir",
        state.to_str().unwrap(),
        "--record",
        record.to_str().unwrap(),
    ];
    let first = stepscale_run(&args, &env);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    support::redis_list(&key, 40).await;
    let second = stepscale_run(&args, &env);
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let text = std::fs::read_to_string(&record).unwrap();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{text}");
    let arrivals: f64 = rows[1].split(',').nth(1).unwrap().parse().unwrap();
    assert!((arrivals - 10.0).abs() < 1e-9, "{text}");
}

/// At the default log level a change of the desired count is logged, with its reason.
#[tokio::test]
async fn a_scale_out_is_logged_at_the_default_level() {
    let (cluster, service, _ecs) = ecs_service(1).await;
    let key = support::unique("jobs");
    support::redis_list(&key, 500).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stepscale"));
    cmd.args(["run", "--once", "--state-dir", dir.path().to_str().unwrap()])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("QUEUE_TYPE", "redis")
        .env("REDIS_QUEUE_KEY", &key)
        .env("ECS_CLUSTER", &cluster)
        .env("SERVICE_NAME", &service)
        .env("MIN_TASKS", "1")
        .env("MAX_TASKS", "20");
    let out = cmd.output().expect("the binary runs");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("Scaled service.") && log.contains("from=1"),
        "{log}"
    );
}

/// `stepscale run ARGS --state-dir HOME/state` on a machine with no AWS credentials anywhere:
/// an empty environment but PATH, HOME (`home`) and the region, and no instance metadata, so
/// the credential chain ends at once, as on a laptop.
fn run_without_credentials(args: &[&str], home: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stepscale"));
    cmd.arg("run")
        .args(args)
        .arg("--state-dir")
        .arg(home.join("state"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// With no credentials anywhere, `run` says so in one line naming the chain it tried and what
/// to set, before any call is made.
#[test]
fn no_credentials_is_one_line_naming_the_chain_and_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_without_credentials(&["--once"], dir.path())
        .env("QUEUE_TYPE", "redis")
        .env("REDIS_QUEUE_KEY", "jobs")
        .env("ECS_CLUSTER", "prod")
        .env("SERVICE_NAME", "worker")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{log}");
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains("no AWS credentials"), "{log}");
    assert!(
        lines[0].contains("AWS_ACCESS_KEY_ID") && lines[0].contains("AWS_PROFILE"),
        "{log}"
    );
    assert!(!log.contains("DispatchFailure"), "{log}");
    assert!(!dir.path().join("state").exists(), "{log}");
}

/// `run --dry-run --desired N` on a Redis-only policy needs no AWS at all: with no credentials
/// and no instance metadata it reads the queue, decides against N and prints the decision,
/// and writes no state.
#[tokio::test]
async fn a_dry_run_given_the_desired_count_needs_no_aws() {
    let dir = tempfile::tempdir().unwrap();
    let key = support::unique("jobs");
    support::redis_list(&key, 500).await;
    let (host, port) = support::redis_address();
    let out = run_without_credentials(&["--once", "--dry-run", "--desired", "2"], dir.path())
        // Any AWS call would fail here: nothing listens on port 9.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("QUEUE_TYPE", "redis")
        .env("REDIS_HOST", &host)
        .env("REDIS_PORT", port.to_string())
        .env("REDIS_QUEUE_KEY", &key)
        .env("ECS_CLUSTER", "prod")
        .env("SERVICE_NAME", "worker")
        .env("SCALE_UP_THRESHOLD", "100")
        .env("TASKS_PER_MESSAGE", "0.01")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("Dry run: would scale."), "{log}");
    // Decided against the given count, not one read from ECS.
    assert!(log.contains("from=2"), "{log}");
    assert!(!dir.path().join("state").exists(), "{log}");
}

/// `run` reads a password by reference before it builds any probe: an SSM parameter that
/// exists lets a password-protected Redis be read and the service scale; one that does not is
/// a clear error naming the ARN, and nothing is read or scaled.
#[tokio::test]
async fn run_reads_a_password_by_reference_before_anything_else() {
    let password = format!("pw-{}", support::unique("run"));
    let key = support::unique("jobs");
    let redis =
        support::redis_server::PrivateRedis::with_password_and_list(&password, &key, 400).await;
    let arn = support::aws::ssm_secure_string(&password);
    let (cluster, service, ecs) = ecs_service(1).await;
    let dir = tempfile::tempdir().unwrap();
    let port = redis.port().to_string();
    let run = |reference: &str| {
        stepscale_run(
            &["--once", "--state-dir", dir.path().to_str().unwrap()],
            &[
                ("QUEUE_TYPE", "redis"),
                ("REDIS_HOST", "127.0.0.1"),
                ("REDIS_PORT", port.as_str()),
                ("REDIS_QUEUE_KEY", key.as_str()),
                ("REDIS_PASSWORD_SECRET", reference),
                ("ECS_CLUSTER", cluster.as_str()),
                ("SERVICE_NAME", service.as_str()),
                ("MIN_TASKS", "1"),
                ("MAX_TASKS", "20"),
            ],
        )
    };
    let missing = format!("{arn}-missing");
    let out = run(&missing);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains(&missing) && log.contains("ParameterNotFound"),
        "{log}"
    );
    assert!(!log.contains(&password), "{log}");
    assert_eq!(desired(&ecs, &cluster, &service).await, 1, "nothing scaled");

    let out = run(&arn);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(!log.contains(&password), "{log}");
    // 400 messages: 1 + floor(4) = 5.
    assert_eq!(desired(&ecs, &cluster, &service).await, 5, "{log}");
}
