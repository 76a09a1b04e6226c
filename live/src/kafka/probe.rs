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

/// Bootstrap servers in use, and whether MSK named them.
#[derive(Debug, Clone)]
struct Resolved {
    servers: String,
    from_msk: bool,
}

/// Where a probe's bootstrap servers come from.
enum Bootstrap {
    /// The configured list.
    Configured(String),
    /// MSK `GetBootstrapBrokers`, then the configured list when that call fails.
    Msk {
        client: aws_sdk_kafka::Client,
        cluster_arn: String,
        fallback: Option<String>,
    },
}

/// Reads one consumer group's lag on one topic, without joining the group.
///
/// `visible` is the lag summed over the partitions, `in_flight` is 0 and there is no arrival
/// rate; `max_useful_tasks` is the partition count (or the lagging partitions' count).
pub struct KafkaProbe {
    settings: Arc<Settings>,
    bootstrap: Bootstrap,
    /// The bootstrap servers in use, kept between reads (see `unreachable`).
    resolved: Mutex<Option<Resolved>>,
}

impl KafkaProbe {
    /// A probe for `config`, sharing the SDK configuration; checks the settings but dials
    /// nothing yet.
    pub fn new(config: KafkaQueue, sdk: &SdkConfig) -> Result<Self, ProbeError> {
        let settings = Settings::parse(config)?;
        let bootstrap = match &settings.bootstrap {
            BootstrapSource::Configured(servers) => Bootstrap::Configured(servers.clone()),
            BootstrapSource::Msk {
                cluster_arn,
                fallback,
            } => Bootstrap::Msk {
                client: aws_sdk_kafka::Client::new(sdk),
                cluster_arn: cluster_arn.clone(),
                fallback: fallback.clone(),
            },
        };
        Ok(Self {
            settings: Arc::new(settings),
            bootstrap,
            resolved: Mutex::new(None),
        })
    }

    fn cached(&self) -> Option<Resolved> {
        self.resolved.lock().ok().and_then(|r| r.clone())
    }

    fn remember(&self, servers: Option<Resolved>) {
        if let Ok(mut resolved) = self.resolved.lock() {
            *resolved = servers;
        }
    }

    /// `used` could not be reached. MSK's brokers give way to the configured ones (MSK may
    /// name private endpoints the probe cannot reach); otherwise the next read asks MSK again.
    fn unreachable(&self, used: &Resolved) {
        let Bootstrap::Msk {
            cluster_arn,
            fallback,
            ..
        } = &self.bootstrap
        else {
            return;
        };
        match fallback {
            Some(fallback) if used.from_msk => {
                warn!(
                    cluster_arn = %cluster_arn,
                    unreachable = %used.servers,
                    servers = %fallback,
                    "MSK's bootstrap brokers cannot be reached; the next read uses the configured ones."
                );
                self.remember(Some(Resolved {
                    servers: fallback.clone(),
                    from_msk: false,
                }));
            }
            _ => self.remember(None),
        }
    }

    /// The bootstrap servers: the configured ones, or MSK's with the configured ones as the
    /// fallback when `GetBootstrapBrokers` fails.
    async fn bootstrap(&self) -> Result<Resolved, ProbeError> {
        if let Some(servers) = self.cached() {
            return Ok(servers);
        }
        let resolved = match &self.bootstrap {
            Bootstrap::Configured(servers) => Resolved {
                servers: servers.clone(),
                from_msk: false,
            },
            Bootstrap::Msk {
                client,
                cluster_arn,
                fallback,
            } => {
                let listener =
                    Listener::for_protocol(self.settings.protocol, self.settings.sasl.as_ref());
                let asked = match listener {
                    Ok(listener) => msk::bootstrap_brokers(client, cluster_arn, listener).await,
                    Err(why) => Err(ProbeError::Config(format!("kafka: {why}"))),
                };
                match (asked, fallback) {
                    (Ok(servers), _) => {
                        info!(
                            cluster_arn = %cluster_arn,
                            servers = %servers,
                            "Resolved the MSK bootstrap brokers."
                        );
                        Resolved {
                            servers,
                            from_msk: true,
                        }
                    }
                    (Err(error), Some(fallback)) => {
                        warn!(
                            cluster_arn = %cluster_arn,
                            error = %error,
                            servers = %fallback,
                            "GetBootstrapBrokers failed; using the configured bootstrap servers."
                        );
                        Resolved {
                            servers: fallback.clone(),
                            from_msk: false,
                        }
                    }
                    (Err(error), None) => return Err(error),
                }
            }
        };
        self.remember(Some(resolved.clone()));
        Ok(resolved)
    }
}

impl Probe for KafkaProbe {
    async fn read(&self) -> Result<QueueSample, ProbeError> {
        let bootstrap = self.bootstrap().await?;
        let settings = Arc::clone(&self.settings);
        let target = format!("kafka {} topic {}", bootstrap.servers, settings.topic);
        let bound = settings.timeout + SHUTDOWN_GRACE;
        // librdkafka blocks; its client (and its shutdown) runs on a blocking thread. Should it
        // overrun even its own timeouts, the read fails and the thread finishes on its own.
        let servers = bootstrap.servers.clone();
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
                ) {
                    self.unreachable(&bootstrap);
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
