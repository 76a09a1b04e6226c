//! The `slo` policy on the shipped scenarios (issue 10): its wait goal, its cost against ideal demand, its flips against `target`, and what the seasonal forecast adds.
//!
//! Every run goes through the library as `stepscale backtest --policy` does. The policy files
//! differ per scenario only in facts (the scenario's SLO wait and the plant's concurrency);
//! the service time is learned online. `cargo test -p stepscale-sim --test slo_scenarios --
//! --nocapture` prints the comparison table engine/README.md quotes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use stepscale_sim::{Backtest, Overrides, Summary};

/// The scenarios of issue 10 and each one's `slo` policy file (facts only).
const SCENARIOS: [(&str, &str); 6] = [
    ("worldcup98", "slo-worldcup98.toml"),
    ("diurnal", "slo.toml"),
    ("spike", "slo-spike.toml"),
    ("bursts", "slo.toml"),
    ("azure-llm", "slo-azure-llm.toml"),
    ("daily-rush", "slo.toml"),
];

/// The forecast variants: the scenario's slo file plus a `[forecast]` table.
const FORECASTS: [(&str, &str); 3] = [
    ("diurnal", "slo-forecast.toml"),
    ("azure-llm", "slo-forecast-azure-llm.toml"),
    ("daily-rush", "slo-forecast.toml"),
];

/// The shipped policies to compare against, on every scenario.
const BASELINES: [(&str, &str); 3] = [
    ("seed-v02", "seed-v02.toml"),
    ("step", "step.toml"),
    ("target", "target.toml"),
];

/// One run's figures.
struct Run {
    summary: Summary,
    ideal_task_hours: f64,
}

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scenarios")
}

fn backtest(scenario: &str, policy: &str) -> Run {
    let dir = scenarios_dir();
    let overrides = Overrides {
        policy: Some(dir.join("policies").join(policy)),
        ..Overrides::default()
    };
    let path = dir.join(format!("{scenario}.toml"));
    let bt = Backtest::prepare(&path, &overrides)
        .unwrap_or_else(|e| panic!("{scenario} under {policy}: {e}"));
    let (outcome, summary) = bt.simulate();
    let g = &bt.config.guards;
    Run {
        ideal_task_hours: outcome.stats.ideal_task_hours(g.min_tasks, g.max_tasks),
        summary,
    }
}

/// Every run, once for all the tests: (scenario, policy label) to its figures.
fn runs() -> &'static BTreeMap<(&'static str, &'static str), Run> {
    static RUNS: OnceLock<BTreeMap<(&'static str, &'static str), Run>> = OnceLock::new();
    RUNS.get_or_init(|| {
        let mut jobs: Vec<(&str, &str, &str)> = Vec::new();
        for (scenario, file) in SCENARIOS {
            jobs.push((scenario, "slo", file));
            if let Some((_, f)) = FORECASTS.iter().find(|(s, _)| *s == scenario) {
                jobs.push((scenario, "slo+forecast", f));
            }
            for (label, f) in BASELINES {
                jobs.push((scenario, label, f));
            }
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = jobs
                .iter()
                .map(|&(scenario, label, file)| {
                    scope.spawn(move || ((scenario, label), backtest(scenario, file)))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| panic!("a backtest panicked")))
                .collect()
        })
    })
}

fn get(scenario: &'static str, label: &'static str) -> &'static Run {
    let Some(run) = runs().get(&(scenario, label)) else {
        panic!("no run of {label} on {scenario}");
    };
    run
}

/// Task-hours over the ideal fleet's, as a fraction (0.3: 30 % more).
fn over_ideal(run: &Run) -> f64 {
    run.summary.task_hours / run.ideal_task_hours - 1.0
}

#[test]
fn print_the_comparison_table() {
    let mut table = String::from(
        "| scenario | policy | cost_usd | wait_p99_s | slo_violation_s | direction_flips | task_hours | ideal_task_hours |\n|---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for (scenario, _) in SCENARIOS {
        for label in ["slo", "slo+forecast", "seed-v02", "step", "target"] {
            let Some(run) = runs().get(&(scenario, label)) else {
                continue;
            };
            let m = &run.summary;
            let _ = writeln!(
                table,
                "| {scenario} | {label} | {:.2} | {:.1} | {:.0} | {} | {:.1} | {:.1} |",
                m.cost_usd,
                m.wait_p99_s,
                m.slo_violation_s,
                m.direction_flips,
                m.task_hours,
                run.ideal_task_hours
            );
        }
    }
    println!("{table}");
    assert_eq!(
        runs().len(),
        SCENARIOS.len() * (1 + BASELINES.len()) + FORECASTS.len()
    );
}

/// The scenarios whose plant lets a policy that follows the load meet the goal. Not spike
/// and bursts: the rise (25× on spike; idle to 80/s on bursts) is seen up to a 60 s period
/// late and tasks take 30-60 s to start, so the first minute or more of the rise, over 1 % of
/// all messages, waits longer than the 60 s goal unless the burst's fleet is kept through
/// the lull (seed-v02 keeps it on bursts: p99 60 s for 6.6 times the ideal task-hours). There
/// the test asks for no worse waits than `target` at a lower cost than every baseline.
const REACHABLE: [&str; 3] = ["worldcup98", "diurnal", "azure-llm"];

#[test]
fn slo_meets_its_wait_goal_where_the_plant_can() {
    for scenario in REACHABLE {
        let m = &get(scenario, "slo").summary;
        assert!(
            m.wait_p99_s <= m.slo_wait_s,
            "{scenario}: p99 {} s over the {} s goal",
            m.wait_p99_s,
            m.slo_wait_s
        );
        // Little violation: under 0.05 % of the run (worldcup98: minutes in 87 days).
        assert!(
            m.slo_violation_s <= 5e-4 * m.duration_s,
            "{scenario}: {} s of violation in {} s",
            m.slo_violation_s,
            m.duration_s
        );
    }
}

#[test]
fn slo_stays_within_30_percent_of_ideal_demand_where_the_plant_can() {
    for scenario in REACHABLE {
        let run = get(scenario, "slo");
        let over = over_ideal(run);
        assert!(
            over <= 0.30,
            "{scenario}: {:.1} task-hours, {:.0} % over the ideal {:.1}",
            run.summary.task_hours,
            100.0 * over,
            run.ideal_task_hours
        );
    }
}

#[test]
fn slo_flips_at_least_five_times_less_than_target_on_worldcup98() {
    let slo = get("worldcup98", "slo").summary.direction_flips;
    let target = get("worldcup98", "target").summary.direction_flips;
    assert!(5 * slo <= target, "slo {slo} flips, target {target}");
}

#[test]
fn no_worse_where_the_goal_is_out_of_reach() {
    for scenario in ["spike", "bursts"] {
        let slo = &get(scenario, "slo").summary;
        let target = &get(scenario, "target").summary;
        assert!(
            slo.wait_p99_s <= target.wait_p99_s,
            "{scenario}: slo p99 {} s, target {} s",
            slo.wait_p99_s,
            target.wait_p99_s
        );
        for (label, _) in BASELINES {
            let other = &get(scenario, label).summary;
            assert!(
                slo.task_hours < other.task_hours,
                "{scenario}: slo {} task-hours, {label} {}",
                slo.task_hours,
                other.task_hours
            );
        }
    }
}

#[test]
fn the_forecast_costs_at_most_5_percent_and_never_adds_violation() {
    for (scenario, _) in FORECASTS {
        let slo = &get(scenario, "slo").summary;
        let forecast = &get(scenario, "slo+forecast").summary;
        assert!(
            forecast.task_hours <= 1.05 * slo.task_hours,
            "{scenario}: {} task-hours with the forecast, {} without",
            forecast.task_hours,
            slo.task_hours
        );
        assert!(
            forecast.slo_violation_s <= slo.slo_violation_s
                && forecast.wait_p99_s <= slo.wait_p99_s,
            "{scenario}: with the forecast {} s violated, p99 {} s; without {} s, {} s",
            forecast.slo_violation_s,
            forecast.wait_p99_s,
            slo.slo_violation_s,
            slo.wait_p99_s
        );
    }
}

#[test]
fn the_forecast_cuts_violation_on_a_daily_rush_for_under_5_percent() {
    let slo = &get("daily-rush", "slo").summary;
    let forecast = &get("daily-rush", "slo+forecast").summary;
    assert!(
        forecast.slo_violation_s <= 0.67 * slo.slo_violation_s,
        "violation: {} s with the forecast, {} s without",
        forecast.slo_violation_s,
        slo.slo_violation_s
    );
    assert!(forecast.task_hours <= 1.05 * slo.task_hours);
}
