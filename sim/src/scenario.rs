//! The scenario file (TOML): arrivals, plant, controller schedule, policy, fidelity, seed,
//! SLO and price. Every error names the file, the key, the value and the rule.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stepscale_engine::Config;

use crate::dist::Duration;
use crate::synth::Generator;
use crate::trace::TraceSpec;

/// Simulation fidelity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Fidelity {
    /// Counts per time step; FIFO waits from cumulative curves. For long traces and tuning.
    #[default]
    Fluid,
    /// Every message an event; exact FIFO waits.
    Discrete,
}

/// What happens to a task's in-flight messages when it is stopped by a scale-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StopMode {
    /// The task finishes its in-flight messages, then stops (billed until then).
    #[default]
    Drain,
    /// The task stops at once; its in-flight messages reappear after the visibility timeout.
    Requeue,
}

/// Which running tasks a scale-in stops. Pending tasks are always stopped first, newest first,
/// as ECS does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StopOrder {
    /// The task that became ready last goes first.
    #[default]
    Newest,
    /// The task that has run longest goes first.
    Oldest,
    /// Any running task, drawn at random (seeded): a pool whose stopped task is not chosen by
    /// age, busy or idle.
    Random,
}

/// Where arrivals come from: a trace or generators (summed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ArrivalSpec {
    /// A CSV trace.
    pub trace: Option<TraceSpec>,
    /// Synthetic generators, summed.
    pub synthetic: Vec<Generator>,
    /// Draw each second's count from a Poisson distribution around the generators' rate.
    pub poisson: bool,
}

/// The modelled ECS service and its workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Plant {
    /// Tasks running at the start (default: the policy's min_tasks).
    pub initial_tasks: Option<u32>,
    /// Messages one task works on at once.
    pub concurrency: u32,
    /// Time to process one message.
    pub service_time: Duration,
    /// Time from launch to ready (Fargate-like 30-60 s by default).
    pub startup: Duration,
    /// What a scale-in does to in-flight messages.
    pub stop: StopMode,
    /// Which running tasks a scale-in stops.
    pub stop_order: StopOrder,
    /// SQS visibility timeout: when lost in-flight messages reappear.
    pub visibility_timeout_secs: f64,
    /// Task crashes per task-hour (ECS replaces a crashed task).
    pub crash_rate_per_task_hour: f64,
    /// Most task launches per minute (none: unlimited).
    pub launch_rate_per_min: Option<f64>,
}

impl Default for Plant {
    fn default() -> Self {
        Self {
            initial_tasks: None,
            concurrency: 1,
            service_time: Duration::Exponential { mean_secs: 1.0 },
            startup: Duration::Uniform {
                min_secs: 30.0,
                max_secs: 60.0,
            },
            stop: StopMode::Drain,
            stop_order: StopOrder::Newest,
            visibility_timeout_secs: 30.0,
            crash_rate_per_task_hour: 0.0,
            launch_rate_per_min: None,
        }
    }
}

impl Plant {
    /// Messages per second one task completes when busy.
    #[must_use]
    pub fn task_throughput_per_s(&self) -> f64 {
        f64::from(self.concurrency) / self.service_time.mean_secs()
    }
}

/// When the controller runs and what it sees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControllerSpec {
    /// Seconds between decisions (60 like an `EventBridge` schedule; down to 1).
    pub period_secs: f64,
    /// Each decision is late by a uniform draw in [0, jitter).
    pub jitter_secs: f64,
    /// The controller sees the queue as it was this long ago (`CloudWatch` staleness).
    pub metric_delay_secs: f64,
    /// Whether the modelled probe reports the oldest message's age (SQS with `CloudWatch`,
    /// Kinesis and Kafka do; a Redis list, RabbitMQ and SQS without `CloudWatch` do not). Off,
    /// the policy sees no age, as live.
    pub reports_oldest_age: bool,
}

impl Default for ControllerSpec {
    fn default() -> Self {
        Self {
            period_secs: 60.0,
            jitter_secs: 0.0,
            metric_delay_secs: 0.0,
            reports_oldest_age: true,
        }
    }
}

/// The service-level objective used by the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Slo {
    /// The oldest message should not be older than this.
    pub wait_secs: f64,
}

impl Default for Slo {
    fn default() -> Self {
        Self { wait_secs: 60.0 }
    }
}

/// Prices for the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cost {
    /// US dollars per task-hour (default: Fargate 1 vCPU + 2 GB in us-east-1, 0.04937).
    pub task_hour_usd: f64,
}

impl Default for Cost {
    fn default() -> Self {
        Self {
            task_hour_usd: 0.049_37,
        }
    }
}

/// A scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name (used in outputs).
    pub name: String,
    /// What the scenario shows.
    #[serde(default)]
    pub description: String,
    /// The one seed every random draw derives from.
    #[serde(default)]
    pub seed: u64,
    /// Fluid or discrete.
    #[serde(default)]
    pub fidelity: Fidelity,
    /// Fluid time step in milliseconds (default 1000).
    #[serde(default = "default_step_ms")]
    pub step_ms: u64,
    /// Start time of synthetic arrivals (RFC 3339; default 2026-01-05T00:00:00Z).
    #[serde(default)]
    pub start: Option<String>,
    /// Length of synthetic arrivals in seconds (traces use their own span).
    #[serde(default)]
    pub duration_secs: Option<u64>,
    /// After the last arrival, keep simulating until the queue drains, at most this long.
    #[serde(default = "default_drain")]
    pub drain_limit_secs: u64,
    /// Arrivals.
    pub arrivals: ArrivalSpec,
    /// The plant.
    #[serde(default)]
    pub plant: Plant,
    /// The controller schedule.
    #[serde(default)]
    pub controller: ControllerSpec,
    /// A policy file (TOML), relative to the scenario file.
    #[serde(default)]
    pub policy_file: Option<PathBuf>,
    /// An inline policy (the policy file's schema) when there is no `policy_file`.
    #[serde(default)]
    pub scaler: Option<Config>,
    /// The SLO.
    #[serde(default)]
    pub slo: Slo,
    /// Prices.
    #[serde(default)]
    pub cost: Cost,
}

fn default_step_ms() -> u64 {
    1000
}

fn default_drain() -> u64 {
    3600
}

/// Why a scenario cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario {path}: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The file is not valid TOML for the scenario schema.
    #[error("scenario {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message (line, key, expectation).
        message: String,
    },
    /// A value broke a rule.
    #[error("scenario {path}: `{key}` = {value}: {rule}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// The rule.
        rule: String,
    },
    /// The policy file could not be used.
    #[error(transparent)]
    Policy(#[from] crate::policy_file::PolicyFileError),
}

impl Scenario {
    /// Reads a scenario; relative paths inside it are resolved against its folder.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ScenarioError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        let mut scenario: Self = toml::from_str(&text).map_err(|e| ScenarioError::Parse {
            path: path.to_path_buf(),
            message: crate::policy_file::toml_message_in(&e, Some(&text)),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        if let Some(trace) = &mut scenario.arrivals.trace {
            trace.path = base.join(&trace.path);
        }
        if let Some(policy) = &mut scenario.policy_file {
            *policy = base.join(&*policy);
        }
        Ok(scenario)
    }

    /// The scaling configuration: the policy file, else the inline `[scaler]`, else the
    /// v0.2 defaults. The environment is not applied: a backtest is reproducible.
    pub fn scaler_config(&self, path: &Path) -> Result<Config, ScenarioError> {
        if let Some(file) = &self.policy_file {
            return Ok(crate::policy_file::load(file, &BTreeMap::new())?);
        }
        let config = self.scaler.clone().unwrap_or_default();
        config.validate().map_err(|e| ScenarioError::Invalid {
            path: path.to_path_buf(),
            key: "scaler".into(),
            value: String::new(),
            rule: e.to_string(),
        })?;
        Ok(config)
    }

    /// Refuses a StepScale policy with a clock of its own (a step alarm's metric period) when
    /// the controller's period does not divide it: the alarm would see periods without a
    /// decision. Reference policies run at their own cadence and pass.
    pub fn check_policy_periods(
        &self,
        path: &Path,
        policy: &stepscale_engine::PolicySpec,
    ) -> Result<(), ScenarioError> {
        if policy.is_reference() {
            // AWS and KEDA keep their own clocks: the simulator runs them at it.
            return Ok(());
        }
        let c = self.controller.period_secs;
        for (key, secs) in policy.own_periods() {
            let whole = (secs as f64 / c).round();
            if whole < 1.0 || (whole * c - secs as f64).abs() > 1e-9 {
                return Err(ScenarioError::Invalid {
                    path: path.to_path_buf(),
                    key: key.into(),
                    value: secs.to_string(),
                    rule: format!(
                        "must be a whole number (>= 1) of controller periods ({c} s from `controller.period_secs`): set controller.period_secs to {secs} or to a divisor of it"
                    ),
                });
            }
        }
        Ok(())
    }

    /// Checks every rule; `path` is only for the message.
    pub fn validate(&self, path: &Path) -> Result<(), ScenarioError> {
        let bad = |key: &str, value: String, rule: &str| ScenarioError::Invalid {
            path: path.to_path_buf(),
            key: key.into(),
            value,
            rule: rule.into(),
        };
        let p = &self.plant;
        let c = &self.controller;
        if self.step_ms == 0 || self.step_ms > 60_000 {
            return Err(bad(
                "step_ms",
                self.step_ms.to_string(),
                "must be between 1 and 60000",
            ));
        }
        if p.concurrency == 0 {
            return Err(bad(
                "plant.concurrency",
                "0".into(),
                "a task works on at least 1 message at a time",
            ));
        }
        p.service_time
            .validate()
            .map_err(|r| bad("plant.service_time", String::new(), &r))?;
        if p.service_time.mean_secs() <= 0.0 {
            return Err(bad(
                "plant.service_time",
                String::new(),
                "the mean service time must be > 0",
            ));
        }
        p.startup
            .validate()
            .map_err(|r| bad("plant.startup", String::new(), &r))?;
        let nonneg = |x: f64| x.is_finite() && x >= 0.0;
        if !nonneg(p.visibility_timeout_secs) {
            return Err(bad(
                "plant.visibility_timeout_secs",
                p.visibility_timeout_secs.to_string(),
                "must be >= 0",
            ));
        }
        if !nonneg(p.crash_rate_per_task_hour) {
            return Err(bad(
                "plant.crash_rate_per_task_hour",
                p.crash_rate_per_task_hour.to_string(),
                "must be >= 0",
            ));
        }
        if let Some(r) = p.launch_rate_per_min {
            if !(r.is_finite() && r > 0.0) {
                return Err(bad(
                    "plant.launch_rate_per_min",
                    r.to_string(),
                    "must be > 0 (omit it for no limit)",
                ));
            }
        }
        if !(c.period_secs.is_finite() && c.period_secs >= 1.0) {
            return Err(bad(
                "controller.period_secs",
                c.period_secs.to_string(),
                "must be >= 1 second",
            ));
        }
        if !nonneg(c.jitter_secs) || c.jitter_secs >= c.period_secs {
            return Err(bad(
                "controller.jitter_secs",
                c.jitter_secs.to_string(),
                "must be >= 0 and below period_secs",
            ));
        }
        if !nonneg(c.metric_delay_secs) {
            return Err(bad(
                "controller.metric_delay_secs",
                c.metric_delay_secs.to_string(),
                "must be >= 0",
            ));
        }
        if !(self.slo.wait_secs.is_finite() && self.slo.wait_secs > 0.0) {
            return Err(bad(
                "slo.wait_secs",
                self.slo.wait_secs.to_string(),
                "must be > 0",
            ));
        }
        if !nonneg(self.cost.task_hour_usd) {
            return Err(bad(
                "cost.task_hour_usd",
                self.cost.task_hour_usd.to_string(),
                "must be >= 0",
            ));
        }
        match (&self.arrivals.trace, self.arrivals.synthetic.is_empty()) {
            (None, true) => {
                return Err(bad(
                    "arrivals",
                    "{}".into(),
                    "give a [arrivals.trace] or at least one [[arrivals.synthetic]] generator",
                ));
            }
            (Some(_), false) => {
                return Err(bad(
                    "arrivals",
                    "trace and synthetic".into(),
                    "give a trace or generators, not both",
                ));
            }
            (None, false) => {
                if self.duration_secs.unwrap_or(0) == 0 {
                    return Err(bad(
                        "duration_secs",
                        format!("{:?}", self.duration_secs),
                        "synthetic arrivals need a duration > 0",
                    ));
                }
            }
            (Some(_), true) => {}
        }
        for (i, g) in self.arrivals.synthetic.iter().enumerate() {
            g.validate()
                .map_err(|r| bad(&format!("arrivals.synthetic[{i}]"), String::new(), &r))?;
        }
        if self.policy_file.is_some() && self.scaler.is_some() {
            return Err(bad(
                "policy_file",
                "and [scaler]".into(),
                "give a policy file or an inline [scaler], not both",
            ));
        }
        if let Some(start) = &self.start {
            crate::timefmt::parse(start, crate::timefmt::TimeFormat::DateTime)
                .map_err(|r| bad("start", format!("{start:?}"), &r))?;
        }
        self.check_limits(path)
    }

    /// The documented bounds of `crate::limits`, each named with its key, value and limit.
    fn check_limits(&self, path: &Path) -> Result<(), ScenarioError> {
        use crate::limits as l;
        let over = |key: &str, value: String, limit: String| ScenarioError::Invalid {
            path: path.to_path_buf(),
            key: key.into(),
            value,
            rule: format!("must be at most {limit} (a documented limit)"),
        };
        let p = &self.plant;
        let c = &self.controller;
        if self.arrivals.trace.is_none() {
            if let Some(d) = self.duration_secs.filter(|d| *d > l::MAX_SYNTHETIC_SECS) {
                return Err(over(
                    "duration_secs",
                    d.to_string(),
                    format!(
                        "{} (20 years) for synthetic arrivals",
                        l::MAX_SYNTHETIC_SECS
                    ),
                ));
            }
        }
        if self.drain_limit_secs > l::MAX_DRAIN_SECS {
            return Err(over(
                "drain_limit_secs",
                self.drain_limit_secs.to_string(),
                format!("{} (30 days)", l::MAX_DRAIN_SECS),
            ));
        }
        let peak = crate::limits::peak_rate(&self.arrivals.synthetic);
        if peak > l::MAX_RATE_PER_S {
            return Err(over(
                "arrivals.synthetic",
                format!("a peak of {} messages/s", l::show(peak)),
                format!("{:e} messages/s in all", l::MAX_RATE_PER_S),
            ));
        }
        if let Some(n) = p.initial_tasks.filter(|n| *n > l::MAX_TASKS) {
            return Err(over(
                "plant.initial_tasks",
                n.to_string(),
                l::MAX_TASKS.to_string(),
            ));
        }
        if p.concurrency > l::MAX_CONCURRENCY {
            return Err(over(
                "plant.concurrency",
                p.concurrency.to_string(),
                l::MAX_CONCURRENCY.to_string(),
            ));
        }
        for (key, value, limit) in [
            ("controller.period_secs", c.period_secs, l::MAX_DELAY_SECS),
            (
                "controller.metric_delay_secs",
                c.metric_delay_secs,
                l::MAX_DELAY_SECS,
            ),
            (
                "plant.service_time (mean)",
                p.service_time.mean_secs(),
                l::MAX_DELAY_SECS,
            ),
            (
                "plant.startup (mean)",
                p.startup.mean_secs(),
                l::MAX_DELAY_SECS,
            ),
            (
                "plant.visibility_timeout_secs",
                p.visibility_timeout_secs,
                l::MAX_VISIBILITY_SECS,
            ),
        ] {
            if value.is_nan() || value > limit {
                return Err(over(key, l::show(value), format!("{limit} seconds")));
            }
        }
        if let Some(t) = &self.arrivals.trace {
            if t.scale.is_nan() || t.scale > l::MAX_SCALE {
                return Err(over(
                    "arrivals.trace.scale",
                    l::show(t.scale),
                    format!("{:e}", l::MAX_SCALE),
                ));
            }
        }
        Ok(())
    }
}
