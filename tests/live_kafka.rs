//! The Kafka / MSK probe against a real Kafka-protocol broker (`KAFKA_BROKERS`, tansu in CI) and moto (`AWS_ENDPOINT_URL`); fails when none runs.
#![cfg(feature = "kafka")]

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stepscale_engine::config::queue::KafkaQueue;
use stepscale_engine::config::{QueueConfig, Secret};
use stepscale_engine::QueueSample;
use stepscale_live::kafka::aws_sdk_kafka;
use stepscale_live::kafka::aws_sdk_kafka::config::{Credentials, SharedCredentialsProvider};
use stepscale_live::kafka::rdkafka::admin::{
    AdminClient, AdminOptions, NewTopic, TopicReplication,
};
use stepscale_live::kafka::rdkafka::client::{ClientContext, DefaultClientContext};
use stepscale_live::kafka::rdkafka::config::ClientConfig;
use stepscale_live::kafka::rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance,
};
use stepscale_live::kafka::rdkafka::producer::{FutureProducer, FutureRecord};
use stepscale_live::kafka::rdkafka::{Offset, TopicPartitionList};
use stepscale_live::kafka::KafkaProbe;
use stepscale_live::{AnyProbe, Probe, ProbeContext, ProbeError};

/// Every call to the test broker gets this long.
const BROKER_TIMEOUT: Duration = Duration::from_secs(15);

fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

fn moto_url() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".into())
}

/// The AWS side pointed at moto with test credentials, whatever the environment says.
async fn moto() -> ProbeContext {
    let sdk = stepscale_live::aws::load(Some("us-east-1"))
        .await
        .to_builder()
        .endpoint_url(moto_url())
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test",
            "test",
            None,
            None,
            "stepscale-test",
        )))
        .build();
    ProbeContext { aws: Some(sdk) }
}

fn client_config() -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers())
        .set("socket.timeout.ms", "10000");
    config
}

/// Creates `name` with `partitions` partitions.
async fn create_topic(name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = client_config().create().expect("admin client");
    let results = admin
        .create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(BROKER_TIMEOUT)),
        )
        .await
        .expect("a Kafka broker must run at KAFKA_BROKERS (tests/services/kafka.sh)");
    for result in results {
        result.expect("create topic");
    }
}

async fn delete_topic(name: &str) {
    let admin: AdminClient<DefaultClientContext> = client_config().create().unwrap();
    let _ = admin
        .delete_topics(
            &[name],
            &AdminOptions::new().operation_timeout(Some(BROKER_TIMEOUT)),
        )
        .await;
}

/// Produces `counts[p]` records to partition `p`.
async fn produce(topic: &str, counts: &[i64]) {
    let producer: FutureProducer = client_config()
        .set("acks", "all")
        .set("linger.ms", "0")
        .create()
        .expect("producer");
    for (partition, &count) in counts.iter().enumerate() {
        for i in 0..count {
            let payload = format!("record {i}");
            producer
                .send(
                    FutureRecord::<str, str>::to(topic)
                        .partition(partition as i32)
                        .payload(&payload),
                    BROKER_TIMEOUT,
                )
                .await
                .map_err(|(e, _)| e)
                .expect("produce");
        }
    }
}

/// A consumer carrying `group`'s id that never subscribes: it only commits and fetches.
fn group_client(group: &str) -> BaseConsumer {
    client_config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("group client")
}

/// Commits `offsets` (partition, next offset) for `group` without joining it.
fn commit(topic: &str, group: &str, offsets: &[(i32, i64)]) {
    let mut tpl = TopicPartitionList::new();
    for &(partition, offset) in offsets {
        tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
            .unwrap();
    }
    group_client(group)
        .commit(&tpl, CommitMode::Sync)
        .expect("commit explicit offsets");
}

/// The group's committed offsets on `partitions` partitions of `topic` (`None`: none).
fn committed(topic: &str, group: &str, partitions: i32) -> Vec<Option<i64>> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_range(topic, 0, partitions - 1);
    let tpl = group_client(group)
        .committed_offsets(tpl, BROKER_TIMEOUT)
        .expect("committed offsets");
    (0..partitions)
        .map(|p| match tpl.find_partition(topic, p).unwrap().offset() {
            Offset::Offset(n) => Some(n),
            _ => None,
        })
        .collect()
}

/// The group's member count as the broker describes it (0 when it has none or is unknown).
fn members(group: &str) -> usize {
    let client: BaseConsumer = client_config().create().unwrap();
    let list = client
        .fetch_group_list(Some(group), BROKER_TIMEOUT)
        .expect("describe group");
    list.groups()
        .iter()
        .filter(|g| g.name() == group)
        .map(|g| g.members().len())
        .sum()
}

fn settings(topic: &str, group: &str) -> KafkaQueue {
    KafkaQueue {
        topic: Some(topic.into()),
        consumer_group: Some(group.into()),
        bootstrap_servers: Some(brokers()),
        ..KafkaQueue::default()
    }
}

async fn probe(config: KafkaQueue) -> KafkaProbe {
    KafkaProbe::new(config, moto().await.sdk("MSK").unwrap()).expect("valid settings")
}

async fn read(config: KafkaQueue) -> Result<QueueSample, ProbeError> {
    probe(config).await.read().await
}

#[tokio::test]
async fn lag_is_the_high_watermark_minus_the_commit_summed_over_partitions() {
    let (topic, group) = (
        support::unique("stepscale-lag"),
        support::unique("stepscale-lag-group"),
    );
    create_topic(&topic, 3).await;
    let produced = [5, 7, 4];
    produce(&topic, &produced).await;
    let commits = [(0, 2), (1, 7), (2, 1)];
    commit(&topic, &group, &commits);
    assert_eq!(
        committed(&topic, &group, 3),
        vec![Some(2), Some(7), Some(1)]
    );

    let expected: i64 = commits.iter().map(|&(p, k)| produced[p as usize] - k).sum();
    let sample = read(settings(&topic, &group)).await.expect("probe read");
    assert_eq!(
        sample.visible,
        u64::try_from(expected).unwrap(),
        "{sample:?}"
    );
    assert_eq!(
        (
            sample.in_flight,
            sample.max_useful_tasks,
            sample.arrival_rate_per_s
        ),
        (0, Some(3), None),
        "{sample:?}"
    );

    let mut lagging = settings(&topic, &group);
    lagging.useful_tasks = Some("lagging_partitions".into());
    let sample = read(lagging).await.unwrap();
    assert_eq!((sample.visible, sample.max_useful_tasks), (6, Some(2)));

    // Reading moved nothing and left no member behind.
    assert_eq!(
        committed(&topic, &group, 3),
        vec![Some(2), Some(7), Some(1)]
    );
    assert_eq!(members(&group), 0, "the probe joined the group");
    delete_topic(&topic).await;
}

#[tokio::test]
async fn partitions_without_a_commit_follow_the_uncommitted_rule() {
    let (topic, group) = (
        support::unique("stepscale-rule"),
        support::unique("stepscale-rule-group"),
    );
    create_topic(&topic, 3).await;
    produce(&topic, &[5, 7, 4]).await;
    // Only partition 0 is committed; 1 and 2 have never been.
    commit(&topic, &group, &[(0, 2)]);
    assert_eq!(committed(&topic, &group, 3), vec![Some(2), None, None]);

    // (rule, lag): the low watermark is 0 here, so `earliest` and `zero` agree. tansu has no
    // DeleteRecords to raise it; the unit tests in live/src/kafka/lag.rs cover that case.
    for (rule, expected) in [
        (None, 3 + 7 + 4),
        (Some("earliest"), 14),
        (Some("latest"), 3),
        (Some("zero"), 14),
    ] {
        let mut config = settings(&topic, &group);
        config.uncommitted = rule.map(str::to_string);
        let sample = read(config).await.expect("probe read");
        assert_eq!(sample.visible, expected, "{rule:?}: {sample:?}");
        assert_eq!(sample.max_useful_tasks, Some(3));
    }

    // A group that never committed (or does not exist) is all uncommitted.
    let unknown = support::unique("stepscale-unknown-group");
    for (rule, expected) in [("earliest", 16), ("latest", 0), ("zero", 16)] {
        let mut config = settings(&topic, &unknown);
        config.uncommitted = Some(rule.into());
        assert_eq!(read(config).await.unwrap().visible, expected, "{rule}");
    }
    delete_topic(&topic).await;
}

#[tokio::test]
async fn a_missing_topic_is_not_found_not_zero() {
    let topic = support::unique("stepscale-missing");
    let err = read(settings(&topic, "any-group")).await.unwrap_err();
    assert!(
        matches!(&err, ProbeError::NotFound { name, .. } if *name == topic),
        "{err:?}"
    );
    assert!(err.to_string().contains(&topic), "{err}");
    // Asking for it did not create it.
    let again = read(settings(&topic, "any-group")).await.unwrap_err();
    assert!(matches!(again, ProbeError::NotFound { .. }), "{again:?}");
}

#[tokio::test]
async fn an_unreachable_broker_fails_within_the_timeout_and_the_engine_holds() {
    let mut unreachable = settings("orders", "workers");
    unreachable.bootstrap_servers = Some("127.0.0.1:1".into());
    unreachable.timeout_secs = Some(2);
    let started = Instant::now();
    let err = read(unreachable.clone()).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, ProbeError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
    assert!(took < Duration::from_secs(6), "took {took:?}");

    let reading = AnyProbe::from_config(&QueueConfig::Kafka(unreachable), &moto().await)
        .unwrap()
        .reading()
        .await;
    support::assert_engine_holds_on(reading);
}

/// Creates an MSK cluster in moto; its ARN.
async fn msk_cluster(ctx: &ProbeContext) -> String {
    let client = aws_sdk_kafka::Client::new(ctx.aws.as_ref().unwrap());
    let info = aws_sdk_kafka::types::BrokerNodeGroupInfo::builder()
        .instance_type("kafka.m5.large")
        .client_subnets("subnet-00000001")
        .client_subnets("subnet-00000002")
        .build();
    let out = client
        .create_cluster()
        .cluster_name(support::unique("stepscale-msk"))
        .kafka_version("3.6.0")
        .number_of_broker_nodes(2)
        .broker_node_group_info(info)
        .send()
        .await
        .expect("moto must run at AWS_ENDPOINT_URL (tests/services/moto.sh)");
    out.cluster_arn().expect("cluster ARN").to_string()
}

#[tokio::test]
async fn msk_bootstrap_failure_falls_back_to_the_configured_servers() {
    let ctx = moto().await;
    let arn = msk_cluster(&ctx).await;
    let (topic, group) = (
        support::unique("stepscale-msk"),
        support::unique("stepscale-msk-group"),
    );
    create_topic(&topic, 3).await;
    produce(&topic, &[2, 3, 4]).await;
    commit(&topic, &group, &[(0, 1), (1, 1), (2, 1)]);

    // moto does not implement GetBootstrapBrokers (HTTP 500): the configured servers serve.
    let mut config = settings(&topic, &group);
    config.cluster_arn = Some(arn.clone());
    let probe = KafkaProbe::new(config.clone(), ctx.sdk("MSK").unwrap()).unwrap();
    for _ in 0..2 {
        let sample = probe.read().await.expect("fallback read");
        assert_eq!((sample.visible, sample.max_useful_tasks), (6, Some(3)));
    }
    let any = AnyProbe::from_config(&QueueConfig::Kafka(config.clone()), &ctx).unwrap();
    assert_eq!(any.reading().await.unwrap().visible, 6);

    // Without a fallback, the failed call is a failed read, never zero.
    config.bootstrap_servers = None;
    let err = KafkaProbe::new(config, ctx.sdk("MSK").unwrap())
        .unwrap()
        .read()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("GetBootstrapBrokers"), "{err}");
    delete_topic(&topic).await;
}

/// Counts the rebalances a real group member goes through.
struct Rebalances(Arc<AtomicUsize>);

impl ClientContext for Rebalances {}

impl ConsumerContext for Rebalances {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if matches!(rebalance, Rebalance::Assign(_) | Rebalance::Revoke(_)) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[tokio::test]
async fn reads_never_join_the_group_nor_rebalance_its_members() {
    let (topic, group) = (
        support::unique("stepscale-nojoin"),
        support::unique("stepscale-nojoin-group"),
    );
    create_topic(&topic, 3).await;
    produce(&topic, &[3, 3, 3]).await;
    commit(&topic, &group, &[(0, 1), (1, 2), (2, 3)]);

    // A real worker: subscribed, polling, in the group.
    let rebalances = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let worker: BaseConsumer<Rebalances> = client_config()
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "latest")
        .create_with_context(Rebalances(rebalances.clone()))
        .unwrap();
    worker.subscribe(&[&topic]).unwrap();
    let worker_thread = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let _ = worker.poll(Duration::from_millis(100));
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while rebalances.load(Ordering::SeqCst) == 0 || members(&group) != 1 {
        assert!(Instant::now() < deadline, "the worker never joined");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let settled = rebalances.load(Ordering::SeqCst);

    let probe = probe(settings(&topic, &group)).await;
    for _ in 0..3 {
        assert_eq!(probe.read().await.unwrap().visible, 2 + 1);
    }
    // Long enough for a join the reads would have caused to reach the worker.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(members(&group), 1, "the probe joined the group");
    assert_eq!(
        rebalances.load(Ordering::SeqCst),
        settled,
        "the probe's reads rebalanced the worker"
    );
    stop.store(true, Ordering::SeqCst);
    worker_thread.join().unwrap();
    delete_topic(&topic).await;
}

#[tokio::test]
async fn sasl_passwords_appear_in_no_log_line_and_no_error() {
    let logs = support::captured_logs();
    let password = format!("pw-{}-secret", std::process::id());
    let (topic, group) = (
        support::unique("stepscale-sasl"),
        support::unique("stepscale-sasl-group"),
    );
    let mut errors = Vec::new();
    // The test broker speaks neither SASL nor TLS: every one of these reads fails, after
    // librdkafka has had the password in hand.
    for (servers, protocol, mechanism) in [
        (brokers(), "sasl_plaintext", "PLAIN"),
        (brokers(), "sasl_plaintext", "SCRAM-SHA-512"),
        (brokers(), "sasl_ssl", "SCRAM-SHA-512"),
        ("127.0.0.1:1".to_string(), "sasl_plaintext", "PLAIN"),
    ] {
        let mut config = settings(&topic, &group);
        config.bootstrap_servers = Some(servers.clone());
        config.security_protocol = Some(protocol.into());
        config.sasl_mechanism = Some(mechanism.into());
        config.sasl_username = Some("stepscale".into());
        config.sasl_password = Some(Secret::new(password.clone()));
        config.timeout_secs = Some(3);
        let err = read(config).await.unwrap_err();
        // PLAIN is built into every librdkafka: the broker refuses the handshake. Nothing
        // listening is a connection failure, whatever the protocol's name says.
        if mechanism == "PLAIN" && servers == brokers() {
            assert!(matches!(err, ProbeError::Auth { .. }), "{err:?}");
        }
        if servers.ends_with(":1") {
            assert!(matches!(err, ProbeError::Connect { .. }), "{err:?}");
        }
        errors.push(format!("{err} {err:?}"));
    }
    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("librdkafka"),
        "the probe's logs were not captured"
    );
    for error in &errors {
        assert!(!error.contains(&password), "{error}");
    }
    assert!(!text.contains(&password), "the password is in a log line");
}
