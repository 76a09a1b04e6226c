//! What both fidelities share: the prepared run, the controller schedule (period, jitter,
//! metric delay) calling the engine, and the time-series recorder.

use std::collections::VecDeque;

use stepscale_engine::{Action, Controller, ManualClock, QueueSample, ScalerState, ServiceState};

use crate::arrivals::{Arrivals, Micros};
use crate::fleet::{FleetEvent, SimFleet};
use crate::rng::SimRng;
use crate::scenario::{ControllerSpec, Plant};

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
    /// Keep every decision in [`Outcome::ticks`] (the parity check compares them with a live
    /// run's); off for backtests and tuning, which need only the counts.
    pub keep_ticks: bool,
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
    /// How fast the fleet answered bursts.
    pub reactions: Reactions,
}

/// The controller as it runs in the simulator: the live engine behind a schedule.
pub struct Control<'a> {
    controller: &'a Controller,
    state: ScalerState,
    clock: ManualClock,
    start_us: Micros,
    period_us: Micros,
    jitter_us: Micros,
    delay_us: Micros,
    /// Index of the next tick to be snapshotted.
    next_k: u64,
    next_snapshot_us: Micros,
    next_tick_for_snapshot_us: Micros,
    /// Snapshots taken, waiting for their tick: (tick time, sample).
    queued: VecDeque<(Micros, QueueSample)>,
    rng: SimRng,
    last_direction: Option<Action>,
    /// Decisions that raised the count.
    pub scale_out_actions: u64,
    /// When they were made, seconds from the run's start.
    pub scale_outs_s: Vec<f64>,
    /// Decisions that lowered the count.
    pub scale_in_actions: u64,
    /// Direction changes.
    pub direction_flips: u64,
    /// Decisions made.
    pub decisions: u64,
    /// The last decision since the recorder last looked.
    pub last_action: Option<Action>,
    /// Every decision, when the run keeps them.
    pub ticks: Option<Vec<TickRecord>>,
    /// Explicit tick instants, when the run replays a recorded schedule.
    tick_times: Option<Vec<Micros>>,
}

impl<'a> Control<'a> {
    /// A schedule whose first decision is at `start_us`.
    #[must_use]
    pub fn new(controller: &'a Controller, p: &Prepared, rng: SimRng) -> Self {
        let mut c = Self {
            controller,
            state: ScalerState::default(),
            clock: ManualClock::new(p.start_us / 1000),
            start_us: p.start_us,
            period_us: (p.schedule.period_secs * 1e6).round() as Micros,
            jitter_us: (p.schedule.jitter_secs * 1e6).round() as Micros,
            delay_us: (p.schedule.metric_delay_secs * 1e6).round() as Micros,
            next_k: 0,
            next_snapshot_us: 0,
            next_tick_for_snapshot_us: 0,
            queued: VecDeque::new(),
            rng,
            last_direction: None,
            scale_out_actions: 0,
            scale_outs_s: Vec::new(),
            scale_in_actions: 0,
            direction_flips: 0,
            decisions: 0,
            last_action: None,
            ticks: p.keep_ticks.then(Vec::new),
            tick_times: p.tick_times_us.clone(),
        };
        c.schedule_next_snapshot();
        c
    }

    fn schedule_next_snapshot(&mut self) {
        let jitter = if self.jitter_us > 0 {
            (self.rng.uniform() * self.jitter_us as f64) as Micros
        } else {
            0
        };
        let tick = match &self.tick_times {
            // Past the last recorded tick: no more decisions.
            Some(times) => usize::try_from(self.next_k)
                .ok()
                .and_then(|k| times.get(k).copied())
                .unwrap_or(Micros::MAX),
            None => self.start_us + self.next_k as Micros * self.period_us + jitter,
        };
        self.next_k += 1;
        self.next_tick_for_snapshot_us = tick;
        self.next_snapshot_us = (tick - self.delay_us).max(self.start_us);
    }

    /// The next time the controller needs the model's attention.
    #[must_use]
    pub fn next_us(&self) -> Micros {
        let tick = self.queued.front().map_or(Micros::MAX, |q| q.0);
        self.next_snapshot_us.min(tick)
    }

    /// Whether a snapshot of the queue is due at `now`.
    #[must_use]
    pub fn snapshot_due(&self, now: Micros) -> bool {
        now >= self.next_snapshot_us
    }

    /// Stores the queue as seen at `now` for its tick.
    pub fn take_snapshot(&mut self, sample: QueueSample) {
        self.queued
            .push_back((self.next_tick_for_snapshot_us, sample));
        self.schedule_next_snapshot();
    }

    /// Runs every decision due at `now` on `fleet`; fleet events are appended to `events`.
    pub fn decide_due(&mut self, now: Micros, fleet: &mut SimFleet, events: &mut Vec<FleetEvent>) {
        while let Some(&(tick, sample)) = self.queued.front() {
            if tick > now {
                break;
            }
            self.queued.pop_front();
            // The clock only moves forward; ticks are processed in order.
            let _ = self.clock.set(now / 1000);
            let service = ServiceState {
                desired: fleet.desired(),
                running: fleet.running(),
                pending: fleet.pending(),
            };
            let decision =
                self.controller
                    .tick(&self.clock, &[Ok(sample)], service, &mut self.state);
            self.decisions += 1;
            tracing::debug!(
                at_ms = decision.at_ms,
                visible = sample.visible,
                in_flight = sample.in_flight,
                previous = decision.previous,
                desired = decision.desired,
                limited_by = ?decision.limited_by,
                reason = %decision.reason,
                "Decided."
            );
            self.last_action = Some(decision.action);
            if let Some(ticks) = &mut self.ticks {
                ticks.push(TickRecord {
                    at_us: now,
                    visible: sample.visible,
                    in_flight: sample.in_flight,
                    previous: decision.previous,
                    desired: decision.desired,
                    action: decision.action,
                });
            }
            match decision.action {
                Action::Hold => {}
                dir => {
                    if dir == Action::ScaleOut {
                        self.scale_out_actions += 1;
                        self.scale_outs_s.push((now - self.start_us) as f64 / 1e6);
                    } else {
                        self.scale_in_actions += 1;
                    }
                    if self.last_direction.is_some_and(|d| d != dir) {
                        self.direction_flips += 1;
                    }
                    self.last_direction = Some(dir);
                }
            }
            if decision.desired != fleet.desired() {
                fleet.set_desired(now, decision.desired, events);
            }
        }
    }
}

/// Seconds in one window of the burst detector.
pub const BURST_WINDOW_S: f64 = 60.0;

/// Bursts of demand, found on fixed one-minute windows from the run's start (whatever the
/// time series' resolution). A window's demand is its ideal tasks, ceil(arrival rate ÷
/// per-task throughput). The level is a moving average of the windows' demand (weight 0.1,
/// about ten minutes), held while a burst lasts. A burst starts with a window whose demand
/// reaches 1.5 × the level and at least 2 more, and more than the tasks that ran in it (a rise
/// the running fleet already covered needs no answer), and ends with the first window whose
/// demand is back under 1.2 × that level.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bursts {
    /// Each burst: (start, end), seconds from the run's start; the end is none while it lasts.
    pub found: Vec<(f64, Option<f64>)>,
    window_arrivals: f64,
    window_s: f64,
    window_running: u32,
    elapsed_s: f64,
    level: Option<f64>,
    /// The level before the burst under way.
    before: Option<f64>,
}

impl Bursts {
    /// Adds `span_s` seconds holding `arrivals` messages (spread evenly) with `running`
    /// tasks, for a plant whose task serves `throughput` messages a second. Called on every
    /// simulation span: the common case, a span inside the open window, is a few additions.
    #[inline]
    pub fn feed(&mut self, arrivals: f64, span_s: f64, throughput: f64, running: u32) {
        let filled = self.window_s + span_s;
        if filled < BURST_WINDOW_S - 1e-9 {
            self.window_s = filled;
            self.window_arrivals += arrivals;
            self.window_running = self.window_running.max(running);
            return;
        }
        self.feed_across(arrivals / span_s, span_s, throughput, running);
    }

    /// [`Self::feed`] for a span that closes at least one window.
    #[cold]
    #[inline(never)]
    fn feed_across(&mut self, rate_per_s: f64, mut span_s: f64, throughput: f64, running: u32) {
        while span_s > 0.0 {
            self.window_running = self.window_running.max(running);
            let take = span_s.min(BURST_WINDOW_S - self.window_s);
            self.window_arrivals += rate_per_s * take;
            self.window_s += take;
            span_s -= take;
            if self.window_s >= BURST_WINDOW_S - 1e-9 {
                let demand = (self.window_arrivals / BURST_WINDOW_S / throughput - 1e-9)
                    .ceil()
                    .max(0.0);
                self.close(demand, f64::from(self.window_running));
                self.elapsed_s += BURST_WINDOW_S;
                self.window_arrivals = 0.0;
                self.window_s = 0.0;
                self.window_running = 0;
            }
        }
    }

    fn close(&mut self, d: f64, running: f64) {
        let level = *self.level.get_or_insert(d);
        match self.before {
            Some(before) if d < 1.2 * before => {
                if let Some(last) = self.found.last_mut() {
                    last.1 = Some(self.elapsed_s);
                }
                self.before = None;
            }
            Some(_) => return,
            None if d >= 1.5 * level && d >= level + 2.0 && d > running => {
                self.found.push((self.elapsed_s, None));
                self.before = Some(level);
                return;
            }
            None => {}
        }
        self.level = Some(level + 0.1 * (d - level));
    }

    /// How fast the scale-outs at `scale_outs_s` (seconds from the run's start, in order)
    /// answered the bursts: a burst is answered by the first scale-out after its start (one
    /// at the very instant it starts saw none of it) and before its end, unanswered when it
    /// ended without one.
    #[must_use]
    pub fn reactions(&self, scale_outs_s: &[f64]) -> Reactions {
        let mut r = Reactions::default();
        for &(start, end) in &self.found {
            let i = scale_outs_s.partition_point(|t| *t <= start);
            match scale_outs_s.get(i) {
                Some(t) if end.is_none_or(|e| *t < e) => {
                    let secs = t - start;
                    r.answered += 1;
                    r.total_s += secs;
                    r.max_s = r.max_s.max(secs);
                }
                _ if end.is_some() => r.unanswered += 1,
                _ => {}
            }
        }
        r
    }
}

/// How fast the fleet answered bursts (see [`Bursts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reactions {
    /// Bursts answered by a scale-out.
    pub answered: u64,
    /// Bursts over before any scale-out.
    pub unanswered: u64,
    /// Sum of the answered bursts' times to their first scale-out, seconds.
    pub total_s: f64,
    /// The longest of them, seconds.
    pub max_s: f64,
}

impl Reactions {
    /// The mean time to the first scale-out over answered bursts (0 when none).
    #[must_use]
    pub fn mean_s(&self) -> f64 {
        if self.answered > 0 {
            self.total_s / self.answered as f64
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod burst_tests {
    use super::Bursts;

    /// Minutes at `rates` messages a second, one task serving 1 a second.
    fn bursts(rates: &[f64]) -> Bursts {
        let mut b = Bursts::default();
        for r in rates {
            // In uneven pieces: the windows do not depend on how time is cut.
            b.feed(*r * 25.0, 25.0, 1.0, 4);
            b.feed(*r * 35.0, 35.0, 1.0, 4);
        }
        b
    }

    #[test]
    fn a_burst_runs_from_its_window_to_the_window_back_near_the_level() {
        let mut rates = vec![4.0; 10];
        rates.extend([20.0, 40.0, 80.0, 80.0, 4.0, 4.0]);
        let b = bursts(&rates);
        assert_eq!(b.found, vec![(600.0, Some(840.0))]);
        let r = b.reactions(&[100.0, 610.0, 700.0]);
        assert_eq!((r.answered, r.unanswered), (1, 0));
        assert!((r.mean_s() - 10.0).abs() < 1e-9);
        let late = b.reactions(&[900.0]);
        assert_eq!((late.answered, late.unanswered), (0, 1));
        assert!(late.mean_s().abs() < 1e-12);
    }

    #[test]
    fn a_rise_the_running_fleet_covers_is_no_burst() {
        let mut b = Bursts::default();
        b.feed(2_400.0, 600.0, 1.0, 40);
        b.feed(3_600.0, 120.0, 1.0, 40);
        assert!(b.found.is_empty());
    }

    #[test]
    fn noise_around_a_level_is_no_burst() {
        let b = bursts(&[4.0, 5.0, 4.0, 3.0, 5.0, 4.0, 5.5, 3.5]);
        assert!(b.found.is_empty());
    }

    #[test]
    fn one_long_window_split_anywhere_gives_the_same_bursts() {
        let mut a = Bursts::default();
        a.feed(2_400.0, 600.0, 1.0, 4);
        a.feed(3_600.0, 120.0, 1.0, 4);
        let mut b = Bursts::default();
        for _ in 0..600 {
            b.feed(4.0, 1.0, 1.0, 4);
        }
        for _ in 0..120 {
            b.feed(30.0, 1.0, 1.0, 4);
        }
        assert_eq!(a.found, b.found);
        assert_eq!(a.found, vec![(600.0, None)]);
    }
}

/// Collects time-series rows every `resolution`.
pub struct RowRecorder {
    /// Next row time.
    pub next_us: Micros,
    resolution_us: Micros,
    throughput_per_task: f64,
    sink: RowSink,
    rows: Vec<Row>,
    envelope: EnvelopeBuilder,
    write_error: Option<String>,
}

/// Where the time-series rows go as they are made. Nothing keeps a row per step of the
/// horizon unless asked to: memory stays bounded however long the run.
pub enum RowSink {
    /// Kept in memory (`compare`'s overlay, tests).
    Keep,
    /// Dropped; the plot envelope remains (`tune`; the summary's statistics are gathered on the
    /// simulation's steps, not here).
    Discard,
    /// Written as `timeseries.csv` lines as they come.
    Csv(Box<dyn std::io::Write>),
}

/// Rows in the plot envelope, at most.
pub const ENVELOPE_ROWS: usize = 4096;

/// The rows reduced to at most [`ENVELOPE_ROWS`] buckets of equal row counts (the last may be
/// partial). Bucket `i` is `max[i]` and `min[i]`: the field-wise maximum and minimum of its
/// rows, both at the time of the bucket's first row, so a plot keeps the spikes and the quiet
/// periods' minima alike.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Envelope {
    /// Field-wise maximum per bucket (the last action of the bucket).
    pub max: Vec<Row>,
    /// Field-wise minimum per bucket (the last action of the bucket).
    pub min: Vec<Row>,
}

/// Builds an [`Envelope`] as rows come; a full envelope merges neighbours and doubles its
/// bucket.
#[derive(Debug, Clone, Default)]
struct EnvelopeBuilder {
    env: Envelope,
    per_bucket: usize,
    in_last: usize,
}

/// `a` merged field by field with `b` by `pick` (max or min); the later action wins.
fn merge(a: &mut Row, b: &Row, pick: fn(f64, f64) -> f64) {
    let whole = |x: u32, y: u32| pick(f64::from(x), f64::from(y)) as u32;
    a.arrivals = pick(a.arrivals, b.arrivals);
    a.backlog = pick(a.backlog, b.backlog);
    a.in_flight = pick(a.in_flight, b.in_flight);
    a.desired = whole(a.desired, b.desired);
    a.running = whole(a.running, b.running);
    a.pending = whole(a.pending, b.pending);
    a.oldest_age_s = pick(a.oldest_age_s, b.oldest_age_s);
    a.demand = whole(a.demand, b.demand);
    a.task_hours = pick(a.task_hours, b.task_hours);
    if b.action.is_some() {
        a.action = b.action;
    }
}

fn merge_max(a: &mut Row, b: &Row) {
    merge(a, b, f64::max);
}

fn merge_min(a: &mut Row, b: &Row) {
    merge(a, b, f64::min);
}

/// Merges neighbouring buckets pairwise with `merge`.
fn halve(buckets: &[Row], merge: fn(&mut Row, &Row)) -> Vec<Row> {
    buckets
        .chunks(2)
        .map(|c| {
            let mut r = c[0];
            if let Some(b) = c.get(1) {
                merge(&mut r, b);
            }
            r
        })
        .collect()
}

impl EnvelopeBuilder {
    fn push(&mut self, row: &Row) {
        if self.per_bucket == 0 {
            self.per_bucket = 1;
        }
        let in_last = self.in_last < self.per_bucket;
        match (self.env.max.last_mut(), self.env.min.last_mut()) {
            (Some(hi), Some(lo)) if in_last => {
                merge_max(hi, row);
                merge_min(lo, row);
                self.in_last += 1;
            }
            _ => {
                if self.env.max.len() == ENVELOPE_ROWS {
                    self.env.max = halve(&self.env.max, merge_max);
                    self.env.min = halve(&self.env.min, merge_min);
                    self.per_bucket *= 2;
                    // The last bucket is full after a merge (ENVELOPE_ROWS is even).
                }
                self.env.max.push(*row);
                self.env.min.push(*row);
                self.in_last = 1;
            }
        }
    }
}

/// The summary's figures that are averages over time, gathered on the simulation's own time
/// grid (the fluid step, `step_ms`; discrete mode samples the same grid), never on the output
/// rows: they do not change with `--resolution`. Demand d = ceil(arrivals in the step / step /
/// per-task throughput), supply s = running tasks during the step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepStats {
    throughput_per_task: f64,
    /// Seconds covered.
    pub seconds: f64,
    /// Σ (d − s)⁺ / max(d, 1) × Δt.
    pub under: f64,
    /// Σ (s − d)⁺ / max(d, 1) × Δt.
    pub over: f64,
    /// Seconds with s < d.
    pub time_under: f64,
    /// Seconds with s > d.
    pub time_over: f64,
    /// Step-to-step transitions.
    pub transitions: u64,
    /// Transitions where supply and demand moved apart.
    pub unstable: u64,
    /// ∫ visible backlog dt, in message-seconds.
    pub backlog_integral: f64,
    /// Seconds spent at each demand, for the ideal fleet's task-hours.
    demand_seconds: std::collections::BTreeMap<u32, f64>,
    /// The previous step's (running, demand).
    prev: Option<(u32, u32)>,
    /// Bursts of demand, on one-minute windows.
    pub bursts: Bursts,
}

impl StepStats {
    /// Empty statistics for a plant whose task serves `throughput_per_task` messages/s.
    #[must_use]
    pub fn new(throughput_per_task: f64) -> Self {
        Self {
            throughput_per_task,
            ..Self::default()
        }
    }

    /// Adds `steps` steps of `dt_s` seconds, each with `arrivals` messages and `running`
    /// tasks.
    pub fn span(&mut self, arrivals: f64, running: u32, dt_s: f64, steps: u64) {
        if steps == 0 || dt_s <= 0.0 {
            return;
        }
        let demand = (arrivals / dt_s / self.throughput_per_task - 1e-9)
            .ceil()
            .max(0.0) as u32;
        let span_s = dt_s * steps as f64;
        self.bursts.feed(
            arrivals * steps as f64,
            span_s,
            self.throughput_per_task,
            running,
        );
        let d = f64::from(demand);
        let s = f64::from(running);
        self.under += (d - s).max(0.0) / d.max(1.0) * span_s;
        self.over += (s - d).max(0.0) / d.max(1.0) * span_s;
        if s < d {
            self.time_under += span_s;
        } else if s > d {
            self.time_over += span_s;
        }
        match self.prev {
            Some((r, dm)) => {
                let ds = (i64::from(running) - i64::from(r)).signum();
                let dd = (i64::from(demand) - i64::from(dm)).signum();
                self.unstable += u64::from(ds != dd);
                self.transitions += steps;
            }
            None => self.transitions += steps - 1,
        }
        self.prev = Some((running, demand));
        *self.demand_seconds.entry(demand).or_insert(0.0) += span_s;
        self.seconds += span_s;
    }

    /// Adds `backlog` messages held visible for `dt_s` seconds.
    pub fn backlog(&mut self, backlog: f64, dt_s: f64) {
        self.backlog_integral += backlog * dt_s;
    }

    /// The time-average visible backlog.
    #[must_use]
    pub fn mean_backlog(&self) -> f64 {
        if self.seconds > 0.0 {
            self.backlog_integral / self.seconds
        } else {
            0.0
        }
    }

    /// Task-hours of the ideal fleet: each step's demand clamped to [`min_tasks`,
    /// `max_tasks`]. A yardstick for cost, not a fleet a policy could run: it knows each step's
    /// arrivals as they happen and starts tasks instantly.
    #[must_use]
    pub fn ideal_task_hours(&self, min_tasks: u32, max_tasks: u32) -> f64 {
        self.demand_seconds
            .iter()
            .map(|(&d, &secs)| f64::from(d.clamp(min_tasks, max_tasks.max(min_tasks))) * secs)
            .sum::<f64>()
            / 3600.0
    }

    /// SPEC RG's accuracy (under, over), timeshare (under, over) and instability, in percent.
    #[must_use]
    pub fn elasticity(&self) -> [f64; 5] {
        if self.seconds <= 0.0 {
            return [0.0; 5];
        }
        let t = self.seconds;
        [
            100.0 * self.under / t,
            100.0 * self.over / t,
            100.0 * self.time_under / t,
            100.0 * self.time_over / t,
            100.0 * self.unstable as f64 / self.transitions.max(1) as f64,
        ]
    }
}

/// One `timeseries.csv` line (without the newline). The same text as `format!` with `{:.3}`
/// and `{}` would give, written without the formatting machinery (most of a long backtest's
/// time went there).
pub fn csv_line(out: &mut String, r: &Row) {
    stepscale_engine::time::push_rfc3339_secs(out, r.t_us);
    for v in [r.arrivals, r.backlog, r.in_flight] {
        out.push(',');
        push_fixed3(out, v);
    }
    for v in [r.desired, r.running, r.pending] {
        out.push(',');
        push_u64(out, u64::from(v));
    }
    out.push(',');
    out.push_str(r.action.map_or("", stepscale_engine::Action::as_str));
    out.push(',');
    push_fixed3(out, r.oldest_age_s);
    out.push(',');
    push_u64(out, u64::from(r.demand));
}

/// Appends `v` in decimal.
fn push_u64(out: &mut String, mut v: u64) {
    let mut b = [0u8; 20];
    let mut i = b.len();
    loop {
        i -= 1;
        b[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&b[i..]).unwrap_or_default());
}

/// Appends `x` with three decimals, exactly as `{:.3}` does. The scaled value is rounded in
/// integers; where that could differ from `{:.3}`'s exact decimal rounding (within 0.01 of a
/// half thousandth, a negative value that rounds to zero, magnitudes of 1e9 and beyond, non-finite
/// values) the standard formatter writes it. Below 1e12 the product's rounding error is under
/// 0.001, so the integer rounding lands where the exact one does.
fn push_fixed3(out: &mut String, x: f64) {
    use std::fmt::Write as _;
    let y = x * 1000.0;
    let frac = y - y.floor();
    if y.is_nan() || y.abs() >= 1e12 || (frac - 0.5).abs() < 0.01 {
        let _ = write!(out, "{x:.3}");
        return;
    }
    let m = y.round() as i64;
    if m == 0 && x.is_sign_negative() {
        let _ = write!(out, "{x:.3}");
        return;
    }
    if m < 0 {
        out.push('-');
    }
    let m = m.unsigned_abs();
    push_u64(out, m / 1000);
    out.push('.');
    let f = m % 1000;
    out.push(char::from(b'0' + (f / 100) as u8));
    out.push(char::from(b'0' + (f / 10 % 10) as u8));
    out.push(char::from(b'0' + (f % 10) as u8));
}

#[cfg(test)]
mod csv_tests {
    use super::push_fixed3;

    #[test]
    fn fixed3_writes_what_the_standard_formatter_writes() {
        let mut rng = crate::rng::SimRng::new(11);
        let mut out = String::new();
        let specials = [
            0.0,
            -0.0,
            0.0005,
            -0.0005,
            0.0015,
            2.5e-4,
            -2.5e-4,
            1.0005,
            999.9995,
            1e12,
            1e15,
            -1e15,
            1e300,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            123.456_499_999,
        ];
        let random = (0..200_000).map(|i| {
            let x = rng.next_u64();
            // Magnitudes from 1e-6 to 1e13, both signs, and exact thousandths.
            let mantissa = rng.uniform();
            let v = mantissa * 10f64.powi((x % 20) as i32 - 6);
            match i % 3 {
                0 => v,
                1 => -v,
                _ => (x % 10_000_000) as f64 / 1000.0,
            }
        });
        for v in specials.into_iter().chain(random) {
            out.clear();
            push_fixed3(&mut out, v);
            assert_eq!(out, format!("{v:.3}"), "{v:e}");
        }
    }
}

/// The header of `timeseries.csv`.
pub const CSV_HEADER: &str =
    "t,arrivals,backlog,in_flight,desired,running,pending,action,oldest_age_s,demand\n";

/// What the recorder hands to the outcome.
pub struct Series {
    /// Kept rows.
    pub rows: Vec<Row>,
    /// The plot envelope.
    pub envelope: Envelope,
    /// A CSV write failure.
    pub write_error: Option<String>,
}

/// The model's state at a row boundary.
pub struct Snapshot {
    /// Arrivals since the previous row.
    pub arrivals: f64,
    /// The most visible messages since the previous row.
    pub backlog: f64,
    /// Messages in process.
    pub in_flight: f64,
    /// The oldest visible message's largest age since the previous row, in seconds.
    pub oldest_age_s: f64,
}

impl RowRecorder {
    /// A recorder whose first row is one resolution after `start_us`, sending rows to `sink`.
    #[must_use]
    pub fn new(p: &Prepared, mut sink: RowSink) -> Self {
        let mut write_error = None;
        if let RowSink::Csv(w) = &mut sink {
            if let Err(e) = w.write_all(CSV_HEADER.as_bytes()) {
                write_error = Some(e.to_string());
            }
        }
        Self {
            next_us: p.start_us + p.resolution_us,
            resolution_us: p.resolution_us,
            throughput_per_task: p.plant.task_throughput_per_s(),
            sink,
            rows: Vec::new(),
            envelope: EnvelopeBuilder::default(),
            write_error,
        }
    }

    fn push_row(&mut self, row: Row) {
        self.envelope.push(&row);
        match &mut self.sink {
            RowSink::Keep => self.rows.push(row),
            RowSink::Discard => {}
            RowSink::Csv(w) => {
                if self.write_error.is_none() {
                    let mut line = String::with_capacity(96);
                    csv_line(&mut line, &row);
                    line.push('\n');
                    if let Err(e) = w.write_all(line.as_bytes()) {
                        self.write_error = Some(e.to_string());
                    }
                }
            }
        }
    }

    /// Flushes the sink and hands over what the run keeps.
    #[must_use]
    pub fn finish(mut self) -> Series {
        if let RowSink::Csv(w) = &mut self.sink {
            if let Err(e) = w.flush() {
                self.write_error.get_or_insert(e.to_string());
            }
        }
        Series {
            rows: self.rows,
            envelope: self.envelope.env,
            write_error: self.write_error,
        }
    }

    /// Records the row due at `now`.
    pub fn record(
        &mut self,
        now: Micros,
        s: &Snapshot,
        fleet: &SimFleet,
        control: &mut Control<'_>,
    ) {
        self.push_snapshot(now, self.resolution_us, s, fleet, control);
        self.next_us += self.resolution_us;
    }

    /// Records the last, partial period when the run ends between two rows, so every arrival
    /// appears in the time series.
    pub fn record_final(
        &mut self,
        now: Micros,
        s: &Snapshot,
        fleet: &SimFleet,
        control: &mut Control<'_>,
    ) {
        let last_row = self.next_us - self.resolution_us;
        if now <= last_row {
            return;
        }
        self.push_snapshot(now, now - last_row, s, fleet, control);
        self.next_us = now + self.resolution_us;
    }

    /// The row closing an interval of `interval_us` at `now`.
    fn push_snapshot(
        &mut self,
        now: Micros,
        interval_us: Micros,
        s: &Snapshot,
        fleet: &SimFleet,
        control: &mut Control<'_>,
    ) {
        let rate = s.arrivals / (interval_us as f64 / 1e6);
        let demand = (rate / self.throughput_per_task - 1e-9).ceil().max(0.0) as u32;
        self.push_row(Row {
            t_us: now,
            arrivals: s.arrivals,
            backlog: s.backlog,
            in_flight: s.in_flight,
            desired: fleet.desired(),
            running: fleet.running(),
            pending: fleet.pending(),
            action: control.last_action.take(),
            oldest_age_s: s.oldest_age_s,
            demand,
            task_hours: fleet.task_hours(now),
        });
    }
}

#[cfg(test)]
mod envelope_tests {
    use super::{EnvelopeBuilder, Row, ENVELOPE_ROWS};

    fn row(t_us: i64, v: u32) -> Row {
        Row {
            t_us,
            arrivals: f64::from(v),
            backlog: f64::from(v),
            in_flight: 0.0,
            desired: v,
            running: v,
            pending: 0,
            action: None,
            oldest_age_s: f64::from(v),
            demand: v,
            task_hours: f64::from(v),
        }
    }

    #[test]
    fn buckets_keep_the_highest_and_the_lowest_of_their_rows() {
        let mut b = EnvelopeBuilder::default();
        let n = ENVELOPE_ROWS * 5 + 3;
        for i in 0..n {
            // Quiet at 10, with one spike and one dip.
            let v = match i {
                7_000 => 500,
                9_001 => 1,
                _ => 10,
            };
            b.push(&row(i as i64, v));
        }
        let env = b.env;
        assert!(env.max.len() <= ENVELOPE_ROWS && env.max.len() > ENVELOPE_ROWS / 2);
        assert_eq!(env.max.len(), env.min.len());
        assert!(env.max.iter().zip(&env.min).all(|(h, l)| h.t_us == l.t_us));
        assert_eq!(env.max.iter().map(|r| r.running).max(), Some(500));
        assert_eq!(env.min.iter().map(|r| r.running).min(), Some(1));
        // Away from the spike and the dip, both sides read the quiet level.
        assert_eq!(
            env.min.iter().filter(|r| r.running == 10).count(),
            env.min.len() - 1
        );
        assert_eq!(
            env.max.iter().filter(|r| r.running == 10).count(),
            env.max.len() - 1
        );
    }
}
