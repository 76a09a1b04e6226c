//! `stepscale calibrate --since` against moto: the CloudWatch history of an SQS queue, an
//! ActiveMQ broker's queue, a Kinesis stream and an MSK topic (seeded, as moto has no service
//! metrics) and their ECS service give a scenario with the service time the history implies
//! (stated for Kinesis and MSK), and `tune` runs on it unchanged.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn stepscale(args: &[&str]) -> Output {
    stepscale_with(args, &[])
}

fn stepscale_with(args: &[&str], envs: &[(&str, &str)]) -> Output {
    support::aws::at_moto(
        Command::new(env!("CARGO_BIN_EXE_stepscale"))
            .args(args)
            .envs(envs.iter().copied())
            .current_dir(root()),
    )
    .output()
    .expect("the stepscale binary runs")
}

/// A live policy file `file` for the service: one `[[queues]]` table `queue` and the `[policy]`
/// table `policy` (TOML bodies).
fn live_policy(dir: &Path, file: &str, ids: (&str, &str), queue: &str, policy: &str) -> PathBuf {
    let (cluster, service) = ids;
    let path = dir.join(file);
    std::fs::write(
        &path,
        format!(
            "[service]\ncluster = \"{cluster}\"\nname = \"{service}\"\n\n[[queues]]\n{queue}\n\n[guards]\nmin_tasks = 1\nmax_tasks = 40\n\n[policy]\n{policy}\n"
        ),
    )
    .unwrap();
    path
}

/// An SQS queue with CloudWatch metrics under an slo policy of concurrency 2.
fn policy(dir: &Path, cluster: &str, service: &str, queue: &str) -> PathBuf {
    live_policy(
        dir,
        "live.toml",
        (cluster, service),
        &format!("type = \"sqs\"\nqueue_name = \"{queue}\"\ncloudwatch_metrics = true"),
        "kind = \"slo\"\nwait_secs = 30.0\nconcurrency = 2",
    )
}

#[tokio::test]
async fn cloudwatch_history_gives_a_scenario_that_tune_runs_on() {
    let sdk = support::aws::sdk().await;
    let (cluster, service) = support::aws::ecs_service(&sdk, 3).await;
    let queue = support::unique("history");
    // 40 minutes: 600 messages sent and 600 deleted a minute, 25 in flight on average, so
    // 25 × 60 s of work per 600 messages: 2.5 s each. Mid-minute, one datapoint a minute.
    for k in 1..=40u64 {
        let ago = 60 * k + 30;
        for (metric, value) in [
            ("NumberOfMessagesSent", 600.0),
            ("NumberOfMessagesDeleted", 600.0),
            ("ApproximateNumberOfMessagesNotVisible", 25.0),
        ] {
            support::aws::put_metric(
                &sdk,
                "AWS/SQS",
                metric,
                &[("QueueName", &queue)],
                value,
                ago,
            )
            .await;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let live = policy(dir.path(), &cluster, &service, &queue);
    let out = dir.path().join("calibrated");
    let o = stepscale(&[
        "calibrate",
        "--since",
        "60m",
        "--policy",
        live.to_str().unwrap(),
        "--startup-secs",
        "30",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&o.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("calibration.json")).unwrap())
            .unwrap();
    let service_s = json["fitted"][0]["estimate"].as_f64().unwrap();
    assert!((service_s - 2.5).abs() < 0.05, "{service_s}\n{stdout}");
    let scenario = std::fs::read_to_string(out.join("scenario.toml")).unwrap();
    assert!(
        scenario.contains("startup = { kind = \"constant\", secs = 30 }")
            && scenario.contains("initial_tasks = 3")
            && scenario.contains("concurrency = 2"),
        "{scenario}"
    );
    let trace = std::fs::read_to_string(out.join("trace.csv")).unwrap();
    assert!(trace.lines().count() >= 40, "{trace}");
    // tune runs on it as it is.
    let tuned = stepscale(&[
        "tune",
        "--scenario",
        out.join("scenario.toml").to_str().unwrap(),
        "--space",
        "tests/spaces/target-small.toml",
        "--budget",
        "5",
        "--out",
        dir.path().join("tune").to_str().unwrap(),
    ]);
    assert!(
        tuned.status.success(),
        "{}",
        String::from_utf8_lossy(&tuned.stderr)
    );
    // Without a stated start-up, and no task ECS saw start, it says what is missing.
    let o = stepscale(&[
        "calibrate",
        "--since",
        "60m",
        "--policy",
        live.to_str().unwrap(),
        "--out",
        dir.path().join("none").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("plant.startup"),
        "{err}"
    );
    assert!(!dir.path().join("none").exists());
    // A queue with no history is refused, naming the service-time data it lacks.
    let empty = policy(dir.path(), &cluster, &service, &support::unique("silent"));
    let o = stepscale(&[
        "calibrate",
        "--since",
        "60m",
        "--policy",
        empty.to_str().unwrap(),
        "--startup-secs",
        "30",
        "--out",
        dir.path().join("silent").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("plant.service_time"),
        "{err}"
    );
}

/// `queue` (a `[[queues]]` body) under a target policy.
fn policy_with(dir: &Path, cluster: &str, service: &str, queue: &str) -> PathBuf {
    live_policy(
        dir,
        "live-other.toml",
        (cluster, service),
        queue,
        "kind = \"target\"\ntarget_backlog_per_task = 5.0",
    )
}

fn calibrate_since(live: &Path, out: &Path, extra: &[&str]) -> Output {
    calibrate_since_with(live, out, extra, &[])
}

fn calibrate_since_with(live: &Path, out: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut args = vec![
        "calibrate",
        "--since",
        "60m",
        "--policy",
        live.to_str().unwrap(),
        "--startup-secs",
        "30",
        "--concurrency",
        "1",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    stepscale_with(&args, envs)
}

/// A relay to moto's MSK API that gives `DescribeCluster`'s `creationTime` the time zone moto
/// leaves off (moto writes `2026-12-07T14:13:30.281220`, which the SDK refuses as a date-time).
fn msk_relay() -> String {
    support::relay::start_rewriting(
        |_| support::relay::Verdict::Forward,
        |_, body| {
            let mut reply: serde_json::Value = serde_json::from_slice(body).ok()?;
            let created = reply["clusterInfo"]["creationTime"].as_str()?;
            if created.ends_with('Z') {
                return None;
            }
            reply["clusterInfo"]["creationTime"] = format!("{created}Z").into();
            serde_json::to_vec(&reply).ok()
        },
    )
}

fn fitted_or_stated(out: &Path, parameter: &str) -> serde_json::Value {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("calibration.json")).unwrap())
            .unwrap();
    json["fitted"]
        .as_array()
        .into_iter()
        .chain(json["stated"].as_array())
        .flatten()
        .find(|p| {
            p["parameter"]
                .as_str()
                .is_some_and(|n| n.starts_with(parameter))
        })
        .cloned()
        .unwrap_or_else(|| panic!("{parameter} in {json}"))
}

#[tokio::test]
async fn an_activemq_brokers_history_gives_the_service_time_it_implies() {
    let sdk = support::aws::sdk().await;
    let (cluster, service) = support::aws::ecs_service(&sdk, 2).await;
    let (id, name) = support::aws::mq_broker(&sdk, aws_sdk_mq::types::EngineType::Activemq).await;
    let queue = support::unique("orders");
    // 40 minutes of 300 enqueued and 300 dequeued a minute with 10 in flight: 10 × 60 s of
    // work per 300 messages, 2 s each. Amazon MQ publishes under the instance's name.
    let instance = format!("{name}-1");
    for k in 1..=40u64 {
        for (metric, value) in [
            ("EnqueueCount", 300.0),
            ("DequeueCount", 300.0),
            ("InFlightCount", 10.0),
        ] {
            support::aws::put_metric(
                &sdk,
                "AWS/AmazonMQ",
                metric,
                &[("Broker", &instance), ("Queue", &queue)],
                value,
                60 * k + 30,
            )
            .await;
        }
    }
    // The same metrics on another queue of the broker must not be counted.
    support::aws::put_metric(
        &sdk,
        "AWS/AmazonMQ",
        "EnqueueCount",
        &[("Broker", &instance), ("Queue", "other")],
        99_999.0,
        90,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mq_policy = |broker: &str| {
        policy_with(
            dir.path(),
            &cluster,
            &service,
            &format!("type = \"amazon_mq\"\nbroker_id = \"{broker}\"\nqueue_name = \"{queue}\"\nusername = \"stepscale\""),
        )
    };
    let live = mq_policy(&id);
    let out = dir.path().join("calibrated");
    let o = calibrate_since(&live, &out, &[]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&o.stderr)
    );
    let service_s = fitted_or_stated(&out, "plant.service_time")["estimate"]
        .as_f64()
        .unwrap();
    assert!((service_s - 2.0).abs() < 0.04, "{service_s}\n{stdout}");
    let trace = std::fs::read_to_string(out.join("trace.csv")).unwrap();
    assert!(
        trace.lines().count() >= 40 && !trace.contains("99999"),
        "{trace}"
    );
    let cal = std::fs::read_to_string(out.join("calibration.json")).unwrap();
    assert!(
        cal.contains("EnqueueCount") && cal.contains(&instance),
        "{cal}"
    );

    // A RabbitMQ broker's queue metrics are not read yet: refused by name, nothing written.
    let (rabbit, _) = support::aws::mq_broker(&sdk, aws_sdk_mq::types::EngineType::Rabbitmq).await;
    let live = mq_policy(&rabbit);
    let refused = dir.path().join("rabbit");
    let o = calibrate_since(&live, &refused, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("RabbitMQ") && err.contains("--record"),
        "{err}"
    );
    assert!(!refused.exists());
}

/// For a source that gives arrivals only (Kinesis, MSK): refused without `--service-secs`,
/// naming it, with nothing written; with it, a trace holding `total` messages and a
/// calibration.json naming every one of `names`.
fn arrivals_only(
    live: &Path,
    dir: &Path,
    envs: &[(&str, &str)],
    total: f64,
    names: &[&str],
) -> String {
    let refused = dir.join("refused");
    let o = calibrate_since_with(live, &refused, &[], envs);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("--service-secs"),
        "{err}"
    );
    assert!(!refused.exists());
    let out = dir.join("calibrated");
    let o = calibrate_since_with(live, &out, &["--service-secs", "0.2"], envs);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&o.stderr)
    );
    let trace = std::fs::read_to_string(out.join("trace.csv")).unwrap();
    let sum: f64 = trace
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("time"))
        .filter_map(|l| l.split(',').nth(1)?.parse::<f64>().ok())
        .sum();
    assert!((sum - total).abs() < 1e-6, "{sum}\n{trace}");
    let cal = std::fs::read_to_string(out.join("calibration.json")).unwrap();
    for name in names {
        assert!(cal.contains(name), "{name}: {cal}");
    }
    stdout.into_owned()
}

#[tokio::test]
async fn a_kinesis_streams_history_gives_arrivals_and_needs_the_service_time_stated() {
    let sdk = support::aws::sdk().await;
    let (cluster, service) = support::aws::ecs_service(&sdk, 2).await;
    let stream = support::unique("clicks");
    for k in 1..=40u64 {
        support::aws::put_metric(
            &sdk,
            "AWS/Kinesis",
            "IncomingRecords",
            &[("StreamName", &stream)],
            if k % 2 == 0 { 1200.0 } else { 600.0 },
            60 * k + 30,
        )
        .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let live = policy_with(
        dir.path(),
        &cluster,
        &service,
        &format!("type = \"kinesis\"\nstream_name = \"{stream}\""),
    );
    // No in-flight count: the service time must be stated. Every minute's records are in the
    // trace: 20 minutes of 600 and 20 of 1,200.
    arrivals_only(
        &live,
        dir.path(),
        &[],
        36_000.0,
        &["IncomingRecords", &stream],
    );
}

/// An MSK cluster of three brokers in moto at enhanced monitoring `level`: its ARN and name.
async fn msk(sdk: &aws_config::SdkConfig, level: &str) -> (String, String) {
    use stepscale_live::kafka::aws_sdk_kafka;
    use stepscale_live::kafka::aws_sdk_kafka::types::{BrokerNodeGroupInfo, EnhancedMonitoring};
    let name = support::unique("history-msk");
    let created = aws_sdk_kafka::Client::new(sdk)
        .create_cluster()
        .cluster_name(&name)
        .kafka_version("3.6.0")
        .number_of_broker_nodes(3)
        .enhanced_monitoring(EnhancedMonitoring::from(level))
        .broker_node_group_info(
            BrokerNodeGroupInfo::builder()
                .instance_type("kafka.m5.large")
                .set_client_subnets(Some(vec![
                    "subnet-1".into(),
                    "subnet-2".into(),
                    "subnet-3".into(),
                ]))
                .build(),
        )
        .send()
        .await
        .expect("moto must run at AWS_ENDPOINT_URL (tests/services/moto.sh)");
    (created.cluster_arn().unwrap().to_string(), name)
}

#[tokio::test]
async fn an_msk_topics_history_adds_its_brokers_and_needs_the_service_time_stated() {
    let sdk = support::aws::sdk().await;
    let (cluster, service) = support::aws::ecs_service(&sdk, 2).await;
    let (arn, name) = msk(&sdk, "PER_TOPIC_PER_BROKER").await;
    let topic = support::unique("orders");
    // 5, 3 and 2 messages a second on brokers 1 to 3: 600 a minute, for 40 minutes, but
    // broker 3 misses one minute (120 messages).
    for k in 1..=40u64 {
        for (broker, rate) in [("1", 5.0), ("2", 3.0), ("3", 2.0)] {
            if broker == "3" && k == 7 {
                continue;
            }
            support::aws::put_metric(
                &sdk,
                "AWS/Kafka",
                "MessagesInPerSec",
                &[
                    ("Cluster Name", &name),
                    ("Broker ID", broker),
                    ("Topic", &topic),
                ],
                rate,
                60 * k + 30,
            )
            .await;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let queue = format!(
        "type = \"kafka\"\ncluster_arn = \"{arn}\"\ntopic = \"{topic}\"\nconsumer_group = \"workers\""
    );
    let live = policy_with(dir.path(), &cluster, &service, &queue);
    let relay = msk_relay();
    let envs = [("AWS_ENDPOINT_URL_KAFKA", relay.as_str())];
    let stdout = arrivals_only(
        &live,
        dir.path(),
        &envs,
        23_880.0,
        &["MessagesInPerSec", &name],
    );
    // The short minute is named, not passed over.
    assert!(
        stdout.contains("1 minutes lack a MessagesInPerSec datapoint from some of the 3 brokers"),
        "{stdout}"
    );

    // A cluster without per-topic metrics is refused by name, nothing written.
    let (arn, _) = msk(&sdk, "PER_BROKER").await;
    let live = policy_with(
        dir.path(),
        &cluster,
        &service,
        &format!("type = \"kafka\"\ncluster_arn = \"{arn}\"\ntopic = \"{topic}\"\nconsumer_group = \"workers\""),
    );
    let refused = dir.path().join("per-broker");
    let o = calibrate_since_with(&live, &refused, &["--service-secs", "0.2"], &envs);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("PER_TOPIC_PER_BROKER") && err.contains("PER_BROKER"),
        "{err}"
    );
    assert!(!refused.exists());
}
