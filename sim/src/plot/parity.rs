//! The parity figure: a live run beside its replay, tick by tick (desired counts, the
//! backlog the policy saw, and the actions so far).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use stepscale_engine::Action;

use super::axis::TimeAxis;
use super::panel::{panel, panels, Line, Stroke};
use super::{err, height, register_font, Figure, PALETTE, WIDTH};
use crate::arrivals::Micros;
use crate::output::OutputError;
use crate::parity::result::{ComparedTick, Parity, ShadowPoint};

/// What a parity plot shows: a live run beside its replay.
pub(super) struct ParityFigure<'a> {
    pub(super) title: String,
    pub(super) parity: &'a Parity,
}

impl Figure for ParityFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let shown = &self.parity.shadows[..self.parity.shadows.len().min(MAX_SHADOW_PANELS)];
        let areas = panels(root, &self.title, 3 + shown.len())?;
        let c = &self.parity.compared;
        let start_us = c.first().map_or(0, |t| t.live.at_us);
        let at = |t: &ComparedTick| (t.live.at_us - start_us) as f64 / 1e6;
        let axis = TimeAxis::new(start_us, c.last().map_or(1.0, at).max(1.0));
        // Desired counts and action counts hold between ticks: staircases.
        let series =
            |label: &str, color, stroke, steps: bool, f: &dyn Fn(&ComparedTick) -> f64| Line {
                label: label.into(),
                color,
                stroke,
                points: c.iter().map(|t| (at(t), f(t), f(t))).collect(),
                steps,
            };
        let (live, sim) = (PALETTE[0], PALETTE[1]);
        let bands = &self.parity.bands;
        let seeds = self.parity.report.band.as_ref().map_or(0, |b| b.seeds);
        // The replays' 90 % prediction interval, under the lines, when there are several seeds.
        let band = |f: &dyn Fn(&crate::parity::Band) -> [f64; 2], steps: bool| -> Vec<Line> {
            if bands.is_empty() {
                return Vec::new();
            }
            vec![Line {
                label: format!("simulated, 90 % prediction interval of {seeds} plant seeds"),
                color: sim,
                stroke: Stroke::Band,
                points: c
                    .iter()
                    .zip(bands)
                    .map(|(t, b)| {
                        let [lo, hi] = f(b);
                        (at(t), lo, hi)
                    })
                    .collect(),
                steps,
            }]
        };
        let sim_label = if bands.is_empty() {
            "simulated"
        } else {
            "simulated, the scenario's seed"
        };
        // The band (if any), then the live run, then the scenario seed's replay.
        let layers = |band_of: &dyn Fn(&crate::parity::Band) -> [f64; 2],
                      steps: bool,
                      live_of: &dyn Fn(&ComparedTick) -> f64,
                      sim_of: &dyn Fn(&ComparedTick) -> f64| {
            let mut v = band(band_of, steps);
            v.push(series("live", live, Stroke::Solid(4), steps, live_of));
            v.push(series(sim_label, sim, Stroke::Dashed(2), steps, sim_of));
            v
        };
        let desired = layers(&|b| b.desired, true, &|t| f64::from(t.live.desired), &|t| {
            f64::from(t.sim.previous)
        });
        panel(
            &areas[0],
            "Desired count before each decision",
            "tasks",
            &desired,
            None,
            &axis,
            false,
        )?;
        let level = |v: Option<u64>, f: Option<u64>| (v.unwrap_or(0) + f.unwrap_or(0)) as f64;
        let backlog = layers(
            &|b| b.backlog,
            false,
            &|t| level(t.live.visible, t.live.in_flight),
            &|t| (t.sim.visible + t.sim.in_flight) as f64,
        );
        panel(
            &areas[1],
            "Visible + in-flight messages seen by the policy",
            "messages",
            &backlog,
            None,
            &axis,
            false,
        )?;
        // Actions as running counts: where the runs part, the lines part.
        let so_far = |live: bool, action: Action| {
            let mut n = 0.0;
            c.iter()
                .map(|t| {
                    if (if live { t.live.action } else { t.sim.action }) == action {
                        n += 1.0;
                    }
                    (at(t), n, n)
                })
                .collect::<Vec<_>>()
        };
        let counted = |label: &str, color, stroke, live: bool, action| Line {
            label: label.into(),
            color,
            stroke,
            points: so_far(live, action),
            steps: true,
        };
        panel(
            &areas[2],
            "Scaling actions so far",
            "actions",
            &[
                counted(
                    "scale-outs, live",
                    live,
                    Stroke::Solid(4),
                    true,
                    Action::ScaleOut,
                ),
                counted(
                    "scale-outs, simulated",
                    sim,
                    Stroke::Dashed(2),
                    false,
                    Action::ScaleOut,
                ),
                counted(
                    "scale-ins, live",
                    PALETTE[2],
                    Stroke::Solid(4),
                    true,
                    Action::ScaleIn,
                ),
                counted(
                    "scale-ins, simulated",
                    PALETTE[3],
                    Stroke::Dashed(2),
                    false,
                    Action::ScaleIn,
                ),
            ],
            None,
            &axis,
            shown.is_empty(),
        )?;
        // Each shadow: what it would have set, live and replayed (the band under them).
        for (n, (track, area)) in shown.iter().zip(&areas[3..]).enumerate() {
            let point_at = |t: Micros| (t - start_us) as f64 / 1e6;
            let mut lines = Vec::new();
            if track.points.iter().any(|p| p.band.is_some()) {
                lines.push(Line {
                    label: format!("simulated, 90 % prediction interval of {seeds} plant seeds"),
                    color: sim,
                    stroke: Stroke::Band,
                    points: track
                        .points
                        .iter()
                        .filter_map(|p| p.band.map(|[lo, hi]| (point_at(p.at_us), lo, hi)))
                        .collect(),
                    steps: true,
                });
            }
            let counts = |label: &str, color, stroke, f: &dyn Fn(&ShadowPoint) -> u32| Line {
                label: label.into(),
                color,
                stroke,
                points: track
                    .points
                    .iter()
                    .map(|p| {
                        let v = f64::from(f(p));
                        (point_at(p.at_us), v, v)
                    })
                    .collect(),
                steps: true,
            };
            lines.push(counts("live", live, Stroke::Solid(4), &|p| p.live));
            lines.push(counts(sim_label, sim, Stroke::Dashed(2), &|p| p.sim));
            panel(
                area,
                &format!(
                    "Shadow `{}`: the desired count it would have set (not acted on)",
                    track.name
                ),
                "tasks",
                &lines,
                None,
                &axis,
                n + 1 == shown.len(),
            )?;
        }
        root.present().map_err(|e| format!("{e:?}"))
    }
}

/// Shadows drawn, at most (the rest are in parity.json).
const MAX_SHADOW_PANELS: usize = 3;

/// Writes the parity plot (PNG only): desired counts, the backlog the policy saw and the
/// actions, live and simulated, tick by tick.
pub fn write_parity(png: &Path, parity: &Parity) -> Result<(), OutputError> {
    register_font();
    let r = &parity.report;
    let title = match &r.band {
        Some(b) => format!(
            "Parity — {} policy, {}: live inside the band of {} replays at {:.1} % of {} ticks (desired), {:.1} % (backlog)",
            r.policy,
            r.record,
            b.seeds,
            b.desired_inside_share * 100.0,
            r.ticks,
            b.backlog_inside_share * 100.0
        ),
        None => format!(
            "Parity — {} policy, {}: {:.1} % same action, desired within ±{} over {} ticks",
            r.policy,
            r.record,
            r.same_action_share * 100.0,
            r.max_desired_gap,
            r.ticks
        ),
    };
    let panels = 3 + parity.shadows.len().min(MAX_SHADOW_PANELS);
    let figure = ParityFigure { title, parity };
    figure
        .draw(&BitMapBackend::new(png, (WIDTH, height(panels))).into_drawing_area())
        .map_err(err(png))
}
