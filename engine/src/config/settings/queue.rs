//! The provider settings (v0.2's per-queue variables) applied to the configured source.

use super::raw::{secret_ref, secret_text, Raw};
use super::Setting;
use crate::config::queue::{QueueConfig, Secret};
use crate::config::{Config, ConfigError};

impl Config {
    pub(super) fn apply_queue_setting(
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
