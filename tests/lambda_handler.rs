//! The Lambda handler against moto (ECS, S3) and Redis: the event's `config` overrides the
//! environment, a bad event is refused without retry, and nothing is scaled then.

mod support;

use std::collections::BTreeMap;

use serde_json::json;
use stepscale_live::lambda::{handle, Shared};
use stepscale_live::ProbeContext;

#[tokio::test]
async fn event_config_overrides_the_environment_and_bad_events_scale_nothing() {
    let sdk = support::aws::sdk().await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let (cluster, service) = support::aws::ecs_service(&sdk, 1).await;
    let bucket = support::unique("lambda-state");
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    )
    .create_bucket()
    .bucket(&bucket)
    .send()
    .await
    .unwrap();
    let key = support::unique("jobs");
    support::redis_list(&key, 900).await;
    let env: BTreeMap<String, String> = [
        ("QUEUE_TYPE", "redis"),
        ("REDIS_HOST", "127.0.0.1"),
        ("REDIS_QUEUE_KEY", "not-this-key"),
        ("ECS_CLUSTER", cluster.as_str()),
        ("SERVICE_NAME", service.as_str()),
        ("MIN_TASKS", "1"),
        ("MAX_TASKS", "100"),
        ("S3_CONFIG_BUCKET", bucket.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let shared = Shared {
        env: Ok(env),
        ctx: ProbeContext {
            aws: Some(sdk.clone()),
        },
    };

    // A bad event: refused, not retried, nothing scaled.
    let bad = handle(&shared, &json!({"config": {"min_tasks": "many"}}))
        .await
        .unwrap();
    assert_eq!(
        (bad["ok"].as_bool(), bad["retryable"].as_bool()),
        (Some(false), Some(false))
    );
    assert!(
        bad["error"].as_str().unwrap().contains("config.min_tasks"),
        "{bad}"
    );
    let unknown = handle(&shared, &json!({"config": {"min_taks": 1}}))
        .await
        .unwrap();
    assert!(
        unknown["error"].as_str().unwrap().contains("min_taks"),
        "{unknown}"
    );

    // The event's queue key and max_tasks win over the environment; EventBridge's own keys are ignored.
    let event = json!({
        "source": "aws.events",
        "detail-type": "Scheduled Event",
        "config": {"max_tasks": 4, "queue_config": {"queue_key": key}}
    });
    let out = handle(&shared, &event).await.unwrap();
    assert_eq!(out["ok"].as_bool(), Some(true), "{out}");
    // 900 messages: 1 + floor(9) = 10, capped by the event's max_tasks = 4.
    assert_eq!(
        (out["desired"].as_u64(), out["limited_by"].as_str()),
        (Some(4), Some("max_tasks")),
        "{out}"
    );
    let described = ecs
        .describe_services()
        .cluster(&cluster)
        .services(&service)
        .send()
        .await
        .unwrap();
    assert_eq!(described.services()[0].desired_count(), 4);
    support::redis_list(&key, 0).await;
}
