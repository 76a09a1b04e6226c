//! The Redis probe against a real server (`REDIS_URL`); fails when none runs.
#![cfg(feature = "redis")]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use stepscale_engine::config::queue::RedisQueue;
use stepscale_engine::config::{QueueConfig, Secret};
use stepscale_engine::QueueSample;
use stepscale_live::redis::client::aio::MultiplexedConnection;
use stepscale_live::redis::client::streams::StreamInfoGroupsReply;
use stepscale_live::redis::client::{self as redis, ConnectionAddr, IntoConnectionInfo};
use stepscale_live::redis::RedisProbe;
use stepscale_live::{AnyProbe, Probe, ProbeContext, ProbeError};

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A key no other test (or run) uses.
fn unique(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "stepscale-test:{}:{}:{tag}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

async fn connect() -> MultiplexedConnection {
    redis::Client::open(redis_url())
        .expect("REDIS_URL is not a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis must run at REDIS_URL (redis-server --daemonize yes)")
}

/// Probe settings for the test server.
fn config(key: &str, queue_type: &str) -> RedisQueue {
    let info = redis_url()
        .into_connection_info()
        .expect("REDIS_URL is not a Redis URL");
    let (host, port) = match info.addr {
        ConnectionAddr::Tcp(host, port) => (host, port),
        other => panic!("REDIS_URL must be plain TCP for these tests, not {other:?}"),
    };
    RedisQueue {
        host,
        port,
        db: info.redis.db,
        username: info.redis.username,
        password: info.redis.password.map(Secret::new),
        queue_key: key.into(),
        queue_type: queue_type.into(),
        ..RedisQueue::default()
    }
}

async fn run(con: &mut MultiplexedConnection, cmd: &mut redis::Cmd) {
    let () = cmd.query_async(con).await.unwrap();
}

async fn read(settings: RedisQueue) -> Result<QueueSample, ProbeError> {
    RedisProbe::new(settings).unwrap().read().await
}

#[tokio::test]
async fn a_stream_group_reads_lag_as_visible_and_pending_as_in_flight() {
    let mut con = connect().await;
    let key = unique("stream");
    redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&key)
        .arg("workers")
        .arg("0")
        .arg("MKSTREAM")
        .query_async::<()>(&mut con)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..10 {
        let id: String = redis::cmd("XADD")
            .arg(&key)
            .arg("*")
            .arg("n")
            .arg(i)
            .query_async(&mut con)
            .await
            .unwrap();
        ids.push(id);
    }
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("workers")
        .arg("worker-1")
        .arg("COUNT")
        .arg(3)
        .arg("STREAMS")
        .arg(&key)
        .arg(">")
        .query_async(&mut con)
        .await
        .unwrap();
    let mut settings = config(&key, "stream");
    settings.consumer_group = Some("workers".into());
    let sample = read(settings.clone()).await.unwrap();
    assert_eq!((sample.visible, sample.in_flight), (7, 3), "{sample:?}");
    // v0.2's environment names no group: a stream's only group is read.
    let mut only_group = settings.clone();
    only_group.consumer_group = None;
    assert_eq!(read(only_group.clone()).await.unwrap(), sample);

    // Deleting an unread entry makes Redis forget the lag; the probe counts instead.
    let _: u64 = redis::cmd("XDEL")
        .arg(&key)
        .arg(&ids[6])
        .query_async(&mut con)
        .await
        .unwrap();
    let groups: StreamInfoGroupsReply = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(&key)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(groups.groups[0].lag, None, "the fallback is not exercised");
    let sample = read(settings.clone()).await.unwrap();
    assert_eq!((sample.visible, sample.in_flight), (6, 3), "{sample:?}");

    let _: u64 = redis::cmd("XACK")
        .arg(&key)
        .arg("workers")
        .arg(&ids[0])
        .query_async(&mut con)
        .await
        .unwrap();
    let sample = read(settings.clone()).await.unwrap();
    assert_eq!((sample.visible, sample.in_flight), (6, 2), "{sample:?}");

    run(
        &mut con,
        redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&key)
            .arg("auditors")
            .arg("0"),
    )
    .await;
    let err = read(only_group).await.unwrap_err();
    assert!(
        matches!(&err, ProbeError::Config(text) if text.contains("auditors")),
        "{err:?}"
    );
    settings.consumer_group = Some("nobody".into());
    let err = read(settings).await.unwrap_err();
    assert!(
        matches!(&err, ProbeError::NotFound { what: "consumer group", name } if name.contains("nobody")),
        "{err:?}"
    );
    run(&mut con, redis::cmd("DEL").arg(&key)).await;
}

#[tokio::test]
async fn the_counted_fallback_pages_through_long_backlogs() {
    let mut con = connect().await;
    let key = unique("long-stream");
    run(
        &mut con,
        redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&key)
            .arg("workers")
            .arg("0")
            .arg("MKSTREAM"),
    )
    .await;
    // Explicit ids, so the test knows which entry it deletes.
    let mut add = redis::pipe();
    for i in 1..=2500 {
        add.cmd("XADD")
            .arg(&key)
            .arg(format!("1-{i}"))
            .arg("n")
            .arg(i)
            .ignore();
    }
    let () = add.query_async(&mut con).await.unwrap();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("workers")
        .arg("worker-1")
        .arg("COUNT")
        .arg(10)
        .arg("STREAMS")
        .arg(&key)
        .arg(">")
        .query_async(&mut con)
        .await
        .unwrap();
    let _: u64 = redis::cmd("XDEL")
        .arg(&key)
        .arg("1-1500")
        .query_async(&mut con)
        .await
        .unwrap();
    let mut settings = config(&key, "stream");
    settings.consumer_group = Some("workers".into());
    let sample = read(settings).await.unwrap();
    // 2500 added, 10 delivered, 1 deleted from the unread range: 3 pages of XRANGE.
    assert_eq!((sample.visible, sample.in_flight), (2489, 10), "{sample:?}");
    run(&mut con, redis::cmd("DEL").arg(&key)).await;
}

#[tokio::test]
async fn a_list_counts_its_processing_key_of_any_collection_type() {
    let mut con = connect().await;
    let key = unique("list");
    let processing = unique("processing");
    let _: u64 = redis::cmd("RPUSH")
        .arg(&key)
        .arg(&["a", "b", "c", "d", "e"])
        .query_async(&mut con)
        .await
        .unwrap();
    let mut settings = config(&key, "list");
    assert_eq!(
        read(settings.clone()).await.unwrap(),
        QueueSample::visible(5)
    );

    settings.processing_key = Some(processing.clone());
    // A missing processing key is an idle pool: 0 in flight.
    assert_eq!(read(settings.clone()).await.unwrap().in_flight, 0);
    let fills: [(&str, Vec<&str>); 4] = [
        ("RPUSH", vec!["x", "y"]),
        ("SADD", vec!["x", "y"]),
        ("ZADD", vec!["1", "x", "2", "y"]),
        ("HSET", vec!["x", "1", "y", "2"]),
    ];
    for (command, args) in fills {
        run(&mut con, redis::cmd("DEL").arg(&processing)).await;
        let _: u64 = redis::cmd(command)
            .arg(&processing)
            .arg(&args)
            .query_async(&mut con)
            .await
            .unwrap();
        let sample = read(settings.clone()).await.unwrap();
        assert_eq!(
            (sample.visible, sample.in_flight),
            (5, 2),
            "{command}: {sample:?}"
        );
    }
    run(&mut con, redis::cmd("SET").arg(&processing).arg("oops")).await;
    let err = read(settings).await.unwrap_err();
    assert!(
        matches!(&err, ProbeError::WrongType { key, actual, .. } if *key == processing && actual == "string"),
        "{err:?}"
    );
    run(&mut con, redis::cmd("DEL").arg(&key).arg(&processing)).await;
}

#[tokio::test]
async fn a_sorted_set_splits_due_and_future_scores() {
    let mut con = connect().await;
    let key = unique("delayed");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let _: u64 = redis::cmd("ZADD")
        .arg(&key)
        .arg(now - 100.0)
        .arg("late")
        .arg(now - 1.0)
        .arg("due")
        .arg(now + 600.0)
        .arg("soon")
        .arg(now + 3600.0)
        .arg("later")
        .arg(now + 86_400.0)
        .arg("tomorrow")
        .query_async(&mut con)
        .await
        .unwrap();
    let sample = read(config(&key, "zset")).await.unwrap();
    assert_eq!((sample.visible, sample.delayed), (2, 3), "{sample:?}");
    run(&mut con, redis::cmd("DEL").arg(&key)).await;
}

#[tokio::test]
async fn a_missing_key_is_not_found_and_a_wrong_type_is_wrong_type() {
    let mut con = connect().await;
    let missing = unique("missing");
    for queue_type in ["list", "stream", "zset"] {
        let mut settings = config(&missing, queue_type);
        settings.consumer_group = Some("workers".into());
        let err = read(settings.clone()).await.unwrap_err();
        assert!(
            matches!(&err, ProbeError::NotFound { what: "key", name } if *name == missing),
            "{queue_type}: {err:?}"
        );
        settings.missing_key_is_empty = true;
        assert_eq!(read(settings).await.unwrap(), QueueSample::default());
    }
    let text = unique("text");
    run(&mut con, redis::cmd("SET").arg(&text).arg("hello")).await;
    let err = read(config(&text, "list")).await.unwrap_err();
    assert!(
        matches!(&err, ProbeError::WrongType { actual, expected: "list", .. } if actual == "string"),
        "{err:?}"
    );
    run(&mut con, redis::cmd("DEL").arg(&text)).await;
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_and_the_engine_holds() {
    let mut unreachable = config("jobs", "list");
    unreachable.host = "127.0.0.1".into();
    unreachable.port = 1;
    let err = read(unreachable.clone()).await.unwrap_err();
    assert!(matches!(err, ProbeError::Connect { .. }), "{err:?}");

    let reading = AnyProbe::from_config(&QueueConfig::Redis(unreachable), &ProbeContext::default())
        .unwrap()
        .reading()
        .await;
    support::assert_engine_holds_on(reading);
}

#[tokio::test]
async fn passwords_appear_in_no_log_line_and_no_error() {
    let logs = support::captured_logs();
    let mut con = connect().await;
    let user = unique("user");
    let key = unique("secret-list");
    let password = format!("right-{}-pw", std::process::id());
    let wrong = format!("wrong-{}-pw", std::process::id());
    // The commands live/src/redis/README.md lists for a list queue, on its keys only.
    run(
        &mut con,
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg(&user)
            .arg("on")
            .arg(format!(">{password}"))
            .arg(format!("~{key}"))
            .arg("+type")
            .arg("+llen"),
    )
    .await;
    let _: u64 = redis::cmd("RPUSH")
        .arg(&key)
        .arg("job")
        .query_async(&mut con)
        .await
        .unwrap();

    let mut settings = config(&key, "list");
    settings.username = Some(user.clone());
    settings.password = Some(Secret::new(password.clone()));
    let sample = read(settings.clone())
        .await
        .expect("the least-privileged user can probe");
    assert_eq!(sample.visible, 1);

    settings.password = Some(Secret::new(wrong.clone()));
    let err = read(settings).await.unwrap_err();
    assert!(matches!(err, ProbeError::Auth { .. }), "{err:?}");

    let _: u64 = redis::cmd("ACL")
        .arg("DELUSER")
        .arg(&user)
        .query_async(&mut con)
        .await
        .unwrap();
    run(&mut con, redis::cmd("DEL").arg(&key)).await;

    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("Read queue."),
        "the probe's logs were not captured"
    );
    for error in [err.to_string(), format!("{err:?}")] {
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
