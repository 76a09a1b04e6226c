//! The SNS rate source against moto's server (`AWS_ENDPOINT_URL`, default 127.0.0.1:5000); fails when none runs.
#![cfg(feature = "sns")]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Once;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use stepscale_engine::config::queue::SnsTopic;
use stepscale_engine::config::QueueConfig;
use stepscale_engine::policy::Combine;
use stepscale_engine::{
    Action, Controller, Guards, Limit, PolicySpec, QueueSample, ScalerState, ServiceState,
};
use stepscale_live::sns::SnsProbe;
use stepscale_live::{AnyProbe, Probe, ProbeContext, ProbeError};

static ENV: Once = Once::new();

/// The SDK pointed at moto (`AWS_ENDPOINT_URL`, default 127.0.0.1:5000) with test credentials.
async fn sdk() -> SdkConfig {
    ENV.call_once(|| {
        for (k, v) in [
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ] {
            if std::env::var_os(k).is_none() {
                std::env::set_var(k, v);
            }
        }
    });
    stepscale_live::aws::load(None).await
}

/// The test SDK configuration sent to `endpoint` instead: same HTTP client (rustls on ring),
/// timeouts and retries. Set through the loader, since an endpoint set on a built
/// `SdkConfig` loses to `AWS_ENDPOINT_URL` in each client.
async fn sdk_at(
    endpoint: &str,
    credentials: Option<aws_sdk_sns::config::Credentials>,
) -> SdkConfig {
    let base = sdk().await;
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .http_client(
            base.http_client()
                .expect("the SDK configuration has an HTTP client"),
        );
    if let Some(timeouts) = base.timeout_config() {
        loader = loader.timeout_config(timeouts.clone());
    }
    if let Some(retries) = base.retry_config() {
        loader = loader.retry_config(retries.clone());
    }
    if let Some(credentials) = credentials {
        loader = loader.credentials_provider(credentials);
    }
    loader.load().await
}

/// A resource name no other test (or run) uses.
fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "stepscale-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
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
    aws_sdk_cloudwatch::Client::new(sdk)
        .put_metric_data()
        .namespace("AWS/SNS")
        .metric_data(
            MetricDatum::builder()
                .metric_name("NumberOfMessagesPublished")
                .dimensions(Dimension::builder().name("TopicName").value(topic).build())
                .value(value)
                .timestamp(DateTime::from(
                    SystemTime::now() - Duration::from_secs(secs_ago),
                ))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_publish_rate_is_the_sum_over_the_window_and_nothing_is_visible() {
    let sdk = sdk().await;
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
    let sdk = sdk().await;
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
    let sdk = sdk().await;
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
    let sdk = sdk().await;
    let name = unique("denied");
    let arn = topic(&sdk, &name).await;
    let denied = sdk_at(&cloudwatch_denying_proxy(), None).await;
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
    let unreachable = sdk_at("http://127.0.0.1:1", None).await;
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
    assert!(reading.is_err());
    let controller = Controller::new(
        PolicySpec::default(),
        Guards::default(),
        Combine::default(),
        vec![],
    );
    let decision = controller.tick(
        &0,
        &[reading],
        ServiceState::settled(20),
        &mut ScalerState::default(),
    );
    assert_eq!((decision.action, decision.desired), (Action::Hold, 20));
    assert_eq!(decision.limited_by, Some(Limit::MetricFailure));
}

#[tokio::test]
async fn bad_settings_are_refused_before_any_call() {
    let sdk = sdk().await;
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

/// An HTTP relay to moto that answers every CloudWatch call (signed for service
/// `monitoring`, whatever the protocol) with 403, as a role without
/// `cloudwatch:GetMetricData` would get; everything else goes through. Its base URL.
fn cloudwatch_denying_proxy() -> String {
    let upstream = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let upstream = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let upstream = upstream.clone();
            std::thread::spawn(move || relay(client, &upstream));
        }
    });
    url
}

/// One request: read it whole, then refuse it or forward it with `Connection: close` and
/// copy the reply back.
fn relay(mut client: TcpStream, upstream: &str) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut chunk = [0_u8; 8192];
    let head_end = loop {
        let n = client.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&chunk[..n]);
        if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while request.len() < head_end + length {
        let n = client.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&chunk[..n]);
    }
    if head.contains("/monitoring/aws4_request") {
        return client.write_all(
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
    let mut headers = String::new();
    for line in head.split("\r\n") {
        if !line.is_empty() && !line.to_ascii_lowercase().starts_with("connection:") {
            headers.push_str(line);
            headers.push_str("\r\n");
        }
    }
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(headers.as_bytes())?;
    server.write_all(b"Connection: close\r\n\r\n")?;
    server.write_all(&request[head_end..])?;
    let mut reply = Vec::new();
    server.read_to_end(&mut reply)?;
    client.write_all(&reply)
}
