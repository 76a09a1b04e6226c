//! The `RabbitMQ` probe against a real broker (`AMQP_URL`, `RABBITMQ_MANAGEMENT_URL`); fails when none runs.
#![cfg(feature = "rabbitmq")]

mod support;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use stepscale_engine::config::queue::RabbitMqQueue;
use stepscale_engine::config::{QueueConfig, Secret};
use stepscale_engine::QueueSample;
use stepscale_live::rabbitmq::lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use stepscale_live::rabbitmq::lapin::types::{AMQPValue, FieldTable};
use stepscale_live::rabbitmq::lapin::uri::AMQPUri;
use stepscale_live::rabbitmq::lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use stepscale_live::rabbitmq::RabbitMqProbe;
use stepscale_live::{AnyProbe, Probe, ProbeContext, ProbeError};

/// Management statistics refresh every 5 s by default; allow several rounds.
const STATS_DEADLINE: Duration = Duration::from_secs(30);

fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

fn management_url() -> String {
    std::env::var("RABBITMQ_MANAGEMENT_URL").unwrap_or_else(|_| "http://127.0.0.1:15672".into())
}

fn parsed_url() -> AMQPUri {
    amqp_url().parse().expect("AMQP_URL is not an AMQP URI")
}

/// A queue name no other test (or run) uses.
fn unique(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "stepscale-test-{}-{}-{tag}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Probe settings for the test broker, with or without the management API.
fn config(queues: &[&str], management: bool) -> RabbitMqQueue {
    let uri = parsed_url();
    RabbitMqQueue {
        host: uri.authority.host,
        port: uri.authority.port,
        vhost: uri.vhost,
        queues: queues.iter().map(|q| (*q).to_string()).collect(),
        username: uri.authority.userinfo.username,
        password: Secret::new(uri.authority.userinfo.password),
        management_url: management.then(management_url),
        ..RabbitMqQueue::default()
    }
}

async fn connect() -> Connection {
    Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .expect("RabbitMQ must run at AMQP_URL (rabbitmq-server -detached)")
}

/// Declares `name` (removed by the broker 10 min after its last use, should a test die
/// before deleting it) and publishes `count` confirmed messages to it.
async fn queue_with(connection: &Connection, name: &str, count: usize) -> Channel {
    let channel = connection.create_channel().await.unwrap();
    let mut arguments = FieldTable::default();
    arguments.insert("x-expires".into(), AMQPValue::LongInt(600_000));
    channel
        .queue_declare(name.into(), QueueDeclareOptions::default(), arguments)
        .await
        .unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    for i in 0..count {
        channel
            .basic_publish(
                "".into(),
                name.into(),
                BasicPublishOptions::default(),
                format!("message {i}").as_bytes(),
                BasicProperties::default(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }
    channel
}

async fn delete(channel: &Channel, name: &str) {
    channel
        .queue_delete(name.into(), QueueDeleteOptions::default())
        .await
        .unwrap();
}

/// Reads until `done` holds or the deadline passes; returns the last sample.
async fn read_until(probe: &RabbitMqProbe, done: impl Fn(&QueueSample) -> bool) -> QueueSample {
    let deadline = Instant::now() + STATS_DEADLINE;
    loop {
        let sample = probe.read().await.expect("probe read");
        if done(&sample) || Instant::now() > deadline {
            return sample;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn ready_and_unacknowledged_counts_match_the_broker() {
    let name = unique("counts");
    let connection = connect().await;
    let setup = queue_with(&connection, &name, 10).await;
    // Take 3 without acknowledging them, and hold them on an open channel.
    let holder = connection.create_channel().await.unwrap();
    for _ in 0..3 {
        let message = holder
            .basic_get(name.as_str().into(), BasicGetOptions { no_ack: false })
            .await
            .unwrap();
        assert!(message.is_some(), "the queue ran dry");
    }

    let without = RabbitMqProbe::new(config(&[&name], false)).unwrap();
    let plain = without.read().await.unwrap();
    assert_eq!((plain.visible, plain.in_flight), (7, 0), "{plain:?}");
    assert_eq!(plain.arrival_rate_per_s, None);

    let with = RabbitMqProbe::new(config(&[&name], true)).unwrap();
    let sample = read_until(&with, |s| s.visible == 7 && s.in_flight == 3).await;
    assert_eq!((sample.visible, sample.in_flight), (7, 3), "{sample:?}");
    assert!(
        sample.arrival_rate_per_s.is_some_and(|r| r >= 0.0),
        "{sample:?}"
    );

    holder.close(200, "done".into()).await.unwrap();
    delete(&setup, &name).await;
}

#[tokio::test]
async fn a_missing_queue_is_not_found_not_zero() {
    let name = unique("missing");
    for management in [false, true] {
        let probe = RabbitMqProbe::new(config(&[&name], management)).unwrap();
        let err = probe.read().await.unwrap_err();
        assert!(
            matches!(&err, ProbeError::NotFound { what: "queue", name: n } if n.contains(&name)),
            "{err:?}"
        );
        assert!(err.to_string().contains(&name), "{err}");
    }
    // The connection survives the closed channel: a second read says the same.
    let probe = RabbitMqProbe::new(config(&[&name], false)).unwrap();
    for _ in 0..2 {
        assert!(matches!(
            probe.read().await,
            Err(ProbeError::NotFound { .. })
        ));
    }
}

#[tokio::test]
async fn several_queues_by_name_and_by_pattern_sum_or_max() {
    let prefix = unique("pattern");
    let (a, b) = (format!("{prefix}-a"), format!("{prefix}-b"));
    let connection = connect().await;
    let channel = queue_with(&connection, &a, 2).await;
    queue_with(&connection, &b, 3).await;

    let by_name = RabbitMqProbe::new(config(&[&a, &b, &a], false)).unwrap();
    assert_eq!(by_name.read().await.unwrap().visible, 5);

    let mut by_pattern = config(&[], true);
    by_pattern.queue_pattern = Some(format!("{prefix}-*"));
    let sum = RabbitMqProbe::new(by_pattern.clone()).unwrap();
    assert_eq!(read_until(&sum, |s| s.visible == 5).await.visible, 5);
    by_pattern.combine = Some("max".into());
    let max = RabbitMqProbe::new(by_pattern.clone()).unwrap();
    assert_eq!(read_until(&max, |s| s.visible == 3).await.visible, 3);

    by_pattern.queue_pattern = Some(format!("{prefix}-nothing-*"));
    let none = RabbitMqProbe::new(by_pattern).unwrap();
    assert!(matches!(
        none.read().await,
        Err(ProbeError::NotFound {
            what: "queue matching",
            ..
        })
    ));

    delete(&channel, &a).await;
    delete(&channel, &b).await;
}

#[tokio::test]
async fn an_unreachable_broker_is_an_error_and_the_engine_holds() {
    let mut unreachable = config(&["orders"], false);
    unreachable.host = "127.0.0.1".into();
    unreachable.port = 1;
    let probe = RabbitMqProbe::new(unreachable.clone()).unwrap();
    let err = probe.read().await.unwrap_err();
    assert!(matches!(err, ProbeError::Connect { .. }), "{err:?}");

    let reading = AnyProbe::from_config(
        &QueueConfig::Rabbitmq(unreachable),
        &ProbeContext::default(),
    )
    .unwrap()
    .reading()
    .await;
    support::assert_engine_holds_on(reading);
}

/// One management API call with the broker's admin credentials (from `AMQP_URL`); the status.
fn management_call(method: &str, path: &str, body: &str) -> u16 {
    let uri = parsed_url();
    let base = management_url();
    let host = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut stream = std::net::TcpStream::connect(&host).expect(
        "the RabbitMQ management plugin must run (rabbitmq-plugins enable rabbitmq_management)",
    );
    let credentials = base64(&format!(
        "{}:{}",
        uri.authority.userinfo.username, uri.authority.userinfo.password
    ));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {credentials}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

fn base64(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let bytes = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(bytes[0]) << 16) | (u32::from(bytes[1]) << 8) | u32::from(bytes[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn passwords_appear_in_no_log_line_and_no_error() {
    let logs = support::captured_logs();
    let user = unique("user");
    let password = format!("right-{}-pw", std::process::id());
    let wrong = format!("wrong-{}-pw", std::process::id());
    let vhost = encode(&parsed_url().vhost);
    // The least the probe needs: read permission and the `monitoring` tag.
    let created = management_call(
        "PUT",
        &format!("/api/users/{user}"),
        &format!(r#"{{"password":"{password}","tags":"monitoring"}}"#),
    );
    assert!(
        matches!(created, 201 | 204),
        "creating the user: HTTP {created}"
    );
    let granted = management_call(
        "PUT",
        &format!("/api/permissions/{vhost}/{user}"),
        r#"{"configure":"","write":"","read":".*"}"#,
    );
    assert!(matches!(granted, 201 | 204), "granting: HTTP {granted}");

    let name = unique("secret");
    let connection = connect().await;
    let channel = queue_with(&connection, &name, 4).await;
    let mut settings = config(&[&name], true);
    settings.username.clone_from(&user);
    settings.password = Secret::new(password.clone());
    let probe = RabbitMqProbe::new(settings.clone()).unwrap();
    let sample = probe
        .read()
        .await
        .expect("a read-only monitoring user can probe");
    assert_eq!(sample.visible, 4);

    settings.password = Secret::new(wrong.clone());
    let err = RabbitMqProbe::new(settings.clone())
        .unwrap()
        .read()
        .await
        .unwrap_err();
    assert!(matches!(err, ProbeError::Auth { .. }), "{err:?}");
    // The pattern path asks the management API first: its refusal is typed too.
    settings.queue_pattern = Some(format!("{name}*"));
    let http_err = RabbitMqProbe::new(settings)
        .unwrap()
        .read()
        .await
        .unwrap_err();
    assert!(matches!(http_err, ProbeError::Auth { .. }), "{http_err:?}");

    delete(&channel, &name).await;
    let deleted = management_call("DELETE", &format!("/api/users/{user}"), "");
    assert_eq!(deleted, 204, "deleting the user");

    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("Read queue."),
        "the probe's logs were not captured"
    );
    for error in [err.to_string(), format!("{err:?}"), http_err.to_string()] {
        assert!(
            !error.contains(&password) && !error.contains(&wrong),
            "{error}"
        );
    }
    assert!(!text.contains(&password), "the password is in a log line");
    assert!(
        !text.contains(&wrong),
        "the wrong password is in a log line"
    );
}
