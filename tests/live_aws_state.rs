//! Against moto's server: the ECS actuator, the S3 state store (the conditional-write race,
//! fast-autoscaler v0.2's keys, a corrupt document) and one whole live tick.

mod support;

use aws_config::SdkConfig;
use stepscale_engine::config::queue::{QueueConfig, RedisQueue};
use stepscale_engine::{Action, Config, Limit, QueueSample, ScalerState, ServiceState};
use stepscale_live::ecs::{Applied, EcsError, EcsService};
use stepscale_live::runner::ServiceRunner;
use stepscale_live::state::{AnyStateStore, S3StateStore, StateError, StateSource};
use stepscale_live::ProbeContext;

async fn bucket(sdk: &SdkConfig) -> String {
    let name = support::unique("stepscale-state");
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("moto answers CreateBucket");
    name
}

async fn put(sdk: &SdkConfig, bucket: &str, key: &str, body: &str) {
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    );
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn two_writers_with_the_same_etag_exactly_one_wins() {
    let sdk = support::aws::sdk().await;
    let bucket = bucket(&sdk).await;
    let a = S3StateStore::new(&sdk, &bucket, "autoscaling-state", "c", "s");
    let b = S3StateStore::new(&sdk, &bucket, "autoscaling-state", "c", "s");
    let state = |t| ScalerState {
        last_scale_out_ms: Some(t),
        ..ScalerState::default()
    };
    // First write: both saw nothing stored.
    let (s1, s2, s10, s20) = (state(1), state(2), state(10), state(20));
    let (ra, rb) = tokio::join!(a.save(&s1, None), b.save(&s2, None));
    assert_eq!(
        [ra.is_ok(), rb.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "exactly one first write wins: {ra:?} {rb:?}"
    );
    // Then both read the same ETag and race.
    let la = a.load(0).await.unwrap();
    let lb = b.load(0).await.unwrap();
    assert_eq!(la.version, lb.version);
    assert!(la.version.is_some());
    let (ra, rb) = tokio::join!(
        a.save(&s10, la.version.as_deref()),
        b.save(&s20, lb.version.as_deref())
    );
    let wins: Vec<bool> = vec![ra.is_ok(), rb.is_ok()];
    assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{ra:?} {rb:?}");
    let loser = if ra.is_ok() { rb } else { ra };
    assert!(
        matches!(loser, Err(StateError::Conflict { .. })),
        "{loser:?}"
    );
    let winner_value = a.load(0).await.unwrap().state.last_scale_out_ms;
    assert!(matches!(winner_value, Some(10 | 20)));
}

#[tokio::test]
async fn fast_autoscaler_v02_state_keys_are_read_and_honoured() {
    let sdk = support::aws::sdk().await;
    let bucket = bucket(&sdk).await;
    let now_ms: i64 = 1_700_000_000_000;
    // v0.2 wrote epoch seconds for one key and an ISO timestamp for the other.
    put(
        &sdk,
        &bucket,
        "autoscaling-state/prod/worker/up-last-action.json",
        "{\"timestamp\": 1699999000}",
    )
    .await;
    put(
        &sdk,
        &bucket,
        "autoscaling-state/prod/worker/down-last-action.json",
        "{\"timestamp\": \"2023-11-14T22:12:50\"}",
    )
    .await;
    let store = S3StateStore::new(&sdk, &bucket, "autoscaling-state", "prod", "worker");
    let loaded = store.load(now_ms).await.unwrap();
    assert_eq!(loaded.source, StateSource::V02);
    assert_eq!(loaded.state.last_scale_out_ms, Some(1_699_999_000_000));
    assert_eq!(loaded.state.last_scale_in_ms, Some(now_ms - 30_000));
    // The engine honours it: 30 s after v0.2's last scale-in, a 120 s cooldown refuses scale-in.
    let config = Config::default();
    let mut state = loaded.state;
    let d = config.controller().tick(
        &now_ms,
        &[Ok(QueueSample::visible(0))],
        ServiceState::settled(50),
        &mut state,
    );
    assert_eq!(
        (d.action, d.limited_by),
        (Action::Hold, Some(Limit::ScaleInCooldown))
    );
    // A first StepScale write creates its own document; v0.2's keys are left alone.
    store.save(&state, loaded.version.as_deref()).await.unwrap();
    assert_eq!(
        store.load(now_ms).await.unwrap().source,
        StateSource::StepScale
    );
}

#[tokio::test]
async fn a_corrupt_document_is_a_warning_and_a_safe_default() {
    let sdk = support::aws::sdk().await;
    let bucket = bucket(&sdk).await;
    let store = S3StateStore::new(&sdk, &bucket, "autoscaling-state", "c", "s");
    put(&sdk, &bucket, store.key(), "{not json").await;
    let loaded = store.load(5_000).await.unwrap();
    assert_eq!(loaded.source, StateSource::Corrupt);
    assert_eq!(
        loaded.state.last_scale_in_ms,
        Some(5_000),
        "no scale-in until a cooldown has passed"
    );
    assert!(
        loaded.version.is_some(),
        "the corrupt document can be replaced conditionally"
    );
    store
        .save(&ScalerState::default(), loaded.version.as_deref())
        .await
        .unwrap();
    let v02_corrupt = S3StateStore::new(&sdk, &bucket, "autoscaling-state", "c2", "s2");
    put(
        &sdk,
        &bucket,
        "autoscaling-state/c2/s2/down-last-action.json",
        "garbage",
    )
    .await;
    let loaded = v02_corrupt.load(9_000).await.unwrap();
    assert_eq!(loaded.state.last_scale_in_ms, Some(9_000));
}

#[tokio::test]
async fn ecs_actuator_describes_updates_and_reports_a_missing_service() {
    let sdk = support::aws::sdk().await;
    let (cluster, name) = support::aws::ecs_service(&sdk, 3).await;
    let ecs = EcsService::new(&sdk, &cluster, &name);
    let view = ecs.describe().await.unwrap();
    assert_eq!(view.state.desired, 3);
    ecs.set_desired(7).await.unwrap();
    assert_eq!(ecs.describe().await.unwrap().state.desired, 7);
    let missing = EcsService::new(&sdk, &cluster, "no-such-service");
    let err = missing.describe().await.unwrap_err();
    assert!(matches!(err, EcsError::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-service"), "{err}");
}

fn live_config(cluster: &str, service: &str, key: &str, bucket: &str) -> Config {
    let mut config: Config = toml::from_str(&format!(
        r#"
[service]
cluster = "{cluster}"
name = "{service}"
[state]
s3_bucket = "{bucket}"
[guards]
min_tasks = 1
max_tasks = 50
[policy]
kind = "seed"
scale_up_threshold = 100.0
scale_down_threshold = 10.0
tasks_per_message = 0.01
"#
    ))
    .unwrap();
    config.queues = vec![QueueConfig::Redis(RedisQueue {
        host: "127.0.0.1".into(),
        queue_key: key.into(),
        ..RedisQueue::default()
    })];
    config.validate().unwrap();
    config
}

#[tokio::test]
async fn a_live_tick_claims_the_state_then_scales_and_a_failed_read_holds() {
    let sdk = support::aws::sdk().await;
    let (cluster, name) = support::aws::ecs_service(&sdk, 2).await;
    let bucket = bucket(&sdk).await;
    let key = support::unique("jobs");
    support::redis_list(&key, 500).await;
    let config = live_config(&cluster, &name, &key, &bucket);
    let ctx = ProbeContext {
        aws: Some(sdk.clone()),
    };
    let store = || {
        AnyStateStore::S3(S3StateStore::new(
            &sdk,
            &bucket,
            &config.state.key_prefix,
            &cluster,
            &name,
        ))
    };
    let mut runner = ServiceRunner::new(&config, &ctx, store(), false, None).unwrap();
    let report = runner.tick(1_700_000_000_000).await.unwrap();
    // 500 messages above 100: 2 + floor(500 × 0.01) = 7.
    assert_eq!(
        (report.decision.action, report.decision.desired),
        (Action::ScaleOut, 7)
    );
    assert_eq!(report.applied, Applied::Updated(7));
    let ecs = EcsService::new(&sdk, &cluster, &name);
    assert_eq!(ecs.describe().await.unwrap().state.desired, 7);
    let saved = store().load(0).await.unwrap();
    assert_eq!(saved.state.last_scale_out_ms, Some(1_700_000_000_000));

    // The queue key disappears: a failed read, never zero messages; nothing changes.
    support::redis_list(&key, 0).await;
    let report = runner.tick(1_700_000_600_000).await.unwrap();
    assert_eq!(report.decision.action, Action::Hold);
    assert_eq!(report.decision.limited_by, Some(Limit::MetricFailure));
    assert_eq!(report.applied, Applied::Unchanged);
    assert_eq!(ecs.describe().await.unwrap().state.desired, 7);

    // A dry run decides and logs, and neither scales nor writes state.
    support::redis_list(&key, 5).await;
    let before = store().load(0).await.unwrap();
    let mut dry = ServiceRunner::new(&config, &ctx, store(), true, None).unwrap();
    let report = dry.tick(1_700_001_000_000).await.unwrap();
    assert_eq!(report.decision.action, Action::ScaleIn);
    assert_eq!(report.applied, Applied::DryRun(report.decision.desired));
    assert_eq!(ecs.describe().await.unwrap().state.desired, 7);
    assert_eq!(store().load(0).await.unwrap().version, before.version);
}
