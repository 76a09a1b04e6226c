//! Time as integer milliseconds behind a `Clock` trait; the engine never reads a wall clock.

use std::cell::Cell;

/// Milliseconds since the Unix epoch (live) or since the start of a run (sim).
pub type Millis = i64;

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
    fn manual_clock_refuses_to_go_backwards() {
        let clock = ManualClock::new(1_000);
        assert!(clock.set(1_000).is_ok());
        assert!(clock.set(2_000).is_ok());
        let err = clock.set(1_500).unwrap_err();
        assert_eq!(err.now_ms, 2_000);
        assert_eq!(clock.now_ms(), 2_000);
    }
}
