//! The modelled ECS service: tasks launched with a start-up latency, a launch-rate limit,
//! stops newest-first (pending before running), crashes with replacement, and billing.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::arrivals::Micros;
use crate::dist::Duration;
use crate::rng::SimRng;
use crate::scenario::StopOrder;

/// Something the fleet did that the queue model must know about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetEvent {
    /// A task became ready to receive messages.
    Ready {
        /// Task id.
        id: usize,
    },
    /// A running task stopped (scale-in or crash).
    Stopped {
        /// Task id.
        id: usize,
        /// It crashed: its in-flight work is lost and returns after the visibility timeout.
        crashed: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TaskState {
    Pending,
    Running,
    Stopped,
}

#[derive(Debug, Clone, Copy)]
struct Task {
    launched_us: Micros,
    state: TaskState,
}

/// The simulated service.
#[derive(Debug)]
pub struct SimFleet {
    tasks: Vec<Task>,
    /// Running task ids, oldest first.
    running: Vec<usize>,
    /// Pending task ids by ready time.
    pending: BinaryHeap<Reverse<(Micros, usize)>>,
    pending_count: u32,
    desired: u32,
    startup: Duration,
    launch_interval_us: Option<Micros>,
    next_launch_us: Micros,
    billed_us: i128,
    /// Tasks not stopped, and the sum of their launch times: the billing of the live tasks in
    /// O(1), so a row can carry the cost so far.
    alive: i128,
    alive_launch_sum_us: i128,
    rng: SimRng,
    /// Which running tasks a scale-in stops, and the draws of a random order.
    stop_order: StopOrder,
    stop_rng: SimRng,
}

impl SimFleet {
    /// A fleet with `initial` tasks already running at `now`.
    #[must_use]
    pub fn new(
        now: Micros,
        initial: u32,
        startup: Duration,
        launches_per_min: Option<f64>,
        rng: SimRng,
    ) -> Self {
        let mut fleet = Self {
            tasks: Vec::new(),
            running: Vec::new(),
            pending: BinaryHeap::new(),
            pending_count: 0,
            desired: initial,
            startup,
            launch_interval_us: launches_per_min
                .filter(|r| *r > 0.0)
                .map(|r| (60e6 / r).round() as Micros),
            next_launch_us: now,
            billed_us: 0,
            alive: 0,
            alive_launch_sum_us: 0,
            stop_rng: rng.fork(7),
            rng,
            stop_order: StopOrder::Newest,
        };
        for _ in 0..initial {
            let id = fleet.tasks.len();
            fleet.tasks.push(Task {
                launched_us: now,
                state: TaskState::Running,
            });
            fleet.running.push(id);
            fleet.alive += 1;
            fleet.alive_launch_sum_us += i128::from(now);
        }
        fleet
    }

    /// The desired count.
    #[must_use]
    pub fn desired(&self) -> u32 {
        self.desired
    }

    /// Running tasks.
    #[must_use]
    pub fn running(&self) -> u32 {
        self.running.len() as u32
    }

    /// Pending tasks.
    #[must_use]
    pub fn pending(&self) -> u32 {
        self.pending_count
    }

    /// Running task ids, oldest first.
    #[must_use]
    pub fn running_ids(&self) -> &[usize] {
        &self.running
    }

    /// When the next pending task becomes ready.
    #[must_use]
    pub fn next_ready_us(&mut self) -> Option<Micros> {
        while let Some(&Reverse((at, id))) = self.pending.peek() {
            if self.tasks[id].state == TaskState::Pending {
                return Some(at);
            }
            self.pending.pop();
        }
        None
    }

    fn launch(&mut self, now: Micros) {
        let launch_at = match self.launch_interval_us {
            Some(interval) => {
                let at = self.next_launch_us.max(now);
                self.next_launch_us = at + interval;
                at
            }
            None => now,
        };
        let startup_us = (self.startup.sample_secs(&mut self.rng) * 1e6).round() as Micros;
        let id = self.tasks.len();
        self.tasks.push(Task {
            launched_us: launch_at,
            state: TaskState::Pending,
        });
        self.alive += 1;
        self.alive_launch_sum_us += i128::from(launch_at);
        self.pending
            .push(Reverse((launch_at + startup_us.max(0), id)));
        self.pending_count += 1;
    }

    fn stop(&mut self, id: usize, now: Micros) {
        let task = &mut self.tasks[id];
        if task.state != TaskState::Stopped {
            self.billed_us += i128::from((now - task.launched_us).max(0));
            task.state = TaskState::Stopped;
            self.alive -= 1;
            self.alive_launch_sum_us -= i128::from(task.launched_us);
        }
    }

    /// This fleet, stopping running tasks at a scale-in in `order` (newest first by default).
    #[must_use]
    pub fn with_stop_order(mut self, order: StopOrder) -> Self {
        self.stop_order = order;
        self
    }

    /// Sets the desired count at `now`: launches, or stops pending tasks (newest first) and
    /// then running ones (in the fleet's stop order, newest first by default).
    pub fn set_desired(&mut self, now: Micros, desired: u32, events: &mut Vec<FleetEvent>) {
        self.desired = desired;
        let have = self.running() + self.pending_count;
        if desired > have {
            for _ in have..desired {
                self.launch(now);
            }
            return;
        }
        let mut excess = have - desired;
        if excess > 0 && self.pending_count > 0 {
            let mut ids: Vec<usize> = self
                .pending
                .iter()
                .map(|Reverse((_, id))| *id)
                .filter(|id| self.tasks[*id].state == TaskState::Pending)
                .collect();
            ids.sort_unstable_by(|a, b| b.cmp(a));
            for id in ids.into_iter().take(excess as usize) {
                self.stop(id, now);
                self.pending_count -= 1;
                excess -= 1;
            }
        }
        while excess > 0 && !self.running.is_empty() {
            let id = match self.stop_order {
                StopOrder::Newest => self.running.pop(),
                StopOrder::Oldest => Some(self.running.remove(0)),
                StopOrder::Random => {
                    let pick = (self.stop_rng.next_u64() % self.running.len() as u64) as usize;
                    Some(self.running.remove(pick))
                }
            };
            let Some(id) = id else { break };
            self.stop(id, now);
            events.push(FleetEvent::Stopped { id, crashed: false });
            excess -= 1;
        }
    }

    /// Moves tasks whose start-up finished by `now` to running.
    pub fn advance(&mut self, now: Micros, events: &mut Vec<FleetEvent>) {
        while let Some(&Reverse((at, id))) = self.pending.peek() {
            if at > now {
                break;
            }
            self.pending.pop();
            if self.tasks[id].state == TaskState::Pending {
                self.tasks[id].state = TaskState::Running;
                self.pending_count -= 1;
                self.running.push(id);
                events.push(FleetEvent::Ready { id });
            }
        }
    }

    /// A random running task crashes at `now`; ECS launches a replacement.
    pub fn crash(&mut self, now: Micros, events: &mut Vec<FleetEvent>) {
        if self.running.is_empty() {
            return;
        }
        let pick = (self.rng.next_u64() % self.running.len() as u64) as usize;
        let id = self.running.remove(pick);
        self.stop(id, now);
        events.push(FleetEvent::Stopped { id, crashed: true });
        self.launch(now);
    }

    /// Draws the time of the next crash from `now` for `rate_per_task_hour`.
    pub fn next_crash_us(&mut self, now: Micros, rate_per_task_hour: f64) -> Option<Micros> {
        let rate_per_s = rate_per_task_hour * f64::from(self.running()) / 3600.0;
        (rate_per_s > 0.0).then(|| now + (self.rng.exponential(1.0 / rate_per_s) * 1e6) as Micros)
    }

    /// Bills extra task time (a stopped task draining its last messages).
    pub fn bill_extra(&mut self, us: Micros) {
        self.billed_us += i128::from(us.max(0));
    }

    /// Task-hours billed up to `now` (tasks still alive are billed to `now`).
    #[must_use]
    pub fn task_hours(&self, now: Micros) -> f64 {
        // Σ over live tasks of max(0, now − launch): all of them at now − launch, less those
        // launched after `now` (rate-limited launches), which are the newest ids, as launch
        // times only grow.
        let mut alive_us = self.alive * i128::from(now) - self.alive_launch_sum_us;
        for t in self.tasks.iter().rev() {
            if t.launched_us <= now {
                break;
            }
            if t.state != TaskState::Stopped {
                alive_us += i128::from(t.launched_us - now);
            }
        }
        (self.billed_us + alive_us) as f64 / 3.6e9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four tasks ready in launch order (ids 0 to 3), then a scale-in to `to` in `order`: the
    /// ids stopped.
    fn stopped(order: StopOrder, to: u32, seed: u64) -> Vec<usize> {
        let mut fleet = SimFleet::new(
            0,
            1,
            Duration::Constant { secs: 1.0 },
            None,
            SimRng::new(seed),
        )
        .with_stop_order(order);
        let mut events = Vec::new();
        for k in 1..4 {
            fleet.set_desired(k * 10, u32::try_from(k).unwrap_or(0) + 1, &mut events);
            fleet.advance(k * 10 + 2_000_000, &mut events);
        }
        events.clear();
        fleet.set_desired(100_000_000, to, &mut events);
        events
            .iter()
            .filter_map(|e| match e {
                FleetEvent::Stopped { id, .. } => Some(*id),
                FleetEvent::Ready { .. } => None,
            })
            .collect()
    }

    #[test]
    fn a_scale_in_stops_running_tasks_in_the_plant_s_order() {
        assert_eq!(stopped(StopOrder::Newest, 2, 1), vec![3, 2]);
        assert_eq!(stopped(StopOrder::Oldest, 2, 1), vec![0, 1]);
        let random = stopped(StopOrder::Random, 2, 1);
        assert_eq!(random.len(), 2);
        assert_eq!(random, stopped(StopOrder::Random, 2, 1), "seeded");
        // Over seeds, every task is sometimes stopped.
        let mut seen = [false; 4];
        for seed in 0..40 {
            for id in stopped(StopOrder::Random, 3, seed) {
                seen[id] = true;
            }
        }
        assert_eq!(seen, [true; 4]);
    }
}
