//! What a tick reports: its decision, what reached ECS, the readings and the estimate, each
//! shadow's decision; or why it could not decide or act.

use stepscale_engine::{Decision, Millis, Reading};

use crate::probe::ProbeError;
use crate::state::StateError;

#[cfg(feature = "aws")]
use crate::ecs::{Applied, EcsError};

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
