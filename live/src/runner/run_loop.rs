//! The long-running loop: every service on its own period, reads bounded by a timeout,
//! each tick logged and reported to `/metrics`, until ctrl-c or SIGTERM.

#[cfg(feature = "metrics")]
use std::sync::Arc;
use std::time::Duration;

use stepscale_engine::Millis;

#[cfg(feature = "aws")]
use super::{RunnerError, ServiceRunner, TickReport};

/// How [`run_loop`] runs.
#[derive(Clone)]
pub struct LoopOptions {
    /// Time between one service's ticks.
    pub period: Duration,
    /// Tick each service once, then return.
    pub once: bool,
    /// Where each tick is reported for `/metrics` and `/healthz`.
    #[cfg(feature = "metrics")]
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
}

/// Runs every service on its own `period` until ctrl-c or SIGTERM (a tick in progress
/// finishes first), or once each with `once`. Services tick independently and concurrently,
/// so one whose queue hangs or whose tick is slow never delays another. Returns how many
/// services failed, or were blind, in their last tick (`once`), or nothing to report after a
/// signal.
#[cfg(feature = "aws")]
pub async fn run_loop(runners: Vec<ServiceRunner>, options: LoopOptions) -> LoopOutcome {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let shutdown = shutdown_signal();
    let signals = tokio::spawn(async move {
        shutdown.await;
        tracing::info!("Shutting down: ticks in progress finish first.");
        let _ = stop_tx.send(true);
    });
    let mut services = tokio::task::JoinSet::new();
    for runner in runners {
        #[cfg(feature = "metrics")]
        if let Some(m) = &options.metrics {
            m.add_service(runner.name(), options.period);
        }
        services.spawn(service_loop(runner, options.clone(), stop_rx.clone()));
    }
    let mut outcome = LoopOutcome::default();
    while let Some(done) = services.join_next().await {
        match done {
            Ok(o) => {
                outcome.failed += o.failed;
                outcome.blind += o.blind;
            }
            Err(e) => {
                outcome.failed += 1;
                tracing::error!(error = %e, "A service's loop ended abnormally.");
            }
        }
    }
    signals.abort();
    if !options.once {
        tracing::info!("Stopped.");
    }
    outcome
}

/// One service's loop: its own interval, until the stop signal.
#[cfg(feature = "aws")]
async fn service_loop(
    mut runner: ServiceRunner,
    options: LoopOptions,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> LoopOutcome {
    let mut interval = tokio::time::interval(options.period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            // A signal that came during the tick just run wins over a tick already due.
            biased;
            _ = stop.wait_for(|stopped| *stopped) => return LoopOutcome::default(),
            _ = interval.tick() => {}
        }
        let started = std::time::Instant::now();
        let now_ms = wall_clock_ms();
        let result = runner.tick(now_ms).await;
        let outcome = report_tick(&runner, &result);
        #[cfg(feature = "metrics")]
        if let Some(m) = &options.metrics {
            let took = started.elapsed();
            match &result {
                Ok(r) => {
                    let failed_reads = r.readings.iter().filter(|x| x.is_err()).count();
                    m.decided(
                        &r.service,
                        &r.decision,
                        r.fleet,
                        failed_reads,
                        took,
                        now_ms as f64 / 1000.0,
                    );
                    for s in &r.shadows {
                        if let Some(d) = s.decision {
                            m.shadow(&r.service, &s.name, d.desired);
                        }
                    }
                }
                Err(_) => m.tick_failed(runner.name(), took),
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = started;
        if options.once {
            return outcome;
        }
    }
}

/// Logs one tick: a change of the desired count at info, a hold at debug, a failure at error.
#[cfg(feature = "aws")]
fn report_tick(runner: &ServiceRunner, result: &Result<TickReport, RunnerError>) -> LoopOutcome {
    let mut outcome = LoopOutcome::default();
    match result {
        Ok(r) if !r.readings.is_empty() && r.readings.iter().all(Result::is_err) => {
            outcome.blind += 1;
            tracing::warn!(
                service = %r.service,
                desired = r.decision.desired,
                reason = %r.decision.reason,
                "Every metric read failed: the engine held."
            );
        }
        Ok(r) => tracing::info!(
            service = %r.service,
            arrival_rate_per_s = r.estimate.arrival_rate_per_s,
            learned_service_secs = r.estimate.learned_service_secs,
            forecast_per_s = r.estimate.forecast_per_s,
            previous = r.decision.previous,
            desired = r.decision.desired,
            action = %r.decision.action,
            limited_by = r.decision.limited_by.map(stepscale_engine::Limit::as_str),
            applied = ?r.applied,
            reason = %r.decision.reason,
            "Decided."
        ),
        Err(e) => {
            outcome.failed += 1;
            tracing::error!(service = %runner.name(), error = %e, "Tick failed: nothing scaled.");
        }
    }
    if let Ok(r) = result {
        for s in &r.shadows {
            if let Some(d) = &s.decision {
                tracing::info!(
                    service = %r.service,
                    shadow = %s.name,
                    desired = d.desired,
                    action = %d.action,
                    limited_by = d.limited_by.map(stepscale_engine::Limit::as_str),
                    reason = %d.reason,
                    "Shadow decided (not acted on)."
                );
            }
        }
    }
    outcome
}

/// What the last round of ticks came to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoopOutcome {
    /// Services whose tick failed (nothing scaled).
    pub failed: usize,
    /// Services whose every metric read failed, so the engine held.
    pub blind: usize,
}

/// Resolves on ctrl-c or SIGTERM. The handlers are installed at the call, not at the first
/// poll: until then a signal meets its default action, which kills the process mid-tick.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        signal(SignalKind::terminate())
            .ok()
            .zip(signal(SignalKind::interrupt()).ok())
    };
    async move {
        #[cfg(unix)]
        if let Some((mut term, mut interrupt)) = signals {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The live wall clock, in milliseconds since the epoch: the one place live reads time.
#[must_use]
pub fn wall_clock_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}
