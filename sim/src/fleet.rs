//! The modelled ECS service: tasks launched with a start-up latency, a launch-rate limit,
//! stops newest-first (pending before running), crashes with replacement, and billing.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::arrivals::Micros;
use crate::dist::Duration;
use crate::rng::SimRng;

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
            rng,
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

    /// Sets the desired count at `now`: launches, or stops pending tasks (newest first) and
    /// then running ones (newest first).
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
        while excess > 0 {
            let Some(id) = self.running.pop() else { break };
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
