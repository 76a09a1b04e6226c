//! Sim-live parity: replays what a live run (`stepscale run --record`) saw through the
//! simulator, with a scenario describing the same plant and the same policy, and compares the
//! two runs' decisions tick by tick.
//!
//! The simulated controller starts at the recorded run's first tick, with the desired count
//! ECS had then, and decides at the recorded ticks' own times (the live timer's jitter and
//! drift are replayed, not modelled); live tick `i` is compared with simulated tick `i`. The
//! scenario's `controller.period_secs` must match the record's median spacing. Arrivals come from a log of the messages
//! sent (one row per message, `--arrivals`) or, without one, from the record's own `arrivals`
//! column, spread evenly over each row's interval. Rows whose reads all failed are not
//! compared (the live engine held on missing data; the simulator never misses a read).

mod read;
pub mod result;
mod shadow;
mod write;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use stepscale_engine::Action;

use crate::arrivals::{ArrivalKind, Arrivals, Micros};
use crate::output::OutputError;
use crate::run::{Backtest, BacktestError, Overrides};
pub use read::read_record;
pub use result::{
    Band, BandReport, ComparedTick, LiveTick, Parity, ParityReport, ShadowPoint, ShadowReport,
    ShadowTrack,
};

/// Why a parity check could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParityError {
    /// The scenario, policy or arrivals log.
    #[error(transparent)]
    Backtest(#[from] BacktestError),
    /// The recorded run.
    #[error("record {path}, line {line}: {column} = {value:?}: {rule}")]
    Record {
        /// The file.
        path: PathBuf,
        /// 1-based line (the header is line 1).
        line: usize,
        /// The column.
        column: String,
        /// The value as written.
        value: String,
        /// The rule broken.
        rule: String,
    },
    /// The recorded run as a whole.
    #[error("record {path}: {detail}")]
    RecordFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The scenario does not describe the recorded run.
    #[error("scenario {path}: {key} = {value}: {rule}")]
    Mismatch {
        /// The scenario file.
        path: PathBuf,
        /// The key.
        key: String,
        /// Its value.
        value: String,
        /// The rule.
        rule: String,
    },
    /// Writing the outputs.
    #[error(transparent)]
    Output(#[from] OutputError),
}

/// The arrivals a record implies: each row's count spread evenly over the time since the
/// previous row with readings (fractional counts carried to the next row). `None` when they
/// add up to more than [`crate::limits::MAX_DISCRETE_MESSAGES`]: the total is checked before
/// anything is allocated, so a cell of `1e300` is refused, not run out of memory on.
#[must_use]
pub fn arrivals_from_record(ticks: &[LiveTick]) -> Option<Vec<Micros>> {
    let total: f64 = ticks.iter().skip(1).filter_map(|t| t.arrivals).sum();
    // NaN cannot come from the reader (it refuses non-finite cells), but fails here too.
    if total.is_nan() || total > crate::limits::MAX_DISCRETE_MESSAGES {
        return None;
    }
    let mut times = Vec::with_capacity(total as usize + 1);
    let mut carry = 0.0;
    let mut last_ok: Option<Micros> = None;
    for t in ticks {
        let Some(a) = t.arrivals else { continue };
        if let Some(from) = last_ok {
            carry += a;
            let n = (carry + 1e-9).floor();
            carry = (carry - n).max(0.0);
            let n = n as i64;
            let span = t.at_us - from;
            for j in 0..n {
                times.push(from + (span * (2 * j + 1)) / (2 * n));
            }
        }
        last_ok = Some(t.at_us);
    }
    Some(times)
}

/// What to compare.
#[derive(Debug, Clone, Default)]
pub struct ParityInputs {
    /// The scenario describing the plant (service time, concurrency, start-up, period).
    pub scenario: PathBuf,
    /// The policy file the live run used (default: the scenario's).
    pub policy: Option<PathBuf>,
    /// The recorded run.
    pub record: PathBuf,
    /// A log of the messages sent, one row per message with a `time` column (epoch seconds or
    /// RFC 3339); without one, the record's `arrivals` column.
    pub arrivals: Option<PathBuf>,
    /// Replays under this many plant seeds (the scenario's and the next ones) for bands; 1
    /// (or 0): the one replay, compared tick by tick.
    pub seeds: u32,
}

fn name_of(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Replays `inputs.record` and compares.
pub fn run(inputs: &ParityInputs) -> Result<Parity, ParityError> {
    let (live, shadow_columns) = read::read_with_shadows(&inputs.record)?;
    let overrides = Overrides {
        trace: inputs.arrivals.clone(),
        policy: inputs.policy.clone(),
        time_column: inputs.arrivals.as_ref().map(|_| "time".to_string()),
        one_row_per_message: inputs.arrivals.is_some(),
        // Every message replayed one by one, as the live queue held them.
        fidelity: Some(crate::scenario::Fidelity::Discrete),
        ..Overrides::default()
    };
    let mut bt = Backtest::prepare(&inputs.scenario, &overrides)?;
    let period_s = bt.scenario.controller.period_secs;
    let first = live[0].at_us;
    let last = live[live.len() - 1].at_us;
    // The scenario's period must be the live run's: the median gap between rows.
    let mut gaps: Vec<Micros> = live.windows(2).map(|w| w[1].at_us - w[0].at_us).collect();
    gaps.sort_unstable();
    let median_s = gaps[gaps.len() / 2] as f64 / 1e6;
    if (median_s - period_s).abs() > 0.25 * period_s {
        return Err(ParityError::Mismatch {
            path: inputs.scenario.clone(),
            key: "controller.period_secs".into(),
            value: crate::limits::show(period_s),
            rule: format!(
                "must be the live run's period: the record's rows are {median_s:.3} s apart (median)"
            ),
        });
    }
    let mut times = match &inputs.arrivals {
        Some(_) => match &bt.prepared.arrivals.kind {
            ArrivalKind::Events { times_us } => times_us.clone(),
            _ => {
                return Err(ParityError::RecordFile {
                    path: inputs.arrivals.clone().unwrap_or_default(),
                    detail: "was read as counts per row, because the scenario's [arrivals.trace] names a value_column; an arrivals log has one row per message and no count column: use a scenario without [arrivals.trace] (parity replaces its arrivals anyway)".into(),
                })
            }
        },
        None => arrivals_from_record(&live).ok_or_else(|| ParityError::RecordFile {
            path: inputs.record.clone(),
            detail: format!(
                "its `arrivals` column adds up to more than {:e} messages to replay one by one",
                crate::limits::MAX_DISCRETE_MESSAGES
            ),
        })?,
    };
    // Messages sent before the first tick were in the queue when it looked.
    times.retain(|&t| t <= last);
    for t in &mut times {
        *t = (*t).max(first);
    }
    if times.len() as f64 > crate::limits::MAX_DISCRETE_MESSAGES {
        return Err(ParityError::RecordFile {
            path: inputs.record.clone(),
            detail: format!(
                "{} messages to replay one by one; at most {:e}",
                times.len(),
                crate::limits::MAX_DISCRETE_MESSAGES
            ),
        });
    }
    let p = &mut bt.prepared;
    p.arrivals = Arrivals {
        start_us: first,
        kind: ArrivalKind::Events { times_us: times },
    };
    p.start_us = first;
    // Run to the last live tick (and half a period on), whether or not the queue empties.
    let end = last + (period_s * 5e5) as Micros;
    p.arrivals_end_us = end;
    p.hard_end_us = end;
    p.initial_tasks = live[0].desired;
    p.keep_ticks = true;
    // The live run's own tick times: its timer's jitter and drift are replayed, not modelled.
    p.tick_times_us = Some(live.iter().map(|t| t.at_us).collect());
    // When each tick read the queue, where the record says: the replay samples it then.
    p.read_times_us = live.iter().any(|t| t.read_ms.is_some()).then(|| {
        live.iter()
            .map(|t| t.at_us + t.read_ms.map_or(0, |ms| ms as Micros * 1000))
            .collect()
    });
    p.resolution_us = (period_s * 1e6).round() as Micros;
    let shadows = shadow::matched(&bt.config, &shadow_columns);
    p.shadows = shadows.iter().map(|m| m.controller.clone()).collect();
    let (outcome, _) = bt.simulate_into(&bt.prepared, &bt.config, crate::model::RowSink::Nothing);
    let mut compared = Vec::new();
    let mut failed = 0;
    for (l, s) in live.iter().zip(&outcome.ticks) {
        if l.visible.is_none() {
            failed += 1;
            continue;
        }
        compared.push(ComparedTick {
            live: l.clone(),
            sim: *s,
        });
    }
    let mut report = report(inputs, &bt, &compared, failed);
    let replays = if inputs.seeds > 1 {
        replays(&bt, inputs.seeds)
    } else {
        Vec::new()
    };
    let bands = if replays.is_empty() {
        Vec::new()
    } else {
        let (bands, band) = bands(&replays, &live);
        report.band = Some(band);
        bands
    };
    let exact = shadow::Replay {
        ticks: Vec::new(),
        shadow_desired: outcome.shadow_desired,
    };
    let (shadow_reports, shadow_tracks) = shadow::reports(&live, &shadows, &exact, &replays);
    report.shadows = shadow_reports;
    report.shadow_columns_not_compared = shadow_columns
        .iter()
        .enumerate()
        .filter(|(c, _)| !shadows.iter().any(|m| m.column == *c))
        .map(|(_, name)| {
            if name.is_empty() {
                "shadow_desired".to_string()
            } else {
                format!("shadow_desired.{name}")
            }
        })
        .collect();
    Ok(Parity {
        report,
        compared,
        bands,
        shadows: shadow_tracks,
    })
}

/// The rank, from each end, of the order statistics that bound the replays' 90 % prediction
/// interval: `j = ⌊0.05 (K + 1)⌋`, at least 1. A new run of the same plant lands between the
/// `j`-th smallest and the `j`-th largest of `K` replays with probability `(K + 1 − 2j) / (K + 1)`
/// (for values without ties; ties only raise it), which is at least 90 % from `K = 19` on: with
/// 20 replays, their lowest and highest. The sample's own 5 % and 95 % points (the 2nd and 19th
/// of 20) would hold it only 17 times in 21, so a perfect plant would fail a 90 % check.
fn band_rank(k: usize) -> usize {
    ((0.05 * (k + 1) as f64).floor() as usize).clamp(1, k.max(1))
}

/// The chance that a new run of the replayed plant lands inside the band of `k` replays
/// ([`band_rank`]), for values without ties.
pub(crate) fn band_coverage(k: usize) -> f64 {
    let j = band_rank(k);
    ((k + 1).saturating_sub(2 * j)) as f64 / (k + 1) as f64
}

/// The replays' 90 % prediction interval at one tick ([`band_rank`]), from `v` (sorted here).
fn band_of(v: &mut [f64]) -> [f64; 2] {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return [f64::NAN; 2];
    }
    let j = band_rank(n);
    [v[j - 1], v[n - j]]
}

/// Replays `bt` under `seeds` plant seeds (the scenario's and the next ones).
fn replays(bt: &Backtest, seeds: u32) -> Vec<shadow::Replay> {
    use rayon::prelude::*;
    (0..seeds)
        .into_par_iter()
        .map(|k| {
            let mut p = bt.prepared.clone();
            p.seed = p.seed.wrapping_add(u64::from(k));
            let outcome = bt
                .simulate_into(&p, &bt.config, crate::model::RowSink::Nothing)
                .0;
            shadow::Replay {
                ticks: outcome.ticks,
                shadow_desired: outcome.shadow_desired,
            }
        })
        .collect()
}

/// Per compared live tick (one that read the queue), the replays' 90 % prediction interval of the desired
/// count and of visible + in-flight, and how often the live run was inside.
fn bands(runs: &[shadow::Replay], live: &[LiveTick]) -> (Vec<Band>, BandReport) {
    let seeds = u32::try_from(runs.len()).unwrap_or(u32::MAX);
    let mut bands = Vec::new();
    let (mut desired_in, mut backlog_in) = (0usize, 0usize);
    for (i, l) in live.iter().enumerate() {
        // The ticks `run` compares: those that read the queue.
        let Some(v) = l.visible else { continue };
        let f = l.in_flight.unwrap_or(0);
        let mut desired: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.ticks.get(i).map(|t| f64::from(t.previous)))
            .collect();
        let mut backlog: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.ticks.get(i).map(|t| (t.visible + t.in_flight) as f64))
            .collect();
        if desired.is_empty() {
            // Every replay decides at the live ticks: unreachable, but never misaligned.
            desired.push(f64::from(l.desired));
            backlog.push((v + f) as f64);
        }
        let band = Band {
            desired: band_of(&mut desired),
            backlog: band_of(&mut backlog),
        };
        let inside = |x: f64, b: [f64; 2]| b[0] <= x && x <= b[1];
        desired_in += usize::from(inside(f64::from(l.desired), band.desired));
        backlog_in += usize::from(inside((v + f) as f64, band.backlog));
        bands.push(band);
    }
    let n = bands.len().max(1) as f64;
    (
        bands,
        BandReport {
            seeds,
            nominal_coverage: band_coverage(runs.len()),
            desired_inside_share: desired_in as f64 / n,
            backlog_inside_share: backlog_in as f64 / n,
        },
    )
}

fn report(
    inputs: &ParityInputs,
    bt: &Backtest,
    compared: &[ComparedTick],
    failed: usize,
) -> ParityReport {
    let n = compared.len().max(1) as f64;
    let same = compared
        .iter()
        .filter(|c| c.live.action == c.sim.action)
        .count();
    let first = compared.first().map_or(0, |c| c.live.at_us);
    let (mut gap, mut gap_at) = (0u32, 0.0);
    for c in compared {
        let g = c.live.desired.abs_diff(c.sim.previous);
        if g > gap {
            gap = g;
            gap_at = (c.live.at_us - first) as f64 / 1e6;
        }
    }
    let intervals: Vec<f64> = compared
        .windows(2)
        .map(|w| (w[1].live.at_us - w[0].live.at_us) as f64 / 1e3)
        .collect();
    let count = |f: &dyn Fn(&ComparedTick) -> bool| compared.iter().filter(|c| f(c)).count();
    let live_level = |c: &ComparedTick| c.live.visible.unwrap_or(0) + c.live.in_flight.unwrap_or(0);
    ParityReport {
        record: name_of(&inputs.record),
        scenario: bt.scenario.name.clone(),
        policy: bt.config.policy.kind().to_string(),
        arrivals: inputs
            .arrivals
            .as_ref()
            .map_or_else(|| "the record's arrivals column".into(), |a| name_of(a)),
        ticks: compared.len(),
        ticks_failed_reads: failed,
        same_action_share: same as f64 / n,
        max_desired_gap: gap,
        max_desired_gap_at_s: gap_at,
        live_scale_out: count(&|c| c.live.action == Action::ScaleOut),
        live_scale_in: count(&|c| c.live.action == Action::ScaleIn),
        sim_scale_out: count(&|c| c.sim.action == Action::ScaleOut),
        sim_scale_in: count(&|c| c.sim.action == Action::ScaleIn),
        mean_backlog_gap: compared
            .iter()
            .map(|c| live_level(c).abs_diff(c.sim.visible + c.sim.in_flight) as f64)
            .sum::<f64>()
            / n,
        live_backlog_max: compared.iter().map(live_level).max().unwrap_or(0),
        live_tick_interval_mean_ms: intervals.iter().sum::<f64>() / intervals.len().max(1) as f64,
        live_tick_interval_max_ms: intervals.iter().copied().fold(0.0, f64::max),
        band: None,
        shadows: Vec::new(),
        shadow_columns_not_compared: Vec::new(),
    }
}

impl Parity {
    /// The tick-by-tick comparison as CSV.
    #[must_use]
    pub fn csv(&self) -> String {
        let mut out = String::from(
            "time,offset_s,live_visible,sim_visible,live_in_flight,sim_in_flight,live_desired,sim_desired,live_action,sim_action,same_action\n",
        );
        if !self.bands.is_empty() {
            out.pop();
            out.push_str(",sim_desired_p5,sim_desired_p95,sim_backlog_p5,sim_backlog_p95\n");
        }
        let first = self.compared.first().map_or(0, |c| c.live.at_us);
        for (i, c) in self.compared.iter().enumerate() {
            let mut t = String::new();
            stepscale_engine::time::push_rfc3339_secs(&mut t, c.live.at_us);
            let _ = writeln!(
                out,
                "{t},{:.3},{},{},{},{},{},{},{},{},{}",
                (c.live.at_us - first) as f64 / 1e6,
                c.live.visible.unwrap_or(0),
                c.sim.visible,
                c.live.in_flight.unwrap_or(0),
                c.sim.in_flight,
                c.live.desired,
                c.sim.previous,
                c.live.action,
                c.sim.action,
                c.live.action == c.sim.action
            );
            if let Some(b) = self.bands.get(i) {
                out.pop();
                let _ = writeln!(
                    out,
                    ",{},{},{},{}",
                    b.desired[0], b.desired[1], b.backlog[0], b.backlog[1]
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(at_s: i64, arrivals: Option<f64>) -> LiveTick {
        LiveTick {
            arrivals_estimated: false,
            running: None,
            pending: None,
            at_us: at_s * 1_000_000,
            arrivals,
            visible: arrivals.map(|_| 0),
            in_flight: arrivals.map(|_| 0),
            desired: 1,
            action: Action::Hold,
            read_ms: None,
            shadow_desired: Vec::new(),
        }
    }

    #[test]
    fn a_run_of_the_replayed_plant_itself_lands_inside_the_band_nine_times_in_ten() {
        // Exchangeable draws: 20 replays and one "live" run of the same continuous
        // distribution. The band must hold the live one as often as it says (19 in 21), which
        // the sample's own 5 % and 95 % points (17 in 21) would not.
        let mut rng = crate::rng::SimRng::new(42);
        let trials = 40_000;
        let mut inside = 0usize;
        for _ in 0..trials {
            let mut replays: Vec<f64> = (0..20).map(|_| rng.uniform()).collect();
            let live = rng.uniform();
            let [lo, hi] = band_of(&mut replays);
            inside += usize::from(lo <= live && live <= hi);
        }
        let share = inside as f64 / f64::from(trials);
        assert!((band_coverage(20) - 19.0 / 21.0).abs() < 1e-12);
        assert!(
            (share - band_coverage(20)).abs() < 0.006 && share >= 0.9,
            "inside {share}, said {}",
            band_coverage(20)
        );
        // Fewer replays cannot promise 90 %, and the report says so.
        assert!(band_coverage(10) < 0.9 && band_coverage(19) >= 0.9 && band_coverage(100) >= 0.9);
        assert!(band_of(&mut [3.0]).iter().all(|&x| (x - 3.0).abs() < 1e-12));
    }

    #[test]
    fn record_arrivals_are_spread_over_their_interval_and_carried() {
        let ticks = [
            tick(10, Some(0.0)),
            tick(11, Some(2.0)),
            tick(12, None),
            tick(13, Some(1.5)),
            tick(14, Some(0.5)),
        ];
        let t = arrivals_from_record(&ticks).unwrap();
        // 2 in (10, 11]; 1 in (11, 13] (the failed row's interval joins the next); 1 in (13, 14].
        assert_eq!(
            t,
            vec![10_250_000, 10_750_000, 12_000_000, 13_500_000],
            "{t:?}"
        );
    }

    #[test]
    fn a_huge_arrivals_cell_is_refused_before_anything_is_allocated() {
        let ticks = [tick(10, Some(0.0)), tick(11, Some(1e300))];
        assert_eq!(arrivals_from_record(&ticks), None);
        let ticks = [tick(10, Some(0.0)), tick(11, Some(2e8))];
        assert_eq!(arrivals_from_record(&ticks), None);
    }

    #[test]
    fn a_record_with_a_bad_cell_names_line_column_and_rule() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        std::fs::write(
            &path,
            "time,arrivals,arrivals_estimated,visible,in_flight,delayed,desired,running,pending,action\n\
             2026-01-05T00:00:00.000Z,0.000,true,0,0,0,1,1,0,hold\n\
             2026-01-05T00:00:01.000Z,1.000,true,1,0,0,1,1,0,jump\n",
        )
        .unwrap();
        let e = read_record(&path).unwrap_err().to_string();
        assert!(
            e.contains("line 3") && e.contains("action") && e.contains("\"jump\""),
            "{e}"
        );
    }
}
