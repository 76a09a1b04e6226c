//! Queue source settings, one struct per provider; the live adapters read them, the engine
//! only carries them so one policy file describes both sides.

use serde::{Deserialize, Serialize};

pub use super::secret::Secret;

pub use super::metric_source::{
    CloudWatchMetric, MetricMeaning, MetricStatSpec, PrometheusQuery, RESULT_ID,
};

/// Whether a URL or host carries user-info (`user:password@host`): an `@` in the authority,
/// between the scheme's `//` (if any) and the next `/`, `?` or `#`.
#[must_use]
pub fn has_userinfo(address: &str) -> bool {
    let rest = address.split_once("//").map_or(address, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.contains('@')
}

/// One queue source, tagged by `type` (v0.2's `QUEUE_TYPE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum QueueConfig {
    /// Amazon SQS.
    Sqs(SqsQueue),
    /// Amazon MQ (`ActiveMQ` or `RabbitMQ` engine).
    AmazonMq(AmazonMqQueue),
    /// Amazon Kinesis Data Streams.
    Kinesis(KinesisQueue),
    /// Amazon MSK or any Kafka cluster.
    Kafka(KafkaQueue),
    /// `RabbitMQ`.
    Rabbitmq(RabbitMqQueue),
    /// Redis lists, streams and sorted sets.
    Redis(RedisQueue),
    /// Amazon SNS (a rate source, not a queue).
    Sns(SnsTopic),
    /// Any CloudWatch metric or metric-math expression, as a backlog or a rate.
    Cloudwatch(CloudWatchMetric),
    /// A PromQL query against a Prometheus-compatible API, as a backlog or a rate.
    Prometheus(PrometheusQuery),
}

impl QueueConfig {
    /// The `type` name.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Sqs(_) => "sqs",
            Self::AmazonMq(_) => "amazon_mq",
            Self::Kinesis(_) => "kinesis",
            Self::Kafka(_) => "kafka",
            Self::Rabbitmq(_) => "rabbitmq",
            Self::Redis(_) => "redis",
            Self::Sns(_) => "sns",
            Self::Cloudwatch(_) => "cloudwatch",
            Self::Prometheus(_) => "prometheus",
        }
    }

    /// A default source of the named type; v0.2's names and their aliases are accepted.
    #[must_use]
    pub fn of_type(name: &str) -> Option<Self> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "sqs" => Self::Sqs(SqsQueue::default()),
            "amazonmq" | "amazon_mq" | "amazon-mq" | "mq" | "amq" | "activemq" => {
                Self::AmazonMq(AmazonMqQueue::default())
            }
            "kinesis" => Self::Kinesis(KinesisQueue::default()),
            "kafka" | "msk" => Self::Kafka(KafkaQueue::default()),
            "rabbitmq" | "rabbit" => Self::Rabbitmq(RabbitMqQueue::default()),
            "redis" => Self::Redis(RedisQueue::default()),
            "sns" => Self::Sns(SnsTopic::default()),
            "cloudwatch" => Self::Cloudwatch(CloudWatchMetric::default()),
            "prometheus" => Self::Prometheus(PrometheusQuery::default()),
            _ => return None,
        })
    }

    /// The passwords this source takes by reference, as (field, ARN): read once at start.
    #[must_use]
    pub fn secret_refs(&self) -> Vec<(&'static str, &str)> {
        let (field, arn) = match self {
            Self::AmazonMq(q) => ("password_secret", q.password_secret.as_deref()),
            Self::Kafka(q) => ("sasl_password_secret", q.sasl_password_secret.as_deref()),
            Self::Rabbitmq(q) => ("password_secret", q.password_secret.as_deref()),
            Self::Redis(q) => ("password_secret", q.password_secret.as_deref()),
            Self::Sqs(_)
            | Self::Kinesis(_)
            | Self::Sns(_)
            | Self::Cloudwatch(_)
            | Self::Prometheus(_) => ("", None),
        };
        arn.map(|a| vec![(field, a)]).unwrap_or_default()
    }

    /// Whether a password is also given in clear beside the reference in `field`.
    #[must_use]
    pub fn clear_password_beside(&self, field: &str) -> bool {
        match (self, field) {
            (Self::AmazonMq(q), "password_secret") => q.password.is_some(),
            (Self::Kafka(q), "sasl_password_secret") => q.sasl_password.is_some(),
            // RabbitMQ's password defaults to v0.2's `guest`: only another value counts.
            (Self::Rabbitmq(q), "password_secret") => q.password.expose() != "guest",
            (Self::Redis(q), "password_secret") => q.password.is_some(),
            _ => false,
        }
    }

    /// Puts the password read from the reference in `field` in place and drops the
    /// reference, so the probe sees a password as if it had been written in clear.
    pub fn set_referenced_password(&mut self, field: &str, secret: Secret) {
        match (self, field) {
            (Self::AmazonMq(q), "password_secret") => {
                q.password = Some(secret);
                q.password_secret = None;
            }
            (Self::Kafka(q), "sasl_password_secret") => {
                q.sasl_password = Some(secret);
                q.sasl_password_secret = None;
            }
            (Self::Rabbitmq(q), "password_secret") => {
                q.password = secret;
                q.password_secret = None;
            }
            (Self::Redis(q), "password_secret") => {
                q.password = Some(secret);
                q.password_secret = None;
            }
            _ => {}
        }
    }

    /// The source's URL and host fields, as (key, value): none may carry `user:password@`.
    #[must_use]
    pub fn address_fields(&self) -> Vec<(&'static str, &str)> {
        let mut v: Vec<(&'static str, Option<&str>)> = Vec::new();
        match self {
            Self::Sqs(q) => v.push(("queue_url", q.queue_url.as_deref())),
            Self::AmazonMq(q) => {
                v.push(("jolokia_url", q.jolokia_url.as_deref()));
                v.push(("management_url", q.management_url.as_deref()));
                v.push(("rabbitmq_host", q.rabbitmq_host.as_deref()));
            }
            Self::Kafka(q) => v.push(("bootstrap_servers", q.bootstrap_servers.as_deref())),
            Self::Rabbitmq(q) => {
                v.push(("host", Some(q.host.as_str())));
                v.push(("management_url", q.management_url.as_deref()));
            }
            Self::Redis(q) => v.push(("host", Some(q.host.as_str()))),
            Self::Prometheus(q) => v.push(("url", q.url.as_deref())),
            Self::Kinesis(_) | Self::Sns(_) | Self::Cloudwatch(_) => {}
        }
        v.into_iter()
            .filter_map(|(k, value)| value.map(|x| (k, x)))
            .collect()
    }

    /// Whether the probe reports the source's arrival rate (SQS only with CloudWatch,
    /// RabbitMQ only through the management API, a CloudWatch or Prometheus metric when it
    /// is a rate;
    /// Kinesis and SNS always; Redis, Kafka and Amazon MQ never).
    #[must_use]
    pub fn reports_arrival_rate(&self) -> bool {
        match self {
            Self::Sqs(q) => q.cloudwatch_metrics,
            Self::Rabbitmq(q) => q.management_url.is_some(),
            Self::Kinesis(_) | Self::Sns(_) => true,
            Self::Cloudwatch(m) => m.value == MetricMeaning::Rate,
            Self::Prometheus(m) => m.value == MetricMeaning::Rate,
            Self::AmazonMq(_) | Self::Kafka(_) | Self::Redis(_) => false,
        }
    }

    /// Whether the probe reports the age of the oldest message (SQS with CloudWatch, Kinesis).
    #[must_use]
    pub fn reports_oldest_age(&self) -> bool {
        match self {
            Self::Sqs(q) => q.cloudwatch_metrics,
            Self::Kinesis(_) => true,
            _ => false,
        }
    }

    /// The accepted `type` names, for error messages.
    pub const TYPE_NAMES: &'static str =
        "sqs, amazon_mq (amazonmq), kinesis, kafka (msk), rabbitmq, redis, sns, cloudwatch, prometheus";
}

/// Amazon SQS: by URL or by name.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqsQueue {
    /// Queue URL (`SQS_QUEUE_URL`).
    pub queue_url: Option<String>,
    /// Queue name, resolved with `GetQueueUrl` when no URL is given.
    pub queue_name: Option<String>,
    /// Also read `ApproximateAgeOfOldestMessage` and `NumberOfMessagesSent` from CloudWatch
    /// (`AWS/SQS`) for the age and arrival rate; off by default (GetMetricData is billed).
    pub cloudwatch_metrics: bool,
    /// Seconds of CloudWatch data read (default 300, at least 60): the arrival rate is averaged
    /// over it, and the age is its newest datapoint.
    pub metric_window_secs: Option<u64>,
    /// Weight in a `weighted` composite.
    pub weight: Option<f64>,
}

/// Amazon MQ broker and queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmazonMqQueue {
    /// Broker id (`AMQ_BROKER_ID`).
    pub broker_id: Option<String>,
    /// Queue name (`AMQ_QUEUE_NAME`).
    pub queue_name: Option<String>,
    /// Console user (`AMQ_USERNAME`).
    pub username: Option<String>,
    /// Console password (`AMQ_PASSWORD`).
    pub password: Option<Secret>,
    /// The password read at start from this Secrets Manager secret or SSM parameter ARN
    /// (`AMQ_PASSWORD_SECRET`), instead of `password`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<String>,
    /// Jolokia base URL, overriding the one derived from `DescribeBroker`.
    pub jolokia_url: Option<String>,
    /// ActiveMQ's JMX `brokerName` in the Jolokia MBean; unset matches the broker's only one.
    pub jolokia_broker_name: Option<String>,
    /// Read CloudWatch's `AWS/AmazonMQ` `QueueSize` when Jolokia fails (ActiveMQ engine).
    pub cloudwatch_fallback: bool,
    /// RabbitMQ engine: AMQP host, overriding the AMQPS endpoint from `DescribeBroker`.
    pub rabbitmq_host: Option<String>,
    /// RabbitMQ engine: AMQP port, overriding the endpoint's (5671).
    pub rabbitmq_port: Option<u16>,
    /// RabbitMQ engine: virtual host.
    pub vhost: String,
    /// RabbitMQ engine: amqps (on; Amazon MQ serves only TLS).
    pub tls: bool,
    /// RabbitMQ engine: management API base URL, overriding the console URL.
    pub management_url: Option<String>,
    /// Seconds to wait for each HTTP or AMQP connection and each request.
    pub timeout_secs: u64,
    /// Weight in a `weighted` composite.
    pub weight: Option<f64>,
}

impl Default for AmazonMqQueue {
    fn default() -> Self {
        Self {
            broker_id: None,
            queue_name: None,
            username: None,
            password: None,
            password_secret: None,
            jolokia_url: None,
            jolokia_broker_name: None,
            cloudwatch_fallback: true,
            rabbitmq_host: None,
            rabbitmq_port: None,
            vhost: "/".into(),
            tls: true,
            management_url: None,
            timeout_secs: 5,
            weight: None,
        }
    }
}

/// Kinesis stream.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KinesisQueue {
    /// Stream name (`KINESIS_STREAM_NAME`).
    pub stream_name: Option<String>,
    /// Where the lag comes from: `shard_iterator` (default; GetRecords' `MillisBehindLatest`
    /// per open shard at `iterator_type`) or `iterator_age` (CloudWatch
    /// `GetRecords.IteratorAgeMilliseconds`, the stream's real consumers).
    pub lag_source: Option<String>,
    /// Where the consumer is taken to be in `shard_iterator` mode: `TRIM_HORIZON` (default),
    /// `LATEST` or `AT_TIMESTAMP`.
    pub iterator_type: Option<String>,
    /// The checkpoint for `AT_TIMESTAMP`, RFC 3339 (`2026-11-28T08:00:00Z`).
    pub at_timestamp: Option<String>,
    /// Records per second per shard, used when CloudWatch `IncomingRecords` cannot be read.
    pub records_per_second_per_shard: Option<f64>,
    /// Seconds of CloudWatch data the incoming rate is averaged over (default 300, at least 60).
    pub metric_window_secs: Option<u64>,
    /// Most tasks per open shard (default 1): `max_useful_tasks` = open shards x this.
    pub tasks_per_shard: Option<u32>,
    /// Weight in a `weighted` composite.
    pub weight: Option<f64>,
}

/// Kafka / MSK consumer group.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaQueue {
    /// MSK cluster ARN (`MSK_CLUSTER_ARN`).
    pub cluster_arn: Option<String>,
    /// Topic (`KAFKA_TOPIC`).
    pub topic: Option<String>,
    /// Bootstrap servers, comma-separated (`KAFKA_BOOTSTRAP_SERVERS`).
    pub bootstrap_servers: Option<String>,
    /// Consumer group whose lag is read (`KAFKA_CONSUMER_GROUP`).
    pub consumer_group: Option<String>,
    /// Use `bootstrap_servers` as given and never call MSK `GetBootstrapBrokers`, even with
    /// `cluster_arn` set (off: MSK first, `bootstrap_servers` when that call fails or MSK's
    /// brokers cannot be reached).
    pub bootstrap_servers_override: bool,
    /// How a partition without a committed offset counts: `earliest` (default; from the low
    /// watermark, as a new group with `auto.offset.reset=earliest` would read), `latest`
    /// (nothing) or `zero` (from offset 0).
    pub uncommitted: Option<String>,
    /// What caps the useful task count: `partitions` (default; the topic's partition count)
    /// or `lagging_partitions` (partitions whose lag is above 0).
    pub useful_tasks: Option<String>,
    /// librdkafka `security.protocol`: `plaintext` (default), `ssl`, `sasl_plaintext` or
    /// `sasl_ssl`; also picks which MSK bootstrap string is used.
    pub security_protocol: Option<String>,
    /// SASL mechanism for the `sasl_*` protocols: `SCRAM-SHA-512` (default, MSK),
    /// `SCRAM-SHA-256` or `PLAIN`.
    pub sasl_mechanism: Option<String>,
    /// SASL user.
    pub sasl_username: Option<String>,
    /// SASL password (for MSK, from its Secrets Manager secret).
    pub sasl_password: Option<Secret>,
    /// The SASL password read at start from this Secrets Manager secret (MSK's
    /// `AmazonMSK_...` secret: its JSON `password`) or SSM parameter ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sasl_password_secret: Option<String>,
    /// CA certificate file (PEM) for TLS; unset uses the system's trust store.
    pub ssl_ca_location: Option<String>,
    /// Seconds a whole read may take against the brokers (default 10).
    pub timeout_secs: Option<u64>,
    /// Weight in a `weighted` composite.
    pub weight: Option<f64>,
}

/// `RabbitMQ` queue(s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RabbitMqQueue {
    /// Host (`RABBITMQ_HOST`).
    pub host: String,
    /// AMQP port (`RABBITMQ_PORT`).
    pub port: u16,
    /// Virtual host (`RABBITMQ_VHOST`).
    pub vhost: String,
    /// Queue names (`RABBITMQ_QUEUE`, comma-separated in the environment).
    pub queues: Vec<String>,
    /// A pattern over queue names where `*` matches any run of characters (no regular
    /// expressions); the queues are listed through the management API, so it needs
    /// `management_url`. Combined with `queues` when both are set.
    pub queue_pattern: Option<String>,
    /// How several queues combine: `sum` (default) or `max` (each count's maximum).
    pub combine: Option<String>,
    /// User (`RABBITMQ_USERNAME`).
    pub username: String,
    /// Password (`RABBITMQ_PASSWORD`).
    pub password: Secret,
    /// The password read at start from this Secrets Manager secret or SSM parameter ARN
    /// (`RABBITMQ_PASSWORD_SECRET`), instead of `password`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<String>,
    /// Use amqps (TLS).
    pub tls: bool,
    /// Verify the server's certificate, for amqps and an `https` management URL (on by
    /// default; turn off only for a test broker with a self-signed certificate).
    pub verify_certificates: bool,
    /// Management HTTP API base URL, e.g. `http://127.0.0.1:15672`, without credentials
    /// (`username` and `password` are sent). Gives in-flight counts, rates and `queue_pattern`.
    pub management_url: Option<String>,
    /// Seconds to wait for a connection (AMQP handshake or HTTP connect).
    pub connect_timeout_secs: u64,
    /// Seconds to wait for each request (queue declare, HTTP request).
    pub request_timeout_secs: u64,
    /// Weight in a `weighted` composite.
    pub weight: Option<f64>,
}

impl Default for RabbitMqQueue {
    fn default() -> Self {
        Self {
            host: "localhost".into(),
            port: 5672,
            vhost: "/".into(),
            queues: Vec::new(),
            queue_pattern: None,
            combine: None,
            username: "guest".into(),
            password: Secret::new("guest"),
            password_secret: None,
            tls: false,
            verify_certificates: true,
            management_url: None,
            connect_timeout_secs: 5,
            request_timeout_secs: 5,
            weight: None,
        }
    }
}

/// Redis key and how to read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisQueue {
    /// Host (`REDIS_HOST`).
    pub host: String,
    /// Port (`REDIS_PORT`).
    pub port: u16,
    /// ACL user.
    pub username: Option<String>,
    /// Password (`REDIS_PASSWORD`).
    pub password: Option<Secret>,
    /// The password read at start from this Secrets Manager secret or SSM parameter ARN
    /// (`REDIS_PASSWORD_SECRET`), instead of `password`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<String>,
    /// Database index.
    pub db: i64,
    /// Use rediss (TLS).
    pub tls: bool,
    /// Verify the server's certificate and host name under TLS (on by default).
    pub verify_certificates: bool,
    /// The queue's key (`REDIS_QUEUE_KEY`).
    pub queue_key: String,
    /// `list`, `stream` or `zset` (`REDIS_QUEUE_TYPE`).
    pub queue_type: String,
    /// Stream consumer group; unset reads the stream's only group (several need it set).
    pub consumer_group: Option<String>,
    /// Key holding in-flight items for a `list` or `zset` queue (list, set, sorted set or
    /// hash); a missing processing key counts 0, as Redis deletes emptied collections.
    pub processing_key: Option<String>,
    /// Read a missing `queue_key` as an empty queue instead of a failed read. Off by default:
    /// a misspelt key must not scale in. Redis deletes an emptied list or sorted set, so a
    /// `list` or `zset` queue that drains to empty needs this on to ever scale in.
    pub missing_key_is_empty: bool,
    /// Seconds to wait for the connection and for each command.
    pub timeout_secs: u64,
    /// Weight in a `weighted` composite.
    pub weight: Option<f64>,
}

impl Default for RedisQueue {
    fn default() -> Self {
        Self {
            host: "localhost".into(),
            port: 6379,
            username: None,
            password: None,
            password_secret: None,
            db: 0,
            tls: false,
            verify_certificates: true,
            queue_key: String::new(),
            queue_type: "list".into(),
            consumer_group: None,
            processing_key: None,
            missing_key_is_empty: false,
            timeout_secs: 5,
            weight: None,
        }
    }
}

/// SNS topic (a rate source).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SnsTopic {
    /// Topic ARN.
    pub topic_arn: Option<String>,
    /// Seconds of CloudWatch `NumberOfMessagesPublished` the rate is averaged over (default
    /// 300, at least 60).
    pub metric_window_secs: Option<u64>,
    /// Weight in a `weighted` composite.
    pub weight: Option<f64>,
}

impl QueueConfig {
    /// Whether the source reports a rate and never a backlog (SNS, a CloudWatch or Prometheus
    /// metric read as a rate): scaling on such sources alone would scale in to the minimum.
    #[must_use]
    pub fn is_rate_only(&self) -> bool {
        match self {
            Self::Sns(_) => true,
            Self::Cloudwatch(m) => m.value == MetricMeaning::Rate,
            Self::Prometheus(m) => m.value == MetricMeaning::Rate,
            _ => false,
        }
    }

    /// Whether `calibrate --since` can read the source's history from CloudWatch: the services
    /// that publish per-queue arrival metrics (SQS, Amazon MQ, Kinesis, MSK).
    #[must_use]
    pub fn has_cloudwatch_history(&self) -> bool {
        matches!(
            self,
            Self::Sqs(_) | Self::AmazonMq(_) | Self::Kinesis(_) | Self::Kafka(_)
        )
    }

    /// The source's weight in a `weighted` composite (default 1).
    #[must_use]
    pub fn weight(&self) -> f64 {
        match self {
            Self::Sqs(q) => q.weight,
            Self::AmazonMq(q) => q.weight,
            Self::Kinesis(q) => q.weight,
            Self::Kafka(q) => q.weight,
            Self::Rabbitmq(q) => q.weight,
            Self::Redis(q) => q.weight,
            Self::Sns(q) => q.weight,
            Self::Cloudwatch(q) => q.weight,
            Self::Prometheus(q) => q.weight,
        }
        .unwrap_or(1.0)
    }
}
