//! What both fidelities share: the prepared run, what a run gives back (rows, ticks, the
//! outcome), and the parts that make them: the controller's schedule, the row recorder and its
//! plot envelope, the summary's statistics and the CSV writer.

mod csv;
mod envelope;
pub mod lockstep;
mod recorder;
mod schedule;
mod stats;

use stepscale_engine::Action;

use crate::arrivals::{Arrivals, Micros};
use crate::scenario::{ControllerSpec, Plant};
pub use csv::{csv_line, CSV_HEADER};
pub use envelope::{Envelope, ENVELOPE_ROWS};
pub use recorder::{RowRecorder, RowSink, Series, Snapshot};
pub use schedule::Control;
pub use stats::{Bursts, Reactions, StepStats, BURST_WINDOW_S};

/// Everything a run needs, resolved from the scenario.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Arrivals.
    pub arrivals: Arrivals,
    /// First instant simulated.
    pub start_us: Micros,
    /// End of the arrivals.
    pub arrivals_end_us: Micros,
    /// Hard stop: arrivals end plus the drain limit.
    pub hard_end_us: Micros,
    /// Fluid step.
    pub step_us: Micros,
    /// Time-series resolution.
    pub resolution_us: Micros,
    /// The plant.
    pub plant: Plant,
    /// The controller schedule.
    pub schedule: ControllerSpec,
    /// Tasks at the start.
    pub initial_tasks: u32,
    /// SLO on the oldest message's age.
    pub slo_us: Micros,
    /// The seed.
    pub seed: u64,
    /// Decide at these instants instead of every period (the parity check replays a live
    /// run's own tick times); none for the regular schedule.
    pub tick_times_us: Option<Vec<Micros>>,
    /// With [`Prepared::tick_times_us`]: when the queue was read for each tick (a live run
    /// reads after its tick starts). The replay samples the queue then and acts then, with the
    /// engine's clock at the tick's own time, as the live runner decides.
    pub read_times_us: Option<Vec<Micros>>,
    /// Keep every decision in [`Outcome::ticks`] (the parity check compares them with a live
    /// run's); off for backtests and tuning, which need only the counts.
    pub keep_ticks: bool,
    /// Keep the messages processed per second in [`Outcome::completions`] (a pipeline feeds
    /// them to the next stage).
    pub keep_completions: bool,
    /// The fluid model steps every second, never integrating a stretch the fleet keeps up
    /// with in one go: the plain stepped model, which the spans are checked and timed against
    /// (`sim/tests/fluid_spans.rs`, `cargo bench --bench tune`). Off everywhere else.
    pub fluid_every_step: bool,
    /// The shared budgets this service decides under, with the services it shares them with.
    pub lockstep: Option<lockstep::Member>,
    /// Shadow policies decided beside the acting one at every kept tick, on the same sample
    /// and fleet, never acted on (as `stepscale run` decides a live policy's `[[shadow]]`);
    /// their decisions go to [`Outcome::shadow_desired`]. Only with [`Prepared::keep_ticks`].
    pub shadows: Vec<stepscale_engine::Controller>,
}

/// One decision of the simulated controller, as `stepscale run --record` writes a live one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TickRecord {
    /// When the decision was made.
    pub at_us: Micros,
    /// Visible messages the controller saw.
    pub visible: u64,
    /// Messages in flight the controller saw.
    pub in_flight: u64,
    /// The desired count before the decision.
    pub previous: u32,
    /// The desired count decided.
    pub desired: u32,
    /// Running tasks before the decision.
    pub running: u32,
    /// Pending tasks before the decision.
    pub pending: u32,
    /// The action.
    pub action: Action,
}

/// One row of the time series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// End of the interval.
    pub t_us: Micros,
    /// Messages that arrived in the interval.
    pub arrivals: f64,
    /// The most visible messages at any step of the interval ending at `t`.
    pub backlog: f64,
    /// Messages being processed at `t`.
    pub in_flight: f64,
    /// Desired count at `t`.
    pub desired: u32,
    /// Running tasks at `t`.
    pub running: u32,
    /// Pending tasks at `t`.
    pub pending: u32,
    /// The last decision in the interval, if one was made.
    pub action: Option<Action>,
    /// The oldest visible message's largest age in the interval ending at `t`, in seconds.
    pub oldest_age_s: f64,
    /// Ideal tasks for the interval: ceil(arrival rate / per-task throughput).
    pub demand: u32,
    /// Task-hours billed from the start to `t` (for the cumulative cost; not in the CSV).
    pub task_hours: f64,
}

/// What a run produced, before the summary.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The time series, when the run kept it ([`RowSink::Keep`]); empty otherwise.
    pub rows: Vec<Row>,
    /// At most [`ENVELOPE_ROWS`] buckets of rows, each kept as the field-wise maximum and
    /// minimum of its rows: what the plots draw, in every sink mode.
    pub envelope: Envelope,
    /// The summary's time averages, gathered on the simulation's own steps.
    pub stats: StepStats,
    /// Why the CSV sink stopped writing, if it did.
    pub write_error: Option<String>,
    /// Fluid model: the seconds stepped one by one (the rest were integrated in spans the
    /// fleet kept up with); 0 in discrete mode.
    pub stepped_steps: u64,
    /// Waits (first receive − arrival).
    pub waits: crate::histogram::WaitHistogram,
    /// Messages that arrived.
    pub messages: f64,
    /// Messages processed.
    pub processed: f64,
    /// Messages returned to the queue (visibility timeout after a stop or crash).
    pub redeliveries: f64,
    /// Largest visible backlog seen (at any step or event).
    pub backlog_max: f64,
    /// Task-hours billed.
    pub task_hours: f64,
    /// Seconds the oldest message was older than the SLO.
    pub slo_violation_s: f64,
    /// Decisions that raised the count.
    pub scale_out_actions: u64,
    /// Decisions that lowered the count.
    pub scale_in_actions: u64,
    /// Changes of direction between consecutive scaling actions.
    pub direction_flips: u64,
    /// Decisions made.
    pub decisions: u64,
    /// Last simulated instant.
    pub end_us: Micros,
    /// Whether the queue emptied before the drain limit (false: the run was cut off with
    /// messages left).
    pub drained: bool,
    /// Every decision, when [`Prepared::keep_ticks`] asked for them; empty otherwise.
    pub ticks: Vec<TickRecord>,
    /// What each of [`Prepared::shadows`] would have set at each kept tick: tick by tick, one
    /// count a shadow (`ticks.len() × shadows.len()` counts).
    pub shadow_desired: Vec<u32>,
    /// How fast the fleet answered bursts.
    pub reactions: Reactions,
    /// Messages processed per second from the start, when [`Prepared::keep_completions`]
    /// asked for them.
    pub completions: Option<Vec<f64>>,
}
