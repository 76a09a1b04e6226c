//! `SnsProbe`: checks the topic exists, then reads its publish rate from CloudWatch.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sns::Client;
use stepscale_engine::config::queue::SnsTopic;
use stepscale_engine::QueueSample;
use tracing::debug;

use super::TopicArn;
use crate::cloudwatch::{self, error_code, probe_error, CloudWatch, MetricSpec};
use crate::{Probe, ProbeError};

/// Reads one topic's publish rate: the Sum of `NumberOfMessagesPublished` (`AWS/SNS`,
/// dimension `TopicName`) over the window, divided by its length in seconds. `visible` is
/// always 0: SNS keeps no backlog.
#[derive(Debug)]
pub struct SnsProbe {
    client: Client,
    cloudwatch: CloudWatch,
    arn: String,
    topic: TopicArn,
    window: Duration,
}

impl SnsProbe {
    /// A probe for `config`; the SNS and CloudWatch calls go to the topic's own region.
    pub fn new(config: SnsTopic, sdk: &SdkConfig) -> Result<Self, ProbeError> {
        let arn = config
            .topic_arn
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .ok_or_else(|| ProbeError::Config("sns needs `topic_arn`".into()))?;
        let topic = TopicArn::parse(&arn).ok_or_else(|| {
            ProbeError::Config(format!(
                "sns `topic_arn` is {arn:?}; expected arn:aws:sns:REGION:ACCOUNT:TOPIC"
            ))
        })?;
        let sns = aws_sdk_sns::config::Builder::from(sdk)
            .region(aws_sdk_sns::config::Region::new(topic.region.clone()))
            .build();
        Ok(Self {
            client: Client::from_conf(sns),
            cloudwatch: CloudWatch::in_region(sdk, &topic.region),
            window: cloudwatch::window(config.metric_window_secs, "sns")?,
            arn,
            topic,
        })
    }

    /// GetTopicAttributes: a missing topic is `NotFound`, not a zero rate.
    async fn check_topic(&self) -> Result<(), ProbeError> {
        self.client
            .get_topic_attributes()
            .topic_arn(&self.arn)
            .send()
            .await
            .map_err(|e| {
                if error_code(&e) == Some("NotFound") {
                    ProbeError::NotFound {
                        what: "SNS topic",
                        name: self.arn.clone(),
                    }
                } else {
                    probe_error(&e, &format!("SNS GetTopicAttributes {}", self.arn))
                }
            })?;
        Ok(())
    }
}

impl Probe for SnsProbe {
    async fn read(&self) -> Result<QueueSample, ProbeError> {
        self.check_topic().await?;
        let spec = MetricSpec {
            id: "published".into(),
            namespace: "AWS/SNS",
            name: "NumberOfMessagesPublished",
            dimensions: vec![("TopicName", self.topic.name.clone())],
            stat: "Sum",
        };
        // The rate is all this probe reports: without it the read fails.
        let series = self
            .cloudwatch
            .read(std::slice::from_ref(&spec), self.window)
            .await
            .map_err(|detail| ProbeError::Other {
                target: format!("CloudWatch AWS/SNS {}", self.topic.name),
                detail,
            })?;
        // No datapoint in the window: nothing was published.
        let rate = series
            .get("published")
            .map_or(0.0, |s| s.rate_per_s(self.window));
        debug!(topic = %self.arn, arrival_rate_per_s = rate, "Read SNS topic.");
        Ok(QueueSample {
            arrival_rate_per_s: Some(rate),
            ..QueueSample::default()
        })
    }
}
