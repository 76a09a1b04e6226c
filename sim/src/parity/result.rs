//! What a parity check produces: the live ticks, each beside its replayed twin, and the
//! figures of their agreement; plots and writers take these.

use serde::Serialize;
use stepscale_engine::Action;

use crate::arrivals::Micros;
use crate::model::TickRecord;

/// One recorded live decision.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveTick {
    /// When it was made.
    pub at_us: Micros,
    /// Messages that arrived since the previous row with readings (none: reads failed).
    pub arrivals: Option<f64>,
    /// Whether `arrivals` is only the rise of the backlog (a probe without an arrival rate):
    /// a lower bound. False when the record has no such column.
    pub arrivals_estimated: bool,
    /// Visible messages seen (none: every read failed).
    pub visible: Option<u64>,
    /// In-flight messages seen.
    pub in_flight: Option<u64>,
    /// The desired count ECS had before the decision.
    pub desired: u32,
    /// Running tasks ECS reported before the decision (none: not in the record).
    pub running: Option<u32>,
    /// Pending tasks ECS reported before the decision (none: not in the record).
    pub pending: Option<u32>,
    /// The action decided.
    pub action: Action,
    /// When the queue was read, milliseconds after `at_us` (none: a record from before the
    /// column, read as at `at_us`).
    pub read_ms: Option<u64>,
    /// What each shadow policy would have set (none: it did not decide), in the record's
    /// column order.
    pub shadow_desired: Vec<Option<u32>>,
}

/// One compared tick.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparedTick {
    /// The live tick.
    pub live: LiveTick,
    /// The simulated tick it is compared with.
    pub sim: TickRecord,
}

/// The agreement between a live run and its replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParityReport {
    /// The recorded run.
    pub record: String,
    /// The scenario.
    pub scenario: String,
    /// The policy kind.
    pub policy: String,
    /// Where the replayed arrivals came from.
    pub arrivals: String,
    /// Live decisions compared.
    pub ticks: usize,
    /// Live decisions not compared because every read failed.
    pub ticks_failed_reads: usize,
    /// Share of compared decisions with the same action.
    pub same_action_share: f64,
    /// Largest |live − simulated| desired count before a decision.
    pub max_desired_gap: u32,
    /// Seconds from the first tick where that gap was first reached.
    pub max_desired_gap_at_s: f64,
    /// Live scale-outs and scale-ins.
    pub live_scale_out: usize,
    /// Live scale-ins.
    pub live_scale_in: usize,
    /// Simulated scale-outs among the compared ticks.
    pub sim_scale_out: usize,
    /// Simulated scale-ins among the compared ticks.
    pub sim_scale_in: usize,
    /// Mean |live − simulated| visible + in-flight messages at the compared ticks.
    pub mean_backlog_gap: f64,
    /// Largest visible + in-flight messages seen live.
    pub live_backlog_max: u64,
    /// Mean time between live ticks in milliseconds (the simulation decides at the same
    /// instants).
    pub live_tick_interval_mean_ms: f64,
    /// Longest time between live ticks in milliseconds.
    pub live_tick_interval_max_ms: f64,
    /// With `--seeds K`: how often the live run stayed inside the replays' 90 % prediction interval.
    pub band: Option<BandReport>,
    /// Each shadow policy's recorded desired counts against the replay's.
    pub shadows: Vec<ShadowReport>,
    /// The record's shadow columns that no `[[shadow]]` of the policy matched, so not
    /// compared (`shadow_desired` for a lone column).
    pub shadow_columns_not_compared: Vec<String>,
}

/// A shadow policy (`[[shadow]]` in the live policy), decided live beside the acting one and
/// in the replay beside the replayed acting one: what it would have set, compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowReport {
    /// The shadow's name.
    pub name: String,
    /// Compared ticks where the live shadow decided.
    pub ticks: usize,
    /// Share of them where the replay's shadow would have set the same count.
    pub same_desired_share: f64,
    /// Largest |live − replayed| count the shadow would have set.
    pub max_desired_gap: u32,
    /// With `--seeds K`: share of them inside the replays' 90 % prediction interval of the
    /// shadow's count.
    pub desired_inside_share: Option<f64>,
}

/// How a live run sits in the band of K replays under different plant seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BandReport {
    /// Replays (plant seeds from the scenario's on).
    pub seeds: u32,
    /// The chance that a run of the replayed plant itself lands inside the band at a tick
    /// (the band is the replays' 90 % prediction interval; at least 0.9 from 19 seeds on, less
    /// with fewer).
    pub nominal_coverage: f64,
    /// Share of compared ticks whose live desired count (before the decision) was inside the
    /// replays' 90 % prediction interval.
    pub desired_inside_share: f64,
    /// Share of compared ticks whose live visible + in-flight messages were inside the
    /// replays' 90 % prediction interval.
    pub backlog_inside_share: f64,
}

/// The replays' 90 % prediction interval at one compared tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    /// Desired count before the decision: the band's low and high.
    pub desired: [f64; 2],
    /// Visible + in-flight messages: the band's low and high.
    pub backlog: [f64; 2],
}

/// One shadow policy's counts, tick by tick, for the plot.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowTrack {
    /// The shadow's name.
    pub name: String,
    /// At each compared tick where the live shadow decided.
    pub points: Vec<ShadowPoint>,
}

/// What a shadow would have set at one tick, live and replayed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShadowPoint {
    /// The tick.
    pub at_us: Micros,
    /// Recorded live.
    pub live: u32,
    /// In the replay at the scenario's seed.
    pub sim: u32,
    /// With `--seeds K`: the band's low and high (the replays' 90 % prediction interval).
    pub band: Option<[f64; 2]>,
}

/// A parity check, run.
#[derive(Debug, Clone)]
pub struct Parity {
    /// The figures.
    pub report: ParityReport,
    /// Tick by tick.
    pub compared: Vec<ComparedTick>,
    /// The replays' bands at the compared ticks (empty without `--seeds`).
    pub bands: Vec<Band>,
    /// Each compared shadow policy, tick by tick.
    pub shadows: Vec<ShadowTrack>,
}
