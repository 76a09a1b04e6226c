//! The v0.2 settings table: each environment variable and event key, and how it sets the
//! model. The table (`table`), the raw values of the three front doors (`raw`), and how each
//! setting applies (`apply` for the service, guards and policy; `queue` for the sources).

mod apply;
mod queue;
mod raw;
mod table;

use std::collections::BTreeMap;

use serde::Deserialize;

pub use table::{collect_env, env_names};

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
pub(super) enum Setting {
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
