//! `SqsProbe`: resolves the queue (URL, or name through a cached GetQueueUrl) and reads it.

use std::sync::Mutex;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_sqs::Client;
use stepscale_engine::config::queue::SqsQueue;
use stepscale_engine::QueueSample;
use tracing::{debug, warn};

use crate::cloudwatch::{self, error_code, probe_error, CloudWatch, MetricSpec};
use crate::{Probe, ProbeError};

/// What `NotFound` calls a missing queue.
const WHAT: &str = "SQS queue";
/// SQS's codes for a missing queue: the JSON protocol's and the query protocol's.
const MISSING_CODES: &[&str] = &[
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
];

/// The three counts, in the order they fill a sample.
const COUNTS: [QueueAttributeName; 3] = [
    QueueAttributeName::ApproximateNumberOfMessages,
    QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    QueueAttributeName::ApproximateNumberOfMessagesDelayed,
];

/// Where the queue is: a configured URL, or a name whose URL is looked up once.
#[derive(Debug)]
enum Queue {
    Url(String),
    Name {
        name: String,
        /// The URL GetQueueUrl returned; cleared when the queue turns out missing, so a
        /// recreated queue is found again.
        url: Mutex<Option<String>>,
    },
}

/// Reads one SQS queue.
///
/// `visible`, `in_flight` and `delayed` are `ApproximateNumberOfMessages`, `...NotVisible` and
/// `...Delayed`. With `cloudwatch_metrics`, `oldest_age_ms` is the newest one-minute Maximum
/// of `ApproximateAgeOfOldestMessage` in the window, and `arrival_rate_per_s` is the Sum of
/// `NumberOfMessagesSent` over the window divided by its length in seconds.
#[derive(Debug)]
pub struct SqsProbe {
    client: Client,
    queue: Queue,
    /// The `QueueName` dimension, when CloudWatch is read.
    cloudwatch: Option<(CloudWatch, String)>,
    window: Duration,
}

impl SqsProbe {
    /// A probe for `config`, sharing the SDK configuration; calls nothing yet.
    pub fn new(config: SqsQueue, sdk: &SdkConfig) -> Result<Self, ProbeError> {
        let url = non_empty(config.queue_url);
        let name = non_empty(config.queue_name);
        let (queue, queue_name) = match (url, name) {
            // A URL wins: v0.2's SQS_QUEUE_URL overrides a policy file's name key by key.
            (Some(url), name) => {
                let from_url = super::name_from_url(&url).map(str::to_string);
                let queue_name = from_url.or(name);
                (Queue::Url(url), queue_name)
            }
            (None, Some(name)) => (
                Queue::Name {
                    name: name.clone(),
                    url: Mutex::new(None),
                },
                Some(name),
            ),
            (None, None) => {
                return Err(ProbeError::Config(
                    "sqs needs `queue_url` (SQS_QUEUE_URL) or `queue_name`".into(),
                ))
            }
        };
        let window = cloudwatch::window(config.metric_window_secs, "sqs")?;
        let cloudwatch = if config.cloudwatch_metrics {
            let Some(queue_name) = queue_name else {
                return Err(ProbeError::Config(
                    "sqs `cloudwatch_metrics` needs the queue name: give a queue URL that ends \
                     in it, or `queue_name`"
                        .into(),
                ));
            };
            Some((CloudWatch::new(sdk), queue_name))
        } else {
            None
        };
        Ok(Self {
            client: Client::new(sdk),
            queue,
            cloudwatch,
            window,
        })
    }

    /// The queue URL: the configured one, or the cached result of GetQueueUrl.
    async fn url(&self) -> Result<String, ProbeError> {
        let (name, cache) = match &self.queue {
            Queue::Url(url) => return Ok(url.clone()),
            Queue::Name { name, url } => (name, url),
        };
        if let Some(url) = cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
        {
            return Ok(url);
        }
        let out = self
            .client
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| {
                if error_code(&e).is_some_and(|c| MISSING_CODES.contains(&c)) {
                    ProbeError::NotFound {
                        what: WHAT,
                        name: name.clone(),
                    }
                } else {
                    probe_error(&e, &format!("SQS GetQueueUrl {name}"))
                }
            })?;
        let url = out
            .queue_url()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| ProbeError::Other {
                target: format!("SQS GetQueueUrl {name}"),
                detail: "the reply holds no queue URL".into(),
            })?
            .to_string();
        debug!(queue = %name, url = %url, "Resolved SQS queue URL.");
        *cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(url.clone());
        Ok(url)
    }

    /// The name a missing queue is reported under: the configured name, else the URL.
    fn missing(&self, url: &str) -> ProbeError {
        if let Queue::Name { name, url: cache } = &self.queue {
            *cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
            return ProbeError::NotFound {
                what: WHAT,
                name: format!("{name} ({url})"),
            };
        }
        ProbeError::NotFound {
            what: WHAT,
            name: url.to_string(),
        }
    }

    /// The three counts from GetQueueAttributes.
    async fn counts(&self, url: &str) -> Result<[u64; 3], ProbeError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .set_attribute_names(Some(COUNTS.to_vec()))
            .send()
            .await
            .map_err(|e| {
                if error_code(&e).is_some_and(|c| MISSING_CODES.contains(&c)) {
                    self.missing(url)
                } else {
                    probe_error(&e, &format!("SQS GetQueueAttributes {url}"))
                }
            })?;
        let attributes = out.attributes();
        let mut counts = [0; 3];
        for (slot, name) in counts.iter_mut().zip(&COUNTS) {
            let text = attributes
                .and_then(|a| a.get(name))
                .ok_or_else(|| ProbeError::Other {
                    target: format!("SQS GetQueueAttributes {url}"),
                    detail: format!("the reply holds no {}", name.as_str()),
                })?;
            *slot = text.trim().parse().map_err(|_| ProbeError::Other {
                target: format!("SQS GetQueueAttributes {url}"),
                detail: format!("{} is {text:?}, not a count", name.as_str()),
            })?;
        }
        Ok(counts)
    }

    /// Age of the oldest message (ms) and arrival rate (per s) from CloudWatch; on failure a
    /// warning and neither.
    async fn metrics(
        &self,
        cloudwatch: &CloudWatch,
        queue_name: &str,
    ) -> (Option<u64>, Option<f64>) {
        let specs = [
            MetricSpec {
                id: "age".into(),
                namespace: "AWS/SQS",
                name: "ApproximateAgeOfOldestMessage",
                dimensions: vec![("QueueName", queue_name.to_string())],
                stat: "Maximum",
            },
            MetricSpec {
                id: "sent".into(),
                namespace: "AWS/SQS",
                name: "NumberOfMessagesSent",
                dimensions: vec![("QueueName", queue_name.to_string())],
                stat: "Sum",
            },
        ];
        match cloudwatch.read(&specs, self.window).await {
            Ok(series) => {
                let age_ms = series
                    .get("age")
                    .and_then(cloudwatch::Series::latest)
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(|secs| (secs * 1000.0).round() as u64);
                // No datapoint in the window: nothing was sent (SQS stops publishing for a
                // queue idle for hours), so the rate is 0, not unknown.
                let rate = series.get("sent").map(|s| s.rate_per_s(self.window));
                (age_ms, rate)
            }
            Err(detail) => {
                warn!(queue = %queue_name, error = %detail, "CloudWatch unreadable; SQS age and arrival rate left unset.");
                (None, None)
            }
        }
    }
}

impl Probe for SqsProbe {
    async fn read(&self) -> Result<QueueSample, ProbeError> {
        let url = self.url().await?;
        let [visible, in_flight, delayed] = self.counts(&url).await?;
        let (oldest_age_ms, arrival_rate_per_s) = match &self.cloudwatch {
            Some((cloudwatch, queue_name)) => self.metrics(cloudwatch, queue_name).await,
            None => (None, None),
        };
        let sample = QueueSample {
            visible,
            in_flight,
            delayed,
            oldest_age_ms,
            arrival_rate_per_s,
            max_useful_tasks: None,
        };
        debug!(
            queue = %url,
            visible,
            in_flight,
            delayed,
            oldest_age_ms,
            arrival_rate_per_s,
            "Read SQS queue."
        );
        Ok(sample)
    }
}

/// The value, trimmed, when it says something.
fn non_empty(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use stepscale_engine::config::queue::SqsQueue;

    use super::SqsProbe;
    use crate::ProbeError;

    fn sdk() -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build()
    }

    #[test]
    fn configuration_is_checked_up_front() {
        let none = SqsProbe::new(SqsQueue::default(), &sdk()).unwrap_err();
        assert!(
            matches!(none, ProbeError::Config(ref m) if m.contains("queue_url")),
            "{none}"
        );

        let blank = SqsQueue {
            queue_url: Some("  ".into()),
            ..SqsQueue::default()
        };
        assert!(SqsProbe::new(blank, &sdk()).is_err());

        let window = SqsQueue {
            queue_name: Some("jobs".into()),
            metric_window_secs: Some(30),
            ..SqsQueue::default()
        };
        assert!(SqsProbe::new(window, &sdk()).is_err());

        let nameless = SqsQueue {
            queue_url: Some("http://localhost:5000".into()),
            cloudwatch_metrics: true,
            ..SqsQueue::default()
        };
        assert!(SqsProbe::new(nameless, &sdk()).is_err());

        let by_url = SqsQueue {
            queue_url: Some("https://sqs.us-east-1.amazonaws.com/123456789012/jobs".into()),
            cloudwatch_metrics: true,
            ..SqsQueue::default()
        };
        let probe = SqsProbe::new(by_url, &sdk()).unwrap();
        assert_eq!(
            probe.cloudwatch.as_ref().map(|c| c.1.as_str()),
            Some("jobs")
        );
    }
}
