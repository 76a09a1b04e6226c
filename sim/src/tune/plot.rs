//! The Pareto plot of a search: the objective against each bound the search had to meet (one
//! panel each), feasible and infeasible candidates told apart, the front over the feasible
//! ones, the chosen best and the reference policies marked. It takes plain data
//! ([`ParetoData`]); the report builds it.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::output::OutputError;
use crate::plot::{write_both, Figure, PALETTE};

const FEASIBLE: RGBColor = RGBColor(31, 119, 180);
const INFEASIBLE: RGBColor = RGBColor(190, 190, 190);
const FRONT: RGBColor = RGBColor(214, 39, 40);
const BEST: RGBColor = RGBColor(0, 0, 0);
/// The references' colours: the series palette after the candidates' blue and the front's red.
const REFERENCE: &[RGBColor] = PALETTE.split_at(2).1;

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
    let feasible = points
        .iter()
        .enumerate()
        .filter(|(_, p)| p.feasible)
        .map(|(i, p)| (if upper { p.xs[a] } else { -p.xs[a] }, p.y, i))
        .collect();
    super::goal::front(feasible)
        .into_iter()
        .map(|i| (points[i].xs[a], points[i].y))
        .collect()
}

struct Pareto<'a> {
    data: &'a ParetoData,
}

/// What a legend line shows.
enum Key {
    Dashed,
    Dot(RGBColor),
    Hollow,
    Line(RGBColor),
    Triangle(RGBColor),
    Cross,
}

/// Draws the legend in its own strip beside the chart, so it never covers a point.
fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(Key, String)],
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("{e:?}");
    let style = ("sans-serif", 14).into_font().color(&BLACK);
    for (i, (key, text)) in entries.iter().enumerate() {
        let y = 30 + 22 * i as i32;
        let x = 8;
        match key {
            Key::Dashed => area
                .draw(&PathElement::new(
                    vec![(x, y), (x + 8, y)],
                    BLACK.stroke_width(2),
                ))
                .and_then(|()| {
                    area.draw(&PathElement::new(
                        vec![(x + 14, y), (x + 22, y)],
                        BLACK.stroke_width(2),
                    ))
                }),
            Key::Dot(c) => area.draw(&Circle::new((x + 11, y), 5, c.filled())),
            Key::Hollow => area.draw(&Circle::new((x + 11, y), 5, INFEASIBLE.stroke_width(1))),
            Key::Line(c) => area.draw(&PathElement::new(
                vec![(x, y), (x + 22, y)],
                c.stroke_width(3),
            )),
            Key::Triangle(c) => area.draw(&TriangleMarker::new((x + 11, y), 7, c.filled())),
            Key::Cross => area.draw(&Cross::new((x + 11, y), 6, BEST.stroke_width(3))),
        }
        .map_err(e)?;
        area.draw(&Text::new(text.as_str(), (x + 30, y - 8), style.clone()))
            .map_err(e)?;
    }
    Ok(())
}

/// The low and high of `focus` (the values that matter), widened to `all` only up to `stretch`
/// times the focus's span, so far outliers do not squeeze the rest into a corner.
fn focused(focus: &[f64], all: &[f64], stretch: f64) -> (f64, f64) {
    let finite = |v: &[f64]| {
        v.iter()
            .copied()
            .filter(|x| x.is_finite())
            .collect::<Vec<_>>()
    };
    let (focus, all) = (finite(focus), finite(all));
    let lo = all
        .iter()
        .chain(&focus)
        .copied()
        .fold(f64::INFINITY, f64::min);
    let all_hi = all
        .iter()
        .chain(&focus)
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let focus_hi = focus.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let hi = if focus_hi.is_finite() && focus_hi > lo {
        all_hi.min(lo + (focus_hi - lo) * stretch).max(focus_hi)
    } else {
        all_hi
    };
    padded(lo, hi)
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
        // The axes show the feasible candidates, the best and the bound with room around them
        // (stretched towards the rest, references included, within a limit); a far outlier or
        // reference is drawn hollow at the edge it lies past.
        let focus = d.points.iter().filter(|p| p.feasible || p.best);
        let focus_x: Vec<f64> = focus.clone().map(|p| p.xs[a]).chain(axis.bound).collect();
        let focus_y: Vec<f64> = focus.map(|p| p.y).collect();
        let all_x: Vec<f64> = d
            .points
            .iter()
            .map(|p| p.xs[a])
            .chain(d.references.iter().map(|r| r.1[a]))
            .collect();
        let all_y: Vec<f64> = d
            .points
            .iter()
            .map(|p| p.y)
            .chain(d.references.iter().map(|r| r.2))
            .collect();
        let (x0, x1) = focused(&focus_x, &all_x, 3.0);
        let (y0, y1) = focused(&focus_y, &all_y, 1.5);
        let inside = |x: f64, y: f64| x >= x0 && x <= x1 && y >= y0 && y <= y1;
        let clamp = |x: f64, y: f64| (x.clamp(x0, x1), y.clamp(y0, y1));
        let beyond = d.points.iter().filter(|p| !inside(p.xs[a], p.y)).count()
            + d.references.iter().filter(|r| !inside(r.1[a], r.2)).count();
        let split = area.dim_in_pixel().0 * 76 / 100;
        let (chart_area, key_area) = area.split_horizontally(split);
        let mut chart = ChartBuilder::on(&chart_area)
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
        let mut keys: Vec<(Key, String)> = Vec::new();
        if let (Some(b), Some(label)) = (axis.bound, &axis.label) {
            chart
                .draw_series(DashedLineSeries::new(
                    [(b, y0), (b, y1)],
                    8,
                    6,
                    BLACK.mix(0.6).stroke_width(2),
                ))
                .map_err(e)?;
            keys.push((Key::Dashed, format!("constraint {label}")));
        }
        for (feasible, color) in [(false, INFEASIBLE), (true, FEASIBLE)] {
            chart
                .draw_series(d.points.iter().filter(|p| p.feasible == feasible).map(|p| {
                    let at = clamp(p.xs[a], p.y);
                    let style = if inside(p.xs[a], p.y) {
                        color.filled()
                    } else {
                        color.stroke_width(1)
                    };
                    Circle::new(at, 4, style)
                }))
                .map_err(e)?;
        }
        keys.push((Key::Dot(INFEASIBLE), "infeasible candidate".into()));
        keys.push((Key::Dot(FEASIBLE), "feasible candidate".into()));
        let front: Vec<(f64, f64)> = feasible_front(&d.points, a, axis.upper)
            .into_iter()
            .map(|(x, y)| clamp(x, y))
            .collect();
        chart
            .draw_series(LineSeries::new(
                front.iter().copied(),
                FRONT.stroke_width(2),
            ))
            .map_err(e)?;
        chart
            .draw_series(
                front
                    .iter()
                    .map(|&p| Circle::new(p, 5, FRONT.stroke_width(2))),
            )
            .map_err(e)?;
        keys.push((Key::Line(FRONT), "front of the feasible candidates".into()));
        for (i, (name, x, y)) in d.references.iter().enumerate() {
            let color = REFERENCE[i % REFERENCE.len()];
            let style = if inside(x[a], *y) {
                color.filled()
            } else {
                color.stroke_width(2)
            };
            chart
                .draw_series([TriangleMarker::new(clamp(x[a], *y), 10, style)])
                .map_err(e)?;
            keys.push((Key::Triangle(color), format!("reference: {name}")));
        }
        if let Some(b) = d.points.iter().find(|p| p.best) {
            chart
                .draw_series([Cross::new(clamp(b.xs[a], b.y), 9, BEST.stroke_width(3))])
                .map_err(e)?;
            keys.push((
                Key::Cross,
                if b.feasible {
                    "best (best.toml)".into()
                } else {
                    "closest (best.toml): none feasible".into()
                },
            ));
        }
        if beyond > 0 {
            keys.push((
                Key::Hollow,
                format!("{beyond} beyond the axes: hollow, at the edge"),
            ));
        }
        legend(&key_area, &keys)
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
