//! Fits from a record, against runs of the discrete simulator recorded tick by tick as
//! `stepscale run --record` does: the service time's spread (the σ the fit gives back against
//! the σ the simulator drew from) and the metric delay (against the scenario's).

use std::fmt::Write as _;
use std::path::Path;

use stepscale_sim::calibrate::{delay, fit, spread};
use stepscale_sim::parity::LiveTick;
use stepscale_sim::{Backtest, Overrides};

/// A run of the discrete simulator on `scenario` (its arrivals replaced by `sends`, seconds
/// from the start) under `policy`, recorded tick by tick as `stepscale run --record` with a log
/// of the sends (`--arrivals`) gives it: each row's arrivals are the sends since the last.
fn record_of(dir: &Path, scenario: &str, policy: &str, sends: &[f64]) -> Vec<LiveTick> {
    let path = dir.join("plant.toml");
    std::fs::write(&path, scenario).unwrap();
    let policy_path = dir.join("policy.toml");
    std::fs::write(&policy_path, policy).unwrap();
    let t0 = 1_767_571_200.0_f64;
    let mut text = String::from("time\n");
    for s in sends {
        let _ = writeln!(text, "{:.6}", t0 + s);
    }
    let sent = dir.join("sent.csv");
    std::fs::write(&sent, text).unwrap();
    let mut bt = Backtest::prepare(
        &path,
        &Overrides {
            trace: Some(sent),
            policy: Some(policy_path),
            ..Overrides::default()
        },
    )
    .unwrap();
    bt.prepared.keep_ticks = true;
    let ticks = bt.simulate().0.ticks;
    let start = ticks.first().map_or(0, |t| t.at_us);
    let mut last = start;
    ticks
        .iter()
        .map(|t| {
            // Sends in (last tick, this tick], on the run's clock.
            let (a, b) = ((last - start) as f64 / 1e6, (t.at_us - start) as f64 / 1e6);
            let arrivals = sends.iter().filter(|&&s| s > a && s <= b).count() as f64;
            last = t.at_us;
            LiveTick {
                at_us: t.at_us,
                arrivals: Some(arrivals),
                arrivals_estimated: false,
                visible: Some(t.visible),
                in_flight: Some(t.in_flight),
                desired: t.previous,
                running: Some(t.running),
                pending: Some(t.pending),
                action: t.action,
                read_ms: None,
                shadow_desired: Vec::new(),
            }
        })
        .collect()
}

/// Four tasks, one message each at a time, held at four; `service` the service time's TOML;
/// sends 10 % above what they can take, so the queue never empties; a tick every `period` s.
fn recorded(dir: &Path, service: &str, mean: f64, period: f64) -> Vec<LiveTick> {
    let seconds = 3_600u64;
    let rate = 1.1 * 4.0 / mean;
    let sends: Vec<f64> = (0..(rate * seconds as f64) as u64)
        .map(|k| (k as f64 + 0.5) / rate)
        .collect();
    record_of(
        dir,
        &format!(
            "name = \"spread\"\nseed = 3\nfidelity = \"discrete\"\nduration_secs = {seconds}\ndrain_limit_secs = 0\n\n[plant]\ninitial_tasks = 4\nconcurrency = 1\nservice_time = {service}\nstartup = {{ kind = \"constant\", secs = 5 }}\n\n[controller]\nperiod_secs = {period}\n\n[[arrivals.synthetic]]\nkind = \"constant\"\nrate_per_s = {rate}\n"
        ),
        "[guards]\nmin_tasks = 4\nmax_tasks = 4\n\n[policy]\nkind = \"target\"\ntarget_backlog_per_task = 5.0\n",
        &sends,
    )
}

fn fitted_sigma(service: &str, mean: f64, period: f64) -> Result<fit::Fitted, String> {
    let dir = tempfile::tempdir().unwrap();
    let ticks = recorded(dir.path(), service, mean, period);
    spread::service_sigma(&fit::intervals(&ticks)).map(|s| s.fitted)
}

#[test]
fn a_lognormal_service_time_gives_back_its_sigma() {
    for sigma in [0.3, 0.5, 0.8] {
        let mean = 0.5;
        let median = mean / (sigma * sigma / 2.0_f64).exp();
        let f = fitted_sigma(
            &format!("{{ kind = \"lognormal\", median_secs = {median}, sigma = {sigma} }}"),
            mean,
            10.0,
        )
        .unwrap();
        println!("σ {sigma}: fitted {f:?}");
        assert!(
            (f.estimate - sigma).abs() < 0.06,
            "σ {sigma}: fitted {} ({:?})",
            f.estimate,
            f.interval_90
        );
        assert!(f.interval_90[0] <= f.estimate && f.estimate <= f.interval_90[1]);
    }
}

#[test]
fn a_constant_service_time_fits_a_narrow_spread_and_an_exponential_a_wide_one() {
    let constant = fitted_sigma("{ kind = \"constant\", secs = 0.5 }", 0.5, 10.0).unwrap();
    let exponential =
        fitted_sigma("{ kind = \"exponential\", mean_secs = 0.5 }", 0.5, 10.0).unwrap();
    println!("constant: {constant:?}\nexponential: {exponential:?}");
    assert!(constant.estimate < 0.15, "{constant:?}");
    // An exponential's coefficient of variation is 1, a lognormal's with σ = 0.83.
    assert!(
        (exponential.estimate - 0.83).abs() < 0.06,
        "{exponential:?}"
    );
}

#[test]
fn ticks_too_short_for_the_service_time_give_no_spread_and_say_why() {
    // 1 s ticks against 0.5 s messages: no window spans ten service times.
    let e = fitted_sigma("{ kind = \"constant\", secs = 0.5 }", 0.5, 1.0).unwrap_err();
    assert!(
        e.contains("ten") || e.contains("10 mean service times"),
        "{e}"
    );
    assert!(e.contains("30 are needed"), "{e}");
}

#[test]
fn calibrate_writes_the_fitted_spread_into_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let (mean, sigma) = (0.5_f64, 0.5_f64);
    let median = mean / (sigma * sigma / 2.0).exp();
    let ticks = recorded(
        dir.path(),
        &format!("{{ kind = \"lognormal\", median_secs = {median}, sigma = {sigma} }}"),
        mean,
        10.0,
    );
    let observed = stepscale_sim::calibrate::Observed {
        intervals: fit::intervals(&ticks),
        startup_samples: Vec::new(),
        startup_secs: Some(5.0),
        arrivals: ticks
            .iter()
            .map(|t| (t.at_us, t.arrivals.unwrap_or(0.0)))
            .collect(),
        arrivals_source: "the simulator's sends".into(),
        period_us: 10_000_000,
        initial_tasks: 4,
        description: "a simulated record".into(),
        rows: ticks.len(),
        warnings: Vec::new(),
        metric_delay: None,
    };
    let c = stepscale_sim::calibrate::build(
        observed,
        &stepscale_sim::calibrate::CalibrateInputs {
            policy: dir.path().join("policy.toml"),
            concurrency: Some(1),
            ..Default::default()
        },
    )
    .unwrap();
    let fit = c
        .fitted
        .iter()
        .find(|f| f.parameter == spread::SERVICE_SIGMA)
        .unwrap_or_else(|| panic!("{:?}", c.fitted));
    assert!((fit.estimate - sigma).abs() < 0.06, "{fit:?}");
    let line = c
        .scenario_toml
        .lines()
        .find(|l| l.starts_with("service_time"))
        .unwrap();
    assert!(
        line.contains("lognormal") && line.contains(&format!("sigma = {:.3}", fit.estimate)),
        "{line}"
    );
    assert!(
        !c.warnings.iter().any(|w| w.contains("spread")),
        "{:?}",
        c.warnings
    );
}

/// Bursts every 10 minutes over a base load, scaled by a target policy; the probe reads
/// `delay` seconds late; a tick every 15 s.
fn delayed(dir: &Path, delay: f64) -> Vec<LiveTick> {
    let seconds = 7_200.0;
    let mut sends = Vec::new();
    let mut t = 0.0;
    while t < seconds {
        // 2 a second, 8 a second in the first 3 minutes of every 10.
        let rate = if t % 600.0 < 180.0 { 8.0 } else { 2.0 };
        sends.push(t);
        t += 1.0 / rate;
    }
    record_of(
        dir,
        &format!(
            "name = \"delay\"\nseed = 5\nfidelity = \"discrete\"\nduration_secs = {seconds}\ndrain_limit_secs = 0\n\n[plant]\ninitial_tasks = 2\nconcurrency = 1\nservice_time = {{ kind = \"lognormal\", median_secs = 0.8, sigma = 0.5 }}\nstartup = {{ kind = \"constant\", secs = 30 }}\n\n[controller]\nperiod_secs = 15\nmetric_delay_secs = {delay}\n\n[[arrivals.synthetic]]\nkind = \"constant\"\nrate_per_s = 1\n"
        ),
        "[guards]\nmin_tasks = 1\nmax_tasks = 20\nscale_in_cooldown_secs = 60\n\n[policy]\nkind = \"target\"\ntarget_backlog_per_task = 10.0\n",
        &sends,
    )
}

#[test]
fn the_metric_delay_is_the_shift_that_lines_the_sends_up_with_the_counts() {
    for truth in [0.0, 60.0, 150.0] {
        let dir = tempfile::tempdir().unwrap();
        let ticks = delayed(dir.path(), truth);
        // The simulator's mean service time: a lognormal's median × e^(σ²/2).
        let f = delay::metric_delay(&ticks, 0.8 * 0.125_f64.exp()).unwrap();
        println!(
            "delay {truth} s: fitted {:?}, explained {:.2}",
            f.fitted, f.explained
        );
        assert!(
            (f.fitted.estimate - truth).abs() <= 5.0,
            "delay {truth}: fitted {:?}",
            f.fitted
        );
        assert!(
            f.fitted.interval_90[0] <= f.fitted.estimate
                && f.fitted.estimate <= f.fitted.interval_90[1]
        );
    }
}

#[test]
fn sends_that_do_not_vary_give_no_delay_and_say_why() {
    let dir = tempfile::tempdir().unwrap();
    // Constant sends, a fixed fleet: nothing to line up.
    let mut ticks = recorded(dir.path(), "{ kind = \"constant\", secs = 0.5 }", 0.5, 10.0);
    for t in &mut ticks {
        t.arrivals = Some(88.0);
    }
    let e = delay::metric_delay(&ticks, 0.5).unwrap_err();
    assert!(e.contains("do not change") || e.contains("poorly"), "{e}");
}

#[test]
fn rows_without_time_between_them_give_no_delay_rather_than_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let mut ticks = delayed(dir.path(), 0.0);
    for t in &mut ticks {
        t.at_us = 1_767_571_200_000_000;
    }
    let e = delay::metric_delay(&ticks, 0.9).unwrap_err();
    assert!(e.contains("no time"), "{e}");
}
