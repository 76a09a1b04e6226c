//! Running a services file: the services under budgets together in lockstep (one thread each),
//! then the rest stage by stage, each pipeline stage fed the completions of the one before;
//! and the files the run writes.

use std::path::Path;

use serde::Serialize;
use stepscale_engine::budget::Budgets;

use super::MultiBacktest;
use crate::arrivals::{ArrivalKind, Arrivals, Micros};
use crate::model::lockstep::{Lockstep, LockstepReport, Member};
use crate::model::{Outcome, Prepared, RowSink};
use crate::output::OutputError;
use crate::plot::{write_services, BudgetRun, ServiceRun};
use crate::run::{check_run_limits, BacktestError, OutputFiles};
use crate::staged::{OutputRules, StagedDir};
use crate::summary::Summary;

/// One service's results.
#[derive(Debug, Clone)]
pub struct ServiceOutcome {
    /// The outcome (rows only when the run kept them).
    pub outcome: Outcome,
    /// The summary.
    pub summary: Summary,
}

/// One service's line in the services file's `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceLine {
    /// The service.
    pub name: String,
    /// Where its arrivals came from: `scenario`, or the upstream service's name.
    pub arrivals_from: String,
    /// Messages that arrived.
    pub messages: f64,
    /// Messages processed.
    pub processed: f64,
    /// p99 wait, seconds.
    pub wait_p99_s: f64,
    /// Seconds the oldest message was older than the SLO.
    pub slo_violation_s: f64,
    /// Task-hours billed.
    pub task_hours: f64,
    /// Decisions a budget cut.
    pub budget_cuts: u64,
}

/// One budget's line: the most it held after any decision, against its capacity.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetLine {
    /// The budget.
    pub name: String,
    /// Its capacity (tasks or vCPU).
    pub capacity: f64,
    /// The most the members' desired counts held after any decision.
    pub peak: f64,
}

/// What a services file's run writes to `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct MultiSummary {
    /// The file's name.
    pub name: String,
    /// Each service, as listed.
    pub services: Vec<ServiceLine>,
    /// Each budget, as listed.
    pub budgets: Vec<BudgetLine>,
    /// Task-hours of every service together.
    pub task_hours: f64,
}

impl MultiSummary {
    /// The lines `backtest` prints.
    #[must_use]
    pub fn human(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!("{}: {:.1} task-hours in all\n", self.name, self.task_hours);
        for s in &self.services {
            let _ = writeln!(
                out,
                "  {:<16} {:>10.0} messages (from {}), p99 wait {:.1} s, SLO violated {:.0} s, {:.1} task-hours, {} decisions cut by a budget",
                s.name, s.messages, s.arrivals_from, s.wait_p99_s, s.slo_violation_s, s.task_hours, s.budget_cuts
            );
        }
        for b in &self.budgets {
            let _ = writeln!(
                out,
                "  budget {:<9} peak {} of {}",
                b.name, b.peak, b.capacity
            );
        }
        out.pop();
        out
    }
}

/// Upstream completions per second as a stage's arrivals, from the upstream's start.
pub(super) fn fed_arrivals(
    upstream: &Prepared,
    completions: &[f64],
    scale: f64,
    stage: &Prepared,
    drain_limit_secs: u64,
) -> Prepared {
    let counts: Vec<f64> = completions.iter().map(|c| c * scale).collect();
    let arrivals = Arrivals {
        start_us: upstream.start_us,
        kind: ArrivalKind::Binned {
            bin_us: 1_000_000,
            counts,
        },
    };
    let end = arrivals.end_us();
    Prepared {
        start_us: upstream.start_us,
        arrivals_end_us: end,
        hard_end_us: end.saturating_add((drain_limit_secs as Micros).saturating_mul(1_000_000)),
        arrivals,
        ..stage.clone()
    }
}

impl MultiBacktest {
    /// Runs every service, `run_one` simulating one prepared service.
    fn run_all<F>(&self, run_one: F) -> Result<(Vec<ServiceOutcome>, LockstepReport), BacktestError>
    where
        F: Fn(usize, &Prepared) -> Result<(Outcome, Summary), BacktestError> + Sync,
    {
        let n = self.services.len();
        let mut results: Vec<Option<ServiceOutcome>> = vec![None; n];
        let mut prepared: Vec<Prepared> =
            self.backtests.iter().map(|b| b.prepared.clone()).collect();
        for (i, s) in self.services.iter().enumerate() {
            prepared[i].keep_completions = self
                .services
                .iter()
                .any(|d| d.arrivals_from.as_deref() == Some(s.name.as_str()));
        }
        // Budget members: together, in lockstep.
        let members: Vec<usize> = (0..n)
            .filter(|&i| {
                self.budgets
                    .iter()
                    .any(|b| b.members.iter().any(|m| m.service == self.services[i].name))
            })
            .collect();
        let mut report = LockstepReport {
            budgets: Vec::new(),
            cut: vec![0; n],
            series: Vec::new(),
        };
        if !members.is_empty() {
            let budgets = Budgets::new(&self.budgets, |name| {
                let i = self.index(name).unwrap_or(0);
                (
                    self.backtests[i].config.guards.min_tasks,
                    self.backtests[i].prepared.initial_tasks,
                )
            });
            // At equal ticks the higher priority decides first, then the order listed.
            let priority = |i: usize| {
                self.budgets
                    .iter()
                    .flat_map(|b| &b.members)
                    .filter(|m| m.service == self.services[i].name)
                    .map(|m| m.priority)
                    .max()
                    .unwrap_or(0)
            };
            let mut by_rank = members.clone();
            by_rank.sort_by_key(|&i| (std::cmp::Reverse(priority(i)), i));
            let rank: Vec<usize> = members
                .iter()
                .map(|i| by_rank.iter().position(|j| j == i).unwrap_or(0))
                .collect();
            let names = members
                .iter()
                .map(|&i| self.services[i].name.clone())
                .collect();
            let shared = Lockstep::new(budgets, names, rank);
            let run_one = &run_one;
            let done: Vec<Result<(Outcome, Summary), BacktestError>> =
                std::thread::scope(|scope| {
                    let handles: Vec<_> = members
                        .iter()
                        .enumerate()
                        .map(|(k, &i)| {
                            let member = Member {
                                shared: std::sync::Arc::clone(&shared),
                                index: k,
                            };
                            let mut p = prepared[i].clone();
                            p.lockstep = Some(member.clone());
                            scope.spawn(move || {
                                // A service that fails before its first decision holds up no other.
                                let _release = Release(member);
                                run_one(i, &p)
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| {
                            h.join().unwrap_or_else(|_| {
                                Err(BacktestError::Output(OutputError::Io {
                                    action: "simulating",
                                    path: self.path.clone(),
                                    cause: std::io::Error::other("a service's simulation panicked"),
                                }))
                            })
                        })
                        .collect()
                });
            let found = shared.report();
            for (k, (&i, r)) in members.iter().zip(done).enumerate() {
                let (outcome, summary) = r?;
                report.cut[i] = found.cut[k];
                results[i] = Some(ServiceOutcome { outcome, summary });
            }
            report.budgets = found.budgets;
            report.series = found.series;
        }
        // The rest, stage by stage.
        for i in self.order()? {
            if results[i].is_some() {
                continue;
            }
            let s = &self.services[i];
            let p = match s.arrivals_from.as_deref().and_then(|f| self.index(f)) {
                Some(u) => {
                    let completions = results[u]
                        .as_ref()
                        .and_then(|r| r.outcome.completions.as_deref())
                        .unwrap_or_default();
                    let bt = &self.backtests[i];
                    let p = fed_arrivals(
                        &prepared[u],
                        completions,
                        s.arrivals_scale,
                        &prepared[i],
                        bt.scenario.drain_limit_secs,
                    );
                    check_run_limits(
                        &bt.scenario,
                        &bt.config,
                        &p.arrivals,
                        p.resolution_us as f64 / 1e6,
                        &bt.path,
                    )?;
                    p
                }
                None => prepared[i].clone(),
            };
            let (outcome, summary) = run_one(i, &p)?;
            results[i] = Some(ServiceOutcome { outcome, summary });
        }
        let results = results.into_iter().flatten().collect();
        Ok((results, report))
    }

    /// Runs every service in memory, keeping the rows and every decision.
    ///
    /// # Errors
    /// A stage whose fed arrivals break a limit.
    pub fn simulate(&self) -> Result<(Vec<ServiceOutcome>, LockstepReport), BacktestError> {
        self.run_all(|i, p| {
            let mut p = p.clone();
            p.keep_ticks = true;
            let bt = &self.backtests[i];
            Ok(bt.simulate_into(&p, &bt.config, RowSink::Keep))
        })
    }

    /// Runs every service and writes `summary.json` (every service and budget) and, per
    /// service, `NAME.summary.json`, `NAME.timeseries.csv`, `NAME.plot.png` and `NAME.plot.svg`
    /// into `dir`, all or nothing, under the output rules.
    ///
    /// # Errors
    /// An unusable `dir`, a failed write, or a stage whose fed arrivals break a limit.
    pub fn run_and_write(&self, dir: &Path, force: bool) -> Result<MultiSummary, BacktestError> {
        let rules = OutputRules {
            force,
            inputs: self.inputs(),
        };
        let mut staged = StagedDir::new(dir, "backtest", &rules)?;
        let files: Vec<OutputFiles> = self
            .services
            .iter()
            .map(|s| OutputFiles::in_staging(&mut staged, &format!("{}.", s.name)))
            .collect();
        let (results, report) =
            self.run_all(|i, p| self.backtests[i].run_to_files(p, &files[i], false))?;
        let summary = self.summarize(&results, &report);
        self.plot(&mut staged, &results, &report)?;
        let mut json = serde_json::to_string_pretty(&summary).unwrap_or_default();
        json.push('\n');
        staged.write("summary.json", json.as_bytes())?;
        staged.commit()?;
        Ok(summary)
    }

    /// `plot.png` and `plot.svg`: every service and budget on one time axis.
    fn plot(
        &self,
        staged: &mut StagedDir,
        results: &[ServiceOutcome],
        report: &LockstepReport,
    ) -> Result<(), BacktestError> {
        let start_us = self
            .backtests
            .iter()
            .map(|b| b.prepared.start_us)
            .min()
            .unwrap_or(0);
        let services: Vec<ServiceRun> = self
            .services
            .iter()
            .zip(results)
            .zip(&self.backtests)
            .map(|((s, r), b)| ServiceRun {
                name: s.name.clone(),
                envelope: r.outcome.envelope.clone(),
                slo_s: b.scenario.slo.wait_secs,
            })
            .collect();
        let budgets: Vec<BudgetRun> = report
            .budgets
            .iter()
            .zip(&report.series)
            .map(|((name, _, capacity), series)| BudgetRun {
                name: name.clone(),
                capacity: *capacity,
                series: series.clone(),
            })
            .collect();
        let cuts: u64 = report.cut.iter().sum();
        let title = format!(
            "{} — {} services, {:.1} task-hours{}",
            self.name,
            services.len(),
            results.iter().map(|r| r.summary.task_hours).sum::<f64>(),
            if budgets.is_empty() {
                String::new()
            } else {
                format!(", {cuts} decisions cut by a budget")
            }
        );
        let png = staged.path("plot.png");
        let svg = staged.path("plot.svg");
        write_services(&png, &svg, &title, &services, &budgets, start_us)?;
        Ok(())
    }

    /// The `summary.json` of a run.
    #[must_use]
    pub fn summarize(&self, results: &[ServiceOutcome], report: &LockstepReport) -> MultiSummary {
        let services: Vec<ServiceLine> = self
            .services
            .iter()
            .zip(results)
            .enumerate()
            .map(|(i, (s, r))| ServiceLine {
                name: s.name.clone(),
                arrivals_from: s.arrivals_from.clone().unwrap_or_else(|| "scenario".into()),
                messages: r.summary.messages,
                processed: r.summary.processed,
                wait_p99_s: r.summary.wait_p99_s,
                slo_violation_s: r.summary.slo_violation_s,
                task_hours: r.summary.task_hours,
                budget_cuts: report.cut.get(i).copied().unwrap_or(0),
            })
            .collect();
        MultiSummary {
            name: self.name.clone(),
            task_hours: services.iter().map(|s| s.task_hours).sum(),
            services,
            budgets: report
                .budgets
                .iter()
                .map(|(name, peak, capacity)| BudgetLine {
                    name: name.clone(),
                    capacity: *capacity,
                    peak: *peak,
                })
                .collect(),
        }
    }
}

/// Marks a lockstep member done when its thread ends, however it ends.
struct Release(Member);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.publish(Micros::MAX);
    }
}
