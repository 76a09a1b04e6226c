//! Helpers shared by the integration tests: unique names, captured logs, and the check that
//! a failed read makes the engine hold where a zero reading would have scaled in.
#![allow(dead_code)]

pub mod aws;

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

/// Replaces the Redis list `key` (at `REDIS_URL`) with `n` items.
pub async fn redis_list(key: &str, n: usize) {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let mut conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers");
    let _: () = redis::cmd("DEL")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap();
    for i in 0..n {
        let _: () = redis::cmd("RPUSH")
            .arg(key)
            .arg(i)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}
