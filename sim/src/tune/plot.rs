//! The Pareto plot of a search: the objective against the first constraint's key, feasible and
//! infeasible candidates told apart, the front drawn, the reference policies marked.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::report::{reference_points, Point};
use super::TuneRun;
use crate::output::OutputError;
use crate::plot::{write_both, Figure};

const FEASIBLE: RGBColor = RGBColor(31, 119, 180);
const INFEASIBLE: RGBColor = RGBColor(190, 190, 190);
const FRONT: RGBColor = RGBColor(214, 39, 40);
const REFERENCE: [RGBColor; 2] = [RGBColor(44, 160, 44), RGBColor(148, 103, 189)];

struct Pareto<'a> {
    run: &'a TuneRun,
    points: &'a [Point],
}

fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    let span = (hi - lo).abs().max(hi.abs() * 0.05).max(1e-6);
    (lo - span * 0.05, hi + span * 0.05)
}

impl Figure for Pareto<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("{e:?}");
        let goals = &self.run.spec.goals;
        let (xkey, _) = goals.trade_off_key();
        let refs = reference_points(self.run);
        let xs = self
            .points
            .iter()
            .map(|p| p.x)
            .chain(refs.iter().map(|r| r.1));
        let ys = self
            .points
            .iter()
            .map(|p| p.y)
            .chain(refs.iter().map(|r| r.2));
        let bound = goals.trade_off_constraint().map(|c| c.value);
        let (x0, x1) = padded(
            xs.clone().chain(bound).fold(f64::INFINITY, f64::min),
            xs.chain(bound).fold(f64::NEG_INFINITY, f64::max),
        );
        let (y0, y1) = padded(
            ys.clone().fold(f64::INFINITY, f64::min),
            ys.fold(f64::NEG_INFINITY, f64::max),
        );
        root.fill(&WHITE).map_err(e)?;
        let feasible = self.points.iter().filter(|p| p.feasible).count();
        let title = format!(
            "{}: {} candidates ({} feasible), {} search{}",
            self.run.spec.scenario,
            self.points.len(),
            feasible,
            self.run.spec.search.as_str(),
            if self.run.complete {
                ""
            } else {
                ", INCOMPLETE"
            }
        );
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 26))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(100)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc(format!("{xkey} (train; worst seed)"))
            .y_desc(format!(
                "{} (train; mean over seeds), minimised",
                goals.objective
            ))
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(e)?;
        if let Some(c) = goals.trade_off_constraint() {
            chart
                .draw_series(DashedLineSeries::new(
                    [(c.value, y0), (c.value, y1)],
                    8,
                    6,
                    BLACK.mix(0.6).stroke_width(2),
                ))
                .map_err(e)?
                .label(format!("constraint {c}"))
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], BLACK.stroke_width(2))
                });
        }
        chart
            .draw_series(
                self.points
                    .iter()
                    .filter(|p| !p.feasible)
                    .map(|p| Circle::new((p.x, p.y), 4, INFEASIBLE.filled())),
            )
            .map_err(e)?
            .label("infeasible candidate")
            .legend(|(x, y)| Circle::new((x + 12, y), 5, INFEASIBLE.filled()));
        chart
            .draw_series(
                self.points
                    .iter()
                    .filter(|p| p.feasible)
                    .map(|p| Circle::new((p.x, p.y), 4, FEASIBLE.filled())),
            )
            .map_err(e)?
            .label("feasible candidate")
            .legend(|(x, y)| Circle::new((x + 12, y), 5, FEASIBLE.filled()));
        let mut front: Vec<(f64, f64)> = self
            .points
            .iter()
            .filter(|p| p.front)
            .map(|p| (p.x, p.y))
            .collect();
        front.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(
                front.iter().copied(),
                FRONT.stroke_width(2),
            ))
            .map_err(e)?
            .label("Pareto front")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], FRONT.stroke_width(3)));
        chart
            .draw_series(
                front
                    .iter()
                    .map(|&p| Circle::new(p, 5, FRONT.stroke_width(2))),
            )
            .map_err(e)?;
        for (i, (name, x, y)) in refs.iter().enumerate() {
            let color = REFERENCE[i % REFERENCE.len()];
            chart
                .draw_series([TriangleMarker::new((*x, *y), 10, color.filled())])
                .map_err(e)?
                .label(format!("reference: {name}"))
                .legend(move |(x, y)| TriangleMarker::new((x + 12, y), 7, color.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", 16))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(e)?;
        root.present().map_err(e)?;
        Ok(())
    }
}

/// Draws the Pareto plot into `png` and `svg`.
pub fn write_pareto(
    png: &Path,
    svg: &Path,
    run: &TuneRun,
    points: &[Point],
) -> Result<(), OutputError> {
    write_both(png, svg, &Pareto { run, points })
}
