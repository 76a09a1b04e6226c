//! The Amazon MQ probe against moto (`AWS_ENDPOINT_URL`), ActiveMQ with Jolokia (`JOLOKIA_URL`,
//! `ACTIVEMQ_STOMP_ADDR`) and RabbitMQ (`AMQP_URL`, `RABBITMQ_MANAGEMENT_URL`); fails when one is down.
#![cfg(feature = "amazon-mq")]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use aws_sdk_mq::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_mq::types::{DeploymentMode, EngineType, User};
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

/// The SDK pointed at moto (`AWS_ENDPOINT_URL`, default 127.0.0.1:5000) through
/// [`cbor_relay`], with test credentials and the timeouts and retries of
/// `stepscale_live::aws::load`. Nothing is written to the process environment.
async fn sdk() -> SdkConfig {
    let region = env_or("AWS_REGION", "us-east-1");
    stepscale_live::aws::load(Some(&region))
        .await
        .to_builder()
        .endpoint_url(cbor_relay())
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "moto",
        )))
        .build()
}

/// A broker in moto; its id and name.
async fn broker(sdk: &SdkConfig, engine: EngineType) -> (String, String) {
    let name = unique("broker");
    let created = aws_sdk_mq::Client::new(sdk)
        .create_broker()
        .broker_name(&name)
        .engine_type(engine)
        .engine_version("5.17.6")
        .host_instance_type("mq.t3.micro")
        .deployment_mode(DeploymentMode::SingleInstance)
        .publicly_accessible(false)
        .auto_minor_version_upgrade(true)
        .users(
            User::builder()
                .username("admin")
                .password("admin-password-123")
                .build(),
        )
        .send()
        .await
        .expect("moto must run at AWS_ENDPOINT_URL (tests/services/moto.sh)");
    (created.broker_id().unwrap().to_string(), name)
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
    let dimension = |name: &str, value: &str| Dimension::builder().name(name).value(value).build();
    aws_sdk_cloudwatch::Client::new(sdk)
        .put_metric_data()
        .namespace("AWS/AmazonMQ")
        .metric_data(
            MetricDatum::builder()
                .metric_name(metric)
                .dimensions(dimension("Broker", broker_dimension))
                .dimensions(dimension("Queue", queue))
                .timestamp(DateTime::from(SystemTime::now()))
                .value(value)
                .build(),
        )
        .send()
        .await
        .expect("moto takes PutMetricData");
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
    let (broker_id, _) = broker(&sdk, EngineType::Activemq).await;
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
    let (broker_id, _) = broker(&sdk, EngineType::Activemq).await;
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
    let (broker_id, name) = broker(&sdk, EngineType::Activemq).await;
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
    let (broker_id, name) = broker(&sdk, EngineType::Activemq).await;
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
    let (broker_id, _) = broker(&sdk, EngineType::Activemq).await;
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
    let (broker_id, _) = broker(&sdk, EngineType::Rabbitmq).await;
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
    let (broker_id, _) = broker(&sdk, EngineType::Rabbitmq).await;
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

// The CloudWatch relay. aws-sdk-cloudwatch speaks Smithy RPC v2 CBOR
// (`POST /service/GraniteServiceVersion20100801/operation/{Op}`), which moto 5.2.5 does not
// serve (getmoto/moto#9195: Query and JSON only). The relay turns such a call into moto's JSON
// protocol (`X-Amz-Target: GraniteServiceVersion20100801.{Op}`) and the JSON answer back into
// CBOR; any other call goes through unchanged. So the probe's own GetMetricData request, with
// its namespace, dimensions and statistic, is answered by moto's metric store.

/// The relay's base URL (one per test binary), forwarding to `AWS_ENDPOINT_URL`.
fn cbor_relay() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let upstream = env_or("AWS_ENDPOINT_URL", "http://127.0.0.1:5000");
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let upstream = upstream.clone();
                std::thread::spawn(move || {
                    let _ = relay(client, &upstream);
                });
            }
        });
        url
    })
    .clone()
}

/// An HTTP message read whole: the head (request or status line and headers) and the body.
struct Message {
    head: String,
    body: Vec<u8>,
}

impl Message {
    fn read(stream: &mut TcpStream, to_eof: bool) -> std::io::Result<Option<Self>> {
        let mut data = Vec::new();
        let mut chunk = [0_u8; 8192];
        let head_end = loop {
            if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Ok(None);
            }
            data.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
        let length = header(&head, "content-length").and_then(|v| v.parse::<usize>().ok());
        loop {
            let have = data.len() - head_end;
            if length.is_some_and(|l| have >= l) {
                break;
            }
            if length.is_none() && !to_eof {
                break;
            }
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            data.extend_from_slice(&chunk[..n]);
        }
        Ok(Some(Self {
            head,
            body: data[head_end..].to_vec(),
        }))
    }
}

/// The header lines of `head` (its first line left out) without those named in `drop`, each
/// ending in CRLF.
fn headers_without(head: &str, drop: &[&str]) -> String {
    head.split("\r\n")
        .skip(1)
        .filter(|line| {
            let name = line.split(':').next().unwrap_or_default().trim();
            !line.is_empty() && !drop.iter().any(|d| name.eq_ignore_ascii_case(d))
        })
        .fold(String::new(), |mut out, line| {
            out.push_str(line);
            out.push_str("\r\n");
            out
        })
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// One request: a CloudWatch CBOR call is translated, anything else is forwarded as is.
fn relay(mut client: TcpStream, upstream: &str) -> std::io::Result<()> {
    let Some(request) = Message::read(&mut client, false)? else {
        return Ok(());
    };
    let request_line = request.head.lines().next().unwrap_or_default().to_string();
    let path = request_line.split(' ').nth(1).unwrap_or_default();
    let (head, body) = if let Some(operation) =
        path.strip_prefix("/service/GraniteServiceVersion20100801/operation/")
    {
        let body = serde_json::to_vec(&cbor::decode(&request.body)).unwrap();
        let kept = headers_without(
            &request.head,
            &[
                "connection",
                "content-length",
                "content-type",
                "smithy-protocol",
                "accept",
            ],
        );
        (
            format!(
                "POST / HTTP/1.1\r\n{kept}X-Amz-Target: GraniteServiceVersion20100801.{operation}\r\n\
                 Content-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n",
                body.len()
            ),
            body,
        )
    } else {
        (
            format!(
                "{request_line}\r\n{}",
                headers_without(&request.head, &["connection"])
            ),
            request.body.clone(),
        )
    };
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(head.as_bytes())?;
    server.write_all(b"Connection: close\r\n\r\n")?;
    server.write_all(&body)?;
    let Some(reply) = Message::read(&mut server, true)? else {
        return client.write_all(
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    };
    if !path.starts_with("/service/GraniteServiceVersion20100801/") {
        client.write_all(reply.head.as_bytes())?;
        return client.write_all(&reply.body);
    }
    let status = reply
        .head
        .lines()
        .next()
        .unwrap_or("HTTP/1.1 502 Bad Gateway")
        .to_string();
    let json: serde_json::Value = if reply.body.is_empty() {
        serde_json::json!({})
    } else {
        serde_json::from_slice(&reply.body).unwrap_or_else(|e| {
            serde_json::json!({"__type": "RelayError", "message": format!("moto's answer is not JSON: {e}")})
        })
    };
    let body = cbor::encode(&json);
    client.write_all(
        format!(
            "{status}\r\nsmithy-protocol: rpc-v2-cbor\r\nContent-Type: application/cbor\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )?;
    client.write_all(&body)
}

/// Just enough CBOR (RFC 8949) for CloudWatch's messages: maps, arrays, text, numbers,
/// booleans, null, and timestamps (tag 1, epoch seconds).
mod cbor {
    use serde_json::{Map, Number, Value};

    pub fn decode(bytes: &[u8]) -> Value {
        if bytes.is_empty() {
            return Value::Object(Map::new());
        }
        let mut at = 0;
        item(bytes, &mut at).expect("CBOR the relay can read")
    }

    /// One item, or `None` for a break (end of an indefinite-length item).
    fn item(b: &[u8], at: &mut usize) -> Option<Value> {
        let first = b[*at];
        *at += 1;
        let (major, info) = (first >> 5, first & 0x1f);
        if first == 0xff {
            return None;
        }
        let arg = |at: &mut usize| -> u64 {
            let width = match info {
                0..=23 => return u64::from(info),
                24 => 1,
                25 => 2,
                26 => 4,
                27 => 8,
                _ => panic!("unsupported CBOR argument {info}"),
            };
            let mut n = 0_u64;
            for k in 0..width {
                n = (n << 8) | u64::from(b[*at + k]);
            }
            *at += width;
            n
        };
        Some(match major {
            0 => Value::from(arg(at)),
            1 => Value::from(-1 - i64::try_from(arg(at)).unwrap()),
            3 => {
                if info == 31 {
                    let mut text = String::new();
                    while let Some(part) = item(b, at) {
                        text.push_str(part.as_str().unwrap());
                    }
                    Value::String(text)
                } else {
                    let n = usize::try_from(arg(at)).unwrap();
                    let text = String::from_utf8(b[*at..*at + n].to_vec()).unwrap();
                    *at += n;
                    Value::String(text)
                }
            }
            4 => {
                let mut items = Vec::new();
                if info == 31 {
                    while let Some(v) = item(b, at) {
                        items.push(v);
                    }
                } else {
                    for _ in 0..arg(at) {
                        items.push(item(b, at).unwrap());
                    }
                }
                Value::Array(items)
            }
            5 => {
                let mut map = Map::new();
                let mut entry = |at: &mut usize| -> bool {
                    let Some(key) = item(b, at) else {
                        return false;
                    };
                    let value = item(b, at).unwrap();
                    map.insert(key.as_str().unwrap().to_string(), value);
                    true
                };
                if info == 31 {
                    while entry(at) {}
                } else {
                    for _ in 0..arg(at) {
                        entry(at);
                    }
                }
                Value::Object(map)
            }
            // Tag 1 (epoch seconds) is what the JSON protocol sends as a number.
            6 => {
                let _tag = arg(at);
                item(b, at).unwrap()
            }
            7 => match info {
                20 => Value::Bool(false),
                21 => Value::Bool(true),
                22 | 23 => Value::Null,
                25 => {
                    let bits = u16::from_be_bytes([b[*at], b[*at + 1]]);
                    *at += 2;
                    float(half(bits))
                }
                26 => {
                    let v = f32::from_be_bytes(b[*at..*at + 4].try_into().unwrap());
                    *at += 4;
                    float(f64::from(v))
                }
                27 => {
                    let v = f64::from_be_bytes(b[*at..*at + 8].try_into().unwrap());
                    *at += 8;
                    float(v)
                }
                _ => panic!("unsupported CBOR simple value {info}"),
            },
            _ => panic!("unsupported CBOR major type {major}"),
        })
    }

    fn float(v: f64) -> Value {
        Number::from_f64(v).map_or(Value::Null, Value::Number)
    }

    fn half(bits: u16) -> f64 {
        let exponent = i32::from((bits >> 10) & 0x1f);
        let fraction = f64::from(bits & 0x3ff);
        let magnitude = match exponent {
            0 => fraction * 2_f64.powi(-24),
            31 => f64::INFINITY,
            e => (1.0 + fraction / 1024.0) * 2_f64.powi(e - 15),
        };
        if bits & 0x8000 == 0 {
            magnitude
        } else {
            -magnitude
        }
    }

    /// JSON as CBOR: `Timestamp(s)` become tag-1 doubles and `Values` doubles, as the SDK
    /// reads them.
    pub fn encode(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        put(&mut out, value, "");
        out
    }

    fn head(out: &mut Vec<u8>, major: u8, n: u64) {
        let m = major << 5;
        match n {
            0..=23 => out.push(m | n as u8),
            24..=0xff => out.extend([m | 0x18, n as u8]),
            0x100..=0xffff => {
                out.push(m | 0x19);
                out.extend((n as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                out.push(m | 0x1a);
                out.extend((n as u32).to_be_bytes());
            }
            _ => {
                out.push(m | 0x1b);
                out.extend(n.to_be_bytes());
            }
        }
    }

    fn double(out: &mut Vec<u8>, v: f64) {
        out.push(0xfb);
        out.extend(v.to_be_bytes());
    }

    fn put(out: &mut Vec<u8>, value: &Value, key: &str) {
        match value {
            Value::Null => out.push(0xf6),
            Value::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
            Value::Number(n) if matches!(key, "Timestamp" | "Timestamps") => {
                out.push(0xc1);
                double(out, n.as_f64().unwrap());
            }
            Value::Number(n) if key == "Values" || n.is_f64() => double(out, n.as_f64().unwrap()),
            Value::Number(n) => match n.as_u64() {
                Some(u) => head(out, 0, u),
                None => head(out, 1, (-1 - n.as_i64().unwrap()) as u64),
            },
            Value::String(s) => {
                head(out, 3, s.len() as u64);
                out.extend(s.as_bytes());
            }
            Value::Array(items) => {
                head(out, 4, items.len() as u64);
                for v in items {
                    put(out, v, key);
                }
            }
            Value::Object(map) => {
                head(out, 5, map.len() as u64);
                for (k, v) in map {
                    put(out, &Value::String(k.clone()), "");
                    put(out, v, k);
                }
            }
        }
    }

    #[test]
    fn a_round_trip_keeps_the_json() {
        let json = serde_json::json!({"Id": "size0", "N": 300, "Neg": -2, "Ok": true,
            "Nothing": null, "Values": [1.5, 42.0], "List": [{"a": "b"}]});
        assert_eq!(decode(&encode(&json)), json);
        // Half, single and indefinite-length forms as other encoders write them.
        let bytes = [
            0xbf, 0x61, b'h', 0xf9, 0x3c, 0x00, 0x61, b's', 0xfa, 0x3f, 0xc0, 0x00, 0x00, 0x61,
            b't', 0x7f, 0x61, b'a', 0x61, b'b', 0xff, 0xff,
        ];
        assert_eq!(
            decode(&bytes),
            serde_json::json!({"h": 1.0, "s": 1.5, "t": "ab"})
        );
    }
}
