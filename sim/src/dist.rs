//! Durations drawn from a distribution: start-up latency, service time.

use serde::{Deserialize, Serialize};

use crate::rng::SimRng;

/// A distribution of durations in seconds, as written in a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Duration {
    /// Always the same.
    Constant {
        /// Seconds.
        secs: f64,
    },
    /// Uniform between two values.
    Uniform {
        /// Lowest seconds.
        min_secs: f64,
        /// Highest seconds.
        max_secs: f64,
    },
    /// Exponential (memoryless).
    Exponential {
        /// Mean seconds.
        mean_secs: f64,
    },
    /// Lognormal with the given median and shape.
    Lognormal {
        /// Median seconds.
        median_secs: f64,
        /// Standard deviation of the underlying normal.
        sigma: f64,
    },
}

impl Duration {
    /// The mean in seconds.
    #[must_use]
    pub fn mean_secs(&self) -> f64 {
        match *self {
            Self::Constant { secs } => secs,
            Self::Uniform { min_secs, max_secs } => f64::midpoint(min_secs, max_secs),
            Self::Exponential { mean_secs } => mean_secs,
            Self::Lognormal { median_secs, sigma } => median_secs * (sigma * sigma / 2.0).exp(),
        }
    }

    /// One draw, in seconds.
    pub fn sample_secs(&self, rng: &mut SimRng) -> f64 {
        match *self {
            Self::Constant { secs } => secs,
            Self::Uniform { min_secs, max_secs } => {
                min_secs + (max_secs - min_secs) * rng.uniform()
            }
            Self::Exponential { mean_secs } => rng.exponential(mean_secs),
            Self::Lognormal { median_secs, sigma } => median_secs * (sigma * rng.normal()).exp(),
        }
    }

    /// Checks the parameters; the error names the offending field and rule.
    pub fn validate(&self) -> Result<(), String> {
        let ok = |x: f64| x.is_finite() && x >= 0.0;
        match *self {
            Self::Constant { secs } if !ok(secs) => Err(format!("secs = {secs}: must be >= 0")),
            Self::Uniform { min_secs, max_secs } if !ok(min_secs) || !ok(max_secs) || min_secs > max_secs => {
                Err(format!("min_secs = {min_secs}, max_secs = {max_secs}: need 0 <= min_secs <= max_secs"))
            }
            Self::Exponential { mean_secs } if !(mean_secs.is_finite() && mean_secs > 0.0) => {
                Err(format!("mean_secs = {mean_secs}: must be > 0"))
            }
            Self::Lognormal { median_secs, sigma }
                if !(median_secs.is_finite() && median_secs > 0.0 && ok(sigma)) =>
            {
                Err(format!("median_secs = {median_secs}, sigma = {sigma}: need median_secs > 0 and sigma >= 0"))
            }
            _ => Ok(()),
        }
    }
}
