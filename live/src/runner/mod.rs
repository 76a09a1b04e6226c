//! Runners: one decision for one service (what the Lambda and each loop tick do), with dry
//! runs, shadow policies and recording what was observed; what a tick reports (`report`); and
//! the long-running loop over several services (`run_loop`).

mod report;
mod run_loop;

pub use report::{Estimate, RunnerError, ShadowDecision, TickReport};
#[cfg(feature = "aws")]
pub use run_loop::run_loop;
pub use run_loop::{wall_clock_ms, LoopOptions, LoopOutcome};

use std::time::Duration;

#[cfg(feature = "aws")]
use stepscale_engine::state::Claim;
#[cfg(feature = "aws")]
use stepscale_engine::Decision;
#[cfg(feature = "aws")]
use stepscale_engine::ScalerState;
use stepscale_engine::{Config, Controller, Millis, Reading};

use crate::probe::{AnyProbe, ProbeContext};
use crate::record::TraceRecorder;
use crate::state::AnyStateStore;
#[cfg(feature = "aws")]
use crate::state::StateError;

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

/// A policy decided beside the acting one on the same readings, with its own state.
struct Shadow {
    name: String,
    controller: Controller,
    store: AnyStateStore,
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
    /// The budgets this service shares with others of the same `run` (see
    /// [`stepscale_engine::budget`]), held from decision to action so no two members act on
    /// the same room.
    budget: Option<SharedBudgets>,
}

/// The budgets of one `run`, shared by its services' loops.
pub type SharedBudgets = std::sync::Arc<tokio::sync::Mutex<stepscale_engine::Budgets>>;

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
            budget: None,
        })
    }

    /// Puts this service under the shared `budgets` (it must be one of their members).
    #[must_use]
    pub fn with_budget(mut self, budgets: SharedBudgets) -> Self {
        self.budget = Some(budgets);
        self
    }

    /// The service's desired count now, as ECS (or a dry run's `--desired`) gives it: what a
    /// budget starts from.
    #[cfg(feature = "aws")]
    pub async fn current_desired(&self) -> Result<u32, RunnerError> {
        Ok(self.describe().await?.state.desired)
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
        // The reads that do not depend on each other go out at once. When the queue was read
        // (the middle of its round trips) goes in the record: a replay samples the queue then.
        let began = std::time::Instant::now();
        let timed_reads = async {
            let readings = self.read_all().await;
            let read_ms = u64::try_from(began.elapsed().as_millis() / 2).unwrap_or(u64::MAX);
            (readings, read_ms)
        };
        let (view, (readings, read_ms), first_load) =
            tokio::join!(self.describe(), timed_reads, self.store.load(now_ms));
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
        // Held until the action is taken: the room this decision takes is then booked.
        let budget = self.budget.clone();
        let mut ledger = match &budget {
            Some(b) => Some(b.lock().await),
            None => None,
        };
        let mut retried = false;
        loop {
            let loaded = match first_load.take() {
                Some(l) => l,
                None => self.store.load(now_ms).await?,
            };
            let mut state = loaded.state;
            self.release_unapplied_claim(&mut state, view.state.desired, now_ms);
            let before = state.cooldown_times();
            let (decision, want) = match ledger.as_deref_mut() {
                None => {
                    let d = self
                        .controller
                        .tick(&now_ms, &readings, view.state, &mut state);
                    (d, d.desired)
                }
                Some(ledger) => {
                    // ECS is the truth about this service's count (a person may have set it).
                    ledger.set_desired(&self.name, view.state.desired);
                    stepscale_engine::budget::decide_within(
                        &self.controller,
                        &now_ms,
                        &readings,
                        view.state,
                        &mut state,
                        |_| ledger.cap(&self.name).map(|c| c.tasks),
                    )
                }
            };
            if decision.limited_by == Some(stepscale_engine::Limit::Budget) {
                tracing::info!(service = %self.name, wanted = want, desired = decision.desired, "A shared budget cut the decision.");
            }
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
            if let Some(ledger) = ledger.as_deref_mut() {
                let holds = match applied {
                    Applied::Updated(n) => n,
                    _ => view.state.desired,
                };
                ledger.commit(&self.name, want, holds);
            }
            drop(ledger);
            let mut report = report(applied);
            report.shadows = self.decide_shadows(now_ms, &readings, view.state).await;
            let shadow_desired: Vec<Option<u32>> = report
                .shadows
                .iter()
                .map(|s| s.decision.map(|d| d.desired))
                .collect();
            self.append_to_trace(
                (now_ms, read_ms),
                &readings,
                &view,
                &decision,
                &shadow_desired,
            )?;
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
        (now_ms, read_ms): (Millis, u64),
        readings: &[Reading],
        view: &ServiceView,
        decision: &Decision,
        shadow_desired: &[Option<u32>],
    ) -> Result<(), RunnerError> {
        if let Some(rec) = &mut self.recorder {
            rec.observe(
                (now_ms, read_ms),
                readings,
                view.state,
                decision,
                shadow_desired,
            )?;
        }
        Ok(())
    }
}
