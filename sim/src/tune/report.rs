//! A search's outputs: `results.csv`, `pareto.csv`, `pareto.png`/`.svg`, `best.toml`,
//! `best.json` (or `shard.json` for one shard), and the comparison printed at the end.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use toml::Value;

use super::goal::{over_seeds, Score};
use super::plot::{Axis, ParetoData, Point as PlotPoint};
use super::space::Space;
use super::{Evaluated, Reference, TuneRun};
use crate::output::OutputError;
use crate::staged::{OutputRules, StagedDir};
use crate::summary::Summary;

/// The file a shard writes.
pub const SHARD_FILE: &str = "shard.json";

/// What the caller prints and how it exits.
#[derive(Debug, Clone)]
pub struct Report {
    /// Whether a feasible candidate was found.
    pub feasible: bool,
    /// Whether the whole budget was evaluated.
    pub complete: bool,
    /// Lines for the terminal: the best (or closest) candidate and the comparison table.
    pub text: String,
}

fn csv_value(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// A candidate's score on its train summaries, with the figures of `keys` (the worst seed for
/// a constraint key, else the mean).
struct Row<'a> {
    ev: &'a Evaluated,
    score: Option<Score>,
}

fn figure(run: &TuneRun, ss: &[Summary], key: &str) -> f64 {
    let (mean, min, max) = over_seeds(ss, key);
    match run.spec.goals.constraints.iter().find(|c| c.key == key) {
        Some(c) if key != run.spec.goals.objective => {
            if c.op.upper() {
                max
            } else {
                min
            }
        }
        _ => mean,
    }
}

fn rows(run: &TuneRun) -> Vec<Row<'_>> {
    run.evaluated
        .iter()
        .map(|ev| Row {
            ev,
            score: run.spec.goals.score(&ev.train),
        })
        .collect()
}

/// The best feasible row, else the closest infeasible one; ties by id.
fn best<'a, 'r>(rows: &'r [Row<'a>]) -> Option<&'r Row<'a>> {
    rows.iter().filter(|r| r.score.is_some()).min_by(|a, b| {
        let (sa, sb) = (a.score.as_ref(), b.score.as_ref());
        let (Some(sa), Some(sb)) = (sa, sb) else {
            return std::cmp::Ordering::Equal;
        };
        (!sa.feasible)
            .cmp(&!sb.feasible)
            .then(sa.violation.total_cmp(&sb.violation))
            .then(sa.objective.total_cmp(&sb.objective))
            .then(a.ev.id.cmp(&b.ev.id))
    })
}

/// Indices into `rows` of the feasible candidates no other feasible one beats on both the
/// trade-off key and the objective.
fn pareto(run: &TuneRun, rows: &[Row<'_>]) -> Vec<usize> {
    let (key, upper) = run.spec.goals.trade_off_key();
    let pts: Vec<(f64, f64, usize)> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            // The front is over the candidates that meet every constraint.
            let s = r.score.as_ref().filter(|s| s.feasible)?;
            let x = figure(run, &r.ev.train, &key);
            Some((if upper { x } else { -x }, s.objective, i))
        })
        .collect();
    let mut front = super::goal::front(pts);
    front.sort_unstable();
    front
}

fn header(run: &TuneRun, space: &Space) -> String {
    let mut h = String::from("id");
    for p in &space.params {
        let _ = write!(h, ",{}", p.key);
    }
    let _ = write!(h, ",objective");
    let keys = run.spec.goals.report_keys();
    for k in &keys {
        let _ = write!(h, ",{k}");
    }
    h.push_str(",feasible,violation");
    if run.spec.train_until.is_some() {
        for k in &keys {
            let _ = write!(h, ",holdout_{k}");
        }
        h.push_str(",holdout_feasible");
    }
    h.push_str(",error\n");
    h
}

fn line(run: &TuneRun, space: &Space, r: &Row<'_>) -> String {
    let mut l = r.ev.id.to_string();
    for v in space.values(&r.ev.units) {
        let _ = write!(l, ",{}", csv_value(&v));
    }
    let keys = run.spec.goals.report_keys();
    match &r.score {
        Some(s) => {
            let _ = write!(l, ",{}", s.objective);
            for k in &keys {
                let _ = write!(l, ",{}", figure(run, &r.ev.train, k));
            }
            let _ = write!(l, ",{},{}", s.feasible, s.violation);
        }
        None => {
            l.push_str(&",".repeat(keys.len() + 3));
        }
    }
    if run.spec.train_until.is_some() {
        match run.spec.goals.score(&r.ev.holdout) {
            Some(h) => {
                for k in &keys {
                    let _ = write!(l, ",{}", figure(run, &r.ev.holdout, k));
                }
                let _ = write!(l, ",{}", h.feasible);
            }
            None => l.push_str(&",".repeat(keys.len() + 1)),
        }
    }
    let err = r.ev.error.as_deref().unwrap_or("");
    let _ = writeln!(l, ",{}", csv_value(&Value::String(err.to_string())));
    l
}

#[derive(Serialize)]
struct BestJson<'a> {
    complete: bool,
    scenario: &'a str,
    search: &'a str,
    budget: usize,
    evaluated: usize,
    seeds: u32,
    objective: &'a str,
    constraints: Vec<String>,
    train_until: Option<&'a str>,
    feasible: bool,
    best: Option<BestEntry<'a>>,
    references: &'a [Reference],
    /// Reference policies that meet every constraint and beat the best candidate's objective
    /// (or meet them where no candidate does): widen the space.
    beaten_by: &'a [BeatenBy<'a>],
}

/// A reference policy that does better than the search's best.
#[derive(Serialize)]
struct BeatenBy<'a> {
    reference: &'a str,
    objective: f64,
    best_objective: Option<f64>,
}

/// The references that meet every constraint on the train part and beat `best` (or that meet
/// them where `best` does not), best first.
fn beaten_by<'a>(run: &'a TuneRun, best: Option<&Row<'_>>) -> Vec<BeatenBy<'a>> {
    let best_score = best.and_then(|b| b.score.clone());
    let mut out: Vec<BeatenBy<'a>> = run
        .references
        .iter()
        .filter_map(|r| {
            let s = run.spec.goals.score(&r.train)?;
            if !s.feasible {
                return None;
            }
            let better = match &best_score {
                Some(b) if b.feasible => s.objective < b.objective,
                _ => true,
            };
            better.then(|| BeatenBy {
                reference: &r.name,
                objective: s.objective,
                best_objective: best_score
                    .as_ref()
                    .filter(|b| b.feasible)
                    .map(|b| b.objective),
            })
        })
        .collect();
    out.sort_by(|a, b| a.objective.total_cmp(&b.objective));
    out
}

#[derive(Serialize)]
struct BestEntry<'a> {
    id: usize,
    values: BTreeMap<String, Value>,
    train: &'a [Summary],
    holdout: &'a [Summary],
}

fn mean(ss: &[Summary], key: &str) -> f64 {
    over_seeds(ss, key).0
}

fn table(entries: &[(&str, &[Summary])]) -> String {
    let mut out = format!(
        "  {:<22} {:>12} {:>12} {:>16} {:>9} {:>7}\n",
        "policy", "cost_usd", "p99 wait s", "SLO violation s", "actions", "flips"
    );
    for (name, ss) in entries {
        if ss.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "  {:<22} {:>12.2} {:>12.1} {:>16.0} {:>9.0} {:>7.0}",
            name,
            mean(ss, "cost_usd"),
            mean(ss, "wait_p99_s"),
            mean(ss, "slo_violation_s"),
            mean(ss, "scale_out_actions") + mean(ss, "scale_in_actions"),
            mean(ss, "direction_flips"),
        );
    }
    out
}

fn best_toml(run: &TuneRun, space: &Space, r: &Row<'_>, feasible: bool) -> String {
    let spec = &run.spec;
    let mut h = String::new();
    let _ = writeln!(
        h,
        "# Found by `stepscale tune` on scenario {}, space {}.",
        spec.scenario, spec.space_path
    );
    let _ = writeln!(
        h,
        "# Search: {}, candidate {} of {} evaluated ({}), seed {}, {} seed(s) per candidate.",
        spec.search.as_str(),
        r.ev.id,
        run.evaluated.len(),
        if run.complete {
            "complete"
        } else {
            "INCOMPLETE: stopped early"
        },
        spec.seed,
        spec.seeds
    );
    let cons: Vec<String> = spec
        .goals
        .constraints
        .iter()
        .map(ToString::to_string)
        .collect();
    let _ = writeln!(
        h,
        "# Objective: minimise {}; constraints: {}.{}",
        spec.goals.objective,
        if cons.is_empty() {
            "none".to_string()
        } else {
            cons.join(", ")
        },
        if feasible {
            ""
        } else {
            " NONE HELD: this is the closest candidate."
        }
    );
    for (part, ss) in [("train", &r.ev.train), ("hold-out", &r.ev.holdout)] {
        if ss.is_empty() {
            continue;
        }
        let figs: Vec<String> = spec
            .goals
            .report_keys()
            .iter()
            .map(|k| format!("{k} {}", figure(run, ss, k)))
            .collect();
        let _ = writeln!(h, "# {part}: {}", figs.join(", "));
    }
    h.push('\n');
    h.push_str(&toml::to_string(&space.document(&r.ev.units)).unwrap_or_default());
    h
}

/// Writes the outputs of a whole (or merged) run into `dir`, all or nothing.
pub fn write(
    run: &TuneRun,
    space: &Space,
    dir: &Path,
    rules: &OutputRules,
) -> Result<Report, OutputError> {
    let rows = rows(run);
    let mut results = header(run, space);
    for r in &rows {
        results.push_str(&line(run, space, r));
    }
    let front = pareto(run, &rows);
    let mut pareto_csv = header(run, space);
    for &i in &front {
        pareto_csv.push_str(&line(run, space, &rows[i]));
    }
    let best = best(&rows);
    let feasible = best.is_some_and(|b| b.score.as_ref().is_some_and(|s| s.feasible));
    let beaten = beaten_by(run, best);
    let best_json = BestJson {
        complete: run.complete,
        scenario: &run.spec.scenario,
        search: run.spec.search.as_str(),
        budget: run.spec.budget,
        evaluated: run.evaluated.len(),
        seeds: run.spec.seeds,
        objective: &run.spec.goals.objective,
        constraints: run
            .spec
            .goals
            .constraints
            .iter()
            .map(ToString::to_string)
            .collect(),
        train_until: run.spec.train_until.as_deref(),
        feasible,
        best: best.map(|b| BestEntry {
            id: b.ev.id,
            values: space
                .params
                .iter()
                .map(|p| p.key.clone())
                .zip(space.values(&b.ev.units))
                .collect(),
            train: &b.ev.train,
            holdout: &b.ev.holdout,
        }),
        references: &run.references,
        beaten_by: &beaten,
    };
    let mut json = serde_json::to_string_pretty(&best_json).unwrap_or_default();
    json.push('\n');

    let mut staged = StagedDir::new(dir, "tune", rules)?;
    staged.write("results.csv", results.as_bytes())?;
    staged.write("pareto.csv", pareto_csv.as_bytes())?;
    staged.write("best.json", json.as_bytes())?;
    if let Some(b) = best {
        staged.write("best.toml", best_toml(run, space, b, feasible).as_bytes())?;
    }
    let png = staged.path("pareto.png");
    let svg = staged.path("pareto.svg");
    super::plot::write_pareto(&png, &svg, &pareto_data(run, &rows, best.map(|b| b.ev.id)))?;
    staged.commit()?;

    let mut text = String::new();
    if !run.complete {
        let _ = writeln!(
            text,
            "search stopped early: {} of {} candidates evaluated; results marked incomplete",
            run.evaluated.len(),
            run.spec.budget
        );
    }
    match best {
        Some(b) if feasible => {
            let _ = writeln!(
                text,
                "best: candidate {} of {}, {} {} (written to best.toml)",
                b.ev.id,
                run.evaluated.len(),
                run.spec.goals.objective,
                b.score.as_ref().map_or(0.0, |s| s.objective)
            );
        }
        Some(b) => {
            let _ = writeln!(
                text,
                "no candidate meets every constraint; the closest is candidate {} (violation {:.3}), written to best.toml",
                b.ev.id,
                b.score.as_ref().map_or(0.0, |s| s.violation)
            );
        }
        None => {
            let _ = writeln!(text, "no candidate could run: every one was refused (see the error column of results.csv)");
        }
    }
    for b in &beaten {
        let _ = match b.best_objective {
            Some(best) => writeln!(
                text,
                "NOTE: the reference `{}` meets every constraint at {} {}, better than the best candidate's {}: the search found nothing as good; widen the space (its ranges, or the policy kind) or raise --budget, and search again",
                b.reference, run.spec.goals.objective, b.objective, best
            ),
            None => writeln!(
                text,
                "NOTE: the reference `{}` meets every constraint ({} {}) where no candidate does: widen the space and search again",
                b.reference, run.spec.goals.objective, b.objective
            ),
        };
    }
    for (part, holdout) in [("train", false), ("hold-out", true)] {
        let pick = |ss: &'_ Evaluated| {
            if holdout {
                ss.holdout.clone()
            } else {
                ss.train.clone()
            }
        };
        let best_ss = best.map(|b| pick(b.ev)).unwrap_or_default();
        let mut entries: Vec<(String, Vec<Summary>)> = vec![("tuned (best.toml)".into(), best_ss)];
        for r in &run.references {
            entries.push((
                r.name.clone(),
                if holdout {
                    r.holdout.clone()
                } else {
                    r.train.clone()
                },
            ));
        }
        if entries.iter().all(|e| e.1.is_empty()) {
            continue;
        }
        let refs: Vec<(&str, &[Summary])> = entries
            .iter()
            .map(|(n, s)| (n.as_str(), s.as_slice()))
            .collect();
        let _ = writeln!(text, "{part}:");
        text.push_str(&table(&refs));
    }
    Ok(Report {
        feasible,
        complete: run.complete,
        text,
    })
}

/// What the Pareto plot draws: a panel per bound constraint (at most three; p99 wait when
/// there is none), every scored candidate, the best and the references.
fn pareto_data(run: &TuneRun, rows: &[Row<'_>], best_id: Option<usize>) -> ParetoData {
    let goals = &run.spec.goals;
    let mut axes: Vec<Axis> = goals
        .constraints
        .iter()
        .filter(|c| c.op.is_bound())
        .take(3)
        .map(|c| Axis {
            key: c.key.clone(),
            bound: Some(c.value),
            label: Some(c.to_string()),
            upper: c.op.upper(),
        })
        .collect();
    if axes.is_empty() {
        axes.push(Axis {
            key: "wait_p99_s".into(),
            bound: None,
            label: None,
            upper: true,
        });
    }
    let points = rows
        .iter()
        .filter_map(|r| {
            let s = r.score.as_ref()?;
            Some(PlotPoint {
                xs: axes
                    .iter()
                    .map(|a| figure(run, &r.ev.train, &a.key))
                    .collect(),
                y: s.objective,
                feasible: s.feasible,
                best: Some(r.ev.id) == best_id,
            })
        })
        .collect();
    let references = run
        .references
        .iter()
        .filter(|r| !r.train.is_empty())
        .map(|r| {
            (
                r.name.clone(),
                axes.iter().map(|a| figure(run, &r.train, &a.key)).collect(),
                mean(&r.train, &goals.objective),
            )
        })
        .collect();
    let feasible = rows
        .iter()
        .filter(|r| r.score.as_ref().is_some_and(|s| s.feasible))
        .count();
    ParetoData {
        title: format!(
            "{}: {} candidates ({} feasible), {} search{}",
            run.spec.scenario,
            rows.iter().filter(|r| r.score.is_some()).count(),
            feasible,
            run.spec.search.as_str(),
            if run.complete { "" } else { ", INCOMPLETE" }
        ),
        objective: goals.objective.clone(),
        axes,
        points,
        references,
    }
}

/// Writes one shard's evaluations into `dir`, all or nothing.
pub fn write_shard(run: &TuneRun, dir: &Path, rules: &OutputRules) -> Result<(), OutputError> {
    let mut json = serde_json::to_string(run).unwrap_or_default();
    json.push('\n');
    let mut staged = StagedDir::new(dir, "tune-shard", rules)?;
    staged.write(SHARD_FILE, json.as_bytes())?;
    staged.commit()
}
