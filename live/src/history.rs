//! Metric history for `stepscale calibrate --since`: one SQS queue's one-minute CloudWatch
//! series (messages sent, messages deleted, messages in flight) and the start-up delays ECS
//! reports for its service's tasks (created to started).

use std::time::Duration;

use aws_config::SdkConfig;
use stepscale_engine::config::QueueConfig;
use stepscale_engine::Config;

use crate::cloudwatch::{CloudWatch, MetricSpec};

/// What `--since` reads, as plain series (the simulator turns them into a calibration).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricHistory {
    /// The queue's name (CloudWatch's `QueueName`).
    pub queue: String,
    /// `NumberOfMessagesSent`, Sum per minute: (epoch seconds, count).
    pub sent: Vec<(i64, f64)>,
    /// `NumberOfMessagesDeleted`, Sum per minute.
    pub deleted: Vec<(i64, f64)>,
    /// `ApproximateNumberOfMessagesNotVisible`, Average per minute.
    pub in_flight: Vec<(i64, f64)>,
    /// Seconds from created to started of the service's tasks ECS still lists.
    pub startup_samples: Vec<f64>,
    /// The service's desired count now.
    pub desired: u32,
}

/// Reads `since` of history for the one SQS queue of `config` and the start-ups of its
/// service's tasks. An error is a sentence naming what is missing.
pub async fn sqs_history(
    sdk: &SdkConfig,
    config: &Config,
    since: Duration,
) -> Result<MetricHistory, String> {
    let sqs: Vec<_> = config
        .queues
        .iter()
        .filter_map(|q| match q {
            QueueConfig::Sqs(s) => Some(s),
            _ => None,
        })
        .collect();
    let [queue] = sqs.as_slice() else {
        return Err(format!(
            "--since reads one SQS queue's CloudWatch history, and the policy has {} SQS queue(s) among {} source(s): give a policy with one [[queues]] of type sqs, or --record",
            sqs.len(),
            config.queues.len()
        ));
    };
    let name = match (&queue.queue_name, &queue.queue_url) {
        (Some(n), _) => n.clone(),
        (None, Some(url)) => crate::iam::sqs_name(url)
            .map(str::to_string)
            .ok_or_else(|| format!("queue_url {url:?}: no queue name in it"))?,
        (None, None) => return Err("the SQS queue has neither queue_url nor queue_name".into()),
    };
    let spec = |id: &'static str, metric: &'static str, stat: &'static str| MetricSpec {
        id,
        namespace: "AWS/SQS",
        name: metric,
        dimension: "QueueName",
        value: name.clone(),
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
    let mut history = MetricHistory {
        queue: name.clone(),
        sent: points("sent"),
        deleted: points("deleted"),
        in_flight: points("inflight"),
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
        let listed = ecs
            .list_tasks()
            .cluster(&id.cluster)
            .service_name(&id.service)
            .desired_status(status)
            .send()
            .await
            .map_err(|e| format!("ECS ListTasks: {}", crate::aws::describe(&e)))?;
        arns.extend(listed.task_arns().iter().cloned());
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
