//! Runners: one decision for one service (what the Lambda and each loop tick do), the
//! long-running loop over several services, dry runs, and recording what was observed.

use std::path::PathBuf;
use std::time::Duration;

use stepscale_engine::{Config, Controller, Decision, Millis, Reading};

use crate::probe::{AnyProbe, ProbeContext, ProbeError};
use crate::record::Recorder;
use crate::state::{AnyStateStore, StateError};

#[cfg(feature = "aws")]
use crate::ecs::{Applied, EcsError, EcsService, ServiceView};

/// Why a tick could not decide or act.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunnerError {
    /// A probe could not be built from the configuration.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// The ECS service could not be read or changed.
    #[cfg(feature = "aws")]
    #[error(transparent)]
    Ecs(#[from] EcsError),
    /// The state could not be loaded or saved.
    #[error(transparent)]
    State(#[from] StateError),
    /// The configuration cannot drive a live run.
    #[error("configuration: {0}")]
    Config(String),
    /// The trace recording could not be written.
    #[error("recording {path}: {detail}")]
    Record {
        /// The file.
        path: PathBuf,
        /// The cause.
        detail: String,
    },
}

/// What one tick did.
#[derive(Debug, Clone)]
pub struct TickReport {
    /// The service.
    pub service: String,
    /// The engine's decision.
    pub decision: Decision,
    /// What reached ECS.
    #[cfg(feature = "aws")]
    pub applied: Applied,
    /// The readings the decision saw.
    pub readings: Vec<Reading>,
    /// The arrival-rate estimate and the forecast behind the decision.
    pub estimate: Estimate,
}

/// The estimator's and the forecast's view at a decision (`slo`, or any policy with a
/// `[forecast]`); all none for policies that keep no estimate.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Estimate {
    /// The smoothed arrival rate λ̂, messages per second.
    pub arrival_rate_per_s: Option<f64>,
    /// The service time learned from the queue, seconds.
    pub learned_service_secs: Option<f64>,
    /// The forecast's peak rate within its lead; none before one full season of history.
    pub forecast_per_s: Option<f64>,
}

impl Estimate {
    /// Reads the estimate off the state after a decision at `now_ms`.
    #[must_use]
    pub fn of(
        state: &stepscale_engine::ScalerState,
        forecast: Option<&stepscale_engine::ForecastParams>,
        now_ms: Millis,
    ) -> Self {
        Self {
            arrival_rate_per_s: state.arrivals.as_ref().and_then(|a| a.rate_per_s),
            learned_service_secs: state
                .arrivals
                .as_ref()
                .and_then(stepscale_engine::estimator::ArrivalEstimate::learned_service_secs),
            forecast_per_s: forecast
                .zip(state.profile.as_ref())
                .and_then(|(f, p)| p.peak_ahead(now_ms, f.lead_secs.saturating_mul(1000))),
        }
    }
}

/// One service under one policy: probes, actuator, state.
pub struct ServiceRunner {
    name: String,
    controller: Controller,
    forecast: Option<stepscale_engine::ForecastParams>,
    probes: Vec<AnyProbe>,
    #[cfg(feature = "aws")]
    ecs: EcsService,
    store: AnyStateStore,
    dry_run: bool,
    recorder: Option<Recorder>,
}

impl ServiceRunner {
    /// Builds the runner for a validated `config`.
    #[cfg(feature = "aws")]
    pub fn new(
        config: &Config,
        ctx: &ProbeContext,
        store: AnyStateStore,
        dry_run: bool,
        recorder: Option<Recorder>,
    ) -> Result<Self, RunnerError> {
        let cluster = config
            .service
            .cluster
            .clone()
            .ok_or(EcsError::NotConfigured("cluster"))?;
        let service = config
            .service
            .name
            .clone()
            .ok_or(EcsError::NotConfigured("service name"))?;
        if config.queues.is_empty() {
            return Err(RunnerError::Config(
                "no queue configured: set QUEUE_TYPE and its variables, or [[queues]]".into(),
            ));
        }
        let probes = config
            .queues
            .iter()
            .map(|q| AnyProbe::from_config(q, ctx))
            .collect::<Result<Vec<_>, _>>()?;
        let sdk = ctx
            .aws
            .as_ref()
            .ok_or_else(|| RunnerError::Config("the AWS configuration was not loaded".into()))?;
        Ok(Self {
            ecs: EcsService::new(sdk, cluster, service.clone()),
            name: service,
            controller: config.controller(),
            forecast: config.forecast.clone(),
            probes,
            store,
            dry_run,
            recorder,
        })
    }

    /// The service's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    async fn read_all(&self) -> Vec<Reading> {
        let mut readings = Vec::with_capacity(self.probes.len());
        for probe in &self.probes {
            readings.push(probe.reading().await);
        }
        readings
    }

    /// Decides once at `now_ms` and acts. The state is claimed with a conditional write
    /// before ECS is touched: of two overlapping invocations only one acts; the other
    /// re-reads and decides again once, then stands down.
    #[cfg(feature = "aws")]
    pub async fn tick(&mut self, now_ms: Millis) -> Result<TickReport, RunnerError> {
        let mut view: ServiceView = self.ecs.describe().await?;
        let readings = self.read_all().await;
        for failed in readings.iter().filter_map(|r| r.as_ref().err()) {
            tracing::warn!(service = %self.name, error = %failed.message, "Metric read failed: holding, never read as zero.");
        }
        let mut retried = false;
        loop {
            let loaded = self.store.load(now_ms).await?;
            let mut state = loaded.state;
            let decision = self
                .controller
                .tick(&now_ms, &readings, view.state, &mut state);
            let estimate = Estimate::of(&state, self.forecast.as_ref(), now_ms);
            let report = |applied| TickReport {
                service: self.name.clone(),
                decision,
                applied,
                readings: readings.clone(),
                estimate,
            };
            // A dry run, or a scale-in suppressed by a deployment, acts on nothing, so it
            // claims (and records) nothing in the state either.
            let suppressed =
                decision.action == stepscale_engine::Action::ScaleIn && view.deployment_in_progress;
            if !self.dry_run && !suppressed {
                match self.store.save(&state, loaded.version.as_deref()).await {
                    Ok(_) => {}
                    Err(StateError::Conflict { location }) if !retried => {
                        tracing::info!(service = %self.name, %location, "State changed under us: re-reading and deciding again.");
                        retried = true;
                        view = self.ecs.describe().await?;
                        continue;
                    }
                    Err(StateError::Conflict { location }) => {
                        tracing::warn!(service = %self.name, %location, "Another invocation acted: standing down.");
                        return Ok(report(Applied::StoodDown));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let applied = self.ecs.apply(&view, &decision, self.dry_run).await?;
            let report = report(applied);
            self.record(now_ms, &readings, &view, &decision)?;
            return Ok(report);
        }
    }

    #[cfg(feature = "aws")]
    fn record(
        &mut self,
        now_ms: Millis,
        readings: &[Reading],
        view: &ServiceView,
        decision: &Decision,
    ) -> Result<(), RunnerError> {
        if let Some(rec) = &mut self.recorder {
            rec.observe(now_ms, readings, view.state, decision)?;
        }
        Ok(())
    }
}

/// Runs `runners` every `period` until ctrl-c or SIGTERM (a tick in progress finishes
/// first), or once with `once`. Returns how many services failed in the last round.
#[cfg(feature = "aws")]
pub async fn run_loop(runners: &mut [ServiceRunner], period: Duration, once: bool) -> LoopOutcome {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            // A signal that came during the tick just run wins over a tick already due.
            biased;
            () = &mut shutdown => {
                tracing::info!("Shutting down.");
                return LoopOutcome::default();
            }
            _ = interval.tick() => {}
        }
        let now_ms = wall_clock_ms();
        let mut outcome = LoopOutcome::default();
        for runner in runners.iter_mut() {
            match runner.tick(now_ms).await {
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
        }
        if once {
            return outcome;
        }
    }
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
