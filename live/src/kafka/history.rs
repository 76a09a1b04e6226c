//! An MSK topic's history for `calibrate --since`: `AWS/Kafka` `MessagesInPerSec` per broker
//! (enhanced monitoring at `PER_TOPIC_PER_BROKER` or finer), added over the cluster's brokers.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_kafka::types::EnhancedMonitoring;
use stepscale_engine::config::queue::KafkaQueue;

use crate::cloudwatch::{add_series, CloudWatch, MetricSpec, QueueSeries};

/// Reads `since` of the topic's messages in: `MessagesInPerSec` (Average, a rate) × 60 per
/// minute under `Cluster Name`, `Broker ID` (MSK numbers its brokers from 1) and `Topic`,
/// added over the brokers. Kafka's lag counts no messages in flight, so the service time must
/// be stated.
pub async fn history(
    sdk: &SdkConfig,
    k: &KafkaQueue,
    since: Duration,
) -> Result<QueueSeries, String> {
    let arn = k
        .cluster_arn
        .as_deref()
        .ok_or("the kafka queue has no cluster_arn: --since reads MSK's CloudWatch metrics")?;
    let topic = k.topic.clone().ok_or("the kafka queue has no topic")?;
    let described = aws_sdk_kafka::Client::new(sdk)
        .describe_cluster()
        .cluster_arn(arn)
        .send()
        .await
        .map_err(|e| format!("MSK DescribeCluster {arn}: {}", crate::aws::describe(&e)))?;
    let info = described
        .cluster_info()
        .ok_or_else(|| format!("MSK DescribeCluster {arn}: the answer has no cluster"))?;
    let name = info
        .cluster_name()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("MSK DescribeCluster {arn}: the answer names no cluster"))?
        .to_string();
    if let Some(level @ (EnhancedMonitoring::Default | EnhancedMonitoring::PerBroker)) =
        info.enhanced_monitoring()
    {
        return Err(format!(
            "MSK cluster {name} publishes no per-topic metrics (enhanced monitoring {}): set it to PER_TOPIC_PER_BROKER, or record a run with `stepscale run --record` and give --record",
            level.as_str()
        ));
    }
    let brokers = info.number_of_broker_nodes().unwrap_or(0).clamp(0, 200);
    if brokers == 0 {
        return Err(format!(
            "MSK DescribeCluster {arn}: the cluster has no broker nodes"
        ));
    }
    let specs: Vec<MetricSpec> = (1..=brokers)
        .map(|b| MetricSpec {
            id: format!("in{b}").into(),
            namespace: "AWS/Kafka",
            name: "MessagesInPerSec",
            dimensions: vec![
                ("Cluster Name", name.clone()),
                ("Broker ID", b.to_string()),
                ("Topic", topic.clone()),
            ],
            stat: "Average",
        })
        .collect();
    // At most 200 brokers: one GetMetricData call (500 queries at most).
    let found = CloudWatch::new(sdk).read(&specs, since).await?;
    let mut sent = Vec::new();
    let mut reporting = std::collections::BTreeMap::<i64, usize>::new();
    let mut brokers_reporting = 0;
    for series in found.values().filter(|s| !s.points.is_empty()) {
        brokers_reporting += 1;
        for &(t, _) in &series.points {
            *reporting.entry(t).or_insert(0) += 1;
        }
        let per_minute: Vec<(i64, f64)> =
            series.points.iter().map(|&(t, v)| (t, v * 60.0)).collect();
        sent = add_series(&sent, &per_minute);
    }
    // A broker that leads none of the topic's partitions never reports it; one that reports
    // some minutes and not others leaves those minutes' sums short.
    let short = reporting
        .values()
        .filter(|&&n| n < brokers_reporting)
        .count();
    let mut warnings = Vec::new();
    if short > 0 {
        warnings.push(format!(
            "{short} minutes lack a MessagesInPerSec datapoint from some of the {brokers_reporting} brokers that report topic {topic}: those minutes' arrivals are short by the missing brokers' share"
        ));
    }
    Ok(QueueSeries {
        source: format!(
            "CloudWatch AWS/Kafka, Cluster Name {name} and Topic {topic}: MessagesInPerSec (Average) × 60 per minute, added over Broker ID 1 to {brokers}"
        ),
        queue: format!("MSK topic {topic} on cluster {name}"),
        arrivals_metric: "MessagesInPerSec",
        sent,
        warnings,
        ..QueueSeries::default()
    })
}
