//! How candidates are drawn: at random, on a grid, or refined around the best so far.
//!
//! Every candidate's parameters come from the scenario's seed and the candidate's id alone, so
//! the draw does not depend on the thread count, and a shard draws exactly the candidates that
//! one process would have drawn under the same ids.
//!
//! `refine` spends a quarter of the budget on random candidates, then works in rounds of an
//! eighth: each new candidate perturbs one of the best candidates so far (feasible first, by
//! objective; then the least infeasible) with a Gaussian step in the unit cube whose width
//! shrinks from 0.25 to 0.03 over the rounds. A round depends on the rounds before it, so
//! `refine` runs in one process and cannot be sharded.

use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use super::space::Space;
use super::{evaluate, Evaluated, Plan, TuneSpec};
use crate::rng::SimRng;

/// A search method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Search {
    /// Independent uniform draws.
    Random,
    /// A grid over every parameter, thinned evenly to the budget.
    Grid,
    /// Random, then rounds of local refinement around the best.
    Refine,
}

impl Search {
    /// The name on the command line.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Random => "random",
            Self::Grid => "grid",
            Self::Refine => "refine",
        }
    }
}

/// The RNG of candidate `id`.
fn rng_for(seed: u64, id: usize) -> SimRng {
    SimRng::new(seed).fork(0x7475_6e65_0000_0000 ^ id as u64)
}

/// Candidate `id` of a random search.
#[must_use]
pub fn random_units(seed: u64, id: usize, dims: usize) -> Vec<f64> {
    let mut rng = rng_for(seed, id);
    (0..dims).map(|_| rng.uniform()).collect()
}

/// The grid, thinned evenly to at most `budget` points, in id order.
#[must_use]
pub fn grid_units(space: &Space, budget: usize) -> Vec<Vec<f64>> {
    // Levels for continuous ranges: the most that keeps the full grid near the budget.
    let mut levels = 2usize;
    let size = |l: usize| {
        space
            .params
            .iter()
            .map(|p| p.domain.grid(l).len())
            .try_fold(1usize, usize::checked_mul)
            .unwrap_or(usize::MAX)
    };
    while levels < 1000 && size(levels + 1) <= budget {
        levels += 1;
    }
    let axes: Vec<Vec<f64>> = space.params.iter().map(|p| p.domain.grid(levels)).collect();
    let total = size(levels);
    let take = total.min(budget.max(1));
    (0..take)
        .map(|j| {
            // Evenly spread over the full grid when it is larger than the budget.
            let mut k = if total == take {
                j
            } else {
                (j as u128 * total as u128 / take as u128) as usize
            };
            axes.iter()
                .rev()
                .map(|axis| {
                    let v = axis[k % axis.len()];
                    k /= axis.len();
                    v
                })
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect()
        })
        .collect()
}

/// Draws and evaluates every candidate of `spec` (those of `shard` only, when given).
pub fn drive(
    plan: &Plan<'_>,
    space: &Space,
    spec: &TuneSpec,
    shard: Option<(usize, usize)>,
    stop: &AtomicBool,
    progress: &(dyn Fn() + Sync),
) -> Vec<Evaluated> {
    let dims = space.params.len();
    let mine = |id: &usize| shard.is_none_or(|(i, n)| id % n == i);
    match spec.search {
        Search::Random => {
            let batch: Vec<_> = (0..spec.budget)
                .filter(mine)
                .map(|id| (id, random_units(spec.seed, id, dims)))
                .collect();
            evaluate(plan, space, &batch, stop, progress)
        }
        Search::Grid => {
            let batch: Vec<_> = grid_units(space, spec.budget)
                .into_iter()
                .enumerate()
                .filter(|(id, _)| mine(id))
                .collect();
            evaluate(plan, space, &batch, stop, progress)
        }
        Search::Refine => refine(plan, space, spec, stop, progress),
    }
}

fn refine(
    plan: &Plan<'_>,
    space: &Space,
    spec: &TuneSpec,
    stop: &AtomicBool,
    progress: &(dyn Fn() + Sync),
) -> Vec<Evaluated> {
    let dims = space.params.len();
    let first = (spec.budget / 4).max(1).min(spec.budget);
    let round = (spec.budget / 8).max(1);
    let batch: Vec<_> = (0..first)
        .map(|id| (id, random_units(spec.seed, id, dims)))
        .collect();
    let mut all = evaluate(plan, space, &batch, stop, progress);
    let rounds = (spec.budget - first).div_ceil(round).max(1);
    let mut next = first;
    let mut r = 0usize;
    while next < spec.budget && !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let elite = ranked(&all, spec, round.clamp(1, 8));
        if elite.is_empty() {
            break;
        }
        let frac = r as f64 / rounds.saturating_sub(1).max(1) as f64;
        let sigma = 0.25 * (0.03f64 / 0.25).powf(frac);
        let end = (next + round).min(spec.budget);
        let batch: Vec<_> = (next..end)
            .map(|id| {
                let mut rng = rng_for(spec.seed, id);
                let parent = &elite[(id - next) % elite.len()];
                let units = parent
                    .iter()
                    .map(|u| (u + sigma * rng.normal()).clamp(0.0, 1.0))
                    .collect();
                (id, units)
            })
            .collect();
        all.extend(evaluate(plan, space, &batch, stop, progress));
        next = end;
        r += 1;
    }
    all
}

/// The units of the `k` best candidates: feasible by objective, then infeasible by violation;
/// ties broken by id.
fn ranked(all: &[Evaluated], spec: &TuneSpec, k: usize) -> Vec<Vec<f64>> {
    let mut scored: Vec<(bool, f64, f64, usize, &Vec<f64>)> = all
        .iter()
        .filter_map(|e| {
            let s = spec.goals.score(&e.train)?;
            Some((!s.feasible, s.violation, s.objective, e.id, &e.units))
        })
        .collect();
    scored.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then(if a.0 {
                a.1.total_cmp(&b.1)
            } else {
                a.2.total_cmp(&b.2)
            })
            .then(a.3.cmp(&b.3))
    });
    scored.into_iter().take(k).map(|s| s.4.clone()).collect()
}
