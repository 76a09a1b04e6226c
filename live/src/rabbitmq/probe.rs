//! `RabbitMqProbe`: resolves the configured queues, reads each one, and combines them.

use std::collections::BTreeMap;

use stepscale_engine::config::queue::RabbitMqQueue;
use stepscale_engine::QueueSample;
use tracing::debug;

use super::amqp::Amqp;
use super::management::{Management, QueueStats};
use super::pattern;
use crate::{Probe, ProbeError};

/// How several queues make one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Combine {
    /// Every count and rate added up.
    Sum,
    /// Each count and rate is its largest value over the queues.
    Max,
}

impl Combine {
    fn parse(value: Option<&str>) -> Result<Self, ProbeError> {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("sum") => Ok(Self::Sum),
            Some("max") => Ok(Self::Max),
            Some(other) => Err(ProbeError::Config(format!(
                "rabbitmq `combine` is {other:?}; expected `sum` or `max`"
            ))),
        }
    }

    fn apply(self, samples: &[QueueSample]) -> QueueSample {
        let mut out = QueueSample::default();
        for s in samples {
            let rate = match (out.arrival_rate_per_s, s.arrival_rate_per_s) {
                (Some(a), Some(b)) if self == Self::Sum => Some(a + b),
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            out = match self {
                Self::Sum => QueueSample {
                    visible: out.visible.saturating_add(s.visible),
                    in_flight: out.in_flight.saturating_add(s.in_flight),
                    delayed: out.delayed.saturating_add(s.delayed),
                    ..out
                },
                Self::Max => QueueSample {
                    visible: out.visible.max(s.visible),
                    in_flight: out.in_flight.max(s.in_flight),
                    delayed: out.delayed.max(s.delayed),
                    ..out
                },
            };
            out.arrival_rate_per_s = rate;
        }
        out
    }
}

/// Reads one or more `RabbitMQ` queues of one vhost.
///
/// `visible` is the ready count from a passive declare; `in_flight` (unacknowledged) and
/// `arrival_rate_per_s` (publish rate) need the management API and are 0 / none without it.
pub struct RabbitMqProbe {
    queues: Vec<String>,
    pattern: Option<String>,
    combine: Combine,
    /// Boxed, as is the management client, to keep `AnyProbe`'s variants small.
    amqp: Box<Amqp>,
    management: Option<Box<Management>>,
}

impl RabbitMqProbe {
    /// A probe for `config`; checks the settings but dials nothing yet.
    pub fn new(config: RabbitMqQueue) -> Result<Self, ProbeError> {
        let amqp = Box::new(Amqp::new(&config)?);
        let management = match config
            .management_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            Some(url) => Some(Box::new(Management::new(&config, url)?)),
            None => None,
        };
        let combine = Combine::parse(config.combine.as_deref())?;
        let mut queues: Vec<String> = Vec::new();
        for name in config.queues {
            let name = name.trim();
            if !name.is_empty() && !queues.iter().any(|q| q == name) {
                queues.push(name.to_string());
            }
        }
        let pattern = config
            .queue_pattern
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty());
        if queues.is_empty() && pattern.is_none() {
            return Err(ProbeError::Config(
                "rabbitmq needs `queues` (RABBITMQ_QUEUE) or `queue_pattern`".into(),
            ));
        }
        if pattern.is_some() && management.is_none() {
            return Err(ProbeError::Config(
                "rabbitmq `queue_pattern` lists queues through the management API: set \
                 `management_url`"
                    .into(),
            ));
        }
        Ok(Self {
            queues,
            pattern,
            combine,
            amqp,
            management,
        })
    }

    /// The queues to read now, and the statistics a listing already gave for them.
    async fn resolve(&self) -> Result<(Vec<String>, BTreeMap<String, QueueStats>), ProbeError> {
        let mut names = self.queues.clone();
        let mut listed = BTreeMap::new();
        if let (Some(pattern), Some(management)) = (&self.pattern, &self.management) {
            let mut matched: Vec<QueueStats> = management
                .list()
                .await?
                .into_iter()
                .filter(|q| pattern::matches(pattern, &q.name))
                .collect();
            if matched.is_empty() {
                return Err(ProbeError::NotFound {
                    what: "queue matching",
                    name: pattern.clone(),
                });
            }
            matched.sort_by(|a, b| a.name.cmp(&b.name));
            for stats in matched {
                if !names.contains(&stats.name) {
                    names.push(stats.name.clone());
                }
                listed.insert(stats.name.clone(), stats);
            }
        }
        Ok((names, listed))
    }
}

impl Probe for RabbitMqProbe {
    async fn read(&self) -> Result<QueueSample, ProbeError> {
        let (names, mut listed) = self.resolve().await?;
        let declared = self.amqp.declare_all(&names).await?;
        let mut samples = Vec::with_capacity(names.len());
        for (name, declared) in names.iter().zip(declared) {
            let stats = match (&self.management, listed.remove(name)) {
                (Some(_), Some(stats)) => Some(stats),
                (Some(management), None) => Some(management.queue(name).await?),
                (None, _) => None,
            };
            let sample = QueueSample {
                visible: declared.ready,
                in_flight: stats.as_ref().map_or(0, |s| s.messages_unacknowledged),
                arrival_rate_per_s: stats.as_ref().map(QueueStats::publish_rate),
                ..QueueSample::default()
            };
            debug!(
                target = %self.amqp.target(),
                queue = %name,
                visible = sample.visible,
                in_flight = sample.in_flight,
                consumers = declared.consumers,
                publish_rate = sample.arrival_rate_per_s,
                deliver_rate = stats.as_ref().map(QueueStats::deliver_rate),
                "Read queue."
            );
            samples.push(sample);
        }
        let sample = self.combine.apply(&samples);
        debug!(
            target = %self.amqp.target(),
            queues = samples.len(),
            visible = sample.visible,
            in_flight = sample.in_flight,
            "Read RabbitMQ."
        );
        Ok(sample)
    }
}

#[cfg(test)]
mod tests {
    use super::Combine;
    use stepscale_engine::QueueSample;

    fn sample(visible: u64, in_flight: u64, rate: Option<f64>) -> QueueSample {
        QueueSample {
            visible,
            in_flight,
            arrival_rate_per_s: rate,
            ..QueueSample::default()
        }
    }

    #[test]
    fn combine_sums_or_takes_each_maximum() {
        let samples = [sample(3, 7, Some(1.5)), sample(5, 2, Some(0.5))];
        assert_eq!(Combine::Sum.apply(&samples), sample(8, 9, Some(2.0)));
        assert_eq!(Combine::Max.apply(&samples), sample(5, 7, Some(1.5)));
        assert_eq!(
            Combine::Sum.apply(&[sample(1, 0, None), sample(2, 0, None)]),
            sample(3, 0, None)
        );
    }

    #[test]
    fn combine_names_are_checked() {
        assert_eq!(Combine::parse(None).ok(), Some(Combine::Sum));
        assert_eq!(Combine::parse(Some(" MAX ")).ok(), Some(Combine::Max));
        assert!(Combine::parse(Some("avg")).is_err());
    }
}
