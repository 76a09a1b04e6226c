//! `stepscale calibrate`: a scenario fitted from a service's own recorded runs (`stepscale run
//! --record`) or metric history: the arrivals as a trace, the mean service time by Little's
//! law, the start-up delay as a lognormal fitted to the tasks seen starting, the service time's
//! spread and the metric delay where the data show them, each with an interval; what the data
//! cannot tell (concurrency, the SLO, and the spread or delay where they do not show) is taken
//! from the live policy or the command line, or said to be assumed.

pub mod delay;
pub mod fit;
mod history;
mod record;
pub mod spread;

pub use history::{observe_history, History};

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::output::OutputError;
use crate::parity::ParityError;
use crate::policy_file::PolicyFileError;
use crate::staged::{OutputRules, StagedDir};
use fit::{Fitted, Thin};
use record::{arrivals_from_log, median_gap, per_second, read_all};

/// What to calibrate from.
#[derive(Debug, Clone, Default)]
pub struct CalibrateInputs {
    /// Recorded runs (`stepscale run --record`), in time order, each continuing the last.
    pub records: Vec<PathBuf>,
    /// A log of the messages sent, one row per message with a `time` column: the arrivals,
    /// where the record's are estimated (probes that report no arrival rate).
    pub arrivals: Option<PathBuf>,
    /// The live policy the records were made under (its policy and guards go in the scenario).
    pub policy: PathBuf,
    /// Messages one task works on at once, when the policy does not state it.
    pub concurrency: Option<u32>,
    /// The service time's spread as a lognormal σ, when known (else exponential is assumed).
    pub service_sigma: Option<f64>,
    /// The mean service time, seconds, stated instead of fitted (sources without an in-flight
    /// count: Kafka, Kinesis).
    pub service_secs: Option<f64>,
    /// The metric delay of the probes, seconds.
    pub metric_delay_secs: Option<f64>,
    /// The scenario's name.
    pub name: Option<String>,
}

/// Why calibration could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CalibrateError {
    /// A record is unreadable or broken.
    #[error(transparent)]
    Record(#[from] ParityError),
    /// The data are too thin for a fit.
    #[error(transparent)]
    Thin(#[from] Thin),
    /// The policy file.
    #[error(transparent)]
    Policy(#[from] PolicyFileError),
    /// A command-line value, or records that do not fit together.
    #[error("{flag} {value}: {rule}")]
    Input {
        /// The flag or file.
        flag: String,
        /// Its value.
        value: String,
        /// The rule.
        rule: String,
    },
    /// Writing the outputs.
    #[error(transparent)]
    Output(#[from] OutputError),
}

/// What a calibration found and will write.
#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    /// The scenario's name.
    pub name: String,
    /// The records, as given.
    pub records: Vec<String>,
    /// Every fitted parameter.
    pub fitted: Vec<Fitted>,
    /// What was stated, not fitted, and where it came from.
    pub stated: Vec<Stated>,
    /// Warnings about the data.
    pub warnings: Vec<String>,
    /// Per-second arrivals from the first row: (time µs, messages).
    #[serde(skip)]
    pub arrivals: Vec<(i64, f64)>,
    /// The start-up delays seen, seconds.
    #[serde(skip)]
    pub startup_samples: Vec<f64>,
    /// σ of the fitted start-up lognormal.
    #[serde(skip)]
    pub startup_sigma: f64,
    /// Service-time estimates over the run: (time µs, seconds).
    #[serde(skip)]
    pub service_series: Vec<(i64, f64)>,
    /// The mean service time as stated (`--service-secs`), when it was not fitted.
    #[serde(skip)]
    pub service_stated: Option<f64>,
    /// The scenario file's text.
    #[serde(skip)]
    pub scenario_toml: String,
    /// The service time's spread as fitted, with the windows it was fitted on.
    #[serde(skip)]
    pub spread: Option<spread::SpreadFit>,
    /// Why the spread was not fitted (stated, or the data did not give it).
    #[serde(skip)]
    pub spread_note: Option<String>,
}

/// A parameter the record cannot tell: its value and its source.
#[derive(Debug, Clone, Serialize)]
pub struct Stated {
    /// The parameter.
    pub parameter: String,
    /// The value.
    pub value: String,
    /// Where it came from.
    pub source: String,
}

fn input(flag: &str, value: impl std::fmt::Display, rule: impl Into<String>) -> CalibrateError {
    CalibrateError::Input {
        flag: flag.into(),
        value: value.to_string(),
        rule: rule.into(),
    }
}

/// Fits a scenario to `inputs`.
///
/// # Errors
/// Unreadable or broken records, records with gaps, a policy file that does not load, a
/// concurrency nobody states, and data too thin for a fit (naming what is missing).
pub fn calibrate(inputs: &CalibrateInputs) -> Result<Calibration, CalibrateError> {
    let mut ticks = read_all(&inputs.records)?;
    let mut metric_delay = None;
    let arrivals_source = if let Some(log) = &inputs.arrivals {
        arrivals_from_log(&mut ticks, log)?;
        // The completions come from the in-flight count and the mean service time: fitted
        // (Little's law, which the delay does not move) or stated.
        let mean = inputs.service_secs.or_else(|| {
            fit::service_time(&fit::intervals(&ticks))
                .ok()
                .map(|f| f.0.estimate)
        });
        metric_delay = Some(match mean {
            Some(m) => delay::metric_delay(&ticks, m),
            None => Err("no mean service time to tell the completions from".into()),
        });
        format!("the log of messages sent, {}", log.display())
    } else {
        let estimated = ticks.iter().filter(|t| t.arrivals_estimated).count();
        if estimated * 10 > ticks.len() {
            return Err(input(
                "--record",
                inputs.records[0].display(),
                format!(
                    "{estimated} of {} rows have estimated arrivals (arrivals_estimated = true: the probe reports no arrival rate, so the record holds only the rise of the backlog, a lower bound that would make every message look slow): give --arrivals with a log of the messages sent, or record from a probe that reports a rate (SQS, RabbitMQ, SNS)",
                    ticks.len()
                ),
            ));
        }
        "the record's `arrivals` column (the probe's arrival rate × the time between rows)".into()
    };
    let period_us = median_gap(&ticks);
    let names: Vec<String> = inputs
        .records
        .iter()
        .map(|r| {
            r.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        })
        .collect();
    let mut warnings = Vec::new();
    let unread = ticks.iter().filter(|t| t.arrivals.is_none()).count();
    if unread > 0 {
        warnings.push(format!(
            "{unread} rows had no reading: the arrivals over each such gap are spread evenly over it, and its intervals give no service-time sample"
        ));
    }
    build(
        Observed {
            intervals: fit::intervals(&ticks),
            startup_samples: fit::startup_samples(&ticks),
            startup_secs: None,
            arrivals: per_second(&ticks),
            arrivals_source,
            period_us,
            initial_tasks: ticks[0].desired,
            description: format!("{} ({} rows)", names.join(", "), ticks.len()),
            rows: ticks.len(),
            warnings,
            metric_delay,
        },
        inputs,
    )
}

/// What a calibration is fitted to, from recorded rows or from metric history.
#[derive(Debug, Clone)]
pub struct Observed {
    /// Intervals of completions and in-flight work.
    pub intervals: Vec<fit::Interval>,
    /// Start-up delays seen, seconds.
    pub startup_samples: Vec<f64>,
    /// A start-up delay stated instead of fitted, seconds.
    pub startup_secs: Option<f64>,
    /// Arrivals per bin: (start µs, messages); bins of one width.
    pub arrivals: Vec<(i64, f64)>,
    /// Where the arrivals came from.
    pub arrivals_source: String,
    /// The controller's period, µs.
    pub period_us: i64,
    /// Tasks at the start.
    pub initial_tasks: u32,
    /// The data, for the scenario's description.
    pub description: String,
    /// Rows or datapoints read.
    pub rows: usize,
    /// Warnings so far.
    pub warnings: Vec<String>,
    /// The metric delay fitted from a log of the sends, or why not; none without such a log.
    pub metric_delay: Option<Result<delay::DelayFit, String>>,
}

/// Fits the plant to `o` and writes the scenario's text.
///
/// # Errors
/// A policy file that does not load, a concurrency nobody states, bad flags, and data too thin
/// for a fit.
pub fn build(o: Observed, inputs: &CalibrateInputs) -> Result<Calibration, CalibrateError> {
    let Observed {
        intervals,
        startup_samples: samples,
        startup_secs,
        arrivals,
        arrivals_source,
        period_us,
        initial_tasks,
        description,
        rows,
        mut warnings,
        metric_delay,
    } = o;
    let config = crate::policy_file::load(&inputs.policy, &std::collections::BTreeMap::new())?;
    let (concurrency, source) = match (inputs.concurrency, &config.policy) {
        (Some(c), _) if c >= 1 => (c, "--concurrency".to_string()),
        (Some(c), _) => return Err(input("--concurrency", c, "must be at least 1")),
        (None, stepscale_engine::PolicySpec::Slo(p)) => (
            p.concurrency,
            format!("policy.concurrency in {}", inputs.policy.display()),
        ),
        (None, _) => {
            return Err(input(
                "--concurrency",
                "(not given)",
                "neither a record nor metric history tells how many messages one task works on at once, and the policy does not state it (only slo does): give --concurrency N, your worker's setting",
            ))
        }
    };
    if let Some(s) = inputs.service_sigma {
        if !(s.is_finite() && (0.0..=3.0).contains(&s)) {
            return Err(input("--service-sigma", s, "must be between 0 and 3"));
        }
    }
    if let Some(d) = inputs.metric_delay_secs {
        if !(d.is_finite() && (0.0..=3600.0).contains(&d)) {
            return Err(input(
                "--metric-delay-secs",
                d,
                "must be between 0 and 3600",
            ));
        }
    }
    let (service_mean, service_series, service_fit) = match inputs.service_secs {
        Some(secs) if secs.is_finite() && secs > 0.0 && secs <= 3600.0 => (secs, Vec::new(), None),
        Some(secs) => {
            return Err(input(
                "--service-secs",
                secs,
                "must be more than 0 and at most 3600",
            ))
        }
        None => {
            let (fit, series) = fit::service_time(&intervals)?;
            (fit.estimate, series, Some(fit))
        }
    };
    if arrivals.is_empty() {
        // A trace without rows would give a scenario that does not load.
        return Err(Thin {
            parameter: "arrivals".into(),
            detail: format!(
                "no arrivals in {description}: the scenario needs them (a record's rows, or datapoints of the queue's arrivals metric)"
            ),
        }
        .into());
    }
    let mut fitted: Vec<Fitted> = service_fit.into_iter().collect();
    let (startup_line, sigma) = if let Some(secs) = startup_secs {
        if !(secs.is_finite() && (0.0..=3600.0).contains(&secs)) {
            return Err(input("--startup-secs", secs, "must be between 0 and 3600"));
        }
        (format!("{{ kind = \"constant\", secs = {secs} }}"), 0.0)
    } else {
        let ([median, startup_mean], sigma) = fit::startup(&samples, rows)?;
        let unresolved = samples.iter().all(|&s| s <= period_us as f64 / 1e6);
        if !unresolved && period_us as f64 / 1e6 > startup_mean.estimate / 3.0 {
            warnings.push(format!(
                "rows are {:.0} s apart against a start-up of about {:.0} s: each start-up is known only to within a period",
                period_us as f64 / 1e6,
                startup_mean.estimate
            ));
        }
        if unresolved {
            warnings.push(format!(
                "every task ran by the first row after its scale-out: the start-up is shorter than the record's period ({:.1} s) and cannot be resolved from it; record at a shorter period, or state startup in the scenario",
                period_us as f64 / 1e6
            ));
        }
        let line = format!(
            "{{ kind = \"lognormal\", median_secs = {:.3}, sigma = {sigma:.4} }}",
            median.estimate
        );
        fitted.push(median);
        fitted.push(startup_mean);
        (line, sigma)
    };
    let mut stated = vec![
        Stated {
            parameter: "arrivals (trace.csv)".into(),
            value: format!("{:.0} messages", arrivals.iter().map(|a| a.1).sum::<f64>()),
            source: arrivals_source,
        },
        Stated {
            parameter: "plant.concurrency".into(),
            value: concurrency.to_string(),
            source,
        },
        Stated {
            parameter: "plant.startup".into(),
            value: startup_secs.map_or_else(|| "fitted".into(), |s| format!("{s} s, constant")),
            source: if startup_secs.is_some() {
                "--startup-secs".into()
            } else {
                "fitted (above)".into()
            },
        },
        Stated {
            parameter: fit::SERVICE_MEAN.into(),
            value: inputs
                .service_secs
                .map_or_else(|| "fitted".into(), |s| format!("{s} s")),
            source: if inputs.service_secs.is_some() {
                "--service-secs".into()
            } else {
                "fitted (above)".into()
            },
        },
        Stated {
            parameter: "slo.wait_secs".into(),
            value: "60 (a placeholder)".into(),
            source: "your goal: set it in scenario.toml".into(),
        },
    ];
    let mut spread_view = None;
    let mut spread_note = None;
    let service_dist = if let Some(s) = inputs.service_sigma {
        spread_note = Some(format!("stated: lognormal σ {s} (--service-sigma)"));
        let median = service_mean / (s * s / 2.0).exp();
        stated.push(Stated {
            parameter: "plant.service_time (spread)".into(),
            value: format!("lognormal σ = {s}"),
            source: "--service-sigma".into(),
        });
        format!("{{ kind = \"lognormal\", median_secs = {median:.4}, sigma = {s} }}")
    } else {
        match spread::service_sigma(&intervals) {
            Ok(sf) => {
                let s = sf.fitted.estimate;
                let median = service_mean / (s * s / 2.0).exp();
                spread_view = Some(sf.clone());
                fitted.push(sf.fitted);
                format!("{{ kind = \"lognormal\", median_secs = {median:.4}, sigma = {s:.3} }}")
            }
            Err(why) => {
                spread_note = Some(why.clone());
                warnings.push(format!("the service time's spread was not fitted: {why}; exponential (coefficient of variation 1) is assumed; give --service-sigma if you know it"));
                stated.push(Stated {
                    parameter: "plant.service_time (spread)".into(),
                    value: "exponential (CV 1)".into(),
                    source: "assumed: the data did not give the spread".into(),
                });
                format!("{{ kind = \"exponential\", mean_secs = {service_mean:.4} }}")
            }
        }
    };
    let delay_secs = metric_delay_secs(
        inputs.metric_delay_secs,
        metric_delay,
        period_us,
        &mut fitted,
        &mut stated,
    );
    let name = inputs.name.clone().unwrap_or_else(|| "calibrated".into());
    let policy = std::fs::canonicalize(&inputs.policy).unwrap_or_else(|_| inputs.policy.clone());
    let mut toml = String::new();
    let _ = writeln!(
        toml,
        "# Fitted by `stepscale calibrate` from {rows} rows of data; every fitted figure, its interval,\n# its data and its method are in calibration.json."
    );
    let _ = writeln!(toml, "name = {name:?}");
    let _ = writeln!(
        toml,
        "description = {:?}",
        format!("Calibrated from {description}.")
    );
    let _ = writeln!(toml, "seed = 1\nfidelity = \"discrete\"");
    let _ = writeln!(toml, "policy_file = {:?}\n", policy.display().to_string());
    let _ = writeln!(
        toml,
        "[arrivals.trace]\npath = \"trace.csv\"\ntime_column = \"time\"\nvalue_column = \"arrivals\"\n"
    );
    let _ = writeln!(
        toml,
        "[plant]\ninitial_tasks = {initial_tasks}\nconcurrency = {concurrency}\nservice_time = {service_dist}\nstartup = {startup_line}\n"
    );
    let _ = writeln!(
        toml,
        "[controller]\nperiod_secs = {}\nmetric_delay_secs = {}\n",
        period_us as f64 / 1e6,
        delay_secs
    );
    let _ = writeln!(
        toml,
        "[slo]\n# Your goal: the data cannot tell it. 60 s is a placeholder.\nwait_secs = 60"
    );
    Ok(Calibration {
        name,
        records: inputs
            .records
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        fitted,
        stated,
        warnings,
        arrivals,
        startup_samples: samples,
        startup_sigma: sigma,
        service_series,
        service_stated: inputs.service_secs,
        scenario_toml: toml,
        spread: spread_view,
        spread_note,
    })
}

impl Calibration {
    /// The fitted parameter named `parameter`.
    #[must_use]
    pub fn fitted(&self, parameter: &str) -> Option<&Fitted> {
        self.fitted.iter().find(|f| f.parameter == parameter)
    }

    /// Writes `scenario.toml`, `trace.csv`, `calibration.json` and `calibration.png` into
    /// `dir`, all or nothing, under the output rules (`inputs`: the files read).
    ///
    /// # Errors
    /// An unusable `dir`, or a failed write.
    pub fn write(
        &self,
        dir: &Path,
        force: bool,
        inputs: Vec<PathBuf>,
    ) -> Result<(), CalibrateError> {
        let rules = OutputRules { force, inputs };
        let mut staged = StagedDir::new(dir, "calibrate", &rules)?;
        staged.write("scenario.toml", self.scenario_toml.as_bytes())?;
        let mut csv = String::from("time,arrivals\n");
        for (t, a) in &self.arrivals {
            let _ = writeln!(
                csv,
                "{},{a:.6}",
                stepscale_engine::time::rfc3339_millis(t / 1000)
            );
        }
        staged.write("trace.csv", csv.as_bytes())?;
        let mut json = serde_json::to_string_pretty(self).unwrap_or_default();
        json.push('\n');
        staged.write("calibration.json", json.as_bytes())?;
        let png = staged.path("calibration.png");
        crate::plot::write_calibration(
            &png,
            &crate::plot::CalibrationPlot {
                title: format!("{}: each fit against its data", self.name),
                startup_samples: &self.startup_samples,
                startup_fit: (
                    self.fitted(fit::STARTUP_MEDIAN).map_or(0.0, |f| f.estimate),
                    self.startup_sigma,
                ),
                service_series: &self.service_series,
                service_fit: self
                    .fitted(fit::SERVICE_MEAN)
                    .map(|f| (f.estimate, f.interval_90)),
                service_stated: self.service_stated,
                arrivals: &self.arrivals,
                spread: self.spread.as_ref().map(|s| crate::plot::SpreadView {
                    z: &s.z,
                    sigma: s.fitted.estimate,
                    observed: s.observed,
                    fitted: s.fitted_dispersion,
                }),
                spread_note: self.spread_note.as_deref(),
            },
        )?;
        staged.commit()?;
        Ok(())
    }
}

/// The scenario's `controller.metric_delay_secs`: stated, fitted (a delay of half a period or
/// more that the sends explain), or 0, each booked in `fitted` or `stated` with its source.
fn metric_delay_secs(
    stated_secs: Option<f64>,
    fit: Option<Result<delay::DelayFit, String>>,
    period_us: i64,
    fitted: &mut Vec<Fitted>,
    stated: &mut Vec<Stated>,
) -> f64 {
    let mut state = |value: f64, source: String| {
        stated.push(Stated {
            parameter: delay::METRIC_DELAY.into(),
            value: value.to_string(),
            source,
        });
        value
    };
    if let Some(d) = stated_secs {
        return state(d, "--metric-delay-secs".into());
    }
    let half_period = period_us as f64 / 2e6;
    match fit {
        Some(Ok(f)) if f.fitted.estimate >= half_period => {
            let d = (f.fitted.estimate * 100.0).round() / 100.0;
            fitted.push(f.fitted);
            d
        }
        Some(Ok(f)) => state(
            0.0,
            format!(
                "fitted {:.2} s, under half a period: the counts are taken as current",
                f.fitted.estimate
            ),
        ),
        Some(Err(why)) => state(
            0.0,
            format!("not fitted ({why}); --metric-delay-secs states it"),
        ),
        None => state(
            0.0,
            "not fitted: the data have no log of the sends (--record with --arrivals has one), and arrivals a probe or CloudWatch counted are as late as the queue's counts; --metric-delay-secs states it".into(),
        ),
    }
}
