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
    let shared = Shared::new(
        Ok(env),
        ProbeContext {
            aws: Some(sdk.clone()),
        },
    );

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

/// A service at 1 task, a bucket, a Redis list of `messages` and the v0.2 environment that
/// keeps state in the bucket and records each invocation under `traces/`.
struct Recording {
    s3: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    env: BTreeMap<String, String>,
}

/// The text of the object at `location` (`s3://BUCKET/KEY`, as the handler reports it).
async fn object_text(s3: &aws_sdk_s3::Client, bucket: &str, location: &str) -> String {
    let key = location.trim_start_matches(&format!("s3://{bucket}/"));
    let body = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

async fn recording(sdk: &aws_config::SdkConfig, messages: usize) -> Recording {
    let (cluster, service) = support::aws::ecs_service(sdk, 1).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = support::unique("record-state");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let key = support::unique("jobs");
    support::redis_list(&key, messages).await;
    let env: BTreeMap<String, String> = [
        ("QUEUE_TYPE", "redis"),
        ("REDIS_HOST", "127.0.0.1"),
        ("REDIS_QUEUE_KEY", key.as_str()),
        ("ECS_CLUSTER", cluster.as_str()),
        ("SERVICE_NAME", service.as_str()),
        ("MIN_TASKS", "1"),
        ("MAX_TASKS", "10"),
        ("S3_CONFIG_BUCKET", bucket.as_str()),
        ("RECORD_S3_PREFIX", "traces"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Recording {
        s3,
        bucket,
        key,
        env,
    }
}

/// With `RECORD_S3_PREFIX`, each invocation appends its row to the day's trace object in S3,
/// continuing from the previous invocation's row: 10 messages added between two invocations
/// are recorded as 10 arrivals. The object, once downloaded, is a trace `backtest` replays.
#[tokio::test]
async fn invocations_record_the_arrivals_between_them_in_s3() {
    let sdk = support::aws::sdk().await;
    let Recording {
        s3,
        bucket,
        key,
        env,
    } = recording(&sdk, 20).await;
    let (cluster, service) = (env["ECS_CLUSTER"].clone(), env["SERVICE_NAME"].clone());
    let shared = Shared::new(
        Ok(env),
        ProbeContext {
            aws: Some(sdk.clone()),
        },
    );
    let first = handle(&shared, &json!({})).await.unwrap();
    assert_eq!(first["ok"], true, "{first}");
    support::redis_list(&key, 30).await;
    // Rows are stamped to the second: the next one is a second later.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let second = handle(&shared, &json!({})).await.unwrap();
    let location = second["recorded"]
        .as_str()
        .unwrap_or_else(|| panic!("{second}"));
    let prefix = format!("s3://{bucket}/traces/{cluster}/{service}/");
    assert!(location.starts_with(&prefix), "{location}");
    // The two invocations may fall on two UTC days (a run across midnight): each day has its
    // own object, and the second day's first row continues from the first day's last. The
    // rows are read from every object the invocations wrote, in order.
    let mut locations = vec![first["recorded"].as_str().unwrap_or(location).to_string()];
    if locations[0] != location {
        locations.push(location.to_string());
    }
    let mut text = String::new();
    for loc in &locations {
        let part = object_text(&s3, &bucket, loc).await;
        assert!(part.starts_with("time,arrivals,"), "{part}");
        if text.is_empty() {
            text = part;
        } else {
            text.extend(part.lines().skip(1).map(|l| format!("{l}\n")));
        }
    }
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    // The rise of the list from 20 to 30: 10 arrivals.
    assert_eq!(
        (rows[1][1], rows[1][2], rows[1][3]),
        ("10.000", "true", "30"),
        "{text}"
    );
    // Downloaded, the object is a trace `backtest` replays.
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.csv");
    std::fs::write(&trace, &text).unwrap();
    let replay = std::process::Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["backtest", "--scenario", "scenarios/steady.toml", "--trace"])
        .arg(&trace)
        .args([
            "--time-column",
            "time",
            "--value-column",
            "arrivals",
            "--out",
        ])
        .arg(dir.path().join("replay"))
        .output()
        .unwrap();
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    support::redis_list(&key, 0).await;
}

/// A record append whose answer is lost (a relay passes the PUT to S3 and answers 500, so the
/// SDK retries it and the retry gets 412) is recognised by its own row and not written twice:
/// the day's object holds one row.
#[tokio::test]
async fn a_record_append_retried_after_success_is_written_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use support::relay::{self, Verdict};
    let sdk = support::aws::sdk().await;
    let Recording {
        s3,
        bucket,
        key,
        env,
    } = recording(&sdk, 20).await;
    let record_puts = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&record_puts);
    let url = relay::start(move |request| {
        if request.method == "PUT"
            && request.path.contains("/traces/")
            && seen.fetch_add(1, Ordering::SeqCst) == 0
        {
            Verdict::ForwardThenRespond {
                status: 500,
                body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InternalError</Code>\
<Message>We encountered an internal error. Please try again.</Message></Error>",
            }
        } else {
            Verdict::Forward
        }
    });
    let shared = Shared::new(
        Ok(env),
        ProbeContext {
            aws: Some(support::aws::sdk_at(&url, None).await),
        },
    );
    let out = handle(&shared, &json!({})).await.unwrap();
    assert_eq!(out["ok"], true, "{out}");
    assert!(
        record_puts.load(Ordering::SeqCst) >= 2,
        "the append was retried after its lost answer: {out}"
    );
    let location = out["recorded"].as_str().unwrap_or_else(|| panic!("{out}"));
    let text = object_text(&s3, &bucket, location).await;
    assert_eq!(text.lines().count(), 2, "one header and one row:\n{text}");
    support::redis_list(&key, 0).await;
}

/// A Redis password given by reference (`REDIS_PASSWORD_SECRET`), against a private Redis
/// that requires it: the handler reads the Secrets Manager secret once per execution
/// environment (a relay counts the reads) and scales; an SSM SecureString parameter works the
/// same; a reference to a secret that does not exist scales nothing, is not retried and names
/// the ARN, never a password.
#[tokio::test]
async fn a_password_by_reference_is_read_once_and_a_missing_one_scales_nothing() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use support::relay::{self, Verdict};
    let sdk = support::aws::sdk().await;
    let password = format!("pw-{}", support::unique("redis"));
    let key = support::unique("jobs");
    let redis =
        support::redis_server::PrivateRedis::with_password_and_list(&password, &key, 900).await;

    let secret = support::aws::moto_json(
        "secretsmanager",
        "secretsmanager.CreateSecret",
        &json!({"Name": support::unique("broker"), "SecretString": password}),
    );
    let secret_arn = secret["ARN"].as_str().unwrap().to_string();
    let parameter_arn = support::aws::ssm_secure_string(&password);

    let reads = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&reads);
    let url = relay::start(move |request| {
        if request.header("x-amz-target") == Some("secretsmanager.GetSecretValue") {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        Verdict::Forward
    });
    let via_relay = support::aws::sdk_at(&url, None).await;
    let port = redis.port().to_string();
    let env_for = |cluster: &str, service: &str, reference: &str| -> BTreeMap<String, String> {
        [
            ("QUEUE_TYPE", "redis"),
            ("REDIS_HOST", "127.0.0.1"),
            ("REDIS_PORT", port.as_str()),
            ("REDIS_QUEUE_KEY", key.as_str()),
            ("REDIS_PASSWORD_SECRET", reference),
            ("ECS_CLUSTER", cluster),
            ("SERVICE_NAME", service),
            ("MIN_TASKS", "1"),
            ("MAX_TASKS", "100"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };

    // Secrets Manager: read at the first invocation only; 900 messages scale 1 -> 10.
    let (cluster, service) = support::aws::ecs_service(&sdk, 1).await;
    let shared = Shared::new(
        Ok(env_for(&cluster, &service, &secret_arn)),
        ProbeContext {
            aws: Some(via_relay.clone()),
        },
    );
    let first = handle(&shared, &json!({})).await.unwrap();
    assert_eq!(first["desired"].as_u64(), Some(10), "{first}");
    assert_eq!(
        support::aws::desired_count(&sdk, &cluster, &service).await,
        10
    );
    // The second invocation reads the queue with the password it kept.
    let second = handle(&shared, &json!({})).await.unwrap();
    assert!(
        second["reason"]
            .as_str()
            .unwrap_or("")
            .contains("metric 900"),
        "{second}"
    );
    assert_eq!(
        reads.load(Ordering::SeqCst),
        1,
        "one read per execution environment"
    );

    // An SSM SecureString parameter.
    let (cluster, service) = support::aws::ecs_service(&sdk, 1).await;
    let shared = Shared::new(
        Ok(env_for(&cluster, &service, &parameter_arn)),
        ProbeContext {
            aws: Some(via_relay.clone()),
        },
    );
    let out = handle(&shared, &json!({})).await.unwrap();
    assert_eq!(out["desired"].as_u64(), Some(10), "{out}");

    // A secret that does not exist: refused for good, nothing scaled.
    let missing = secret_arn.replace(":secret:", ":secret:missing-");
    let (cluster, service) = support::aws::ecs_service(&sdk, 1).await;
    let shared = Shared::new(
        Ok(env_for(&cluster, &service, &missing)),
        ProbeContext {
            aws: Some(via_relay),
        },
    );
    let out = handle(&shared, &json!({})).await.unwrap();
    assert_eq!(
        (out["ok"].as_bool(), out["retryable"].as_bool()),
        (Some(false), Some(false)),
        "{out}"
    );
    let error = out["error"].as_str().unwrap();
    assert!(
        error.contains(&missing) && error.contains("ResourceNotFound"),
        "{error}"
    );
    assert!(!error.contains(&password), "{error}");
    assert_eq!(
        support::aws::desired_count(&sdk, &cluster, &service).await,
        1
    );
}
