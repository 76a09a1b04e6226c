//! The enum that forwards to every probe this build includes, built from a source's settings.

use stepscale_engine::config::QueueConfig;
use stepscale_engine::{ReadFailure, Reading};

#[allow(
    unused_imports,
    reason = "the trait's `read` is called only in the arms of the probes a build includes"
)]
use super::contract::Probe;
use super::contract::ProbeError;

/// Every probe this build includes; a cargo feature removes a variant and its code.
#[non_exhaustive]
pub enum AnyProbe {
    /// `RabbitMQ`.
    #[cfg(feature = "rabbitmq")]
    Rabbitmq(crate::rabbitmq::RabbitMqProbe),
    /// Redis.
    #[cfg(feature = "redis")]
    Redis(crate::redis::RedisProbe),
    /// Amazon SQS.
    #[cfg(feature = "sqs")]
    Sqs(crate::sqs::SqsProbe),
    /// Amazon SNS (a rate source).
    #[cfg(feature = "sns")]
    Sns(crate::sns::SnsProbe),
    /// Any CloudWatch metric or expression.
    #[cfg(feature = "cloudwatch")]
    Cloudwatch(crate::cloudwatch_metric::CloudWatchMetricProbe),
    /// A PromQL query.
    #[cfg(feature = "prometheus")]
    Prometheus(crate::prometheus::PrometheusProbe),
    /// Amazon Kinesis Data Streams.
    #[cfg(feature = "kinesis")]
    Kinesis(crate::kinesis::KinesisProbe),
    /// Amazon MSK / Kafka consumer-group lag.
    #[cfg(feature = "kafka")]
    Kafka(crate::kafka::KafkaProbe),
    /// Amazon MQ.
    #[cfg(feature = "amazon-mq")]
    AmazonMq(crate::amazon_mq::AmazonMqProbe),
}

/// What probes share, built once at start: the AWS SDK configuration when AWS is compiled in.
#[derive(Debug, Clone, Default)]
pub struct ProbeContext {
    /// The SDK configuration (endpoint, region, credentials, timeouts, retries).
    #[cfg(feature = "aws")]
    pub aws: Option<aws_config::SdkConfig>,
}

impl ProbeContext {
    /// The SDK configuration, or a configuration error naming the provider that needs it.
    #[cfg(feature = "aws")]
    pub fn sdk(&self, provider: &str) -> Result<&aws_config::SdkConfig, ProbeError> {
        self.aws.as_ref().ok_or_else(|| {
            ProbeError::Config(format!(
                "the {provider} probe needs the AWS configuration, which was not loaded"
            ))
        })
    }
}

impl AnyProbe {
    /// The probe for a configured source.
    pub fn from_config(config: &QueueConfig, ctx: &ProbeContext) -> Result<Self, ProbeError> {
        let _ = ctx;
        if let Some((field, arn)) = config.secret_refs().first() {
            return Err(ProbeError::Config(format!(
                "`{field}` = {arn:?} was not read: a password by reference is read at start by `stepscale run` and the Lambda, which need the AWS configuration"
            )));
        }
        match config {
            #[cfg(feature = "rabbitmq")]
            QueueConfig::Rabbitmq(c) => Ok(Self::Rabbitmq(crate::rabbitmq::RabbitMqProbe::new(
                c.clone(),
            )?)),
            #[cfg(feature = "redis")]
            QueueConfig::Redis(c) => Ok(Self::Redis(crate::redis::RedisProbe::new(c.clone())?)),
            #[cfg(feature = "sqs")]
            QueueConfig::Sqs(c) => Ok(Self::Sqs(crate::sqs::SqsProbe::new(
                c.clone(),
                ctx.sdk("SQS")?,
            )?)),
            #[cfg(feature = "sns")]
            QueueConfig::Sns(c) => Ok(Self::Sns(crate::sns::SnsProbe::new(
                c.clone(),
                ctx.sdk("SNS")?,
            )?)),
            #[cfg(feature = "prometheus")]
            QueueConfig::Prometheus(c) => Ok(Self::Prometheus(
                crate::prometheus::PrometheusProbe::new(c)?,
            )),
            #[cfg(feature = "cloudwatch")]
            QueueConfig::Cloudwatch(c) => Ok(Self::Cloudwatch(
                crate::cloudwatch_metric::CloudWatchMetricProbe::new(c, ctx.sdk("CloudWatch")?)?,
            )),
            #[cfg(feature = "kinesis")]
            QueueConfig::Kinesis(c) => Ok(Self::Kinesis(crate::kinesis::KinesisProbe::new(
                c.clone(),
                ctx.sdk("Kinesis")?,
            )?)),
            #[cfg(feature = "kafka")]
            QueueConfig::Kafka(c) => Ok(Self::Kafka(crate::kafka::KafkaProbe::new(
                c.clone(),
                ctx.sdk("MSK")?,
            )?)),
            #[cfg(feature = "amazon-mq")]
            QueueConfig::AmazonMq(c) => Ok(Self::AmazonMq(crate::amazon_mq::AmazonMqProbe::new(
                c.clone(),
                ctx.sdk("Amazon MQ")?,
            )?)),
            #[allow(unreachable_patterns)]
            other => Err(ProbeError::Config(format!(
                "queue type `{}` is not built into this binary (enable its cargo feature)",
                other.type_name()
            ))),
        }
    }

    /// Reads the source as the engine wants it: a failure is a failed read, never zero.
    pub async fn reading(&self) -> Reading {
        let result = match self {
            #[cfg(feature = "rabbitmq")]
            Self::Rabbitmq(p) => p.read().await,
            #[cfg(feature = "redis")]
            Self::Redis(p) => p.read().await,
            #[cfg(feature = "sqs")]
            Self::Sqs(p) => p.read().await,
            #[cfg(feature = "sns")]
            Self::Sns(p) => p.read().await,
            #[cfg(feature = "cloudwatch")]
            Self::Cloudwatch(p) => p.read().await,
            #[cfg(feature = "prometheus")]
            Self::Prometheus(p) => p.read().await,
            #[cfg(feature = "kinesis")]
            Self::Kinesis(p) => p.read().await,
            #[cfg(feature = "kafka")]
            Self::Kafka(p) => p.read().await,
            #[cfg(feature = "amazon-mq")]
            Self::AmazonMq(p) => p.read().await,
            #[allow(unreachable_patterns)]
            _ => Err(ProbeError::Config("no probe compiled in".into())),
        };
        result.map_err(|e| ReadFailure::new(e.to_string()))
    }
}
