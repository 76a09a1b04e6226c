//! A run's envelope as plot points: per bucket its lowest and highest value, merged to one
//! point per pixel column and kept inside the panel.

use std::ops::Range;

use crate::model::{Envelope, Row};

/// `value` over the envelope's buckets: (seconds since start, lowest, highest).
pub(super) fn envelope_points(
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
pub(super) fn per_column(
    points: &[(f64, f64, f64)],
    x: &Range<f64>,
    px: usize,
) -> Vec<(f64, f64, f64)> {
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
pub(super) fn clamp_into(v: f64, y: &Range<f64>) -> f64 {
    if v.is_nan() {
        y.start
    } else {
        v.clamp(y.start, y.end)
    }
}

/// The end of the x axis: the last bucket's time, in seconds after `start_us`.
pub(super) fn end_s(env: &Envelope, start_us: i64) -> f64 {
    env.max
        .last()
        .map_or(1.0, |r| (r.t_us - start_us) as f64 / 1e6)
}
