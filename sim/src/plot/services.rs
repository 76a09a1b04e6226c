//! The services figure: several services run together, each one's desired count with what
//! each shared budget held against its capacity, their backlogs, and their oldest messages'
//! ages against each one's SLO, with one key beside the panels.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::TimeAxis;
use super::envelope::{end_s, envelope_points};
use super::panel::{key_strip, keyed_panels, panel_keyed, slo_line, Line, PixelArea, Stroke};
use super::{write_both, Figure, PALETTE};
use crate::model::{Envelope, Row};
use crate::output::OutputError;

/// One service on the services figure.
pub struct ServiceRun {
    /// Its name.
    pub name: String,
    /// Its rows' envelope.
    pub envelope: Envelope,
    /// Its SLO on the oldest message's age, seconds.
    pub slo_s: f64,
}

/// One budget on the services figure.
pub struct BudgetRun {
    /// Its name.
    pub name: String,
    /// What it holds.
    pub capacity: f64,
    /// What it held after each decision: (time in µs, used).
    pub series: Vec<(i64, f64)>,
}

struct Services<'a> {
    title: &'a str,
    runs: &'a [ServiceRun],
    budgets: &'a [BudgetRun],
    start_us: i64,
}

/// Budgets drawn in greys and blacks, apart from the services' colours.
const BUDGET_COLORS: [RGBColor; 3] = [BLACK, RGBColor(110, 110, 110), RGBColor(170, 170, 170)];

impl Services<'_> {
    fn service_lines(&self, f: &dyn Fn(&Row) -> f64, steps: bool) -> Vec<Line> {
        self.runs
            .iter()
            .enumerate()
            .map(|(i, s)| Line {
                label: s.name.clone(),
                color: PALETTE[i % PALETTE.len()],
                stroke: Stroke::Solid(2),
                points: envelope_points(&s.envelope, self.start_us, f),
                steps,
            })
            .collect()
    }

    fn budget_lines(&self, axis: &TimeAxis) -> Vec<Line> {
        let mut out = Vec::new();
        for (i, b) in self.budgets.iter().enumerate() {
            let color = BUDGET_COLORS[i % BUDGET_COLORS.len()];
            out.push(Line {
                label: format!("{}: members together", b.name),
                color,
                stroke: Stroke::Solid(3),
                points: b
                    .series
                    .iter()
                    .map(|&(t, v)| ((t - self.start_us) as f64 / 1e6, v, v))
                    .collect(),
                steps: true,
            });
            let mut cap = slo_line(axis, b.capacity, color, Stroke::Dashed(2));
            cap.label = format!("{}: budget {}", b.name, b.capacity);
            cap.steps = true;
            out.push(cap);
        }
        out
    }

    fn panels<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<Vec<PixelArea>, String> {
        let (areas, key) = keyed_panels(root, self.title, 3, 80)?;
        let end = self
            .runs
            .iter()
            .map(|s| end_s(&s.envelope, self.start_us))
            .fold(1.0, f64::max);
        let axis = TimeAxis::new(self.start_us, end);
        let mut tasks = self.service_lines(&|r| f64::from(r.desired), true);
        tasks.extend(self.budget_lines(&axis));
        let title = if self.budgets.is_empty() {
            "Desired tasks"
        } else {
            "Desired tasks: each service, and each budget's members together"
        };
        let mut out = vec![panel_keyed(
            &areas[0], title, "tasks", &tasks, None, &axis, false, false,
        )?];
        out.push(panel_keyed(
            &areas[1],
            "Backlog",
            "messages",
            &self.service_lines(&|r| r.backlog, false),
            None,
            &axis,
            false,
            false,
        )?);
        let mut age = self.service_lines(&|r| r.oldest_age_s, false);
        for (i, s) in self.runs.iter().enumerate() {
            let mut slo = slo_line(
                &axis,
                s.slo_s,
                PALETTE[i % PALETTE.len()],
                Stroke::Dashed(1),
            );
            slo.label = format!("{}: SLO {} s", s.name, s.slo_s);
            age.push(slo);
        }
        out.push(panel_keyed(
            &areas[2],
            "Oldest message age (dashed: each service's SLO)",
            "seconds",
            &age,
            None,
            &axis,
            true,
            false,
        )?);
        let mut keys = self.service_lines(&|_| 0.0, false);
        keys.extend(self.budget_lines(&axis));
        key_strip(&key, &keys)?;
        out.push(key.get_pixel_range());
        root.present().map_err(|e| format!("{e:?}"))?;
        Ok(out)
    }
}

impl Figure for Services<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        self.panels(root).map(|_| ())
    }
}

/// Writes the services figure as PNG and SVG; times from `start_us`.
pub fn write_services(
    png: &Path,
    svg: &Path,
    title: &str,
    services: &[ServiceRun],
    budgets: &[BudgetRun],
    start_us: i64,
) -> Result<(), OutputError> {
    write_both(
        png,
        svg,
        &Services {
            title,
            runs: services,
            budgets,
            start_us,
        },
    )
}
