//! Panels: series (solid, dashed or an area) drawn on one time axis, a legend or a key strip
//! beside them, and pages of panels stacked top to bottom.

use std::ops::Range;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::axis::{y_label, TimeAxis};
use super::envelope::{clamp_into, per_column};
use super::{MAX_TICKS, Y_LABEL_PX};

/// How a series is stroked.
#[derive(Debug, Clone, Copy)]
pub enum Stroke {
    /// A solid line this many pixels wide.
    Solid(u32),
    /// A dashed line this many pixels wide, drawn along the highs and the lows.
    Dashed(u32),
    /// A light area from 0 up to the highs, with a line this many pixels wide along them: a
    /// series other lines run on top of without hiding it.
    Area(u32),
    /// A light band between the lows and the highs (a range, such as the replays' prediction interval).
    Band,
}

/// One series on a chart.
pub struct Line {
    /// Legend text.
    pub label: String,
    /// Colour.
    pub color: RGBColor,
    /// Stroke.
    pub stroke: Stroke,
    /// (seconds since start, lowest, highest) per envelope bucket.
    pub points: Vec<(f64, f64, f64)>,
    /// A count that holds its value until the next point (tasks, actions): drawn as a
    /// staircase, and a panel of only such series has whole-number ticks.
    pub steps: bool,
}

/// `path` as a staircase: each point's value is held until the next point's time, then the
/// line rises or falls straight up or down (points at one time are left as they are).
fn staircase(path: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(path.len() * 2);
    for &(t, v) in path {
        if let Some(&(pt, pv)) = out.last() {
            if t > pt && (v - pv).abs() > f64::EPSILON * pv.abs().max(1.0) {
                out.push((t, pv));
            }
        }
        out.push((t, v));
    }
    out
}

/// The y range of `lines`: from zero to the highest value plus headroom.
/// From 0 to above the highest point, with room at the top for a legend of `legend_rows`
/// entries (about a ninth of the panel each), so that the legend never covers data.
pub(super) fn y_range(lines: &[&Line], legend_rows: usize) -> Range<f64> {
    let m = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.2))
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let headroom = 1.08 + 0.11 * legend_rows as f64;
    0.0..if m > 0.0 { m * headroom } else { 1.0 }
}

/// A plotting area in pixels: (x range, y range).
pub(super) type PixelArea = (Range<i32>, Range<i32>);

pub(super) type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<TimeAxis, RangedCoordf64>>;

/// Draws `line` scaled by `scale` onto the chart's axes, clamped to them.
pub(super) fn draw_line<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    line: &Line,
    scale: f64,
    label: String,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("{e:?}");
    let (x, y) = (chart.x_range(), chart.y_range());
    let px = chart.plotting_area().get_pixel_range().0.len();
    let cols: Vec<(f64, f64, f64)> = per_column(&line.points, &x, px)
        .into_iter()
        .map(|(t, lo, hi)| {
            (
                t.clamp(x.start, x.end),
                clamp_into(lo * scale, &y),
                clamp_into(hi * scale, &y),
            )
        })
        .collect();
    let color = line.color;
    match line.stroke {
        Stroke::Area(w) => {
            // The edge along the highs (a column's low is inside the area).
            let mut edge: Vec<(f64, f64)> = cols.iter().map(|c| (c.0, c.2)).collect();
            if line.steps {
                edge = staircase(&edge);
            }
            chart
                .draw_series(AreaSeries::new(edge.clone(), 0.0, color.mix(0.45).filled()))
                .map_err(e)?;
            let style = color.stroke_width(w);
            let pieces = gentle_pieces(&edge, |p| chart.backend_coord(p));
            chart
                .draw_series(pieces.into_iter().map(|p| PathElement::new(p, style)))
                .map_err(e)?
                .label(label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 24, y + 5)], color.mix(0.45).filled())
                });
        }
        Stroke::Solid(w) => {
            // Low then high in every column: a spike is a vertical stroke, a quiet stretch a
            // line, and a busy stretch a band from its minima to its maxima.
            let mut path = Vec::with_capacity(cols.len() * 2);
            for &(t, lo, hi) in &cols {
                path.push((t, lo));
                if hi > lo {
                    path.push((t, hi));
                }
            }
            if line.steps {
                path = staircase(&path);
            }
            let style = color.stroke_width(w);
            let pieces = gentle_pieces(&path, |p| chart.backend_coord(p));
            chart
                .draw_series(pieces.into_iter().map(|p| PathElement::new(p, style)))
                .map_err(e)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(w + 1))
                });
        }
        Stroke::Band => {
            let mut highs: Vec<(f64, f64)> = cols.iter().map(|c| (c.0, c.2)).collect();
            let mut lows: Vec<(f64, f64)> = cols.iter().map(|c| (c.0, c.1)).collect();
            if line.steps {
                highs = staircase(&highs);
                lows = staircase(&lows);
            }
            let outline: Vec<(f64, f64)> =
                highs.into_iter().chain(lows.into_iter().rev()).collect();
            let fill = color.mix(0.3).filled();
            chart
                .draw_series(std::iter::once(Polygon::new(outline, fill)))
                .map_err(e)?
                .label(label)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 24, y + 5)], fill));
        }
        Stroke::Dashed(w) => {
            let style = color.stroke_width(w);
            let mut highs: Vec<(f64, f64)> = cols.iter().map(|c| (c.0, c.2)).collect();
            let mut lows: Vec<(f64, f64)> = cols.iter().map(|c| (c.0, c.1)).collect();
            if line.steps {
                highs = staircase(&highs);
                lows = staircase(&lows);
            }
            let mut pieces = gentle_pieces(&highs, |p| chart.backend_coord(p));
            if lows != highs {
                pieces.extend(gentle_pieces(&lows, |p| chart.backend_coord(p)));
            }
            for (i, piece) in pieces.into_iter().enumerate() {
                let anno = chart
                    .draw_series(DashedLineSeries::new(piece, 9, 6, style))
                    .map_err(e)?;
                if i == 0 {
                    anno.label(label.clone()).legend(move |(x, y)| {
                        DashedPathElement::new(vec![(x, y), (x + 24, y)], 7, 4, style)
                    });
                }
            }
        }
    }
    Ok(())
}

/// Splits `path` into pieces that never turn back by more than 90° in pixels (`pixel` maps a
/// point), dropping points that fall on the pixel before. Plotters joins thick strokes with
/// unbounded miters: at a sharp turn the join would shoot a spike out of the panel.
pub(super) fn gentle_pieces(
    path: &[(f64, f64)],
    pixel: impl Fn(&(f64, f64)) -> (i32, i32),
) -> Vec<Vec<(f64, f64)>> {
    let mut pieces = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    let mut px: Vec<(i32, i32)> = Vec::new();
    for p in path {
        let q = pixel(p);
        if px.last() == Some(&q) {
            continue;
        }
        if let [.., a, b] = px[..] {
            let (ux, uy) = (i64::from(b.0 - a.0), i64::from(b.1 - a.1));
            let (vx, vy) = (i64::from(q.0 - b.0), i64::from(q.1 - b.1));
            if ux * vx + uy * vy < 0 {
                let last = cur[cur.len() - 1];
                pieces.push(std::mem::replace(&mut cur, vec![last]));
                px = vec![b];
            }
        }
        cur.push(*p);
        px.push(q);
    }
    if !cur.is_empty() {
        pieces.push(cur);
    }
    pieces
}

/// Draws one panel of lines; `secondary` goes on a right-hand axis. Every panel has the same
/// label areas, so the plotting areas line up. Returns the plotting area's pixel range.
#[allow(clippy::too_many_arguments)]
pub(super) fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    y_desc: &str,
    lines: &[Line],
    secondary: Option<(&str, &Line)>,
    axis: &TimeAxis,
    x_desc: bool,
) -> Result<PixelArea, String> {
    panel_keyed(area, title, y_desc, lines, secondary, axis, x_desc, true)
}

/// [`panel`], with its own legend in the upper left (`keyed`) or none (a figure whose every
/// panel shows the same series keys them once, beside the panels).
#[allow(clippy::too_many_arguments)]
pub(super) fn panel_keyed<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    y_desc: &str,
    lines: &[Line],
    secondary: Option<(&str, &Line)>,
    axis: &TimeAxis,
    x_desc: bool,
    keyed: bool,
) -> Result<PixelArea, String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("{e:?}");
    let primary: Vec<&Line> = lines.iter().collect();
    let rows = if keyed {
        lines.len() + usize::from(secondary.is_some())
    } else {
        0
    };
    // A panel of counts only: a whole-number top and ticks at whole numbers.
    let counts = !lines.is_empty() && lines.iter().all(|l| l.steps) && secondary.is_none();
    let mut y = y_range(&primary, rows);
    if counts {
        y.end = y.end.ceil();
    }
    let y_ticks = if counts {
        (y.end as usize + 1).min(7)
    } else {
        6
    };
    let y2 = secondary.map_or(y.clone(), |(_, l)| y_range(&[l], rows));
    let tick_label = move |v: &f64| {
        if !counts {
            y_label(*v)
        } else if v.fract().abs() < 1e-9 {
            format!("{v:.0}")
        } else {
            String::new()
        }
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(52)
        .y_label_area_size(Y_LABEL_PX)
        .right_y_label_area_size(Y_LABEL_PX)
        .build_cartesian_2d(axis.clone(), y.clone())
        .map_err(e)?
        .set_secondary_coord(axis.clone(), y2.clone());
    let label = |x: &f64| axis.label(*x);
    let mut mesh = chart.configure_mesh();
    mesh.x_labels(MAX_TICKS)
        .y_labels(y_ticks)
        .x_label_formatter(&label)
        .y_label_formatter(&tick_label)
        .y_desc(y_desc)
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(200, 200, 200));
    let desc = axis.desc();
    if x_desc {
        mesh.x_desc(desc.as_str());
    }
    mesh.draw().map_err(e)?;
    // The right-axis series first, under the left-axis ones, which it would otherwise cover.
    if let Some((desc, line)) = secondary {
        chart
            .configure_secondary_axes()
            .y_desc(desc)
            .y_label_formatter(&|v| y_label(*v))
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .draw()
            .map_err(e)?;
        // Drawn on the primary axes, scaled, so one clamp keeps every series in the panel.
        let scale = (y.end - y.start) / (y2.end - y2.start);
        draw_line(
            &mut chart,
            line,
            scale,
            format!("{} (right axis)", line.label),
        )?;
    }
    for line in lines {
        draw_line(&mut chart, line, 1.0, line.label.clone())?;
    }
    if keyed {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(e)?;
    }
    Ok(chart.plotting_area().get_pixel_range())
}

/// One key for all of a figure's panels, in its own strip: each line's colour and stroke, and
/// its label.
pub(super) fn key_strip<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    lines: &[Line],
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("{e:?}");
    for (i, line) in lines.iter().enumerate() {
        let y = 60 + 30 * i32::try_from(i).unwrap_or(0);
        let style = match line.stroke {
            Stroke::Solid(w) | Stroke::Dashed(w) | Stroke::Area(w) => line.color.stroke_width(w),
            Stroke::Band => line.color.mix(0.3).stroke_width(10),
        };
        match line.stroke {
            Stroke::Dashed(_) => area
                .draw(&DashedPathElement::new([(10, y), (50, y)], 6, 4, style))
                .map_err(e)?,
            _ => area
                .draw(&PathElement::new([(10, y), (50, y)], style))
                .map_err(e)?,
        }
        area.draw(&Text::new(
            line.label.clone(),
            (60, y - 9),
            ("sans-serif", 17).into_font(),
        ))
        .map_err(e)?;
    }
    Ok(())
}

/// A white page under `title`: `n` panels stacked top to bottom in the left `percent` of its
/// width, and a strip for one key beside them (a key in each panel would cover its data).
pub(super) type KeyedPage<DB> = (Vec<DrawingArea<DB, Shift>>, DrawingArea<DB, Shift>);

/// See [`KeyedPage`].
pub(super) fn keyed_panels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    n: usize,
    percent: u32,
) -> Result<KeyedPage<DB>, String> {
    root.fill(&WHITE).map_err(|e| format!("{e:?}"))?;
    let titled = root
        .titled(title, ("sans-serif", 26))
        .map_err(|e| format!("{e:?}"))?;
    let width = titled.dim_in_pixel().0;
    let (left, key) = titled.split_horizontally(width * percent / 100);
    Ok((left.split_evenly((n, 1)), key))
}

/// A white page under `title`, split into `n` panels stacked top to bottom.
pub(super) fn panels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    n: usize,
) -> Result<Vec<DrawingArea<DB, Shift>>, String> {
    root.fill(&WHITE).map_err(|e| format!("{e:?}"))?;
    let root = root
        .titled(title, ("sans-serif", 26))
        .map_err(|e| format!("{e:?}"))?;
    Ok(root.split_evenly((n, 1)))
}

/// The SLO as a line across the axis.
pub(super) fn slo_line(axis: &TimeAxis, slo_s: f64, color: RGBColor, stroke: Stroke) -> Line {
    let x = axis.range();
    Line {
        label: format!("SLO {slo_s} s"),
        color,
        stroke,
        points: vec![(x.start, slo_s, slo_s), (x.end, slo_s, slo_s)],
        steps: false,
    }
}
