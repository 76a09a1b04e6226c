//! `calibrate` against plants whose truth the test keeps: random lognormal service and start-up
//! times, random concurrency, a simulated run recorded as `stepscale run --record` writes it;
//! the fitted means must land within 10 % (service) and 15 % (start-up) of the truth on three
//! plant seeds, and the written scenario must load and run unchanged.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use stepscale_sim::calibrate::{calibrate, CalibrateInputs};
use stepscale_sim::rng::SimRng;
use stepscale_sim::{Backtest, Overrides};

/// A plant the test knows and calibrate does not.
struct Truth {
    service_median: f64,
    service_sigma: f64,
    startup_median: f64,
    startup_sigma: f64,
    concurrency: u32,
}

impl Truth {
    fn draw(seed: u64) -> Self {
        let mut rng = SimRng::new(seed);
        Self {
            service_median: 0.4 + 2.5 * rng.uniform(),
            service_sigma: 0.2 + 0.4 * rng.uniform(),
            startup_median: 20.0 + 40.0 * rng.uniform(),
            startup_sigma: 0.15 + 0.25 * rng.uniform(),
            concurrency: 1 + (rng.uniform() * 4.0) as u32,
        }
    }

    fn service_mean(&self) -> f64 {
        self.service_median * (self.service_sigma.powi(2) / 2.0).exp()
    }

    fn startup_mean(&self) -> f64 {
        self.startup_median * (self.startup_sigma.powi(2) / 2.0).exp()
    }
}

/// Three hours of whole-message counts per second: a base rate with bursts that make the
/// fleet scale out and in (each burst 8 to 15 minutes, every 30 to 40).
fn trace(dir: &Path, seed: u64, per_task: f64) -> (PathBuf, Vec<u64>) {
    let mut rng = SimRng::new(seed ^ 0xA5);
    let base = 2.0 * per_task;
    let mut counts = Vec::new();
    let mut t = 0u64;
    while t < 3 * 3600 {
        let quiet = 1200 + (rng.uniform() * 600.0) as u64;
        let burst = 480 + (rng.uniform() * 420.0) as u64;
        let peak = per_task * (8.0 + 10.0 * rng.uniform());
        for _ in 0..quiet {
            counts.push(rng.poisson(base));
        }
        for _ in 0..burst {
            counts.push(rng.poisson(peak));
        }
        t += quiet + burst;
    }
    let mut csv = String::from("time,count\n");
    for (i, c) in counts.iter().enumerate() {
        let _ = writeln!(csv, "{},{c}", 1_767_571_200 + i as u64);
    }
    let path = dir.join("sent.csv");
    std::fs::write(&path, csv).unwrap();
    (path, counts)
}

/// Simulates the plant under a target policy and writes what `run --record` would have.
fn recorded_run(dir: &Path, seed: u64, truth: &Truth) -> (PathBuf, PathBuf) {
    let per_task = f64::from(truth.concurrency) / truth.service_mean();
    let (trace_path, counts) = trace(dir, seed, per_task);
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[guards]\nmin_tasks = 1\nmax_tasks = 60\nscale_out_cooldown_secs = 0\nscale_in_cooldown_secs = 120\n\n[policy]\nkind = \"target\"\ntarget_backlog_per_task = {}\ninclude_in_flight = true\nscale_in_stabilization_secs = 120\n",
            f64::from(truth.concurrency) * 2.0
        ),
    )
    .unwrap();
    let scenario = dir.join("truth.toml");
    std::fs::write(
        &scenario,
        format!(
            r#"name = "truth"
seed = {seed}
fidelity = "discrete"
policy_file = "policy.toml"

[arrivals.trace]
path = "sent.csv"
value_column = "count"

[plant]
initial_tasks = 2
concurrency = {}
service_time = {{ kind = "lognormal", median_secs = {}, sigma = {} }}
startup = {{ kind = "lognormal", median_secs = {}, sigma = {} }}

[controller]
period_secs = 5
"#,
            truth.concurrency,
            truth.service_median,
            truth.service_sigma,
            truth.startup_median,
            truth.startup_sigma
        ),
    )
    .unwrap();
    let bt = Backtest::prepare(&scenario, &Overrides::default()).unwrap();
    let mut p = bt.prepared.clone();
    p.keep_ticks = true;
    let (outcome, _) = bt.simulate_with(&p, &bt.config);
    let start_s = 1_767_571_200_i64;
    let mut csv = String::from(
        "time,arrivals,arrivals_estimated,visible,in_flight,delayed,desired,running,pending,action\n",
    );
    let mut last_s = start_s;
    for t in &outcome.ticks {
        let at_s = t.at_us / 1_000_000;
        // Whole seconds since the previous row: their messages all arrived before this one.
        let arrived: u64 = (last_s..at_s)
            .filter_map(|s| counts.get((s - start_s) as usize))
            .sum();
        last_s = at_s;
        let _ = writeln!(
            csv,
            "{},{arrived},false,{},{},0,{},{},{},{}",
            stepscale_engine::time::rfc3339_millis(t.at_us / 1000),
            t.visible,
            t.in_flight,
            t.previous,
            t.running,
            t.pending,
            t.action
        );
    }
    let record = dir.join("record.csv");
    std::fs::write(&record, csv).unwrap();
    let _ = trace_path;
    (record, policy)
}

#[test]
fn calibrate_recovers_random_plants_within_tolerance() {
    for seed in [101, 202, 303] {
        let truth = Truth::draw(seed);
        let dir = tempfile::tempdir().unwrap();
        let (record, policy) = recorded_run(dir.path(), seed, &truth);
        let c = calibrate(&CalibrateInputs {
            records: vec![record],
            policy,
            concurrency: Some(truth.concurrency),
            ..CalibrateInputs::default()
        })
        .unwrap();
        let service = c.fitted[0].estimate;
        let startup = c.fitted[2].estimate;
        let (s_err, u_err) = (
            (service / truth.service_mean() - 1.0).abs(),
            (startup / truth.startup_mean() - 1.0).abs(),
        );
        println!(
            "seed {seed}: service {service:.3} s vs {:.3} s ({:.1} %), start-up {startup:.1} s vs {:.1} s ({:.1} %), {} tasks seen starting",
            truth.service_mean(),
            s_err * 100.0,
            truth.startup_mean(),
            u_err * 100.0,
            c.fitted[2].samples
        );
        assert!(
            s_err <= 0.10,
            "seed {seed}: service time off by {:.1} %",
            s_err * 100.0
        );
        assert!(
            u_err <= 0.15,
            "seed {seed}: start-up off by {:.1} %",
            u_err * 100.0
        );
        // The written scenario loads and runs as it is.
        // STEPSCALE_CALIBRATE_OUT keeps the files (to look at the plot).
        let out = std::env::var_os("STEPSCALE_CALIBRATE_OUT").map_or_else(
            || dir.path().join("calibrated"),
            |o| PathBuf::from(o).join(format!("seed-{seed}")),
        );
        c.write(&out, true, vec![]).unwrap();
        for f in [
            "scenario.toml",
            "trace.csv",
            "calibration.json",
            "calibration.png",
        ] {
            assert!(out.join(f).is_file(), "{f}");
        }
        let bt = Backtest::prepare(&out.join("scenario.toml"), &Overrides::default()).unwrap();
        let (_, summary) = bt.simulate();
        assert!(summary.messages > 1000.0, "{summary:?}");
    }
}

#[test]
fn thin_or_broken_records_say_what_is_missing() {
    let truth = Truth::draw(7);
    let dir = tempfile::tempdir().unwrap();
    let (record, policy) = recorded_run(dir.path(), 7, &truth);
    let text = std::fs::read_to_string(&record).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let run = |name: &str, body: String, concurrency: Option<u32>| {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        calibrate(&CalibrateInputs {
            records: vec![path],
            policy: policy.clone(),
            concurrency,
            ..CalibrateInputs::default()
        })
        .map(|_| ())
        .err()
        .unwrap_or_else(|| panic!("{name}: calibrated without an error"))
        .to_string()
    };
    // A gap of an hour in the middle.
    let mut gapped = lines[..200].join("\n");
    gapped.push('\n');
    gapped.push_str(&lines[920..].join("\n"));
    let e = run("gap.csv", gapped, Some(2));
    assert!(e.contains("has a gap of"), "{e}");
    // The first half minute: too few intervals for the service time.
    let e = run("short.csv", lines[..8].join("\n"), Some(2));
    assert!(
        e.contains("6 intervals") && e.contains("at least 20"),
        "{e}"
    );
    // Two records at different periods: every other row of the second half.
    let first: String = lines[..600].join("\n");
    let mut second = vec![lines[0]];
    second.extend(lines[600..].iter().step_by(2));
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    std::fs::write(&a, first).unwrap();
    std::fs::write(&b, second.join("\n")).unwrap();
    let e = calibrate(&CalibrateInputs {
        records: vec![a, b],
        policy: policy.clone(),
        concurrency: Some(2),
        ..CalibrateInputs::default()
    })
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(e.contains("one run at one period"), "{e}");
    // No concurrency anywhere.
    let e = run("whole.csv", text.clone(), None);
    assert!(e.contains("--concurrency"), "{e}");
    // Estimated arrivals without a log.
    let estimated = text.replace(",false,", ",true,");
    let e = run("estimated.csv", estimated, Some(2));
    assert!(
        e.contains("estimated arrivals") && e.contains("--arrivals"),
        "{e}"
    );
}
