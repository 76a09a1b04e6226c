//! StepScale's deterministic simulator: traces, a modelled ECS fleet and queue, metrics and plots.
//!
//! The simulator drives the very engine the live runners use ([`stepscale_engine::Controller`]),
//! from a scenario file, in two fidelities: `fluid` (counts per step) and `discrete` (every
//! message). The same inputs and seed give byte-identical outputs.

pub mod arrivals;
pub mod calibrate;
pub mod discrete;
pub mod dist;
pub mod fleet;
pub mod fluid;
pub mod histogram;
pub mod limits;
pub mod model;
pub mod multi;
pub mod output;
pub mod parity;
pub mod plot;
pub mod policy_file;
pub mod reference;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod staged;
pub mod suggest;
pub mod summary;
pub mod synth;
pub mod timefmt;
pub mod trace;
pub mod tune;

pub use run::{Backtest, BacktestError, Overrides};
pub use scenario::{Fidelity, Scenario};
pub use summary::Summary;
