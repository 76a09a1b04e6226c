//! The Amazon MQ probe against moto (`AWS_ENDPOINT_URL`), ActiveMQ with Jolokia (`JOLOKIA_URL`,
//! `ACTIVEMQ_STOMP_ADDR`) and RabbitMQ (`AMQP_URL`, `RABBITMQ_MANAGEMENT_URL`); fails when one is down.
#![cfg(feature = "amazon-mq")]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_mq::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_mq::types::EngineType;
use stepscale_engine::config::queue::AmazonMqQueue;
use stepscale_engine::config::{QueueConfig, Secret};
use stepscale_live::amazon_mq::AmazonMqProbe;
use stepscale_live::rabbitmq::lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use stepscale_live::rabbitmq::lapin::types::{AMQPValue, FieldTable};
use stepscale_live::rabbitmq::lapin::uri::AMQPUri;
use stepscale_live::rabbitmq::lapin::{BasicProperties, Connection, ConnectionProperties};
use stepscale_live::{AnyProbe, Probe, ProbeContext, ProbeError};

/// Holds `K` messages of a queue unacknowledged over STOMP (client-individual acks, prefetch
/// K), prints `held K`, and lets them go when its stdin closes. Python stdlib only.
const HOLD_SCRIPT: &str = r#"
import socket, sys
host, port, queue, k = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def frame(cmd, headers):
    return (cmd + "\n" + "".join(f"{a}:{b}\n" for a, b in headers.items()) + "\n").encode() + b"\x00"
sock = socket.create_connection((host, port), timeout=10)
buf = b""
def command():
    global buf
    while b"\x00" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    raw, _, buf = buf.partition(b"\x00")
    return raw.lstrip(b"\r\n").split(b"\n", 1)[0].decode()
sock.sendall(frame("CONNECT", {"accept-version": "1.2", "host": "localhost", "heart-beat": "0,0"}))
assert command() == "CONNECTED"
sock.sendall(frame("SUBSCRIBE", {"id": "0", "destination": "/queue/" + queue,
                                 "ack": "client-individual", "activemq.prefetchSize": str(k)}))
for _ in range(k):
    received = command()
    assert received == "MESSAGE", received
print(f"held {k}", flush=True)
sys.stdin.read()
sock.sendall(frame("DISCONNECT", {}))
"#;

/// Management statistics (RabbitMQ) refresh every 5 s by default; allow several rounds.
const STATS_DEADLINE: Duration = Duration::from_secs(30);

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

fn jolokia_url() -> String {
    env_or("JOLOKIA_URL", "http://127.0.0.1:8161/api/jolokia")
}

fn stomp_addr() -> (String, u16) {
    let addr = env_or("ACTIVEMQ_STOMP_ADDR", "127.0.0.1:61613");
    let (host, port) = addr
        .rsplit_once(':')
        .expect("ACTIVEMQ_STOMP_ADDR is host:port");
    (host.to_string(), port.parse().expect("a STOMP port"))
}

fn amqp_uri() -> AMQPUri {
    env_or("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")
        .parse()
        .expect("AMQP_URL is an AMQP URI")
}

/// The console password every ActiveMQ test sends (the local Jolokia checks none): it must
/// show up in no error and no log line.
fn password() -> String {
    format!("amq-pw-{}-never-shown", std::process::id())
}

/// A name no other test (or run) uses.
fn unique(tag: &str) -> String {
    support::unique(&format!("stepscale-{tag}"))
}

/// The SDK pointed at moto (`AWS_ENDPOINT_URL`, default 127.0.0.1:5000), with test credentials and the timeouts and retries of
/// `stepscale_live::aws::load`. Nothing is written to the process environment.
async fn sdk() -> SdkConfig {
    let region = env_or("AWS_REGION", "us-east-1");
    stepscale_live::aws::load(Some(&region))
        .await
        .to_builder()
        .endpoint_url(env_or("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "moto",
        )))
        .build()
}

/// Probe settings for an ActiveMQ broker read through `jolokia`.
fn activemq(broker_id: &str, queue: &str, jolokia: &str) -> AmazonMqQueue {
    AmazonMqQueue {
        broker_id: Some(broker_id.into()),
        queue_name: Some(queue.into()),
        username: Some("stepscale".into()),
        password: Some(Secret::new(password())),
        jolokia_url: Some(jolokia.into()),
        timeout_secs: 3,
        ..AmazonMqQueue::default()
    }
}

/// Sends `count` messages to `queue` with tests/services/stomp_send.py.
fn send(queue: &str, count: usize) {
    let (host, port) = stomp_addr();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/services/stomp_send.py");
    let status = Command::new("python3")
        .args([script, &host, &port.to_string(), queue, &count.to_string()])
        .stderr(Stdio::null())
        .status()
        .expect("python3 runs");
    assert!(
        status.success(),
        "stomp_send.py failed: ActiveMQ must run (tests/services/activemq.sh)"
    );
}

/// A STOMP consumer holding messages unacknowledged until dropped.
struct Holder(Child);

impl Holder {
    fn hold(queue: &str, count: usize) -> Self {
        let (host, port) = stomp_addr();
        let mut child = Command::new("python3")
            .args(["-c", HOLD_SCRIPT, &host, &port.to_string(), queue])
            .arg(count.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        // The script's socket timeout (10 s) bounds this read: it prints or exits.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            format!("held {count}"),
            "the STOMP holder failed"
        );
        Self(child)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        // Closing stdin lets the script disconnect; the broker then redelivers.
        drop(self.0.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A GET to the local Jolokia; the body. Used for clean-up and to see that it runs.
fn jolokia_get(path: &str) -> String {
    let base = jolokia_url();
    let rest = base
        .strip_prefix("http://")
        .expect("JOLOKIA_URL is http:// here");
    let (host, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream =
        TcpStream::connect(host).expect("ActiveMQ's Jolokia must run (tests/services/activemq.sh)");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request =
        format!("GET /{prefix}/{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn remove_queue(queue: &str) {
    // Jolokia's path escapes, then the URL's.
    let argument = queue
        .replace('!', "!!")
        .replace('/', "!/")
        .replace(' ', "%20");
    let body = jolokia_get(&format!(
        "exec/org.apache.activemq:type=Broker,brokerName=localhost/removeQueue(java.lang.String)/{argument}"
    ));
    assert!(body.contains("\"status\":200"), "removeQueue: {body}");
}

/// Puts `value` for `metric` of `queue` on `broker_dimension` into moto's CloudWatch, now.
async fn put_metric(
    sdk: &SdkConfig,
    metric: &str,
    broker_dimension: &str,
    queue: &str,
    value: f64,
) {
    let dims = [("Broker", broker_dimension), ("Queue", queue)];
    support::aws::put_metric(sdk, "AWS/AmazonMQ", metric, &dims, value, 0).await;
}

fn log_text() -> String {
    String::from_utf8_lossy(&support::captured_logs().lock().unwrap()).into_owned()
}

/// Asserts that neither `error` (text and debug form) nor any log line holds the password.
fn assert_no_password(error: &ProbeError) {
    let secret = password();
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(
            !text.contains(&secret),
            "the password is in an error: {text}"
        );
    }
    assert!(
        !log_text().contains(&secret),
        "the password is in a log line"
    );
}

#[tokio::test]
async fn activemq_visible_excludes_messages_held_by_consumers() {
    support::captured_logs();
    let sdk = sdk().await;
    let (broker_id, _) = support::aws::mq_broker(&sdk, EngineType::Activemq).await;
    let queue = unique("held");
    send(&queue, 10);
    let holder = Holder::hold(&queue, 3);

    // Without a broker name the MBean pattern finds the broker; with one, the exact name.
    let by_pattern =
        AmazonMqProbe::new(activemq(&broker_id, &queue, &jolokia_url()), &sdk).unwrap();
    let mut named = activemq(&broker_id, &queue, &jolokia_url());
    named.jolokia_broker_name = Some("localhost".into());
    let by_name = AmazonMqProbe::new(named, &sdk).unwrap();
    for probe in [&by_pattern, &by_name] {
        let sample = probe.read().await.expect("probe read");
        // QueueSize is 10 (it counts the 3 dispatched), InFlightCount 3.
        assert_eq!((sample.visible, sample.in_flight), (7, 3), "{sample:?}");
        assert_eq!(sample.delayed, 0);
    }
    let ctx = ProbeContext {
        aws: Some(sdk.clone()),
    };
    let config = QueueConfig::AmazonMq(activemq(&broker_id, &queue, &jolokia_url()));
    let reading = AnyProbe::from_config(&config, &ctx)
        .unwrap()
        .reading()
        .await;
    assert_eq!(
        reading.map(|s| (s.visible, s.in_flight)),
        Ok((7, 3)),
        "through AnyProbe"
    );

    // The consumer goes away without acknowledging: all 10 are visible again.
    drop(holder);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut sample = by_pattern.read().await.unwrap();
    while (sample.visible, sample.in_flight) != (10, 0) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        sample = by_pattern.read().await.unwrap();
    }
    assert_eq!((sample.visible, sample.in_flight), (10, 0), "{sample:?}");
    assert!(
        log_text().contains("consumers="),
        "the consumer count is logged"
    );
    remove_queue(&queue);
}

#[tokio::test]
async fn queue_names_with_jmx_and_path_characters_are_read() {
    let sdk = sdk().await;
    let (broker_id, _) = support::aws::mq_broker(&sdk, EngineType::Activemq).await;
    // `*`, `=`, `?` are encoded by ActiveMQ in the MBean name; `/` and `!` by Jolokia's path
    // rule. (`,` would make a composite destination, so it is left out.)
    let queue = format!("{}/a!b=c*d", unique("odd"));
    send(&queue, 4);
    let probe = AmazonMqProbe::new(activemq(&broker_id, &queue, &jolokia_url()), &sdk).unwrap();
    let sample = probe.read().await.expect("probe read");
    assert_eq!((sample.visible, sample.in_flight), (4, 0), "{sample:?}");
    // The `*` must not act as a pattern: a sibling name is a different queue.
    let sibling = format!("{}/a!b=cXd", queue.split('/').next().unwrap());
    let err = AmazonMqProbe::new(activemq(&broker_id, &sibling, &jolokia_url()), &sdk)
        .unwrap()
        .read()
        .await
        .unwrap_err();
    assert!(matches!(err, ProbeError::NotFound { .. }), "{err:?}");
    remove_queue(&queue);
}

#[tokio::test]
async fn a_missing_queue_is_not_found_not_zero() {
    support::captured_logs();
    let sdk = sdk().await;
    let (broker_id, name) = support::aws::mq_broker(&sdk, EngineType::Activemq).await;
    let queue = unique("missing");
    // Even with CloudWatch figures on hand, a queue Jolokia does not know is not read there.
    put_metric(&sdk, "QueueSize", &format!("{name}-1"), &queue, 5.0).await;
    for broker_name in [None, Some("localhost")] {
        let mut config = activemq(&broker_id, &queue, &jolokia_url());
        config.jolokia_broker_name = broker_name.map(str::to_string);
        let err = AmazonMqProbe::new(config, &sdk)
            .unwrap()
            .read()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ProbeError::NotFound { what: "queue", name } if name.contains(&queue)),
            "{err:?}"
        );
        assert!(err.to_string().contains(&queue), "{err}");
        assert_no_password(&err);
    }
}

#[tokio::test]
async fn a_missing_broker_is_not_found() {
    let sdk = sdk().await;
    let missing = unique("no-such-broker");
    let err = AmazonMqProbe::new(activemq(&missing, "orders", &jolokia_url()), &sdk)
        .unwrap()
        .read()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProbeError::NotFound { what: "broker", name } if *name == missing),
        "{err:?}"
    );
}

#[tokio::test]
async fn cloudwatch_stands_in_when_jolokia_is_down() {
    support::captured_logs();
    let sdk = sdk().await;
    let (broker_id, name) = support::aws::mq_broker(&sdk, EngineType::Activemq).await;
    let down = "http://127.0.0.1:1/api/jolokia";

    // QueueSize counts in-flight messages as Jolokia's does: the same formula applies.
    let queue = unique("fallback");
    put_metric(&sdk, "QueueSize", &format!("{name}-1"), &queue, 42.0).await;
    put_metric(&sdk, "InFlightCount", &format!("{name}-1"), &queue, 5.0).await;
    let probe = AmazonMqProbe::new(activemq(&broker_id, &queue, down), &sdk).unwrap();
    let sample = probe.read().await.expect("the CloudWatch fallback reads");
    assert_eq!((sample.visible, sample.in_flight), (37, 5), "{sample:?}");

    // Without InFlightCount, QueueSize is all visible.
    let size_only = unique("fallback-size");
    put_metric(&sdk, "QueueSize", &format!("{name}-1"), &size_only, 13.0).await;
    let probe = AmazonMqProbe::new(activemq(&broker_id, &size_only, down), &sdk).unwrap();
    let sample = probe.read().await.expect("the CloudWatch fallback reads");
    assert_eq!((sample.visible, sample.in_flight), (13, 0), "{sample:?}");

    let logs = log_text();
    assert!(
        logs.lines().any(|l| l.contains("DEBUG")
            && l.contains("fallback=true")
            && l.contains("source=\"cloudwatch\"")
            && l.contains(&size_only)),
        "the fallback value is marked in a debug log"
    );
    assert!(!logs.contains(&password()), "the password is in a log line");

    // With the fallback off, Jolokia's failure is the read's.
    let mut off = activemq(&broker_id, &queue, down);
    off.cloudwatch_fallback = false;
    let err = AmazonMqProbe::new(off, &sdk)
        .unwrap()
        .read()
        .await
        .unwrap_err();
    assert!(matches!(err, ProbeError::Connect { .. }), "{err:?}");
    assert_no_password(&err);
}

#[tokio::test]
async fn jolokia_and_cloudwatch_down_fails_and_the_engine_holds() {
    support::captured_logs();
    let sdk = sdk().await;
    let (broker_id, _) = support::aws::mq_broker(&sdk, EngineType::Activemq).await;
    // No metric data for this queue: CloudWatch has nothing to give.
    let config = activemq(
        &broker_id,
        &unique("dark"),
        "http://127.0.0.1:1/api/jolokia",
    );
    let err = AmazonMqProbe::new(config.clone(), &sdk)
        .unwrap()
        .read()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("Jolokia") && text.contains("CloudWatch"),
        "{text}"
    );
    assert_no_password(&err);

    let ctx = ProbeContext { aws: Some(sdk) };
    let reading = AnyProbe::from_config(&QueueConfig::AmazonMq(config), &ctx)
        .unwrap()
        .reading()
        .await;
    support::assert_engine_holds_on(reading);
}

/// Settings that send a RabbitMQ broker's read to the local RabbitMQ (`AMQP_URL`,
/// `RABBITMQ_MANAGEMENT_URL`): moto's endpoints are fake host names.
fn rabbitmq(broker_id: &str, queue: &str) -> AmazonMqQueue {
    let uri = amqp_uri();
    AmazonMqQueue {
        broker_id: Some(broker_id.into()),
        queue_name: Some(queue.into()),
        username: Some(uri.authority.userinfo.username),
        password: Some(Secret::new(uri.authority.userinfo.password)),
        rabbitmq_host: Some(uri.authority.host),
        rabbitmq_port: Some(uri.authority.port),
        vhost: uri.vhost,
        tls: false,
        management_url: Some(env_or("RABBITMQ_MANAGEMENT_URL", "http://127.0.0.1:15672")),
        ..AmazonMqQueue::default()
    }
}

#[tokio::test]
async fn a_rabbitmq_broker_is_handed_to_the_rabbitmq_probe() {
    let sdk = sdk().await;
    let (broker_id, _) = support::aws::mq_broker(&sdk, EngineType::Rabbitmq).await;
    let queue = unique("rabbit");
    let url = env_or("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f");
    let connection = Connection::connect(&url, ConnectionProperties::default())
        .await
        .expect("RabbitMQ must run at AMQP_URL (rabbitmq-server -detached)");
    let channel = connection.create_channel().await.unwrap();
    let mut arguments = FieldTable::default();
    // Removed by the broker 10 min after its last use, should the test die first.
    arguments.insert("x-expires".into(), AMQPValue::LongInt(600_000));
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions::default(),
            arguments,
        )
        .await
        .unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    for i in 0..5 {
        channel
            .basic_publish(
                "".into(),
                queue.as_str().into(),
                BasicPublishOptions::default(),
                format!("message {i}").as_bytes(),
                BasicProperties::default(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let holder = connection.create_channel().await.unwrap();
    for _ in 0..2 {
        let got = holder
            .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false })
            .await
            .unwrap();
        assert!(got.is_some(), "the queue ran dry");
    }

    let probe = AmazonMqProbe::new(rabbitmq(&broker_id, &queue), &sdk).unwrap();
    let deadline = Instant::now() + STATS_DEADLINE;
    let mut sample = probe.read().await.expect("probe read");
    while (sample.visible, sample.in_flight) != (3, 2) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        sample = probe.read().await.expect("probe read");
    }
    assert_eq!((sample.visible, sample.in_flight), (3, 2), "{sample:?}");

    // A missing queue on a RabbitMQ broker is the RabbitMQ probe's NotFound.
    let missing = unique("rabbit-missing");
    let err = AmazonMqProbe::new(rabbitmq(&broker_id, &missing), &sdk)
        .unwrap()
        .read()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProbeError::NotFound { what: "queue", name } if name.contains(&missing)),
        "{err:?}"
    );

    holder.close(200, "done".into()).await.unwrap();
    channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn without_overrides_a_rabbitmq_broker_is_dialled_at_its_amqps_endpoint() {
    let sdk = sdk().await;
    let (broker_id, _) = support::aws::mq_broker(&sdk, EngineType::Rabbitmq).await;
    let config = AmazonMqQueue {
        broker_id: Some(broker_id),
        queue_name: Some("jobs".into()),
        username: Some("stepscale".into()),
        password: Some(Secret::new(password())),
        timeout_secs: 2,
        ..AmazonMqQueue::default()
    };
    let err = AmazonMqProbe::new(config, &sdk)
        .unwrap()
        .read()
        .await
        .unwrap_err();
    // moto's endpoint is `amqps://mockmq:5671`, a host that does not resolve here.
    let text = err.to_string();
    assert!(text.contains("amqps://mockmq:5671"), "{text}");
    assert!(
        matches!(err, ProbeError::Connect { .. } | ProbeError::Timeout { .. }),
        "{err:?}"
    );
    assert!(!text.contains(&password()), "{text}");
}

#[tokio::test]
async fn the_local_jolokia_runs() {
    // A plain check, so a missing broker fails loudly here too.
    let body = jolokia_get("read/org.apache.activemq:type=Broker,brokerName=localhost/BrokerName");
    assert!(body.contains("\"status\":200"), "{body}");
}
