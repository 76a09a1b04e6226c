//! The discrete model: every message an event, exact FIFO waits on the earliest-free worker
//! slot (a task has `concurrency` slots), redeliveries after the visibility timeout.
//!
//! Messages are taken in arrival order; each starts at max(arrival, earliest free slot).
//! Between events (decisions, task starts, rows, crashes) the slot set is fixed, so a message
//! whose start would fall after the next event waits in the queue until that event has run.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use stepscale_engine::{Controller, QueueSample};

use crate::arrivals::{ArrivalKind, Arrivals, Micros, SynthStream};
use crate::fleet::{FleetEvent, SimFleet};
use crate::histogram::WaitHistogram;
use crate::model::{Control, Outcome, Prepared, RowRecorder, RowSink, Snapshot, StepStats};
use crate::rng::SimRng;
use crate::scenario::StopMode;

/// Arrival times in order, generated lazily from bins (uniform within a bin, the count
/// rounded at random when fractional) or read from events.
struct MessageSource<'a> {
    arrivals: &'a Arrivals,
    /// Synthetic seconds, generated as they are reached.
    synth: Option<SynthStream<'a>>,
    bin: usize,
    buffer: Vec<Micros>,
    pos: usize,
    rng: SimRng,
}

impl<'a> MessageSource<'a> {
    fn new(arrivals: &'a Arrivals, rng: SimRng) -> Self {
        Self {
            arrivals,
            synth: match &arrivals.kind {
                ArrivalKind::Synthetic(spec) => Some(spec.stream()),
                _ => None,
            },
            bin: 0,
            buffer: Vec::new(),
            pos: 0,
            rng,
        }
    }

    fn peek(&mut self) -> Option<Micros> {
        loop {
            let (c, bin_us) = match &self.arrivals.kind {
                ArrivalKind::Events { times_us } => return times_us.get(self.pos).copied(),
                _ if self.pos < self.buffer.len() => return Some(self.buffer[self.pos]),
                ArrivalKind::Binned { bin_us, counts } => (*counts.get(self.bin)?, *bin_us),
                ArrivalKind::Synthetic(_) => (self.synth.as_mut()?.next()?, 1_000_000),
            };
            let n = self.rng.stochastic_round(c);
            let from = self.arrivals.start_us + self.bin as Micros * bin_us;
            self.buffer.clear();
            self.pos = 0;
            for _ in 0..n {
                self.buffer
                    .push(from + (self.rng.uniform() * bin_us as f64) as Micros);
            }
            self.buffer.sort_unstable();
            self.bin += 1;
        }
    }

    fn advance(&mut self) {
        self.pos += 1;
    }
}

/// The worker slots.
struct Slots {
    /// (free at, slot id); slots of stopped tasks are dropped when they surface.
    heap: BinaryHeap<Reverse<(Micros, usize)>>,
    /// Per slot: (arrival, receive time, finish time) of its current or last message.
    work: Vec<(Micros, Micros, Micros)>,
    /// Per task: still running.
    alive: Vec<bool>,
    concurrency: usize,
}

impl Slots {
    fn ensure(&mut self, task: usize) {
        if self.alive.len() <= task {
            self.alive.resize(task + 1, false);
            self.work.resize((task + 1) * self.concurrency, (0, 0, 0));
        }
    }

    fn add_task(&mut self, task: usize, now: Micros) {
        self.ensure(task);
        self.alive[task] = true;
        for k in 0..self.concurrency {
            let slot = task * self.concurrency + k;
            self.work[slot] = (now, now, now);
            self.heap.push(Reverse((now, slot)));
        }
    }

    /// The earliest-free live slot, dropping dead ones.
    fn earliest(&mut self) -> Option<(Micros, usize)> {
        while let Some(&Reverse((free, slot))) = self.heap.peek() {
            if self.alive[slot / self.concurrency] {
                return Some((free, slot));
            }
            self.heap.pop();
        }
        None
    }

    fn busy_at(&self, now: Micros, drain: bool) -> usize {
        self.work
            .iter()
            .enumerate()
            .filter(|(slot, w)| {
                w.1 <= now && w.2 > now && (drain || self.alive[slot / self.concurrency])
            })
            .count()
    }
}

/// Runs a prepared scenario in discrete mode.
#[must_use]
pub fn run(p: &Prepared, controller: &Controller, sink: RowSink) -> Outcome {
    let root = SimRng::new(p.seed);
    let mut service_rng = root.fork(3);
    let mut source = MessageSource::new(&p.arrivals, root.fork(4));
    let mut fleet = SimFleet::new(
        p.start_us,
        p.initial_tasks,
        p.plant.startup,
        p.plant.launch_rate_per_min,
        root.fork(1),
    )
    .with_stop_order(p.plant.stop_order);
    let mut control = Control::new(controller, p, root.fork(2));
    let mut rec = RowRecorder::new(p, sink);
    let conc = p.plant.concurrency as usize;
    let mut slots = Slots {
        heap: BinaryHeap::new(),
        work: Vec::new(),
        alive: Vec::new(),
        concurrency: conc,
    };
    for &id in fleet.running_ids() {
        slots.add_task(id, p.start_us);
    }
    let drain = p.plant.stop == StopMode::Drain;
    let vt_us = (p.plant.visibility_timeout_secs * 1e6) as Micros;
    let crash_rate = p.plant.crash_rate_per_task_hour;
    let mut next_crash = fleet.next_crash_us(p.start_us, crash_rate);
    let service = p.plant.service_time;

    let mut waiting: VecDeque<Micros> = VecDeque::new();
    // Redelivered messages: (visible again at, original arrival). They keep their arrival, as
    // SQS keeps a message's sent time: the oldest message's age and the SLO violation count
    // them; their wait was counted at their first receive.
    let mut returned: BinaryHeap<Reverse<(Micros, Micros)>> = BinaryHeap::new();
    let mut waits = WaitHistogram::default();
    let mut messages = 0u64;
    let mut started = 0u64;
    let mut redeliveries = 0u64;
    let mut backlog_max = 0usize;
    // The worst backlog and oldest age seen since the last row (a row shows the interval's
    // peak, not one sample).
    let mut row_backlog_max = 0.0_f64;
    let mut row_age_max_s = 0.0_f64;
    let mut violation_us: i128 = 0;
    let mut last_start = p.start_us;
    let emptied: bool;
    let mut arrivals_since_row = 0u64;
    // The summary's time averages, on a grid of `step_ms` (the fluid step), not the rows.
    let step_us = p.step_us.max(1);
    let dt_s = step_us as f64 / 1e6;
    let mut stats = StepStats::new(p.plant.task_throughput_per_s());
    let mut next_stat_us = p.start_us + step_us;
    let mut arrivals_since_stat = 0u64;
    let mut events = Vec::new();
    let mut completions = p.keep_completions.then(Completions::default);
    let mut now = p.start_us;
    loop {
        // Every boundary but the rows': what the run does never depends on the resolution.
        let event = [
            fleet.next_ready_us(),
            next_crash,
            Some(control.next_us()),
            Some(next_stat_us),
            Some(p.hard_end_us),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(p.hard_end_us)
        .max(now);
        let boundary = event.min(rec.next_us.max(now));
        // Start every message that can start before the boundary.
        loop {
            let next_new = match waiting.front() {
                Some(&t) => Some(t),
                None => source.peek(),
            };
            let next_redo = returned.peek().map(|r| r.0 .0);
            let (visible_at, is_redo) = match (next_new, next_redo) {
                (Some(a), Some(r)) if r < a => (r, true),
                (Some(a), _) => (a, false),
                (None, Some(r)) => (r, true),
                (None, None) => break,
            };
            let Some((free, slot)) = slots.earliest() else {
                break;
            };
            let start = visible_at.max(free);
            // A message that can start at the boundary starts before the queue is looked at
            // there: a worker that finishes at t takes the next message at t, so a probe
            // reading at t sees it busy (with a constant service time, every finish could
            // otherwise fall on a tick and read as idle).
            if start > boundary {
                break;
            }
            slots.heap.pop();
            let arrival = if is_redo {
                let original = returned.pop().map_or(visible_at, |r| r.0 .1);
                // Visible again from `visible_at`, older than the SLO from arrival + SLO.
                let slo_from = (original + p.slo_us).max(visible_at).max(last_start);
                if start > slo_from {
                    violation_us += i128::from(start - slo_from);
                }
                last_start = last_start.max(start);
                original
            } else {
                let arrival = if let Some(a) = waiting.pop_front() {
                    a
                } else {
                    source.advance();
                    messages += 1;
                    arrivals_since_row += 1;
                    arrivals_since_stat += 1;
                    visible_at
                };
                waits.record(start - arrival, 1.0);
                let slo_from = (arrival + p.slo_us).max(last_start);
                if start > slo_from {
                    violation_us += i128::from(start - slo_from);
                }
                last_start = last_start.max(start);
                started += 1;
                arrival
            };
            let finish = start + (service.sample_secs(&mut service_rng) * 1e6).round() as Micros;
            if let Some(c) = &mut completions {
                c.finished.push(finish);
            }
            slots.work[slot] = (arrival, start, finish);
            slots.heap.push(Reverse((finish, slot)));
        }
        now = boundary;
        // Everything that arrived by now is in the queue.
        while let Some(t) = source.peek() {
            if t > now {
                break;
            }
            source.advance();
            waiting.push_back(t);
            messages += 1;
            arrivals_since_row += 1;
            arrivals_since_stat += 1;
        }
        let (visible_redo, oldest_redo) = returned
            .iter()
            .filter(|r| r.0 .0 <= now)
            .fold((0usize, None::<Micros>), |(n, oldest), r| {
                (n + 1, Some(oldest.map_or(r.0 .1, |o| o.min(r.0 .1))))
            });
        let oldest_arrival = match (waiting.front(), oldest_redo) {
            (Some(&w), Some(r)) => Some(w.min(r)),
            (w, r) => w.copied().or(r),
        };
        if now == event {
            backlog_max = backlog_max.max(waiting.len() + visible_redo);
        }
        if now >= next_stat_us {
            // The step that ends now: its arrivals, the tasks that ran it, the backlog left.
            stats.span(arrivals_since_stat as f64, fleet.running(), dt_s, 1);
            stats.backlog((waiting.len() + visible_redo) as f64, dt_s);
            arrivals_since_stat = 0;
            next_stat_us += step_us;
        }

        fleet.advance(now, &mut events);
        if next_crash.is_some_and(|c| c <= now) {
            fleet.crash(now, &mut events);
            next_crash = fleet.next_crash_us(now, crash_rate);
        }
        let oldest_age_s = oldest_arrival.map_or(0.0, |a| (now - a) as f64 / 1e6);
        let backlog = (waiting.len() + visible_redo) as f64;
        row_backlog_max = row_backlog_max.max(backlog);
        row_age_max_s = row_age_max_s.max(oldest_age_s);
        if now >= rec.next_us {
            let snap = Snapshot {
                arrivals: arrivals_since_row as f64,
                backlog: row_backlog_max,
                in_flight: slots.busy_at(now, drain) as f64,
                oldest_age_s: row_age_max_s,
            };
            row_backlog_max = 0.0;
            row_age_max_s = 0.0;
            arrivals_since_row = 0;
            rec.record(now, &snap, &fleet, &mut control);
        }
        if control.snapshot_due(now) {
            control.take_snapshot(QueueSample {
                visible: backlog as u64,
                in_flight: slots.busy_at(now, drain) as u64,
                oldest_age_ms: oldest_arrival
                    .filter(|_| p.schedule.reports_oldest_age)
                    .map(|a| ((now - a) / 1000) as u64),
                ..QueueSample::default()
            });
        }
        control.decide_due(now, &mut fleet, &mut events);
        for ev in events.drain(..) {
            match ev {
                FleetEvent::Ready { id } => slots.add_task(id, now),
                FleetEvent::Stopped { id, crashed } => {
                    slots.ensure(id);
                    slots.alive[id] = false;
                    let mut last_finish = now;
                    for k in 0..conc {
                        let (arrival, receive, finish) = slots.work[id * conc + k];
                        if finish <= now {
                            continue;
                        }
                        if crashed || !drain {
                            returned.push(Reverse(((receive + vt_us).max(now), arrival)));
                            redeliveries += 1;
                            if let Some(c) = &mut completions {
                                c.cancelled.push(finish);
                            }
                        } else {
                            last_finish = last_finish.max(finish);
                        }
                    }
                    fleet.bill_extra(last_finish - now);
                }
            }
        }
        let drained = now >= p.arrivals_end_us
            && waiting.is_empty()
            && returned.is_empty()
            && source.peek().is_none();
        if now >= p.hard_end_us || drained {
            emptied = drained;
            // The last, partial step.
            let part_us = now - (next_stat_us - step_us);
            if part_us > 0 {
                let part_s = part_us as f64 / 1e6;
                stats.span(arrivals_since_stat as f64, fleet.running(), part_s, 1);
                stats.backlog(backlog, part_s);
            }
            let snap = Snapshot {
                arrivals: arrivals_since_row as f64,
                backlog: row_backlog_max.max(backlog),
                in_flight: slots.busy_at(now, drain) as f64,
                oldest_age_s: row_age_max_s.max(oldest_age_s),
            };
            rec.record_final(now, &snap, &fleet, &mut control);
            break;
        }
    }
    let series = rec.finish();
    let reactions = stats.bursts.reactions(&control.scale_outs_s);
    Outcome {
        rows: series.rows,
        envelope: series.envelope,
        stats,
        write_error: series.write_error,
        stepped_steps: 0,
        waits,
        messages: messages as f64,
        processed: started as f64,
        redeliveries: redeliveries as f64,
        backlog_max: backlog_max as f64,
        task_hours: fleet.task_hours(now),
        slo_violation_s: violation_us as f64 / 1e6,
        scale_out_actions: control.scale_out_actions,
        scale_in_actions: control.scale_in_actions,
        direction_flips: control.direction_flips,
        decisions: control.decisions,
        end_us: now,
        drained: emptied,
        ticks: control.ticks.take().unwrap_or_default(),
        shadow_desired: std::mem::take(&mut control.shadow_desired),
        reactions,
        completions: completions.map(|c| c.per_second(p.start_us)),
    }
}

/// Finish times of the messages started, and of those whose task stopped before they finished
/// (they went back to the queue and finish later, or never).
#[derive(Default)]
struct Completions {
    finished: Vec<Micros>,
    cancelled: Vec<Micros>,
}

impl Completions {
    /// Messages completed per second from `start_us` (those still in a task when the run
    /// ends included: they finish).
    fn per_second(mut self, start_us: Micros) -> Vec<f64> {
        self.finished.sort_unstable();
        self.cancelled.sort_unstable();
        let mut out: Vec<f64> = Vec::new();
        let mut cancelled = self.cancelled.iter().peekable();
        for &t in &self.finished {
            // Each cancelled finish time removes one message with that finish time.
            if cancelled.peek().is_some_and(|&&c| c == t) {
                cancelled.next();
                continue;
            }
            let second = ((t - start_us).max(0) / 1_000_000) as usize;
            if out.len() <= second {
                out.resize(second + 1, 0.0);
            }
            out[second] += 1.0;
        }
        out
    }
}
