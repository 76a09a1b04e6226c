//! Runners: one decision for one service (what the Lambda and each loop tick do), the
//! long-running loop over several services, dry runs, shadow policies, and recording what was
//! observed.

#[cfg(feature = "metrics")]
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "aws")]
use stepscale_engine::state::Claim;
#[cfg(feature = "aws")]
use stepscale_engine::ScalerState;
use stepscale_engine::{Config, Controller, Decision, Millis, Reading};

use crate::probe::{AnyProbe, ProbeContext, ProbeError};
use crate::record::TraceRecorder;
use crate::state::{AnyStateStore, StateError};

#[cfg(feature = "aws")]
use crate::ecs::{Applied, EcsError, EcsService, ServiceView};

/// How long after a claim a tick waits before it takes ECS still at the claim's starting
/// count to mean that the claim's action never reached ECS (its writer may still be acting).
pub const CLAIM_GRACE_MS: Millis = 15_000;

/// An id for one tick's claim, unique across processes and ticks: the process id, the time in
/// nanoseconds and a counter.
#[cfg(feature = "aws")]
fn claim_id() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:x}-{nanos:x}-{n:x}", std::process::id())
}

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
    /// A password given by reference could not be read.
    #[cfg(feature = "aws")]
    #[error(transparent)]
    Secret(#[from] crate::secret_store::SecretError),
    /// The configuration cannot drive a live run.
    #[error("configuration: {0}")]
    Config(String),
    /// The trace recording could not be written.
    #[error(transparent)]
    Record(#[from] crate::record::RecordError),
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
    /// The ECS counts the decision saw.
    pub fleet: stepscale_engine::ServiceState,
    /// The arrival-rate estimate and the forecast behind the decision.
    pub estimate: Estimate,
    /// What each shadow policy would have set, in the order they were configured.
    pub shadows: Vec<ShadowDecision>,
}

/// One shadow policy's decision at a tick: never acted on.
#[derive(Debug, Clone)]
pub struct ShadowDecision {
    /// The shadow's name.
    pub name: String,
    /// Its decision; none when its state could not be read (the failure is logged).
    pub decision: Option<Decision>,
}

/// A policy decided beside the acting one on the same readings, with its own state.
struct Shadow {
    name: String,
    controller: Controller,
    store: AnyStateStore,
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
    /// A dry run's fleet, given instead of read from ECS (`run --dry-run --desired N`).
    given_fleet: Option<stepscale_engine::ServiceState>,
    recorder: Option<TraceRecorder>,
    shadows: Vec<Shadow>,
    read_timeout: Duration,
}

/// How long one queue read may take before it counts as failed, unless the loop sets it.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(20);

impl ServiceRunner {
    /// Builds the runner for a validated `config`.
    #[cfg(feature = "aws")]
    pub fn new(
        config: &Config,
        ctx: &ProbeContext,
        store: AnyStateStore,
        dry_run: bool,
        recorder: Option<TraceRecorder>,
    ) -> Result<Self, RunnerError> {
        let id = config
            .service
            .identity(config.region.as_deref())
            .map_err(EcsError::NotConfigured)?;
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
            ecs: EcsService::new(sdk, id.cluster, id.service.clone()),
            name: id.service,
            controller: config.controller(),
            forecast: config.forecast.clone(),
            probes,
            store,
            dry_run,
            given_fleet: None,
            recorder,
            shadows: Vec::new(),
            read_timeout: DEFAULT_READ_TIMEOUT,
        })
    }

    /// Makes this a dry run that decides against this desired count (all running) instead of
    /// asking ECS, and reads the state only if it can be read (an unreadable state is an empty
    /// one: the dry run writes nothing). With sources that are not AWS services, the tick then
    /// makes no AWS call at all. A given count never reaches ECS: the runner is a dry run from
    /// here on, whatever it was built as.
    #[must_use]
    pub fn with_given_desired(mut self, desired: u32) -> Self {
        self.given_fleet = Some(stepscale_engine::ServiceState::settled(desired));
        self.dry_run = true;
        self
    }

    /// Adds a shadow policy: `config` is the service's configuration for it
    /// ([`Config::for_shadow`]), `store` its own state.
    #[must_use]
    pub fn with_shadow(mut self, name: &str, config: &Config, store: AnyStateStore) -> Self {
        self.shadows.push(Shadow {
            name: name.to_string(),
            controller: config.controller(),
            store,
        });
        self
    }

    /// Bounds each queue read: one that has not answered by then is a failed read (the engine
    /// holds), so a hanging queue delays its own service's tick by at most this much.
    #[must_use]
    pub fn with_read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// The shadows' names, in order.
    pub fn shadow_names(&self) -> impl Iterator<Item = &str> {
        self.shadows.iter().map(|s| s.name.as_str())
    }

    /// The service's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads every source at once, each bounded by the read timeout.
    async fn read_all(&self) -> Vec<Reading> {
        let timeout = self.read_timeout;
        futures_util::future::join_all(self.probes.iter().map(|probe| async move {
            tokio::time::timeout(timeout, probe.reading())
                .await
                .unwrap_or_else(|_| {
                    Err(stepscale_engine::ReadFailure::new(format!(
                        "no answer within {:.1} s",
                        timeout.as_secs_f64()
                    )))
                })
        }))
        .await
    }

    /// Decides every shadow on the same readings and fleet, each with its own state; saves
    /// that state unless this is a dry run. A shadow's failure is logged, never the tick's.
    #[cfg(feature = "aws")]
    async fn decide_shadows(
        &mut self,
        now_ms: Millis,
        readings: &[Reading],
        fleet: stepscale_engine::ServiceState,
    ) -> Vec<ShadowDecision> {
        let mut out = Vec::with_capacity(self.shadows.len());
        for shadow in &mut self.shadows {
            let loaded = match shadow.store.load(now_ms).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(service = %self.name, shadow = %shadow.name, error = %e, "Shadow state unreadable: no shadow decision this tick.");
                    out.push(ShadowDecision {
                        name: shadow.name.clone(),
                        decision: None,
                    });
                    continue;
                }
            };
            let mut state = loaded.state;
            let decision = shadow.controller.tick(&now_ms, readings, fleet, &mut state);
            if !self.dry_run {
                if let Err(e) = shadow.store.save(&state, loaded.version.as_deref()).await {
                    tracing::warn!(service = %self.name, shadow = %shadow.name, error = %e, "Shadow state not saved.");
                }
            }
            out.push(ShadowDecision {
                name: shadow.name.clone(),
                decision: Some(decision),
            });
        }
        out
    }

    /// Decides once at `now_ms` and acts. The state is claimed with a conditional write
    /// before ECS is touched: of two overlapping invocations only one acts; the other
    /// re-reads and decides again once, then stands down.
    ///
    /// The claim carries an id unique to this attempt ([`Claim`]), so a write that succeeded
    /// but whose answer was lost (the SDK's retry then gets 412) is recognised as this tick's
    /// own and acted on. A claimed action that does not reach ECS (`UpdateService` fails) is
    /// taken back at once; if even that write fails, the next tick finds the claim unapplied
    /// (ECS still at its `from` count after [`CLAIM_GRACE_MS`]) and releases its cooldowns
    /// before deciding. Either way a scale-out is never lost to a whole cooldown.
    #[cfg(feature = "aws")]
    pub async fn tick(&mut self, now_ms: Millis) -> Result<TickReport, RunnerError> {
        // The reads that do not depend on each other go out at once.
        let (view, readings, first_load) =
            tokio::join!(self.describe(), self.read_all(), self.store.load(now_ms));
        let mut view: ServiceView = view?;
        let first_load = match first_load {
            Err(e) if self.given_fleet.is_some() => {
                tracing::warn!(service = %self.name, error = %e, "Dry run: the state could not be read; deciding from an empty state.");
                Ok(crate::state::Loaded {
                    state: ScalerState::default(),
                    version: None,
                    source: crate::state::StateSource::Empty,
                })
            }
            other => other,
        };
        let mut first_load = Some(first_load?);
        for failed in readings.iter().filter_map(|r| r.as_ref().err()) {
            tracing::warn!(service = %self.name, error = %failed.message, "Metric read failed: holding, never read as zero.");
        }
        let mut retried = false;
        loop {
            let loaded = match first_load.take() {
                Some(l) => l,
                None => self.store.load(now_ms).await?,
            };
            let mut state = loaded.state;
            self.release_unapplied_claim(&mut state, view.state.desired, now_ms);
            let before = state.cooldown_times();
            let decision = self
                .controller
                .tick(&now_ms, &readings, view.state, &mut state);
            let estimate = Estimate::of(&state, self.forecast.as_ref(), now_ms);
            let report = |applied| TickReport {
                service: self.name.clone(),
                decision,
                applied,
                readings: readings.clone(),
                fleet: view.state,
                estimate,
                shadows: Vec::new(),
            };
            // A dry run, or a scale-in suppressed by a deployment, acts on nothing, so it
            // claims (and records) nothing in the state either.
            let suppressed =
                decision.action == stepscale_engine::Action::ScaleIn && view.deployment_in_progress;
            let mut claimed_version = None;
            if !self.dry_run && !suppressed {
                let id = claim_id();
                state.claim = Some(Claim {
                    id: id.clone(),
                    at_ms: now_ms,
                    from: view.state.desired,
                    to: decision.desired,
                    before,
                });
                match self.store.save(&state, loaded.version.as_deref()).await {
                    Ok(v) => claimed_version = Some(v),
                    Err(StateError::Conflict { location }) => {
                        // Someone else's write, or this tick's own whose answer was lost.
                        let again = self.store.load(now_ms).await?;
                        if again.state.claim.as_ref().is_some_and(|c| c.id == id) {
                            tracing::info!(service = %self.name, %location, "The state holds this tick's own claim (a write retried after it had succeeded): acting on it.");
                            claimed_version = again.version;
                        } else if !retried {
                            tracing::info!(service = %self.name, %location, "State changed under us: re-reading and deciding again.");
                            retried = true;
                            view = self.describe().await?;
                            first_load = Some(again);
                            continue;
                        } else {
                            tracing::warn!(service = %self.name, %location, "Another invocation acted: standing down.");
                            return Ok(report(Applied::StoodDown));
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let applied = match self.ecs.apply(&view, &decision, self.dry_run).await {
                Ok(applied) => applied,
                Err(e) => {
                    self.take_back(state, claimed_version.as_deref()).await;
                    return Err(e.into());
                }
            };
            let mut report = report(applied);
            report.shadows = self.decide_shadows(now_ms, &readings, view.state).await;
            let shadow_desired: Vec<Option<u32>> = report
                .shadows
                .iter()
                .map(|s| s.decision.map(|d| d.desired))
                .collect();
            self.append_to_trace(now_ms, &readings, &view, &decision, &shadow_desired)?;
            return Ok(report);
        }
    }

    /// The service as ECS describes it, or as a dry run was given it.
    #[cfg(feature = "aws")]
    async fn describe(&self) -> Result<ServiceView, EcsError> {
        match self.given_fleet {
            Some(state) => Ok(ServiceView {
                state,
                deployment_in_progress: false,
            }),
            None => self.ecs.describe().await,
        }
    }

    /// Releases the claim in `state` when its action never reached ECS: ECS's desired count is
    /// still the claim's `from`, [`CLAIM_GRACE_MS`] after the claim (time for its writer to
    /// finish acting).
    #[cfg(feature = "aws")]
    fn release_unapplied_claim(&self, state: &mut ScalerState, desired: u32, now_ms: Millis) {
        let unapplied = state.claim.as_ref().is_some_and(|c| {
            c.from != c.to && desired == c.from && now_ms.saturating_sub(c.at_ms) >= CLAIM_GRACE_MS
        });
        if !unapplied {
            return;
        }
        if let Some(c) = state.release_claim() {
            tracing::warn!(service = %self.name, claim = %c.id, from = c.from, to = c.to, "A claimed action never reached ECS (its desired count is still the claim's starting count): its cooldown is released and the decision made again.");
        }
    }

    /// After `UpdateService` failed: writes `state` back with its claim released, so the next
    /// tick decides without the failed action's cooldown. A failed write is logged; the next
    /// tick then releases the claim itself.
    #[cfg(feature = "aws")]
    async fn take_back(&self, mut state: ScalerState, version: Option<&str>) {
        let Some(version) = version else { return };
        let Some(claim) = state.release_claim() else {
            return;
        };
        match self.store.save(&state, Some(version)).await {
            Ok(_) => {
                tracing::warn!(service = %self.name, claim = %claim.id, from = claim.from, to = claim.to, "The action did not reach ECS: its claim is taken back, so the next tick decides without its cooldown.");
            }
            Err(e) => {
                tracing::warn!(service = %self.name, claim = %claim.id, error = %e, "The action did not reach ECS and its claim could not be taken back: the next tick releases it once ECS still shows the starting count.");
            }
        }
    }

    #[cfg(feature = "aws")]
    fn append_to_trace(
        &mut self,
        now_ms: Millis,
        readings: &[Reading],
        view: &ServiceView,
        decision: &Decision,
        shadow_desired: &[Option<u32>],
    ) -> Result<(), RunnerError> {
        if let Some(rec) = &mut self.recorder {
            rec.observe(now_ms, readings, view.state, decision, shadow_desired)?;
        }
        Ok(())
    }
}

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
