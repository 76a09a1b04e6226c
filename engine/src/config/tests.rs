//! The configuration's rules, end to end: shadows, passwords by reference.

use super::*;

fn config(json: &str) -> Config {
    serde_json::from_str(json).unwrap()
}

#[test]
fn shadows_are_validated_with_their_own_policy_and_named_in_errors() {
    let ok = config(
        r#"{"policy": {"kind": "seed"},
            "shadow": [{"name": "slo-30s", "policy": {"kind": "slo", "wait_secs": 30}},
                       {"name": "tight", "policy": {"kind": "target", "target_backlog_per_task": 10},
                        "guards": {"min_tasks": 1, "max_tasks": 5}}]}"#,
    );
    ok.validate().unwrap();
    let tight = ok.for_shadow(&ok.shadow[1]);
    assert_eq!(tight.guards.max_tasks, 5);
    assert!(tight.shadow.is_empty());
    // Without its own guards a shadow shares the acting policy's.
    assert_eq!(ok.for_shadow(&ok.shadow[0]).guards, ok.guards);

    let bad = config(r#"{"shadow": [{"name": "x", "policy": {"kind": "slo", "wait_secs": -1}}]}"#);
    let err = bad.validate().unwrap_err().to_string();
    assert!(err.contains("shadow[0].policy.wait_secs"), "{err}");

    let twice = config(
        r#"{"shadow": [{"name": "a", "policy": {"kind": "seed"}}, {"name": "a", "policy": {"kind": "seed"}}]}"#,
    );
    let err = twice.validate().unwrap_err().to_string();
    assert!(
        err.contains("shadow[1].name") && err.contains("own name"),
        "{err}"
    );

    let path = config(r#"{"shadow": [{"name": "../x", "policy": {"kind": "seed"}}]}"#);
    let err = path.validate().unwrap_err().to_string();
    assert!(err.contains("shadow[0].name"), "{err}");
}

#[test]
fn a_password_by_reference_is_checked_where_it_was_set() {
    let env = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    };
    let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:redis-AbC123";
    let ok = Config::from_env(&env(&[
        ("QUEUE_TYPE", "redis"),
        ("REDIS_PASSWORD_SECRET", arn),
    ]))
    .unwrap();
    assert_eq!(ok.queues[0].secret_refs(), vec![("password_secret", arn)]);
    // The reference is an ARN, not a secret: `config` may show it.
    assert!(serde_json::to_string(&ok).unwrap().contains(arn));

    let bad = Config::from_env(&env(&[
        ("QUEUE_TYPE", "redis"),
        ("REDIS_PASSWORD_SECRET", "prod/redis"),
    ]))
    .unwrap_err()
    .to_string();
    assert!(bad.contains("`REDIS_PASSWORD_SECRET`: prod/redis"), "{bad}");

    let both = Config::from_env(&env(&[
        ("QUEUE_TYPE", "rabbitmq"),
        ("RABBITMQ_PASSWORD", "pw"),
        ("RABBITMQ_PASSWORD_SECRET", arn),
    ]))
    .unwrap_err()
    .to_string();
    assert!(
        both.contains("queues[0].password_secret") && both.contains("both"),
        "{both}"
    );
    assert!(!both.contains("\"pw\""), "{both}");

    let toml_bad =
        config(r#"{"queues": [{"type": "kafka", "sasl_password_secret": "arn:aws:s3:::b/k"}]}"#);
    let err = toml_bad.validate().unwrap_err().to_string();
    assert!(err.contains("queues[0].sasl_password_secret"), "{err}");

    let mut filled = ok.clone();
    filled.queues[0].set_referenced_password("password_secret", Secret::new("s"));
    assert!(filled.queues[0].secret_refs().is_empty());
    filled.validate().unwrap();
}

#[test]
fn a_cloudwatch_source_is_checked_where_it_was_set_and_rates_alone_are_refused() {
    let ok = config(
        r#"{"queues": [{"type": "cloudwatch", "namespace": "Orders", "metric_name": "PendingJobs",
                        "dimensions": {"Service": "worker"}, "stat": "Maximum"}]}"#,
    );
    ok.validate().unwrap();
    assert!(!ok.queues[0].reports_arrival_rate());

    let bad = config(
        r#"{"queues": [{"type": "sqs", "queue_url": "https://sqs.us-east-1.amazonaws.com/1/q"},
                       {"type": "cloudwatch", "namespace": "A", "metric_name": "B", "period_secs": 45}]}"#,
    );
    let err = bad.validate().unwrap_err().to_string();
    assert!(
        err.contains("queues[1].period_secs") && err.contains("45"),
        "{err}"
    );

    let rates = config(
        r#"{"queues": [{"type": "cloudwatch", "namespace": "AWS/ApplicationELB",
                        "metric_name": "RequestCount", "stat": "Sum", "value": "rate"}]}"#,
    );
    assert!(rates.queues[0].reports_arrival_rate());
    let err = rates.validate().unwrap_err().to_string();
    assert!(err.contains("queues") && err.contains("rate"), "{err}");

    // Beside a backlog, a rate is accepted.
    let beside = config(
        r#"{"queues": [{"type": "cloudwatch", "namespace": "Orders", "metric_name": "PendingJobs"},
                       {"type": "cloudwatch", "namespace": "AWS/ApplicationELB",
                        "metric_name": "RequestCount", "stat": "Sum", "value": "rate"}]}"#,
    );
    beside.validate().unwrap();
}
