//! The Pareto plot of a search: the objective against each bound the search had to meet (one
//! panel each), feasible and infeasible candidates told apart, the front over the feasible
//! ones, the chosen best and the reference policies marked. It takes plain data
//! ([`ParetoData`]); the report builds it.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::output::OutputError;
use crate::plot::{write_both, Figure};

const FEASIBLE: RGBColor = RGBColor(31, 119, 180);
const INFEASIBLE: RGBColor = RGBColor(190, 190, 190);
const FRONT: RGBColor = RGBColor(214, 39, 40);
const BEST: RGBColor = RGBColor(0, 0, 0);
const REFERENCE: [RGBColor; 2] = [RGBColor(44, 160, 44), RGBColor(148, 103, 189)];

/// One panel's horizontal key.
#[derive(Debug, Clone)]
pub struct Axis {
    /// The summary key.
    pub key: String,
    /// The constraint's bound on it, when it is one.
    pub bound: Option<f64>,
    /// The constraint as written, for the legend.
    pub label: Option<String>,
    /// Smaller is better (`<=`, `<`, or no constraint).
    pub upper: bool,
}

/// One candidate on the plot.
#[derive(Debug, Clone)]
pub struct Point {
    /// Its value of each axis's key (the worst seed for a constraint key).
    pub xs: Vec<f64>,
    /// The objective (mean over seeds).
    pub y: f64,
    /// Meets every constraint.
    pub feasible: bool,
    /// The chosen best (written to best.toml).
    pub best: bool,
}

/// Everything the plot draws.
#[derive(Debug, Clone)]
pub struct ParetoData {
    /// The title.
    pub title: String,
    /// The objective's key.
    pub objective: String,
    /// One panel per axis.
    pub axes: Vec<Axis>,
    /// The candidates.
    pub points: Vec<Point>,
    /// The reference policies: name, value of each axis's key, objective.
    pub references: Vec<(String, Vec<f64>, f64)>,
}

fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    let span = (hi - lo).abs().max(hi.abs() * 0.05).max(1e-6);
    (lo - span * 0.05, hi + span * 0.05)
}

/// The front on axis `a` over the feasible candidates: each point no other feasible point beats
/// on both the axis and the objective, in axis order.
#[must_use]
pub fn feasible_front(points: &[Point], a: usize, upper: bool) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.feasible)
        .map(|p| (if upper { p.xs[a] } else { -p.xs[a] }, p.y))
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut front = Vec::new();
    let mut best_y = f64::INFINITY;
    for (x, y) in pts {
        if y < best_y {
            best_y = y;
            front.push((if upper { x } else { -x }, y));
        }
    }
    front
}

struct Pareto<'a> {
    data: &'a ParetoData,
}

impl Pareto<'_> {
    fn panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        a: usize,
    ) -> Result<(), String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("{e:?}");
        let d = self.data;
        let axis = &d.axes[a];
        let xs = d
            .points
            .iter()
            .map(|p| p.xs[a])
            .chain(d.references.iter().map(|r| r.1[a]))
            .chain(axis.bound);
        let ys = d
            .points
            .iter()
            .map(|p| p.y)
            .chain(d.references.iter().map(|r| r.2));
        let (x0, x1) = padded(
            xs.clone().fold(f64::INFINITY, f64::min),
            xs.fold(f64::NEG_INFINITY, f64::max),
        );
        let (ylo, yhi) = (
            ys.clone().fold(f64::INFINITY, f64::min),
            ys.fold(f64::NEG_INFINITY, f64::max),
        );
        // Room above the points for the legend.
        let (y0, y1) = padded(ylo, yhi + (yhi - ylo).abs().max(1e-6) * 0.45);
        let mut chart = ChartBuilder::on(area)
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(90)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(e)?;
        let worst = if axis.bound.is_some() {
            " (train; worst seed)"
        } else {
            " (train; mean)"
        };
        chart
            .configure_mesh()
            .x_desc(format!("{}{worst}", axis.key))
            .y_desc(format!("{} (mean), minimised", d.objective))
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 17))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(e)?;
        if let (Some(b), Some(label)) = (axis.bound, &axis.label) {
            chart
                .draw_series(DashedLineSeries::new(
                    [(b, y0), (b, y1)],
                    8,
                    6,
                    BLACK.mix(0.6).stroke_width(2),
                ))
                .map_err(e)?
                .label(format!("constraint {label}"))
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], BLACK.stroke_width(2))
                });
        }
        chart
            .draw_series(
                d.points
                    .iter()
                    .filter(|p| !p.feasible)
                    .map(|p| Circle::new((p.xs[a], p.y), 4, INFEASIBLE.filled())),
            )
            .map_err(e)?
            .label("infeasible candidate")
            .legend(|(x, y)| Circle::new((x + 12, y), 5, INFEASIBLE.filled()));
        chart
            .draw_series(
                d.points
                    .iter()
                    .filter(|p| p.feasible)
                    .map(|p| Circle::new((p.xs[a], p.y), 4, FEASIBLE.filled())),
            )
            .map_err(e)?
            .label("feasible candidate")
            .legend(|(x, y)| Circle::new((x + 12, y), 5, FEASIBLE.filled()));
        let front = feasible_front(&d.points, a, axis.upper);
        chart
            .draw_series(LineSeries::new(
                front.iter().copied(),
                FRONT.stroke_width(2),
            ))
            .map_err(e)?
            .label("Pareto front of the feasible candidates")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], FRONT.stroke_width(3)));
        chart
            .draw_series(
                front
                    .iter()
                    .map(|&p| Circle::new(p, 5, FRONT.stroke_width(2))),
            )
            .map_err(e)?;
        for (i, (name, x, y)) in d.references.iter().enumerate() {
            let color = REFERENCE[i % REFERENCE.len()];
            chart
                .draw_series([TriangleMarker::new((x[a], *y), 10, color.filled())])
                .map_err(e)?
                .label(format!("reference: {name}"))
                .legend(move |(x, y)| TriangleMarker::new((x + 12, y), 7, color.filled()));
        }
        if let Some(b) = d.points.iter().find(|p| p.best) {
            chart
                .draw_series([Cross::new((b.xs[a], b.y), 9, BEST.stroke_width(3))])
                .map_err(e)?
                .label(if b.feasible {
                    "best (best.toml)"
                } else {
                    "closest (best.toml): none feasible"
                })
                .legend(|(x, y)| Cross::new((x + 12, y), 6, BEST.stroke_width(3)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(e)?;
        Ok(())
    }
}

impl Figure for Pareto<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(|e| format!("{e:?}"))?;
        let root = root
            .titled(&self.data.title, ("sans-serif", 24))
            .map_err(|e| format!("{e:?}"))?;
        let n = self.data.axes.len().max(1);
        for (a, area) in root.split_evenly((n, 1)).iter().enumerate() {
            if a < self.data.axes.len() {
                self.panel(area, a)?;
            }
        }
        root.present().map_err(|e| format!("{e:?}"))?;
        Ok(())
    }

    fn panel_count(&self) -> usize {
        self.data.axes.len().max(1)
    }
}

/// Draws the Pareto plot into `png` and `svg`.
pub fn write_pareto(png: &Path, svg: &Path, data: &ParetoData) -> Result<(), OutputError> {
    write_both(png, svg, &Pareto { data })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(x: f64, y: f64, feasible: bool) -> Point {
        Point {
            xs: vec![x],
            y,
            feasible,
            best: false,
        }
    }

    #[test]
    fn the_front_leaves_out_infeasible_candidates() {
        let points = [
            pt(1.0, 10.0, true),
            pt(0.5, 5.0, false),
            pt(2.0, 8.0, true),
            pt(3.0, 9.0, true),
        ];
        assert_eq!(
            feasible_front(&points, 0, true),
            vec![(1.0, 10.0), (2.0, 8.0)]
        );
    }
}
