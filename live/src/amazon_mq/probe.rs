//! `AmazonMqProbe`: describes the broker once, then reads by engine.

use aws_config::SdkConfig;
use stepscale_engine::config::queue::AmazonMqQueue;
use stepscale_engine::QueueSample;
use tokio::sync::OnceCell;
use tracing::{debug, warn};

use super::broker::{describe_broker, Broker, Engine};
use super::jolokia::Jolokia;
use super::rabbit::rabbitmq_config;
use super::settings::Settings;
use super::{cloudwatch, redact};
use crate::rabbitmq::RabbitMqProbe;
use crate::{Probe, ProbeError};

/// Reads one queue of an Amazon MQ broker, ActiveMQ or RabbitMQ.
///
/// ActiveMQ: `visible = QueueSize − InFlightCount`, `in_flight = InFlightCount`, from
/// Jolokia, or from CloudWatch when Jolokia fails and `cloudwatch_fallback` is on.
/// RabbitMQ: whatever [`RabbitMqProbe`] reads.
pub struct AmazonMqProbe {
    /// Boxed to keep `AnyProbe`'s variants small.
    settings: Box<Settings>,
    mq: aws_sdk_mq::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    /// Set by the first successful `DescribeBroker`.
    engine: OnceCell<EngineProbe>,
}

/// The reader chosen by the broker's engine.
enum EngineProbe {
    ActiveMq(Box<ActiveMq>),
    RabbitMq(Box<RabbitMqProbe>),
}

/// An ActiveMQ broker's readers.
struct ActiveMq {
    broker: Broker,
    jolokia: Jolokia,
}

impl AmazonMqProbe {
    /// A probe for `config`, sharing the SDK configuration; checks the settings but calls
    /// nothing yet.
    pub fn new(config: AmazonMqQueue, sdk: &SdkConfig) -> Result<Self, ProbeError> {
        Ok(Self {
            settings: Box::new(Settings::new(config)?),
            mq: aws_sdk_mq::Client::new(sdk),
            cloudwatch: aws_sdk_cloudwatch::Client::new(sdk),
            engine: OnceCell::new(),
        })
    }

    /// Describes the broker and builds the engine's reader.
    async fn resolve(&self) -> Result<EngineProbe, ProbeError> {
        let broker = describe_broker(&self.mq, &self.settings.broker_id).await?;
        match broker.engine {
            Engine::ActiveMq => {
                let bases = match &self.settings.jolokia_url {
                    Some(url) => vec![url.clone()],
                    None => broker.jolokia_urls(),
                };
                debug!(broker = %broker.name, jolokia = ?bases, "Reading ActiveMQ through Jolokia.");
                let jolokia = Jolokia::new(&self.settings, bases)?;
                Ok(EngineProbe::ActiveMq(Box::new(ActiveMq {
                    broker,
                    jolokia,
                })))
            }
            Engine::RabbitMq => {
                let config = rabbitmq_config(&self.settings, &broker)?;
                debug!(
                    broker = %broker.name,
                    host = %config.host,
                    port = config.port,
                    tls = config.tls,
                    management_url = ?config.management_url,
                    "Handing RabbitMQ over to the RabbitMQ probe."
                );
                Ok(EngineProbe::RabbitMq(Box::new(RabbitMqProbe::new(config)?)))
            }
        }
    }

    async fn read_activemq(&self, activemq: &ActiveMq) -> Result<QueueSample, ProbeError> {
        let queue = &self.settings.queue;
        let broker = &activemq.broker.name;
        let jolokia_error = match activemq.jolokia.read(queue).await {
            Ok(stats) => {
                let sample = sample(stats.queue_size, stats.in_flight);
                debug!(
                    broker = %broker,
                    queue = %queue,
                    source = "jolokia",
                    queue_size = stats.queue_size,
                    visible = sample.visible,
                    in_flight = sample.in_flight,
                    consumers = stats.consumers,
                    "Read Amazon MQ queue."
                );
                return Ok(sample);
            }
            // A missing queue is an answer, not an outage: CloudWatch would only repeat
            // stale figures of a queue that is gone.
            Err(e @ ProbeError::NotFound { .. }) => return Err(e),
            Err(e) if !self.settings.cloudwatch_fallback => return Err(e),
            Err(e) => e,
        };
        warn!(
            broker = %broker,
            queue = %queue,
            error = %jolokia_error,
            "Jolokia read failed; trying CloudWatch."
        );
        let dimensions = activemq.broker.cloudwatch_dimensions();
        match cloudwatch::read(&self.cloudwatch, &dimensions, queue).await {
            Ok(figures) => {
                let sample = sample(figures.queue_size, figures.in_flight.unwrap_or(0));
                debug!(
                    broker = %broker,
                    queue = %queue,
                    source = "cloudwatch",
                    fallback = true,
                    queue_size = figures.queue_size,
                    visible = sample.visible,
                    in_flight = sample.in_flight,
                    age_secs = figures.age.as_secs(),
                    "Read Amazon MQ queue from CloudWatch (fallback)."
                );
                Ok(sample)
            }
            Err(cloudwatch_error) => Err(ProbeError::Other {
                target: format!("Amazon MQ broker {broker} queue {queue}"),
                detail: redact(
                    &format!("Jolokia: {jolokia_error}; CloudWatch fallback: {cloudwatch_error}"),
                    self.settings.password(),
                ),
            }),
        }
    }
}

/// ActiveMQ's `QueueSize` counts dispatched, unacknowledged messages too: they are taken
/// out of `visible` and reported as `in_flight`.
fn sample(queue_size: u64, in_flight: u64) -> QueueSample {
    QueueSample {
        visible: queue_size.saturating_sub(in_flight),
        in_flight,
        ..QueueSample::default()
    }
}

impl Probe for AmazonMqProbe {
    async fn read(&self) -> Result<QueueSample, ProbeError> {
        let engine = self.engine.get_or_try_init(|| self.resolve()).await?;
        match engine {
            EngineProbe::ActiveMq(activemq) => self.read_activemq(activemq).await,
            EngineProbe::RabbitMq(rabbitmq) => rabbitmq.read().await,
        }
    }
}

impl std::fmt::Debug for AmazonMqProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmazonMqProbe")
            .field("settings", &self.settings)
            .field("resolved", &self.engine.initialized())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::sample;

    #[test]
    fn in_flight_messages_leave_the_visible_count() {
        let s = sample(10, 3);
        assert_eq!((s.visible, s.in_flight, s.delayed), (7, 3, 0));
        // The two counters are read at slightly different moments: never below zero.
        let s = sample(2, 5);
        assert_eq!((s.visible, s.in_flight), (0, 5));
    }
}
