//! Applying the environment and the event: precedence, the event's `queue_config`, and each
//! service, guard, policy and state setting.

use std::collections::BTreeMap;

use super::raw::Raw;
use super::table::{provider_of, SETTINGS};
use super::{OverlayValue, Setting};
use crate::config::queue::QueueConfig;
use crate::config::{Config, ConfigError};
use crate::policy::PolicySpec;

impl Config {
    /// Applies the environment (v0.2's variables; an empty value counts as unset).
    pub fn apply_env(&mut self, vars: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        if self.queues.is_empty() {
            // v0.2 defaults QUEUE_TYPE to sqs.
            self.queues
                .push(QueueConfig::of_type("sqs").unwrap_or_else(|| unreachable!()));
        }
        for &(setting, name, _, _) in SETTINGS {
            if let Some(value) = vars.get(name).filter(|v| !v.trim().is_empty()) {
                self.apply(setting, name, Raw::Text(value))?;
            }
        }
        Ok(())
    }

    /// Applies the Lambda event's `config` table; keys are v0.2's (`min_tasks`,
    /// `queue_config: {...}`, ...). Unknown keys are errors; `null` counts as unset.
    pub fn apply_event(
        &mut self,
        table: &BTreeMap<String, OverlayValue>,
    ) -> Result<(), ConfigError> {
        if self.queues.is_empty() {
            self.queues
                .push(QueueConfig::of_type("sqs").unwrap_or_else(|| unreachable!()));
        }
        // The queue type first, so queue settings land on the right provider.
        if let Some(v) = table.get("queue_type") {
            self.apply_overlay(Setting::QueueType, "config.queue_type", v)?;
        }
        for (key, value) in table {
            if key == "queue_type" {
                continue;
            }
            let shown = format!("config.{key}");
            if key == "queue_config" {
                match value {
                    OverlayValue::Table(inner) => self.apply_queue_config(inner)?,
                    OverlayValue::Null => {}
                    _ => {
                        return Err(ConfigError::invalid(
                            shown,
                            "a non-object",
                            "queue_config must be an object",
                        ))
                    }
                }
                continue;
            }
            let Some(&(setting, ..)) = SETTINGS.iter().find(|s| s.2 == key) else {
                return Err(ConfigError::UnknownKey {
                    key: shown,
                    hint: "see the event payload table in engine/README.md for accepted keys"
                        .into(),
                });
            };
            self.apply_overlay(setting, &shown, value)?;
        }
        Ok(())
    }

    fn apply_queue_config(
        &mut self,
        table: &BTreeMap<String, OverlayValue>,
    ) -> Result<(), ConfigError> {
        let queue_type = self.queues.first().map_or("sqs", QueueConfig::type_name);
        for (key, value) in table {
            let shown = format!("config.queue_config.{key}");
            let found = SETTINGS
                .iter()
                .find(|s| provider_of(s.0) == Some(queue_type) && (s.3 == key || s.2 == key));
            let Some(&(setting, ..)) = found else {
                return Err(ConfigError::UnknownKey {
                    key: shown,
                    hint: format!("not a setting of the `{queue_type}` queue type"),
                });
            };
            self.apply_overlay(setting, &shown, value)?;
        }
        Ok(())
    }

    fn apply_overlay(
        &mut self,
        setting: Setting,
        key: &str,
        value: &OverlayValue,
    ) -> Result<(), ConfigError> {
        let raw = match value {
            OverlayValue::Null => return Ok(()),
            OverlayValue::Bool(b) => Raw::Bool(*b),
            OverlayValue::Number(n) => Raw::Number(*n),
            OverlayValue::Text(s) => Raw::Text(s),
            OverlayValue::List(_) | OverlayValue::Table(_) => {
                return Err(ConfigError::invalid(
                    key,
                    "a list or object",
                    "expected a string, number or boolean",
                ))
            }
        };
        self.apply(setting, key, raw)
    }

    /// Sets one field; `key` is the name the user wrote, kept for later error messages.
    fn apply(&mut self, setting: Setting, key: &str, raw: Raw<'_>) -> Result<(), ConfigError> {
        match setting {
            Setting::QueueType => {
                let name = raw.text(key)?;
                let fresh = QueueConfig::of_type(&name).ok_or_else(|| {
                    ConfigError::invalid(
                        key,
                        format!("{name:?}"),
                        format!(
                            "unknown queue type; expected one of {}",
                            QueueConfig::TYPE_NAMES
                        ),
                    )
                })?;
                let same = self
                    .queues
                    .first()
                    .is_some_and(|q| q.type_name() == fresh.type_name());
                if !same {
                    self.queues = vec![fresh];
                }
                self.set_origin("queues", key);
            }
            Setting::Cluster => self.service.cluster = Some(raw.text(key)?),
            Setting::Service => self.service.name = Some(raw.text(key)?),
            Setting::MinTasks => {
                self.guards.min_tasks = raw.count(key)?;
                self.set_origin("guards.min_tasks", key);
            }
            Setting::MaxTasks => {
                self.guards.max_tasks = raw.count(key)?;
                self.set_origin("guards.max_tasks", key);
            }
            Setting::OutCooldown => {
                self.guards.scale_out_cooldown_secs = raw.integer(key)?;
                self.set_origin("guards.scale_out_cooldown_secs", key);
            }
            Setting::InCooldown => {
                self.guards.scale_in_cooldown_secs = raw.integer(key)?;
                self.set_origin("guards.scale_in_cooldown_secs", key);
            }
            Setting::StepCount => {
                self.guards.max_step = Some(raw.count(key)?);
                self.set_origin("guards.max_step", key);
            }
            Setting::UpThreshold | Setting::DownThreshold => {
                let value = raw.number(key)?;
                let up = setting == Setting::UpThreshold;
                match &mut self.policy {
                    PolicySpec::Seed(p) if up => p.scale_up_threshold = value,
                    PolicySpec::Seed(p) => p.scale_down_threshold = value,
                    PolicySpec::Step(p) | PolicySpec::AwsStepScaling(p) if up => {
                        p.scale_out_threshold = value;
                    }
                    PolicySpec::Step(p) | PolicySpec::AwsStepScaling(p) => {
                        p.scale_in_threshold = value;
                    }
                    PolicySpec::Target(_)
                    | PolicySpec::Slo(_)
                    | PolicySpec::AwsTargetTracking(_)
                    | PolicySpec::Keda(_)
                    | PolicySpec::Script(_) => {
                        tracing::warn!(
                            key,
                            policy = self.policy.kind(),
                            "Ignored: the policy has no thresholds."
                        );
                        return Ok(());
                    }
                }
                let canonical = match (&self.policy, up) {
                    (PolicySpec::Seed(_), true) => "policy.scale_up_threshold",
                    (PolicySpec::Seed(_), false) => "policy.scale_down_threshold",
                    (_, true) => "policy.scale_out_threshold",
                    (_, false) => "policy.scale_in_threshold",
                };
                self.set_origin(canonical, key);
            }
            Setting::TasksPerMessage | Setting::ScaleDownFactor => {
                let value = raw.number(key)?;
                if let PolicySpec::Seed(p) = &mut self.policy {
                    if setting == Setting::TasksPerMessage {
                        p.tasks_per_message = value;
                        self.set_origin("policy.tasks_per_message", key);
                    } else {
                        p.max_scale_down_factor = value;
                        self.set_origin("policy.max_scale_down_factor", key);
                    }
                } else {
                    tracing::warn!(
                        key,
                        policy = self.policy.kind(),
                        "Ignored: only the seed policy uses it."
                    );
                }
            }
            Setting::CombinedMessages => {
                let value = raw.boolean(key)?;
                match &mut self.policy {
                    PolicySpec::Seed(p) => p.use_combined_messages = value,
                    PolicySpec::Step(p) | PolicySpec::AwsStepScaling(p) => {
                        p.include_in_flight = value;
                    }
                    PolicySpec::Target(p) => p.include_in_flight = value,
                    PolicySpec::AwsTargetTracking(p) => p.include_in_flight = value,
                    PolicySpec::Keda(p) => p.scale_on_in_flight = value,
                    PolicySpec::Script(p) => p.include_in_flight = value,
                    PolicySpec::Slo(_) => tracing::warn!(
                        key,
                        "Ignored: the slo policy drains the visible backlog and reads in-flight messages on its own."
                    ),
                }
            }
            Setting::S3Bucket => self.state.s3_bucket = Some(raw.text(key)?),
            Setting::RecordS3Prefix => {
                self.state.record_s3_prefix = Some(raw.text(key)?);
                self.set_origin("state.record_s3_prefix", key);
            }
            Setting::LogLevel => self.log_level = Some(raw.text(key)?),
            Setting::Region => self.region = Some(raw.text(key)?),
            _ => self.apply_queue_setting(setting, key, raw)?,
        }
        Ok(())
    }
}
