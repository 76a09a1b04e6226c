//! Metric history for `stepscale calibrate --since`: one queue's one-minute CloudWatch series
//! (SQS; Amazon MQ for ActiveMQ; Kinesis and MSK, arrivals only) and the start-up delays ECS
//! reports for its service's tasks (created to started).

use std::time::Duration;

use aws_config::SdkConfig;
use stepscale_engine::config::QueueConfig;
use stepscale_engine::Config;

use crate::cloudwatch::{CloudWatch, MetricSpec, QueueSeries};

/// What `--since` reads, as plain series (the simulator turns them into a calibration).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricHistory {
    /// The queue's series.
    pub series: QueueSeries,
    /// Seconds from created to started of the service's tasks ECS still lists.
    pub startup_samples: Vec<f64>,
    /// The service's desired count now.
    pub desired: u32,
}

/// The queue types whose history `--since` reads.
const READ: &str = "sqs, amazon_mq (ActiveMQ), kinesis or kafka (MSK)";

/// Reads `since` of history for the one queue of `config` whose service publishes it to
/// CloudWatch, and the start-ups of its service's tasks. An error is a sentence naming what is
/// missing.
pub async fn queue_history(
    sdk: &SdkConfig,
    config: &Config,
    since: Duration,
) -> Result<MetricHistory, String> {
    let readable: Vec<&QueueConfig> = config
        .queues
        .iter()
        .filter(|q| q.has_cloudwatch_history())
        .collect();
    let [queue] = readable.as_slice() else {
        return Err(format!(
            "--since reads the CloudWatch history of one queue of type {READ}, and the policy has {} such among {} source(s): give a policy with one such [[queues]], or --record (RabbitMQ, Redis and the other sources record with `stepscale run --record`)",
            readable.len(),
            config.queues.len()
        ));
    };
    let series = match queue {
        QueueConfig::Sqs(q) => {
            let name = match (&q.queue_name, &q.queue_url) {
                (Some(n), _) => n.clone(),
                (None, Some(url)) => crate::iam::sqs_name(url)
                    .map(str::to_string)
                    .ok_or_else(|| format!("queue_url {url:?}: no queue name in it"))?,
                (None, None) => {
                    return Err("the SQS queue has neither queue_url nor queue_name".into())
                }
            };
            sqs_series(sdk, name, since).await?
        }
        QueueConfig::Kinesis(k) => {
            let stream = k
                .stream_name
                .clone()
                .ok_or("the Kinesis queue has no stream_name")?;
            kinesis_series(sdk, stream, since).await?
        }
        QueueConfig::AmazonMq(q) => amazon_mq_series(sdk, q, since).await?,
        QueueConfig::Kafka(k) => kafka_series(sdk, k, since).await?,
        _ => return Err(format!("--since reads a queue of type {READ}")),
    };
    let mut history = MetricHistory {
        series,
        ..MetricHistory::default()
    };
    let id = config
        .service
        .identity(config.region.as_deref())
        .map_err(|key| format!("the policy names no ECS service: set {key}"))?;
    let ecs = aws_sdk_ecs::Client::new(sdk);
    let service = crate::ecs::EcsService::new(sdk, id.cluster.clone(), id.service.clone());
    history.desired = service
        .describe()
        .await
        .map_err(|e| e.to_string())?
        .state
        .desired;
    let mut arns = Vec::new();
    for status in [
        aws_sdk_ecs::types::DesiredStatus::Running,
        aws_sdk_ecs::types::DesiredStatus::Stopped,
    ] {
        // ListTasks answers 100 tasks a page: every page, so no start-up is left out.
        let mut token: Option<String> = None;
        loop {
            let listed = ecs
                .list_tasks()
                .cluster(&id.cluster)
                .service_name(&id.service)
                .desired_status(status.clone())
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| format!("ECS ListTasks: {}", crate::aws::describe(&e)))?;
            arns.extend(listed.task_arns().iter().cloned());
            match listed.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => break,
            }
        }
    }
    // DescribeTasks takes at most 100 tasks a call.
    for chunk in arns.chunks(100) {
        let described = ecs
            .describe_tasks()
            .cluster(&id.cluster)
            .set_tasks(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| format!("ECS DescribeTasks: {}", crate::aws::describe(&e)))?;
        for task in described.tasks() {
            if let (Some(created), Some(started)) = (task.created_at(), task.started_at()) {
                let secs = started.as_secs_f64() - created.as_secs_f64();
                if secs.is_finite() && secs >= 0.0 {
                    history.startup_samples.push(secs);
                }
            }
        }
    }
    Ok(history)
}

/// SQS: messages sent, deleted, and not visible (in flight).
async fn sqs_series(sdk: &SdkConfig, name: String, since: Duration) -> Result<QueueSeries, String> {
    let spec = |id: &'static str, metric: &'static str, stat: &'static str| MetricSpec {
        id: id.into(),
        namespace: "AWS/SQS",
        name: metric,
        dimensions: vec![("QueueName", name.clone())],
        stat,
    };
    let found = CloudWatch::new(sdk)
        .read(
            &[
                spec("sent", "NumberOfMessagesSent", "Sum"),
                spec("deleted", "NumberOfMessagesDeleted", "Sum"),
                spec(
                    "inflight",
                    "ApproximateNumberOfMessagesNotVisible",
                    "Average",
                ),
            ],
            since,
        )
        .await?;
    let points = |id: &str| found.get(id).map(|s| s.points.clone()).unwrap_or_default();
    Ok(QueueSeries {
        source: format!("CloudWatch AWS/SQS, QueueName {name}: NumberOfMessagesSent (Sum), NumberOfMessagesDeleted (Sum) and ApproximateNumberOfMessagesNotVisible (Average) per minute"),
        queue: format!("SQS queue {name}"),
        arrivals_metric: "NumberOfMessagesSent",
        sent: points("sent"),
        deleted: points("deleted"),
        in_flight: points("inflight"),
        warnings: Vec::new(),
    })
}

/// Kinesis: records put (`IncomingRecords`). The stream keeps no in-flight count, so the
/// service time must be stated.
async fn kinesis_series(
    sdk: &SdkConfig,
    stream: String,
    since: Duration,
) -> Result<QueueSeries, String> {
    let found = CloudWatch::new(sdk)
        .read(
            &[MetricSpec {
                id: "sent".into(),
                namespace: "AWS/Kinesis",
                name: "IncomingRecords",
                dimensions: vec![("StreamName", stream.clone())],
                stat: "Sum",
            }],
            since,
        )
        .await?;
    Ok(QueueSeries {
        source: format!(
            "CloudWatch AWS/Kinesis, StreamName {stream}: IncomingRecords (Sum) per minute"
        ),
        queue: format!("Kinesis stream {stream}"),
        arrivals_metric: "IncomingRecords",
        sent: found
            .get("sent")
            .map(|s| s.points.clone())
            .unwrap_or_default(),
        ..QueueSeries::default()
    })
}

#[cfg(feature = "amazon-mq")]
async fn amazon_mq_series(
    sdk: &SdkConfig,
    q: &stepscale_engine::config::queue::AmazonMqQueue,
    since: Duration,
) -> Result<QueueSeries, String> {
    crate::amazon_mq::history(sdk, q, since).await
}

#[cfg(not(feature = "amazon-mq"))]
async fn amazon_mq_series(
    _sdk: &SdkConfig,
    _q: &stepscale_engine::config::queue::AmazonMqQueue,
    _since: Duration,
) -> Result<QueueSeries, String> {
    Err("reading an Amazon MQ broker's history needs a build with the `amazon-mq` feature".into())
}

#[cfg(feature = "kafka")]
async fn kafka_series(
    sdk: &SdkConfig,
    k: &stepscale_engine::config::queue::KafkaQueue,
    since: Duration,
) -> Result<QueueSeries, String> {
    crate::kafka::history(sdk, k, since).await
}

#[cfg(not(feature = "kafka"))]
async fn kafka_series(
    _sdk: &SdkConfig,
    _k: &stepscale_engine::config::queue::KafkaQueue,
    _since: Duration,
) -> Result<QueueSeries, String> {
    Err("reading an MSK topic's history needs a build with the `kafka` feature".into())
}
