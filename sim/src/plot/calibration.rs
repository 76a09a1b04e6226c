//! The calibration figure: each fit against its data. The start-up delays seen as a histogram
//! under the fitted lognormal, the service time estimated batch by batch against the overall
//! estimate and its interval, the completions' spread under the fitted lognormal's and an
//! exponential's, and the arrivals the trace replays.

use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::TimeAxis;
use super::panel::{panel, panels, Line, Stroke};
use super::{err, height, register_font, Figure, PALETTE, WIDTH};
use crate::output::OutputError;

/// What the calibration figure shows.
pub struct CalibrationPlot<'a> {
    /// The title.
    pub title: String,
    /// Start-up delays seen, seconds.
    pub startup_samples: &'a [f64],
    /// The fitted lognormal: median seconds and σ.
    pub startup_fit: (f64, f64),
    /// Service time per batch: (time µs, seconds).
    pub service_series: &'a [(i64, f64)],
    /// The overall service-time estimate and its 90 % interval (none: not fitted).
    pub service_fit: Option<(f64, [f64; 2])>,
    /// The mean service time as stated instead (`--service-secs`).
    pub service_stated: Option<f64>,
    /// Arrivals per second: (time µs, messages).
    pub arrivals: &'a [(i64, f64)],
    /// The service time's spread, when fitted.
    pub spread: Option<SpreadView<'a>>,
    /// Why it was not fitted.
    pub spread_note: Option<&'a str>,
}

/// The service time's spread as the figure draws it.
pub struct SpreadView<'a> {
    /// Each busy window's completions less their expectation, over its square root.
    pub z: &'a [f64],
    /// The fitted lognormal σ.
    pub sigma: f64,
    /// The windows' index of dispersion (the variance of `z`).
    pub observed: f64,
    /// The fitted lognormal's.
    pub fitted: f64,
}

/// A histogram's bars from `from`, `width` wide each, `counts` high.
fn bar_series(from: f64, width: f64, counts: &[u32]) -> Vec<Rectangle<(f64, f64)>> {
    counts
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let x0 = from + i as f64 * width;
            Rectangle::new(
                [(x0, 0.0), (x0 + width, f64::from(c))],
                PALETTE[0].mix(0.5).filled(),
            )
        })
        .collect()
}

/// The bars' entry in a key.
fn bar_key((x, y): (i32, i32)) -> Rectangle<(i32, i32)> {
    Rectangle::new([(x, y - 5), (x + 18, y + 5)], PALETTE[0].mix(0.5).filled())
}

/// A histogram panel's key, top right.
fn draw_key<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .draw()
        .map_err(|e| format!("{e:?}"))
}

/// The normal density with variance `var` at `x` (a spike's top where `var` is 0).
fn normal_pdf(x: f64, var: f64) -> f64 {
    let var = var.max(1e-3);
    (-0.5 * x * x / var).exp() / (2.0 * std::f64::consts::PI * var).sqrt()
}

/// The lognormal density at `x`.
fn lognormal_pdf(x: f64, median: f64, sigma: f64) -> f64 {
    if x <= 0.0 || sigma <= 0.0 {
        return 0.0;
    }
    let z = (x.ln() - median.ln()) / sigma;
    (-0.5 * z * z).exp() / (x * sigma * (2.0 * std::f64::consts::PI).sqrt())
}

impl CalibrationPlot<'_> {
    fn histogram<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("{e:?}");
        let s = self.startup_samples;
        if s.is_empty() {
            // Stated, not fitted: nothing to draw but why.
            let (w, h) = area.dim_in_pixel();
            let text = "Start-up delay: stated, not fitted (no task was seen starting)";
            area.draw(&Text::new(
                text,
                (
                    i32::try_from(w / 2).unwrap_or(0) - 330,
                    i32::try_from(h / 2).unwrap_or(0),
                ),
                ("sans-serif", 22).into_font(),
            ))
            .map_err(e)?;
            return Ok(());
        }
        let hi = s.iter().copied().fold(1.0_f64, f64::max) * 1.15;
        let bins = 20usize;
        let width = hi / bins as f64;
        let mut counts = vec![0u32; bins];
        for &x in s {
            counts[((x / width) as usize).min(bins - 1)] += 1;
        }
        let (median, sigma) = self.startup_fit;
        let curve: Vec<(f64, f64)> = (1..=200)
            .map(|i| {
                let x = hi * f64::from(i) / 200.0;
                (x, lognormal_pdf(x, median, sigma) * s.len() as f64 * width)
            })
            .collect();
        // The bars set the scale; a fitted curve far narrower than a bar (start-ups the record
        // cannot resolve) is cut at three times the tallest bar rather than flatten them.
        let bars = counts.iter().map(|&c| f64::from(c)).fold(1.0_f64, f64::max);
        let peak = curve.iter().map(|p| p.1).fold(0.0_f64, f64::max);
        let top = bars.max(peak.min(3.0 * bars)) * 1.25;
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "Start-up delay: {} tasks seen starting, and the fitted lognormal (median {median:.1} s, σ {sigma:.2})",
                    s.len()
                ),
                ("sans-serif", 20),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(super::Y_LABEL_PX)
            .build_cartesian_2d(0.0..hi, 0.0..top)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("seconds from the scale-out's decision to the task running")
            .y_desc("tasks")
            .x_label_formatter(&|v| {
                if hi < 10.0 {
                    format!("{v:.1}")
                } else {
                    format!("{v:.0}")
                }
            })
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(e)?;
        chart
            .draw_series(bar_series(0.0, width, &counts))
            .map_err(e)?
            .label("tasks seen (histogram)")
            .legend(bar_key);
        chart
            .draw_series(LineSeries::new(curve, PALETTE[1].stroke_width(3)))
            .map_err(e)?
            .label("fitted lognormal (expected tasks per bar)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], PALETTE[1].stroke_width(3)));
        draw_key(&mut chart)
    }
}

impl CalibrationPlot<'_> {
    /// The busy windows' completions, standardised, under the fitted lognormal's spread and
    /// an exponential's (variance ÷ mean 1); or why there is none.
    fn spread_panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<(), String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("{e:?}");
        let Some(view) = &self.spread else {
            let note = self.spread_note.unwrap_or("not fitted");
            let (_, h) = area.dim_in_pixel();
            // The reason, wrapped at about 130 characters.
            let mut lines = vec![String::from(
                "Service time's spread: not fitted (an exponential is assumed)",
            )];
            let mut line = String::new();
            for word in note.split(' ') {
                if line.chars().count() + word.chars().count() > 130 {
                    lines.push(std::mem::take(&mut line));
                }
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(word);
            }
            lines.push(line);
            for (k, line) in lines.iter().enumerate() {
                area.draw(&Text::new(
                    line.clone(),
                    (
                        40,
                        i32::try_from(h / 2).unwrap_or(0) - 20 + 30 * i32::try_from(k).unwrap_or(0),
                    ),
                    ("sans-serif", if k == 0 { 22 } else { 16 }).into_font(),
                ))
                .map_err(e)?;
            }
            return Ok(());
        };
        let lim = 4.0_f64.max(view.z.iter().fold(0.0_f64, |m, z| m.max(z.abs())).min(8.0));
        let bins = 32usize;
        let width = 2.0 * lim / bins as f64;
        let mut counts = vec![0u32; bins];
        for &z in view.z {
            let k = ((z + lim) / width).floor().clamp(0.0, (bins - 1) as f64) as usize;
            counts[k] += 1;
        }
        let n = view.z.len() as f64;
        let curve = |var: f64| -> Vec<(f64, f64)> {
            (0..=300)
                .map(|i| {
                    let x = -lim + 2.0 * lim * f64::from(i) / 300.0;
                    (x, normal_pdf(x, var) * n * width)
                })
                .collect()
        };
        let (fitted, exponential) = (curve(view.fitted), curve(1.0));
        let bars = counts.iter().map(|&c| f64::from(c)).fold(1.0_f64, f64::max);
        let peak = fitted.iter().map(|p| p.1).fold(0.0_f64, f64::max);
        let top = bars.max(peak.min(3.0 * bars)) * 1.25;
        let clip = |c: Vec<(f64, f64)>| -> Vec<(f64, f64)> {
            c.into_iter().map(|(x, y)| (x, y.min(top))).collect()
        };
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "Service time's spread: {} busy windows, variance ÷ mean {:.2}; the fitted lognormal σ {:.2} gives {:.2}, an exponential 1",
                    view.z.len(),
                    view.observed,
                    view.sigma,
                    view.fitted
                ),
                ("sans-serif", 20),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(super::Y_LABEL_PX)
            .build_cartesian_2d(-lim..lim, 0.0..top)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("messages completed in a window, less those expected, over the expected's square root")
            .y_desc("windows")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(e)?;
        chart
            .draw_series(bar_series(-lim, width, &counts))
            .map_err(e)?
            .label("busy windows (histogram)")
            .legend(bar_key);
        chart
            .draw_series(LineSeries::new(clip(fitted), PALETTE[1].stroke_width(3)))
            .map_err(e)?
            .label(format!("fitted lognormal σ {:.2}", view.sigma))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], PALETTE[1].stroke_width(3)));
        chart
            .draw_series(DashedLineSeries::new(
                clip(exponential),
                8,
                5,
                PALETTE[2].stroke_width(2),
            ))
            .map_err(e)?
            .label("an exponential service time (what is assumed without a fit)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], PALETTE[2].stroke_width(2)));
        draw_key(&mut chart)
    }
}

impl Figure for CalibrationPlot<'_> {
    fn panel_count(&self) -> usize {
        4
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let areas = panels(root, &self.title, 4)?;
        self.histogram(&areas[0])?;
        let start_us = self.arrivals.first().map_or(0, |a| a.0);
        let end_s = self
            .arrivals
            .last()
            .map_or(1.0, |a| ((a.0 - start_us) as f64 / 1e6).max(1.0));
        let axis = TimeAxis::new(start_us, end_s);
        let at = |t: i64| (t - start_us) as f64 / 1e6;
        let flat = |v: f64| vec![(0.0, v, v), (end_s, v, v)];
        // Counts per bin (a second from a record, a minute from CloudWatch) as a rate.
        let bin_s = match self.arrivals {
            [a, b, ..] => ((b.0 - a.0) as f64 / 1e6).max(1e-6),
            _ => 1.0,
        };
        let (title, lines) = match (self.service_fit, self.service_stated) {
            (Some((estimate, [lo, hi])), _) => (
                "Mean service time: each tenth of the record, and the whole record's estimate",
                vec![
                    Line {
                        label: "each tenth (Little's law)".into(),
                        color: PALETTE[0],
                        stroke: Stroke::Solid(3),
                        points: self
                            .service_series
                            .iter()
                            .map(|&(t, v)| (at(t), v, v))
                            .collect(),
                        steps: false,
                    },
                    Line {
                        label: format!("estimate {estimate:.3} s"),
                        color: PALETTE[1],
                        stroke: Stroke::Solid(2),
                        points: flat(estimate),
                        steps: false,
                    },
                    Line {
                        label: format!("90 % interval {lo:.3} to {hi:.3} s"),
                        color: PALETTE[1],
                        stroke: Stroke::Dashed(1),
                        points: vec![(0.0, lo, hi), (end_s, lo, hi)],
                        steps: false,
                    },
                ],
            ),
            (None, stated) => (
                "Mean service time: stated (--service-secs), not fitted: the data hold no in-flight count",
                vec![Line {
                    label: format!("stated {:.3} s", stated.unwrap_or(0.0)),
                    color: PALETTE[1],
                    stroke: Stroke::Dashed(2),
                    points: flat(stated.unwrap_or(0.0)),
                    steps: false,
                }],
            ),
        };
        panel(&areas[1], title, "seconds", &lines, None, &axis, false)?;
        self.spread_panel(&areas[2])?;
        panel(
            &areas[3],
            "Arrivals the trace replays (trace.csv)",
            "messages / s",
            &[Line {
                label: if bin_s > 1.5 {
                    format!("arrivals per second, mean of each {bin_s:.0} s bin")
                } else {
                    "arrivals per second".into()
                },
                color: PALETTE[0],
                stroke: Stroke::Solid(2),
                points: self
                    .arrivals
                    .iter()
                    .map(|&(t, a)| (at(t), a / bin_s, a / bin_s))
                    .collect(),
                steps: false,
            }],
            None,
            &axis,
            true,
        )?;
        root.present().map_err(|e| format!("{e:?}"))
    }
}

/// Writes the calibration figure (PNG).
pub fn write_calibration(png: &Path, plot: &CalibrationPlot<'_>) -> Result<(), OutputError> {
    register_font();
    plot.draw(&BitMapBackend::new(png, (WIDTH, height(plot.panel_count()))).into_drawing_area())
        .map_err(err(png))
}
