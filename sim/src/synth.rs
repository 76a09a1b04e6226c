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

/// Where in each second a producer on [`even_send_times`]'s schedule sends: from 0.15 s to
/// 0.95 s after the second begins. A live run reads its queue a round trip *after* its tick,
/// so the quiet stretch after a tick is the longer one: a read up to 150 ms late, or a message
/// that takes up to 50 ms to show, still lands on the same side of the tick as in the replay.
pub const SEND_WINDOW: (f64, f64) = (0.15, 0.95);

/// When a producer that sends `generators`' summed arrivals evenly sends each message, in
/// seconds from its start, over `seconds` seconds: second s carries the rate at s + 0.5 (as
/// the simulator reads synthetic arrivals), its fraction carried to the next second, and a
/// second's n messages go out evenly inside [`SEND_WINDOW`], at `open + (close - open) ×
/// (j + 0.5) / n`. The parity harness sends on this schedule; with the start on a tick, no
/// message leaves within 150 ms after a tick or 50 ms before one.
#[must_use]
pub fn even_send_times(generators: &[Generator], seconds: u64) -> Vec<f64> {
    let (open, close) = SEND_WINDOW;
    let mut times = Vec::new();
    let mut carry = 0.0;
    for s in 0..seconds {
        let at = s as f64;
        carry += generators.iter().map(|g| g.rate_at(at + 0.5)).sum::<f64>();
        let n = (carry + 1e-9).floor();
        carry -= n;
        for j in 0..n as u64 {
            times.push(at + open + (close - open) * (j as f64 + 0.5) / n);
        }
    }
    times
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_sends_carry_fractions_and_keep_off_the_second() {
        let half = [Generator::Constant { rate_per_s: 0.5 }];
        let half_times = even_send_times(&half, 4);
        assert_eq!(half_times.len(), 2);
        assert!((half_times[0] - 1.55).abs() < 1e-12 && (half_times[1] - 3.55).abs() < 1e-12);
        let three = [Generator::Constant { rate_per_s: 3.0 }];
        let t = even_send_times(&three, 1);
        assert_eq!(t.len(), 3);
        let (open, close) = SEND_WINDOW;
        let width = close - open;
        assert!((t[0] - (open + width / 6.0)).abs() < 1e-12);
        assert!((t[2] - (open + width * 5.0 / 6.0)).abs() < 1e-12);
        // The busiest second still keeps 150 ms clear after its tick and 50 ms before the next.
        let spike = [Generator::Constant { rate_per_s: 10.5 }];
        for at in even_send_times(&spike, 10) {
            let phase = at.fract();
            assert!((0.15..=0.95).contains(&phase), "a send at {at}");
        }
    }
}
