//! Plots a person reads at a glance: panels on one UTC time axis with ticks at round times,
//! each series drawn as its min/max envelope per pixel column and kept inside its panel (PNG
//! and SVG, 1600 px wide).

use std::ops::Range;
use std::path::Path;
use std::sync::Once;

use chrono::{DateTime, Datelike, Timelike, Utc};
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use crate::model::{Envelope, Row};
use crate::output::OutputError;
use stepscale_engine::Action;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const WIDTH: u32 = 1600;
/// The height of a three-panel figure; each further panel adds [`PANEL_HEIGHT`].
const HEIGHT: u32 = 1100;
const PANEL_HEIGHT: u32 = 350;
/// Left and right label areas, the same on every panel, so one time falls at one x.
const Y_LABEL_PX: u32 = 80;
/// Tick labels on the time axis, at most.
const MAX_TICKS: usize = 13;

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is compiled in; registering cannot fail for a valid TTF.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

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
}

/// `value` over the envelope's buckets: (seconds since start, lowest, highest).
fn envelope_points(
    env: &Envelope,
    start_us: i64,
    value: impl Fn(&Row) -> f64,
) -> Vec<(f64, f64, f64)> {
    env.max
        .iter()
        .zip(&env.min)
        .map(|(hi, lo)| {
            let (a, b) = (value(lo), value(hi));
            ((hi.t_us - start_us) as f64 / 1e6, a.min(b), a.max(b))
        })
        .collect()
}

/// Merges `points` into at most one per pixel column of `px` columns over `x` (lowest of the
/// lows, highest of the highs), so spikes and quiet minima both survive.
fn per_column(points: &[(f64, f64, f64)], x: &Range<f64>, px: usize) -> Vec<(f64, f64, f64)> {
    if points.len() <= px || px == 0 {
        return points.to_vec();
    }
    let span = (x.end - x.start).max(f64::MIN_POSITIVE);
    let last = (px - 1) as f64;
    let mut cols: Vec<(usize, f64, f64)> = Vec::with_capacity(px);
    for &(t, lo, hi) in points {
        let col = ((t - x.start) / span * px as f64).floor().clamp(0.0, last) as usize;
        match cols.last_mut() {
            Some(c) if c.0 == col => {
                c.1 = c.1.min(lo);
                c.2 = c.2.max(hi);
            }
            _ => cols.push((col, lo, hi)),
        }
    }
    cols.into_iter()
        .map(|(c, lo, hi)| (x.start + (c as f64 + 0.5) / px as f64 * span, lo, hi))
        .collect()
}

/// `v` inside `y` (plotters does not clip: a value outside would cross into the next panel).
fn clamp_into(v: f64, y: &Range<f64>) -> f64 {
    if v.is_nan() {
        y.start
    } else {
        v.clamp(y.start, y.end)
    }
}

// ---- The time axis -------------------------------------------------------------------------

/// A tick step: a fixed number of seconds after an aligned instant, or whole months.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    /// Every `secs`, aligned to the epoch plus `offset_secs` (4 days: Mondays).
    Secs { secs: i64, offset_secs: i64 },
    /// The first of every `n`-th month.
    Months(i32),
}

const fn secs(secs: i64) -> Step {
    Step::Secs {
        secs,
        offset_secs: 0,
    }
}

const fn weeks(n: i64) -> Step {
    Step::Secs {
        secs: n * 7 * 86_400,
        offset_secs: 4 * 86_400,
    }
}

/// (tick, light grid) steps for spans under two days: minutes and hours.
const SHORT: [(Step, Step); 18] = [
    (secs(1), secs(1)),
    (secs(2), secs(1)),
    (secs(5), secs(1)),
    (secs(10), secs(5)),
    (secs(15), secs(5)),
    (secs(30), secs(10)),
    (secs(60), secs(15)),
    (secs(120), secs(30)),
    (secs(300), secs(60)),
    (secs(600), secs(120)),
    (secs(900), secs(300)),
    (secs(1800), secs(600)),
    (secs(3600), secs(900)),
    (secs(7200), secs(1800)),
    (secs(10_800), secs(3600)),
    (secs(21_600), secs(3600)),
    (secs(43_200), secs(10_800)),
    (secs(86_400), secs(21_600)),
];

/// Steps for spans under 60 days: hours and days.
const DAYS: [(Step, Step); 6] = [
    (secs(21_600), secs(3600)),
    (secs(43_200), secs(10_800)),
    (secs(86_400), secs(21_600)),
    (secs(2 * 86_400), secs(86_400)),
    (weeks(1), secs(86_400)),
    (weeks(2), secs(86_400)),
];

/// Steps for longer spans: weeks, months and years.
const LONG: [(Step, Step); 9] = [
    (weeks(1), secs(86_400)),
    (weeks(2), weeks(1)),
    (Step::Months(1), weeks(1)),
    (Step::Months(2), Step::Months(1)),
    (Step::Months(3), Step::Months(1)),
    (Step::Months(6), Step::Months(1)),
    (Step::Months(12), Step::Months(3)),
    (Step::Months(24), Step::Months(6)),
    (Step::Months(60), Step::Months(12)),
];

/// The instants of `step` in [`from_us`, `to_us`], at most `limit + 1` of them.
fn instants(step: Step, from_us: i64, to_us: i64, limit: usize) -> Vec<i64> {
    let mut out = Vec::new();
    match step {
        Step::Secs { secs, offset_secs } => {
            let (step_us, off_us) = (secs * 1_000_000, offset_secs * 1_000_000);
            let mut t = off_us + (from_us - off_us).div_euclid(step_us) * step_us;
            if t < from_us {
                t += step_us;
            }
            while t <= to_us && out.len() <= limit {
                out.push(t);
                t += step_us;
            }
        }
        Step::Months(n) => {
            let Some(from) = DateTime::from_timestamp_micros(from_us) else {
                return out;
            };
            let mut m = from.year() * 12 + from.month0() as i32;
            m += (n - m.rem_euclid(n)) % n;
            loop {
                let date = chrono::NaiveDate::from_ymd_opt(
                    m.div_euclid(12),
                    m.rem_euclid(12) as u32 + 1,
                    1,
                );
                let Some(t) = date.and_then(|d| d.and_hms_opt(0, 0, 0)) else {
                    break;
                };
                let t = t.and_utc().timestamp_micros();
                if t > to_us || out.len() > limit {
                    break;
                }
                if t >= from_us {
                    out.push(t);
                }
                m += n;
            }
        }
    }
    out
}

/// The x axis: seconds since the run's start, ticks at round UTC times.
#[derive(Clone)]
struct TimeAxis {
    coord: RangedCoordf64,
    start_us: i64,
    ticks: Vec<f64>,
    light: Vec<f64>,
    /// Ticks come at least a minute apart; dates only (spans of 60 days and more).
    minutes: bool,
    dates: bool,
}

impl TimeAxis {
    /// The axis over [0, `end_s`] seconds after `start_us`.
    fn new(start_us: i64, end_s: f64) -> Self {
        let end_s = end_s.max(1.0);
        let end_us = start_us.saturating_add((end_s * 1e6) as i64);
        let span_days = end_s / 86_400.0;
        let table: &[(Step, Step)] = if span_days < 2.0 {
            &SHORT
        } else if span_days < 60.0 {
            &DAYS
        } else {
            &LONG
        };
        let (step, light) = table
            .iter()
            .copied()
            .find(|&(s, _)| instants(s, start_us, end_us, MAX_TICKS).len() <= MAX_TICKS)
            .unwrap_or(table[table.len() - 1]);
        let rel = |v: Vec<i64>| -> Vec<f64> {
            v.into_iter().map(|t| (t - start_us) as f64 / 1e6).collect()
        };
        Self {
            coord: (0.0..end_s).into(),
            start_us,
            ticks: rel(instants(step, start_us, end_us, MAX_TICKS)),
            light: rel(instants(light, start_us, end_us, MAX_TICKS * 8)),
            minutes: !matches!(step, Step::Secs { secs, .. } if secs < 60),
            dates: span_days >= 60.0,
        }
    }

    fn time(&self, x: f64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(self.start_us + (x * 1e6).round() as i64)
    }

    /// A tick's label: the date at midnight (with the year), the time of day otherwise.
    fn label(&self, x: f64) -> String {
        let Some(t) = self.time(x) else {
            return String::new();
        };
        let fmt = if self.dates {
            "%Y-%m-%d"
        } else if t.num_seconds_from_midnight() == 0 {
            "%b %d %Y"
        } else if self.minutes {
            "%H:%M"
        } else {
            "%H:%M:%S"
        };
        t.format(fmt).to_string()
    }

    /// The axis description: the zone and the span, with years.
    fn desc(&self) -> String {
        let end = self.coord.range().end;
        match (self.time(0.0), self.time(end)) {
            (Some(a), Some(b)) => format!(
                "time (UTC), {} to {}",
                a.format("%Y-%m-%d %H:%M"),
                b.format("%Y-%m-%d %H:%M")
            ),
            _ => "time (UTC)".into(),
        }
    }
}

impl Ranged for TimeAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.coord.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.coord.range()
    }
}

impl ValueFormatter<f64> for TimeAxis {
    fn format(value: &f64) -> String {
        format!("{value}")
    }

    fn format_ext(&self, value: &f64) -> String {
        self.label(*value)
    }
}

/// A y label without noise: 0, 2.5, 40, 12k, 1.4M.
fn y_label(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 10.0 || a == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

// ---- Panels --------------------------------------------------------------------------------

fn err<E: std::fmt::Debug>(path: &Path) -> impl Fn(E) -> OutputError + '_ {
    move |e| OutputError::Plot {
        path: path.to_path_buf(),
        detail: format!("{e:?}"),
    }
}

/// The y range of `lines`: from zero to the highest value plus headroom.
/// From 0 to above the highest point, with room at the top for a legend of `legend_rows`
/// entries (about a ninth of the panel each), so that the legend never covers data.
fn y_range(lines: &[&Line], legend_rows: usize) -> Range<f64> {
    let m = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.2))
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let headroom = 1.08 + 0.11 * legend_rows as f64;
    0.0..if m > 0.0 { m * headroom } else { 1.0 }
}

/// A plotting area in pixels: (x range, y range).
type PixelArea = (Range<i32>, Range<i32>);

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<TimeAxis, RangedCoordf64>>;

/// Draws `line` scaled by `scale` onto the chart's axes, clamped to them.
fn draw_line<DB: DrawingBackend>(
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
            let edge: Vec<(f64, f64)> = cols.iter().map(|c| (c.0, c.2)).collect();
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
        Stroke::Dashed(w) => {
            let style = color.stroke_width(w);
            let highs: Vec<(f64, f64)> = cols.iter().map(|c| (c.0, c.2)).collect();
            let lows: Vec<(f64, f64)> = cols.iter().map(|c| (c.0, c.1)).collect();
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
fn gentle_pieces(
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
fn panel<DB: DrawingBackend>(
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
fn panel_keyed<DB: DrawingBackend>(
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
    let y = y_range(&primary, rows);
    let y2 = secondary.map_or(y.clone(), |(_, l)| y_range(&[l], rows));
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
        .y_labels(6)
        .x_label_formatter(&label)
        .y_label_formatter(&|v| y_label(*v))
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
fn key_strip<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    lines: &[Line],
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("{e:?}");
    for (i, line) in lines.iter().enumerate() {
        let y = 60 + 30 * i32::try_from(i).unwrap_or(0);
        let style = match line.stroke {
            Stroke::Solid(w) | Stroke::Dashed(w) | Stroke::Area(w) => line.color.stroke_width(w),
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

/// A white page under `title`, split into `n` panels stacked top to bottom.
fn panels<DB: DrawingBackend>(
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

/// A figure drawable on any backend, so the PNG and the SVG come from one drawing.
pub(crate) trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
    /// Panels stacked on the page.
    fn panel_count(&self) -> usize {
        3
    }
}

/// The page height for `n` panels.
fn height(n: usize) -> u32 {
    HEIGHT + PANEL_HEIGHT * u32::try_from(n.saturating_sub(3)).unwrap_or(0)
}

/// Draws `figure` into `png` and `svg`, 1600 px wide, 1100 px high for three panels.
pub(crate) fn write_both(png: &Path, svg: &Path, figure: &impl Figure) -> Result<(), OutputError> {
    register_font();
    let size = (WIDTH, height(figure.panel_count()));
    figure
        .draw(&BitMapBackend::new(png, size).into_drawing_area())
        .map_err(err(png))?;
    figure
        .draw(&SVGBackend::new(svg, size).into_drawing_area())
        .map_err(err(svg))
}

/// The end of the x axis: the last bucket's time, in seconds after `start_us`.
fn end_s(env: &Envelope, start_us: i64) -> f64 {
    env.max
        .last()
        .map_or(1.0, |r| (r.t_us - start_us) as f64 / 1e6)
}

/// The SLO as a line across the axis.
fn slo_line(axis: &TimeAxis, slo_s: f64, color: RGBColor, stroke: Stroke) -> Line {
    let x = axis.range();
    Line {
        label: format!("SLO {slo_s} s"),
        color,
        stroke,
        points: vec![(x.start, slo_s, slo_s), (x.end, slo_s, slo_s)],
    }
}

/// What a backtest plot shows.
struct Backtest<'a> {
    title: &'a str,
    env: &'a Envelope,
    start_us: i64,
    resolution_s: f64,
    slo_s: f64,
    /// The price of a task-hour when a fourth panel shows the cumulative cost.
    cost_per_task_hour: Option<f64>,
}

impl Backtest<'_> {
    /// The three panels (four with the cost); returns their plotting areas.
    fn panels<DB: DrawingBackend>(
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
            series("running", RGBColor(31, 119, 180), Stroke::Area(1), &|r| {
                f64::from(r.running)
            }),
            series("pending", RGBColor(255, 127, 14), Stroke::Solid(2), &|r| {
                f64::from(r.pending)
            }),
            series("desired", RGBColor(44, 160, 44), Stroke::Dashed(2), &|r| {
                f64::from(r.desired)
            }),
            series(
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

/// Palette for overlays.
/// The series colours, in order; the tune plot takes its reference colours from index 2 on.
pub(crate) const PALETTE: [RGBColor; 7] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
    RGBColor(140, 86, 75),
];

/// What a compare plot shows.
struct Compare<'a> {
    title: &'a str,
    runs: &'a [(String, Envelope)],
    start_us: i64,
    slo_s: f64,
    cost_per_task_hour: f64,
}

impl Compare<'_> {
    /// The four panels and the key strip; returns the panels' plotting areas, then the strip's.
    fn panels<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<Vec<PixelArea>, String> {
        root.fill(&WHITE).map_err(|e| format!("{e:?}"))?;
        let titled = root
            .titled(self.title, ("sans-serif", 26))
            .map_err(|e| format!("{e:?}"))?;
        // The policies' key once, in a strip beside the panels: with several policies a key in
        // each panel would cover its data.
        let width = titled.dim_in_pixel().0;
        let (left, key) = titled.split_horizontally(width * 83 / 100);
        let areas = left.split_evenly((4, 1));
        let end = self
            .runs
            .iter()
            .map(|(_, env)| end_s(env, self.start_us))
            .fold(1.0, f64::max);
        let axis = TimeAxis::new(self.start_us, end);
        let n = self.runs.len();
        // Each policy 2 px narrower than the one drawn before it (at least 2 px): where two are equal, the
        // earlier shows as a border around the later.
        let lines = |f: &dyn Fn(&Row) -> f64| -> Vec<Line> {
            self.runs
                .iter()
                .enumerate()
                .map(|(i, (name, env))| Line {
                    label: name.clone(),
                    color: PALETTE[i % PALETTE.len()],
                    stroke: Stroke::Solid(2 + 2 * u32::try_from(n - 1 - i).unwrap_or(0).min(3)),
                    points: envelope_points(env, self.start_us, f),
                })
                .collect()
        };
        let mut out = vec![panel_keyed(
            &areas[0],
            "Running tasks",
            "tasks",
            &lines(&|r| f64::from(r.running)),
            None,
            &axis,
            false,
            false,
        )?];
        out.push(panel_keyed(
            &areas[1],
            "Backlog",
            "messages",
            &lines(&|r| r.backlog),
            None,
            &axis,
            false,
            false,
        )?);
        let mut age = lines(&|r| r.oldest_age_s);
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
            &lines(&|r| r.task_hours * price),
            None,
            &axis,
            true,
            false,
        )?);
        let mut keys = lines(&|_| 0.0);
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

/// What a parity plot shows: a live run beside its replay.
struct ParityFigure<'a> {
    title: String,
    parity: &'a crate::parity::result::Parity,
}

impl Figure for ParityFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let areas = panels(root, &self.title, 3)?;
        let c = &self.parity.compared;
        let start_us = c.first().map_or(0, |t| t.live.at_us);
        let at = |t: &crate::parity::result::ComparedTick| (t.live.at_us - start_us) as f64 / 1e6;
        let axis = TimeAxis::new(start_us, c.last().map_or(1.0, at).max(1.0));
        let series =
            |label: &str,
             color,
             stroke,
             f: &dyn Fn(&crate::parity::result::ComparedTick) -> f64| Line {
                label: label.into(),
                color,
                stroke,
                points: c.iter().map(|t| (at(t), f(t), f(t))).collect(),
            };
        let (live, sim) = (PALETTE[0], PALETTE[1]);
        panel(
            &areas[0],
            "Desired count before each decision",
            "tasks",
            &[
                series("live", live, Stroke::Solid(4), &|t| {
                    f64::from(t.live.desired)
                }),
                series("simulated", sim, Stroke::Dashed(2), &|t| {
                    f64::from(t.sim.previous)
                }),
            ],
            None,
            &axis,
            false,
        )?;
        let level = |v: Option<u64>, f: Option<u64>| (v.unwrap_or(0) + f.unwrap_or(0)) as f64;
        panel(
            &areas[1],
            "Visible + in-flight messages seen by the policy",
            "messages",
            &[
                series("live", live, Stroke::Solid(4), &|t| {
                    level(t.live.visible, t.live.in_flight)
                }),
                series("simulated", sim, Stroke::Dashed(2), &|t| {
                    (t.sim.visible + t.sim.in_flight) as f64
                }),
            ],
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
            true,
        )?;
        root.present().map_err(|e| format!("{e:?}"))
    }
}

/// Writes the parity plot (PNG only): desired counts, the backlog the policy saw and the
/// actions, live and simulated, tick by tick.
pub fn write_parity(png: &Path, parity: &crate::parity::result::Parity) -> Result<(), OutputError> {
    register_font();
    let r = &parity.report;
    let figure = ParityFigure {
        title: format!(
            "Parity — {} policy, {}: {:.1} % same action, desired within ±{} over {} ticks",
            r.policy,
            r.record,
            r.same_action_share * 100.0,
            r.max_desired_gap,
            r.ticks
        ),
        parity,
    };
    figure
        .draw(&BitMapBackend::new(png, (WIDTH, height(3))).into_drawing_area())
        .map_err(err(png))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t_us: i64, v: f64) -> Row {
        let n = v.clamp(0.0, 1e6) as u32;
        Row {
            t_us,
            arrivals: v,
            backlog: v * 7.0,
            in_flight: 0.0,
            desired: n,
            running: n,
            pending: n / 3,
            action: None,
            oldest_age_s: v,
            demand: n / 2,
            task_hours: v,
        }
    }

    /// A spiky envelope: quiet, then alternating extremes, a NaN and an infinity.
    fn spiky(start_us: i64, buckets: i64) -> Envelope {
        let mut env = Envelope::default();
        for i in 0..buckets {
            let t = start_us + i * 60_000_000;
            let hi = match i % 97 {
                0 => 5000.0,
                1 => 0.0,
                _ if i > buckets / 2 => 300.0 * f64::from(u8::from(i % 2 == 0)),
                _ => 3.0,
            };
            let hi = if i == 10 {
                f64::NAN
            } else if i == 20 {
                f64::INFINITY
            } else {
                hi
            };
            env.max.push(row(t, hi));
            env.min.push(row(t, if i % 5 == 0 { 0.0 } else { 1.0 }));
        }
        env
    }

    /// Renders `figure` into memory; returns the pixels and the panels' plotting areas.
    fn render(
        panel_count: usize,
        draw: impl Fn(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<Vec<PixelArea>, String>,
    ) -> (Vec<u8>, Vec<PixelArea>) {
        register_font();
        let h = height(panel_count);
        let mut buf = vec![0_u8; (WIDTH * h * 3) as usize];
        let areas = {
            let root = BitMapBackend::with_buffer(&mut buf, (WIDTH, h)).into_drawing_area();
            draw(&root).expect("drawn")
        };
        (buf, areas)
    }

    /// Coloured pixels (not black, white or grey) outside every plotting area: lines that
    /// crossed out of their panel. Strokes may overhang their area by `slack` pixels.
    fn strays(buf: &[u8], areas: &[PixelArea], slack: i32) -> usize {
        let mut n = 0;
        let h = (buf.len() / 3 / WIDTH as usize) as i32;
        for y in 0..h {
            for x in 0..WIDTH as i32 {
                let inside = areas.iter().any(|(xs, ys)| {
                    (xs.start - slack..xs.end + slack).contains(&x)
                        && (ys.start - slack..ys.end + slack).contains(&y)
                });
                let at = ((y as u32 * WIDTH + x as u32) * 3) as usize;
                let rgb = &buf[at..at + 3];
                let spread = rgb.iter().max().unwrap_or(&0) - rgb.iter().min().unwrap_or(&0);
                if !inside && spread > 60 {
                    n += 1;
                }
            }
        }
        n
    }

    #[test]
    fn no_series_leaves_its_panel_and_every_panel_shares_the_x_pixels() {
        let start = 896_563_800_000_000; // 1998-05-30T21:30:00Z
        let env = spiky(start, 4096);
        for (cost, n) in [(None, 3), (Some(0.05), 4)] {
            let bt = Backtest {
                title: "t",
                env: &env,
                start_us: start,
                resolution_s: 60.0,
                slo_s: 30.0,
                cost_per_task_hour: cost,
            };
            assert_eq!(bt.panel_count(), n);
            let (buf, areas) = render(n, |root| bt.panels(root));
            assert_eq!(areas.len(), n);
            eprintln!("plotting areas: {areas:?}");
            assert!(areas.iter().all(|a| a.0 == areas[0].0), "{areas:?}");
            assert_eq!(strays(&buf, &areas, 3), 0);
        }
        let runs = [
            ("a".to_string(), env.clone()),
            ("b".to_string(), spiky(start, 300)),
        ];
        let cmp = Compare {
            title: "t",
            runs: &runs,
            start_us: start,
            slo_s: 30.0,
            cost_per_task_hour: 0.05,
        };
        let (buf, areas) = render(cmp.panel_count(), |root| cmp.panels(root));
        // Four panels, then the key strip (its coloured keys are meant to be there).
        assert_eq!(areas.len(), 5);
        assert!(areas[..4].iter().all(|a| a.0 == areas[0].0), "{areas:?}");
        assert!(
            areas[4].0.start >= areas[0].0.end,
            "the key is beside the panels"
        );
        assert_eq!(strays(&buf, &areas, 3), 0);
    }

    #[test]
    fn ticks_fall_at_round_utc_times_with_labels_for_the_span() {
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("a time")
                .timestamp_micros()
        };
        let cases = [
            ("1998-04-30T21:30:00Z", 87.0 * 86_400.0, "1998-05-04"),
            ("2026-01-05T00:00:00Z", 2.0 * 86_400.0, "Jan 05 2026"),
            ("2026-01-05T00:00:00Z", 7_200.0, "Jan 05 2026"),
            ("2026-01-05T00:07:00Z", 3_000.0, "00:10"),
        ];
        for (start, span, first) in cases {
            let axis = TimeAxis::new(at(start), span);
            assert!(
                (3..=MAX_TICKS).contains(&axis.ticks.len()),
                "{start} {span}: {:?}",
                axis.ticks
            );
            assert_eq!(axis.label(axis.ticks[0]), first, "{start} {span}");
            let step = axis.ticks[1] - axis.ticks[0];
            for &t in &axis.ticks {
                let time = axis.time(t).expect("a time");
                assert_eq!(time.timestamp() % 300, 0, "{time}");
                assert!(
                    ((t - axis.ticks[0]) % step).abs() < 1e-9,
                    "{start}: even steps"
                );
            }
            assert!(axis.desc().starts_with("time (UTC), "), "{}", axis.desc());
        }
        let long = TimeAxis::new(at("1998-04-30T21:30:00Z"), 87.0 * 86_400.0);
        assert!(long.ticks.iter().all(|&t| long
            .time(t)
            .is_some_and(|d| d.weekday() == chrono::Weekday::Mon && d.hour() == 0)));
    }

    #[test]
    fn columns_keep_each_pixels_lowest_and_highest() {
        let points: Vec<(f64, f64, f64)> = (0..10_000)
            .map(|i| {
                let v = match i {
                    4242 => 900.0,
                    777 => -5.0,
                    _ => 10.0,
                };
                (f64::from(i), v, v)
            })
            .collect();
        let cols = per_column(&points, &(0.0..10_000.0), 100);
        assert_eq!(cols.len(), 100);
        assert!((cols[42].2 - 900.0).abs() < 1e-9);
        assert!((cols[7].1 + 5.0).abs() < 1e-9);
        assert!(cols.iter().all(|c| c.1 <= c.2));
        assert_eq!(per_column(&points[..50], &(0.0..10_000.0), 100).len(), 50);
    }

    #[test]
    fn pieces_never_turn_back_sharply() {
        let zigzag: Vec<(f64, f64)> = (0..40)
            .map(|i| (f64::from(i / 2), f64::from((i % 2) * 100)))
            .collect();
        let pixel = |p: &(f64, f64)| ((p.0 * 3.0) as i32, -(p.1 as i32));
        let pieces = gentle_pieces(&zigzag, pixel);
        assert!(pieces.len() > 10);
        for piece in &pieces {
            let px: Vec<(i32, i32)> = piece.iter().map(pixel).collect();
            for w in px.windows(3) {
                let (u, v) = (
                    (w[1].0 - w[0].0, w[1].1 - w[0].1),
                    (w[2].0 - w[1].0, w[2].1 - w[1].1),
                );
                assert!(u.0 * v.0 + u.1 * v.1 >= 0, "{w:?}");
            }
        }
    }
}
