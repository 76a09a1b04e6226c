//! `stepscale backtest` and `stepscale compare`: replay a scenario under a policy (or several).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use stepscale_sim::reference::{self, Reference};
use stepscale_sim::staged::{OutputRules, StagedDir};
use stepscale_sim::timefmt::TimeFormat;
use stepscale_sim::{Backtest, Fidelity, Overrides};

/// Scenario options shared by `backtest` and `compare`.
#[derive(Debug, clap::Args)]
pub struct ScenarioArgs {
    /// Scenario file (TOML).
    #[arg(long)]
    pub(crate) scenario: PathBuf,
    /// Replace the scenario's arrivals with this CSV trace.
    #[arg(long)]
    pub(crate) trace: Option<PathBuf>,
    /// Name of the trace's time column.
    #[arg(long)]
    pub(crate) time_column: Option<String>,
    /// Name of the trace's count column (omitted: each row is one arrival).
    #[arg(long)]
    pub(crate) value_column: Option<String>,
    /// Force the time format: date-time or epoch-seconds (`_` works for `-`; default:
    /// auto-detected).
    #[arg(long, value_parser = parse_time_format)]
    pub(crate) time_format: Option<TimeFormat>,
    /// Multiply counts (requests to messages).
    #[arg(long)]
    pub(crate) scale: Option<f64>,
    /// fluid or discrete (default: the scenario's).
    #[arg(long, value_parser = parse_fidelity)]
    pub(crate) fidelity: Option<Fidelity>,
    /// Override the scenario's seed.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Time-series resolution in seconds (default: the controller period).
    #[arg(long)]
    pub(crate) resolution: Option<f64>,
    /// Output folder: new, empty, or one StepScale wrote (replaced whole on success, untouched
    /// on failure). Never a folder holding the scenario, trace or policy.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Replace `--out` even when it is a file or a folder StepScale did not write.
    #[arg(long)]
    pub(crate) force: bool,
}

/// Arguments of `stepscale backtest`.
#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// Policy file replacing the scenario's.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Add a fourth plot panel: the cost so far, at the scenario's price per task-hour.
    #[arg(long)]
    plot_cost: bool,
}

/// Arguments of `stepscale compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    #[command(flatten)]
    scenario: ScenarioArgs,
    /// Policy files to compare (two or more); the scenario's own policy is included when
    /// fewer than two are given.
    #[arg(long = "policy", required_unless_present = "against")]
    policies: Vec<PathBuf>,
    /// Add what AWS or KEDA would do: `aws` (target tracking and step scaling), `keda`, and
    /// StepScale's own `slo` untuned (`all`: every one), or a kind's name, comma-separated.
    /// Each runs at its documented defaults with the scenario's per-task target (or wait goal)
    /// and task bounds, a reference at its own cadence; its policy file is written beside the
    /// table.
    #[arg(long, value_parser = parse_against)]
    against: Option<Against>,
}

/// The `--against` list, parsed.
#[derive(Debug, Clone)]
struct Against(Vec<Reference>);

fn parse_against(s: &str) -> Result<Against, String> {
    Reference::parse_list(s).map(Against)
}

fn parse_time_format(s: &str) -> Result<TimeFormat, String> {
    match s.replace('_', "-").as_str() {
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
    /// The first flag given that changes one scenario (a services file refuses them: each
    /// belongs in the scenario of the service it is for).
    pub(crate) fn one_scenario_flag(&self) -> Option<&'static str> {
        [
            ("--trace", self.trace.is_some()),
            ("--time-column", self.time_column.is_some()),
            ("--value-column", self.value_column.is_some()),
            ("--time-format", self.time_format.is_some()),
            ("--scale", self.scale.is_some()),
            ("--fidelity", self.fidelity.is_some()),
            ("--resolution", self.resolution.is_some()),
        ]
        .into_iter()
        .find(|(_, given)| *given)
        .map(|(flag, _)| flag)
    }

    pub(crate) fn overrides(&self, policy: Option<PathBuf>) -> Overrides {
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
            one_row_per_message: false,
        }
    }
}

/// Runs `backtest`.
pub fn run(args: &BacktestArgs) -> anyhow::Result<ExitCode> {
    let s = &args.scenario;
    if stepscale_sim::multi::is_services_file(&s.scenario) {
        return run_services(args);
    }
    let backtest = Backtest::prepare(&s.scenario, &s.overrides(args.policy.clone()))?;
    // `run_and_write` checks `--out` before it simulates.
    let summary = backtest.run_and_write_with(&s.out, s.force, args.plot_cost)?;
    println!("{}", summary.human());
    println!(
        "  wrote {}/{{summary.json,timeseries.csv,plot.png,plot.svg}}",
        s.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `backtest` on a services file: every service, its budgets and pipelines, as one.
fn run_services(args: &BacktestArgs) -> anyhow::Result<ExitCode> {
    let s = &args.scenario;
    let own = [
        ("--policy", args.policy.is_some()),
        ("--plot-cost", args.plot_cost),
    ];
    let flag = s
        .one_scenario_flag()
        .or_else(|| own.iter().find(|(_, given)| *given).map(|(f, _)| *f));
    if let Some(flag) = flag {
        anyhow::bail!(
            "{flag} applies to one scenario, and {} is a services file ([[services]]): set it in the scenario of the service it is for",
            s.scenario.display()
        );
    }
    let multi = stepscale_sim::multi::MultiBacktest::prepare(&s.scenario, s.seed)?;
    let summary = multi.run_and_write(&s.out, s.force)?;
    println!("{}", summary.human());
    println!(
        "  wrote {}/{{summary.json,SERVICE.summary.json,SERVICE.timeseries.csv,SERVICE.plot.png,SERVICE.plot.svg}}",
        s.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `compare`.
pub fn compare(args: &CompareArgs) -> anyhow::Result<ExitCode> {
    let s = &args.scenario;
    let mut runs = Vec::new();
    let mut table = String::from(
        "policy,kind,wait_p50_s,wait_p99_s,wait_max_s,slo_violation_s,task_hours,cost_usd,scale_out_actions,scale_in_actions,direction_flips,reaction_mean_s\n",
    );
    let mut start_us = 0;
    let mut slo_s = 0.0;
    let mut price = 0.0;
    let mut title = String::new();
    let mut rules = OutputRules {
        force: s.force,
        inputs: args.policies.clone(),
    };
    // Fewer than two policies: the scenario's own is compared too, as `--help` says.
    let mut candidates: Vec<Option<&PathBuf>> = args.policies.iter().map(Some).collect();
    if candidates.len() < 2 {
        candidates.insert(0, None);
    }
    let mut prepared = Vec::new();
    for policy in candidates {
        let backtest = Backtest::prepare(&s.scenario, &s.overrides(policy.cloned()))?;
        rules.inputs.extend(backtest.inputs());
        let name = policy.map_or_else(
            || "scenario".to_string(),
            |p| {
                p.file_stem().map_or_else(
                    || p.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                )
            },
        );
        prepared.push((name, backtest));
    }
    let mut files = Vec::new();
    for kind in args.against.iter().flat_map(|a| &a.0) {
        let (name, backtest, file) = with_reference(s, *kind)?;
        files.push((format!("{name}.toml"), file));
        prepared.push((name, backtest));
    }
    // Refused before any simulation runs.
    stepscale_sim::staged::check_target(&s.out, &rules)?;
    for (name, backtest) in prepared {
        let (outcome, summary) = backtest.simulate_into(
            &backtest.prepared,
            &backtest.config,
            stepscale_sim::model::RowSink::Discard,
        );
        if let Some(key) = summary.non_finite() {
            return Err(stepscale_sim::BacktestError::NotFinite { key }.into());
        }
        let _ = writeln!(
            table,
            "{name},{},{},{},{},{},{},{},{},{},{},{}",
            summary.policy,
            summary.wait_p50_s,
            summary.wait_p99_s,
            summary.wait_max_s,
            summary.slo_violation_s,
            summary.task_hours,
            summary.cost_usd,
            summary.scale_out_actions,
            summary.scale_in_actions,
            summary.direction_flips,
            summary.reaction_mean_s
        );
        start_us = backtest.prepared.start_us;
        slo_s = backtest.scenario.slo.wait_secs;
        price = backtest.scenario.cost.task_hour_usd;
        title = format!("{}: policies compared", summary.name());
        runs.push((name, outcome.envelope));
    }
    let mut staged = StagedDir::new(&s.out, "compare", &rules)?;
    staged.write("compare.csv", table.as_bytes())?;
    for (file, body) in &files {
        staged.write(file, body.as_bytes())?;
    }
    let png = staged.path("compare.png");
    let svg = staged.path("compare.svg");
    stepscale_sim::plot::write_compare(&png, &svg, &title, &runs, start_us, slo_s, price)?;
    staged.commit().context("writing the comparison")?;
    print!("{}", render_table(&table));
    let extra: String = files
        .iter()
        .map(|(f, _)| [",", f.as_str()].concat())
        .collect();
    println!(
        "wrote {}/{{compare.csv,compare.png,compare.svg{extra}}}",
        s.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The scenario under the reference policy `kind`, derived from it (same per-task target and
/// task bounds; the simulator runs it at its own cadence), with its policy file's text.
fn with_reference(s: &ScenarioArgs, kind: Reference) -> anyhow::Result<(String, Backtest, String)> {
    let mut backtest = Backtest::prepare(&s.scenario, &s.overrides(None))?;
    backtest.config = reference::config(kind, &backtest.scenario, &backtest.config);
    let target = reference::per_task_target(&backtest.scenario);
    let c = &backtest.config;
    let file = reference::policy_file(kind, target, &c.guards, &c.policy)
        .context("rendering a reference policy file")?;
    Ok((kind.name().to_string(), backtest, file))
}

/// Aligns a CSV table into columns for the terminal: text to the left, numbers to the right,
/// a column with any fraction shown with two decimals throughout (the CSV keeps full
/// precision).
fn render_table(csv: &str) -> String {
    let cells: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    let cols = cells.first().map_or(0, Vec::len);
    let body = cells.get(1..).unwrap_or_default();
    let numeric: Vec<bool> = (0..cols)
        .map(|c| {
            body.iter()
                .all(|r| r.get(c).is_some_and(|s| s.parse::<f64>().is_ok()))
        })
        .collect();
    let fractional: Vec<bool> = (0..cols)
        .map(|c| {
            numeric[c]
                && body
                    .iter()
                    .any(|r| r.get(c).is_some_and(|s| s.contains('.')))
        })
        .collect();
    let rows: Vec<Vec<String>> = cells
        .iter()
        .enumerate()
        .map(|(i, r)| {
            r.iter()
                .enumerate()
                .map(|(c, cell)| match cell.parse::<f64>() {
                    Ok(v) if i > 0 && fractional.get(c) == Some(&true) => format!("{v:.2}"),
                    _ => (*cell).to_string(),
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            let w = widths.get(c).copied().unwrap_or(0);
            if c > 0 {
                line.push_str("  ");
            }
            if numeric.get(c) == Some(&true) {
                let _ = write!(line, "{cell:>w$}");
            } else {
                let _ = write!(line, "{cell:<w$}");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{parse_time_format, render_table};
    use stepscale_sim::timefmt::TimeFormat;

    #[test]
    fn time_formats_accept_dashes_and_underscores() {
        for (s, f) in [
            ("epoch-seconds", TimeFormat::EpochSeconds),
            ("epoch_seconds", TimeFormat::EpochSeconds),
            ("date-time", TimeFormat::DateTime),
            ("date_time", TimeFormat::DateTime),
            ("auto", TimeFormat::Auto),
        ] {
            assert_eq!(parse_time_format(s), Ok(f), "{s}");
        }
        assert!(parse_time_format("epochs").is_err());
    }

    #[test]
    fn table_is_aligned_and_rounded() {
        let t = render_table("policy,kind,p99,flips\ntarget,target,0,282\nslo,slo,1.000191,7\n");
        assert_eq!(
            t,
            "policy  kind     p99  flips\ntarget  target  0.00    282\nslo     slo     1.00      7\n"
        );
    }
}
