//! Several simulated services under shared budgets, each run on its own thread and made to
//! decide in one global order: by tick time, then by priority, then as listed.
//!
//! Each service publishes the earliest tick its next decision can have. A service at a
//! decision waits until every other service's next tick comes after its own in that order, so
//! the budget ledger it reads holds every earlier decision and no later one: the outcome does
//! not depend on how the threads are scheduled, and a run is byte-identical to the next.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use stepscale_engine::budget::Budgets;

use crate::arrivals::Micros;

/// What the services share.
#[derive(Debug)]
pub struct Lockstep {
    inner: Mutex<Inner>,
    turn: Condvar,
}

#[derive(Debug)]
struct Inner {
    budgets: Budgets,
    names: Vec<String>,
    /// Each service's place among services deciding at the same tick.
    rank: Vec<usize>,
    /// The earliest tick of each service's next decision (`Micros::MAX`: done).
    next: Vec<Micros>,
    /// The most each budget held after any decision.
    peak: Vec<f64>,
    /// Decisions cut by a budget, per service.
    cut: Vec<u64>,
    /// Per budget, what it held after each decision: (tick, used).
    series: Vec<Vec<(Micros, f64)>>,
}

/// What a lockstep run found.
#[derive(Debug, Clone, PartialEq)]
pub struct LockstepReport {
    /// Per budget, in order: its name, the most it held after any decision, its capacity.
    pub budgets: Vec<(String, f64, f64)>,
    /// Per service, in order: decisions a budget cut.
    pub cut: Vec<u64>,
    /// Per budget, in order: what it held after each decision, (tick, used).
    pub series: Vec<Vec<(Micros, f64)>>,
}

impl Lockstep {
    /// Services `names`, ranked by `rank` (lower decides first at equal ticks), under `budgets`.
    #[must_use]
    pub fn new(budgets: Budgets, names: Vec<String>, rank: Vec<usize>) -> Arc<Self> {
        let n = names.len();
        let usage = budgets.usage();
        let peak = usage.iter().map(|u| u.used).collect();
        let series = usage.iter().map(|_| Vec::new()).collect();
        Arc::new(Self {
            inner: Mutex::new(Inner {
                budgets,
                names,
                rank,
                next: vec![Micros::MIN; n],
                peak,
                cut: vec![0; n],
                series,
            }),
            turn: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking service thread leaves data that is still consistent for a report.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The budgets' peaks and the cut decisions, once every service is done.
    #[must_use]
    pub fn report(&self) -> LockstepReport {
        let inner = self.lock();
        LockstepReport {
            budgets: inner
                .budgets
                .usage()
                .into_iter()
                .zip(&inner.peak)
                .map(|(u, p)| (u.name, *p, u.capacity))
                .collect(),
            cut: inner.cut.clone(),
            series: inner.series.clone(),
        }
    }
}

/// One service's handle on the shared budgets.
#[derive(Clone)]
pub struct Member {
    /// The shared state.
    pub shared: Arc<Lockstep>,
    /// This service's index.
    pub index: usize,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Member({})", self.index)
    }
}

/// The turn of one service at one decision: holds the ledger until [`Turn::done`].
pub struct Turn<'a> {
    member: &'a Member,
    inner: MutexGuard<'a, Inner>,
}

impl Member {
    /// Publishes that this service's next decision is at `tick` or later.
    pub fn publish(&self, tick: Micros) {
        let mut inner = self.shared.lock();
        inner.next[self.index] = tick;
        drop(inner);
        self.shared.turn.notify_all();
    }

    /// Waits until every earlier decision of every service is made, then holds the ledger for
    /// the decision at `tick`.
    #[must_use]
    pub fn turn(&self, tick: Micros) -> Turn<'_> {
        let me = self.index;
        let mut inner = self.shared.lock();
        inner.next[me] = tick;
        self.shared.turn.notify_all();
        loop {
            let rank = inner.rank[me];
            let first = (0..inner.next.len())
                .filter(|&j| j != me)
                .all(|j| (inner.next[j], inner.rank[j]) > (tick, rank));
            if first {
                return Turn {
                    member: self,
                    inner,
                };
            }
            inner = self
                .shared
                .turn
                .wait(inner)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Turn<'_> {
    /// The most tasks this service may have now, none when it is under no budget.
    #[must_use]
    pub fn cap(&self) -> Option<u32> {
        let name = &self.inner.names[self.member.index];
        self.inner.budgets.cap(name).map(|c| c.tasks)
    }

    /// Records the decision (`want` asked, `desired` set) and that the next one is at `next`
    /// or later, and lets the others go on.
    pub fn done(mut self, tick: Micros, want: u32, desired: u32, next: Micros) {
        let me = self.member.index;
        let inner = &mut *self.inner;
        let name = inner.names[me].clone();
        inner.budgets.commit(&name, want, desired);
        if desired < want {
            inner.cut[me] += 1;
        }
        for ((peak, series), u) in inner
            .peak
            .iter_mut()
            .zip(&mut inner.series)
            .zip(inner.budgets.usage())
        {
            *peak = peak.max(u.used);
            series.push((tick, u.used));
        }
        inner.next[me] = next;
        drop(self.inner);
        self.member.shared.turn.notify_all();
    }
}
