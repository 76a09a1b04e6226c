//! StepScale's pure scaling engine: observations in, a decision and the next state out; no I/O, no wall clock.
//!
//! The same [`Controller`] runs under the simulator and under the live runners, so a policy
//! that was backtested is the policy that runs. Time comes only through a [`Clock`].

pub mod budget;
pub mod clock;
pub mod config;
pub mod controller;
pub mod decision;
pub mod estimator;
pub mod forecast;
pub mod guards;
pub mod observation;
pub mod policy;
pub mod queueing;
pub mod state;
pub mod time;

pub use budget::{BudgetSpec, Budgets};
pub use clock::{Clock, ManualClock, Millis};
pub use config::{Config, ConfigError, ShadowSpec};
pub use controller::Controller;
pub use decision::{Action, Decision, Limit, Reason};
pub use forecast::ForecastParams;
pub use guards::{FailureFallback, Guards};
pub use observation::{QueueSample, ReadFailure, Reading, ServiceState};
pub use policy::PolicySpec;
pub use state::ScalerState;
