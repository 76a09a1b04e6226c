//! Faults around the state claim: a claim whose answer was lost, an UpdateService refused once,
//! five `--once` runs racing for one service, and SIGTERM in the middle of a tick.

use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::support;
use super::support::live_run::{messages, stepscale, ticks, Tick};
use super::support::relay::{self, Verdict};
use super::{
    run_looping, service_at_2, service_at_2_in_s3, wall_clock_ms, Fixture, S3_INTERNAL_ERROR, SEED,
    TARGET,
};

// ---------------------------------------------------------------------------------------
// 2b. A claim whose answer is lost, and an UpdateService refused once: the scale-out is
// never lost to the cooldown its own claim set.

/// A target policy with a 300 s scale-out cooldown, as an operator would run it.
const TARGET_300: &str = "[guards]\nmin_tasks = 1\nmax_tasks = 50\nscale_out_cooldown_secs = 300\n\
scale_in_cooldown_secs = 300\n[policy]\nkind = \"target\"\ntarget_backlog_per_task = 50.0\n";

#[tokio::test]
async fn a_claim_whose_answer_was_lost_is_recognised_and_acted_on() {
    // `_dir` keeps the policy's folder until the test ends.
    let (
        Fixture {
            sdk,
            cluster,
            service,
            dir: _dir,
            policy,
        },
        _,
    ) = service_at_2_in_s3(1_000, TARGET_300).await;
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
    let (
        Fixture {
            sdk,
            cluster,
            service,
            dir: _dir,
            policy,
        },
        _,
    ) = service_at_2_in_s3(500, TARGET).await;
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
    let mut run = run_looping(
        &policy,
        &state_dir,
        &[("AWS_ENDPOINT_URL_ECS", ecs.as_str())],
    );
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
