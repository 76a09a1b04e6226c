//! Plots a person reads at a glance: real timestamps on x; arrivals and backlog, tasks, and
//! the oldest message's age in three panels (PNG and SVG, 1600 px wide).

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::model::Row;
use crate::output::OutputError;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const WIDTH: u32 = 1600;
/// Points per series after downsampling (about one per pixel column).
const MAX_POINTS: usize = 1600;

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is compiled in; registering cannot fail for a valid TTF.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// One line on a chart.
pub struct Line {
    /// Legend text.
    pub label: String,
    /// Colour.
    pub color: RGBColor,
    /// (seconds since start, value).
    pub points: Vec<(f64, f64)>,
}

/// Reduces `rows` to at most `MAX_POINTS` by taking, per bucket, the maximum of `value`
/// (peaks survive) at the bucket's first time.
fn downsample(rows: &[Row], start_us: i64, value: impl Fn(&Row) -> f64) -> Vec<(f64, f64)> {
    let bucket = rows.len().div_ceil(MAX_POINTS).max(1);
    rows.chunks(bucket)
        .map(|c| {
            let x = (c[0].t_us - start_us) as f64 / 1e6;
            let y = c.iter().map(&value).fold(f64::MIN, f64::max);
            (x, y)
        })
        .collect()
}

fn time_label(start_us: i64, span_s: f64) -> impl Fn(&f64) -> String {
    move |x: &f64| {
        let us = start_us + (x * 1e6) as i64;
        let Some(t) = chrono::DateTime::from_timestamp_micros(us) else {
            return String::new();
        };
        let fmt = if span_s > 4.0 * 86_400.0 {
            "%m-%d"
        } else if span_s > 86_400.0 {
            "%m-%d %H:%M"
        } else {
            "%H:%M:%S"
        };
        t.format(fmt).to_string()
    }
}

fn err<E: std::fmt::Debug>(path: &Path) -> impl Fn(E) -> OutputError + '_ {
    move |e| OutputError::Plot {
        path: path.to_path_buf(),
        detail: format!("{e:?}"),
    }
}

fn ymax(lines: &[&Line]) -> f64 {
    let m = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0_f64, f64::max);
    if m > 0.0 {
        m * 1.08
    } else {
        1.0
    }
}

/// Draws one panel of lines; `secondary` goes on a right-hand axis.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    y_desc: &str,
    lines: &[Line],
    secondary: Option<(&str, &Line)>,
    x_range: (f64, f64),
    label: &dyn Fn(&f64) -> String,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("{e:?}");
    let primary: Vec<&Line> = lines.iter().collect();
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(80)
        .right_y_label_area_size(if secondary.is_some() { 80 } else { 10 })
        .build_cartesian_2d(x_range.0..x_range.1, 0.0..ymax(&primary))
        .map_err(e)?
        .set_secondary_coord(
            x_range.0..x_range.1,
            0.0..secondary.map_or(1.0, |(_, l)| ymax(&[l])),
        );
    chart
        .configure_mesh()
        .x_labels(12)
        .y_labels(6)
        .x_label_formatter(label)
        .y_desc(y_desc)
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(e)?;
    for line in lines {
        let color = line.color;
        chart
            .draw_series(LineSeries::new(
                line.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(e)?
            .label(line.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
    }
    if let Some((desc, line)) = secondary {
        chart
            .configure_secondary_axes()
            .y_desc(desc)
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .draw()
            .map_err(e)?;
        let color = line.color;
        chart
            .draw_secondary_series(LineSeries::new(
                line.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(e)?
            .label(format!("{} (right axis)", line.label))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(e)?;
    Ok(())
}

/// A white page under `title`, split into three panels stacked top to bottom.
fn three_panels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> Result<Vec<DrawingArea<DB, Shift>>, String> {
    root.fill(&WHITE).map_err(|e| format!("{e:?}"))?;
    let root = root
        .titled(title, ("sans-serif", 26))
        .map_err(|e| format!("{e:?}"))?;
    Ok(root.split_evenly((3, 1)))
}

/// A figure drawable on any backend, so the PNG and the SVG come from one drawing.
pub(crate) trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Draws `figure` into `png` and `svg`, 1600 × 1100.
pub(crate) fn write_both(png: &Path, svg: &Path, figure: &impl Figure) -> Result<(), OutputError> {
    register_font();
    figure
        .draw(&BitMapBackend::new(png, (WIDTH, 1100)).into_drawing_area())
        .map_err(err(png))?;
    figure
        .draw(&SVGBackend::new(svg, (WIDTH, 1100)).into_drawing_area())
        .map_err(err(svg))
}

/// The three panels of a backtest.
fn backtest_panels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    rows: &[Row],
    start_us: i64,
    resolution_s: f64,
    slo_s: f64,
) -> Result<(), String> {
    let areas = three_panels(root, title)?;
    let end = rows
        .last()
        .map_or(1.0, |r| (r.t_us - start_us) as f64 / 1e6);
    let x_range = (0.0, end.max(1.0));
    let label = time_label(start_us, end);
    let arrivals = Line {
        label: "arrivals per second".into(),
        color: RGBColor(31, 119, 180),
        points: downsample(rows, start_us, |r| r.arrivals / resolution_s),
    };
    let backlog = Line {
        label: "backlog (visible messages)".into(),
        color: RGBColor(214, 39, 40),
        points: downsample(rows, start_us, |r| r.backlog),
    };
    panel(
        &areas[0],
        "Arrivals and backlog",
        "messages / s",
        &[arrivals],
        Some(("messages", &backlog)),
        x_range,
        &label,
    )?;
    let tasks = [
        Line {
            label: "ideal (demand)".into(),
            color: RGBColor(160, 160, 160),
            points: downsample(rows, start_us, |r| f64::from(r.demand)),
        },
        Line {
            label: "desired".into(),
            color: RGBColor(44, 160, 44),
            points: downsample(rows, start_us, |r| f64::from(r.desired)),
        },
        Line {
            label: "running".into(),
            color: RGBColor(31, 119, 180),
            points: downsample(rows, start_us, |r| f64::from(r.running)),
        },
        Line {
            label: "pending".into(),
            color: RGBColor(255, 127, 14),
            points: downsample(rows, start_us, |r| f64::from(r.pending)),
        },
    ];
    panel(
        &areas[1],
        "ECS tasks",
        "tasks",
        &tasks,
        None,
        x_range,
        &label,
    )?;
    let age = [
        Line {
            label: "oldest message age".into(),
            color: RGBColor(148, 103, 189),
            points: downsample(rows, start_us, |r| r.oldest_age_s),
        },
        Line {
            label: format!("SLO {slo_s} s"),
            color: RGBColor(214, 39, 40),
            points: vec![(x_range.0, slo_s), (x_range.1, slo_s)],
        },
    ];
    panel(
        &areas[2],
        "Waiting time",
        "seconds",
        &age,
        None,
        x_range,
        &label,
    )?;
    root.present().map_err(|e| format!("{e:?}"))
}

/// Writes `plot.png` and `plot.svg` for a backtest.
pub fn write_backtest(
    dir_png: &Path,
    dir_svg: &Path,
    title: &str,
    rows: &[Row],
    start_us: i64,
    resolution_s: f64,
    slo_s: f64,
) -> Result<(), OutputError> {
    struct Backtest<'a>(&'a str, &'a [Row], i64, f64, f64);
    impl Figure for Backtest<'_> {
        fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
            backtest_panels(root, self.0, self.1, self.2, self.3, self.4)
        }
    }
    write_both(
        dir_png,
        dir_svg,
        &Backtest(title, rows, start_us, resolution_s, slo_s),
    )
}

/// Palette for overlays.
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

fn compare_panels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    runs: &[(String, Vec<Row>)],
    start_us: i64,
) -> Result<(), String> {
    let areas = three_panels(root, title)?;
    let end = runs
        .iter()
        .filter_map(|(_, r)| r.last())
        .map(|r| (r.t_us - start_us) as f64 / 1e6)
        .fold(1.0, f64::max);
    let x_range = (0.0, end);
    let label = time_label(start_us, end);
    let lines = |f: &dyn Fn(&Row) -> f64| -> Vec<Line> {
        runs.iter()
            .enumerate()
            .map(|(i, (name, rows))| Line {
                label: name.clone(),
                color: PALETTE[i % PALETTE.len()],
                points: downsample(rows, start_us, f),
            })
            .collect()
    };
    panel(
        &areas[0],
        "Running tasks",
        "tasks",
        &lines(&|r| f64::from(r.running)),
        None,
        x_range,
        &label,
    )?;
    panel(
        &areas[1],
        "Backlog",
        "messages",
        &lines(&|r| r.backlog),
        None,
        x_range,
        &label,
    )?;
    panel(
        &areas[2],
        "Oldest message age",
        "seconds",
        &lines(&|r| r.oldest_age_s),
        None,
        x_range,
        &label,
    )?;
    root.present().map_err(|e| format!("{e:?}"))
}

/// Writes an overlay of several runs of the same scenario as PNG and SVG.
pub fn write_compare(
    png: &Path,
    svg: &Path,
    title: &str,
    runs: &[(String, Vec<Row>)],
    start_us: i64,
) -> Result<(), OutputError> {
    struct Compare<'a>(&'a str, &'a [(String, Vec<Row>)], i64);
    impl Figure for Compare<'_> {
        fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
            compare_panels(root, self.0, self.1, self.2)
        }
    }
    write_both(png, svg, &Compare(title, runs, start_us))
}
