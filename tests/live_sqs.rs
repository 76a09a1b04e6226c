//! The SQS probe against moto's server (`AWS_ENDPOINT_URL`, default 127.0.0.1:5000); fails when none runs.
#![cfg(feature = "sqs")]

mod support;

use aws_config::SdkConfig;
use stepscale_engine::config::queue::SqsQueue;
use stepscale_engine::config::QueueConfig;
use stepscale_engine::QueueSample;
use stepscale_live::sqs::SqsProbe;
use stepscale_live::{AnyProbe, Probe, ProbeContext, ProbeError};

/// A resource name no other test (or run) uses.
fn unique(tag: &str) -> String {
    support::unique(&format!("stepscale-{tag}"))
}

/// A queue whose received messages stay invisible for ten minutes; its URL.
async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("moto must run at AWS_ENDPOINT_URL (tests/services/moto.sh)")
        .queue_url()
        .unwrap()
        .to_string()
}

/// Sends `count` messages, each delayed by `delay_secs`.
async fn send(sqs: &aws_sdk_sqs::Client, url: &str, count: usize, delay_secs: i32) {
    for i in 0..count {
        sqs.send_message()
            .queue_url(url)
            .message_body(format!("message {i}"))
            .delay_seconds(delay_secs)
            .send()
            .await
            .unwrap();
    }
}

/// Receives exactly `count` messages and keeps them invisible for ten minutes.
async fn receive(sqs: &aws_sdk_sqs::Client, url: &str, count: usize) {
    let mut received = 0;
    while received < count {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(i32::try_from(count - received).unwrap())
            .visibility_timeout(600)
            .send()
            .await
            .unwrap();
        assert!(!out.messages().is_empty(), "the queue ran dry");
        received += out.messages().len();
    }
    assert_eq!(received, count);
}

fn by_url(url: &str) -> SqsQueue {
    SqsQueue {
        queue_url: Some(url.to_string()),
        ..SqsQueue::default()
    }
}

fn by_name(name: &str) -> SqsQueue {
    SqsQueue {
        queue_name: Some(name.to_string()),
        ..SqsQueue::default()
    }
}

/// One `AWS/SQS` datapoint for `queue`, `secs_ago` seconds ago.
async fn put_metric(sdk: &SdkConfig, metric: &str, queue: &str, value: f64, secs_ago: u64) {
    support::aws::put_metric(
        sdk,
        "AWS/SQS",
        metric,
        &[("QueueName", queue)],
        value,
        secs_ago,
    )
    .await;
}

#[tokio::test]
async fn visible_in_flight_and_delayed_match_by_url_and_by_name() {
    let sdk = support::aws::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let name = unique("counts");
    let url = queue(&sqs, &name).await;
    send(&sqs, &url, 10, 0).await;
    receive(&sqs, &url, 3).await;
    send(&sqs, &url, 4, 600).await;

    let expected = QueueSample {
        visible: 7,
        in_flight: 3,
        delayed: 4,
        ..QueueSample::default()
    };
    let url_probe = SqsProbe::new(by_url(&url), &sdk).unwrap();
    assert_eq!(url_probe.read().await.unwrap(), expected);
    let name_probe = SqsProbe::new(by_name(&name), &sdk).unwrap();
    assert_eq!(name_probe.read().await.unwrap(), expected);
    // The second read uses the cached URL and sees the change.
    send(&sqs, &url, 2, 0).await;
    let again = name_probe.read().await.unwrap();
    assert_eq!((again.visible, again.in_flight, again.delayed), (9, 3, 4));

    // Through the enum the runner uses.
    let ctx = ProbeContext {
        aws: Some(sdk.clone()),
    };
    let any = AnyProbe::from_config(&QueueConfig::Sqs(by_url(&url)), &ctx).unwrap();
    assert_eq!(any.reading().await.unwrap().visible, 9);

    sqs.delete_queue().queue_url(&url).send().await.unwrap();
}

#[tokio::test]
async fn a_missing_queue_is_not_found_by_url_and_by_name() {
    let sdk = support::aws::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let name = unique("missing");
    // A real queue's URL with another name, so only the name is wrong.
    let real = queue(&sqs, &unique("real")).await;
    let (base, _) = real.rsplit_once('/').unwrap();
    let url = format!("{base}/{name}");

    for config in [by_url(&url), by_name(&name)] {
        let err = SqsProbe::new(config, &sdk)
            .unwrap()
            .read()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ProbeError::NotFound { what: "SQS queue", name: n } if n.contains(&name)),
            "{err:?}"
        );
        assert!(err.to_string().contains(&name), "{err}");
    }
    sqs.delete_queue().queue_url(&real).send().await.unwrap();
}

#[tokio::test]
async fn a_queue_deleted_after_its_url_was_cached_is_not_found_then_found_again() {
    let sdk = support::aws::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let name = unique("recreated");
    let url = queue(&sqs, &name).await;
    send(&sqs, &url, 2, 0).await;
    let probe = SqsProbe::new(by_name(&name), &sdk).unwrap();
    assert_eq!(probe.read().await.unwrap().visible, 2);

    sqs.delete_queue().queue_url(&url).send().await.unwrap();
    let err = probe.read().await.unwrap_err();
    assert!(matches!(err, ProbeError::NotFound { .. }), "{err:?}");

    let url = queue(&sqs, &name).await;
    send(&sqs, &url, 5, 0).await;
    assert_eq!(probe.read().await.unwrap().visible, 5);
    sqs.delete_queue().queue_url(&url).send().await.unwrap();
}

#[tokio::test]
async fn cloudwatch_gives_the_oldest_age_and_the_arrival_rate() {
    let sdk = support::aws::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let name = unique("metrics");
    let url = queue(&sqs, &name).await;
    send(&sqs, &url, 6, 0).await;
    // Two one-minute datapoints each; the age is the newest one, the rate the sum over 300 s.
    put_metric(&sdk, "NumberOfMessagesSent", &name, 300.0, 90).await;
    put_metric(&sdk, "NumberOfMessagesSent", &name, 600.0, 30).await;
    put_metric(&sdk, "ApproximateAgeOfOldestMessage", &name, 42.0, 90).await;
    put_metric(&sdk, "ApproximateAgeOfOldestMessage", &name, 17.0, 30).await;
    // Another queue's metrics and data older than the window do not count.
    put_metric(&sdk, "NumberOfMessagesSent", &unique("other"), 9_000.0, 30).await;
    put_metric(&sdk, "NumberOfMessagesSent", &name, 5_000.0, 900).await;

    let mut config = by_url(&url);
    config.cloudwatch_metrics = true;
    let sample = SqsProbe::new(config.clone(), &sdk)
        .unwrap()
        .read()
        .await
        .unwrap();
    assert_eq!(sample.visible, 6);
    assert_eq!(sample.oldest_age_ms, Some(17_000));
    assert_eq!(sample.arrival_rate_per_s, Some(900.0 / 300.0));

    // A ten-minute window: same sum, twice the seconds.
    config.metric_window_secs = Some(600);
    let wide = SqsProbe::new(config, &sdk).unwrap().read().await.unwrap();
    assert_eq!(wide.arrival_rate_per_s, Some(900.0 / 600.0));

    // Off by default: no CloudWatch figures at all.
    let plain = SqsProbe::new(by_url(&url), &sdk)
        .unwrap()
        .read()
        .await
        .unwrap();
    assert_eq!(
        (plain.oldest_age_ms, plain.arrival_rate_per_s),
        (None, None)
    );

    // On, for a queue with no datapoints: nothing sent (rate 0), age unknown.
    let quiet_name = unique("quiet");
    let quiet_url = queue(&sqs, &quiet_name).await;
    let mut quiet = by_name(&quiet_name);
    quiet.cloudwatch_metrics = true;
    let sample = SqsProbe::new(quiet, &sdk).unwrap().read().await.unwrap();
    assert_eq!(
        (sample.oldest_age_ms, sample.arrival_rate_per_s),
        (None, Some(0.0))
    );

    sqs.delete_queue().queue_url(&url).send().await.unwrap();
    sqs.delete_queue()
        .queue_url(&quiet_url)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_cloudwatch_failure_leaves_the_counts_and_unsets_the_extras() {
    let sdk = support::aws::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let name = unique("cw-denied");
    let url = queue(&sqs, &name).await;
    send(&sqs, &url, 5, 0).await;

    let denied = support::aws::sdk_at(&support::aws::cloudwatch_denying_proxy(), None).await;
    let mut config = by_url(&url);
    config.cloudwatch_metrics = true;
    let sample = SqsProbe::new(config, &denied)
        .unwrap()
        .read()
        .await
        .expect("a CloudWatch failure does not fail the SQS read");
    assert_eq!(
        sample,
        QueueSample {
            visible: 5,
            ..QueueSample::default()
        }
    );
    sqs.delete_queue().queue_url(&url).send().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_endpoint_is_an_error_and_the_engine_holds() {
    let secret = format!("stepscale-secret-{}", std::process::id());
    let unreachable = support::aws::sdk_at(
        "http://127.0.0.1:1",
        Some(aws_sdk_sqs::config::Credentials::new(
            "AKIDSTEPSCALE",
            &secret,
            None,
            None,
            "test",
        )),
    )
    .await;
    let config = SqsQueue {
        queue_url: Some("http://127.0.0.1:1/123456789012/orders".into()),
        cloudwatch_metrics: true,
        ..SqsQueue::default()
    };
    let err = SqsProbe::new(config.clone(), &unreachable)
        .unwrap()
        .read()
        .await
        .unwrap_err();
    assert!(matches!(err, ProbeError::Connect { .. }), "{err:?}");
    let by_name_err = SqsProbe::new(by_name("orders"), &unreachable)
        .unwrap()
        .read()
        .await
        .unwrap_err();
    assert!(
        matches!(by_name_err, ProbeError::Connect { .. }),
        "{by_name_err:?}"
    );
    for text in [err.to_string(), format!("{err:?}"), by_name_err.to_string()] {
        assert!(!text.contains(&secret), "{text}");
    }

    let ctx = ProbeContext {
        aws: Some(unreachable),
    };
    let reading = AnyProbe::from_config(&QueueConfig::Sqs(config), &ctx)
        .unwrap()
        .reading()
        .await;
    support::assert_engine_holds_on(reading);
}

#[tokio::test]
async fn bad_settings_are_refused_before_any_call() {
    let sdk = support::aws::sdk().await;
    for config in [
        SqsQueue::default(),
        SqsQueue {
            queue_name: Some("jobs".into()),
            metric_window_secs: Some(59),
            ..SqsQueue::default()
        },
    ] {
        let err = SqsProbe::new(config, &sdk).unwrap_err();
        assert!(matches!(err, ProbeError::Config(_)), "{err:?}");
    }
}

#[test]
fn policy_file_keys_parse_and_typos_are_refused() {
    let parsed: QueueConfig = toml::from_str(
        r#"
        type = "sqs"
        queue_name = "jobs"
        cloudwatch_metrics = true
        metric_window_secs = 600
        "#,
    )
    .unwrap();
    let QueueConfig::Sqs(sqs) = parsed else {
        panic!("{parsed:?}")
    };
    assert_eq!(sqs.queue_name.as_deref(), Some("jobs"));
    assert!(sqs.cloudwatch_metrics);
    assert_eq!(sqs.metric_window_secs, Some(600));
    let typo = toml::from_str::<QueueConfig>("type = \"sqs\"\ncloudwatch_metric = true\n");
    assert!(typo.is_err(), "{typo:?}");
}
