//! The service time's spread from a record: how unevenly busy slots complete messages.
//!
//! Over a window in which every slot stays busy (the queue is not empty at either end and the
//! in-flight count does not change), `B` busy slots complete messages as `B` renewal processes.
//! The count's variance over its mean (the index of dispersion) grows with the service time's
//! coefficient of variation: 0 for a constant service time, 1 for an exponential one. That
//! figure, matched to the same figure of a lognormal renewal process simulated at the windows'
//! length, gives the lognormal's σ.

use super::fit::{Fitted, Interval};
use crate::rng::SimRng;

/// The fitted spread's name in `calibration.json`.
pub const SERVICE_SIGMA: &str = "plant.service_time (lognormal sigma)";
/// A window must span this many mean service times: shorter ones count the phase at which
/// each slot started more than the service time's spread.
pub const MIN_WINDOW_SERVICES: f64 = 10.0;
/// Windows needed for a fit.
pub const MIN_WINDOWS: usize = 30;
/// Longest window simulated, in mean service times.
const MAX_SIMULATED_LENGTH: f64 = 200.0;
/// The σ grid the dispersion is simulated on.
const SIGMAS: [f64; 30] = [
    0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8,
    0.85, 0.9, 0.95, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.8, 2.0, 2.2,
];

/// One steady, saturated window: slots busy, its length and the messages completed.
#[derive(Debug, Clone, Copy)]
struct Window {
    busy: f64,
    secs: f64,
    completed: f64,
}

/// The fitted spread and the data the figure draws it against.
#[derive(Debug, Clone)]
pub struct SpreadFit {
    /// σ, its interval, its data and its method.
    pub fitted: Fitted,
    /// Each window's completions less their expectation, over the expectation's square root:
    /// their variance is the index of dispersion.
    pub z: Vec<f64>,
    /// The index of dispersion of the record's windows.
    pub observed: f64,
    /// The simulated lognormal's at the fitted σ.
    pub fitted_dispersion: f64,
}

/// The spread fitted from `iv`, or why it could not be (a sentence for a warning).
///
/// # Errors
/// Fewer than [`MIN_WINDOWS`] saturated windows of at least [`MIN_WINDOW_SERVICES`] mean
/// service times.
pub fn service_sigma(iv: &[Interval]) -> Result<SpreadFit, String> {
    let steady: Vec<Window> = iv
        .iter()
        .filter_map(|i| {
            i.steady_busy.map(|busy| Window {
                busy,
                secs: i.secs,
                completed: i.completed,
            })
        })
        .collect();
    let work: f64 = steady.iter().map(|w| w.busy * w.secs).sum();
    let done: f64 = steady.iter().map(|w| w.completed).sum();
    if steady.is_empty() || done <= 0.0 {
        return Err(format!(
            "no interval kept every slot busy (the queue not empty at both ends, the in-flight count unchanged); at least {MIN_WINDOWS} such intervals of {MIN_WINDOW_SERVICES} mean service times or more are needed"
        ));
    }
    // The windows' own mean service time (Little's law over them).
    let mean = work / done;
    let windows: Vec<Window> = steady
        .into_iter()
        .filter(|w| w.secs >= MIN_WINDOW_SERVICES * mean)
        .collect();
    if windows.len() < MIN_WINDOWS {
        return Err(format!(
            "{} intervals kept every slot busy for at least {MIN_WINDOW_SERVICES} mean service times ({:.1} s), and {MIN_WINDOWS} are needed: a record at a longer period, or a busier one, gives them",
            windows.len(),
            MIN_WINDOW_SERVICES * mean
        ));
    }
    let mut lengths: Vec<f64> = windows.iter().map(|w| w.secs / mean).collect();
    lengths.sort_by(f64::total_cmp);
    // Past a few hundred service times the dispersion has settled at its limit (the squared
    // coefficient of variation), and simulating longer windows would only cost time.
    let length = lengths[lengths.len() / 2].min(MAX_SIMULATED_LENGTH);
    let curve: Vec<f64> = SIGMAS.iter().map(|&s| dispersion(s, length)).collect();
    let sigma_of = |ws: &[Window]| invert(&curve, index_of_dispersion(ws, mean));
    let estimate = sigma_of(&windows);
    // Ten batches of consecutive windows: their spread gives the interval.
    let per = windows.len() / 10;
    let batches: Vec<f64> = windows.chunks(per.max(1)).take(10).map(sigma_of).collect();
    let half =
        super::fit::t90(batches.len()) * super::fit::sd(&batches) / (batches.len() as f64).sqrt();
    let observed = index_of_dispersion(&windows, mean);
    let fitted = Fitted {
        parameter: SERVICE_SIGMA.into(),
        estimate,
        interval_90: [(estimate - half).max(0.0), estimate + half],
        samples: windows.len(),
        data: format!(
            "{} intervals of {:.0} s or more that kept every slot busy (queue not empty at either end, in-flight count unchanged), {done:.0} messages completed in them",
            windows.len(),
            MIN_WINDOW_SERVICES * mean
        ),
        method: format!(
            "index of dispersion of the completions (variance ÷ mean, {:.3}) matched to a lognormal renewal process's, simulated at the windows' median length, at most {MAX_SIMULATED_LENGTH} ({length:.1} mean service times); interval from {} batches of consecutive windows",
            observed,
            batches.len()
        ),
    };
    let z = windows
        .iter()
        .map(|w| {
            let m = w.busy * w.secs / mean;
            (w.completed - m) / m.sqrt()
        })
        .collect();
    Ok(SpreadFit {
        fitted,
        z,
        observed,
        fitted_dispersion: interpolate(&curve, estimate),
    })
}

/// The curve's dispersion at `sigma`, by linear interpolation on the grid.
fn interpolate(curve: &[f64], sigma: f64) -> f64 {
    for k in 1..SIGMAS.len() {
        if sigma <= SIGMAS[k] {
            let f = (sigma - SIGMAS[k - 1]) / (SIGMAS[k] - SIGMAS[k - 1]);
            return curve[k - 1] + f.clamp(0.0, 1.0) * (curve[k] - curve[k - 1]);
        }
    }
    curve[curve.len() - 1]
}

/// The completions' variance over their mean, each window's expectation being its busy slots
/// times its length over the mean service time.
fn index_of_dispersion(ws: &[Window], mean: f64) -> f64 {
    let (mut sq, mut expected) = (0.0, 0.0);
    for w in ws {
        let m = w.busy * w.secs / mean;
        sq += (w.completed - m).powi(2);
        expected += m;
    }
    if expected > 0.0 {
        sq / expected
    } else {
        0.0
    }
}

/// The index of dispersion of one lognormal (σ, mean 1) renewal process's counts over
/// consecutive windows of `length`, simulated (seeded: the same every time).
fn dispersion(sigma: f64, length: f64) -> f64 {
    let mut rng = SimRng::new(0x5EED_5157);
    // About 200,000 services a point, at least 300 windows.
    let windows = ((200_000.0 / length.max(1.0)) as usize).clamp(300, 3_000);
    let mu = -sigma * sigma / 2.0;
    let draw = |rng: &mut SimRng| {
        if sigma == 0.0 {
            1.0
        } else {
            (mu + sigma * rng.normal()).exp()
        }
    };
    // Start far enough in that the process has forgotten its start (stationary phase).
    let mut t = -50.0 * length.max(1.0);
    while t < 0.0 {
        t += draw(&mut rng);
    }
    let (mut sum, mut sq) = (0.0, 0.0);
    for k in 0..windows {
        let end = (k + 1) as f64 * length;
        let mut n = 0.0;
        while t < end {
            n += 1.0;
            t += draw(&mut rng);
        }
        sum += n;
        sq += n * n;
    }
    let n = windows as f64;
    let mean = sum / n;
    if mean > 0.0 {
        (sq / n - mean * mean) / mean
    } else {
        0.0
    }
}

/// The σ whose simulated dispersion is `d`, by linear interpolation along the curve (which
/// rises with σ); clamped to the grid's ends.
fn invert(curve: &[f64], d: f64) -> f64 {
    if d <= curve[0] {
        return SIGMAS[0];
    }
    for k in 1..curve.len() {
        if d <= curve[k] {
            let (a, b) = (curve[k - 1], curve[k]);
            let f = if b > a { (d - a) / (b - a) } else { 0.0 };
            return SIGMAS[k - 1] + f * (SIGMAS[k] - SIGMAS[k - 1]);
        }
    }
    SIGMAS[SIGMAS.len() - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulated_dispersion_is_the_squared_coefficient_of_variation_over_long_windows() {
        // Renewal theory: Var N(t) / E N(t) → CV² as t grows; CV² = e^{σ²} − 1.
        for sigma in [0.3, 0.5, 0.8] {
            let d = dispersion(sigma, 40.0);
            let cv2 = (sigma * sigma).exp_m1();
            assert!(
                (d - cv2).abs() < 0.12 * cv2 + 0.02,
                "σ {sigma}: {d} vs {cv2}"
            );
        }
        assert!(dispersion(0.0, 40.0) < 0.01);
        let curve: Vec<f64> = SIGMAS.iter().map(|&s| dispersion(s, 20.0)).collect();
        assert!((invert(&curve, dispersion(0.5, 20.0)) - 0.5).abs() < 0.02);
    }
}
