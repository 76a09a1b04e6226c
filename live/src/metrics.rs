//! `run`'s observability: per-service Prometheus metrics and the health rule, served over HTTP
//! at `/metrics` and `/healthz` by `--metrics-addr`.
//!
//! Metrics (text format 0.0.4, every series labelled `service`):
//! - `stepscale_desired_tasks`, `stepscale_running_tasks`, `stepscale_pending_tasks`: the counts
//!   at the last decision (desired is the decision's, the others ECS's);
//! - `stepscale_policy_metric`: the policy's metric at the last decision (its weighted
//!   backlog, or backlog per task: what the policy compares with its thresholds, not a count
//!   of messages); `stepscale_backlog_messages` is the same series under its old name, kept for
//!   existing dashboards until the next release;
//! - `stepscale_last_decision_timestamp_seconds`: when it was made, Unix seconds;
//! - `stepscale_decisions_total{action}`: decisions by action (`scale_out`, `scale_in`, `hold`);
//! - `stepscale_metric_failures_total`: failed queue reads;
//! - `stepscale_tick_failures_total`: ticks that could not decide or act;
//! - `stepscale_tick_duration_seconds`: a histogram of whole ticks (reads, decision, writes);
//! - `stepscale_shadow_desired_tasks{shadow}`: what each shadow policy would have set.
//!
//! Health: `/healthz` answers 200 while every service's last successful tick is at most
//! [`STALE_PERIODS`] periods old, else 503 naming the late services. A service that has not yet
//! ticked successfully is judged from the time the server started.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use stepscale_engine::{Action, Decision, ServiceState};
use tokio::net::TcpListener;

/// A service is unhealthy once its last successful tick is older than this many periods.
pub const STALE_PERIODS: u32 = 3;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabel {
    service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    service: String,
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShadowLabel {
    service: String,
    shadow: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

fn tick_histogram() -> Histogram {
    // 5 ms to about 20 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

/// One service's health record.
#[derive(Debug, Clone, Copy)]
struct Health {
    period: Duration,
    last_ok: Option<Instant>,
}

/// The metrics of every service of one `run`, and their health.
pub struct Metrics {
    registry: Registry,
    started: Instant,
    desired: Family<ServiceLabel, Gauge>,
    running: Family<ServiceLabel, Gauge>,
    pending: Family<ServiceLabel, Gauge>,
    policy_metric: Family<ServiceLabel, FloatGauge>,
    last_decision: Family<ServiceLabel, FloatGauge>,
    decisions: Family<ActionLabel, Counter>,
    metric_failures: Family<ServiceLabel, Counter>,
    tick_failures: Family<ServiceLabel, Counter>,
    tick_seconds: Family<ServiceLabel, Histogram, fn() -> Histogram>,
    shadow_desired: Family<ShadowLabel, Gauge>,
    health: Mutex<BTreeMap<String, Health>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn label(service: &str) -> ServiceLabel {
    ServiceLabel {
        service: service.to_string(),
    }
}

impl Metrics {
    /// An empty registry with every family registered.
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let desired = Family::<ServiceLabel, Gauge>::default();
        let running = Family::<ServiceLabel, Gauge>::default();
        let pending = Family::<ServiceLabel, Gauge>::default();
        let policy_metric = Family::<ServiceLabel, FloatGauge>::default();
        let last_decision = Family::<ServiceLabel, FloatGauge>::default();
        let decisions = Family::<ActionLabel, Counter>::default();
        let metric_failures = Family::<ServiceLabel, Counter>::default();
        let tick_failures = Family::<ServiceLabel, Counter>::default();
        let tick_seconds =
            Family::<ServiceLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                tick_histogram,
            );
        let shadow_desired = Family::<ShadowLabel, Gauge>::default();
        registry.register(
            "stepscale_desired_tasks",
            "Desired count set by the last decision",
            desired.clone(),
        );
        registry.register(
            "stepscale_running_tasks",
            "Running tasks ECS reported at the last decision",
            running.clone(),
        );
        registry.register(
            "stepscale_pending_tasks",
            "Pending tasks ECS reported at the last decision",
            pending.clone(),
        );
        registry.register(
            "stepscale_policy_metric",
            "The policy's metric at the last decision (what it compares with its thresholds)",
            policy_metric.clone(),
        );
        registry.register(
            "stepscale_backlog_messages",
            "Deprecated: the same series as stepscale_policy_metric, under its old name",
            policy_metric.clone(),
        );
        registry.register(
            "stepscale_last_decision_timestamp_seconds",
            "Unix time of the last decision",
            last_decision.clone(),
        );
        registry.register(
            "stepscale_decisions",
            "Decisions by action",
            decisions.clone(),
        );
        registry.register(
            "stepscale_metric_failures",
            "Queue reads that failed",
            metric_failures.clone(),
        );
        registry.register(
            "stepscale_tick_failures",
            "Ticks that could not decide or act",
            tick_failures.clone(),
        );
        registry.register(
            "stepscale_tick_duration_seconds",
            "Wall time of one tick: reads, decision and writes",
            tick_seconds.clone(),
        );
        registry.register(
            "stepscale_shadow_desired_tasks",
            "Desired count a shadow policy would have set (never acted on)",
            shadow_desired.clone(),
        );
        Self {
            registry,
            started: Instant::now(),
            desired,
            running,
            pending,
            policy_metric,
            last_decision,
            decisions,
            metric_failures,
            tick_failures,
            tick_seconds,
            shadow_desired,
            health: Mutex::new(BTreeMap::new()),
        }
    }

    /// Registers `service`, ticking every `period`, for the health rule.
    pub fn add_service(&self, service: &str, period: Duration) {
        if let Ok(mut health) = self.health.lock() {
            health.insert(
                service.to_string(),
                Health {
                    period,
                    last_ok: None,
                },
            );
        }
    }

    /// Records a successful tick of `service`.
    pub fn decided(
        &self,
        service: &str,
        decision: &Decision,
        ecs: ServiceState,
        failed_reads: usize,
        took: Duration,
        at_unix_secs: f64,
    ) {
        let l = label(service);
        self.desired
            .get_or_create(&l)
            .set(i64::from(decision.desired));
        self.running.get_or_create(&l).set(i64::from(ecs.running));
        self.pending.get_or_create(&l).set(i64::from(ecs.pending));
        if let Some(metric) = decision.metric {
            self.policy_metric.get_or_create(&l).set(metric);
        }
        self.last_decision.get_or_create(&l).set(at_unix_secs);
        let action = match decision.action {
            Action::ScaleOut => "scale_out",
            Action::ScaleIn => "scale_in",
            Action::Hold => "hold",
        };
        self.decisions
            .get_or_create(&ActionLabel {
                service: service.to_string(),
                action: action.to_string(),
            })
            .inc();
        if failed_reads > 0 {
            self.metric_failures
                .get_or_create(&l)
                .inc_by(failed_reads as u64);
        }
        self.tick_seconds
            .get_or_create(&l)
            .observe(took.as_secs_f64());
        if let Ok(mut health) = self.health.lock() {
            if let Some(h) = health.get_mut(service) {
                h.last_ok = Some(Instant::now());
            }
        }
    }

    /// Records a tick of `service` that failed.
    pub fn tick_failed(&self, service: &str, took: Duration) {
        let l = label(service);
        self.tick_failures.get_or_create(&l).inc();
        self.tick_seconds
            .get_or_create(&l)
            .observe(took.as_secs_f64());
    }

    /// Records what the shadow policy `shadow` of `service` would have set.
    pub fn shadow(&self, service: &str, shadow: &str, desired: u32) {
        self.shadow_desired
            .get_or_create(&ShadowLabel {
                service: service.to_string(),
                shadow: shadow.to_string(),
            })
            .set(i64::from(desired));
    }

    /// The metrics in Prometheus text format.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    /// The services whose last successful tick is older than [`STALE_PERIODS`] periods (or
    /// that never ticked, that long after the start), each with its age in seconds.
    #[must_use]
    pub fn stale(&self) -> Vec<(String, f64)> {
        let now = Instant::now();
        let Ok(health) = self.health.lock() else {
            return vec![("(health lock poisoned)".to_string(), 0.0)];
        };
        health
            .iter()
            .filter_map(|(name, h)| {
                let since = h.last_ok.unwrap_or(self.started);
                let age = now.saturating_duration_since(since);
                (age > h.period * STALE_PERIODS).then(|| (name.clone(), age.as_secs_f64()))
            })
            .collect()
    }

    fn respond(&self, path: &str) -> Response<Full<Bytes>> {
        let (status, content_type, body) = match path {
            "/metrics" => (
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                self.render(),
            ),
            "/healthz" => {
                let stale = self.stale();
                if stale.is_empty() {
                    (StatusCode::OK, "text/plain; charset=utf-8", "ok\n".into())
                } else {
                    let mut lines = String::new();
                    for (s, age) in &stale {
                        let _ = writeln!(
                            lines,
                            "{s}: no successful tick for {age:.1} s (limit {STALE_PERIODS} periods)"
                        );
                    }
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "text/plain; charset=utf-8",
                        lines,
                    )
                }
            }
            _ => (
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "not found: try /metrics or /healthz\n".into(),
            ),
        };
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
            response
                .headers_mut()
                .insert(hyper::header::CONTENT_TYPE, value);
        }
        response
    }
}

/// Binds `addr` for [`serve`]; the error names the address.
pub async fn bind(addr: &str) -> Result<TcpListener, String> {
    let parsed: SocketAddr = addr
        .parse()
        .map_err(|e| format!("--metrics-addr {addr:?}: not HOST:PORT ({e})"))?;
    TcpListener::bind(parsed)
        .await
        .map_err(|e| format!("--metrics-addr {addr}: cannot listen ({e})"))
}

/// Serves `/metrics` and `/healthz` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    // Idle or slow connections must not exhaust the process's file descriptors and blind the
    // scaler: at most MAX_CONNECTIONS at once (more are closed as they arrive), each closed
    // CONNECTION_TIMEOUT after it opened, whether or not it sent a request (a scrape takes
    // milliseconds; a scraper's keep-alive connection is reopened).
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "Metrics server: accept failed.");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::debug!(%peer, "Metrics server: too many connections; closing this one.");
            drop(stream);
            continue;
        };
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let response = metrics.respond(req.uri().path());
                async move { Ok::<_, Infallible>(response) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
            match tokio::time::timeout(CONNECTION_TIMEOUT, conn).await {
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "Metrics connection ended with an error.");
                }
                Err(_) => tracing::debug!(%peer, "Metrics connection closed after its time."),
                Ok(Ok(())) => {}
            }
            drop(slot);
        });
    }
}

/// Most connections `/metrics` and `/healthz` serve at once.
pub const MAX_CONNECTIONS: usize = 32;

/// How long one connection may stay open, request or not.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;
    use stepscale_engine::Reason;

    fn decision(desired: u32) -> Decision {
        Decision {
            at_ms: 0,
            previous: 1,
            desired,
            recommended: desired,
            action: Action::ScaleOut,
            reason: Reason::ServiceTimeUnknown { backlog: 5.0 },
            limited_by: None,
            metric: Some(42.0),
        }
    }

    #[test]
    fn a_decision_shows_in_the_text() {
        let m = Metrics::new();
        m.add_service("svc", Duration::from_secs(60));
        m.decided(
            "svc",
            &decision(7),
            ServiceState::settled(1),
            2,
            Duration::from_millis(30),
            1.0e9,
        );
        let text = m.render();
        for line in [
            "stepscale_desired_tasks{service=\"svc\"} 7",
            "stepscale_policy_metric{service=\"svc\"} 42.0",
            "stepscale_backlog_messages{service=\"svc\"} 42.0",
            "stepscale_decisions_total{service=\"svc\",action=\"scale_out\"} 1",
            "stepscale_metric_failures_total{service=\"svc\"} 2",
            "stepscale_tick_duration_seconds_count{service=\"svc\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(m.stale().is_empty());
    }

    #[test]
    fn a_service_is_stale_after_three_periods() {
        let m = Metrics::new();
        m.add_service("slow", Duration::from_millis(10));
        std::thread::sleep(Duration::from_millis(40));
        let stale = m.stale();
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].0, "slow");
        assert_eq!(
            m.respond("/healthz").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        m.decided(
            "slow",
            &decision(2),
            ServiceState::settled(1),
            0,
            Duration::ZERO,
            0.0,
        );
        assert_eq!(m.respond("/healthz").status(), StatusCode::OK);
    }
}
