//! A backtest from scenario file to written results: load, override, prepare, simulate, write.

use std::path::{Path, PathBuf};

use stepscale_engine::Config;

use crate::arrivals::Micros;
use crate::model::{Outcome, Prepared, RowSink};
use crate::output::OutputError;
use crate::rng::SimRng;
use crate::scenario::{Fidelity, Scenario, ScenarioError};
use crate::staged::{OutputRules, StagedDir};
use crate::summary::{summarize, Meta, Summary};
use crate::timefmt::{self, TimeFormat};
use crate::trace::{TraceError, TraceSpec};

/// Command-line overrides of a scenario.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Replace the trace file.
    pub trace: Option<PathBuf>,
    /// Replace the time column name.
    pub time_column: Option<String>,
    /// Replace the value column name.
    pub value_column: Option<String>,
    /// Read the trace as one row per message, whatever value column the scenario names (an
    /// arrivals log replacing a calibrated scenario's counts).
    pub one_row_per_message: bool,
    /// Force a time format.
    pub time_format: Option<TimeFormat>,
    /// Multiply counts.
    pub scale: Option<f64>,
    /// Replace the policy.
    pub policy: Option<PathBuf>,
    /// Replace the fidelity.
    pub fidelity: Option<Fidelity>,
    /// Replace the seed.
    pub seed: Option<u64>,
    /// Time-series resolution in seconds (default: the controller period).
    pub resolution_secs: Option<f64>,
}

/// Why a backtest could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BacktestError {
    /// The scenario or its policy is unusable.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The trace is unusable.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// Results could not be written.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// A summary figure came out as no number (an overflow).
    #[error("the run overflowed: `{key}` in summary.json is not a finite number; lower the trace's counts (--scale) or the rates, and check the scenario's numbers")]
    NotFinite {
        /// The summary key.
        key: String,
    },
    /// A command-line value is unusable.
    #[error("{flag} = {value}: {rule}")]
    Flag {
        /// The flag.
        flag: &'static str,
        /// Its value.
        value: String,
        /// The rule.
        rule: String,
    },
}

/// The files one backtest writes.
#[derive(Debug, Clone)]
pub struct OutputFiles {
    /// `summary.json`.
    pub summary: PathBuf,
    /// `timeseries.csv`.
    pub csv: PathBuf,
    /// `plot.png`.
    pub png: PathBuf,
    /// `plot.svg`.
    pub svg: PathBuf,
}

impl OutputFiles {
    /// The files in `staged`, each name after `prefix` (`""`, or `"orders."` beside other
    /// services' files).
    pub fn in_staging(staged: &mut StagedDir, prefix: &str) -> Self {
        Self {
            summary: staged.path(&format!("{prefix}summary.json")),
            csv: staged.path(&format!("{prefix}timeseries.csv")),
            png: staged.path(&format!("{prefix}plot.png")),
            svg: staged.path(&format!("{prefix}plot.svg")),
        }
    }
}

/// A scenario ready to simulate.
#[derive(Debug, Clone)]
pub struct Backtest {
    /// The scenario as loaded and overridden.
    pub scenario: Scenario,
    /// The policy configuration.
    pub config: Config,
    /// The prepared run.
    pub prepared: Prepared,
    /// The scenario file.
    pub path: PathBuf,
    /// The trace file's name when `--trace` replaced the scenario's arrivals.
    pub trace_name: Option<String>,
}

/// The limits that need the policy and the arrivals: tasks, fleet slots, discrete messages and
/// output rows.
pub(crate) fn check_run_limits(
    scenario: &Scenario,
    config: &Config,
    arrivals: &crate::arrivals::Arrivals,
    resolution_secs: f64,
    path: &Path,
) -> Result<(), BacktestError> {
    use crate::limits as l;
    let over = |key: &str, value: String, limit: String| {
        BacktestError::Scenario(ScenarioError::Invalid {
            path: path.to_path_buf(),
            key: key.into(),
            value,
            rule: format!("must be at most {limit} (a documented limit)"),
        })
    };
    let max_tasks = config.guards.max_tasks;
    if max_tasks > l::MAX_TASKS {
        return Err(over(
            "guards.max_tasks",
            max_tasks.to_string(),
            l::MAX_TASKS.to_string(),
        ));
    }
    let slots = u64::from(max_tasks.max(scenario.plant.initial_tasks.unwrap_or(0)))
        * u64::from(scenario.plant.concurrency);
    if slots > l::MAX_SLOTS {
        return Err(over(
            "guards.max_tasks × plant.concurrency",
            slots.to_string(),
            format!("{} message slots", l::MAX_SLOTS),
        ));
    }
    let expected = match &arrivals.kind {
        crate::arrivals::ArrivalKind::Synthetic(s) if scenario.fidelity == Fidelity::Discrete => (0
            ..s.seconds)
            .map(|t| {
                s.generators
                    .iter()
                    .map(|g| g.rate_at(t as f64 + 0.5))
                    .sum::<f64>()
            })
            .sum(),
        _ if scenario.fidelity == Fidelity::Discrete => arrivals.total(),
        _ => 0.0,
    };
    if expected > l::MAX_DISCRETE_MESSAGES {
        return Err(over(
            "fidelity = \"discrete\"",
            format!("{expected:.0} messages"),
            format!(
                "{:e} messages simulated one by one; use fidelity = \"fluid\" for this trace",
                l::MAX_DISCRETE_MESSAGES
            ),
        ));
    }
    let span_s =
        (arrivals.end_us() - arrivals.start_us) as f64 / 1e6 + scenario.drain_limit_secs as f64;
    let rows = span_s / resolution_secs;
    if rows > l::MAX_ROWS as f64 {
        return Err(BacktestError::Flag {
            flag: "--resolution",
            value: resolution_secs.to_string(),
            rule: format!(
                "gives {rows:.0} time-series rows over {span_s:.0} s; at most {} rows: choose a coarser resolution",
                l::MAX_ROWS
            ),
        });
    }
    Ok(())
}

/// Default start of synthetic arrivals: a Monday.
const DEFAULT_START: &str = "2026-01-05T00:00:00Z";

impl Backtest {
    /// Loads `path`, applies `o`, reads the trace or generates arrivals.
    pub fn prepare(path: &Path, o: &Overrides) -> Result<Self, BacktestError> {
        let mut scenario = Scenario::load(path)?;
        if let Some(trace) = &o.trace {
            let spec = scenario.arrivals.trace.get_or_insert_with(|| TraceSpec {
                path: trace.clone(),
                time_column: "time".into(),
                value_column: None,
                time_format: TimeFormat::Auto,
                scale: 1.0,
            });
            spec.path.clone_from(trace);
            scenario.arrivals.synthetic.clear();
        }
        if let Some(spec) = &mut scenario.arrivals.trace {
            if let Some(c) = &o.time_column {
                spec.time_column.clone_from(c);
            }
            if let Some(c) = &o.value_column {
                spec.value_column = Some(c.clone());
            }
            if o.one_row_per_message {
                spec.value_column = None;
                spec.scale = 1.0;
            }
            if let Some(f) = o.time_format {
                spec.time_format = f;
            }
            if let Some(s) = o.scale {
                spec.scale = s;
            }
        }
        if o.scale.is_some() && scenario.arrivals.trace.is_none() {
            return Err(BacktestError::Flag {
                flag: "--scale",
                value: o.scale.map(crate::limits::show).unwrap_or_default(),
                rule: "multiplies a trace's counts, and this scenario's arrivals are synthetic: change the generators' rates, or give --trace".into(),
            });
        }
        if let Some(f) = o.fidelity {
            scenario.fidelity = f;
        }
        if let Some(s) = o.seed {
            scenario.seed = s;
        }
        if let Some(policy) = &o.policy {
            scenario.policy_file = Some(policy.clone());
            scenario.scaler = None;
        }
        scenario.validate(path)?;
        let config = scenario.scaler_config(path)?;
        scenario.check_policy_periods(path, &config.policy)?;
        let arrivals = if let Some(spec) = &scenario.arrivals.trace {
            crate::trace::read(spec)?
        } else {
            let start = scenario.start.as_deref().unwrap_or(DEFAULT_START);
            let start_us = timefmt::parse(start, TimeFormat::DateTime).map_err(|rule| {
                ScenarioError::Invalid {
                    path: path.to_path_buf(),
                    key: "start".into(),
                    value: start.into(),
                    rule,
                }
            })?;
            // Generated as the run reaches each second: memory does not grow with the duration.
            crate::arrivals::Arrivals {
                start_us,
                kind: crate::arrivals::ArrivalKind::Synthetic(crate::arrivals::SynthSpec {
                    generators: scenario.arrivals.synthetic.clone(),
                    poisson: scenario.arrivals.poisson,
                    rng: SimRng::new(scenario.seed).fork(5),
                    seconds: scenario.duration_secs.unwrap_or(0),
                }),
            }
        };
        let resolution_secs = o.resolution_secs.unwrap_or(scenario.controller.period_secs);
        if !(resolution_secs.is_finite()
            && (0.001..=crate::limits::MAX_DELAY_SECS).contains(&resolution_secs))
        {
            return Err(BacktestError::Flag {
                flag: "--resolution",
                value: crate::limits::show(resolution_secs),
                rule: "must be between 0.001 and 86400 seconds".into(),
            });
        }
        let start_us = arrivals.start_us;
        let arrivals_end_us = arrivals.end_us();
        let g = &config.guards;
        check_run_limits(&scenario, &config, &arrivals, resolution_secs, path)?;
        let prepared = Prepared {
            start_us,
            arrivals_end_us,
            hard_end_us: arrivals_end_us
                .saturating_add((scenario.drain_limit_secs as Micros).saturating_mul(1_000_000)),
            step_us: scenario.step_ms as Micros * 1000,
            resolution_us: (resolution_secs * 1e6).round() as Micros,
            plant: scenario.plant.clone(),
            schedule: scenario.controller.clone(),
            initial_tasks: scenario.plant.initial_tasks.unwrap_or(g.min_tasks),
            slo_us: (scenario.slo.wait_secs * 1e6).round() as Micros,
            seed: scenario.seed,
            read_times_us: None,
            keep_ticks: false,
            keep_completions: false,
            fluid_every_step: false,
            lockstep: None,
            shadows: Vec::new(),
            tick_times_us: None,
            arrivals,
        };
        Ok(Self {
            scenario,
            config,
            prepared,
            path: path.to_path_buf(),
            trace_name: o.trace.as_ref().map(|t| {
                t.file_name().map_or_else(
                    || t.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                )
            }),
        })
    }

    /// Runs the simulation and summarizes it.
    #[must_use]
    pub fn simulate(&self) -> (Outcome, Summary) {
        self.simulate_with(&self.prepared, &self.config)
    }

    /// Runs `prepared` (this scenario's plant, another span or seed) under `config`, keeping
    /// the rows in memory.
    #[must_use]
    pub fn simulate_with(&self, prepared: &Prepared, config: &Config) -> (Outcome, Summary) {
        self.simulate_into(prepared, config, RowSink::Keep)
    }

    /// Runs `prepared` under `config`, sending the rows to `sink`.
    #[must_use]
    pub fn simulate_into(
        &self,
        prepared: &Prepared,
        config: &Config,
        sink: RowSink,
    ) -> (Outcome, Summary) {
        let controller = config.controller();
        // A reference policy (AWS, KEDA) runs on its own clock, not StepScale's schedule.
        let own;
        let prepared = match crate::reference::run_at_cadence(prepared, &config.policy) {
            Some(p) => {
                own = p;
                &own
            }
            None => prepared,
        };
        let outcome = match self.scenario.fidelity {
            Fidelity::Fluid => crate::fluid::run(prepared, &controller, sink),
            Fidelity::Discrete => crate::discrete::run(prepared, &controller, sink),
        };
        let summary = summarize(
            &outcome,
            &Meta {
                scenario: &self.scenario.name,
                trace: self.trace_name.as_deref(),
                policy: config.policy.kind(),
                fidelity: match self.scenario.fidelity {
                    Fidelity::Fluid => "fluid",
                    Fidelity::Discrete => "discrete",
                },
                seed: prepared.seed,
                start_us: prepared.start_us,
                slo_wait_s: self.scenario.slo.wait_secs,
                task_hour_usd: self.scenario.cost.task_hour_usd,
            },
        );
        (outcome, summary)
    }

    /// The files this backtest reads: the scenario, its trace and its policy file.
    #[must_use]
    pub fn inputs(&self) -> Vec<PathBuf> {
        let mut v = vec![self.path.clone()];
        if let Some(t) = &self.scenario.arrivals.trace {
            v.push(t.path.clone());
        }
        if let Some(p) = &self.scenario.policy_file {
            v.push(p.clone());
        }
        v
    }

    /// Simulates and writes `summary.json`, `timeseries.csv` (streamed to disk as the rows are
    /// made), `plot.png` and `plot.svg` into `dir`, all or nothing, under the output rules
    /// (`force`; the inputs are added here). Memory does not grow with the number of rows.
    pub fn run_and_write(&self, dir: &Path, force: bool) -> Result<Summary, BacktestError> {
        self.run_and_write_with(dir, force, false)
    }

    /// [`Self::run_and_write`], with a fourth plot panel of the cumulative cost when
    /// `plot_cost` is set.
    pub fn run_and_write_with(
        &self,
        dir: &Path,
        force: bool,
        plot_cost: bool,
    ) -> Result<Summary, BacktestError> {
        let rules = OutputRules {
            force,
            inputs: self.inputs(),
        };
        let mut staged = StagedDir::new(dir, "backtest", &rules)?;
        let files = OutputFiles::in_staging(&mut staged, "");
        let (_, summary) = self.run_to_files(&self.prepared, &files, plot_cost)?;
        staged.commit()?;
        Ok(summary)
    }

    /// Simulates `prepared` and writes its files (`files.summary` included), streaming the
    /// rows to `files.csv`; the outcome comes back without its rows.
    pub fn run_to_files(
        &self,
        prepared: &Prepared,
        files: &OutputFiles,
        plot_cost: bool,
    ) -> Result<(Outcome, Summary), BacktestError> {
        let csv_path = &files.csv;
        let file = std::fs::File::create(csv_path).map_err(|cause| OutputError::Io {
            action: "creating",
            path: csv_path.clone(),
            cause,
        })?;
        let sink = RowSink::Csv(Box::new(std::io::BufWriter::with_capacity(1 << 16, file)));
        let (outcome, summary) = self.simulate_into(prepared, &self.config, sink);
        if let Some(detail) = &outcome.write_error {
            return Err(OutputError::Io {
                action: "writing",
                path: csv_path.clone(),
                cause: std::io::Error::other(detail.clone()),
            }
            .into());
        }
        if let Some(key) = summary.non_finite() {
            return Err(BacktestError::NotFinite { key });
        }
        let mut json = serde_json::to_string_pretty(&summary).unwrap_or_default();
        json.push('\n');
        std::fs::write(&files.summary, json.as_bytes()).map_err(|cause| OutputError::Io {
            action: "writing",
            path: files.summary.clone(),
            cause,
        })?;
        let title = format!(
            "{} — {} policy, {} mode: p99 wait {:.1} s, {:.1} task-hours",
            summary.name(),
            summary.policy,
            summary.fidelity,
            summary.wait_p99_s,
            summary.task_hours
        );
        crate::plot::write_backtest(
            &files.png,
            &files.svg,
            &title,
            &outcome.envelope,
            prepared.start_us,
            prepared.resolution_us as f64 / 1e6,
            self.scenario.slo.wait_secs,
            plot_cost.then_some(self.scenario.cost.task_hour_usd),
        )?;
        Ok((outcome, summary))
    }
}
