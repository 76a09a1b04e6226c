//! The fluid model: messages as a continuous amount per time step, FIFO waits read off the
//! cumulative arrival and departure curves (a queue of arrival chunks), for long traces.
//!
//! Per step of `dt`: arrivals `a` join the backlog; the fleet serves
//! `min(backlog, running × concurrency × dt / mean service time)`; served amounts leave from
//! the oldest chunk first, and a chunk that arrived in step `i` and leaves in step `j` waited
//! `(j − i) × dt`. In-flight is the served rate × mean service time (Little's law per task).
//! Between events (decisions, task starts, rows, crashes) capacity is constant, so the inner
//! loop is a tight pass over the arrival array.

use std::collections::VecDeque;

use stepscale_engine::{Controller, QueueSample};

use crate::arrivals::Micros;
use crate::fleet::{FleetEvent, SimFleet};
use crate::histogram::WaitHistogram;
use crate::model::{Control, Outcome, Prepared, Recorder, Snapshot};
use crate::rng::SimRng;
use crate::scenario::StopMode;

const EPS: f64 = 1e-9;

/// The fluid queue's state.
struct Queue {
    /// Arrival chunks not yet served: (step index, amount).
    chunks: VecDeque<(u64, f64)>,
    backlog: f64,
    served_last_step: f64,
    waits: WaitHistogram,
    /// Served in the step they arrived (wait 0), summed here and recorded once.
    zero_wait: f64,
    backlog_max: f64,
    violation_steps: u64,
    /// Messages lost by stopped or crashed tasks, waiting out the visibility timeout.
    returns: VecDeque<(u64, f64)>,
    redelivered: f64,
    /// Redelivered messages visible again; served before new chunks, their wait was already
    /// counted at their first receive.
    redo: f64,
}

impl Queue {
    /// Runs steps `from..to` at constant capacity `cap` (messages per step).
    #[inline]
    fn run(&mut self, arr: &[f64], from: u64, to: u64, cap: f64, step_us: Micros, slo_steps: u64) {
        let n = arr.len() as u64;
        for j in from..to {
            let a = if j < n { arr[j as usize] } else { 0.0 };
            if self.chunks.is_empty() && self.redo <= 0.0 {
                if a <= cap {
                    self.zero_wait += a;
                    self.served_last_step = a;
                    continue;
                }
                self.zero_wait += cap;
                self.served_last_step = cap;
                self.chunks.push_back((j, a - cap));
                self.backlog = a - cap;
                self.backlog_max = self.backlog_max.max(self.backlog);
                continue;
            }
            if a > 0.0 {
                self.chunks.push_back((j, a));
                self.backlog += a;
            }
            let mut s = cap.min(self.backlog);
            self.served_last_step = s;
            self.backlog -= s;
            let from_redo = self.redo.min(s);
            self.redo -= from_redo;
            s -= from_redo;
            while s > 0.0 {
                let Some(front) = self.chunks.front_mut() else {
                    break;
                };
                let take = front.1.min(s);
                self.waits.record((j - front.0) as i64 * step_us, take);
                front.1 -= take;
                s -= take;
                if front.1 <= EPS {
                    self.chunks.pop_front();
                }
            }
            if self.backlog <= EPS || (self.chunks.is_empty() && self.redo <= EPS) {
                self.backlog = 0.0;
                self.redo = 0.0;
                self.chunks.clear();
            } else {
                self.backlog_max = self.backlog_max.max(self.backlog);
                if self.chunks.front().is_some_and(|c| j + 1 - c.0 > slo_steps) {
                    self.violation_steps += 1;
                }
            }
        }
    }
}

/// Runs a prepared scenario in fluid mode.
#[must_use]
pub fn run(p: &Prepared, controller: &Controller) -> Outcome {
    let step = p.step_us;
    let dt_s = step as f64 / 1e6;
    let n_arr = ((p.arrivals_end_us - p.start_us + step - 1) / step).max(0) as u64;
    let arr = p.arrivals.per_step(step, n_arr as usize);
    let max_steps = ((p.hard_end_us - p.start_us + step - 1) / step).max(0) as u64;
    let mean_service_s = p.plant.service_time.mean_secs();
    let per_task_per_step = f64::from(p.plant.concurrency) * dt_s / mean_service_s;
    let slo_steps = (p.slo_us / step).max(0) as u64;
    let vt_steps = (p.plant.visibility_timeout_secs * 1e6 / step as f64).ceil() as u64;

    let root = SimRng::new(p.seed);
    let mut fleet = SimFleet::new(
        p.start_us,
        p.initial_tasks,
        p.plant.startup,
        p.plant.launch_rate_per_min,
        root.fork(1),
    );
    let mut control = Control::new(controller, p, root.fork(2));
    let mut rec = Recorder::new(p);
    let crash_rate = p.plant.crash_rate_per_task_hour;
    let mut next_crash = fleet.next_crash_us(p.start_us, crash_rate);
    let mut q = Queue {
        chunks: VecDeque::new(),
        backlog: 0.0,
        served_last_step: 0.0,
        waits: WaitHistogram::default(),
        zero_wait: 0.0,
        backlog_max: 0.0,
        violation_steps: 0,
        returns: VecDeque::new(),
        redelivered: 0.0,
        redo: 0.0,
    };
    let mut events = Vec::new();
    let mut last_row_step = 0u64;
    let mut i = 0u64;
    loop {
        let now = p.start_us + i as Micros * step;
        let in_flight = (q.served_last_step * mean_service_s / dt_s)
            .min(f64::from(fleet.running() * p.plant.concurrency));
        fleet.advance(now, &mut events);
        if next_crash.is_some_and(|c| c <= now) {
            fleet.crash(now, &mut events);
            next_crash = fleet.next_crash_us(now, crash_rate);
        }
        while q.returns.front().is_some_and(|r| r.0 <= i) {
            if let Some((_, amount)) = q.returns.pop_front() {
                q.redo += amount;
                q.backlog += amount;
            }
        }
        let oldest_age_s = q.chunks.front().map_or(0.0, |c| (i - c.0) as f64 * dt_s);
        if now >= rec.next_us {
            let upto = (i as usize).min(arr.len());
            let from = (last_row_step as usize).min(upto);
            let snap = Snapshot {
                arrivals: arr[from..upto].iter().sum(),
                backlog: q.backlog,
                in_flight,
                oldest_age_s,
            };
            last_row_step = i;
            rec.record(now, &snap, &fleet, &mut control);
        }
        if control.snapshot_due(now) {
            control.take_snapshot(QueueSample {
                visible: q.backlog.round() as u64,
                in_flight: in_flight.round() as u64,
                oldest_age_ms: q.chunks.front().map(|_| (oldest_age_s * 1000.0) as u64),
                ..QueueSample::default()
            });
        }
        let running_before = fleet.running();
        control.decide_due(now, &mut fleet, &mut events);
        for ev in events.drain(..) {
            if let FleetEvent::Stopped { crashed, .. } = ev {
                if crashed || p.plant.stop == StopMode::Requeue {
                    let share = in_flight / f64::from(running_before.max(1));
                    q.returns.push_back((i + vt_steps, share));
                    q.redelivered += share;
                }
            }
        }
        let drained = i >= n_arr && q.backlog <= EPS && q.returns.is_empty();
        if i >= max_steps || drained {
            break;
        }
        let next_us = [
            fleet.next_ready_us(),
            next_crash,
            Some(control.next_us()),
            Some(rec.next_us),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(Micros::MAX);
        let mut next_i = if next_us == Micros::MAX {
            max_steps
        } else {
            ((next_us - p.start_us + step - 1) / step).max(0) as u64
        };
        if let Some(r) = q.returns.front() {
            next_i = next_i.min(r.0);
        }
        if i < n_arr {
            next_i = next_i.min(n_arr);
        }
        let next_i = next_i.clamp(i + 1, max_steps.max(i + 1));
        let cap = f64::from(fleet.running()) * per_task_per_step;
        q.run(&arr, i, next_i, cap, step, slo_steps);
        i = next_i;
    }
    let end_us = p.start_us + i as Micros * step;
    let zero = q.zero_wait;
    q.waits.record(0, zero);
    Outcome {
        rows: rec.rows,
        messages: arr.iter().sum(),
        processed: (q.waits.count() - q.redo - q.returns.iter().map(|r| r.1).sum::<f64>()).max(0.0),
        redeliveries: q.redelivered,
        waits: q.waits,
        backlog_max: q.backlog_max,
        task_hours: fleet.task_hours(end_us),
        slo_violation_s: q.violation_steps as f64 * dt_s,
        scale_out_actions: control.scale_out_actions,
        scale_in_actions: control.scale_in_actions,
        direction_flips: control.direction_flips,
        decisions: control.decisions,
        end_us,
    }
}
