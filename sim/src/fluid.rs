//! The fluid model: messages as a continuous amount per time step, FIFO waits read off the
//! cumulative arrival and departure curves (a queue of arrival chunks), for long traces.
//!
//! Per step of `dt`: arrivals `a` join the backlog; the fleet serves
//! `min(backlog, running × concurrency × dt / mean service time)`; served amounts leave from
//! the oldest chunk first, and a chunk that arrived in step `i` and leaves in step `j` waited
//! `(j − i) × dt`. In-flight is the served rate × mean service time (Little's law per task).
//! Between events (decisions, task starts, rows, crashes) capacity is constant, so the inner
//! loop is a tight pass over the arrival array.

mod segments;

use std::collections::VecDeque;

use stepscale_engine::{Controller, QueueSample};

use self::segments::Segments;
use crate::arrivals::Micros;
use crate::fleet::{FleetEvent, SimFleet};
use crate::histogram::WaitHistogram;
use crate::model::{Control, Outcome, Prepared, RowRecorder, RowSink, Snapshot, StepStats};
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
    /// The most visible messages at the end of any step since the last row.
    row_backlog_max: f64,
    /// The oldest message's largest age, in steps, at the end of any step since the last row.
    row_age_steps_max: u64,
    violation_steps: u64,
    /// Messages lost by stopped or crashed tasks, waiting out the visibility timeout.
    /// (visible again at step, amount, original arrival step).
    returns: VecDeque<(u64, f64, u64)>,
    redelivered: f64,
    /// Redelivered messages visible again; served before new chunks, their wait was already
    /// counted at their first receive.
    redo: f64,
    /// The redelivered amounts by original arrival step, oldest first: they keep their
    /// arrival time, so the oldest message's age and the SLO violation count them.
    redo_chunks: VecDeque<(u64, f64)>,
    /// Arrival step of the messages served last: what an in-flight message carries back to
    /// the queue when its task stops.
    last_served_arrival: u64,
    /// Time averages on the steps.
    stats: StepStats,
    /// Steps run one by one (a backlog or more arrivals than capacity); the others were
    /// passed a run of equal arrivals at a time.
    stepped: u64,
    /// Runs of equal arrivals between events.
    spans: u64,
    /// Messages taken per step, from step 0, when the run keeps its completions.
    taken: Option<Vec<f64>>,
    /// Step every second (`Prepared::fluid_every_step`).
    every_step: bool,
}

impl Queue {
    /// Arrival step of the oldest visible message, redelivered ones included.
    fn oldest_step(&self) -> Option<u64> {
        let redo = self.redo_chunks.front().filter(|_| self.redo > EPS);
        match (redo, self.chunks.front()) {
            (Some(r), Some(c)) => Some(r.0.min(c.0)),
            (r, c) => r.or(c).map(|x| x.0),
        }
    }

    /// Runs steps `from..to` with `running` tasks, at constant capacity `cap` (messages per
    /// step).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        arr: &mut Segments,
        from: u64,
        to: u64,
        running: u32,
        cap: f64,
        step_us: Micros,
        slo_steps: u64,
    ) {
        let dt_s = step_us as f64 / 1e6;
        let mut j = from;
        while j < to {
            let (a, run_end) = arr.at(j);
            let end = run_end.min(to);
            self.spans += 1;
            self.stats.span(a, running, dt_s, end - j);
            if !self.every_step && self.chunks.is_empty() && self.redo <= 0.0 && a <= cap {
                // The fleet keeps up over the whole run: everything is served in its step.
                self.zero_wait += a * (end - j) as f64;
                self.served_last_step = a;
                if let Some(taken) = &mut self.taken {
                    taken.extend(std::iter::repeat_n(a, (end - j) as usize));
                }
                self.last_served_arrival = end - 1;
                j = end;
                continue;
            }
            self.stepped += end - j;
            for jj in j..end {
                self.step(a, jj, cap, step_us, slo_steps);
                self.stats.backlog(self.backlog, dt_s);
                if let Some(taken) = &mut self.taken {
                    taken.push(self.served_last_step);
                }
            }
            j = end;
        }
    }

    /// One step with `a` arrivals.
    #[inline]
    fn step(&mut self, a: f64, j: u64, cap: f64, step_us: Micros, slo_steps: u64) {
        if self.chunks.is_empty() && self.redo <= 0.0 {
            self.last_served_arrival = j;
            if a <= cap {
                self.zero_wait += a;
                self.served_last_step = a;
                return;
            }
            self.zero_wait += cap;
            self.served_last_step = cap;
            self.chunks.push_back((j, a - cap));
            self.backlog = a - cap;
            self.backlog_max = self.backlog_max.max(self.backlog);
            self.row_backlog_max = self.row_backlog_max.max(self.backlog);
            self.row_age_steps_max = self.row_age_steps_max.max(1);
            return;
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
        let mut left = from_redo;
        while left > 0.0 {
            let Some(front) = self.redo_chunks.front_mut() else {
                break;
            };
            let take = front.1.min(left);
            self.last_served_arrival = front.0;
            front.1 -= take;
            left -= take;
            if front.1 <= EPS {
                self.redo_chunks.pop_front();
            }
        }
        while s > 0.0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let take = front.1.min(s);
            self.waits.record((j - front.0) as i64 * step_us, take);
            self.last_served_arrival = front.0;
            front.1 -= take;
            s -= take;
            if front.1 <= EPS {
                self.chunks.pop_front();
            }
        }
        if self.backlog <= EPS || (self.chunks.is_empty() && self.redo <= EPS) {
            self.backlog = 0.0;
            self.redo = 0.0;
            self.redo_chunks.clear();
            self.chunks.clear();
        } else {
            self.backlog_max = self.backlog_max.max(self.backlog);
            self.row_backlog_max = self.row_backlog_max.max(self.backlog);
            if let Some(oldest) = self.oldest_step() {
                let age = (j + 1).saturating_sub(oldest);
                self.row_age_steps_max = self.row_age_steps_max.max(age);
                if age > slo_steps {
                    self.violation_steps += 1;
                }
            }
        }
    }
}

/// Runs a prepared scenario in fluid mode.
#[must_use]
pub fn run(p: &Prepared, controller: &Controller, sink: RowSink) -> Outcome {
    let step = p.step_us;
    let dt_s = step as f64 / 1e6;
    let n_arr = ((p.arrivals_end_us - p.start_us + step - 1) / step).max(0) as u64;
    let mut arr = Segments::new(p, step, n_arr);
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
    )
    .with_stop_order(p.plant.stop_order);
    let mut control = Control::new(controller, p, root.fork(2));
    let mut rec = RowRecorder::new(p, sink);
    let crash_rate = p.plant.crash_rate_per_task_hour;
    let mut next_crash = fleet.next_crash_us(p.start_us, crash_rate);
    let mut q = Queue {
        chunks: VecDeque::new(),
        backlog: 0.0,
        served_last_step: 0.0,
        waits: WaitHistogram::default(),
        zero_wait: 0.0,
        backlog_max: 0.0,
        row_backlog_max: 0.0,
        row_age_steps_max: 0,
        violation_steps: 0,
        returns: VecDeque::new(),
        redelivered: 0.0,
        redo: 0.0,
        redo_chunks: VecDeque::new(),
        last_served_arrival: 0,
        stats: StepStats::new(p.plant.task_throughput_per_s()),
        stepped: 0,
        spans: 0,
        taken: p.keep_completions.then(Vec::new),
        every_step: p.fluid_every_step,
    };
    let mut events = Vec::new();
    let mut cum_last_row = 0.0;
    let mut i = 0u64;
    let emptied: bool;
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
            if let Some((_, amount, arrival)) = q.returns.pop_front() {
                q.redo += amount;
                // Kept in arrival order (returns come in the order their tasks stopped).
                let at = q.redo_chunks.partition_point(|c| c.0 <= arrival);
                q.redo_chunks.insert(at, (arrival, amount));
                q.backlog += amount;
            }
        }
        let oldest_age_s = q
            .oldest_step()
            .map_or(0.0, |o| i.saturating_sub(o) as f64 * dt_s);
        if now >= rec.next_us {
            let cum = arr.cumulative(i);
            // The worst of the interval, not one sample: a row shows the peak backlog and the
            // oldest age the summary counts.
            let snap = Snapshot {
                arrivals: cum - cum_last_row,
                backlog: q.backlog.max(q.row_backlog_max),
                in_flight,
                oldest_age_s: oldest_age_s.max(q.row_age_steps_max as f64 * dt_s),
            };
            q.row_backlog_max = 0.0;
            q.row_age_steps_max = 0;
            cum_last_row = cum;
            rec.record(now, &snap, &fleet, &mut control);
        }
        if control.snapshot_due(now) {
            control.take_snapshot(QueueSample {
                visible: round_u64(q.backlog),
                in_flight: round_u64(in_flight),
                oldest_age_ms: q
                    .oldest_step()
                    .filter(|_| p.schedule.reports_oldest_age)
                    .map(|_| (oldest_age_s * 1000.0) as u64),
                ..QueueSample::default()
            });
        }
        let running_before = fleet.running();
        control.decide_due(now, &mut fleet, &mut events);
        for ev in events.drain(..) {
            if let FleetEvent::Stopped { crashed, .. } = ev {
                if crashed || p.plant.stop == StopMode::Requeue {
                    let share = in_flight / f64::from(running_before.max(1));
                    q.returns
                        .push_back((i + vt_steps, share, q.last_served_arrival.min(i)));
                    q.redelivered += share;
                }
            }
        }
        let drained = i >= n_arr && q.backlog <= EPS && q.returns.is_empty();
        if i >= max_steps || drained {
            emptied = drained;
            let snap = Snapshot {
                arrivals: arr.cumulative(i) - cum_last_row,
                backlog: q.backlog.max(q.row_backlog_max),
                in_flight,
                oldest_age_s: oldest_age_s.max(q.row_age_steps_max as f64 * dt_s),
            };
            rec.record_final(now, &snap, &fleet, &mut control);
            break;
        }
        let next_us = fleet
            .next_ready_us()
            .unwrap_or(Micros::MAX)
            .min(next_crash.unwrap_or(Micros::MAX))
            .min(control.next_us())
            .min(rec.next_us);
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
        q.run(&mut arr, i, next_i, fleet.running(), cap, step, slo_steps);
        i = next_i;
    }
    let end_us = p.start_us + i as Micros * step;
    // Where a run's time goes: per span and per decision, and per step only while backlogged.
    tracing::debug!(
        steps = i,
        stepped = q.stepped,
        spans = q.spans,
        decisions = control.decisions,
        "Fluid run done."
    );
    let zero = q.zero_wait;
    q.waits.record(0, zero);
    let completions = q
        .taken
        .take()
        .map(|taken| per_second_completions(&taken, step, mean_service_s));
    let series = rec.finish();
    let reactions = q.stats.bursts.reactions(&control.scale_outs_s);
    Outcome {
        rows: series.rows,
        envelope: series.envelope,
        stats: q.stats,
        write_error: series.write_error,
        stepped_steps: q.stepped,
        messages: arr.cumulative(n_arr),
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
        drained: emptied,
        ticks: control.ticks.take().unwrap_or_default(),
        shadow_desired: std::mem::take(&mut control.shadow_desired),
        reactions,
        completions,
    }
}

/// `x.round() as u64` (half away from zero, NaN and negatives 0, saturating) without the libm
/// call `f64::round` is on baseline x86-64: this runs twice a decision.
#[inline]
fn round_u64(x: f64) -> u64 {
    let t = x as u64;
    // Exact: for 0 <= x < 2^64, x − trunc(x) is representable; NaN and negatives give t = 0.
    if x - t as f64 >= 0.5 {
        t.saturating_add(1)
    } else {
        t
    }
}

/// Messages completed per second from the start: what was taken in a step completes one mean
/// service time later (the fluid model's in-flight work, by Little's law).
fn per_second_completions(taken: &[f64], step_us: Micros, mean_service_s: f64) -> Vec<f64> {
    let shift_us = (mean_service_s * 1e6).round() as Micros;
    let mut out: Vec<f64> = Vec::new();
    for (j, &amount) in taken.iter().enumerate() {
        if amount <= 0.0 {
            continue;
        }
        let second = ((j as Micros * step_us + shift_us) / 1_000_000) as usize;
        if out.len() <= second {
            out.resize(second + 1, 0.0);
        }
        out[second] += amount;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::round_u64;

    #[test]
    fn round_u64_is_rounds() {
        let mut rng = crate::rng::SimRng::new(5);
        let special = [
            0.0,
            -0.0,
            0.5,
            1.5,
            2.5,
            0.499_999_999_999_999_94,
            -0.3,
            -7.5,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            9_007_199_254_740_993.0,
            1.8e19,
            1e30,
        ];
        let drawn = (0..100_000).map(|i| {
            let u = rng.uniform();
            match i % 3 {
                0 => u * 10.0,
                1 => (u * 1e6).floor() + 0.5,
                _ => u * 1e15,
            }
        });
        for x in special.into_iter().chain(drawn) {
            assert_eq!(round_u64(x), x.round() as u64, "{x}");
        }
    }
}
