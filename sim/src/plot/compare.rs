//! The compare figure: several policies' runs of one scenario overlaid, panel by panel, with
//! one key beside the panels.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::TimeAxis;
use super::envelope::{end_s, envelope_points};
use super::panel::{key_strip, keyed_panels, panel_keyed, slo_line, Line, PixelArea, Stroke};
use super::{write_both, Figure, PALETTE};
use crate::model::{Envelope, Row};
use crate::output::OutputError;

/// What a compare plot shows.
pub(super) struct Compare<'a> {
    pub(super) title: &'a str,
    pub(super) runs: &'a [(String, Envelope)],
    pub(super) start_us: i64,
    pub(super) slo_s: f64,
    pub(super) cost_per_task_hour: f64,
}

impl Compare<'_> {
    /// The four panels and the key strip; returns the panels' plotting areas, then the strip's.
    pub(super) fn panels<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<Vec<PixelArea>, String> {
        // The policies' key once, in a strip beside the panels.
        let (areas, key) = keyed_panels(root, self.title, 4, 83)?;
        let end = self
            .runs
            .iter()
            .map(|(_, env)| end_s(env, self.start_us))
            .fold(1.0, f64::max);
        let axis = TimeAxis::new(self.start_us, end);
        let n = self.runs.len();
        // Each policy 2 px narrower than the one drawn before it (at least 2 px): where two are equal, the
        // earlier shows as a border around the later.
        let lines = |f: &dyn Fn(&Row) -> f64, steps: bool| -> Vec<Line> {
            self.runs
                .iter()
                .enumerate()
                .map(|(i, (name, env))| Line {
                    label: name.clone(),
                    color: PALETTE[i % PALETTE.len()],
                    stroke: Stroke::Solid(2 + 2 * u32::try_from(n - 1 - i).unwrap_or(0).min(3)),
                    points: envelope_points(env, self.start_us, f),
                    steps,
                })
                .collect()
        };
        let mut out = vec![panel_keyed(
            &areas[0],
            "Running tasks",
            "tasks",
            &lines(&|r| f64::from(r.running), true),
            None,
            &axis,
            false,
            false,
        )?];
        out.push(panel_keyed(
            &areas[1],
            "Backlog",
            "messages",
            &lines(&|r| r.backlog, false),
            None,
            &axis,
            false,
            false,
        )?);
        let mut age = lines(&|r| r.oldest_age_s, false);
        age.push(slo_line(&axis, self.slo_s, BLACK, Stroke::Dashed(2)));
        out.push(panel_keyed(
            &areas[2],
            "Oldest message age",
            "seconds",
            &age,
            None,
            &axis,
            false,
            false,
        )?);
        let price = self.cost_per_task_hour;
        out.push(panel_keyed(
            &areas[3],
            "Cost so far",
            "USD",
            &lines(&|r| r.task_hours * price, false),
            None,
            &axis,
            true,
            false,
        )?);
        let mut keys = lines(&|_| 0.0, false);
        keys.push(slo_line(&axis, self.slo_s, BLACK, Stroke::Dashed(2)));
        key_strip(&key, &keys)?;
        let (kx, ky) = key.get_pixel_range();
        out.push((kx, ky));
        root.present().map_err(|e| format!("{e:?}"))?;
        Ok(out)
    }
}

impl Figure for Compare<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        self.panels(root).map(|_| ())
    }

    fn panel_count(&self) -> usize {
        4
    }
}

/// Writes an overlay of several runs of the same scenario (their envelopes) as PNG and SVG,
/// with the SLO on the age panel and each run's cumulative cost at `cost_per_task_hour`.
pub fn write_compare(
    png: &Path,
    svg: &Path,
    title: &str,
    runs: &[(String, Envelope)],
    start_us: i64,
    slo_s: f64,
    cost_per_task_hour: f64,
) -> Result<(), OutputError> {
    write_both(
        png,
        svg,
        &Compare {
            title,
            runs,
            start_us,
            slo_s,
            cost_per_task_hour,
        },
    )
}
