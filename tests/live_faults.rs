//! Faults under the real `stepscale run` binary, against servers the tests start and stop
//! themselves: the broker dies mid-loop, S3 answers 500, five `--once` runs race for one
//! service, and SIGTERM lands in the middle of a tick.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::live_run::{messages, stepscale, ticks, LiveRun, Outcome, Tick};
use support::redis_server::PrivateRedis;
use support::relay::{self, Verdict};

/// The loop's period in the looping tests.
const PERIOD: Duration = Duration::from_secs(1);
/// The Redis probe's `timeout_secs` in every policy here: the longest one read may wait on a
/// server that accepts and never answers (connect, then each command).
const REDIS_TIMEOUT_SECS: u64 = 3;

// ---------------------------------------------------------------------------------------
// Policies.

/// fast-autoscaler v0.2's thresholds: above 100 messages scale out by 1 task per 100; below
/// 10 scale in. A failed read taken as zero would scale in.
const SEED: &str = "[guards]\nmin_tasks = 1\nmax_tasks = 50\n[policy]\nkind = \"seed\"\n\
scale_up_threshold = 100.0\nscale_down_threshold = 10.0\ntasks_per_message = 0.01\n";

/// 50 messages per task, and a scale-out cooldown the seed policy would ignore: an
/// invocation that re-reads after another one scaled holds.
const TARGET: &str = "[guards]\nmin_tasks = 1\nmax_tasks = 50\nscale_out_cooldown_secs = 120\n\
scale_in_cooldown_secs = 120\n[policy]\nkind = \"target\"\ntarget_backlog_per_task = 50.0\n";

/// A policy file in `dir` for one service reading Redis list `key` at `host:port`, with
/// `state` (`""`, or a `[state]` table) and `policy` (guards and policy tables).
fn policy_file(
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
struct Fixture {
    sdk: aws_config::SdkConfig,
    cluster: String,
    service: String,
    dir: tempfile::TempDir,
    policy: PathBuf,
}

async fn service_at_2(
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

fn s3_state(bucket: &str) -> String {
    format!("[state]\ns3_bucket = \"{bucket}\"\n")
}

fn wall_clock_ms() -> i64 {
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
async fn the_broker_dies_mid_loop_every_tick_holds_on_time_then_decisions_resume() {
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
    let mut run = LiveRun::spawn(stepscale(
        &[
            "--policy",
            policy.to_str().unwrap(),
            "--period-secs",
            &PERIOD.as_secs().to_string(),
            "--state-dir",
            state_dir.to_str().unwrap(),
        ],
        &[],
    ));

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
const S3_INTERNAL_ERROR: &str =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code>\
<Message>We encountered an internal error. Please try again.</Message></Error>";

const S3_500: Verdict = Verdict::Respond {
    status: 500,
    body: S3_INTERNAL_ERROR,
};

/// `run --once` with S3 state behind `s3` (a relay), ECS and everything else at moto, and a
/// queue that asks for a scale-out from 2 to 7. Returns the exit status and the log, after
/// checking that ECS still says 2.
async fn once_with_state_behind(s3: &str) -> (ExitStatus, String, String) {
    let sdk = support::aws::sdk().await;
    let bucket = support::aws::bucket(&sdk).await;
    let Fixture {
        sdk,
        cluster,
        service,
        dir: _dir,
        policy,
    } = service_at_2(sdk, 500, &s3_state(&bucket), SEED).await;
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
async fn s3_answering_500_fails_the_run_and_nothing_scales() {
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
async fn a_refused_state_claim_means_nothing_scales() {
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

// ---------------------------------------------------------------------------------------
// 2b. A claim whose answer is lost, and an UpdateService refused once: the scale-out is
// never lost to the cooldown its own claim set.

/// A target policy with a 300 s scale-out cooldown, as an operator would run it.
const TARGET_300: &str = "[guards]\nmin_tasks = 1\nmax_tasks = 50\nscale_out_cooldown_secs = 300\n\
scale_in_cooldown_secs = 300\n[policy]\nkind = \"target\"\ntarget_backlog_per_task = 50.0\n";

#[tokio::test]
async fn a_claim_whose_answer_was_lost_is_recognised_and_acted_on() {
    let sdk = support::aws::sdk().await;
    let bucket = support::aws::bucket(&sdk).await;
    // `_dir` keeps the policy's folder until the test ends.
    let Fixture {
        sdk,
        cluster,
        service,
        dir: _dir,
        policy,
    } = service_at_2(sdk, 1_000, &s3_state(&bucket), TARGET_300).await;
    // The first PUT (the claim) reaches moto and is stored; its answer is replaced by a 500,
    // so the SDK retries it and the retry gets 412 from moto.
    let puts = Arc::new(AtomicUsize::new(0));
    let seen = puts.clone();
    let s3 = relay::start(move |request| {
        if request.method == "PUT" && seen.fetch_add(1, Ordering::SeqCst) == 0 {
            Verdict::ForwardThenRespond {
                status: 500,
                body: S3_INTERNAL_ERROR,
            }
        } else {
            Verdict::Forward
        }
    });
    let out = stepscale(&["--once", "--policy", policy.to_str().unwrap()], &[])
        .env("AWS_ENDPOINT_URL_S3", &s3)
        .output()
        .expect("the binary runs");
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        puts.load(Ordering::SeqCst) >= 2,
        "the claim was retried after its lost answer:\n{log}"
    );
    assert!(out.status.success(), "{log}");
    // 1,000 messages at 50 per task: 20 tasks.
    assert_eq!(
        support::aws::desired_count(&sdk, &cluster, &service).await,
        20,
        "the scale-out its own claim stood for reached ECS:\n{log}"
    );
}

#[tokio::test]
async fn an_update_service_refused_once_does_not_hold_the_next_run_for_a_cooldown() {
    let Fixture {
        sdk,
        cluster,
        service,
        dir,
        policy,
    } = service_at_2(support::aws::sdk().await, 1_000, "", TARGET_300).await;
    let state_dir = dir.path().join("state");
    let updates = Arc::new(AtomicUsize::new(0));
    let u = updates.clone();
    let ecs = relay::start(move |request| {
        if request.target_operation() == Some("UpdateService")
            && u.fetch_add(1, Ordering::SeqCst) == 0
        {
            Verdict::Respond {
                status: 400,
                body: "{\"__type\":\"AccessDeniedException\",\"message\":\"User is not authorized to perform: ecs:UpdateService\"}",
            }
        } else {
            Verdict::Forward
        }
    });
    let once = || {
        stepscale(
            &[
                "--once",
                "--policy",
                policy.to_str().unwrap(),
                "--state-dir",
                state_dir.to_str().unwrap(),
            ],
            &[("AWS_ENDPOINT_URL_ECS", ecs.as_str())],
        )
        .output()
        .expect("the binary runs")
    };
    let first = once();
    let first_log = String::from_utf8_lossy(&first.stderr).to_string();
    assert!(
        !first.status.success(),
        "the refused update fails the run:\n{first_log}"
    );
    assert_eq!(
        support::aws::desired_count(&sdk, &cluster, &service).await,
        2,
        "{first_log}"
    );
    let second = once();
    let second_log = String::from_utf8_lossy(&second.stderr).to_string();
    assert!(second.status.success(), "{second_log}");
    assert_eq!(
        support::aws::desired_count(&sdk, &cluster, &service).await,
        20,
        "the next run scaled out instead of holding on the failed action's cooldown:\n{first_log}\n{second_log}"
    );
}

// ---------------------------------------------------------------------------------------
// 3. Five `--once` runs race for one service.

/// Holds the first `n` callers until all `n` have arrived (or 10 s have passed); later
/// callers pass at once.
struct Gate {
    n: usize,
    arrived: Mutex<usize>,
    all_in: Condvar,
}

impl Gate {
    fn pass(&self) {
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        if *arrived >= self.n {
            self.all_in.notify_all();
            return;
        }
        let _unused = self
            .all_in
            .wait_timeout_while(arrived, Duration::from_secs(10), |a| *a < self.n)
            .unwrap();
    }
}

#[tokio::test]
async fn five_racing_once_runs_with_s3_state_exactly_one_acts() {
    const RACERS: usize = 5;
    let sdk = support::aws::sdk().await;
    let bucket = support::aws::bucket(&sdk).await;
    let Fixture {
        sdk,
        cluster,
        service,
        dir: _dir,
        policy,
    } = service_at_2(sdk, 500, &s3_state(&bucket), TARGET).await;
    // Every AWS call goes through a relay that counts UpdateService and holds each racer's
    // first read of the state until all five have asked: all five then find nothing stored
    // and race to create the document, so the claim, not luck, has to pick the one that acts.
    let gate = Arc::new(Gate {
        n: RACERS,
        arrived: Mutex::new(0),
        all_in: Condvar::new(),
    });
    let updates = Arc::new(AtomicUsize::new(0));
    let (held, counted) = (gate.clone(), updates.clone());
    let aws = relay::start(move |request| {
        if request.method == "GET" && request.path.contains("stepscale-state.json") {
            held.pass();
        }
        if request.target_operation() == Some("UpdateService") {
            counted.fetch_add(1, Ordering::SeqCst);
        }
        Verdict::Forward
    });
    let racers: Vec<Child> = (0..RACERS)
        .map(|_| {
            stepscale(&["--once", "--policy", policy.to_str().unwrap()], &[])
                .env("AWS_ENDPOINT_URL", &aws)
                .stderr(Stdio::piped())
                .spawn()
                .expect("the binary runs")
        })
        .collect();
    let outputs: Vec<_> = racers
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let logs: Vec<String> = outputs
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stderr).to_string())
        .collect();
    let all = logs.join("\n----\n");
    for out in &outputs {
        assert!(out.status.success(), "{:?}:\n{all}", out.status);
    }
    let decided: Vec<Tick> = logs
        .iter()
        .map(|log| {
            let t = ticks(log);
            assert_eq!(t.len(), 1, "{log}");
            t[0].clone()
        })
        .collect();
    let applied: Vec<&str> = decided.iter().map(|t| t.applied.as_str()).collect();
    eprintln!("what the racers applied: {applied:?}");
    // 500 messages at 50 a task: 10.
    assert_eq!(
        applied.iter().filter(|a| **a == "Updated(10)").count(),
        1,
        "exactly one racer acted: {applied:?}\n{all}"
    );
    assert!(
        applied
            .iter()
            .all(|a| matches!(*a, "Updated(10)" | "StoodDown" | "Unchanged")),
        "the others stood down or, re-reading the winner's claim, held: {applied:?}"
    );
    for tick in decided.iter().filter(|t| t.applied == "Unchanged") {
        assert_eq!(tick.action, "hold", "{}", tick.line);
    }
    let lost_the_claim = logs
        .iter()
        .filter(|l| {
            messages(l).contains(&"State changed under us: re-reading and deciding again.".into())
        })
        .count();
    assert_eq!(
        lost_the_claim,
        RACERS - 1,
        "all five read an empty state, four lost the first write:\n{all}"
    );
    assert_eq!(updates.load(Ordering::SeqCst), 1, "one UpdateService");
    assert_eq!(
        support::aws::desired_count(&sdk, &cluster, &service).await,
        10
    );
}

// ---------------------------------------------------------------------------------------
// 4. SIGTERM in the middle of a tick.

/// ECS calls go through a relay that holds the first DescribeServices (the start of the
/// first tick) for 1.5 s, longer than the period; SIGTERM is sent while it is held. The tick
/// must finish (scale out, save its state), no new tick may start, and the process exits 0.
#[tokio::test]
async fn sigterm_during_a_tick_finishes_the_tick_saves_its_state_and_exits_0() {
    let Fixture {
        sdk,
        cluster,
        service,
        dir,
        policy,
    } = service_at_2(support::aws::sdk().await, 500, "", SEED).await;
    let state_dir = dir.path().join("state");
    let (tick_started, started) = std::sync::mpsc::channel();
    let tick_started = Mutex::new(tick_started);
    let describes = Arc::new(AtomicUsize::new(0));
    let updates = Arc::new(AtomicUsize::new(0));
    let (d, u) = (describes.clone(), updates.clone());
    let ecs = relay::start(move |request| {
        match request.target_operation() {
            Some("DescribeServices") if d.fetch_add(1, Ordering::SeqCst) == 0 => {
                let _ = tick_started.lock().unwrap().send(());
                std::thread::sleep(Duration::from_millis(1_500));
            }
            Some("UpdateService") => {
                u.fetch_add(1, Ordering::SeqCst);
            }
            _ => {}
        }
        Verdict::Forward
    });
    let spawned_ms = wall_clock_ms();
    let mut run = LiveRun::spawn(stepscale(
        &[
            "--policy",
            policy.to_str().unwrap(),
            "--period-secs",
            &PERIOD.as_secs().to_string(),
            "--state-dir",
            state_dir.to_str().unwrap(),
        ],
        &[("AWS_ENDPOINT_URL_ECS", ecs.as_str())],
    ));
    started
        .recv_timeout(Duration::from_secs(30))
        .expect("the first tick asks ECS");
    run.terminate();
    let signalled_ms = wall_clock_ms();
    let status = run.wait(Duration::from_secs(15));
    let log = run.log();
    assert_eq!(status.code(), Some(0), "{log}");
    let said = messages(&log);
    let decided = said.iter().position(|m| m == "Decided.");
    let shut = said.iter().position(|m| m == "Stopped.");
    assert!(
        matches!((decided, shut), (Some(d), Some(s)) if d < s),
        "the tick ends, then the loop stops:\n{log}"
    );
    let ticks = ticks(&log);
    assert_eq!(ticks.len(), 1, "no tick starts after SIGTERM:\n{log}");
    assert_eq!(
        (ticks[0].action.as_str(), ticks[0].applied.as_str()),
        ("scale_out", "Updated(7)"),
        "{log}"
    );
    assert_eq!(describes.load(Ordering::SeqCst), 1, "one tick reached ECS");
    assert_eq!(updates.load(Ordering::SeqCst), 1);
    // 500 messages above 100: 2 + floor(500 × 0.01) = 7.
    assert_eq!(
        support::aws::desired_count(&sdk, &cluster, &service).await,
        7
    );
    let file = state_dir.join(format!("{cluster}__{service}.json"));
    let state: Value = serde_json::from_slice(&std::fs::read(&file).unwrap_or_else(|e| {
        panic!("{}: {e}\n{log}", file.display());
    }))
    .unwrap();
    let at = state["last_scale_out_ms"]
        .as_i64()
        .expect("a scale-out time");
    assert!(
        (spawned_ms..=signalled_ms).contains(&at),
        "the state holds the interrupted tick's scale-out: {state}"
    );
}
