//! The documented bounds on simulator input, checked before anything is allocated, so that a
//! careless value is an error naming the key, the value and the limit, never an abort.
//!
//! The bounds keep one run within about a gigabyte and a minute or so on a small machine; the
//! sim/README.md lists them under "Limits".

use crate::synth::Generator;

/// Longest synthetic run: 20 years (arrivals are generated per second as the run reaches
/// them, so the bound is on time, not memory).
pub const MAX_SYNTHETIC_SECS: u64 = 20 * 366 * 86_400;
/// Longest span of arrivals from a trace: 10 years.
pub const MAX_TRACE_SPAN_SECS: i64 = 10 * 366 * 86_400;
/// Longest drain after the arrivals: 30 days.
pub const MAX_DRAIN_SECS: u64 = 30 * 86_400;
/// Highest total arrival rate of the synthetic generators, messages per second.
pub const MAX_RATE_PER_S: f64 = 1e6;
/// Most messages a discrete run simulates one by one.
pub const MAX_DISCRETE_MESSAGES: f64 = 100e6;
/// Most tasks (initial tasks and the policy's `max_tasks`).
pub const MAX_TASKS: u32 = 100_000;
/// Most messages one task works on at once.
pub const MAX_CONCURRENCY: u32 = 10_000;
/// Most message slots in the fleet (tasks × concurrency).
pub const MAX_SLOTS: u64 = 10_000_000;
/// Longest controller period, jitter, metric delay, start-up or service time: one day.
pub const MAX_DELAY_SECS: f64 = 86_400.0;
/// Longest visibility timeout: 12 hours (SQS's own limit).
pub const MAX_VISIBILITY_SECS: f64 = 43_200.0;
/// Most rows in `timeseries.csv` (streamed to disk: this bounds the file, about 80 bytes a row).
pub const MAX_ROWS: u64 = 20_000_000;
/// Largest `--scale` / `scale` multiplier of trace counts.
pub const MAX_SCALE: f64 = 1e6;
/// Largest count in one trace row after scaling.
pub const MAX_TRACE_COUNT: f64 = 1e12;

/// The most the generators' summed rate can reach (an upper bound).
#[must_use]
pub fn peak_rate(generators: &[Generator]) -> f64 {
    generators
        .iter()
        .map(|g| match *g {
            Generator::Constant { rate_per_s }
            | Generator::Step { rate_per_s, .. }
            | Generator::Spike { rate_per_s, .. }
            | Generator::OnOff { rate_per_s, .. } => rate_per_s.abs(),
            Generator::Diurnal {
                mean_per_s,
                amplitude_per_s,
                ..
            } => mean_per_s.abs() + amplitude_per_s.abs(),
        })
        .sum()
}

/// A number as a person reads it: plain, or in exponent form when very large or small.
#[must_use]
pub fn show(x: f64) -> String {
    if x != 0.0 && (x.abs() >= 1e15 || x.abs() < 1e-6) {
        format!("{x:e}")
    } else {
        x.to_string()
    }
}
