//! The time axis: seconds since the run's start, with ticks and labels at round UTC times
//! for any span from seconds to years; and the y labels without noise.

use std::ops::Range;

use chrono::{DateTime, Datelike, Timelike, Utc};
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;

use super::MAX_TICKS;

/// A tick step: a fixed number of seconds after an aligned instant, or whole months.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Step {
    /// Every `secs`, aligned to the epoch plus `offset_secs` (4 days: Mondays).
    Secs { secs: i64, offset_secs: i64 },
    /// The first of every `n`-th month.
    Months(i32),
}

pub(super) const fn secs(secs: i64) -> Step {
    Step::Secs {
        secs,
        offset_secs: 0,
    }
}

pub(super) const fn weeks(n: i64) -> Step {
    Step::Secs {
        secs: n * 7 * 86_400,
        offset_secs: 4 * 86_400,
    }
}

/// (tick, light grid) steps for spans under two days: minutes and hours.
pub(super) const SHORT: [(Step, Step); 18] = [
    (secs(1), secs(1)),
    (secs(2), secs(1)),
    (secs(5), secs(1)),
    (secs(10), secs(5)),
    (secs(15), secs(5)),
    (secs(30), secs(10)),
    (secs(60), secs(15)),
    (secs(120), secs(30)),
    (secs(300), secs(60)),
    (secs(600), secs(120)),
    (secs(900), secs(300)),
    (secs(1800), secs(600)),
    (secs(3600), secs(900)),
    (secs(7200), secs(1800)),
    (secs(10_800), secs(3600)),
    (secs(21_600), secs(3600)),
    (secs(43_200), secs(10_800)),
    (secs(86_400), secs(21_600)),
];

/// Steps for spans under 60 days: hours and days.
pub(super) const DAYS: [(Step, Step); 6] = [
    (secs(21_600), secs(3600)),
    (secs(43_200), secs(10_800)),
    (secs(86_400), secs(21_600)),
    (secs(2 * 86_400), secs(86_400)),
    (weeks(1), secs(86_400)),
    (weeks(2), secs(86_400)),
];

/// Steps for longer spans: weeks, months and years.
pub(super) const LONG: [(Step, Step); 9] = [
    (weeks(1), secs(86_400)),
    (weeks(2), weeks(1)),
    (Step::Months(1), weeks(1)),
    (Step::Months(2), Step::Months(1)),
    (Step::Months(3), Step::Months(1)),
    (Step::Months(6), Step::Months(1)),
    (Step::Months(12), Step::Months(3)),
    (Step::Months(24), Step::Months(6)),
    (Step::Months(60), Step::Months(12)),
];

/// The instants of `step` in [`from_us`, `to_us`], at most `limit + 1` of them.
pub(super) fn instants(step: Step, from_us: i64, to_us: i64, limit: usize) -> Vec<i64> {
    let mut out = Vec::new();
    match step {
        Step::Secs { secs, offset_secs } => {
            let (step_us, off_us) = (secs * 1_000_000, offset_secs * 1_000_000);
            let mut t = off_us + (from_us - off_us).div_euclid(step_us) * step_us;
            if t < from_us {
                t += step_us;
            }
            while t <= to_us && out.len() <= limit {
                out.push(t);
                t += step_us;
            }
        }
        Step::Months(n) => {
            let Some(from) = DateTime::from_timestamp_micros(from_us) else {
                return out;
            };
            let mut m = from.year() * 12 + from.month0() as i32;
            m += (n - m.rem_euclid(n)) % n;
            loop {
                let date = chrono::NaiveDate::from_ymd_opt(
                    m.div_euclid(12),
                    m.rem_euclid(12) as u32 + 1,
                    1,
                );
                let Some(t) = date.and_then(|d| d.and_hms_opt(0, 0, 0)) else {
                    break;
                };
                let t = t.and_utc().timestamp_micros();
                if t > to_us || out.len() > limit {
                    break;
                }
                if t >= from_us {
                    out.push(t);
                }
                m += n;
            }
        }
    }
    out
}

/// The x axis: seconds since the run's start, ticks at round UTC times.
#[derive(Clone)]
pub(super) struct TimeAxis {
    pub(super) coord: RangedCoordf64,
    pub(super) start_us: i64,
    pub(super) ticks: Vec<f64>,
    pub(super) light: Vec<f64>,
    /// Ticks come at least a minute apart; dates only (spans of 60 days and more).
    pub(super) minutes: bool,
    pub(super) dates: bool,
}

impl TimeAxis {
    /// The axis over [0, `end_s`] seconds after `start_us`.
    pub(super) fn new(start_us: i64, end_s: f64) -> Self {
        let end_s = end_s.max(1.0);
        let end_us = start_us.saturating_add((end_s * 1e6) as i64);
        let span_days = end_s / 86_400.0;
        let table: &[(Step, Step)] = if span_days < 2.0 {
            &SHORT
        } else if span_days < 60.0 {
            &DAYS
        } else {
            &LONG
        };
        let (step, light) = table
            .iter()
            .copied()
            .find(|&(s, _)| instants(s, start_us, end_us, MAX_TICKS).len() <= MAX_TICKS)
            .unwrap_or(table[table.len() - 1]);
        let rel = |v: Vec<i64>| -> Vec<f64> {
            v.into_iter().map(|t| (t - start_us) as f64 / 1e6).collect()
        };
        Self {
            coord: (0.0..end_s).into(),
            start_us,
            ticks: rel(instants(step, start_us, end_us, MAX_TICKS)),
            light: rel(instants(light, start_us, end_us, MAX_TICKS * 8)),
            minutes: !matches!(step, Step::Secs { secs, .. } if secs < 60),
            dates: span_days >= 60.0,
        }
    }

    pub(super) fn time(&self, x: f64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(self.start_us + (x * 1e6).round() as i64)
    }

    /// A tick's label: the date at midnight (with the year), the time of day otherwise.
    pub(super) fn label(&self, x: f64) -> String {
        let Some(t) = self.time(x) else {
            return String::new();
        };
        let fmt = if self.dates {
            "%Y-%m-%d"
        } else if t.num_seconds_from_midnight() == 0 {
            "%b %d %Y"
        } else if self.minutes {
            "%H:%M"
        } else {
            "%H:%M:%S"
        };
        t.format(fmt).to_string()
    }

    /// The axis description: the zone and the span, with years.
    pub(super) fn desc(&self) -> String {
        let end = self.coord.range().end;
        match (self.time(0.0), self.time(end)) {
            (Some(a), Some(b)) => format!(
                "time (UTC), {} to {}",
                a.format("%Y-%m-%d %H:%M"),
                b.format("%Y-%m-%d %H:%M")
            ),
            _ => "time (UTC)".into(),
        }
    }
}

impl Ranged for TimeAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.coord.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.coord.range()
    }
}

impl ValueFormatter<f64> for TimeAxis {
    fn format(value: &f64) -> String {
        format!("{value}")
    }

    fn format_ext(&self, value: &f64) -> String {
        self.label(*value)
    }
}

/// A y label without noise: 0, 2.5, 40, 12k, 1.4M.
pub(super) fn y_label(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 10.0 || a == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}
