//! Plots a person reads at a glance: panels on one UTC time axis with ticks at round times,
//! each series drawn as its min/max envelope per pixel column and kept inside its panel (PNG
//! and SVG, 1600 px wide). One file per figure, over the shared axis, envelope and panels.

mod axis;
mod backtest;
mod calibration;
mod compare;
mod envelope;
mod panel;
mod parity;
mod services;

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::output::OutputError;
pub use backtest::write_backtest;
pub use calibration::{write_calibration, CalibrationPlot, SpreadView};
pub use compare::write_compare;
pub use panel::{Line, Stroke};
pub use parity::write_parity;
pub use services::{write_services, BudgetRun, ServiceRun};

const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
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

fn err<E: std::fmt::Debug>(path: &Path) -> impl Fn(E) -> OutputError + '_ {
    move |e| OutputError::Plot {
        path: path.to_path_buf(),
        detail: format!("{e:?}"),
    }
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

#[cfg(test)]
mod tests;
