//! Synthetic arrival generators (constant, diurnal, step, spike, on/off bursts), summed, with
//! optional Poisson noise drawn from the scenario's seed.

use serde::{Deserialize, Serialize};

/// One generator; a scenario sums any number of them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Generator {
    /// A constant rate.
    Constant {
        /// Messages per second.
        rate_per_s: f64,
    },
    /// A daily (or any period) sine wave: mean + amplitude × cos(2π (t − peak) / period).
    Diurnal {
        /// Mean messages per second.
        mean_per_s: f64,
        /// Swing around the mean (<= mean keeps the rate non-negative).
        amplitude_per_s: f64,
        /// Period (default one day).
        #[serde(default = "day")]
        period_secs: f64,
        /// Seconds after the start when the rate peaks.
        #[serde(default)]
        peak_at_secs: f64,
    },
    /// A rate added from a time on.
    Step {
        /// When it starts.
        at_secs: f64,
        /// Messages per second added.
        rate_per_s: f64,
    },
    /// A rate added for a while.
    Spike {
        /// When it starts.
        at_secs: f64,
        /// How long it lasts.
        duration_secs: f64,
        /// Messages per second added.
        rate_per_s: f64,
    },
    /// Bursts: `rate_per_s` for `on_secs`, then nothing for `off_secs`, repeated.
    OnOff {
        /// Burst length.
        on_secs: f64,
        /// Gap length.
        off_secs: f64,
        /// Messages per second in a burst.
        rate_per_s: f64,
        /// Shift of the cycle.
        #[serde(default)]
        offset_secs: f64,
    },
}

fn day() -> f64 {
    86_400.0
}

impl Generator {
    /// The rate at `t` seconds after the start.
    #[must_use]
    pub fn rate_at(&self, t: f64) -> f64 {
        match *self {
            Self::Constant { rate_per_s } => rate_per_s,
            Self::Diurnal {
                mean_per_s,
                amplitude_per_s,
                period_secs,
                peak_at_secs,
            } => (mean_per_s
                + amplitude_per_s
                    * (std::f64::consts::TAU * (t - peak_at_secs) / period_secs).cos())
            .max(0.0),
            Self::Step {
                at_secs,
                rate_per_s,
            } => {
                if t >= at_secs {
                    rate_per_s
                } else {
                    0.0
                }
            }
            Self::Spike {
                at_secs,
                duration_secs,
                rate_per_s,
            } => {
                if t >= at_secs && t < at_secs + duration_secs {
                    rate_per_s
                } else {
                    0.0
                }
            }
            Self::OnOff {
                on_secs,
                off_secs,
                rate_per_s,
                offset_secs,
            } => {
                let cycle = on_secs + off_secs;
                if (t - offset_secs).rem_euclid(cycle) < on_secs {
                    rate_per_s
                } else {
                    0.0
                }
            }
        }
    }

    /// Checks the parameters; the error names the field and the rule.
    pub fn validate(&self) -> Result<(), String> {
        let nonneg = |name: &str, x: f64| {
            if x.is_finite() && x >= 0.0 {
                Ok(())
            } else {
                Err(format!("{name} = {x}: must be a finite number >= 0"))
            }
        };
        match *self {
            Self::Constant { rate_per_s } | Self::Step { rate_per_s, .. } => {
                nonneg("rate_per_s", rate_per_s)
            }
            Self::Diurnal {
                mean_per_s,
                amplitude_per_s,
                period_secs,
                ..
            } => {
                nonneg("mean_per_s", mean_per_s)?;
                nonneg("amplitude_per_s", amplitude_per_s)?;
                if period_secs > 0.0 && period_secs.is_finite() {
                    Ok(())
                } else {
                    Err(format!("period_secs = {period_secs}: must be > 0"))
                }
            }
            Self::Spike {
                duration_secs,
                rate_per_s,
                ..
            } => {
                nonneg("duration_secs", duration_secs)?;
                nonneg("rate_per_s", rate_per_s)
            }
            Self::OnOff {
                on_secs,
                off_secs,
                rate_per_s,
                ..
            } => {
                nonneg("rate_per_s", rate_per_s)?;
                nonneg("off_secs", off_secs)?;
                if on_secs > 0.0 && on_secs.is_finite() {
                    Ok(())
                } else {
                    Err(format!("on_secs = {on_secs}: must be > 0"))
                }
            }
        }
    }
}
