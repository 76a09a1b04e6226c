//! `tune`: search a policy space on a scenario for the policy with the best objective that
//! meets the constraints; candidates drawn from the scenario's seed and run in parallel.
//!
//! The pipeline: parse the space and the goals (nothing runs before both are valid), prepare
//! the scenario (split at `--train-until` when given), draw candidates, evaluate them in
//! parallel (one summary per seed and part, never a time series), then rank and write.
//!
//! With `--seeds K` each candidate runs with the scenario's seed and the K − 1 following
//! ones: the objective is the mean over the seeds, and each constraint must hold on the worst
//! seed (the largest value for `<` and `<=`, the smallest for `>` and `>=`).

pub mod goal;
pub mod plot;
pub mod report;
pub mod search;
pub mod space;

use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use stepscale_engine::Config;

use crate::arrivals::{ArrivalKind, Arrivals, Micros};
use crate::model::Prepared;
use crate::summary::Summary;
use crate::Backtest;

pub use goal::{Constraint, Goals, Op};
pub use search::Search;
pub use space::{Space, SpaceError};

/// Why a search cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TuneError {
    /// The space file is unusable.
    #[error(transparent)]
    Space(#[from] SpaceError),
    /// A command-line value is unusable.
    #[error("{flag} {value}: {rule}")]
    Flag {
        /// The flag.
        flag: &'static str,
        /// Its value.
        value: String,
        /// The rule.
        rule: String,
    },
    /// Shard folders do not belong together.
    #[error("tune merge: {0}")]
    Merge(String),
}

/// What the user asked for, recorded in every shard so that merged shards can be checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneSpec {
    /// Scenario name.
    pub scenario: String,
    /// The space file as given.
    pub space_path: String,
    /// The space file's text (a merge rebuilds `best.toml` from it).
    pub space_text: String,
    /// Objective and constraints.
    pub goals: Goals,
    /// Number of candidates.
    pub budget: usize,
    /// Seeds per candidate.
    pub seeds: u32,
    /// The search method.
    pub search: Search,
    /// The split time (RFC 3339), when the trace is split.
    pub train_until: Option<String>,
    /// The scenario's seed (candidates are drawn from it).
    pub seed: u64,
}

/// One evaluated candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluated {
    /// Index in the draw order.
    pub id: usize,
    /// Position of each parameter in its domain, [0, 1].
    pub units: Vec<f64>,
    /// Summaries on the train part, one per seed (empty when the policy was invalid).
    pub train: Vec<Summary>,
    /// Summaries on the hold-out part, one per seed.
    pub holdout: Vec<Summary>,
    /// Why the candidate could not run (a combination of values the engine refuses).
    pub error: Option<String>,
}

/// A reference policy run beside the candidates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// `scenario`, `v0.2-defaults`, or a reference kind (`aws_target_tracking`,
    /// `aws_step_scaling`, `keda`).
    pub name: String,
    /// Summaries on the train part, one per seed.
    pub train: Vec<Summary>,
    /// Summaries on the hold-out part, one per seed.
    pub holdout: Vec<Summary>,
}

/// Everything a search produced; a shard holds its share of `evaluated`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneRun {
    /// The request.
    pub spec: TuneSpec,
    /// Evaluated candidates, by id.
    pub evaluated: Vec<Evaluated>,
    /// The scenario's own policy and v0.2's defaults.
    pub references: Vec<Reference>,
    /// False when the search was stopped before its budget.
    pub complete: bool,
    /// `(index, count)` for a shard.
    pub shard: Option<(usize, usize)>,
}

/// The prepared runs a candidate is evaluated on.
pub struct Plan<'a> {
    backtest: &'a Backtest,
    /// Train part, one per seed.
    train: Vec<Prepared>,
    /// Hold-out part, one per seed (empty without a split).
    holdout: Vec<Prepared>,
}

/// Splits a prepared run at `t_us`: arrivals before it, and arrivals from it on, each
/// followed by `drain_us` of drain; none when either side has no arrivals.
#[must_use]
pub fn split(p: &Prepared, t_us: Micros, drain_us: Micros) -> Option<(Prepared, Prepared)> {
    let whole = p.arrivals.materialized();
    let (a, b) = match &whole.kind {
        ArrivalKind::Synthetic(_) => return None,
        ArrivalKind::Binned { bin_us, counts } => {
            let k = usize::try_from((t_us - whole.start_us).div_euclid(*bin_us).max(0))
                .ok()?
                .min(counts.len());
            let second_start = whole.start_us + *bin_us * k as i64;
            (
                Arrivals {
                    start_us: whole.start_us,
                    kind: ArrivalKind::Binned {
                        bin_us: *bin_us,
                        counts: counts[..k].to_vec(),
                    },
                },
                Arrivals {
                    start_us: second_start,
                    kind: ArrivalKind::Binned {
                        bin_us: *bin_us,
                        counts: counts[k..].to_vec(),
                    },
                },
            )
        }
        ArrivalKind::Events { times_us } => {
            let k = times_us.partition_point(|&t| t < t_us);
            (
                Arrivals {
                    start_us: whole.start_us,
                    kind: ArrivalKind::Events {
                        times_us: times_us[..k].to_vec(),
                    },
                },
                Arrivals {
                    start_us: t_us.div_euclid(1_000_000) * 1_000_000,
                    kind: ArrivalKind::Events {
                        times_us: times_us[k..].to_vec(),
                    },
                },
            )
        }
    };
    if a.total() <= 0.0 || b.total() <= 0.0 {
        return None;
    }
    let part = |arrivals: Arrivals| {
        let mut q = p.clone();
        q.start_us = arrivals.start_us;
        q.arrivals_end_us = arrivals.end_us();
        q.hard_end_us = q.arrivals_end_us.saturating_add(drain_us);
        q.arrivals = arrivals;
        q
    };
    Some((part(a), part(b)))
}

impl<'a> Plan<'a> {
    /// Prepares the train (and hold-out) runs for `seeds` seeds.
    pub fn new(
        backtest: &'a Backtest,
        seeds: u32,
        train_until_us: Option<Micros>,
    ) -> Result<Self, TuneError> {
        // Synthetic arrivals are drawn once here, not again for every candidate (up to 10
        // million seconds, 80 MB; a longer span stays lazy).
        let mut shared = backtest.prepared.clone();
        if let ArrivalKind::Synthetic(spec) = &shared.arrivals.kind {
            if spec.seconds <= 10_000_000 {
                shared.arrivals = shared.arrivals.materialized();
            }
        }
        let base = &shared;
        let drain_us = base.hard_end_us - base.arrivals_end_us;
        let (train, holdout) = match train_until_us {
            None => (base.clone(), None),
            Some(t) => {
                let Some((a, b)) = split(base, t, drain_us) else {
                    return Err(TuneError::Flag {
                        flag: "--train-until",
                        value: stepscale_engine::time::rfc3339_secs(t),
                        rule: format!(
                            "must fall inside the arrivals ({} to {}), with arrivals on both sides",
                            stepscale_engine::time::rfc3339_secs(base.start_us),
                            stepscale_engine::time::rfc3339_secs(base.arrivals_end_us)
                        ),
                    });
                };
                (a, Some(b))
            }
        };
        let with_seed = |p: &Prepared, k: u32| {
            let mut q = p.clone();
            q.seed = p.seed.wrapping_add(u64::from(k));
            q
        };
        Ok(Self {
            backtest,
            train: (0..seeds).map(|k| with_seed(&train, k)).collect(),
            holdout: holdout
                .map(|h| (0..seeds).map(|k| with_seed(&h, k)).collect())
                .unwrap_or_default(),
        })
    }

    /// Runs `config` on every seed of both parts.
    #[must_use]
    pub fn run(&self, config: &Config) -> (Vec<Summary>, Vec<Summary>) {
        let go = |ps: &[Prepared]| {
            ps.iter()
                .map(|p| {
                    self.backtest
                        .simulate_into(p, config, crate::model::RowSink::Nothing)
                        .1
                })
                .collect()
        };
        (go(&self.train), go(&self.holdout))
    }
}

/// The documented limits on what a candidate's values may ask of the plant (the scenario's
/// own policy was checked when it was prepared).
fn candidate_limits(plan: &Plan<'_>, config: &Config) -> Result<(), String> {
    use crate::limits::{MAX_SLOTS, MAX_TASKS};
    let max_tasks = config.guards.max_tasks;
    let slots = u64::from(max_tasks) * u64::from(plan.backtest.scenario.plant.concurrency);
    if max_tasks > MAX_TASKS || slots > MAX_SLOTS {
        return Err(format!(
            "guards.max_tasks = {max_tasks}: must be at most {MAX_TASKS}, and max_tasks × plant.concurrency at most {MAX_SLOTS} (documented limits)"
        ));
    }
    Ok(())
}

/// One candidate: refused (with the reason kept) when the engine or a limit refuses its
/// values, or when a figure comes out as no number, which would otherwise read as 0 and win.
fn evaluate_one(plan: &Plan<'_>, space: &Space, id: usize, units: &[f64]) -> Evaluated {
    let refused = |error: String| Evaluated {
        id,
        units: units.to_vec(),
        train: Vec::new(),
        holdout: Vec::new(),
        error: Some(error),
    };
    let config = match space.config(units) {
        Ok(c) => c,
        Err(e) => return refused(e),
    };
    if let Err(e) = candidate_limits(plan, &config) {
        return refused(e);
    }
    let (train, holdout) = plan.run(&config);
    if let Some(key) = train.iter().chain(&holdout).find_map(Summary::non_finite) {
        return refused(format!(
            "the run overflowed: `{key}` is not a finite number"
        ));
    }
    Evaluated {
        id,
        units: units.to_vec(),
        train,
        holdout,
        error: None,
    }
}

/// Evaluates the candidates `ids` (positions `units`) in parallel; stops early when `stop` is
/// set. Results come back in id order whatever the thread count.
pub fn evaluate(
    plan: &Plan<'_>,
    space: &Space,
    batch: &[(usize, Vec<f64>)],
    stop: &AtomicBool,
    progress: &(dyn Fn() + Sync),
) -> Vec<Evaluated> {
    let mut out: Vec<Option<Evaluated>> = batch
        .par_iter()
        .map(|(id, units)| {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            let ev = evaluate_one(plan, space, *id, units);
            progress();
            Some(ev)
        })
        .collect();
    out.sort_by_key(|e| e.as_ref().map_or(usize::MAX, |e| e.id));
    out.into_iter().flatten().collect()
}

/// Runs the reference policies: the scenario's own, fast-autoscaler v0.2's defaults, and what
/// AWS (target tracking, step scaling) and KEDA would do at their documented defaults with the
/// scenario's per-task target (see [`crate::reference`]).
#[must_use]
pub fn references(plan: &Plan<'_>) -> Vec<Reference> {
    let own = &plan.backtest.config;
    let v02 = Config::default();
    let derived: Vec<(&str, Config)> = crate::reference::Reference::ALL
        .into_iter()
        .map(|kind| {
            let config = crate::reference::config(kind, &plan.backtest.scenario, own);
            (kind.name(), config)
        })
        .collect();
    [("scenario", own), ("v0.2-defaults", &v02)]
        .into_iter()
        .chain(derived.iter().map(|(n, c)| (*n, c)))
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|(name, config)| {
            let (train, holdout) = plan.run(config);
            Reference {
                name: name.to_string(),
                train,
                holdout,
            }
        })
        .collect()
}

/// Draws and evaluates the whole search (or one shard of it).
pub fn run(
    plan: &Plan<'_>,
    space: &Space,
    spec: TuneSpec,
    shard: Option<(usize, usize)>,
    stop: &AtomicBool,
    progress: &(dyn Fn() + Sync),
) -> TuneRun {
    let evaluated = search::drive(plan, space, &spec, shard, stop, progress);
    // Only a stop request cuts a search short: a grid smaller than the budget, or a `refine`
    // with nothing left to refine, has drawn all it had.
    let complete = !stop.load(Ordering::Relaxed);
    TuneRun {
        references: references(plan),
        spec,
        evaluated,
        complete,
        shard,
    }
}

/// The first setting in which two searches differ (the space file's path as typed is not one:
/// its text is).
fn spec_difference(a: &TuneSpec, b: &TuneSpec) -> Option<&'static str> {
    [
        ("scenarios", a.scenario != b.scenario),
        ("space files", a.space_text != b.space_text),
        ("objectives or constraints", a.goals != b.goals),
        ("budgets", a.budget != b.budget),
        ("seed counts", a.seeds != b.seeds),
        ("search methods", a.search != b.search),
        ("--train-until times", a.train_until != b.train_until),
        ("scenario seeds", a.seed != b.seed),
    ]
    .into_iter()
    .find_map(|(name, differs)| differs.then_some(name))
}

/// Joins shards into the run one process would have made.
pub fn merge(mut shards: Vec<TuneRun>) -> Result<TuneRun, TuneError> {
    let Some(first) = shards.first().cloned() else {
        return Err(TuneError::Merge("no shard folders given".into()));
    };
    let Some((_, n)) = first.shard else {
        return Err(TuneError::Merge(
            "the first folder is a whole run, not a shard (made without --shard)".into(),
        ));
    };
    // The count comes from shard.json: the shards seen are kept in a set, never in a table of
    // that size, so a forged count cannot run the merge out of memory.
    let mut seen = std::collections::BTreeSet::new();
    for s in &shards {
        match s.shard {
            Some((i, m)) if m == n && i < n => {
                if !seen.insert(i) {
                    return Err(TuneError::Merge(format!("shard {i}/{n} is given twice")));
                }
            }
            Some((i, m)) => {
                return Err(TuneError::Merge(format!(
                    "every folder must be a shard of {n}; one is shard {i}/{m}"
                )))
            }
            None => {
                return Err(TuneError::Merge(format!(
                    "every folder must be a shard of {n}; one is a whole run (made without --shard)"
                )))
            }
        }
        if let Some(field) = spec_difference(&first.spec, &s.spec) {
            return Err(TuneError::Merge(format!(
                "the shards come from different searches: their {field} differ"
            )));
        }
    }
    // At most one more than the shards given: the first gap.
    if let Some(missing) = (0..n).find(|i| !seen.contains(i)) {
        return Err(TuneError::Merge(format!("shard {missing}/{n} is missing")));
    }
    let complete = shards.iter().all(|s| s.complete);
    let mut evaluated: Vec<Evaluated> = shards
        .iter_mut()
        .flat_map(|s| std::mem::take(&mut s.evaluated))
        .collect();
    evaluated.sort_by_key(|e| e.id);
    Ok(TuneRun {
        spec: first.spec,
        evaluated,
        references: first.references,
        complete,
        shard: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_keeps_every_arrival() {
        let p = Prepared {
            arrivals: Arrivals {
                start_us: 0,
                kind: ArrivalKind::Binned {
                    bin_us: 60_000_000,
                    counts: vec![1.0, 2.0, 3.0, 4.0],
                },
            },
            start_us: 0,
            arrivals_end_us: 240_000_000,
            hard_end_us: 240_000_000,
            step_us: 1_000_000,
            resolution_us: 60_000_000,
            plant: crate::scenario::Plant::default(),
            schedule: crate::scenario::ControllerSpec::default(),
            initial_tasks: 1,
            slo_us: 1_000_000,
            seed: 1,
            read_times_us: None,
            keep_ticks: false,
            keep_completions: false,
            fluid_every_step: false,
            lockstep: None,
            shadows: Vec::new(),
            tick_times_us: None,
        };
        let (a, b) = split(&p, 120_000_000, 0).unwrap();
        assert!((a.arrivals.total() - 3.0).abs() < 1e-12);
        assert!((b.arrivals.total() - 7.0).abs() < 1e-12);
        assert_eq!(b.start_us, 120_000_000);
        assert!(split(&p, 0, 0).is_none());
    }
}
