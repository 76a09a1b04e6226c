//! `stepscale backtest` and `stepscale compare`: replay a scenario under a policy (or several).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use stepscale_sim::output::StagedDir;
use stepscale_sim::timefmt::TimeFormat;
use stepscale_sim::{Backtest, Fidelity, Overrides};

/// Scenario options shared by `backtest` and `compare`.
#[derive(Debug, clap::Args)]
pub struct ScenarioArgs {
    /// Scenario file (TOML).
    #[arg(long)]
    scenario: PathBuf,
    /// Replace the scenario's arrivals with this CSV trace.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Name of the trace's time column.
    #[arg(long)]
    time_column: Option<String>,
    /// Name of the trace's count column (omitted: each row is one arrival).
    #[arg(long)]
    value_column: Option<String>,
    /// Force the time format: date-time or epoch-seconds (default: auto-detected).
    #[arg(long, value_parser = parse_time_format)]
    time_format: Option<TimeFormat>,
    /// Multiply counts (requests to messages).
    #[arg(long)]
    scale: Option<f64>,
    /// fluid or discrete (default: the scenario's).
    #[arg(long, value_parser = parse_fidelity)]
    fidelity: Option<Fidelity>,
    /// Override the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Time-series resolution in seconds (default: the controller period).
    #[arg(long)]
    resolution: Option<f64>,
    /// Output folder (replaced whole on success, untouched on failure).
    #[arg(long)]
    out: PathBuf,
}

/// Arguments of `stepscale backtest`.
#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// Policy file replacing the scenario's.
    #[arg(long)]
    policy: Option<PathBuf>,
}

/// Arguments of `stepscale compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// Policy files to compare (two or more); the scenario's own policy is included when
    /// fewer than two are given.
    #[arg(long = "policy", required = true)]
    policies: Vec<PathBuf>,
}

fn parse_time_format(s: &str) -> Result<TimeFormat, String> {
    match s {
        "auto" => Ok(TimeFormat::Auto),
        "date-time" | "datetime" | "rfc3339" => Ok(TimeFormat::DateTime),
        "epoch-seconds" | "epoch" => Ok(TimeFormat::EpochSeconds),
        _ => Err(format!("{s:?}: expected auto, date-time or epoch-seconds")),
    }
}

fn parse_fidelity(s: &str) -> Result<Fidelity, String> {
    match s {
        "fluid" => Ok(Fidelity::Fluid),
        "discrete" => Ok(Fidelity::Discrete),
        _ => Err(format!("{s:?}: expected fluid or discrete")),
    }
}

impl ScenarioArgs {
    fn overrides(&self, policy: Option<PathBuf>) -> Overrides {
        Overrides {
            trace: self.trace.clone(),
            time_column: self.time_column.clone(),
            value_column: self.value_column.clone(),
            time_format: self.time_format,
            scale: self.scale,
            policy,
            fidelity: self.fidelity,
            seed: self.seed,
            resolution_secs: self.resolution,
        }
    }
}

/// Runs `backtest`.
pub fn run(args: &BacktestArgs) -> anyhow::Result<ExitCode> {
    let s = &args.scenario;
    let backtest = Backtest::prepare(&s.scenario, &s.overrides(args.policy.clone()))?;
    let (outcome, summary) = backtest.simulate();
    backtest.write(&s.out, &outcome, &summary)?;
    println!("{}", summary.human());
    println!(
        "  wrote {}/{{summary.json,timeseries.csv,plot.png,plot.svg}}",
        s.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `compare`.
pub fn compare(args: &CompareArgs) -> anyhow::Result<ExitCode> {
    let s = &args.scenario;
    let mut runs = Vec::new();
    let mut table = String::from(
        "policy,kind,wait_p50_s,wait_p99_s,wait_max_s,slo_violation_s,task_hours,cost_usd,scale_out_actions,scale_in_actions,direction_flips\n",
    );
    let mut start_us = 0;
    let mut title = String::new();
    for policy in &args.policies {
        let backtest = Backtest::prepare(&s.scenario, &s.overrides(Some(policy.clone())))?;
        let (outcome, summary) = backtest.simulate();
        let name = policy.file_stem().map_or_else(
            || policy.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let _ = writeln!(
            table,
            "{name},{},{},{},{},{},{},{},{},{},{}",
            summary.policy,
            summary.wait_p50_s,
            summary.wait_p99_s,
            summary.wait_max_s,
            summary.slo_violation_s,
            summary.task_hours,
            summary.cost_usd,
            summary.scale_out_actions,
            summary.scale_in_actions,
            summary.direction_flips
        );
        start_us = backtest.prepared.start_us;
        title = format!("{}: policies compared", summary.scenario);
        runs.push((name, outcome.rows));
    }
    let staged = StagedDir::new(&s.out)?;
    staged.write("compare.csv", table.as_bytes())?;
    stepscale_sim::plot::write_compare(
        &staged.path("compare.png"),
        &staged.path("compare.svg"),
        &title,
        &runs,
        start_us,
    )?;
    staged.commit().context("writing the comparison")?;
    print!("{}", render_table(&table));
    println!(
        "wrote {}/{{compare.csv,compare.png,compare.svg}}",
        s.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Aligns a CSV table into columns for the terminal.
fn render_table(csv: &str) -> String {
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.len()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in &rows {
        for (c, cell) in r.iter().enumerate() {
            let _ = write!(out, "{cell:>w$}  ", w = widths[c]);
        }
        out.push('\n');
    }
    out
}
