//! How one searched parameter is drawn: a range (uniform, log-uniform, stepped, integer) or a
//! list of values, and the value at a position in [0, 1] of it.

use toml::Value;

/// How one parameter is drawn.
#[derive(Debug, Clone, PartialEq)]
pub enum Domain {
    /// A continuous or integer range.
    Range {
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
        /// Log-uniform.
        log: bool,
        /// Grid step.
        step: Option<f64>,
        /// Integer-valued.
        integer: bool,
    },
    /// A list of values.
    Values(Vec<Value>),
}

/// A parameter's value in a candidate, as a position in [0, 1] of its domain.
pub type Unit = f64;

impl Domain {
    /// The value at position `u` in [0, 1].
    #[must_use]
    pub fn value_at(&self, u: Unit) -> Value {
        let u = u.clamp(0.0, 1.0);
        match self {
            Self::Values(v) => {
                let i = ((u * v.len() as f64) as usize).min(v.len() - 1);
                v[i].clone()
            }
            Self::Range {
                min,
                max,
                log,
                step,
                integer,
            } => {
                let mut x = if *log {
                    (min.ln() + u * (max.ln() - min.ln())).exp()
                } else {
                    min + u * (max - min)
                };
                if let Some(s) = step {
                    // k steps give k + 1 points; [0, 1] is cut into k + 1 equal shares, so a
                    // random draw takes each point alike and the grid's positions i / k land on
                    // point i exactly (i + i / k floors to i), whether or not `max - min` is a
                    // multiple of the step.
                    let k = (grid_points(*min, *max, *s) - 1) as f64;
                    x = min + (u * (k + 1.0)).floor().min(k) * s;
                }
                x = x.clamp(*min, *max);
                if *integer {
                    Value::Integer(x.round() as i64)
                } else {
                    // Six significant digits keep the written policy readable.
                    let digits = 5 - x.abs().max(1e-12).log10().floor() as i32;
                    let scale = 10f64.powi(digits.clamp(0, 12));
                    Value::Float((x * scale).round() / scale)
                }
            }
        }
    }

    /// The grid positions (in [0, 1]) to use with `levels` levels for a continuous range.
    #[must_use]
    pub fn grid(&self, levels: usize) -> Vec<Unit> {
        let n = match self {
            Self::Values(v) => v.len(),
            Self::Range {
                min,
                max,
                step: Some(s),
                ..
            } => grid_points(*min, *max, *s),
            Self::Range {
                min,
                max,
                integer: true,
                log: false,
                ..
            } => ((max - min).round().min(levels as f64) as usize + 1).min(levels.max(1)),
            Self::Range { .. } => levels.max(1),
        };
        let n = n.max(1);
        if n == 1 {
            return vec![0.0];
        }
        match self {
            // For lists, the centre of each value's share.
            Self::Values(_) => (0..n).map(|i| (i as f64 + 0.5) / n as f64).collect(),
            Self::Range { .. } => (0..n).map(|i| i as f64 / (n - 1) as f64).collect(),
        }
    }
}

/// Most points a stepped range may have.
pub(super) const MAX_GRID_POINTS: f64 = 1e6;

/// Points of the grid min, min + step, ... <= max (checked against [`MAX_GRID_POINTS`]).
pub(super) fn grid_points(min: f64, max: f64, step: f64) -> usize {
    ((max - min) / step + 1e-9)
        .floor()
        .clamp(0.0, MAX_GRID_POINTS) as usize
        + 1
}
