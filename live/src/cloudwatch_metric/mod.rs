//! Any CloudWatch metric or metric-math expression as a source (`type = "cloudwatch"`): the
//! newest datapoint as the backlog, or the window's sum per second as the arrival rate.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use stepscale_engine::config::queue::{CloudWatchMetric, MetricMeaning, RESULT_ID};
use stepscale_engine::QueueSample;
use tracing::debug;

use crate::cloudwatch::{CloudWatch, Series};
use crate::{Probe, ProbeError};

/// Reads one CloudWatch metric (or expression) each tick, in one GetMetricData call.
#[derive(Debug)]
pub struct CloudWatchMetricProbe {
    cloudwatch: CloudWatch,
    queries: Vec<MetricDataQuery>,
    meaning: MetricMeaning,
    window: Duration,
    period: Duration,
    /// What is read, for errors and logs: `MyApp PendingJobs` or the expression.
    target: String,
}

impl CloudWatchMetricProbe {
    /// A probe for `config`, checked as the engine checks it; the calls go to `region` when
    /// it is set, else to the SDK's.
    pub fn new(config: &CloudWatchMetric, sdk: &SdkConfig) -> Result<Self, ProbeError> {
        config
            .check("cloudwatch")
            .map_err(|e| ProbeError::Config(e.to_string()))?;
        let period = i32::try_from(config.period_secs).unwrap_or(60);
        let (queries, target) = if let Some(expression) = &config.expression {
            let mut queries: Vec<MetricDataQuery> = config
                .metrics
                .iter()
                .map(|m| {
                    MetricDataQuery::builder()
                        .id(&m.id)
                        .metric_stat(stat(
                            &m.namespace,
                            &m.metric_name,
                            &m.dimensions,
                            m.stat.as_deref().unwrap_or("Average"),
                            period,
                        ))
                        .return_data(false)
                        .build()
                })
                .collect();
            queries.push(
                MetricDataQuery::builder()
                    .id(RESULT_ID)
                    .expression(expression)
                    .period(period)
                    .return_data(true)
                    .build(),
            );
            (queries, format!("CloudWatch expression {expression:?}"))
        } else {
            let namespace = config.namespace.clone().unwrap_or_default();
            let name = config.metric_name.clone().unwrap_or_default();
            let query = MetricDataQuery::builder()
                .id(RESULT_ID)
                .metric_stat(stat(
                    &namespace,
                    &name,
                    &config.dimensions,
                    config.stat(),
                    period,
                ))
                .return_data(true)
                .build();
            (vec![query], format!("CloudWatch {namespace} {name}"))
        };
        Ok(Self {
            cloudwatch: match &config.region {
                Some(region) => CloudWatch::in_region(sdk, region),
                None => CloudWatch::new(sdk),
            },
            queries,
            meaning: config.value,
            window: Duration::from_secs(config.window_secs()),
            period: Duration::from_secs(config.period_secs),
            target,
        })
    }

    /// The sample a series gives, or why it gives none.
    fn sample(&self, series: &Series) -> Result<QueueSample, String> {
        let Some(latest) = series.latest() else {
            return Err(format!(
                "no datapoint in the last {} s: an empty read holds, it is never taken as 0",
                self.window.as_secs()
            ));
        };
        let value = match self.meaning {
            MetricMeaning::Backlog => latest,
            MetricMeaning::Rate => series.rate_per_s(self.window),
        };
        self.meaning.sample(value)
    }
}

fn stat(
    namespace: &str,
    name: &str,
    dimensions: &std::collections::BTreeMap<String, String>,
    stat: &str,
    period: i32,
) -> MetricStat {
    let dimensions = dimensions
        .iter()
        .map(|(k, v)| Dimension::builder().name(k).value(v).build())
        .collect();
    MetricStat::builder()
        .metric(
            Metric::builder()
                .namespace(namespace)
                .metric_name(name)
                .set_dimensions(Some(dimensions))
                .build(),
        )
        .period(period)
        .stat(stat)
        .build()
}

impl Probe for CloudWatchMetricProbe {
    async fn read(&self) -> Result<QueueSample, ProbeError> {
        let found = self
            .cloudwatch
            .run(self.queries.clone(), self.window, self.period)
            .await
            .map_err(|detail| ProbeError::Other {
                target: self.target.clone(),
                detail,
            })?;
        let series = found.get(RESULT_ID).cloned().unwrap_or_default();
        let sample = self.sample(&series).map_err(|detail| ProbeError::Other {
            target: self.target.clone(),
            detail,
        })?;
        debug!(
            target = %self.target,
            visible = sample.visible,
            arrival_rate_per_s = ?sample.arrival_rate_per_s,
            "Read CloudWatch metric."
        );
        Ok(sample)
    }
}
