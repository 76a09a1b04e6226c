//! The settings table: each setting's environment variable, event key and short key, in the
//! order they apply; and reading the variables that are set.

use super::super::env;
use super::Setting;
use crate::config::ConfigError;

/// (setting, environment variable, event key, short key inside `queue_config`).
/// Order matters: the queue type is applied before the provider settings.
pub(super) const SETTINGS: &[(Setting, &str, &str, &str)] = &[
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
) -> Result<std::collections::BTreeMap<String, String>, ConfigError> {
    let mut out = std::collections::BTreeMap::new();
    for name in env_names() {
        let Some(raw) = lookup(name) else { continue };
        match raw.into_string() {
            Ok(v) => {
                out.insert(name.to_string(), v);
            }
            Err(raw) => {
                return Err(ConfigError::invalid(
                    name,
                    format!("{} bytes that are not UTF-8", raw.len()),
                    "an environment value must be UTF-8 text",
                ));
            }
        }
    }
    Ok(out)
}

pub(super) fn provider_of(setting: Setting) -> Option<&'static str> {
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
