//! One configuration model with fast-autoscaler v0.2's precedence: defaults < TOML policy
//! file < environment variables < Lambda event payload (`{"config": {...}}`).
//!
//! The engine parses no file and reads no environment: callers hand it the parsed TOML
//! (`Config` is `Deserialize` with unknown keys refused), a map of the environment and the
//! event's `config` table. Validation runs once, after every layer, and names the key as the
//! user wrote it (`MIN_TASKS`, `config.min_tasks` or `guards.min_tasks`).

pub mod env;
mod error;
pub mod queue;
pub mod secret_ref;
mod service;
mod settings;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::controller::Controller;
use crate::forecast::ForecastParams;
use crate::guards::{FailureFallback, Guards};
use crate::policy::{AdjustmentType, Combine, PolicySpec, SloParams, StepBand};
pub use error::ConfigError;
pub use queue::{QueueConfig, Secret};
pub use service::{partition, ServiceId, ServiceTarget};
pub use settings::{collect_env, env_names, OverlayValue};

/// Where live keeps the scaler state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateConfig {
    /// S3 bucket (`S3_CONFIG_BUCKET`); none keeps state in a local file.
    pub s3_bucket: Option<String>,
    /// Key prefix; v0.2's is `autoscaling-state`.
    pub key_prefix: String,
    /// Where the Lambda records what it observed, under the state bucket
    /// (`RECORD_S3_PREFIX`): `{prefix}/{cluster}/{service}/{YYYY-MM-DD}.csv`. None: no record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_s3_prefix: Option<String>,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            s3_bucket: None,
            key_prefix: "autoscaling-state".into(),
            record_s3_prefix: None,
        }
    }
}

/// A shadow policy (`[[shadow]]`): decided beside the acting policy every tick, on the same
/// readings and with its own state, logged, recorded and exported; never acted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowSpec {
    /// Its name, in logs, the metric's label and its state's key (letters, digits, `-`, `_`).
    pub name: String,
    /// The policy it evaluates.
    pub policy: PolicySpec,
    /// Its guards; the acting policy's when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guards: Option<Guards>,
    /// Its forecast; none when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast: Option<ForecastParams>,
}

/// The whole policy file: what to scale, from which queues, by which policy, within which
/// guards. The same file drives `backtest` and the live runners.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The ECS service.
    pub service: ServiceTarget,
    /// Queue sources; several make a composite.
    pub queues: Vec<QueueConfig>,
    /// How several sources combine.
    pub combine: Combine,
    /// Guards shared by all policies.
    pub guards: Guards,
    /// The policy.
    pub policy: PolicySpec,
    /// The seasonal forecast (`[forecast]`), applied to any policy; none by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast: Option<ForecastParams>,
    /// Shadow policies (`[[shadow]]`), decided beside the acting one and never acted on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shadow: Vec<ShadowSpec>,
    /// Scaler state storage.
    pub state: StateConfig,
    /// Log level (`LOG_LEVEL`).
    pub log_level: Option<String>,
    /// AWS region (`AWS_REGION`).
    pub region: Option<String>,
    /// Which key set each field, for error messages.
    #[serde(skip)]
    origins: BTreeMap<&'static str, String>,
}

impl Config {
    /// The v0.2 configuration from the environment alone (`vars` is the environment).
    pub fn from_env(vars: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        config.apply_env(vars)?;
        config.validate()?;
        Ok(config)
    }

    /// The key the user wrote for a canonical field path.
    #[must_use]
    pub fn key_for(&self, canonical: &'static str) -> String {
        self.origins
            .get(canonical)
            .cloned()
            .unwrap_or_else(|| canonical.to_string())
    }

    pub(crate) fn set_origin(&mut self, canonical: &'static str, key: &str) {
        self.origins.insert(canonical, key.to_string());
    }

    /// The controller this configuration describes.
    #[must_use]
    pub fn controller(&self) -> Controller {
        Controller::new(
            self.policy.clone(),
            self.guards.clone(),
            self.combine,
            self.queues.iter().map(QueueConfig::weight).collect(),
        )
        .with_forecast(self.forecast.clone())
    }

    /// The configuration of shadow `spec`: this one with its policy, guards and forecast.
    #[must_use]
    pub fn for_shadow(&self, spec: &ShadowSpec) -> Self {
        let mut c = self.clone();
        c.policy = spec.policy.clone();
        c.guards = spec.guards.clone().unwrap_or_else(|| self.guards.clone());
        c.forecast.clone_from(&spec.forecast);
        c.shadow.clear();
        c.origins.clear();
        c
    }

    /// Checks every rule once; the first broken rule is the error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_own()?;
        let mut names = std::collections::BTreeSet::new();
        for (i, spec) in self.shadow.iter().enumerate() {
            let ok = !spec.name.is_empty()
                && spec.name.len() <= 64
                && spec
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(ConfigError::invalid(
                    format!("shadow[{i}].name"),
                    format!("{:?}", spec.name),
                    "a shadow's name must be 1 to 64 letters, digits, `-` or `_` (it names its state file and metric label)",
                ));
            }
            if !names.insert(spec.name.as_str()) {
                return Err(ConfigError::invalid(
                    format!("shadow[{i}].name"),
                    &spec.name,
                    "each shadow needs its own name",
                ));
            }
            self.for_shadow(spec).validate_own().map_err(|e| match e {
                ConfigError::Invalid { key, value, rule } => ConfigError::Invalid {
                    key: format!("shadow[{i}].{key}"),
                    value,
                    rule,
                },
                other => other,
            })?;
        }
        Ok(())
    }

    fn validate_own(&self) -> Result<(), ConfigError> {
        if let Some(prefix) = &self.state.record_s3_prefix {
            let key = self.key_for("state.record_s3_prefix");
            if self.state.s3_bucket.is_none() {
                return Err(ConfigError::invalid(
                    key,
                    prefix,
                    "recording to S3 needs the state bucket: set S3_CONFIG_BUCKET (or [state] s3_bucket)",
                ));
            }
            let ok = !prefix.is_empty()
                && !prefix.starts_with('/')
                && !prefix.ends_with('/')
                && prefix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b));
            if !ok {
                return Err(ConfigError::invalid(
                    key,
                    prefix,
                    "a key prefix of letters, digits, `-`, `_`, `.` and `/`, without a leading or trailing `/`",
                ));
            }
        }
        let g = &self.guards;
        if g.min_tasks > g.max_tasks {
            return Err(ConfigError::invalid(
                self.key_for("guards.min_tasks"),
                g.min_tasks,
                format!(
                    "min_tasks must be <= max_tasks ({} from `{}`)",
                    g.max_tasks,
                    self.key_for("guards.max_tasks")
                ),
            ));
        }
        for (canonical, value) in [
            ("guards.scale_out_cooldown_secs", g.scale_out_cooldown_secs),
            ("guards.scale_in_cooldown_secs", g.scale_in_cooldown_secs),
        ] {
            if value < 0 {
                return Err(ConfigError::invalid(
                    self.key_for(canonical),
                    value,
                    "a cooldown must be >= 0 seconds",
                ));
            }
        }
        if g.max_step == Some(0) {
            return Err(ConfigError::invalid(
                self.key_for("guards.max_step"),
                0,
                "the maximum step must be >= 1 task (omit it for no limit)",
            ));
        }
        if let Some(f) = g.max_scale_in_fraction {
            check_fraction(&self.key_for("guards.max_scale_in_fraction"), f)?;
        }
        if let FailureFallback::Fixed(n) = g.on_metric_failure {
            if n > g.max_tasks {
                return Err(ConfigError::invalid(
                    self.key_for("guards.on_metric_failure"),
                    n,
                    format!("the fallback count must be <= max_tasks ({})", g.max_tasks),
                ));
            }
        }
        if !self.queues.is_empty() && self.queues.iter().all(|q| matches!(q, QueueConfig::Sns(_))) {
            return Err(ConfigError::invalid(
                self.key_for("queues"),
                "sns",
                "SNS is a rate source, not a queue: its visible count is always 0, so scaling on it alone would scale in to the minimum; scale on the subscribed SQS queue and add the topic beside it for its rate",
            ));
        }
        for (i, q) in self.queues.iter().enumerate() {
            for (field, value) in q.address_fields() {
                if queue::has_userinfo(value) {
                    // The value is not echoed: it holds a secret.
                    return Err(ConfigError::invalid(
                        format!("queues[{i}].{field}"),
                        "(not shown: it holds credentials)",
                        "a URL or host must not carry user:password@; set `username` and `password` (or the provider's environment variables) instead",
                    ));
                }
            }
            for (field, arn) in q.secret_refs() {
                let key = format!("queues[{i}].{field}");
                secret_ref::SecretRef::parse(&key, arn)?;
                if q.clear_password_beside(field) {
                    return Err(ConfigError::invalid(
                        key,
                        arn,
                        "a password is given both in clear and by reference: keep one (the reference, read at start, keeps it out of the environment)",
                    ));
                }
            }
            let w = q.weight();
            if !w.is_finite() || w < 0.0 {
                return Err(ConfigError::invalid(
                    format!("queues[{i}].weight"),
                    w,
                    "a weight must be a finite number >= 0",
                ));
            }
        }
        match &self.policy {
            PolicySpec::Seed(p) => {
                let up = self.key_for("policy.scale_up_threshold");
                let down = self.key_for("policy.scale_down_threshold");
                check_finite(&up, p.scale_up_threshold)?;
                check_finite(&down, p.scale_down_threshold)?;
                check_nonnegative(&down, p.scale_down_threshold)?;
                if p.scale_down_threshold > p.scale_up_threshold {
                    return Err(ConfigError::invalid(
                        down,
                        p.scale_down_threshold,
                        format!(
                            "the scale-down threshold must be <= the scale-up threshold ({} from `{up}`); equal is allowed",
                            p.scale_up_threshold
                        ),
                    ));
                }
                let tpm = self.key_for("policy.tasks_per_message");
                check_finite(&tpm, p.tasks_per_message)?;
                if p.tasks_per_message < 0.0 {
                    return Err(ConfigError::invalid(
                        tpm,
                        p.tasks_per_message,
                        "tasks per message must be >= 0",
                    ));
                }
                check_fraction(
                    &self.key_for("policy.max_scale_down_factor"),
                    p.max_scale_down_factor,
                )?;
            }
            PolicySpec::Step(p) | PolicySpec::AwsStepScaling(p) => {
                if let Some(alarm) = self.policy.step_alarm(p) {
                    check_alarm(&alarm)?;
                }
                let up = self.key_for("policy.scale_out_threshold");
                let down = self.key_for("policy.scale_in_threshold");
                check_finite(&up, p.scale_out_threshold)?;
                check_finite(&down, p.scale_in_threshold)?;
                check_nonnegative(&down, p.scale_in_threshold)?;
                if p.scale_in_threshold > p.scale_out_threshold {
                    return Err(ConfigError::invalid(
                        down,
                        p.scale_in_threshold,
                        format!(
                            "the scale-in threshold must be <= the scale-out threshold ({} from `{up}`)",
                            p.scale_out_threshold
                        ),
                    ));
                }
                check_bands(
                    "policy.scale_out_steps",
                    &p.scale_out_steps,
                    true,
                    p.adjustment_type,
                )?;
                check_bands(
                    "policy.scale_in_steps",
                    &p.scale_in_steps,
                    false,
                    p.adjustment_type,
                )?;
            }
            PolicySpec::Target(p) => {
                let key = "policy.target_backlog_per_task";
                if !(p.target_backlog_per_task.is_finite() && p.target_backlog_per_task > 0.0) {
                    return Err(ConfigError::invalid(
                        key,
                        p.target_backlog_per_task,
                        "the target backlog per task must be a finite number > 0",
                    ));
                }
                if !(0.0..1.0).contains(&p.tolerance) {
                    return Err(ConfigError::invalid(
                        "policy.tolerance",
                        p.tolerance,
                        "the tolerance must be in [0, 1)",
                    ));
                }
                if !(0..=MAX_WINDOW_SECS).contains(&p.scale_in_stabilization_secs) {
                    return Err(ConfigError::invalid(
                        "policy.scale_in_stabilization_secs",
                        p.scale_in_stabilization_secs,
                        format!("a window must be between 0 and {MAX_WINDOW_SECS} seconds (a day)"),
                    ));
                }
                if p.limit_period_secs <= 0 {
                    return Err(ConfigError::invalid(
                        "policy.limit_period_secs",
                        p.limit_period_secs,
                        "the limit period must be > 0 seconds",
                    ));
                }
                for (key, pct) in [
                    ("policy.scale_out_limit_percent", p.scale_out_limit_percent),
                    ("policy.scale_in_limit_percent", p.scale_in_limit_percent),
                ] {
                    if let Some(pct) = pct {
                        if !(pct.is_finite() && pct > 0.0) {
                            return Err(ConfigError::invalid(
                                key,
                                pct,
                                "a percent limit must be a finite number > 0",
                            ));
                        }
                    }
                }
            }
            PolicySpec::Slo(p) => self.check_slo(p)?,
            PolicySpec::AwsTargetTracking(p) => check_aws_target(p)?,
            PolicySpec::Keda(p) => check_keda(p)?,
        }
        if self.policy.is_reference() && self.forecast.is_some() {
            return Err(ConfigError::invalid(
                "forecast",
                self.policy.kind(),
                "a reference policy runs as AWS or KEDA would, without StepScale's seasonal forecast: remove the [forecast] table",
            ));
        }
        if let Some(forecast) = &self.forecast {
            forecast.validate(&self.policy)?;
        }
        Ok(())
    }

    fn check_slo(&self, p: &SloParams) -> Result<(), ConfigError> {
        if !(p.wait_secs.is_finite() && p.wait_secs > 0.0) {
            return Err(ConfigError::invalid(
                "policy.wait_secs",
                p.wait_secs,
                "the wait goal must be a finite number of seconds > 0",
            ));
        }
        if !(p.quantile > 0.0 && p.quantile < 1.0) {
            return Err(ConfigError::invalid(
                "policy.quantile",
                p.quantile,
                "the quantile must be in (0, 1), for example 0.99",
            ));
        }
        if let Some(s) = p.service_secs {
            if !(s.is_finite() && s > 0.0) {
                return Err(ConfigError::invalid(
                    "policy.service_secs",
                    s,
                    "the service time must be a finite number of seconds > 0 (omit it to learn it online)",
                ));
            }
        }
        if p.concurrency == 0 {
            return Err(ConfigError::invalid(
                "policy.concurrency",
                p.concurrency,
                "a task works at least 1 message at a time",
            ));
        }
        for (key, secs) in [
            (
                "policy.scale_in_stabilization_secs",
                p.scale_in_stabilization_secs,
            ),
            ("policy.rate_smoothing_secs", p.rate_smoothing_secs),
        ] {
            if !(0..=MAX_WINDOW_SECS).contains(&secs) {
                return Err(ConfigError::invalid(
                    key,
                    secs,
                    format!("a window must be between 0 and {MAX_WINDOW_SECS} seconds (a day)"),
                ));
            }
        }
        if self.queues.len() > 1 && self.combine != Combine::Sum {
            return Err(ConfigError::invalid(
                self.key_for("combine"),
                format!("{:?}", self.combine).to_lowercase(),
                "the slo policy sizes one worker pool for every source's messages: set combine = \"sum\"",
            ));
        }
        // The service time is learned from arrivals counted without it: a rate every source
        // reports, or one source's oldest age (engine::estimator). Sources with neither never
        // teach it, and the policy would hold on every tick ("service time not known yet").
        let teaches = self.queues.iter().all(QueueConfig::reports_arrival_rate)
            || (self.queues.len() == 1 && self.queues[0].reports_oldest_age());
        if p.service_secs.is_none() && !self.queues.is_empty() && !teaches {
            let sources: Vec<&str> = self.queues.iter().map(QueueConfig::type_name).collect();
            return Err(ConfigError::invalid(
                "policy.service_secs",
                "(not set)",
                format!(
                    "the slo policy needs the service time, and these sources ({}) report neither an arrival rate nor the oldest message's age, so it cannot be learned: the policy would hold on every tick; set service_secs (seconds one message takes), or give the source a rate (SQS: cloudwatch_metrics = true; RabbitMQ: management_url)",
                    sources.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

/// The longest stabilization or smoothing window: a day. The state keeps a window's
/// recommendations, so the window bounds the state document.
pub const MAX_WINDOW_SECS: i64 = 86_400;

/// A finite target > 0.
fn check_target(key: &str, value: f64) -> Result<(), ConfigError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            value,
            "the target must be a finite number > 0",
        ))
    }
}

/// Seconds in `[min, MAX_WINDOW_SECS]`.
fn check_secs(key: &str, secs: i64, min: i64) -> Result<(), ConfigError> {
    if (min..=MAX_WINDOW_SECS).contains(&secs) {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            secs,
            format!("must be between {min} and {MAX_WINDOW_SECS} seconds (a day)"),
        ))
    }
}

/// A CloudWatch period: 10, 30 or a multiple of 60 seconds.
fn check_period(key: &str, secs: i64) -> Result<(), ConfigError> {
    if crate::policy::alarm::valid_period(secs) && secs <= MAX_WINDOW_SECS {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            secs,
            "a CloudWatch metric period is 10 or 30 seconds (high resolution) or a multiple of 60, at most a day",
        ))
    }
}

/// At least one evaluation period, at most a day of one-minute datapoints.
fn check_periods(key: &str, n: u32) -> Result<(), ConfigError> {
    if (1..=1440).contains(&n) {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            n,
            "an alarm evaluates between 1 and 1440 datapoints",
        ))
    }
}

fn check_alarm(a: &crate::policy::AlarmSpec) -> Result<(), ConfigError> {
    check_period("policy.alarm.period_secs", a.period_secs)?;
    check_periods("policy.alarm.evaluation_periods", a.evaluation_periods)?;
    if !(1..=a.evaluation_periods).contains(&a.datapoints_to_alarm) {
        return Err(ConfigError::invalid(
            "policy.alarm.datapoints_to_alarm",
            a.datapoints_to_alarm,
            format!(
                "the datapoints to alarm must be between 1 and the evaluation periods ({})",
                a.evaluation_periods
            ),
        ));
    }
    Ok(())
}

fn check_aws_target(p: &crate::policy::AwsTargetTrackingParams) -> Result<(), ConfigError> {
    check_target("policy.target_value", p.target_value)?;
    check_period("policy.period_secs", p.period_secs)?;
    check_periods(
        "policy.scale_out_evaluation_periods",
        p.scale_out_evaluation_periods,
    )?;
    check_periods(
        "policy.scale_in_evaluation_periods",
        p.scale_in_evaluation_periods,
    )?;
    let f = p.scale_in_threshold_fraction;
    if !(f > 0.0 && f <= 1.0) {
        return Err(ConfigError::invalid(
            "policy.scale_in_threshold_fraction",
            f,
            "the low alarm's threshold is a fraction of the target in (0, 1], AWS's about 0.9",
        ));
    }
    check_secs(
        "policy.scale_out_cooldown_secs",
        p.scale_out_cooldown_secs,
        0,
    )?;
    check_secs("policy.scale_in_cooldown_secs", p.scale_in_cooldown_secs, 0)
}

fn check_keda(p: &crate::policy::KedaParams) -> Result<(), ConfigError> {
    check_target("policy.queue_length", p.queue_length)?;
    let a = p.activation_queue_length;
    if !(a.is_finite() && a >= 0.0) {
        return Err(ConfigError::invalid(
            "policy.activation_queue_length",
            a,
            "the activation queue length must be a finite number >= 0",
        ));
    }
    check_secs("policy.polling_interval_secs", p.polling_interval_secs, 1)?;
    check_secs("policy.cooldown_period_secs", p.cooldown_period_secs, 0)?;
    check_secs("policy.sync_period_secs", p.sync_period_secs, 1)?;
    check_secs(
        "policy.scale_down_stabilization_secs",
        p.scale_down_stabilization_secs,
        0,
    )?;
    check_secs("policy.policy_period_secs", p.policy_period_secs, 1)?;
    if !(0.0..1.0).contains(&p.tolerance) {
        return Err(ConfigError::invalid(
            "policy.tolerance",
            p.tolerance,
            "the tolerance must be in [0, 1)",
        ));
    }
    for (key, pct) in [
        ("policy.scale_up_percent", p.scale_up_percent),
        ("policy.scale_down_percent", p.scale_down_percent),
    ] {
        if !(pct.is_finite() && pct > 0.0) {
            return Err(ConfigError::invalid(
                key,
                pct,
                "a percent policy must be a finite number > 0",
            ));
        }
    }
    Ok(())
}

fn check_finite(key: &str, value: f64) -> Result<(), ConfigError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(ConfigError::invalid(key, value, "must be a finite number"))
    }
}

fn check_fraction(key: &str, value: f64) -> Result<(), ConfigError> {
    if value > 0.0 && value <= 1.0 {
        Ok(())
    } else {
        Err(ConfigError::invalid(key, value, "must be in (0, 1]"))
    }
}

/// A threshold on a message count below 0 can never be crossed from above: refused.
fn check_nonnegative(key: &str, x: f64) -> Result<(), ConfigError> {
    if x < 0.0 {
        return Err(ConfigError::invalid(
            key,
            x,
            "a threshold on a message count must be >= 0 (a backlog is never negative)",
        ));
    }
    Ok(())
}

fn check_bands(
    key: &str,
    bands: &[StepBand],
    above: bool,
    kind: AdjustmentType,
) -> Result<(), ConfigError> {
    let mut previous_upper: Option<f64> = None;
    for (i, band) in bands.iter().enumerate() {
        let here = format!("{key}[{i}]");
        let lower = band.lower.unwrap_or(f64::NEG_INFINITY);
        let upper = band.upper.unwrap_or(f64::INFINITY);
        if lower >= upper {
            return Err(ConfigError::invalid(
                format!("{here}.lower"),
                lower,
                format!("a band's lower bound must be below its upper bound ({upper})"),
            ));
        }
        if above && lower < 0.0 {
            return Err(ConfigError::invalid(
                format!("{here}.lower"),
                lower,
                "scale-out bands lie above the threshold: bounds must be >= 0",
            ));
        }
        if !above && upper > 0.0 {
            return Err(ConfigError::invalid(
                format!("{here}.upper"),
                upper,
                "scale-in bands lie below the threshold: bounds must be <= 0",
            ));
        }
        if let Some(prev) = previous_upper {
            if lower < prev {
                return Err(ConfigError::invalid(
                    format!("{here}.lower"),
                    lower,
                    format!("bands must be in ascending order without overlap (previous upper bound {prev})"),
                ));
            }
            if lower > prev {
                return Err(ConfigError::invalid(
                    format!("{here}.lower"),
                    lower,
                    format!("bands must meet without a gap: a metric between {prev} and {lower} would match no band (make this lower bound {prev})"),
                ));
            }
        }
        previous_upper = Some(upper);
        let a = band.adjustment;
        let ok = a.is_finite()
            && match kind {
                AdjustmentType::ExactCapacity => a >= 0.0,
                _ if above => a > 0.0,
                _ => a < 0.0,
            };
        if !ok {
            let rule = match kind {
                AdjustmentType::ExactCapacity => "an exact capacity must be >= 0",
                _ if above => "a scale-out adjustment must be > 0",
                _ => "a scale-in adjustment must be < 0",
            };
            return Err(ConfigError::invalid(format!("{here}.adjustment"), a, rule));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> Config {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn shadows_are_validated_with_their_own_policy_and_named_in_errors() {
        let ok = config(
            r#"{"policy": {"kind": "seed"},
                "shadow": [{"name": "slo-30s", "policy": {"kind": "slo", "wait_secs": 30}},
                           {"name": "tight", "policy": {"kind": "target", "target_backlog_per_task": 10},
                            "guards": {"min_tasks": 1, "max_tasks": 5}}]}"#,
        );
        ok.validate().unwrap();
        let tight = ok.for_shadow(&ok.shadow[1]);
        assert_eq!(tight.guards.max_tasks, 5);
        assert!(tight.shadow.is_empty());
        // Without its own guards a shadow shares the acting policy's.
        assert_eq!(ok.for_shadow(&ok.shadow[0]).guards, ok.guards);

        let bad =
            config(r#"{"shadow": [{"name": "x", "policy": {"kind": "slo", "wait_secs": -1}}]}"#);
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("shadow[0].policy.wait_secs"), "{err}");

        let twice = config(
            r#"{"shadow": [{"name": "a", "policy": {"kind": "seed"}}, {"name": "a", "policy": {"kind": "seed"}}]}"#,
        );
        let err = twice.validate().unwrap_err().to_string();
        assert!(
            err.contains("shadow[1].name") && err.contains("own name"),
            "{err}"
        );

        let path = config(r#"{"shadow": [{"name": "../x", "policy": {"kind": "seed"}}]}"#);
        let err = path.validate().unwrap_err().to_string();
        assert!(err.contains("shadow[0].name"), "{err}");
    }

    #[test]
    fn a_password_by_reference_is_checked_where_it_was_set() {
        let env = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect()
        };
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:redis-AbC123";
        let ok = Config::from_env(&env(&[
            ("QUEUE_TYPE", "redis"),
            ("REDIS_PASSWORD_SECRET", arn),
        ]))
        .unwrap();
        assert_eq!(ok.queues[0].secret_refs(), vec![("password_secret", arn)]);
        // The reference is an ARN, not a secret: `config` may show it.
        assert!(serde_json::to_string(&ok).unwrap().contains(arn));

        let bad = Config::from_env(&env(&[
            ("QUEUE_TYPE", "redis"),
            ("REDIS_PASSWORD_SECRET", "prod/redis"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(bad.contains("`REDIS_PASSWORD_SECRET`: prod/redis"), "{bad}");

        let both = Config::from_env(&env(&[
            ("QUEUE_TYPE", "rabbitmq"),
            ("RABBITMQ_PASSWORD", "pw"),
            ("RABBITMQ_PASSWORD_SECRET", arn),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            both.contains("queues[0].password_secret") && both.contains("both"),
            "{both}"
        );
        assert!(!both.contains("\"pw\""), "{both}");

        let toml_bad = config(
            r#"{"queues": [{"type": "kafka", "sasl_password_secret": "arn:aws:s3:::b/k"}]}"#,
        );
        let err = toml_bad.validate().unwrap_err().to_string();
        assert!(err.contains("queues[0].sasl_password_secret"), "{err}");

        let mut filled = ok.clone();
        filled.queues[0].set_referenced_password("password_secret", Secret::new("s"));
        assert!(filled.queues[0].secret_refs().is_empty());
        filled.validate().unwrap();
    }
}
