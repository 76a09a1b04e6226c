//! The backtest figure: arrivals and backlog, the fleet, waiting time and (with a price) the
//! cost so far, on one time axis.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::TimeAxis;
use super::envelope::{end_s, envelope_points};
use super::panel::{panel, panels, slo_line, Line, PixelArea, Stroke};
use super::{write_both, Figure};
use crate::model::{Envelope, Row};
use crate::output::OutputError;

/// What a backtest plot shows.
pub(super) struct Backtest<'a> {
    pub(super) title: &'a str,
    pub(super) env: &'a Envelope,
    pub(super) start_us: i64,
    pub(super) resolution_s: f64,
    pub(super) slo_s: f64,
    /// The price of a task-hour when a fourth panel shows the cumulative cost.
    pub(super) cost_per_task_hour: Option<f64>,
}

impl Backtest<'_> {
    /// The three panels (four with the cost); returns their plotting areas.
    pub(super) fn panels<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<Vec<PixelArea>, String> {
        let areas = panels(root, self.title, self.panel_count())?;
        let axis = TimeAxis::new(self.start_us, end_s(self.env, self.start_us));
        let series = |label: &str, color, stroke, f: &dyn Fn(&Row) -> f64| Line {
            label: label.into(),
            color,
            stroke,
            points: envelope_points(self.env, self.start_us, f),
            steps: false,
        };
        // Task counts hold between changes: staircases.
        let count = |label: &str, color, stroke, f: &dyn Fn(&Row) -> f64| Line {
            steps: true,
            ..series(label, color, stroke, f)
        };
        let blue = RGBColor(31, 119, 180);
        let red = RGBColor(214, 39, 40);
        let resolution_s = self.resolution_s;
        let arrivals = series(
            "arrivals per second, mean of each row (left axis)",
            blue,
            Stroke::Solid(1),
            &|r| r.arrivals / resolution_s,
        );
        let backlog = series(
            "backlog: most visible messages in each row",
            RGBColor(255, 152, 150),
            Stroke::Solid(2),
            &|r| r.backlog,
        );
        let mut out = vec![panel(
            &areas[0],
            "Arrivals (left axis) and backlog (right axis)",
            "arrivals, messages / s",
            &[arrivals],
            Some(("backlog, messages", &backlog)),
            &axis,
            false,
        )?];
        // The fleet first (running as a light area), then what was asked for and what the
        // load needed on top of it: `desired` dashed and `ideal` a thin dark line, both
        // visible where they equal `running`, and the area visible under both.
        let tasks = [
            count("running", RGBColor(31, 119, 180), Stroke::Area(1), &|r| {
                f64::from(r.running)
            }),
            count("pending", RGBColor(255, 127, 14), Stroke::Solid(2), &|r| {
                f64::from(r.pending)
            }),
            count("desired", RGBColor(44, 160, 44), Stroke::Dashed(2), &|r| {
                f64::from(r.desired)
            }),
            count(
                "ideal (demand at full use)",
                RGBColor(40, 40, 40),
                Stroke::Solid(1),
                &|r| f64::from(r.demand),
            ),
        ];
        out.push(panel(
            &areas[1],
            "ECS tasks",
            "tasks",
            &tasks,
            None,
            &axis,
            false,
        )?);
        let age = [
            series(
                "oldest message's age, worst of each row",
                RGBColor(148, 103, 189),
                Stroke::Solid(2),
                &|r| r.oldest_age_s,
            ),
            slo_line(&axis, self.slo_s, red, Stroke::Solid(2)),
        ];
        out.push(panel(
            &areas[2],
            "Waiting time",
            "seconds",
            &age,
            None,
            &axis,
            self.cost_per_task_hour.is_none(),
        )?);
        if let Some(price) = self.cost_per_task_hour {
            let cost = series(
                "cumulative cost",
                RGBColor(140, 86, 75),
                Stroke::Solid(2),
                &|r| r.task_hours * price,
            );
            out.push(panel(
                &areas[3],
                "Cost so far",
                "USD",
                &[cost],
                None,
                &axis,
                true,
            )?);
        }
        root.present().map_err(|e| format!("{e:?}"))?;
        Ok(out)
    }
}

impl Figure for Backtest<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        self.panels(root).map(|_| ())
    }

    fn panel_count(&self) -> usize {
        if self.cost_per_task_hour.is_some() {
            4
        } else {
            3
        }
    }
}

/// Writes `plot.png` and `plot.svg` for a backtest from the run's envelope; with
/// `cost_per_task_hour`, a fourth panel shows the cumulative cost.
#[allow(clippy::too_many_arguments)]
pub fn write_backtest(
    png: &Path,
    svg: &Path,
    title: &str,
    env: &Envelope,
    start_us: i64,
    resolution_s: f64,
    slo_s: f64,
    cost_per_task_hour: Option<f64>,
) -> Result<(), OutputError> {
    write_both(
        png,
        svg,
        &Backtest {
            title,
            env,
            start_us,
            resolution_s,
            slo_s,
            cost_per_task_hour,
        },
    )
}
