//! An ActiveMQ broker's queue history for `calibrate --since`: `AWS/AmazonMQ` `EnqueueCount`,
//! `DequeueCount` and `InFlightCount` per minute under the `Broker` and `Queue` dimensions.

use std::time::Duration;

use aws_config::SdkConfig;
use stepscale_engine::config::queue::AmazonMqQueue;

use super::broker::{describe_broker, Engine};
use crate::cloudwatch::{add_series, CloudWatch, MetricSpec, QueueSeries};

/// Query ids for up to three `Broker` dimension values (the instance names and the bare name).
const IDS: [[&str; 3]; 3] = [
    ["sent0", "done0", "inflight0"],
    ["sent1", "done1", "inflight1"],
    ["sent2", "done2", "inflight2"],
];

/// Reads `since` of the queue's history. The figures of every `Broker` dimension value the
/// broker may publish under (`{name}-1`, `{name}-2` for a standby, the bare name) are added:
/// only the active instance publishes, so the sum is the queue's. A RabbitMQ broker is refused:
/// its queue metrics (`VirtualHost`, `Queue`) are not read yet.
pub async fn history(
    sdk: &SdkConfig,
    q: &AmazonMqQueue,
    since: Duration,
) -> Result<QueueSeries, String> {
    let id = q
        .broker_id
        .as_deref()
        .ok_or("the amazon_mq queue has no broker_id")?;
    let queue = q
        .queue_name
        .clone()
        .ok_or("the amazon_mq queue has no queue_name")?;
    let broker = describe_broker(&aws_sdk_mq::Client::new(sdk), id)
        .await
        .map_err(|e| e.to_string())?;
    if broker.engine == Engine::RabbitMq {
        return Err(format!(
            "broker {id} runs RabbitMQ, whose CloudWatch queue metrics --since does not read yet: record a run with `stepscale run --record` and give --record"
        ));
    }
    let dimensions = broker.cloudwatch_dimensions();
    let mut specs = Vec::new();
    for (ids, value) in IDS.iter().zip(&dimensions) {
        for (id, (metric, stat)) in ids.iter().zip([
            ("EnqueueCount", "Sum"),
            ("DequeueCount", "Sum"),
            ("InFlightCount", "Average"),
        ]) {
            specs.push(MetricSpec {
                id: (*id).into(),
                namespace: "AWS/AmazonMQ",
                name: metric,
                dimensions: vec![("Broker", value.clone()), ("Queue", queue.clone())],
                stat,
            });
        }
    }
    let found = CloudWatch::new(sdk).read(&specs, since).await?;
    let summed = |k: usize| {
        IDS.iter()
            .filter_map(|ids| found.get(ids[k]))
            .fold(Vec::new(), |acc, s| add_series(&acc, &s.points))
    };
    Ok(QueueSeries {
        source: format!(
            "CloudWatch AWS/AmazonMQ, Broker {} and Queue {queue}: EnqueueCount (Sum), DequeueCount (Sum) and InFlightCount (Average) per minute, added over the broker's instances",
            dimensions.join(" / ")
        ),
        queue: format!("Amazon MQ queue {queue} on broker {}", broker.name),
        arrivals_metric: "EnqueueCount",
        sent: summed(0),
        deleted: summed(1),
        in_flight: summed(2),
        warnings: Vec::new(),
    })
}
