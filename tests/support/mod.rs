//! Helpers shared by the integration tests: unique names, captured logs, and the check that
//! a failed read makes the engine hold where a zero reading would have scaled in.
#![allow(dead_code)]

pub mod aws;
pub mod live_run;
pub mod redis_server;
pub mod relay;

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use stepscale_engine::policy::Combine;
use stepscale_engine::{
    Action, Controller, Guards, Limit, PolicySpec, QueueSample, Reading, ScalerState, ServiceState,
};

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Feeds `reading` (which must be a failed read) to the engine beside a zero reading: the
/// zero would scale a 20-task service in; the failure holds it, limited by the metric failure.
pub fn assert_engine_holds_on(reading: Reading) {
    assert!(reading.is_err(), "expected a failed read, got {reading:?}");
    let controller = Controller::new(
        PolicySpec::default(),
        Guards::default(),
        Combine::default(),
        vec![],
    );
    let zero = controller.tick(
        &0,
        &[Ok(QueueSample::visible(0))],
        ServiceState::settled(20),
        &mut ScalerState::default(),
    );
    assert_eq!(
        zero.action,
        Action::ScaleIn,
        "a zero reading would scale in"
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

/// Every log line of this test binary, from any thread, at TRACE level.
pub fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        logs
    })
    .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The shared Redis: `REDIS_URL`, default `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The shared Redis as host and port, for a policy file.
pub fn redis_address() -> (String, u16) {
    let url = redis_url();
    match &redis::Client::open(url.as_str())
        .expect("REDIS_URL is a Redis URL")
        .get_connection_info()
        .addr
    {
        redis::ConnectionAddr::Tcp(host, port) => (host.clone(), *port),
        other => panic!("REDIS_URL {url}: a plain TCP address is needed, not {other:?}"),
    }
}

/// Replaces the Redis list `key` (at `REDIS_URL`) with `n` items.
pub async fn redis_list(key: &str, n: usize) {
    redis_list_at(&redis_url(), key, n).await;
}

/// Replaces the list `key` at `url` with `n` items in one transaction: no reader sees it
/// missing or half filled.
pub async fn redis_list_at(url: &str, key: &str, n: usize) {
    let mut conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers");
    let mut replace = redis::pipe();
    replace.atomic().del(key).ignore();
    if n > 0 {
        replace.rpush(key, (0..n).collect::<Vec<_>>()).ignore();
    }
    let _: () = replace.query_async(&mut conn).await.unwrap();
}
