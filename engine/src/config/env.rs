//! Every environment variable StepScale reads, in one place, so docs and parser cannot drift.
//!
//! The names and defaults are fast-autoscaler v0.2's; see the table in engine/README.md.

/// Queue provider: sqs (default), amazonmq, kinesis, msk/kafka, rabbitmq, redis, sns.
pub const QUEUE_TYPE: &str = "QUEUE_TYPE";
/// ECS cluster name or ARN.
pub const ECS_CLUSTER: &str = "ECS_CLUSTER";
/// ECS service name.
pub const SERVICE_NAME: &str = "SERVICE_NAME";
/// Lowest desired count (default 10).
pub const MIN_TASKS: &str = "MIN_TASKS";
/// Highest desired count (default 300).
pub const MAX_TASKS: &str = "MAX_TASKS";
/// Scale out above this many messages (default 100.0).
pub const SCALE_UP_THRESHOLD: &str = "SCALE_UP_THRESHOLD";
/// Scale in below this many messages (default 99.0).
pub const SCALE_DOWN_THRESHOLD: &str = "SCALE_DOWN_THRESHOLD";
/// Scale-out cooldown in seconds (default 120).
pub const SCALE_OUT_COOLDOWN: &str = "SCALE_OUT_COOLDOWN";
/// Scale-in cooldown in seconds (default 120).
pub const SCALE_IN_COOLDOWN: &str = "SCALE_IN_COOLDOWN";
/// Largest change per decision for `step`, `target` and `slo` (default 5; `seed` ignores it, as v0.2's formula did).
pub const SCALING_STEP_COUNT: &str = "SCALING_STEP_COUNT";
/// Tasks per message (default 0.01).
pub const TASKS_PER_MESSAGE: &str = "TASKS_PER_MESSAGE";
/// Scale-in keeps floor(current × factor) tasks (default 0.99).
pub const MAX_SCALE_DOWN_FACTOR: &str = "MAX_SCALE_DOWN_FACTOR";
/// Count in-flight messages too (default False).
pub const USE_COMBINED_MESSAGES: &str = "USE_COMBINED_MESSAGES";
/// S3 bucket for scaler state.
pub const S3_CONFIG_BUCKET: &str = "S3_CONFIG_BUCKET";
/// Key prefix under the state bucket where the Lambda records what it observed (one CSV object
/// per service and day); unset: no recording. Not a v0.2 variable.
pub const RECORD_S3_PREFIX: &str = "RECORD_S3_PREFIX";
/// Log level (default INFO).
pub const LOG_LEVEL: &str = "LOG_LEVEL";
/// AWS region.
pub const AWS_REGION: &str = "AWS_REGION";
/// SQS queue URL.
pub const SQS_QUEUE_URL: &str = "SQS_QUEUE_URL";
/// Amazon MQ broker id.
pub const AMQ_BROKER_ID: &str = "AMQ_BROKER_ID";
/// Amazon MQ queue name.
pub const AMQ_QUEUE_NAME: &str = "AMQ_QUEUE_NAME";
/// Amazon MQ console user.
pub const AMQ_USERNAME: &str = "AMQ_USERNAME";
/// Amazon MQ console password (secret).
pub const AMQ_PASSWORD: &str = "AMQ_PASSWORD";
/// Amazon MQ console password by reference: a Secrets Manager secret or SSM parameter ARN.
pub const AMQ_PASSWORD_SECRET: &str = "AMQ_PASSWORD_SECRET";
/// Kinesis stream name.
pub const KINESIS_STREAM_NAME: &str = "KINESIS_STREAM_NAME";
/// MSK cluster ARN.
pub const MSK_CLUSTER_ARN: &str = "MSK_CLUSTER_ARN";
/// Kafka topic.
pub const KAFKA_TOPIC: &str = "KAFKA_TOPIC";
/// Kafka bootstrap servers (override and fallback for MSK).
pub const KAFKA_BOOTSTRAP_SERVERS: &str = "KAFKA_BOOTSTRAP_SERVERS";
/// Kafka consumer group.
pub const KAFKA_CONSUMER_GROUP: &str = "KAFKA_CONSUMER_GROUP";
/// `RabbitMQ` host.
pub const RABBITMQ_HOST: &str = "RABBITMQ_HOST";
/// `RabbitMQ` port.
pub const RABBITMQ_PORT: &str = "RABBITMQ_PORT";
/// `RabbitMQ` virtual host.
pub const RABBITMQ_VHOST: &str = "RABBITMQ_VHOST";
/// `RabbitMQ` queue name(s), comma-separated.
pub const RABBITMQ_QUEUE: &str = "RABBITMQ_QUEUE";
/// `RabbitMQ` user.
pub const RABBITMQ_USERNAME: &str = "RABBITMQ_USERNAME";
/// `RabbitMQ` password (secret).
pub const RABBITMQ_PASSWORD: &str = "RABBITMQ_PASSWORD";
/// `RabbitMQ` password by reference: a Secrets Manager secret or SSM parameter ARN.
pub const RABBITMQ_PASSWORD_SECRET: &str = "RABBITMQ_PASSWORD_SECRET";
/// Redis host.
pub const REDIS_HOST: &str = "REDIS_HOST";
/// Redis port.
pub const REDIS_PORT: &str = "REDIS_PORT";
/// Redis password (secret).
pub const REDIS_PASSWORD: &str = "REDIS_PASSWORD";
/// Redis password by reference: a Secrets Manager secret or SSM parameter ARN.
pub const REDIS_PASSWORD_SECRET: &str = "REDIS_PASSWORD_SECRET";
/// Redis queue key.
pub const REDIS_QUEUE_KEY: &str = "REDIS_QUEUE_KEY";
/// Redis queue type: list, stream or zset.
pub const REDIS_QUEUE_TYPE: &str = "REDIS_QUEUE_TYPE";
