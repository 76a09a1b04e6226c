//! The controller as the simulator runs it: the live engine behind a schedule (period,
//! jitter, metric delay), acting on the modelled fleet.

use std::collections::VecDeque;

use stepscale_engine::{Action, Controller, ManualClock, QueueSample, ScalerState, ServiceState};

use super::lockstep::Member;
use super::{Prepared, TickRecord};
use crate::arrivals::Micros;
use crate::fleet::{FleetEvent, SimFleet};
use crate::rng::SimRng;

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
    /// When each of those ticks read the queue (the replay samples and acts then).
    read_times: Option<Vec<Micros>>,
    /// The shared budgets this service decides under, in lockstep with the other services.
    member: Option<Member>,
    /// Shadow policies, each with its own state, decided at each kept tick.
    shadows: Vec<(Controller, ScalerState)>,
    /// What the shadows would have set, tick by tick (see [`super::Outcome::shadow_desired`]).
    pub shadow_desired: Vec<u32>,
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
            read_times: p.tick_times_us.as_ref().and(p.read_times_us.clone()),
            member: p.lockstep.clone(),
            shadows: if p.keep_ticks {
                p.shadows
                    .iter()
                    .map(|c| (c.clone(), ScalerState::default()))
                    .collect()
            } else {
                Vec::new()
            },
            shadow_desired: Vec::new(),
        };
        c.schedule_next_snapshot();
        if let Some(m) = &c.member {
            m.publish(c.next_tick_bound());
        }
        c
    }

    /// The earliest tick any later decision can have (ticks jitter, so a later tick may come
    /// before one already scheduled).
    fn next_tick_bound(&self) -> Micros {
        let queued = self.queued.iter().map(|q| q.0).min().unwrap_or(Micros::MAX);
        let unscheduled = match &self.tick_times {
            Some(times) => usize::try_from(self.next_k)
                .ok()
                .and_then(|k| times.get(k).copied())
                .unwrap_or(Micros::MAX),
            None => self
                .start_us
                .saturating_add((self.next_k as Micros).saturating_mul(self.period_us)),
        };
        queued.min(self.next_tick_for_snapshot_us).min(unscheduled)
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
        let read = self.read_times.as_ref().and_then(|r| {
            usize::try_from(self.next_k)
                .ok()
                .and_then(|k| r.get(k).copied())
        });
        self.next_k += 1;
        self.next_tick_for_snapshot_us = tick;
        self.next_snapshot_us = match read {
            // A recorded read: the queue as it was then, never before the tick.
            Some(at) if tick != Micros::MAX => at.max(tick),
            _ => (tick - self.delay_us).max(self.start_us),
        };
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
            // The clock only moves forward; ticks are processed in order. A replay of recorded
            // reads acts when the read came back but decides on the tick's own clock, as the
            // live runner does.
            let decided_at = if self.read_times.is_some() { tick } else { now };
            let _ = self.clock.set(decided_at / 1000);
            let service = ServiceState {
                desired: fleet.desired(),
                running: fleet.running(),
                pending: fleet.pending(),
            };
            let decision = match &self.member {
                None => self
                    .controller
                    .tick(&self.clock, &[Ok(sample)], service, &mut self.state),
                Some(member) => {
                    let turn = member.turn(tick);
                    let (decision, want) = stepscale_engine::budget::decide_within(
                        self.controller,
                        &self.clock,
                        &[Ok(sample)],
                        service,
                        &mut self.state,
                        |_| turn.cap(),
                    );
                    turn.done(tick, want, decision.desired, self.next_tick_bound());
                    decision
                }
            };
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
            // A shadow decides on the same sample and fleet, with its own state, and is never
            // acted on: live runs decide it after the acting policy, on the counts read before.
            for (shadow, state) in &mut self.shadows {
                let d = shadow.tick(&self.clock, &[Ok(sample)], service, state);
                self.shadow_desired.push(d.desired);
            }
            if let Some(ticks) = &mut self.ticks {
                ticks.push(TickRecord {
                    at_us: now,
                    visible: sample.visible,
                    in_flight: sample.in_flight,
                    previous: decision.previous,
                    desired: decision.desired,
                    running: service.running,
                    pending: service.pending,
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

impl Drop for Control<'_> {
    /// A service that is done (or failed) holds up no other.
    fn drop(&mut self) {
        if let Some(m) = &self.member {
            m.publish(Micros::MAX);
        }
    }
}
