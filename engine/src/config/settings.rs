//! The v0.2 settings table: each environment variable and event key, and how it sets the model.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::env;
use super::queue::{QueueConfig, Secret};
use super::{Config, ConfigError};
use crate::policy::PolicySpec;

/// One value of the Lambda event's `config` table (any JSON value).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum OverlayValue {
    /// `null`: treated as not set.
    Null,
    /// A JSON boolean.
    Bool(bool),
    /// A JSON number.
    Number(f64),
    /// A JSON string.
    Text(String),
    /// A JSON array.
    List(Vec<OverlayValue>),
    /// A JSON object.
    Table(BTreeMap<String, OverlayValue>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setting {
    QueueType,
    Cluster,
    Service,
    MinTasks,
    MaxTasks,
    UpThreshold,
    DownThreshold,
    OutCooldown,
    InCooldown,
    StepCount,
    TasksPerMessage,
    ScaleDownFactor,
    CombinedMessages,
    S3Bucket,
    RecordS3Prefix,
    LogLevel,
    Region,
    SqsQueueUrl,
    AmqBrokerId,
    AmqQueueName,
    AmqUsername,
    AmqPassword,
    AmqPasswordSecret,
    KinesisStream,
    MskClusterArn,
    KafkaTopic,
    KafkaBootstrap,
    KafkaGroup,
    RabbitHost,
    RabbitPort,
    RabbitVhost,
    RabbitQueue,
    RabbitUser,
    RabbitPassword,
    RabbitPasswordSecret,
    RedisHost,
    RedisPort,
    RedisPassword,
    RedisPasswordSecret,
    RedisKey,
    RedisQueueType,
}

/// (setting, environment variable, event key, short key inside `queue_config`).
/// Order matters: the queue type is applied before the provider settings.
const SETTINGS: &[(Setting, &str, &str, &str)] = &[
    (Setting::QueueType, env::QUEUE_TYPE, "queue_type", ""),
    (Setting::Cluster, env::ECS_CLUSTER, "cluster_name", ""),
    (Setting::Service, env::SERVICE_NAME, "service_name", ""),
    (Setting::MinTasks, env::MIN_TASKS, "min_tasks", ""),
    (Setting::MaxTasks, env::MAX_TASKS, "max_tasks", ""),
    (
        Setting::UpThreshold,
        env::SCALE_UP_THRESHOLD,
        "scale_up_threshold",
        "",
    ),
    (
        Setting::DownThreshold,
        env::SCALE_DOWN_THRESHOLD,
        "scale_down_threshold",
        "",
    ),
    (
        Setting::OutCooldown,
        env::SCALE_OUT_COOLDOWN,
        "scale_out_cooldown",
        "",
    ),
    (
        Setting::InCooldown,
        env::SCALE_IN_COOLDOWN,
        "scale_in_cooldown",
        "",
    ),
    (
        Setting::StepCount,
        env::SCALING_STEP_COUNT,
        "scaling_step_count",
        "",
    ),
    (
        Setting::TasksPerMessage,
        env::TASKS_PER_MESSAGE,
        "tasks_per_message",
        "",
    ),
    (
        Setting::ScaleDownFactor,
        env::MAX_SCALE_DOWN_FACTOR,
        "max_scale_down_factor",
        "",
    ),
    (
        Setting::CombinedMessages,
        env::USE_COMBINED_MESSAGES,
        "use_combined_messages",
        "",
    ),
    (
        Setting::S3Bucket,
        env::S3_CONFIG_BUCKET,
        "s3_config_bucket",
        "",
    ),
    (
        Setting::RecordS3Prefix,
        env::RECORD_S3_PREFIX,
        "record_s3_prefix",
        "",
    ),
    (Setting::LogLevel, env::LOG_LEVEL, "log_level", ""),
    (Setting::Region, env::AWS_REGION, "aws_region", ""),
    (
        Setting::SqsQueueUrl,
        env::SQS_QUEUE_URL,
        "sqs_queue_url",
        "queue_url",
    ),
    (
        Setting::AmqBrokerId,
        env::AMQ_BROKER_ID,
        "amq_broker_id",
        "broker_id",
    ),
    (
        Setting::AmqQueueName,
        env::AMQ_QUEUE_NAME,
        "amq_queue_name",
        "queue_name",
    ),
    (
        Setting::AmqUsername,
        env::AMQ_USERNAME,
        "amq_username",
        "username",
    ),
    (
        Setting::AmqPassword,
        env::AMQ_PASSWORD,
        "amq_password",
        "password",
    ),
    (
        Setting::AmqPasswordSecret,
        env::AMQ_PASSWORD_SECRET,
        "amq_password_secret",
        "password_secret",
    ),
    (
        Setting::KinesisStream,
        env::KINESIS_STREAM_NAME,
        "kinesis_stream_name",
        "stream_name",
    ),
    (
        Setting::MskClusterArn,
        env::MSK_CLUSTER_ARN,
        "msk_cluster_arn",
        "cluster_arn",
    ),
    (
        Setting::KafkaTopic,
        env::KAFKA_TOPIC,
        "kafka_topic",
        "topic",
    ),
    (
        Setting::KafkaBootstrap,
        env::KAFKA_BOOTSTRAP_SERVERS,
        "kafka_bootstrap_servers",
        "bootstrap_servers",
    ),
    (
        Setting::KafkaGroup,
        env::KAFKA_CONSUMER_GROUP,
        "kafka_consumer_group",
        "consumer_group",
    ),
    (
        Setting::RabbitHost,
        env::RABBITMQ_HOST,
        "rabbitmq_host",
        "host",
    ),
    (
        Setting::RabbitPort,
        env::RABBITMQ_PORT,
        "rabbitmq_port",
        "port",
    ),
    (
        Setting::RabbitVhost,
        env::RABBITMQ_VHOST,
        "rabbitmq_vhost",
        "vhost",
    ),
    (
        Setting::RabbitQueue,
        env::RABBITMQ_QUEUE,
        "rabbitmq_queue",
        "queue",
    ),
    (
        Setting::RabbitUser,
        env::RABBITMQ_USERNAME,
        "rabbitmq_username",
        "username",
    ),
    (
        Setting::RabbitPassword,
        env::RABBITMQ_PASSWORD,
        "rabbitmq_password",
        "password",
    ),
    (
        Setting::RabbitPasswordSecret,
        env::RABBITMQ_PASSWORD_SECRET,
        "rabbitmq_password_secret",
        "password_secret",
    ),
    (Setting::RedisHost, env::REDIS_HOST, "redis_host", "host"),
    (Setting::RedisPort, env::REDIS_PORT, "redis_port", "port"),
    (
        Setting::RedisPassword,
        env::REDIS_PASSWORD,
        "redis_password",
        "password",
    ),
    (
        Setting::RedisPasswordSecret,
        env::REDIS_PASSWORD_SECRET,
        "redis_password_secret",
        "password_secret",
    ),
    (
        Setting::RedisKey,
        env::REDIS_QUEUE_KEY,
        "redis_queue_key",
        "queue_key",
    ),
    (
        Setting::RedisQueueType,
        env::REDIS_QUEUE_TYPE,
        "redis_queue_type",
        "queue_type",
    ),
];

/// The names of the environment variables StepScale reads.
#[must_use]
pub fn env_names() -> Vec<&'static str> {
    SETTINGS.iter().map(|s| s.1).collect()
}

/// The StepScale variables that are set, read through `lookup` (pass `std::env::var_os`). A
/// value that is not UTF-8 is an error naming the variable, never taken for unset.
pub fn collect_env(
    lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<std::collections::BTreeMap<String, String>, super::ConfigError> {
    let mut out = std::collections::BTreeMap::new();
    for name in env_names() {
        let Some(raw) = lookup(name) else { continue };
        match raw.into_string() {
            Ok(v) => {
                out.insert(name.to_string(), v);
            }
            Err(raw) => {
                return Err(super::ConfigError::invalid(
                    name,
                    format!("{} bytes that are not UTF-8", raw.len()),
                    "an environment value must be UTF-8 text",
                ));
            }
        }
    }
    Ok(out)
}

/// A raw value from one of the front doors.
#[derive(Clone, Copy)]
enum Raw<'a> {
    Text(&'a str),
    Number(f64),
    Bool(bool),
}

impl Raw<'_> {
    fn shown(self, secret: bool) -> String {
        if secret {
            return "\"********\"".into();
        }
        match self {
            Raw::Text(s) => format!("{s:?}"),
            Raw::Number(n) => n.to_string(),
            Raw::Bool(b) => b.to_string(),
        }
    }

    fn text(self, key: &str) -> Result<String, ConfigError> {
        match self {
            Raw::Text(s) => Ok(s.to_string()),
            Raw::Number(n) => Ok(n.to_string()),
            Raw::Bool(b) => Err(ConfigError::invalid(key, b, "expected a string")),
        }
    }

    fn integer(self, key: &str) -> Result<i64, ConfigError> {
        let bad = || ConfigError::invalid(key, self.shown(false), "expected a whole number");
        match self {
            Raw::Text(s) => s.trim().parse::<i64>().map_err(|_| bad()),
            Raw::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Ok(n as i64),
            _ => Err(bad()),
        }
    }

    fn count(self, key: &str) -> Result<u32, ConfigError> {
        let n = self.integer(key)?;
        u32::try_from(n).map_err(|_| {
            ConfigError::invalid(key, n, "expected a task count between 0 and 4294967295")
        })
    }

    fn port(self, key: &str) -> Result<u16, ConfigError> {
        let n = self.integer(key)?;
        u16::try_from(n)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| ConfigError::invalid(key, n, "expected a port between 1 and 65535"))
    }

    fn number(self, key: &str) -> Result<f64, ConfigError> {
        let bad = || ConfigError::invalid(key, self.shown(false), "expected a finite number");
        let n = match self {
            Raw::Text(s) => s.trim().parse::<f64>().map_err(|_| bad())?,
            Raw::Number(n) => n,
            Raw::Bool(_) => return Err(bad()),
        };
        if n.is_finite() {
            Ok(n)
        } else {
            Err(bad())
        }
    }

    fn boolean(self, key: &str) -> Result<bool, ConfigError> {
        match self {
            Raw::Bool(b) => Ok(b),
            Raw::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "y" | "on" => Ok(true),
                "false" | "0" | "no" | "n" | "off" => Ok(false),
                _ => Err(ConfigError::invalid(
                    key,
                    format!("{s:?}"),
                    "expected a boolean: true/false, 1/0, yes/no or on/off (any case)",
                )),
            },
            Raw::Number(n) => match n.to_string().as_str() {
                "0" => Ok(false),
                "1" => Ok(true),
                _ => Err(ConfigError::invalid(key, n, "expected a boolean")),
            },
        }
    }
}

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
                    hint: "see the README's event payload table for accepted keys".into(),
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
                    | PolicySpec::Keda(_) => {
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

    fn apply_queue_setting(
        &mut self,
        setting: Setting,
        key: &str,
        raw: Raw<'_>,
    ) -> Result<(), ConfigError> {
        let Some(queue) = self.queues.first_mut() else {
            return Ok(());
        };
        // A provider variable for another provider is not an error: deployments often carry
        // variables for several providers; only the configured type's are read.
        match (setting, queue) {
            (Setting::SqsQueueUrl, QueueConfig::Sqs(q)) => q.queue_url = Some(raw.text(key)?),
            (Setting::AmqBrokerId, QueueConfig::AmazonMq(q)) => q.broker_id = Some(raw.text(key)?),
            (Setting::AmqQueueName, QueueConfig::AmazonMq(q)) => {
                q.queue_name = Some(raw.text(key)?);
            }
            (Setting::AmqUsername, QueueConfig::AmazonMq(q)) => q.username = Some(raw.text(key)?),
            (Setting::AmqPassword, QueueConfig::AmazonMq(q)) => {
                q.password = Some(Secret::new(secret_text(key, raw)?));
            }
            (Setting::AmqPasswordSecret, QueueConfig::AmazonMq(q)) => {
                q.password_secret = Some(secret_ref(key, raw)?);
            }
            (Setting::KinesisStream, QueueConfig::Kinesis(q)) => {
                q.stream_name = Some(raw.text(key)?);
            }
            (Setting::MskClusterArn, QueueConfig::Kafka(q)) => q.cluster_arn = Some(raw.text(key)?),
            (Setting::KafkaTopic, QueueConfig::Kafka(q)) => q.topic = Some(raw.text(key)?),
            (Setting::KafkaBootstrap, QueueConfig::Kafka(q)) => {
                q.bootstrap_servers = Some(raw.text(key)?);
            }
            (Setting::KafkaGroup, QueueConfig::Kafka(q)) => {
                q.consumer_group = Some(raw.text(key)?);
            }
            (Setting::RabbitHost, QueueConfig::Rabbitmq(q)) => q.host = raw.text(key)?,
            (Setting::RabbitPort, QueueConfig::Rabbitmq(q)) => q.port = raw.port(key)?,
            (Setting::RabbitVhost, QueueConfig::Rabbitmq(q)) => q.vhost = raw.text(key)?,
            (Setting::RabbitQueue, QueueConfig::Rabbitmq(q)) => {
                q.queues = raw
                    .text(key)?
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
            }
            (Setting::RabbitUser, QueueConfig::Rabbitmq(q)) => q.username = raw.text(key)?,
            (Setting::RabbitPassword, QueueConfig::Rabbitmq(q)) => {
                q.password = Secret::new(secret_text(key, raw)?);
            }
            (Setting::RabbitPasswordSecret, QueueConfig::Rabbitmq(q)) => {
                q.password_secret = Some(secret_ref(key, raw)?);
            }
            (Setting::RedisHost, QueueConfig::Redis(q)) => q.host = raw.text(key)?,
            (Setting::RedisPort, QueueConfig::Redis(q)) => q.port = raw.port(key)?,
            (Setting::RedisPassword, QueueConfig::Redis(q)) => {
                q.password = Some(Secret::new(secret_text(key, raw)?));
            }
            (Setting::RedisPasswordSecret, QueueConfig::Redis(q)) => {
                q.password_secret = Some(secret_ref(key, raw)?);
            }
            (Setting::RedisKey, QueueConfig::Redis(q)) => q.queue_key = raw.text(key)?,
            (Setting::RedisQueueType, QueueConfig::Redis(q)) => {
                let t = raw.text(key)?.trim().to_ascii_lowercase();
                if !matches!(t.as_str(), "list" | "stream" | "zset") {
                    return Err(ConfigError::invalid(
                        key,
                        format!("{t:?}"),
                        "expected list, stream or zset",
                    ));
                }
                q.queue_type = t;
            }
            _ => {}
        }
        Ok(())
    }
}

/// A secret's text; a non-text secret is refused without echoing it.
fn secret_text(key: &str, raw: Raw<'_>) -> Result<String, ConfigError> {
    match raw {
        Raw::Text(s) => Ok(s.to_string()),
        _ => Err(ConfigError::invalid(
            key,
            raw.shown(true),
            "expected a string",
        )),
    }
}

/// A password reference: checked here, so that a bad one is named by the variable or event
/// key that set it.
fn secret_ref(key: &str, raw: Raw<'_>) -> Result<String, ConfigError> {
    let arn = raw.text(key)?;
    super::secret_ref::SecretRef::parse(key, &arn)?;
    Ok(arn.trim().to_string())
}

fn provider_of(setting: Setting) -> Option<&'static str> {
    Some(match setting {
        Setting::SqsQueueUrl => "sqs",
        Setting::AmqBrokerId
        | Setting::AmqQueueName
        | Setting::AmqUsername
        | Setting::AmqPassword
        | Setting::AmqPasswordSecret => "amazon_mq",
        Setting::KinesisStream => "kinesis",
        Setting::MskClusterArn
        | Setting::KafkaTopic
        | Setting::KafkaBootstrap
        | Setting::KafkaGroup => "kafka",
        Setting::RabbitHost
        | Setting::RabbitPort
        | Setting::RabbitVhost
        | Setting::RabbitQueue
        | Setting::RabbitUser
        | Setting::RabbitPassword
        | Setting::RabbitPasswordSecret => "rabbitmq",
        Setting::RedisHost
        | Setting::RedisPort
        | Setting::RedisPassword
        | Setting::RedisPasswordSecret
        | Setting::RedisKey
        | Setting::RedisQueueType => "redis",
        _ => return None,
    })
}
