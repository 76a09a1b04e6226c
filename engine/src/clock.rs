//! Time as integer milliseconds behind a `Clock` trait; the engine never reads a wall clock.

use std::cell::Cell;

/// Milliseconds since the Unix epoch (live) or since the start of a run (sim).
pub type Millis = i64;

/// The civil date (year, month 1-12, day 1-31) of `days` since 1970-01-01, proleptic
/// Gregorian (H. Hinnant's `civil_from_days`). For the places that write dates without a date
/// crate: the live recorder and the simulator's time-series writer. [`days_from_civil`] is its
/// inverse.
#[must_use]
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Days from 1970-01-01 to the civil date `y`-`m`-`d` (month 1-12), proleptic Gregorian
/// (H. Hinnant's `days_from_civil`): the inverse of [`civil_from_days`], for the places that
/// read dates without a date crate (the simulator's time parser, the live recorder, fast-
/// autoscaler v0.2's state).
#[must_use]
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The source of "now" for a decision. Live owns a wall clock; the simulator a [`ManualClock`].
pub trait Clock {
    /// The current time in milliseconds.
    fn now_ms(&self) -> Millis;
}

/// A clock set by hand that refuses to go backwards.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: Cell<Millis>,
}

/// Returned when a [`ManualClock`] is asked to move backwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("clock cannot go backwards: now {now_ms} ms, asked for {asked_ms} ms")]
pub struct ClockWentBackwards {
    /// The clock's current time.
    pub now_ms: Millis,
    /// The earlier time that was asked for.
    pub asked_ms: Millis,
}

impl ManualClock {
    /// A clock that starts at `start_ms`.
    #[must_use]
    pub fn new(start_ms: Millis) -> Self {
        Self {
            now: Cell::new(start_ms),
        }
    }

    /// Moves the clock to `to_ms`; equal times are allowed, earlier ones refused.
    pub fn set(&self, to_ms: Millis) -> Result<(), ClockWentBackwards> {
        let now = self.now.get();
        if to_ms < now {
            return Err(ClockWentBackwards {
                now_ms: now,
                asked_ms: to_ms,
            });
        }
        self.now.set(to_ms);
        Ok(())
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.now.get()
    }
}

impl Clock for Millis {
    fn now_ms(&self) -> Millis {
        *self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_civil_dates_are_inverses() {
        for days in (-800_000..800_000).step_by(37) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn manual_clock_refuses_to_go_backwards() {
        let clock = ManualClock::new(1_000);
        assert!(clock.set(1_000).is_ok());
        assert!(clock.set(2_000).is_ok());
        let err = clock.set(1_500).unwrap_err();
        assert_eq!(err.now_ms, 2_000);
        assert_eq!(clock.now_ms(), 2_000);
    }
}
