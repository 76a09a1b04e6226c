//! Faults under the real `stepscale run` binary, against servers the tests start and stop
//! themselves: the broker dies mid-loop, S3 answers 500, five `--once` runs race for one
//! service, and SIGTERM lands in the middle of a tick.

mod claims;
#[path = "../support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::live_run::{messages, stepscale, ticks, LiveRun, Outcome};
use support::redis_server::PrivateRedis;
use support::relay::{self, Verdict};

/// The loop's period in the looping tests.
pub(crate) const PERIOD: Duration = Duration::from_secs(1);
/// `stepscale run` on `policy` every [`PERIOD`], its state in `state_dir`, with `env` added.
pub(crate) fn run_looping(policy: &Path, state_dir: &Path, env: &[(&str, &str)]) -> LiveRun {
    LiveRun::spawn(stepscale(
        &[
            "--policy",
            policy.to_str().unwrap(),
            "--period-secs",
            &PERIOD.as_secs().to_string(),
            "--state-dir",
            state_dir.to_str().unwrap(),
        ],
        env,
    ))
}

/// The Redis probe's `timeout_secs` in every policy here: the longest one read may wait on a
/// server that accepts and never answers (connect, then each command).
pub(crate) const REDIS_TIMEOUT_SECS: u64 = 3;

// ---------------------------------------------------------------------------------------
// Policies.

/// fast-autoscaler v0.2's thresholds: above 100 messages scale out by 1 task per 100; below
/// 10 scale in. A failed read taken as zero would scale in.
pub(crate) const SEED: &str =
    "[guards]\nmin_tasks = 1\nmax_tasks = 50\n[policy]\nkind = \"seed\"\n\
scale_up_threshold = 100.0\nscale_down_threshold = 10.0\ntasks_per_message = 0.01\n";

/// 50 messages per task, and a scale-out cooldown the seed policy would ignore: an
/// invocation that re-reads after another one scaled holds.
pub(crate) const TARGET: &str =
    "[guards]\nmin_tasks = 1\nmax_tasks = 50\nscale_out_cooldown_secs = 120\n\
scale_in_cooldown_secs = 120\n[policy]\nkind = \"target\"\ntarget_backlog_per_task = 50.0\n";

/// A policy file in `dir` for one service reading Redis list `key` at `host:port`, with
/// `state` (`""`, or a `[state]` table) and `policy` (guards and policy tables).
pub(crate) fn policy_file(
    dir: &Path,
    (cluster, service): (&str, &str),
    (host, port): (&str, u16),
    key: &str,
    state: &str,
    policy: &str,
) -> PathBuf {
    let text = format!(
        "[service]\ncluster = \"{cluster}\"\nname = \"{service}\"\n{state}\n[[queues]]\n\
type = \"redis\"\nhost = \"{host}\"\nport = {port}\nqueue_key = \"{key}\"\n\
timeout_secs = {REDIS_TIMEOUT_SECS}\n{policy}"
    );
    let path = dir.join("policy.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A service at 2 tasks, a Redis list of `messages`, and its policy file (`state`: `""` or a
/// `[state]` table; `policy`: guards and policy tables) in a temporary folder, kept as long
/// as the fixture is.
pub(crate) struct Fixture {
    sdk: aws_config::SdkConfig,
    cluster: String,
    service: String,
    dir: tempfile::TempDir,
    policy: PathBuf,
}

pub(crate) async fn service_at_2(
    sdk: aws_config::SdkConfig,
    messages: usize,
    state: &str,
    policy: &str,
) -> Fixture {
    let (cluster, service) = support::aws::ecs_service(&sdk, 2).await;
    let key = support::unique("jobs");
    support::redis_list(&key, messages).await;
    let dir = tempfile::tempdir().unwrap();
    let (host, port) = support::redis_address();
    let policy = policy_file(
        dir.path(),
        (&cluster, &service),
        (&host, port),
        &key,
        state,
        policy,
    );
    Fixture {
        sdk,
        cluster,
        service,
        dir,
        policy,
    }
}

/// [`service_at_2`] with its state in a new S3 bucket in moto; the bucket's name beside it.
pub(crate) async fn service_at_2_in_s3(messages: usize, policy: &str) -> (Fixture, String) {
    let sdk = support::aws::sdk().await;
    let bucket = support::aws::bucket(&sdk).await;
    let fixture = service_at_2(sdk, messages, &s3_state(&bucket), policy).await;
    (fixture, bucket)
}

pub(crate) fn s3_state(bucket: &str) -> String {
    format!("[state]\ns3_bucket = \"{bucket}\"\n")
}

pub(crate) fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

// ---------------------------------------------------------------------------------------
// 1. The broker dies mid-loop.

/// The broker is a private `redis-server` this test kills with SIGKILL and restarts on the
/// same port. (A private RabbitMQ node takes far too long to boot for a test; Redis is a
/// broker the probe reads over its own TCP connection, which is all the fault needs.)
///
/// Timing bounds: a tick that cannot read waits at most `REDIS_TIMEOUT_SECS` per read, so the
/// loop's design ceiling between ticks is PERIOD + REDIS_TIMEOUT_SECS (4 s). A killed server
/// refuses connections at once, so no read should wait: the test asserts every gap between
/// ticks stays within PERIOD + 1 s, which a read that waited out its 3 s timeout breaks, and
/// at least half a period, which a loop spinning on errors breaks. Decisions must resume
/// within PERIOD + REDIS_TIMEOUT_SECS of the broker answering again.
#[tokio::test]
pub(crate) async fn the_broker_dies_mid_loop_every_tick_holds_on_time_then_decisions_resume() {
    let sdk = support::aws::sdk().await;
    let (cluster, service) = support::aws::ecs_service(&sdk, 10).await;
    let mut broker = PrivateRedis::start();
    let port = broker.port();
    let key = support::unique("jobs");
    // 50 messages: inside the band, a hold; zero would be a scale-in.
    support::redis_list_at(&broker.url(), &key, 50).await;
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(
        dir.path(),
        (&cluster, &service),
        ("127.0.0.1", port),
        &key,
        "",
        SEED,
    );
    let state_dir = dir.path().join("state");
    let mut run = run_looping(&policy, &state_dir, &[]);

    // Up: three ticks, each a hold at 10.
    let mut last_up = None;
    for _ in 0..3 {
        let tick = run
            .next_tick(Instant::now() + Duration::from_secs(20))
            .unwrap_or_else(|| panic!("no tick:\n{}", run.log()));
        assert_eq!(
            (tick.outcome, tick.action.as_str(), tick.desired),
            (Outcome::Decided, "hold", Some(10)),
            "{}",
            tick.line
        );
        last_up = Some(tick);
    }
    let last_up = last_up.unwrap();

    // Down: the broker dies without a word; 4.5 s of ticks.
    broker.kill();
    let killed = Instant::now();
    let mut down = Vec::new();
    while let Some(tick) = run.next_tick(killed + Duration::from_millis(4_500)) {
        down.push(tick);
    }
    for tick in &down {
        assert_eq!(
            (tick.action.as_str(), tick.desired),
            ("hold", Some(10)),
            "every tick while the broker is down holds:\n{}",
            run.log()
        );
        assert_ne!(tick.outcome, Outcome::Failed, "{}", tick.line);
    }
    // The tick in flight at the kill may have read first; every later one read nothing.
    assert!(
        down.iter().skip(1).all(|t| t.outcome == Outcome::Blind),
        "{}",
        run.log()
    );
    let blind = down.iter().filter(|t| t.outcome == Outcome::Blind).count();
    assert!(blind >= 3, "{blind} blind ticks in 4.5 s:\n{}", run.log());
    let gaps: Vec<f64> = std::iter::once(&last_up)
        .chain(&down)
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_secs_f64())
        .collect();
    eprintln!("tick gaps while the broker was down (s): {gaps:.3?}");
    let ceiling = (PERIOD + Duration::from_secs(1)).as_secs_f64();
    for gap in &gaps {
        assert!(
            (PERIOD.as_secs_f64() / 2.0..=ceiling).contains(gap),
            "the loop keeps its period while the broker is down: gaps {gaps:.3?} s"
        );
    }
    assert_eq!(
        support::aws::desired_count(&sdk, &cluster, &service).await,
        10,
        "nothing scaled in while blind"
    );

    // Back: same port, empty (nothing was saved), then 500 messages in one go.
    let broker = PrivateRedis::start_on(port);
    support::redis_list_at(&broker.url(), &key, 500).await;
    let back = Instant::now();
    let resume_bound = PERIOD + Duration::from_secs(REDIS_TIMEOUT_SECS);
    let resumed = loop {
        let tick = run
            .next_tick(back + resume_bound)
            .unwrap_or_else(|| panic!("no decision within {resume_bound:?}:\n{}", run.log()));
        if tick.outcome == Outcome::Decided {
            break tick;
        }
        assert_eq!(
            (tick.action.as_str(), tick.desired),
            ("hold", Some(10)),
            "{}",
            tick.line
        );
    };
    let resume = resumed.at.saturating_duration_since(back);
    eprintln!("first decision {resume:?} after the broker was back");
    // 500 messages above 100: 10 + floor(500 × 0.01) = 15.
    assert_eq!(
        (resumed.action.as_str(), resumed.desired),
        ("scale_out", Some(15)),
        "{}",
        resumed.line
    );
    assert_eq!(resumed.applied, "Updated(15)");
    assert_eq!(
        support::aws::desired_count(&sdk, &cluster, &service).await,
        15
    );

    run.terminate();
    let status = run.wait(Duration::from_secs(10));
    assert!(status.success(), "{status:?}:\n{}", run.log());
}

// ---------------------------------------------------------------------------------------
// 2. S3 answers 500: nothing is acted on without a state claim.

/// S3's answer to a request it failed.
pub(crate) const S3_INTERNAL_ERROR: &str =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code>\
<Message>We encountered an internal error. Please try again.</Message></Error>";

pub(crate) const S3_500: Verdict = Verdict::Respond {
    status: 500,
    body: S3_INTERNAL_ERROR,
};

/// `run --once` with S3 state behind `s3` (a relay), ECS and everything else at moto, and a
/// queue that asks for a scale-out from 2 to 7. Returns the exit status and the log, after
/// checking that ECS still says 2.
pub(crate) async fn once_with_state_behind(s3: &str) -> (ExitStatus, String, String) {
    let (
        Fixture {
            sdk,
            cluster,
            service,
            dir: _dir,
            policy,
        },
        bucket,
    ) = service_at_2_in_s3(500, SEED).await;
    let out = stepscale(&["--once", "--policy", policy.to_str().unwrap()], &[])
        .env("AWS_ENDPOINT_URL_S3", s3)
        .output()
        .expect("the binary runs");
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        support::aws::desired_count(&sdk, &cluster, &service).await,
        2,
        "ECS untouched without a state claim:\n{log}"
    );
    (out.status, log, bucket)
}

#[tokio::test]
pub(crate) async fn s3_answering_500_fails_the_run_and_nothing_scales() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let s3 = relay::start(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
        S3_500
    });
    let (status, log, bucket) = once_with_state_behind(&s3).await;
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        messages(&log).contains(&"Tick failed: nothing scaled.".to_string()),
        "{log}"
    );
    assert!(log.contains(&bucket), "the error names the state: {log}");
    assert!(
        calls.load(Ordering::SeqCst) >= 1,
        "S3 went through the relay"
    );
    assert!(!log.contains("Scaled service."), "{log}");
}

#[tokio::test]
pub(crate) async fn a_refused_state_claim_means_nothing_scales() {
    // Reads reach moto (nothing stored yet); the claim, a conditional PUT, gets 500.
    let claims = Arc::new(AtomicUsize::new(0));
    let seen = claims.clone();
    let s3 = relay::start(move |request| {
        if request.method == "PUT" {
            seen.fetch_add(1, Ordering::SeqCst);
            S3_500
        } else {
            Verdict::Forward
        }
    });
    let (status, log, bucket) = once_with_state_behind(&s3).await;
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        claims.load(Ordering::SeqCst) >= 1,
        "the run decided and tried to claim the state: {log}"
    );
    let failed = ticks(&log);
    assert_eq!(failed.len(), 1, "{log}");
    assert_eq!(failed[0].outcome, Outcome::Failed, "{log}");
    assert!(failed[0].line.contains(&bucket), "{log}");
    assert!(!log.contains("Scaled service."), "{log}");
}
