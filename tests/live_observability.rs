//! `stepscale run` in production, against moto and Redis: `/metrics` and `/healthz` served by
//! `--metrics-addr`, services that tick independently (one whose queue hangs never delays
//! another), and shadow policies that are decided, recorded and exported but never acted on.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::live_run::{stepscale, LiveRun};

/// The loop's period in these tests.
const PERIOD_SECS: &str = "1";

/// fast-autoscaler v0.2's thresholds: above 100 messages, 1 task per 100 more.
const SEED: &str = "[guards]\nmin_tasks = 1\nmax_tasks = 50\n[policy]\nkind = \"seed\"\n\
scale_up_threshold = 100.0\nscale_down_threshold = 10.0\ntasks_per_message = 0.01\n";

/// A shadow that would run 50 messages per task.
const SHADOW: &str =
    "[[shadow]]\nname = \"target50\"\n[shadow.policy]\nkind = \"target\"\ntarget_backlog_per_task = 50.0\n";

/// A policy file `name` in `dir` for one service reading Redis list `key` at `host:port`.
fn policy_file(
    dir: &Path,
    name: &str,
    (cluster, service): (&str, &str),
    (host, port): (&str, u16),
    key: &str,
    extra: &str,
) -> PathBuf {
    let text = format!(
        "[service]\ncluster = \"{cluster}\"\nname = \"{service}\"\n[[queues]]\ntype = \"redis\"\n\
host = \"{host}\"\nport = {port}\nqueue_key = \"{key}\"\ntimeout_secs = 30\n{SEED}{extra}"
    );
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A port nothing listens on (bound and released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `stepscale run` on `policies` every `PERIOD_SECS`, state in `state`, serving `/metrics` and
/// `/healthz` on a free port; the run and the port.
fn run_with_metrics(policies: &[&Path], state: &Path) -> (LiveRun, u16) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut args: Vec<&str> = Vec::new();
    for p in policies {
        args.extend(["--policy", p.to_str().unwrap()]);
    }
    args.extend([
        "--period-secs",
        PERIOD_SECS,
        "--state-dir",
        state.to_str().unwrap(),
        "--metrics-addr",
        &addr,
    ]);
    (LiveRun::spawn(stepscale(&args, &[])), port)
}

/// `GET path` over plain HTTP/1.1: the status code and the body.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

/// The value of the series `name{labels}` in a Prometheus text body.
fn series(body: &str, name_and_labels: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
}

/// The `service` field and moment of every end-of-tick line of a JSON log.
fn ticks_by_service(run: &mut LiveRun, until: Instant) -> Vec<(String, String, Instant)> {
    let mut out = Vec::new();
    while let Some(t) = run.next_tick(until) {
        let json: Value = serde_json::from_str(&t.line).unwrap();
        let service = json["fields"]["service"].as_str().unwrap_or("").to_string();
        let message = json["fields"]["message"].as_str().unwrap_or("").to_string();
        out.push((service, message, t.at));
    }
    out
}

/// One run with two services: the healthy one scales out, its shadow is exported but not acted
/// on, and `/metrics` shows the new count; the other's ECS service does not exist, so every
/// tick fails and `/healthz` turns 503 naming it once its last success is 3 periods old.
#[tokio::test]
async fn metrics_show_a_scale_out_and_healthz_names_the_service_that_stopped_ticking() {
    let sdk = support::aws::sdk().await;
    let (cluster, service) = support::aws::ecs_service(&sdk, 1).await;
    let key = support::unique("jobs");
    support::redis_list(&key, 500).await;
    let (host, port) = support::redis_address();
    let dir = tempfile::tempdir().unwrap();
    let good = policy_file(
        dir.path(),
        "good.toml",
        (&cluster, &service),
        (&host, port),
        &key,
        SHADOW,
    );
    let missing = support::unique("missing");
    let bad = policy_file(
        dir.path(),
        "bad.toml",
        (&cluster, &missing),
        (&host, port),
        &key,
        "",
    );
    let state = dir.path().join("state");
    let (mut run, metrics_port) = run_with_metrics(&[&good, &bad], &state);
    // Before 3 periods have passed nothing is late.
    let started = Instant::now();
    let mut first = None;
    while first.is_none() && started.elapsed() < Duration::from_secs(2) {
        first = get(metrics_port, "/healthz");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, body) = first.unwrap_or_else(|| panic!("no /healthz answer:\n{}", run.log()));
    assert_eq!(status, 200, "{body}");
    // 500 messages: 1 + floor(500 × 0.01) = 6 tasks.
    let deadline = Instant::now() + Duration::from_secs(20);
    while support::aws::desired_count(&sdk, &cluster, &service).await != 6 {
        assert!(Instant::now() < deadline, "no scale-out:\n{}", run.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The metrics are set after the tick's last write: give the tick a moment to end.
    let label = format!("{{service=\"{service}\"}}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        let (status, body) = get(metrics_port, "/metrics").expect("/metrics answers");
        assert_eq!(status, 200);
        if series(&body, &format!("stepscale_desired_tasks{label}")) == Some(6.0) {
            break body;
        }
        assert!(Instant::now() < deadline, "desired 6 never shown:\n{body}");
        std::thread::sleep(Duration::from_millis(200));
    };
    // The policy's metric, under its name and its old one (kept for dashboards).
    for name in ["stepscale_policy_metric", "stepscale_backlog_messages"] {
        assert_eq!(
            series(&body, &format!("{name}{label}")),
            Some(500.0),
            "{body}"
        );
    }
    let scale_outs =
        format!("stepscale_decisions_total{{service=\"{service}\",action=\"scale_out\"}}");
    assert_eq!(series(&body, &scale_outs), Some(1.0), "{body}");
    assert!(
        series(
            &body,
            &format!("stepscale_tick_duration_seconds_count{label}")
        )
        .is_some_and(|n| n >= 1.0),
        "{body}"
    );
    assert!(
        series(
            &body,
            &format!("stepscale_last_decision_timestamp_seconds{label}")
        )
        .is_some_and(|t| t > 1.7e9),
        "{body}"
    );
    // The shadow would run 500 / 50 = 10 tasks; ECS keeps the acting policy's 6.
    assert_eq!(
        series(
            &body,
            &format!("stepscale_shadow_desired_tasks{{service=\"{service}\",shadow=\"target50\"}}")
        ),
        Some(10.0),
        "{body}"
    );
    assert_eq!(
        support::aws::desired_count(&sdk, &cluster, &service).await,
        6
    );
    assert!(
        series(
            &body,
            &format!("stepscale_tick_failures_total{{service=\"{missing}\"}}")
        )
        .is_some_and(|n| n >= 1.0),
        "{body}"
    );
    // The missing service never ticks successfully: 503 once 3 periods have passed.
    let deadline = Instant::now() + Duration::from_secs(15);
    let body = loop {
        let (status, body) = get(metrics_port, "/healthz").expect("/healthz answers");
        if status == 503 {
            break body;
        }
        assert_eq!(status, 200, "{body}");
        assert!(Instant::now() < deadline, "never 503:\n{}", run.log());
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "503 before 3 periods"
    );
    assert!(body.contains(&missing), "{body}");
    assert!(!body.contains(&format!("{service}:")), "{body}");
    run.terminate();
    assert!(run.wait(Duration::from_secs(20)).success(), "{}", run.log());
    let log = run.log();
    assert!(log.contains("Shadow decided (not acted on)."), "{log}");
}

/// Two services in one process, one of whose queue accepts connections and never answers
/// (its probe's own timeout is 30 s): the other keeps its 1 s period throughout, and the
/// hanging one still ticks, each read cut off after one period and counted as failed (the
/// engine holds).
#[tokio::test]
async fn a_hanging_queue_never_delays_another_service() {
    let sdk = support::aws::sdk().await;
    let (cluster, healthy) = support::aws::ecs_service(&sdk, 1).await;
    let (stuck_cluster, stuck) = support::aws::ecs_service(&sdk, 1).await;
    let key = support::unique("jobs");
    support::redis_list(&key, 50).await;
    let (host, port) = support::redis_address();
    // A "broker" that accepts and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming().flatten() {
            held.push(conn);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let a = policy_file(
        dir.path(),
        "a.toml",
        (&cluster, &healthy),
        (&host, port),
        &key,
        "",
    );
    let b = policy_file(
        dir.path(),
        "b.toml",
        (&stuck_cluster, &stuck),
        ("127.0.0.1", silent_port),
        &key,
        "",
    );
    let state = dir.path().join("state");
    let mut run = LiveRun::spawn(stepscale(
        &[
            "--policy",
            a.to_str().unwrap(),
            "--policy",
            b.to_str().unwrap(),
            "--period-secs",
            PERIOD_SECS,
            "--state-dir",
            state.to_str().unwrap(),
        ],
        &[],
    ));
    let ticks = ticks_by_service(&mut run, Instant::now() + Duration::from_secs(9));
    run.terminate();
    assert!(run.wait(Duration::from_secs(20)).success(), "{}", run.log());
    let healthy_at: Vec<Instant> = ticks
        .iter()
        .filter(|(s, m, _)| s == &healthy && m == "Decided.")
        .map(|t| t.2)
        .collect();
    assert!(healthy_at.len() >= 7, "{ticks:?}\n{}", run.log());
    for pair in healthy_at.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(600) && gap <= Duration::from_millis(1400),
            "the healthy service's period broke: {gap:?}\n{}",
            run.log()
        );
    }
    let stuck_blind = ticks
        .iter()
        .filter(|(s, m, _)| s == &stuck && m.starts_with("Every metric read failed"))
        .count();
    assert!(stuck_blind >= 2, "{ticks:?}\n{}", run.log());
    assert!(
        run.log().contains("no answer within 1.0 s"),
        "{}",
        run.log()
    );
    assert_eq!(
        support::aws::desired_count(&sdk, &stuck_cluster, &stuck).await,
        1
    );
}

/// `--once --record` with a shadow: the trace carries a `shadow_desired` column with what the
/// shadow would have set, and ECS gets only the acting policy's count.
#[tokio::test]
async fn a_shadow_is_recorded_and_never_acted_on() {
    let sdk = support::aws::sdk().await;
    let (cluster, service) = support::aws::ecs_service(&sdk, 1).await;
    let key = support::unique("jobs");
    support::redis_list(&key, 500).await;
    let (host, port) = support::redis_address();
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(
        dir.path(),
        "p.toml",
        (&cluster, &service),
        (&host, port),
        &key,
        SHADOW,
    );
    let record = dir.path().join("trace.csv");
    let state = dir.path().join("state");
    let out = stepscale(
        &[
            "--once",
            "--policy",
            policy.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
            "--record",
            record.to_str().unwrap(),
        ],
        &[],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        support::aws::desired_count(&sdk, &cluster, &service).await,
        6
    );
    let csv = std::fs::read_to_string(&record).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    assert_eq!(row[col("desired")], "1", "{csv}");
    assert_eq!(row[col("action")], "scale_out", "{csv}");
    assert_eq!(row[col("shadow_desired")], "10", "{csv}");
    // The shadow keeps its own state beside the service's.
    assert!(state
        .join(format!("{cluster}__{service}.shadow-target50.json"))
        .is_file());
}

/// Three hundred idle connections to `--metrics-addr` neither stop the loop nor exhaust its
/// file descriptors: it serves at most 32 at once (the rest are closed as they arrive) and
/// closes each after 10 s, so the ticks keep their period and `/healthz` answers again.
#[tokio::test]
async fn hundreds_of_idle_connections_neither_stop_the_loop_nor_exhaust_its_descriptors() {
    let sdk = support::aws::sdk().await;
    let (cluster, service) = support::aws::ecs_service(&sdk, 1).await;
    let key = support::unique("jobs");
    support::redis_list(&key, 50).await;
    let (host, port) = support::redis_address();
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(
        dir.path(),
        "idle.toml",
        (&cluster, &service),
        (&host, port),
        &key,
        "",
    );
    let (mut run, metrics_port) = run_with_metrics(&[&policy], &dir.path().join("state"));
    let started = Instant::now();
    while get(metrics_port, "/healthz").is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no /healthz answer:\n{}",
            run.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let idle: Vec<TcpStream> = (0..300)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", metrics_port)).ok())
        .collect();
    assert!(idle.len() >= 250, "{} connections opened", idle.len());
    // The loop keeps its period while they are open.
    let watch_until = Instant::now() + Duration::from_secs(6);
    let mut at = Vec::new();
    while let Some(t) = run.next_tick(watch_until) {
        at.push(t.at);
    }
    assert!(at.len() >= 4, "{} ticks in 6 s:\n{}", at.len(), run.log());
    for w in at.windows(2) {
        assert!(
            w[1] - w[0] < Duration::from_millis(2_500),
            "a tick came {:?} after the one before",
            w[1] - w[0]
        );
    }
    let fds = std::fs::read_dir(format!("/proc/{}/fd", run.pid())).map_or(0, Iterator::count);
    assert!(
        fds < 150,
        "{fds} open descriptors with 300 idle connections"
    );
    // Once the held connections time out, a scrape is served again.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some((status, _)) = get(metrics_port, "/healthz") {
            assert_eq!(status, 200);
            break;
        }
        assert!(Instant::now() < deadline, "/healthz never answered again");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(idle);
    run.terminate();
    assert!(run.wait(Duration::from_secs(10)).success(), "{}", run.log());
}
