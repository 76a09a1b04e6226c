//! The sim-live parity harness: a real worker pool drains a Redis list and an SQS queue (moto)
//! at the plant's service time, sized by the ECS desired count (moto) with the plant's
//! start-up delay; a generator sends the plant's ramp, spike and quiet; `stepscale run
//! --period-secs 1 --record` scales each pool; then `stepscale parity` replays each recorded
//! run through the simulator and the decisions are compared tick by tick.
//!
//! The plant does not depend on how fast the broker answers: a worker's work on a message starts
//! when the worker became free or when the generator's send of it returned, whichever is later
//! (as the simulator starts it), however long the take itself took; an SQS delete is sent early by
//! the delete round trip measured so far, so the message leaves when its work ends; and the
//! generator sends only inside [`stepscale_sim::synth::SEND_WINDOW`], so a tick's read that
//! returns late still sees the same messages as the replay's. Run beside a CPU hog on every
//! core (sim/README.md, "Does the backtest predict the live run?") it keeps its goals.
//!
//! Every shipped policy kind runs on both queues at once (8 services, one process each), so
//! the whole harness takes the plant's duration (4 minutes) plus about 20 s. Its figures are
//! printed (`cargo test --test live_parity -- --nocapture`) and each run's parity.csv,
//! parity.json and parity.png are left in `$CARGO_TARGET_DIR/tmp/parity/NAME/parity/`, beside the live run's
//! record, arrivals log, policy and log in `…/parity/NAME/live/` (or under
//! `$STEPSCALE_PARITY_OUT`).
#![cfg(all(feature = "redis", feature = "sqs"))]

mod plant;
#[path = "../support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use stepscale_sim::Scenario;
use tokio::sync::watch;

use plant::{
    pool, redis_section, sqs_section, watch_desired, Case, Queue, FAULTS, REDIS_ROUND_TRIP,
    SQS_ROUND_TRIP,
};

const KINDS: [&str; 4] = ["seed", "step", "target", "slo"];
/// The goals of the parity check.
const MIN_SAME_ACTION: f64 = 0.95;
const MAX_DESIRED_GAP: u64 = 1;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_policy_kind_behaves_live_as_its_backtest_said() {
    let plant_path = repo().join("tests/parity/plant.toml");
    let scenario = Scenario::load(&plant_path).expect("the plant scenario loads");
    let seconds = scenario.duration_secs.expect("the plant has a duration");
    let (service_time, startup) = (scenario.plant.service_time, scenario.plant.startup);
    let out_root = std::env::var_os("STEPSCALE_PARITY_OUT").map_or_else(
        || PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("parity"),
        PathBuf::from,
    );
    let work = tempfile::tempdir().expect("a temporary folder");
    let sdk = support::aws::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let redis_client = redis::Client::open(support::redis_url()).expect("REDIS_URL");

    let mut cases = Vec::new();
    for kind in KINDS {
        for queue_kind in ["redis", "sqs"] {
            let name = format!("{kind}-{queue_kind}");
            let service = support::unique(&format!("parity-{name}"));
            let (queue, section) = if queue_kind == "redis" {
                let key = support::unique(&format!("stepscale-parity:{name}"));
                let processing = format!("{key}:processing");
                (
                    Queue::Redis {
                        client: redis_client.clone(),
                        key: key.clone(),
                        processing: processing.clone(),
                    },
                    redis_section(&key, &processing),
                )
            } else {
                let url = sqs
                    .create_queue()
                    .queue_name(support::unique(&format!("parity-{name}")))
                    .attributes(
                        aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                        "30",
                    )
                    .send()
                    .await
                    .expect("moto answers CreateQueue")
                    .queue_url()
                    .unwrap_or_default()
                    .to_string();
                (
                    Queue::Sqs {
                        client: sqs.clone(),
                        url: url.clone(),
                    },
                    sqs_section(&url),
                )
            };
            cases.push((name, service, queue, section, kind));
        }
    }
    let names: Vec<String> = cases.iter().map(|c| c.1.clone()).collect();
    let cluster = support::aws::ecs_services(&sdk, &names, 1).await;

    let done = Arc::new(AtomicBool::new(false));
    let mut senders = BTreeMap::new();
    let mut runs: Vec<Case> = Vec::new();
    let mut children: Vec<Child> = Vec::new();
    for (i, (name, service, queue, section, kind)) in cases.into_iter().enumerate() {
        let body =
            std::fs::read_to_string(repo().join(format!("tests/parity/policies/{kind}.toml")))
                .expect("the policy is shipped");
        let policy = work.path().join(format!("{name}.toml"));
        std::fs::write(
            &policy,
            format!(
                "[service]\ncluster = \"{cluster}\"\nname = \"{service}\"\n\n{section}\n{body}"
            ),
        )
        .expect("policy written");
        let case = Case {
            service,
            record: work.path().join(format!("{name}.record.csv")),
            arrivals: work.path().join(format!("{name}.arrivals.csv")),
            log: work.path().join(format!("{name}.log")),
            name,
            queue,
            policy,
        };
        let (tx, rx) = watch::channel(1);
        senders.insert(case.service.clone(), tx);
        tokio::spawn(pool(
            case.queue.clone(),
            service_time,
            startup,
            rx,
            Arc::clone(&done),
            1000 + i as u64,
            None,
        ));
        let state = work.path().join(format!("{}-state", case.name));
        let child = plant::start_run(&case, &state, &[]);
        runs.push(case);
        children.push(child);
    }
    tokio::spawn(watch_desired(
        sdk.clone(),
        cluster.clone(),
        senders,
        Arc::clone(&done),
    ));

    // The generators start once every run has made its first decision.
    plant::first_decisions(&runs.iter().collect::<Vec<_>>()).await;
    // How late this test's own timers run: a stalled harness is a harness fault, not a
    // policy's, and a failure message says how late they ran.
    let lag = Arc::new(std::sync::Mutex::new((Duration::ZERO, 0.0_f64)));
    let lag_done = Arc::new(AtomicBool::new(false));
    {
        let (lag, lag_done) = (Arc::clone(&lag), Arc::clone(&lag_done));
        let t0 = Instant::now();
        tokio::spawn(async move {
            while !lag_done.load(Ordering::Relaxed) {
                let asked = Instant::now();
                tokio::time::sleep(Duration::from_millis(10)).await;
                let late = asked.elapsed().saturating_sub(Duration::from_millis(10));
                if let Ok(mut l) = lag.lock() {
                    if late > l.0 {
                        *l = (late, t0.elapsed().as_secs_f64());
                    }
                }
            }
        });
    }
    // Each generator starts on a tick of its run: the first tick's time plus whole periods.
    let pairs: Vec<(&Case, &Scenario)> = runs.iter().map(|c| (c, &scenario)).collect();
    plant::generate_then_stop(&pairs, &mut children, seconds).await;
    done.store(true, Ordering::Relaxed);
    lag_done.store(true, Ordering::Relaxed);
    let (late, late_at) = lag.lock().map(|l| *l).unwrap_or_default();
    let lateness = format!("harness timers: at most {late:?} late (at {late_at:.1} s)");
    println!("{lateness}");
    let faults = FAULTS.lock().map(|f| f.clone()).unwrap_or_default();
    assert!(
        faults.is_empty(),
        "the harness itself failed, so the runs do not show the policies:\n{}",
        faults.join("\n")
    );
    println!(
        "a round trip to the queue: Redis LREM {:.2} ms, SQS DeleteMessage on moto {:.2} ms (mean)",
        REDIS_ROUND_TRIP.mean_ms(),
        SQS_ROUND_TRIP.mean_ms()
    );

    let mut failures = Vec::new();
    println!("| policy | queue | ticks | same action | largest desired gap | scale-outs live/sim | scale-ins live/sim | mean backlog gap |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for case in &runs {
        let out = out_root.join(&case.name).join("parity");
        let kept = out_root.join(&case.name).join("live");
        let status = Command::new(env!("CARGO_BIN_EXE_stepscale"))
            .args(["parity", "--scenario"])
            .arg(&plant_path)
            .arg("--policy")
            .arg(&case.policy)
            .arg("--record")
            .arg(&case.record)
            .arg("--arrivals")
            .arg(&case.arrivals)
            .arg("--out")
            .arg(&out)
            .stdout(Stdio::null())
            .status()
            .expect("stepscale parity runs");
        assert!(status.success(), "{}: stepscale parity failed", case.name);
        // Keep what the live run wrote beside the figures, for a look at a failure.
        std::fs::create_dir_all(&kept).expect("a folder for the live run's files");
        for f in [&case.record, &case.arrivals, &case.policy, &case.log] {
            let _ = std::fs::copy(f, kept.join(f.file_name().unwrap_or_default()));
        }
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("parity.json")).expect("parity.json written"),
        )
        .expect("parity.json is JSON");
        let share = report["same_action_share"].as_f64().unwrap_or(0.0);
        let gap = report["max_desired_gap"].as_u64().unwrap_or(u64::MAX);
        let ticks = report["ticks"].as_u64().unwrap_or(0);
        let (kind, queue) = case.name.split_once('-').unwrap_or((&case.name, ""));
        println!(
            "| {kind} | {queue} | {ticks} | {:.1} % | {gap} | {}/{} | {}/{} | {:.2} |",
            share * 100.0,
            report["live_scale_out"],
            report["sim_scale_out"],
            report["live_scale_in"],
            report["sim_scale_in"],
            report["mean_backlog_gap"].as_f64().unwrap_or(f64::NAN),
        );
        if ticks < seconds * 9 / 10 || share < MIN_SAME_ACTION || gap > MAX_DESIRED_GAP {
            failures.push(format!(
                "{}: {ticks} ticks, {:.1} % same action, desired gap {gap} (see {})",
                case.name,
                share * 100.0,
                out.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "parity goals ({} % same action, desired within ±{MAX_DESIRED_GAP}) missed:\n{}\n({lateness})",
        MIN_SAME_ACTION * 100.0,
        failures.join("\n")
    );
}
