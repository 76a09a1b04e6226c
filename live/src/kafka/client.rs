//! The blocking librdkafka side: one short-lived client per read that fetches the topic's
//! metadata, the group's committed offsets and each partition's watermarks.
//!
//! The client is a `BaseConsumer` whose `group.id` is the watched group, because librdkafka
//! only sends OffsetFetch for a consumer's group. It never calls `subscribe`, `assign`,
//! `commit` or `store_offset`, and polls only to collect error events after a failure (with
//! nothing assigned there are no records to fetch). Without a subscription librdkafka never
//! sends JoinGroup, SyncGroup or Heartbeat: it only finds the group's coordinator and asks
//! it for offsets, so the group's members see no rebalance and its offsets never move.
//! Auto-commit is off as a second guard.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::metadata::MetadataPartition;
use rdkafka::{Offset, TopicPartitionList};
use tracing::debug;

use super::config::Settings;
use super::lag::PartitionOffsets;
use super::redact;
use crate::ProbeError;

/// Records librdkafka's own account of what went wrong (its logs name the refused address or
/// the failed SASL handshake, where the API only returns a timeout) and forwards its logs to
/// tracing at debug level, every password masked.
struct Witness {
    secret: String,
    last_problem: Mutex<Option<String>>,
}

impl Witness {
    fn new(secret: &str) -> Self {
        Self {
            secret: secret.to_string(),
            last_problem: Mutex::new(None),
        }
    }

    fn remember(&self, text: String) {
        if let Ok(mut last) = self.last_problem.lock() {
            *last = Some(text);
        }
    }

    fn last_problem(&self) -> Option<String> {
        self.last_problem.lock().ok().and_then(|last| last.clone())
    }
}

impl ClientContext for Witness {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        let message = redact(log_message, self.secret.as_str());
        debug!(level = ?level, facility = fac, message = %message, "librdkafka said.");
        if matches!(
            level,
            RDKafkaLogLevel::Emerg
                | RDKafkaLogLevel::Alert
                | RDKafkaLogLevel::Critical
                | RDKafkaLogLevel::Error
                | RDKafkaLogLevel::Warning
        ) {
            self.remember(message);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let reason = redact(reason, self.secret.as_str());
        debug!(error = %error, reason = %reason, "librdkafka reported an error.");
        self.remember(format!("{error}: {reason}"));
    }
}

impl ConsumerContext for Witness {}

/// The librdkafka settings of the probe's client.
fn client_config(settings: &Settings, bootstrap: &str) -> ClientConfig {
    let timeout_ms = settings.timeout.as_millis().to_string();
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", &settings.group)
        .set("client.id", "stepscale-lag-probe")
        // Belt and braces: the client never consumes, and must never move the group's offsets.
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // Asking for a missing topic's metadata must not create it.
        .set("allow.auto.create.topics", "false")
        .set("socket.timeout.ms", &timeout_ms)
        .set("socket.connection.setup.timeout.ms", &timeout_ms)
        .set("security.protocol", settings.protocol.librdkafka_name());
    if let Some(sasl) = &settings.sasl {
        config
            .set("sasl.mechanism", sasl.mechanism)
            .set("sasl.username", &sasl.username)
            .set("sasl.password", sasl.password.expose());
    }
    if let Some(ca) = &settings.ssl_ca_location {
        config.set("ssl.ca.location", ca);
    }
    config
}

/// The time left before `deadline`, or a timeout error naming what was being read.
fn left(deadline: Instant, total: Duration, target: &str) -> Result<Duration, ProbeError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(ProbeError::Timeout {
            target: target.to_string(),
            secs: total.as_secs(),
        })
    } else {
        Ok(left)
    }
}

/// One read's client and what it needs to explain a failure.
struct Reader<'a> {
    settings: &'a Settings,
    consumer: BaseConsumer<Witness>,
    target: String,
    deadline: Instant,
}

impl Reader<'_> {
    fn left(&self) -> Result<Duration, ProbeError> {
        left(self.deadline, self.settings.timeout, &self.target)
    }

    /// librdkafka's last logged problem, after serving queued error events.
    fn cause(&self) -> Option<String> {
        for _ in 0..32 {
            match self.consumer.poll(Duration::ZERO) {
                Some(Err(error)) => self
                    .consumer
                    .context()
                    .remember(redact(&error.to_string(), self.settings.secret())),
                Some(Ok(_)) => {}
                None => break,
            }
        }
        self.consumer.context().last_problem()
    }

    /// A failed librdkafka call as a probe error: auth, connection, timeout or other.
    fn fail(&self, stage: &str, error: &KafkaError) -> ProbeError {
        let cause = self.cause();
        let code = error.rdkafka_error_code();
        let secret = self.settings.secret();
        let detail = redact(
            &match &cause {
                Some(cause) => format!("{stage}: {error} ({cause})"),
                None => format!("{stage}: {error}"),
            },
            secret,
        );
        // "SASL PLAIN mechanism handshake failed", "SASL authentication error: ...": a word,
        // not the `sasl_ssl://` prefix every broker name carries on a SASL listener.
        let auth_text = cause.as_deref().is_some_and(|c| {
            let c = c.to_ascii_lowercase();
            c.contains("authentication") || c.contains("sasl ")
        });
        let target = self.target.clone();
        match code {
            Some(RDKafkaErrorCode::TopicAuthorizationFailed) => ProbeError::Auth {
                target,
                detail: format!("{detail}; grant Describe on topic {}", self.settings.topic),
            },
            Some(RDKafkaErrorCode::GroupAuthorizationFailed) => ProbeError::Auth {
                target,
                detail: format!("{detail}; grant Describe on group {}", self.settings.group),
            },
            Some(
                RDKafkaErrorCode::Authentication
                | RDKafkaErrorCode::SaslAuthenticationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed,
            ) => ProbeError::Auth { target, detail },
            _ if auth_text => ProbeError::Auth { target, detail },
            Some(
                RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::Resolve
                | RDKafkaErrorCode::SSL,
            ) => ProbeError::Connect { target, detail },
            // A call that timed out before any broker answered: the brokers are unreachable.
            Some(RDKafkaErrorCode::OperationTimedOut | RDKafkaErrorCode::TimedOutQueue)
                if stage == "metadata" =>
            {
                ProbeError::Connect {
                    target,
                    detail: format!(
                        "no broker answered within {} s{}",
                        self.settings.timeout.as_secs(),
                        cause
                            .map(|c| format!(" ({})", redact(&c, secret)))
                            .unwrap_or_default()
                    ),
                }
            }
            Some(RDKafkaErrorCode::OperationTimedOut | RDKafkaErrorCode::TimedOutQueue) => {
                ProbeError::Timeout {
                    target,
                    secs: self.settings.timeout.as_secs(),
                }
            }
            Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
                self.topic_not_found()
            }
            _ => ProbeError::Other { target, detail },
        }
    }

    fn topic_not_found(&self) -> ProbeError {
        ProbeError::NotFound {
            what: "kafka topic",
            name: self.settings.topic.clone(),
        }
    }

    /// The topic's partition ids, in order.
    fn partitions(&self) -> Result<Vec<i32>, ProbeError> {
        let topic = &self.settings.topic;
        let metadata = self
            .consumer
            .fetch_metadata(Some(topic), self.left()?)
            .map_err(|e| self.fail("metadata", &e))?;
        let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
            return Err(self.topic_not_found());
        };
        if let Some(error) = found.error() {
            let code = RDKafkaErrorCode::from(error);
            return Err(match code {
                RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => {
                    self.topic_not_found()
                }
                RDKafkaErrorCode::TopicAuthorizationFailed => ProbeError::Auth {
                    target: self.target.clone(),
                    detail: format!(
                        "not authorised to describe topic {topic} (grant Describe on it)"
                    ),
                },
                other => ProbeError::Other {
                    target: self.target.clone(),
                    detail: format!("metadata of topic {topic}: {other}"),
                },
            });
        }
        let mut ids: Vec<i32> = found
            .partitions()
            .iter()
            .map(MetadataPartition::id)
            .collect();
        if ids.is_empty() {
            return Err(self.topic_not_found());
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// The group's committed offset per partition (`None`: never committed).
    fn committed(&self, ids: &[i32]) -> Result<Vec<Option<i64>>, ProbeError> {
        let topic = &self.settings.topic;
        let mut tpl = TopicPartitionList::with_capacity(ids.len());
        for &id in ids {
            tpl.add_partition(topic, id);
        }
        let tpl = self
            .consumer
            .committed_offsets(tpl, self.left()?)
            .map_err(|e| self.fail("committed offsets", &e))?;
        ids.iter()
            .map(|&id| {
                let Some(elem) = tpl.find_partition(topic, id) else {
                    return Ok(None);
                };
                if let Err(error) = elem.error() {
                    return Err(self.fail("committed offsets", &error));
                }
                Ok(match elem.offset() {
                    Offset::Offset(n) if n >= 0 => Some(n),
                    _ => None,
                })
            })
            .collect()
    }

    fn read(&self) -> Result<Vec<PartitionOffsets>, ProbeError> {
        let ids = self.partitions()?;
        // Committed offsets first: a commit never passes the high watermark read after it, so
        // a record consumed between the two calls cannot make the lag negative.
        let committed = self.committed(&ids)?;
        let topic = &self.settings.topic;
        let mut out = Vec::with_capacity(ids.len());
        for (&partition, committed) in ids.iter().zip(committed) {
            let (low, high) = self
                .consumer
                .fetch_watermarks(topic, partition, self.left()?)
                .map_err(|e| self.fail("watermarks", &e))?;
            out.push(PartitionOffsets {
                partition,
                low,
                high,
                committed,
            });
        }
        Ok(out)
    }
}

/// Reads every partition's offsets from `bootstrap`; blocks up to the settings' timeout (and
/// the client's shutdown after it). Call it from a blocking thread.
pub fn read_offsets(
    settings: &Settings,
    bootstrap: &str,
) -> Result<Vec<PartitionOffsets>, ProbeError> {
    let started = Instant::now();
    let target = format!("kafka {bootstrap} topic {}", settings.topic);
    let consumer: BaseConsumer<Witness> = client_config(settings, bootstrap)
        .create_with_context(Witness::new(settings.secret()))
        .map_err(|e| {
            let text = redact(&e.to_string(), settings.secret());
            let hint = if text.contains("not available at build time")
                || text.contains("recompile librdkafka")
            {
                " (this build's librdkafka has no TLS: enable rdkafka's `ssl` feature)"
            } else {
                ""
            };
            ProbeError::Config(format!("kafka client settings: {text}{hint}"))
        })?;
    let reader = Reader {
        settings,
        consumer,
        target,
        deadline: started + settings.timeout,
    };
    let result = reader.read();
    debug!(
        target = %reader.target,
        group = %settings.group,
        ok = result.is_ok(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "Read Kafka offsets."
    );
    result
}
