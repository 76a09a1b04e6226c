//! The configuration's rules, checked once after every layer: guards, state, queues, shadows
//! and each policy, the first broken rule naming the key as the user wrote it.

use super::queue::{self, QueueConfig};
use super::validate_policy::{
    check_alarm, check_aws_target, check_bands, check_finite, check_fraction, check_keda,
    check_nonnegative, MAX_WINDOW_SECS,
};
use super::{secret_ref, Config, ConfigError};
use crate::guards::FailureFallback;
use crate::policy::PolicySpec;

impl Config {
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
        if !self.queues.is_empty() && self.queues.iter().all(QueueConfig::is_rate_only) {
            if self.queues.iter().all(|q| matches!(q, QueueConfig::Sns(_))) {
                return Err(ConfigError::invalid(
                    self.key_for("queues"),
                    "sns",
                    "SNS is a rate source, not a queue: its visible count is always 0, so scaling on it alone would scale in to the minimum; scale on the subscribed SQS queue and add the topic beside it for its rate",
                ));
            }
            return Err(ConfigError::invalid(
                self.key_for("queues"),
                "value = \"rate\"",
                "every source is a rate with no backlog, so scaling on them alone would scale in to the minimum; add a backlog source (a queue, or a metric with value = \"backlog\")",
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
            match q {
                QueueConfig::Cloudwatch(m) => m.check(&format!("queues[{i}]"))?,
                QueueConfig::Prometheus(m) => m.check(&format!("queues[{i}]"))?,
                _ => {}
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
            PolicySpec::Script(p) => {
                if let Err(rule) = p.check() {
                    return Err(ConfigError::invalid(
                        self.key_for("policy.source"),
                        p.source.lines().next().unwrap_or_default(),
                        format!("the script does not compile: {rule}"),
                    ));
                }
                let params = self.key_for("policy.params");
                for (name, v) in &p.params {
                    check_finite(&format!("{params}.{name}"), *v)?;
                }
                if p.max_operations == 0 {
                    return Err(ConfigError::invalid(
                        self.key_for("policy.max_operations"),
                        0,
                        "a decision needs at least one operation",
                    ));
                }
            }
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
}
