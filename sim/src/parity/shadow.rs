//! Shadow policies in a parity check: each `[[shadow]]` of the live policy that the record has
//! a column for is decided in the replay beside the replayed acting policy, on the same sample
//! and fleet, and what it would have set is compared with what the live shadow recorded.

use stepscale_engine::{Config, Controller};

use super::{LiveTick, ShadowPoint, ShadowReport, ShadowTrack};
use crate::model::TickRecord;

/// A shadow of the live policy matched to a record column.
pub(super) struct Matched {
    /// Its name.
    pub name: String,
    /// Its index among the record's shadow columns.
    pub column: usize,
    /// Its controller.
    pub controller: Controller,
}

/// The policy's shadows that the record has a column for, in the policy's order: by name, or
/// the record's lone `shadow_desired` column to the policy's lone shadow. Shadows without a
/// column, and columns without a shadow, are not compared.
pub(super) fn matched(config: &Config, columns: &[String]) -> Vec<Matched> {
    config
        .shadow
        .iter()
        .filter_map(|spec| {
            let column = columns.iter().position(|c| *c == spec.name).or_else(|| {
                (columns.len() == 1 && columns[0].is_empty() && config.shadow.len() == 1)
                    .then_some(0)
            })?;
            Some(Matched {
                name: spec.name.clone(),
                column,
                controller: config.for_shadow(spec).controller(),
            })
        })
        .collect()
}

/// One replay's decisions: the acting policy's ticks and the shadows' counts (tick by tick,
/// one count a shadow).
pub(super) struct Replay {
    pub ticks: Vec<TickRecord>,
    pub shadow_desired: Vec<u32>,
}

impl Replay {
    fn shadow(&self, tick: usize, shadow: usize, shadows: usize) -> Option<u32> {
        self.shadow_desired.get(tick * shadows + shadow).copied()
    }
}

/// Each matched shadow against `exact` (the scenario's seed, tick by tick) and, with `bands`
/// (one replay a plant seed), the share of its live counts inside their 90 % prediction interval. Only
/// ticks that read the queue and where the live shadow decided are compared.
pub(super) fn reports(
    live: &[LiveTick],
    shadows: &[Matched],
    exact: &Replay,
    bands: &[Replay],
) -> (Vec<ShadowReport>, Vec<ShadowTrack>) {
    let n = shadows.len();
    shadows
        .iter()
        .enumerate()
        .map(|(k, m)| {
            let (mut ticks, mut same, mut gap, mut inside) = (0usize, 0usize, 0u32, 0usize);
            let mut points = Vec::new();
            for (i, l) in live.iter().enumerate() {
                if l.visible.is_none() {
                    continue;
                }
                let Some(Some(live_count)) = l.shadow_desired.get(m.column).copied() else {
                    continue;
                };
                let Some(sim_count) = exact.shadow(i, k, n) else {
                    continue;
                };
                ticks += 1;
                same += usize::from(live_count == sim_count);
                gap = gap.max(live_count.abs_diff(sim_count));
                let mut counts: Vec<f64> = bands
                    .iter()
                    .filter_map(|r| r.shadow(i, k, n).map(f64::from))
                    .collect();
                let band = (!counts.is_empty()).then(|| super::band_of(&mut counts));
                if let Some([lo, hi]) = band {
                    let v = f64::from(live_count);
                    inside += usize::from(lo <= v && v <= hi);
                }
                points.push(ShadowPoint {
                    at_us: l.at_us,
                    live: live_count,
                    sim: sim_count,
                    band,
                });
            }
            let share = |x: usize| x as f64 / ticks.max(1) as f64;
            (
                ShadowReport {
                    name: m.name.clone(),
                    ticks,
                    same_desired_share: share(same),
                    max_desired_gap: gap,
                    desired_inside_share: (!bands.is_empty()).then(|| share(inside)),
                },
                ShadowTrack {
                    name: m.name.clone(),
                    points,
                },
            )
        })
        .unzip()
}
