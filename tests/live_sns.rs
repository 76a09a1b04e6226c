//! The SNS rate source against moto's server (`AWS_ENDPOINT_URL`, default 127.0.0.1:5000); fails when none runs.
#![cfg(feature = "sns")]

mod support;

use aws_config::SdkConfig;
use stepscale_engine::config::queue::SnsTopic;
use stepscale_engine::config::QueueConfig;
use stepscale_engine::QueueSample;
use stepscale_live::sns::SnsProbe;
use stepscale_live::{AnyProbe, Probe, ProbeContext, ProbeError};

/// A resource name no other test (or run) uses.
fn unique(tag: &str) -> String {
    support::unique(&format!("stepscale-{tag}"))
}

/// A new topic; its ARN.
async fn topic(sdk: &SdkConfig, name: &str) -> String {
    aws_sdk_sns::Client::new(sdk)
        .create_topic()
        .name(name)
        .send()
        .await
        .expect("moto must run at AWS_ENDPOINT_URL (tests/services/moto.sh)")
        .topic_arn()
        .unwrap()
        .to_string()
}

async fn delete(sdk: &SdkConfig, arn: &str) {
    aws_sdk_sns::Client::new(sdk)
        .delete_topic()
        .topic_arn(arn)
        .send()
        .await
        .unwrap();
}

fn config(arn: &str) -> SnsTopic {
    SnsTopic {
        topic_arn: Some(arn.to_string()),
        ..SnsTopic::default()
    }
}

/// One `NumberOfMessagesPublished` datapoint for `topic`, `secs_ago` seconds ago.
async fn published(sdk: &SdkConfig, topic: &str, value: f64, secs_ago: u64) {
    let dims = [("TopicName", topic)];
    support::aws::put_metric(
        sdk,
        "AWS/SNS",
        "NumberOfMessagesPublished",
        &dims,
        value,
        secs_ago,
    )
    .await;
}

#[tokio::test]
async fn the_publish_rate_is_the_sum_over_the_window_and_nothing_is_visible() {
    let sdk = support::aws::sdk().await;
    let name = unique("orders");
    let arn = topic(&sdk, &name).await;
    published(&sdk, &name, 150.0, 90).await;
    published(&sdk, &name, 450.0, 30).await;
    // Another topic's data and data older than the window do not count.
    published(&sdk, &unique("other"), 7_000.0, 30).await;
    published(&sdk, &name, 9_000.0, 900).await;

    let sample = SnsProbe::new(config(&arn), &sdk)
        .unwrap()
        .read()
        .await
        .unwrap();
    assert_eq!(
        sample,
        QueueSample {
            arrival_rate_per_s: Some(600.0 / 300.0),
            ..QueueSample::default()
        }
    );

    let mut wide = config(&arn);
    wide.metric_window_secs = Some(600);
    let sample = SnsProbe::new(wide, &sdk).unwrap().read().await.unwrap();
    assert_eq!(sample.arrival_rate_per_s, Some(600.0 / 600.0));

    // Through the enum the runner uses.
    let ctx = ProbeContext {
        aws: Some(sdk.clone()),
    };
    let reading = AnyProbe::from_config(&QueueConfig::Sns(config(&arn)), &ctx)
        .unwrap()
        .reading()
        .await
        .unwrap();
    assert_eq!(reading.arrival_rate_per_s, Some(2.0));
    delete(&sdk, &arn).await;
}

#[tokio::test]
async fn a_topic_with_no_datapoints_publishes_nothing() {
    let sdk = support::aws::sdk().await;
    let arn = topic(&sdk, &unique("quiet")).await;
    let sample = SnsProbe::new(config(&arn), &sdk)
        .unwrap()
        .read()
        .await
        .unwrap();
    assert_eq!(sample.arrival_rate_per_s, Some(0.0));
    assert_eq!(sample.visible, 0);
    delete(&sdk, &arn).await;
}

#[tokio::test]
async fn a_missing_topic_is_not_found_even_with_metrics() {
    let sdk = support::aws::sdk().await;
    let name = unique("missing");
    let real = topic(&sdk, &unique("real")).await;
    let (account, _) = real.rsplit_once(':').unwrap();
    let arn = format!("{account}:{name}");
    // Metrics alone do not make a topic: it was deleted, or the ARN is misspelt.
    published(&sdk, &name, 600.0, 30).await;
    let err = SnsProbe::new(config(&arn), &sdk)
        .unwrap()
        .read()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProbeError::NotFound { what: "SNS topic", name: n } if n == &arn),
        "{err:?}"
    );
    assert!(err.to_string().contains(&name), "{err}");
    delete(&sdk, &real).await;
}

#[tokio::test]
async fn a_cloudwatch_failure_fails_the_read() {
    let sdk = support::aws::sdk().await;
    let name = unique("denied");
    let arn = topic(&sdk, &name).await;
    let denied = support::aws::sdk_at(&support::aws::cloudwatch_denying_proxy(), None).await;
    let err = SnsProbe::new(config(&arn), &denied)
        .unwrap()
        .read()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProbeError::Other { target, .. } if target.contains(&name)),
        "{err:?}"
    );
    delete(&sdk, &arn).await;
}

#[tokio::test]
async fn an_unreachable_endpoint_is_an_error_and_the_engine_holds() {
    let unreachable = support::aws::sdk_at("http://127.0.0.1:1", None).await;
    let config = config("arn:aws:sns:us-east-1:123456789012:orders");
    let err = SnsProbe::new(config.clone(), &unreachable)
        .unwrap()
        .read()
        .await
        .unwrap_err();
    assert!(matches!(err, ProbeError::Connect { .. }), "{err:?}");

    let ctx = ProbeContext {
        aws: Some(unreachable),
    };
    let reading = AnyProbe::from_config(&QueueConfig::Sns(config), &ctx)
        .unwrap()
        .reading()
        .await;
    support::assert_engine_holds_on(reading);
}

#[tokio::test]
async fn bad_settings_are_refused_before_any_call() {
    let sdk = support::aws::sdk().await;
    for config in [
        SnsTopic::default(),
        config("orders"),
        config("arn:aws:sqs:us-east-1:123456789012:orders"),
        SnsTopic {
            metric_window_secs: Some(100_000),
            ..config("arn:aws:sns:us-east-1:123456789012:orders")
        },
    ] {
        let err = SnsProbe::new(config, &sdk).unwrap_err();
        assert!(matches!(err, ProbeError::Config(_)), "{err:?}");
    }
}

#[test]
fn policy_file_keys_parse_and_typos_are_refused() {
    let parsed: QueueConfig = toml::from_str(
        r#"
        type = "sns"
        topic_arn = "arn:aws:sns:us-east-1:123456789012:orders"
        metric_window_secs = 600
        "#,
    )
    .unwrap();
    let QueueConfig::Sns(sns) = parsed else {
        panic!("{parsed:?}")
    };
    assert_eq!(sns.metric_window_secs, Some(600));
    let typo = toml::from_str::<QueueConfig>("type = \"sns\"\ntopic = \"orders\"\n");
    assert!(typo.is_err(), "{typo:?}");
}
