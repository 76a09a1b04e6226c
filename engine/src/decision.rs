//! A decision as data: the new desired count, its direction, why, and what limited it.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::clock::Millis;

/// The direction of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Raise the desired count.
    ScaleOut,
    /// Lower the desired count.
    ScaleIn,
    /// Keep the desired count.
    Hold,
}

impl Action {
    /// The snake-case name used in outputs.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ScaleOut => "scale_out",
            Self::ScaleIn => "scale_in",
            Self::Hold => "hold",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The bound or guard that changed the policy's recommendation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// Raised to the minimum task count.
    MinTasks,
    /// Lowered to the maximum task count.
    MaxTasks,
    /// A scale-in refused inside the scale-in cooldown.
    ScaleInCooldown,
    /// A scale-out refused (or reduced) inside the scale-out cooldown.
    ScaleOutCooldown,
    /// The change was cut to the maximum step per decision.
    MaxStep,
    /// The scale-in was cut to the maximum fraction per decision.
    MaxScaleInFraction,
    /// The change was cut by a per-period rate limit.
    RateLimit,
    /// A scale-in was held up by a higher recommendation inside the stabilization window.
    StabilizationWindow,
    /// A metric read failed: no scale-in on missing data.
    MetricFailure,
    /// The scale-out was capped at the tasks the sources can use (partitions, shards).
    UsefulTasks,
    /// Cut to what a shared budget leaves this service (see [`crate::budget`]).
    Budget,
}

impl Limit {
    /// The name as `decide` prints it (snake_case).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MinTasks => "min_tasks",
            Self::MaxTasks => "max_tasks",
            Self::ScaleInCooldown => "scale_in_cooldown",
            Self::ScaleOutCooldown => "scale_out_cooldown",
            Self::MaxStep => "max_step",
            Self::MaxScaleInFraction => "max_scale_in_fraction",
            Self::RateLimit => "rate_limit",
            Self::StabilizationWindow => "stabilization_window",
            Self::MetricFailure => "metric_failure",
            Self::UsefulTasks => "useful_tasks",
            Self::Budget => "budget",
        }
    }
}

/// Why the policy recommended what it did. Data first; [`fmt::Display`] renders the sentence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reason {
    /// The metric is above the scale-out threshold.
    AboveThreshold {
        /// The metric seen.
        metric: f64,
        /// The threshold crossed.
        threshold: f64,
    },
    /// The metric is below the scale-in threshold.
    BelowThreshold {
        /// The metric seen.
        metric: f64,
        /// The threshold crossed.
        threshold: f64,
    },
    /// The metric is between the thresholds.
    WithinThresholds {
        /// The metric seen.
        metric: f64,
    },
    /// Target tracking: backlog over target per task.
    Target {
        /// Backlog seen.
        backlog: f64,
        /// Target backlog per task.
        per_task: f64,
        /// The raw recommendation, ceil(backlog / per task).
        tasks: u32,
    },
    /// Target tracking: backlog per task within the tolerance band of the target.
    WithinTolerance {
        /// Backlog seen.
        backlog: f64,
        /// Target backlog per task.
        per_task: f64,
    },
    /// SLO: the larger of the queueing fleet and the drain fleet.
    Slo {
        /// The estimated arrival rate λ̂, messages per second.
        arrival_rate_per_s: f64,
        /// The service time used (configured or learned), seconds.
        service_secs: f64,
        /// Visible messages waiting.
        backlog: f64,
        /// Tasks for which M/M/c meets the wait quantile at λ̂.
        queueing_tasks: u32,
        /// Tasks that drain the backlog within the wait goal while serving λ̂.
        drain_tasks: u32,
    },
    /// SLO: the service time is neither configured nor learned yet.
    ServiceTimeUnknown {
        /// Visible messages waiting.
        backlog: f64,
    },
    /// The seasonal forecast needs more tasks than the policy recommends (see
    /// [`crate::forecast`]).
    Forecast {
        /// The forecast arrival rate: the profile's peak within the lead, messages per second.
        arrival_rate_per_s: f64,
        /// How far ahead the forecast looks, seconds.
        lead_secs: i64,
        /// Tasks that serve the forecast rate.
        tasks: u32,
        /// What the policy alone recommended.
        reactive_tasks: u32,
    },
    /// A reference policy's high alarm is in ALARM: capacity proportional to the datapoint.
    AlarmHigh {
        /// The latest datapoint.
        metric: f64,
        /// The alarm's threshold (the target).
        threshold: f64,
        /// Capacity × datapoint ÷ target, rounded up.
        tasks: u32,
    },
    /// A reference policy's low alarm is in ALARM.
    AlarmLow {
        /// The latest datapoint.
        metric: f64,
        /// The low alarm's threshold.
        threshold: f64,
        /// Capacity × datapoint ÷ target, rounded up.
        tasks: u32,
    },
    /// A reference policy's alarms are both OK (or its latest period had no datapoint).
    NoAlarm {
        /// The latest datapoint, none when the period had no sample.
        metric: Option<f64>,
    },
    /// A reference policy acts once per period (metric period, HPA sync): none ended yet.
    AwaitingPeriod {
        /// The period, seconds.
        period_secs: i64,
    },
    /// KEDA's activation: the scaler's activity decides between 0 and 1 replicas.
    Activation {
        /// The queue length seen.
        metric: f64,
        /// The activation queue length.
        activation: f64,
        /// Whether the scaler is active (queue length above the activation).
        active: bool,
    },
    /// The script policy's decision.
    Script {
        /// The tasks it asked for.
        tasks: u32,
    },
    /// The script policy failed (an error, its operation budget, a value that is no count):
    /// the count holds.
    ScriptFailed {
        /// The count held.
        holding: u32,
    },
    /// Every metric read failed.
    MetricFailure {
        /// Failed decisions in a row, this one included.
        consecutive: u32,
    },
    /// The configured fallback was applied after too many failed reads.
    FailureFallback {
        /// Failed decisions in a row, this one included.
        consecutive: u32,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::AboveThreshold { metric, threshold } => {
                write!(
                    f,
                    "metric {metric} is above the scale-out threshold {threshold}"
                )
            }
            Self::BelowThreshold { metric, threshold } => {
                write!(
                    f,
                    "metric {metric} is below the scale-in threshold {threshold}"
                )
            }
            Self::WithinThresholds { metric } => {
                write!(f, "metric {metric} is within the thresholds")
            }
            Self::Target {
                backlog,
                per_task,
                tasks,
            } => write!(
                f,
                "backlog {backlog} at {per_task} per task needs {tasks} tasks"
            ),
            Self::WithinTolerance { backlog, per_task } => write!(
                f,
                "backlog {backlog} is within tolerance of {per_task} per task"
            ),
            Self::Slo {
                arrival_rate_per_s,
                service_secs,
                backlog,
                queueing_tasks,
                drain_tasks,
            } => write!(
                f,
                "{arrival_rate_per_s:.3} arrivals/s at {service_secs:.3} s each need {queueing_tasks} tasks for the wait goal; backlog {backlog} needs {drain_tasks} to drain within it"
            ),
            Self::Script { tasks } => write!(f, "the script asked for {tasks} tasks"),
            Self::ScriptFailed { holding } => write!(
                f,
                "the script failed (see the log): holding at {holding} tasks"
            ),
            Self::ServiceTimeUnknown { backlog } => write!(
                f,
                "service time not known yet (set service_secs, or use a source that reports its arrival rate or oldest-message age): holding with backlog {backlog}, doubling the fleet (at least one task more) while the oldest message is late or no task runs"
            ),
            Self::Forecast {
                arrival_rate_per_s,
                lead_secs,
                tasks,
                reactive_tasks,
            } => write!(
                f,
                "seasonal forecast: up to {arrival_rate_per_s:.3} arrivals/s within the next {lead_secs} s need {tasks} tasks, more than the {reactive_tasks} the policy recommends now"
            ),
            Self::AlarmHigh {
                metric,
                threshold,
                tasks,
            } => write!(
                f,
                "high alarm: datapoints above the target {threshold}; latest {metric} needs {tasks} tasks"
            ),
            Self::AlarmLow {
                metric,
                threshold,
                tasks,
            } => write!(
                f,
                "low alarm: datapoints below {threshold}; latest {metric} needs {tasks} tasks"
            ),
            Self::NoAlarm { metric: Some(m) } => {
                write!(f, "no alarm: latest datapoint {m}")
            }
            Self::NoAlarm { metric: None } => {
                write!(f, "no alarm: the latest period had no datapoint")
            }
            Self::AwaitingPeriod { period_secs } => write!(
                f,
                "acts once per {period_secs} s period: holding until the next one"
            ),
            Self::Activation {
                metric,
                activation,
                active: true,
            } => write!(
                f,
                "scaler active: queue length {metric} is above the activation {activation}"
            ),
            Self::Activation {
                metric,
                activation,
                active: false,
            } => write!(
                f,
                "scaler inactive: queue length {metric} is at or below the activation {activation}"
            ),
            Self::MetricFailure { consecutive } => write!(
                f,
                "metric read failed ({consecutive} in a row): holding, never read as zero messages"
            ),
            Self::FailureFallback { consecutive } => write!(
                f,
                "metric read failed {consecutive} times in a row: applying the configured fallback"
            ),
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One decision of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Decision {
    /// When it was made.
    pub at_ms: Millis,
    /// The service's desired count before the decision.
    pub previous: u32,
    /// The new desired count.
    pub desired: u32,
    /// What the policy recommended (raised to the forecast fleet when that is higher), before
    /// guards and bounds.
    pub recommended: u32,
    /// Direction of the change.
    pub action: Action,
    /// Why.
    pub reason: Reason,
    /// The bound or guard that changed the recommendation, if any.
    pub limited_by: Option<Limit>,
    /// The combined metric the policy used (none when every read failed).
    pub metric: Option<f64>,
}

impl Decision {
    /// True when the desired count changes.
    #[must_use]
    pub fn changes(&self) -> bool {
        self.desired != self.previous
    }
}
