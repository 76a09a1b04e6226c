//! The CloudWatch metric source against moto's server (`AWS_ENDPOINT_URL`, default 127.0.0.1:5000): true values read, every failure a failed read the engine holds on.
#![cfg(feature = "cloudwatch")]

mod support;

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use stepscale_engine::config::queue::{CloudWatchMetric, MetricMeaning, MetricStatSpec};
use stepscale_engine::config::QueueConfig;
use stepscale_engine::QueueSample;
use stepscale_live::cloudwatch_metric::CloudWatchMetricProbe;
use stepscale_live::{AnyProbe, Probe, ProbeContext, ProbeError};

/// A namespace no other test (or run) uses.
fn namespace(tag: &str) -> String {
    support::unique(&format!("StepScale/{tag}"))
}

/// A `Service` dimension value no other test (or run) uses: moto matches a query with
/// dimensions on the metric name and dimensions alone, whatever its namespace, so the
/// dimension keeps each test to its own datapoints.
fn service(tag: &str) -> String {
    support::unique(tag)
}

fn metric(namespace: &str, name: &str, service: &str) -> CloudWatchMetric {
    CloudWatchMetric {
        namespace: Some(namespace.to_string()),
        metric_name: Some(name.to_string()),
        dimensions: BTreeMap::from([("Service".to_string(), service.to_string())]),
        ..CloudWatchMetric::default()
    }
}

async fn put(sdk: &SdkConfig, namespace: &str, name: &str, service: &str, value: f64, ago: u64) {
    support::aws::put_metric(sdk, namespace, name, &[("Service", service)], value, ago).await;
}

async fn read(config: CloudWatchMetric, sdk: &SdkConfig) -> Result<QueueSample, ProbeError> {
    CloudWatchMetricProbe::new(&config, sdk)?.read().await
}

#[tokio::test]
async fn a_backlog_is_the_newest_datapoint_of_its_own_dimensions() {
    let sdk = support::aws::sdk().await;
    let ns = namespace("backlog");
    let worker = service("worker");
    put(&sdk, &ns, "PendingJobs", &worker, 40.0, 150).await;
    put(&sdk, &ns, "PendingJobs", &worker, 75.4, 30).await;
    // Another service's datapoint, another metric's and one older than the window do not count.
    put(&sdk, &ns, "PendingJobs", &service("other"), 9_999.0, 20).await;
    put(&sdk, &ns, "Other", &worker, 5_000.0, 20).await;
    put(&sdk, &ns, "PendingJobs", &worker, 8_000.0, 900).await;

    let config = CloudWatchMetric {
        stat: Some("Maximum".into()),
        ..metric(&ns, "PendingJobs", &worker)
    };
    let sample = read(config.clone(), &sdk).await.unwrap();
    assert_eq!(
        sample,
        QueueSample {
            visible: 75,
            ..QueueSample::default()
        }
    );

    // Through the enum the runner uses.
    let ctx = ProbeContext {
        aws: Some(sdk.clone()),
    };
    let reading = AnyProbe::from_config(&QueueConfig::Cloudwatch(config), &ctx)
        .unwrap()
        .reading()
        .await
        .unwrap();
    assert_eq!(reading.visible, 75);
}

#[tokio::test]
async fn a_rate_is_the_windows_sum_per_second() {
    let sdk = support::aws::sdk().await;
    let ns = namespace("rate");
    let web = service("web");
    put(&sdk, &ns, "RequestCount", &web, 120.0, 90).await;
    put(&sdk, &ns, "RequestCount", &web, 480.0, 30).await;
    put(&sdk, &ns, "RequestCount", &web, 9_000.0, 900).await;
    let config = CloudWatchMetric {
        stat: Some("Sum".into()),
        value: MetricMeaning::Rate,
        ..metric(&ns, "RequestCount", &web)
    };
    let sample = read(config.clone(), &sdk).await.unwrap();
    assert_eq!(
        sample,
        QueueSample {
            arrival_rate_per_s: Some(600.0 / 300.0),
            ..QueueSample::default()
        }
    );
    let wide = CloudWatchMetric {
        metric_window_secs: Some(600),
        ..config
    };
    let sample = read(wide, &sdk).await.unwrap();
    assert_eq!(sample.arrival_rate_per_s, Some(600.0 / 600.0));
}

#[tokio::test]
async fn an_expression_reads_its_result_only() {
    let sdk = support::aws::sdk().await;
    let ns = namespace("expression");
    let (a, b) = (service("a"), service("b"));
    put(&sdk, &ns, "PendingJobs", &a, 30.0, 30).await;
    put(&sdk, &ns, "PendingJobs", &b, 12.0, 30).await;
    let spec = |id: &str, shard: &str| MetricStatSpec {
        id: id.to_string(),
        namespace: ns.clone(),
        metric_name: "PendingJobs".into(),
        dimensions: BTreeMap::from([("Service".to_string(), shard.to_string())]),
        stat: Some("Maximum".into()),
    };
    // moto evaluates an expression only when it is one query's id; AWS evaluates any metric
    // math. What this shows: the metrics go as hidden queries and the result alone is read.
    let config = CloudWatchMetric {
        expression: Some("m2".into()),
        metrics: vec![spec("m1", &a), spec("m2", &b)],
        ..CloudWatchMetric::default()
    };
    let sample = read(config, &sdk).await.unwrap();
    assert_eq!(sample.visible, 12);
}

#[tokio::test]
async fn no_datapoint_and_a_negative_value_are_failed_reads_the_engine_holds_on() {
    let sdk = support::aws::sdk().await;
    let ns = namespace("empty");
    let ctx = ProbeContext {
        aws: Some(sdk.clone()),
    };
    // Only a datapoint older than the window: an empty read, never 0.
    let worker = service("worker");
    put(&sdk, &ns, "PendingJobs", &worker, 50.0, 900).await;
    let config = metric(&ns, "PendingJobs", &worker);
    let err = read(config.clone(), &sdk).await.unwrap_err();
    assert!(
        matches!(&err, ProbeError::Other { detail, .. } if detail.contains("no datapoint")),
        "{err:?}"
    );
    assert!(err.to_string().contains("PendingJobs"), "{err}");
    let reading = AnyProbe::from_config(&QueueConfig::Cloudwatch(config), &ctx)
        .unwrap()
        .reading()
        .await;
    support::assert_engine_holds_on(reading);

    put(&sdk, &ns, "Drift", &worker, -3.0, 30).await;
    let err = read(metric(&ns, "Drift", &worker), &sdk).await.unwrap_err();
    assert!(err.to_string().contains("-3"), "{err}");
}

#[tokio::test]
async fn a_refused_or_unreachable_cloudwatch_fails_the_read() {
    let ns = namespace("denied");
    let denied = support::aws::sdk_at(&support::aws::cloudwatch_denying_proxy(), None).await;
    let err = read(metric(&ns, "PendingJobs", "worker"), &denied)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProbeError::Other { target, .. } if target.contains("PendingJobs")),
        "{err:?}"
    );

    let unreachable = support::aws::sdk_at("http://127.0.0.1:1", None).await;
    let ctx = ProbeContext {
        aws: Some(unreachable),
    };
    let reading = AnyProbe::from_config(
        &QueueConfig::Cloudwatch(metric(&ns, "PendingJobs", "worker")),
        &ctx,
    )
    .unwrap()
    .reading()
    .await;
    support::assert_engine_holds_on(reading);
}

#[tokio::test]
async fn bad_settings_are_refused_before_any_call() {
    let sdk = support::aws::sdk().await;
    for config in [
        CloudWatchMetric::default(),
        CloudWatchMetric {
            stat: Some("Mean".into()),
            ..metric("A", "B", "c")
        },
        CloudWatchMetric {
            metric_window_secs: Some(30),
            ..metric("A", "B", "c")
        },
    ] {
        let err = CloudWatchMetricProbe::new(&config, &sdk).unwrap_err();
        assert!(matches!(err, ProbeError::Config(_)), "{err:?}");
    }
}

#[test]
fn policy_file_keys_parse_and_typos_are_refused() {
    let parsed: QueueConfig = toml::from_str(
        r#"
        type = "cloudwatch"
        namespace = "Orders"
        metric_name = "PendingJobs"
        dimensions = { Service = "worker" }
        value = "rate"
        period_secs = 300
        metric_window_secs = 900
        "#,
    )
    .unwrap();
    let QueueConfig::Cloudwatch(m) = parsed else {
        panic!("{parsed:?}")
    };
    assert_eq!(m.value, MetricMeaning::Rate);
    assert_eq!((m.period_secs, m.window_secs()), (300, 900));
    let typo = toml::from_str::<QueueConfig>("type = \"cloudwatch\"\nmetric = \"x\"\n");
    assert!(typo.is_err(), "{typo:?}");
}
