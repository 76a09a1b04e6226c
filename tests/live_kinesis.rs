//! The Kinesis probe against moto's server (`AWS_ENDPOINT_URL`, default 127.0.0.1:5000); fails when none runs.
//!
//! moto's `MillisBehindLatest` is the newest record's arrival time minus that of the last
//! record GetRecords returned, so it depends only on stored records: the tests read it
//! themselves with the same calls and check the probe's figures exactly against it.
#![cfg(feature = "kinesis")]

mod support;

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_kinesis::primitives::{Blob, DateTimeFormat};
use aws_sdk_kinesis::types::ShardIteratorType;
use stepscale_engine::config::queue::KinesisQueue;
use stepscale_engine::config::QueueConfig;
use stepscale_live::kinesis::KinesisProbe;
use stepscale_live::{AnyProbe, Probe, ProbeContext, ProbeError};

/// A resource name no other test (or run) uses.
fn unique(tag: &str) -> String {
    support::unique(&format!("stepscale-{tag}"))
}

/// A two-shard stream; its shards as `(shard id, starting hash key)`, sorted.
async fn stream(kinesis: &aws_sdk_kinesis::Client, name: &str) -> Vec<(String, String)> {
    kinesis
        .create_stream()
        .stream_name(name)
        .shard_count(2)
        .send()
        .await
        .expect("moto must run at AWS_ENDPOINT_URL (tests/services/moto.sh)");
    let mut shards: Vec<(String, String)> = kinesis
        .list_shards()
        .stream_name(name)
        .send()
        .await
        .unwrap()
        .shards()
        .iter()
        .map(|s| {
            (
                s.shard_id().to_string(),
                s.hash_key_range().unwrap().starting_hash_key().to_string(),
            )
        })
        .collect();
    shards.sort();
    assert_eq!(shards.len(), 2);
    shards
}

/// Puts `count` records on the shard whose range starts at `hash_key`.
async fn put(kinesis: &aws_sdk_kinesis::Client, stream: &str, hash_key: &str, count: usize) {
    for i in 0..count {
        kinesis
            .put_record()
            .stream_name(stream)
            .partition_key(format!("key-{i}"))
            .explicit_hash_key(hash_key)
            .data(Blob::new(format!("record {i}")))
            .send()
            .await
            .unwrap();
    }
}

/// `MillisBehindLatest` of GetRecords (Limit 1) from `position`, read by the test itself.
async fn millis_behind(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    shard: &str,
    position: ShardIteratorType,
    at: Option<DateTime>,
) -> u64 {
    let iterator = kinesis
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard)
        .shard_iterator_type(position)
        .set_timestamp(at)
        .send()
        .await
        .unwrap();
    let out = kinesis
        .get_records()
        .shard_iterator(iterator.shard_iterator().unwrap())
        .limit(1)
        .send()
        .await
        .unwrap();
    u64::try_from(out.millis_behind_latest().unwrap()).unwrap()
}

/// One `AWS/Kinesis` datapoint for `stream`, `secs_ago` seconds ago.
async fn put_metric(sdk: &SdkConfig, metric: &str, stream: &str, value: f64, secs_ago: u64) {
    support::aws::put_metric(
        sdk,
        "AWS/Kinesis",
        metric,
        &[("StreamName", stream)],
        value,
        secs_ago,
    )
    .await;
}

fn config(stream: &str) -> KinesisQueue {
    KinesisQueue {
        stream_name: Some(stream.to_string()),
        ..KinesisQueue::default()
    }
}

/// `max(1, ceil(millis × rate / 1000))` for a lag above 0, in integers: the documented formula.
fn expected_behind(millis: u64, rate_per_shard: u64) -> u64 {
    if millis == 0 {
        0
    } else {
        (millis * rate_per_shard).div_ceil(1000).max(1)
    }
}

#[tokio::test]
// The rates are exact by construction (whole numbers of records over whole seconds).
#[allow(clippy::float_cmp)]
async fn records_behind_per_shard_follow_the_formula_and_shards_cap_the_tasks() {
    let sdk = support::aws::sdk().await;
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    let name = unique("stream");
    let shards = stream(&kinesis, &name).await;
    let ((a, a_key), (b, b_key)) = (&shards[0], &shards[1]);
    put(&kinesis, &name, b_key, 3).await;
    put(&kinesis, &name, a_key, 1).await;
    let between = SystemTime::now() + Duration::from_millis(600);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    put(&kinesis, &name, a_key, 1).await;
    // moto counts each PutRecord as one IncomingRecords; 59,995 more make 60,000 in the
    // window: 200 records/s for the stream, 100 per shard.
    put_metric(&sdk, "IncomingRecords", &name, 59_995.0, 30).await;

    let a_ms = millis_behind(&kinesis, &name, a, ShardIteratorType::TrimHorizon, None).await;
    let b_ms = millis_behind(&kinesis, &name, b, ShardIteratorType::TrimHorizon, None).await;
    assert!(a_ms >= 1_200, "shard {a}: {a_ms} ms behind");

    let reading = KinesisProbe::new(config(&name), &sdk)
        .unwrap()
        .read_detailed()
        .await
        .unwrap();
    assert_eq!(reading.open_shards, 2);
    assert_eq!(reading.rate_per_shard, 100.0);
    assert!(!reading.rate_is_fallback);
    assert_eq!(reading.shards[a].millis_behind_latest, a_ms);
    assert_eq!(reading.shards[b].millis_behind_latest, b_ms);
    assert_eq!(reading.shards[a].records_behind, expected_behind(a_ms, 100));
    assert_eq!(reading.shards[b].records_behind, expected_behind(b_ms, 100));
    let sample = reading.sample;
    assert_eq!(
        sample.visible,
        expected_behind(a_ms, 100) + expected_behind(b_ms, 100)
    );
    assert!(sample.visible >= 120, "{sample:?}");
    assert_eq!((sample.in_flight, sample.delayed), (0, 0));
    assert_eq!(sample.oldest_age_ms, Some(a_ms.max(b_ms)));
    assert_eq!(sample.arrival_rate_per_s, Some(200.0));
    assert_eq!(sample.max_useful_tasks, Some(2));

    // LATEST: a fresh iterator at the tip is never behind.
    let mut latest = config(&name);
    latest.iterator_type = Some("LATEST".into());
    let sample = KinesisProbe::new(latest, &sdk)
        .unwrap()
        .read()
        .await
        .unwrap();
    assert_eq!((sample.visible, sample.max_useful_tasks), (0, Some(2)));

    // AT_TIMESTAMP before every record reads as TRIM_HORIZON; between shard a's two records,
    // only the newest record is left on a, and nothing on b.
    let mut early = config(&name);
    early.iterator_type = Some("AT_TIMESTAMP".into());
    early.at_timestamp = Some(
        DateTime::from(SystemTime::now() - Duration::from_secs(3_600))
            .fmt(DateTimeFormat::DateTime)
            .unwrap(),
    );
    let sample = KinesisProbe::new(early, &sdk)
        .unwrap()
        .read()
        .await
        .unwrap();
    assert_eq!(
        sample.visible,
        expected_behind(a_ms, 100) + expected_behind(b_ms, 100)
    );
    let mut mid = config(&name);
    mid.iterator_type = Some("at_timestamp".into());
    mid.at_timestamp = Some(
        DateTime::from(between)
            .fmt(DateTimeFormat::DateTime)
            .unwrap(),
    );
    let at = Some(DateTime::from(between));
    assert_eq!(
        millis_behind(&kinesis, &name, a, ShardIteratorType::AtTimestamp, at).await,
        0
    );
    let sample = KinesisProbe::new(mid, &sdk).unwrap().read().await.unwrap();
    assert_eq!(sample.visible, 0);

    // More tasks per shard raise the cap.
    let mut wide = config(&name);
    wide.tasks_per_shard = Some(3);
    let sample = KinesisProbe::new(wide, &sdk).unwrap().read().await.unwrap();
    assert_eq!(sample.max_useful_tasks, Some(6));

    kinesis
        .delete_stream()
        .stream_name(&name)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn iterator_age_mode_reads_the_consumers_age_from_cloudwatch() {
    let sdk = support::aws::sdk().await;
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    let name = unique("age");
    stream(&kinesis, &name).await;
    put_metric(
        &sdk,
        "GetRecords.IteratorAgeMilliseconds",
        &name,
        45_000.0,
        90,
    )
    .await;
    put_metric(
        &sdk,
        "GetRecords.IteratorAgeMilliseconds",
        &name,
        30_000.0,
        30,
    )
    .await;
    put_metric(&sdk, "IncomingRecords", &name, 60_000.0, 30).await;

    let mut settings = config(&name);
    settings.lag_source = Some("iterator_age".into());
    let reading = KinesisProbe::new(settings.clone(), &sdk)
        .unwrap()
        .read_detailed()
        .await
        .unwrap();
    assert!(reading.shards.is_empty());
    let sample = reading.sample;
    // The newest age (30 s) at the stream's 200 records/s.
    assert_eq!(sample.visible, 6_000);
    assert_eq!(sample.visible, expected_behind(30_000, 200));
    assert_eq!(sample.oldest_age_ms, Some(30_000));
    assert_eq!(sample.arrival_rate_per_s, Some(200.0));
    assert_eq!(sample.max_useful_tasks, Some(2));

    // No consumer has read: no age datapoint, a failed read rather than zero.
    let idle = unique("idle");
    stream(&kinesis, &idle).await;
    let mut settings = config(&idle);
    settings.lag_source = Some("iterator_age".into());
    let err = KinesisProbe::new(settings, &sdk)
        .unwrap()
        .read()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProbeError::Other { detail, .. } if detail.contains("IteratorAgeMilliseconds")),
        "{err:?}"
    );

    kinesis
        .delete_stream()
        .stream_name(&name)
        .send()
        .await
        .unwrap();
    kinesis
        .delete_stream()
        .stream_name(&idle)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
// The rates are exact by construction (whole numbers of records over whole seconds).
#[allow(clippy::float_cmp)]
async fn without_cloudwatch_the_configured_rate_is_used_or_the_read_fails() {
    let sdk = support::aws::sdk().await;
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    let name = unique("fallback");
    let shards = stream(&kinesis, &name).await;
    let ((a, a_key), (b, _)) = (&shards[0], &shards[1]);
    put(&kinesis, &name, a_key, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    put(&kinesis, &name, a_key, 1).await;
    let a_ms = millis_behind(&kinesis, &name, a, ShardIteratorType::TrimHorizon, None).await;
    assert!(a_ms >= 300, "{a_ms}");

    let denied = support::aws::sdk_at(&support::aws::cloudwatch_denying_proxy(), None).await;
    let err = KinesisProbe::new(config(&name), &denied)
        .unwrap()
        .read()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProbeError::Other { detail, .. } if detail.contains("records_per_second_per_shard")),
        "{err:?}"
    );

    let mut settings = config(&name);
    settings.records_per_second_per_shard = Some(50.0);
    let reading = KinesisProbe::new(settings.clone(), &denied)
        .unwrap()
        .read_detailed()
        .await
        .unwrap();
    assert!(reading.rate_is_fallback);
    assert_eq!(reading.rate_per_shard, 50.0);
    assert_eq!(reading.shards[a].millis_behind_latest, a_ms);
    assert_eq!(reading.shards[b].millis_behind_latest, 0);
    assert_eq!(reading.sample.visible, expected_behind(a_ms, 50));
    assert_eq!(reading.sample.arrival_rate_per_s, Some(100.0));

    // The iterator age has no fallback.
    settings.lag_source = Some("iterator_age".into());
    let err = KinesisProbe::new(settings, &denied)
        .unwrap()
        .read()
        .await
        .unwrap_err();
    assert!(matches!(err, ProbeError::Other { .. }), "{err:?}");

    kinesis
        .delete_stream()
        .stream_name(&name)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_missing_stream_is_not_found_in_both_modes() {
    let sdk = support::aws::sdk().await;
    let name = unique("missing");
    for lag_source in ["shard_iterator", "iterator_age"] {
        let mut settings = config(&name);
        settings.lag_source = Some(lag_source.into());
        let err = KinesisProbe::new(settings, &sdk)
            .unwrap()
            .read()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ProbeError::NotFound { what: "Kinesis stream", name: n } if n == &name),
            "{lag_source}: {err:?}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_endpoint_is_an_error_and_the_engine_holds() {
    let unreachable = support::aws::sdk_at("http://127.0.0.1:1", None).await;
    let mut settings = config("events");
    settings.records_per_second_per_shard = Some(10.0);
    let err = KinesisProbe::new(settings.clone(), &unreachable)
        .unwrap()
        .read()
        .await
        .unwrap_err();
    assert!(matches!(err, ProbeError::Connect { .. }), "{err:?}");

    let ctx = ProbeContext {
        aws: Some(unreachable),
    };
    let reading = AnyProbe::from_config(&QueueConfig::Kinesis(settings), &ctx)
        .unwrap()
        .reading()
        .await;
    support::assert_engine_holds_on(reading);
}

#[test]
fn policy_file_keys_parse_and_typos_are_refused() {
    let parsed: QueueConfig = toml::from_str(
        r#"
        type = "kinesis"
        stream_name = "events"
        lag_source = "shard_iterator"
        iterator_type = "AT_TIMESTAMP"
        at_timestamp = "2026-11-28T08:00:00Z"
        records_per_second_per_shard = 50.0
        metric_window_secs = 600
        tasks_per_shard = 2
        "#,
    )
    .unwrap();
    let QueueConfig::Kinesis(kinesis) = parsed else {
        panic!("{parsed:?}")
    };
    assert_eq!(kinesis.iterator_type.as_deref(), Some("AT_TIMESTAMP"));
    assert_eq!(kinesis.records_per_second_per_shard, Some(50.0));
    assert_eq!(kinesis.tasks_per_shard, Some(2));
    let typo = toml::from_str::<QueueConfig>("type = \"kinesis\"\ntask_per_shard = 2\n");
    assert!(typo.is_err(), "{typo:?}");
}
