//! `KafkaProbe`: resolves the bootstrap servers, then reads the group's lag on a blocking
//! thread under a bounded timeout.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use stepscale_engine::config::queue::KafkaQueue;
use stepscale_engine::QueueSample;
use tracing::{debug, info, warn};

use super::client;
use super::config::{BootstrapSource, Settings};
use super::lag;
use super::msk::{self, Listener};
use crate::{Probe, ProbeError};

/// How long a read may run past its own timeout while librdkafka shuts its client down.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Reads one consumer group's lag on one topic, without joining the group.
///
/// `visible` is the lag summed over the partitions, `in_flight` is 0 and there is no arrival
/// rate; `max_useful_tasks` is the partition count (or the lagging partitions' count).
pub struct KafkaProbe {
    settings: Arc<Settings>,
    /// The MSK client, when the bootstrap servers come from `GetBootstrapBrokers`.
    msk: Option<aws_sdk_kafka::Client>,
    /// The bootstrap servers last resolved; forgotten when the brokers cannot be reached, so
    /// the next read asks MSK again.
    resolved: Mutex<Option<String>>,
}

impl KafkaProbe {
    /// A probe for `config`, sharing the SDK configuration; checks the settings but dials
    /// nothing yet.
    pub fn new(config: KafkaQueue, sdk: &SdkConfig) -> Result<Self, ProbeError> {
        let settings = Settings::parse(&config)?;
        let msk = match settings.bootstrap {
            BootstrapSource::Msk { .. } => Some(aws_sdk_kafka::Client::new(sdk)),
            BootstrapSource::Configured(_) => None,
        };
        Ok(Self {
            settings: Arc::new(settings),
            msk,
            resolved: Mutex::new(None),
        })
    }

    fn cached(&self) -> Option<String> {
        self.resolved.lock().ok().and_then(|r| r.clone())
    }

    fn remember(&self, servers: Option<String>) {
        if let Ok(mut resolved) = self.resolved.lock() {
            *resolved = servers;
        }
    }

    /// The bootstrap servers: the configured ones, or MSK's with the configured ones as the
    /// fallback when `GetBootstrapBrokers` fails.
    async fn bootstrap(&self) -> Result<String, ProbeError> {
        if let Some(servers) = self.cached() {
            return Ok(servers);
        }
        let servers = match (&self.settings.bootstrap, &self.msk) {
            (BootstrapSource::Configured(servers), _) => servers.clone(),
            (
                BootstrapSource::Msk {
                    cluster_arn,
                    fallback,
                },
                Some(client),
            ) => {
                let asked = match Listener::for_protocol(
                    self.settings.protocol,
                    self.settings.sasl.as_ref(),
                ) {
                    Ok(listener) => msk::bootstrap_brokers(client, cluster_arn, listener).await,
                    Err(why) => Err(ProbeError::Config(format!("kafka: {why}"))),
                };
                match (asked, fallback) {
                    (Ok(servers), _) => {
                        info!(cluster_arn = %cluster_arn, servers = %servers, "Resolved the MSK bootstrap brokers.");
                        servers
                    }
                    (Err(error), Some(fallback)) => {
                        warn!(
                            cluster_arn = %cluster_arn,
                            error = %error,
                            servers = %fallback,
                            "GetBootstrapBrokers failed; using the configured bootstrap servers."
                        );
                        fallback.clone()
                    }
                    (Err(error), None) => return Err(error),
                }
            }
            (BootstrapSource::Msk { .. }, None) => {
                return Err(ProbeError::Config(
                    "kafka: the MSK client was not built".into(),
                ))
            }
        };
        self.remember(Some(servers.clone()));
        Ok(servers)
    }
}

impl Probe for KafkaProbe {
    async fn read(&self) -> Result<QueueSample, ProbeError> {
        let bootstrap = self.bootstrap().await?;
        let settings = Arc::clone(&self.settings);
        let target = format!("kafka {bootstrap} topic {}", settings.topic);
        let bound = settings.timeout + SHUTDOWN_GRACE;
        // librdkafka blocks; its client (and its shutdown) runs on a blocking thread. Should it
        // overrun even its own timeouts, the read fails and the thread finishes on its own.
        let servers = bootstrap.clone();
        let task = tokio::task::spawn_blocking(move || client::read_offsets(&settings, &servers));
        let result = match tokio::time::timeout(bound, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(ProbeError::Other {
                target: target.clone(),
                detail: format!("the Kafka read thread failed: {join}"),
            }),
            Err(_) => Err(ProbeError::Timeout {
                target: target.clone(),
                secs: bound.as_secs(),
            }),
        };
        let partitions = match result {
            Ok(partitions) => partitions,
            Err(error) => {
                if matches!(
                    error,
                    ProbeError::Connect { .. } | ProbeError::Timeout { .. }
                ) && matches!(self.settings.bootstrap, BootstrapSource::Msk { .. })
                {
                    self.remember(None);
                }
                return Err(error);
            }
        };
        let sample = lag::sample(
            &partitions,
            self.settings.uncommitted,
            self.settings.useful_tasks,
        );
        for p in &partitions {
            debug!(
                target = %target,
                partition = p.partition,
                low = p.low,
                high = p.high,
                committed = p.committed,
                lag = p.lag(self.settings.uncommitted),
                "Read partition."
            );
        }
        debug!(
            target = %target,
            group = %self.settings.group,
            partitions = partitions.len(),
            lag = sample.visible,
            max_useful_tasks = sample.max_useful_tasks,
            "Read Kafka consumer-group lag."
        );
        Ok(sample)
    }
}
