//! The fluid model's arrivals, read forward step by step: the amount at a step, where its run
//! of equal amounts (its bin) ends, and the cumulative amount, without copying the trace.

use std::collections::VecDeque;

use crate::arrivals::{ArrivalKind, Micros};
use crate::model::Prepared;

/// Where the per-step arrival amounts come from.
enum Source<'a> {
    /// Bins a whole number `k` of steps wide (a minute bin at 1 s steps: k = 60), read in
    /// place: nothing is copied, whatever the trace's length.
    Bins { counts: &'a [f64], k: u64 },
    /// Synthetic seconds `k` steps wide, generated as the run reaches them; `window` holds the
    /// seconds from `base` on that have been generated and not yet passed.
    Lazy {
        stream: Box<dyn Iterator<Item = f64> + 'a>,
        k: u64,
        base: u64,
        window: VecDeque<f64>,
    },
    /// Any other shape (events, bins that straddle steps): the amount of every step.
    Steps(Vec<f64>),
}

/// Arrivals per step, read forward: the amount at a step and where its run of equal amounts
/// (its bin) ends, and the cumulative amount up to a step.
pub(super) struct Segments<'a> {
    source: Source<'a>,
    /// One past the last step with arrivals.
    end: u64,
    /// The cumulative amount before step `cum_step` (a bin boundary for bins).
    cum_step: u64,
    cum: f64,
}

impl Source<'_> {
    /// The count of bin `b` (0 past the end); `Lazy` generates up to it.
    #[inline]
    fn bin(&mut self, b: u64) -> f64 {
        match self {
            Source::Bins { counts, .. } => counts.get(b as usize).copied().unwrap_or(0.0),
            Source::Lazy {
                stream,
                base,
                window,
                ..
            } => {
                if b < *base {
                    return 0.0;
                }
                while *base + (window.len() as u64) <= b {
                    window.push_back(stream.next().unwrap_or(0.0));
                }
                window[(b - *base) as usize]
            }
            Source::Steps(v) => v.get(b as usize).copied().unwrap_or(0.0),
        }
    }

    /// Steps per bin.
    fn k(&self) -> u64 {
        match self {
            Source::Bins { k, .. } | Source::Lazy { k, .. } => *k,
            Source::Steps(_) => 1,
        }
    }

    /// Forgets bins before `b` (`Lazy` only: the others are read in place).
    fn release_before(&mut self, b: u64) {
        if let Source::Lazy { base, window, .. } = self {
            while *base < b && window.pop_front().is_some() {
                *base += 1;
            }
            *base = (*base).max(b);
        }
    }
}

/// Events counted per step, in order.
struct EventSteps<'a> {
    times: &'a [Micros],
    next: usize,
    step_end: Micros,
    step: Micros,
}

impl Iterator for EventSteps<'_> {
    type Item = f64;

    fn next(&mut self) -> Option<f64> {
        let mut n = 0u64;
        while self
            .times
            .get(self.next)
            .is_some_and(|&t| t < self.step_end)
        {
            self.next += 1;
            n += 1;
        }
        self.step_end = self.step_end.saturating_add(self.step);
        Some(n as f64)
    }
}

impl<'a> Segments<'a> {
    pub(super) fn new(p: &'a Prepared, step: Micros, steps: u64) -> Self {
        let source = match &p.arrivals.kind {
            ArrivalKind::Binned { bin_us, counts } if bin_us % step == 0 => Source::Bins {
                counts,
                k: (bin_us / step) as u64,
            },
            ArrivalKind::Synthetic(spec) if 1_000_000 % step == 0 => Source::Lazy {
                stream: Box::new(spec.stream()),
                k: (1_000_000 / step) as u64,
                base: 0,
                window: VecDeque::new(),
            },
            // One message per event, counted step by step as the run reaches them: a sparse
            // trace over years costs no array per step.
            ArrivalKind::Events { times_us } => Source::Lazy {
                stream: Box::new(EventSteps {
                    times: times_us,
                    next: 0,
                    step_end: p.arrivals.start_us + step,
                    step,
                }),
                k: 1,
                base: 0,
                window: VecDeque::new(),
            },
            _ => Source::Steps(p.arrivals.per_step(step, steps as usize)),
        };
        Self {
            source,
            end: steps,
            cum_step: 0,
            cum: 0.0,
        }
    }

    /// The per-step amount at step `j` and the end of its run; `j` never goes back past the
    /// last `cumulative` call.
    #[inline]
    pub(super) fn at(&mut self, j: u64) -> (f64, u64) {
        if j >= self.end {
            return (0.0, u64::MAX);
        }
        let k = self.source.k();
        let b = j / k;
        let v = self.source.bin(b) / k as f64;
        (v, ((b + 1) * k).min(self.end))
    }

    /// Arrivals in steps `0..j`; `j` never goes back.
    pub(super) fn cumulative(&mut self, j: u64) -> f64 {
        let j = j.min(self.end);
        let k = self.source.k();
        let kf = k as f64;
        // Whole bins up to the one holding `j`, then the part of that bin.
        let bin = j / k;
        if let Source::Bins { counts, .. } = &self.source {
            // In place, left to right (the same sums as bin by bin), without a branch per bin.
            let from = ((self.cum_step / k) as usize).min(counts.len());
            let to = (bin as usize).min(counts.len());
            if from < to {
                let part = &counts[from..to];
                self.cum = if k == 1 {
                    part.iter().fold(self.cum, |acc, c| acc + c)
                } else {
                    part.iter().fold(self.cum, |acc, c| acc + c / kf * kf)
                };
            }
            self.cum_step = self.cum_step.max(bin * k);
        }
        while self.cum_step / k < bin {
            let b = self.cum_step / k;
            let c = self.source.bin(b);
            self.cum += if k == 1 { c } else { c / kf * kf };
            self.cum_step = (b + 1) * k;
        }
        self.source.release_before(bin);
        let v = self.source.bin(bin) / kf;
        self.cum + v * (j - bin * k) as f64
    }
}
