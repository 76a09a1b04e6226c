//! The rules of each policy's parameters (SLO, step bands, AWS alarms, KEDA) and the number
//! checks every rule uses.

use super::QueueConfig;
use super::{Config, ConfigError};
use crate::policy::{AdjustmentType, Combine, SloParams, StepBand};

impl Config {
    pub(super) fn check_slo(&self, p: &SloParams) -> Result<(), ConfigError> {
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
pub(super) fn check_target(key: &str, value: f64) -> Result<(), ConfigError> {
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
pub(super) fn check_secs(key: &str, secs: i64, min: i64) -> Result<(), ConfigError> {
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
pub(super) fn check_period(key: &str, secs: i64) -> Result<(), ConfigError> {
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
pub(super) fn check_periods(key: &str, n: u32) -> Result<(), ConfigError> {
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

pub(super) fn check_alarm(a: &crate::policy::AlarmSpec) -> Result<(), ConfigError> {
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

pub(super) fn check_aws_target(
    p: &crate::policy::AwsTargetTrackingParams,
) -> Result<(), ConfigError> {
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

pub(super) fn check_keda(p: &crate::policy::KedaParams) -> Result<(), ConfigError> {
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

pub(super) fn check_finite(key: &str, value: f64) -> Result<(), ConfigError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(ConfigError::invalid(key, value, "must be a finite number"))
    }
}

pub(super) fn check_fraction(key: &str, value: f64) -> Result<(), ConfigError> {
    if value > 0.0 && value <= 1.0 {
        Ok(())
    } else {
        Err(ConfigError::invalid(key, value, "must be in (0, 1]"))
    }
}

/// A threshold on a message count below 0 can never be crossed from above: refused.
pub(super) fn check_nonnegative(key: &str, x: f64) -> Result<(), ConfigError> {
    if x < 0.0 {
        return Err(ConfigError::invalid(
            key,
            x,
            "a threshold on a message count must be >= 0 (a backlog is never negative)",
        ));
    }
    Ok(())
}

pub(super) fn check_bands(
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
