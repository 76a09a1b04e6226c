//! The record → calibrate → tune → shadow loop, end to end against real servers: three worker
//! pools with *random* service times (lognormal) and *random* start-up delays (lognormal), whose
//! true parameters this test keeps from StepScale, drain Redis lists, sized by ECS (moto) whose
//! running and pending counts are the pools' own (a relay in front of moto's ECS puts them in
//! `DescribeServices`, since moto runs every task the moment it is ordered).
//!
//! 1. `stepscale run --record` scales each pool under a target-tracking policy;
//! 2. `stepscale calibrate` fits each record: the mean service time must land within 10 % and
//!    the mean start-up within 15 % of the hidden truth (three plants, different truths, so
//!    fixed defaults cannot pass);
//! 3. `stepscale tune` searches the calibrated scenario for a cheaper policy;
//! 4. a second live run acts with the same policy and decides the tuned one as a `[[shadow]]`;
//!    `stepscale parity --seeds 20` on the calibrated scenario must hold at least 90 % of the
//!    live ticks inside the replays' 90 % prediction interval, for the acting policy's desired
//!    count and for the shadow's; a plant 2.2 times faster must not (the check can fail); and the band under
//!    each `plant.stop_order` is printed.
//!
//! Figures are printed (`cargo test --test live_loop -- --nocapture`); every file is kept
//! under `$CARGO_TARGET_TMPDIR/loop/` (or `$STEPSCALE_PARITY_OUT/loop/`).
#![cfg(feature = "redis")]

#[allow(dead_code)]
#[path = "../live_parity/plant.rs"]
mod plant;
#[path = "../support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use stepscale_sim::dist::Duration as Dist;
use stepscale_sim::Scenario;
use tokio::sync::watch;

use plant::{pool, redis_section, watch_desired, Case, Fleet, Queue};

/// Seconds each live run sends arrivals for.
const SECONDS: u64 = 200;
/// The goals.
const SERVICE_TOLERANCE: f64 = 0.10;
const STARTUP_TOLERANCE: f64 = 0.15;
const MIN_INSIDE: f64 = 0.90;

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A plant's hidden truth.
#[derive(Clone, Copy)]
struct Truth {
    service: Dist,
    startup: Dist,
}

/// Three plants whose truths differ by more than twice the tolerances, so no one set of
/// defaults fits them all.
fn truths() -> [Truth; 3] {
    let plant = |service_median: f64, startup_median: f64| Truth {
        service: Dist::Lognormal {
            median_secs: service_median,
            sigma: 0.5,
        },
        startup: Dist::Lognormal {
            median_secs: startup_median,
            sigma: 0.25,
        },
    };
    [plant(0.6, 4.0), plant(0.9, 6.0), plant(1.3, 8.5)]
}

/// The arrivals the generator sends to a plant: 1.5 tasks' worth throughout and 6 more in
/// three bursts of 35 s, so each run scales out and in three times.
fn arrivals_scenario(truth: &Truth, dir: &Path) -> Scenario {
    let per_task = 1.0 / truth.service.mean_secs();
    let mut text = format!(
        "name = \"loop-arrivals\"\nfidelity = \"discrete\"\nduration_secs = {SECONDS}\n\n[plant]\nconcurrency = 1\nservice_time = {{ kind = \"constant\", secs = 1.0 }}\n\n[controller]\nperiod_secs = 1.0\n\n[[arrivals.synthetic]]\nkind = \"constant\"\nrate_per_s = {:.4}\n",
        1.5 * per_task
    );
    for at in [15, 85, 155] {
        let _ = write!(
            text,
            "\n[[arrivals.synthetic]]\nkind = \"spike\"\nat_secs = {at}\nduration_secs = 35\nrate_per_s = {:.4}\n",
            6.0 * per_task
        );
    }
    let path = dir.join("arrivals-scenario.toml");
    std::fs::write(&path, text).expect("arrivals scenario written");
    Scenario::load(&path).expect("the arrivals scenario loads")
}

/// The acting policy, as a user of the pool would write it.
const ACTING: &str = "[guards]\nmin_tasks = 1\nmax_tasks = 16\nscale_out_cooldown_secs = 5\nscale_in_cooldown_secs = 5\n\n[policy]\nkind = \"target\"\ntarget_backlog_per_task = 4.0\ntolerance = 0.1\nscale_in_stabilization_secs = 15\nscale_out_limit_percent = 100.0\nscale_out_limit_tasks = 4\nlimit_period_secs = 5\n";

/// The space `tune` searches on the calibrated scenario.
const SPACE: &str = "[guards]\nmin_tasks = 1\nmax_tasks = 16\nscale_out_cooldown_secs = { values = [0, 5, 10] }\nscale_in_cooldown_secs = { values = [5, 10, 20] }\n\n[policy]\nkind = \"target\"\ntarget_backlog_per_task = { min = 1.0, max = 8.0, log = true }\ntolerance = 0.1\nscale_in_stabilization_secs = { values = [10, 20, 30] }\nscale_out_limit_percent = 100.0\nscale_out_limit_tasks = 4\nlimit_period_secs = 5\n";

/// A tuned policy file (`best.toml`) as a `[[shadow]]` of a live policy: each of its tables
/// moved under `shadow`.
fn as_shadow(best: &str, name: &str) -> String {
    let mut out = format!("[[shadow]]\nname = \"{name}\"\n");
    for line in best.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("[[") {
            let _ = writeln!(out, "[[shadow.{rest}");
        } else if let Some(rest) = t.strip_prefix('[') {
            let _ = writeln!(out, "[shadow.{rest}");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Runs `cases` live at once: each pool with its truth, each `stepscale run` at a 1 s period
/// with ECS through `ecs_url`, each generator for [`SECONDS`] from a tick of its run.
async fn run_live(
    cases: &[(Case, Truth, Scenario)],
    sdk: &aws_config::SdkConfig,
    cluster: &str,
    ecs_url: &str,
    fleets: &Mutex<BTreeMap<String, Fleet>>,
    seed: u64,
) {
    let done = Arc::new(AtomicBool::new(false));
    let mut senders = BTreeMap::new();
    let mut children: Vec<Child> = Vec::new();
    for (i, (case, truth, _)) in cases.iter().enumerate() {
        let (tx, rx) = watch::channel(1);
        senders.insert(case.service.clone(), tx);
        let fleet: Fleet = Arc::new(Mutex::new(Vec::new()));
        if let Ok(mut f) = fleets.lock() {
            f.insert(case.service.clone(), Arc::clone(&fleet));
        }
        tokio::spawn(pool(
            case.queue.clone(),
            truth.service,
            truth.startup,
            rx,
            Arc::clone(&done),
            seed + i as u64,
            Some(fleet),
        ));
        let state = case.log.with_extension("state");
        children.push(plant::start_run(
            case,
            &state,
            &[("AWS_ENDPOINT_URL_ECS", ecs_url)],
        ));
    }
    tokio::spawn(watch_desired(
        sdk.clone(),
        cluster.to_string(),
        senders,
        Arc::clone(&done),
    ));
    plant::first_decisions(&cases.iter().map(|(c, _, _)| c).collect::<Vec<_>>()).await;
    let runs: Vec<(&Case, &Scenario)> = cases.iter().map(|(c, _, s)| (c, s)).collect();
    plant::generate_then_stop(&runs, &mut children, SECONDS).await;
    done.store(true, Ordering::Relaxed);
    let faults = plant::FAULTS.lock().map(|f| f.clone()).unwrap_or_default();
    assert!(
        faults.is_empty(),
        "the harness itself failed, so the runs do not show the policies:\n{}",
        faults.join("\n")
    );
}

fn stepscale(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .args(args)
        .output()
        .expect("the stepscale binary runs");
    assert!(
        out.status.success(),
        "stepscale {}: {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("a JSON output"))
        .expect("valid JSON")
}

/// The estimate of the fitted parameter named `name` in calibration.json.
fn fitted(calibration: &serde_json::Value, name: &str) -> f64 {
    calibration["fitted"]
        .as_array()
        .and_then(|f| f.iter().find(|p| p["parameter"] == name))
        .and_then(|p| p["estimate"].as_f64())
        .unwrap_or_else(|| panic!("calibration.json fits {name}: {calibration}"))
}

/// `stepscale parity --seeds 20` of `case`'s live run on `scenario`, into `out`: its
/// parity.json.
fn parity_bands(scenario: &Path, case: &Case, out: &Path) -> serde_json::Value {
    stepscale(&[
        "parity",
        "--scenario",
        path_str(scenario),
        "--policy",
        path_str(&case.policy),
        "--record",
        path_str(&case.record),
        "--arrivals",
        path_str(&case.arrivals),
        "--seeds",
        "20",
        "--out",
        path_str(out),
    ]);
    json(&out.join("parity.json"))
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn record_calibrate_tune_and_shadow_on_random_plants() {
    let out_root = std::env::var_os("STEPSCALE_PARITY_OUT")
        .map_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")), PathBuf::from)
        .join("loop");
    // A rerun starts afresh (the recorder appends to a record it finds), but only over a
    // folder this test wrote: one without its mark is left alone and the test stops.
    let mark = out_root.join(".stepscale-live-loop");
    if out_root.exists() {
        assert!(
            mark.is_file(),
            "{} exists and this test did not write it: move it away or set STEPSCALE_PARITY_OUT",
            out_root.display()
        );
        std::fs::remove_dir_all(&out_root).expect("the last run's folder removed");
    }
    std::fs::create_dir_all(&out_root).expect("the output folder");
    std::fs::write(
        &mark,
        "written by tests/live_loop; removed and rewritten by each run\n",
    )
    .expect("the folder's mark");
    let sdk = support::aws::sdk().await;
    let redis_client = redis::Client::open(support::redis_url()).expect("REDIS_URL");
    let truths = truths();

    // Six services: three plants, two runs each.
    let names: Vec<String> = (0..6)
        .map(|i| support::unique(&format!("loop-{}-run{}", i % 3, i / 3 + 1)))
        .collect();
    let cluster = support::aws::ecs_services(&sdk, &names, 1).await;
    // ECS through a relay that reports each pool's own running and pending counts.
    let fleets: Arc<Mutex<BTreeMap<String, Fleet>>> = Arc::new(Mutex::new(BTreeMap::new()));
    let ecs_url = {
        let fleets = Arc::clone(&fleets);
        support::relay::start_rewriting(
            |_| support::relay::Verdict::Forward,
            move |request, body| {
                if request.target_operation() != Some("DescribeServices") {
                    return None;
                }
                let mut reply: serde_json::Value = serde_json::from_slice(body).ok()?;
                let fleets = fleets.lock().ok()?;
                let now = Instant::now();
                for s in reply["services"].as_array_mut()? {
                    let Some(ready) = s["serviceName"]
                        .as_str()
                        .and_then(|n| fleets.get(n))
                        .and_then(|f| f.lock().ok().map(|r| r.clone()))
                    else {
                        continue;
                    };
                    let running = ready.iter().filter(|&&at| at <= now).count();
                    s["runningCount"] = running.into();
                    s["pendingCount"] = (ready.len() - running).into();
                }
                serde_json::to_vec(&reply).ok()
            },
        )
    };

    let make_case = |plant: usize, run: usize, policy_text: &str| {
        let name = format!("plant{plant}-run{run}");
        let dir = out_root.join(&name);
        std::fs::create_dir_all(&dir).expect("a case folder");
        let key = support::unique(&format!("stepscale-loop:{name}"));
        let processing = format!("{key}:processing");
        let service = names[(run - 1) * 3 + plant].clone();
        let policy = dir.join("policy.toml");
        std::fs::write(
            &policy,
            format!(
                "[service]\ncluster = \"{cluster}\"\nname = \"{service}\"\n\n{}\n{policy_text}",
                redis_section(&key, &processing)
            ),
        )
        .expect("policy written");
        let scenario = arrivals_scenario(&truths[plant], &dir);
        (
            Case {
                name,
                service,
                queue: Queue::Redis {
                    client: redis_client.clone(),
                    key,
                    processing,
                },
                policy,
                record: dir.join("record.csv"),
                arrivals: dir.join("arrivals.csv"),
                log: dir.join("run.log"),
            },
            truths[plant],
            scenario,
        )
    };

    // 1. Record.
    let first: Vec<_> = (0..3).map(|p| make_case(p, 1, ACTING)).collect();
    run_live(&first, &sdk, &cluster, &ecs_url, &fleets, 100).await;

    // 2. Calibrate, and 3. tune.
    let mut failures = Vec::new();
    println!("| plant | service mean: true / fitted | start-up mean: true / fitted (tasks) |");
    println!("| --- | ---: | ---: |");
    let mut second = Vec::new();
    for (p, (case, truth, _)) in first.iter().enumerate() {
        let dir = out_root.join(format!("plant{p}"));
        let calibrated = dir.join("calibrated");
        stepscale(&[
            "calibrate",
            "--record",
            path_str(&case.record),
            "--arrivals",
            path_str(&case.arrivals),
            "--policy",
            path_str(&case.policy),
            "--concurrency",
            "1",
            "--out",
            path_str(&calibrated),
        ]);
        let cal = json(&calibrated.join("calibration.json"));
        let service = fitted(&cal, "plant.service_time (mean)");
        let startup = fitted(&cal, "plant.startup (mean, from the lognormal fit)");
        let (true_service, true_startup) = (truth.service.mean_secs(), truth.startup.mean_secs());
        let tasks = cal["fitted"]
            .as_array()
            .and_then(|f| {
                f.iter()
                    .find(|x| x["parameter"] == "plant.startup (mean, from the lognormal fit)")
            })
            .and_then(|x| x["samples"].as_u64())
            .unwrap_or(0);
        println!(
            "| {p} | {true_service:.3} s / {service:.3} s ({:+.1} %) | {true_startup:.2} s / {startup:.2} s ({:+.1} %, {tasks}) |",
            (service / true_service - 1.0) * 100.0,
            (startup / true_startup - 1.0) * 100.0,
        );
        if (service / true_service - 1.0).abs() > SERVICE_TOLERANCE {
            failures.push(format!(
                "plant {p}: service mean fitted {service:.3} s, true {true_service:.3} s"
            ));
        }
        if (startup / true_startup - 1.0).abs() > STARTUP_TOLERANCE {
            failures.push(format!(
                "plant {p}: start-up mean fitted {startup:.2} s, true {true_startup:.2} s"
            ));
        }
        let space = dir.join("space.toml");
        std::fs::write(&space, SPACE).expect("space written");
        let tuned = dir.join("tuned");
        stepscale(&[
            "tune",
            "--scenario",
            path_str(&calibrated.join("scenario.toml")),
            "--space",
            path_str(&space),
            "--constraint",
            "wait_p99_s<=20",
            "--budget",
            "40",
            "--out",
            path_str(&tuned),
        ]);
        let best = std::fs::read_to_string(tuned.join("best.toml")).expect("tune wrote best.toml");
        second.push(make_case(
            p,
            2,
            &format!("{ACTING}\n{}", as_shadow(&best, "tuned")),
        ));
    }
    assert!(
        failures.is_empty(),
        "calibration missed the hidden plants:\n{}",
        failures.join("\n")
    );

    // 4. Act with the same policy, shadow the tuned one, and replay on the calibrated plant.
    run_live(&second, &sdk, &cluster, &ecs_url, &fleets, 200).await;
    println!(
        "| plant | ticks | acting desired inside | backlog inside | shadow inside | shadow same |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (p, (case, _, _)) in second.iter().enumerate() {
        let dir = out_root.join(format!("plant{p}"));
        let parity = dir.join("parity");
        let report = parity_bands(&dir.join("calibrated/scenario.toml"), case, &parity);
        let band = &report["band"];
        let desired = band["desired_inside_share"].as_f64().unwrap_or(0.0);
        let backlog = band["backlog_inside_share"].as_f64().unwrap_or(0.0);
        let shadow = &report["shadows"][0];
        let shadow_inside = shadow["desired_inside_share"].as_f64().unwrap_or(0.0);
        println!(
            "| {p} | {} | {:.1} % | {:.1} % | {:.1} % | {:.1} % |",
            report["ticks"],
            desired * 100.0,
            backlog * 100.0,
            shadow_inside * 100.0,
            shadow["same_desired_share"].as_f64().unwrap_or(0.0) * 100.0
        );
        if shadow["ticks"].as_u64().unwrap_or(0) < SECONDS * 9 / 10 {
            failures.push(format!(
                "plant {p}: the shadow was compared at too few ticks: {shadow}"
            ));
        }
        if desired < MIN_INSIDE || shadow_inside < MIN_INSIDE {
            failures.push(format!(
                "plant {p}: {:.1} % of the acting and {:.1} % of the shadow's desired counts inside the band (see {})",
                desired * 100.0,
                shadow_inside * 100.0,
                parity.display()
            ));
        }
    }
    // Which task a scale-in stops (the take discipline): the pools stop their newest tasks, as
    // the simulator does by default; the same runs replayed with the oldest or a random task
    // stopped show how much the band depends on it.
    println!("| plant | stop order | acting desired inside | backlog inside |");
    println!("| --- | --- | ---: | ---: |");
    for (p, (case, _, _)) in second.iter().enumerate() {
        let dir = out_root.join(format!("plant{p}"));
        let text = std::fs::read_to_string(dir.join("calibrated/scenario.toml"))
            .expect("the calibrated scenario");
        for order in ["newest", "oldest", "random"] {
            let scenario = dir.join(format!("calibrated/scenario-{order}.toml"));
            std::fs::write(
                &scenario,
                text.replacen(
                    "[plant]\n",
                    &format!("[plant]\nstop_order = \"{order}\"\n"),
                    1,
                ),
            )
            .expect("scenario written");
            let out = dir.join(format!("parity-{order}"));
            let band = &parity_bands(&scenario, case, &out)["band"];
            println!(
                "| {p} | {order} | {:.1} % | {:.1} % |",
                band["desired_inside_share"].as_f64().unwrap_or(0.0) * 100.0,
                band["backlog_inside_share"].as_f64().unwrap_or(0.0) * 100.0
            );
        }
    }

    // The check can fail: the slowest plant's run replayed on the fastest plant's calibration.
    let (slow, _, _) = &second[2];
    let wrong = out_root.join("wrong-plant");
    let report = parity_bands(
        &out_root.join("plant0/calibrated/scenario.toml"),
        slow,
        &wrong,
    );
    let wrong_inside = report["band"]["desired_inside_share"]
        .as_f64()
        .unwrap_or(1.0);
    println!(
        "plant 2's run on plant 0's calibration: {:.1} % of desired counts inside the band",
        wrong_inside * 100.0
    );
    if wrong_inside >= MIN_INSIDE {
        failures.push(format!(
            "a plant 2.2 times slower than the live one still held {:.1} % of the live ticks inside its band: the band check cannot tell plants apart",
            wrong_inside * 100.0
        ));
    }
    assert!(
        failures.is_empty(),
        "the calibrated plant does not predict the live runs:\n{}",
        failures.join("\n")
    );
}
