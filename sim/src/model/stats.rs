//! The summary's statistics gathered on the simulation's own steps: supply against demand
//! (the SPEC RG figures), the backlog integral, and bursts with the fleet's reaction to them.

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
    /// Seconds spent at each demand below [`DENSE_DEMAND`], indexed by demand, for the ideal
    /// fleet's task-hours (one addition a step instead of a map lookup).
    demand_seconds: Vec<f64>,
    /// Seconds spent at each larger demand.
    demand_seconds_high: std::collections::BTreeMap<u32, f64>,
    /// The demand of recently seen (arrivals, step) pairs: a step's demand is a ceil of two
    /// divisions, and a trace's per-step counts repeat.
    demand_memo: DemandMemo,
    /// The previous step's (running, demand).
    prev: Option<(u32, u32)>,
    /// Bursts of demand, on one-minute windows.
    pub bursts: Bursts,
}

/// Demands below this are counted in a dense table.
const DENSE_DEMAND: u32 = 1 << 16;

/// A direct-mapped memory of (arrival bits, step bits) -> demand. It only saves work: every
/// value it gives is the one the formula gives.
#[derive(Debug, Clone, Default)]
struct DemandMemo {
    slots: Vec<(u64, u64, u32)>,
}

impl PartialEq for DemandMemo {
    /// A memory of past work: equal whatever it holds.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl DemandMemo {
    const SLOTS: usize = 128;
    fn demand(&mut self, arrivals: f64, dt_s: f64, throughput_per_task: f64) -> u32 {
        let key = (arrivals.to_bits(), dt_s.to_bits());
        // Fibonacci hashing: a small count's bits sit in the high mantissa, so mix them all.
        let mixed = (key.0 ^ key.1.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // The top 7 bits: a slot in 0..128.
        let slot = (mixed >> 57) as usize;
        if self.slots.is_empty() {
            // Keys no real pair has (NaN bits in both halves).
            self.slots = vec![(u64::MAX, u64::MAX, 0); Self::SLOTS];
        }
        let (a, d, demand) = self.slots[slot];
        if (a, d) == key {
            return demand;
        }
        let demand = (arrivals / dt_s / throughput_per_task - 1e-9)
            .ceil()
            .max(0.0) as u32;
        self.slots[slot] = (key.0, key.1, demand);
        demand
    }
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
        let demand = self
            .demand_memo
            .demand(arrivals, dt_s, self.throughput_per_task);
        let span_s = dt_s * steps as f64;
        self.bursts.feed(
            arrivals * steps as f64,
            span_s,
            self.throughput_per_task,
            running,
        );
        let d = f64::from(demand);
        let s = f64::from(running);
        // Only the side that is short or over moves (the other would add an exact 0).
        if s < d {
            self.under += (d - s) / d.max(1.0) * span_s;
            self.time_under += span_s;
        } else if s > d {
            self.over += (s - d) / d.max(1.0) * span_s;
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
        if demand < DENSE_DEMAND {
            let at = demand as usize;
            if at >= self.demand_seconds.len() {
                self.demand_seconds.resize(at + 1, 0.0);
            }
            self.demand_seconds[at] += span_s;
        } else {
            *self.demand_seconds_high.entry(demand).or_insert(0.0) += span_s;
        }
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
        // In ascending demand, as one map would give them; a demand never seen adds 0.
        let dense = (0_u32..).zip(self.demand_seconds.iter().copied());
        let high = self.demand_seconds_high.iter().map(|(&d, &secs)| (d, secs));
        dense
            .chain(high)
            .map(|(d, secs)| f64::from(d.clamp(min_tasks, max_tasks.max(min_tasks))) * secs)
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

#[cfg(test)]
mod step_stats_tests {
    use super::{DemandMemo, StepStats};

    /// The memory gives the formula's demand for every pair, repeats and collisions alike.
    #[test]
    fn remembered_demands_are_the_formulas() {
        let mut memo = DemandMemo::default();
        let mut rng = crate::rng::SimRng::new(3);
        for i in 0..200_000 {
            let arrivals = if i % 3 == 0 {
                rng.poisson(50.0) as f64
            } else {
                rng.uniform() * 1e4
            };
            let dt = [1.0, 0.5, 60.0][i % 3];
            let want = (arrivals / dt / 2.5 - 1e-9).ceil().max(0.0) as u32;
            assert_eq!(memo.demand(arrivals, dt, 2.5), want, "{arrivals} {dt}");
        }
    }

    /// Demands above the dense table count in the ideal task-hours as below it, in order.
    #[test]
    fn large_demands_count_like_small_ones() {
        let mut s = StepStats::new(1.0);
        s.span(3.0, 1, 1.0, 10);
        s.span(100_000.0, 1, 1.0, 2);
        s.span(7.0, 1, 1.0, 5);
        let hours = s.ideal_task_hours(0, u32::MAX);
        assert!((hours - (3.0 * 10.0 + 100_000.0 * 2.0 + 7.0 * 5.0) / 3600.0).abs() < 1e-9);
        assert!((s.ideal_task_hours(0, 10) - (30.0 + 20.0 + 35.0) / 3600.0).abs() < 1e-12);
    }
}
