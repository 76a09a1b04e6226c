//! Guards shared by every policy: bounds, cooldowns, step limits and the metric-failure rule.

use serde::{Deserialize, Serialize};

/// What to do after too many failed metric reads in a row. A failed read is never zero
/// messages, so no fallback ever lowers the desired count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FailureFallback {
    /// Keep the current desired count.
    #[default]
    Hold,
    /// Go to this many tasks, or stay at the current count if that is higher ("current if
    /// higher"): running blind, keep enough capacity, never remove it.
    Fixed(u32),
}

/// Guards applied around every policy's recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Guards {
    /// Lowest desired count (an explicit 0 is respected).
    pub min_tasks: u32,
    /// Highest desired count.
    pub max_tasks: u32,
    /// Seconds after a scale-out during which another scale-out is held (step: reduced).
    pub scale_out_cooldown_secs: i64,
    /// Let every scale-out ignore the scale-out cooldown (`seed` always does, as v0.2 did).
    pub scale_out_cooldown_bypass: bool,
    /// Seconds after a scale-in (or, for `seed`, `target` and `slo`, a scale-out) during which
    /// scale-in is refused.
    pub scale_in_cooldown_secs: i64,
    /// Largest change of the desired count in one decision (`SCALING_STEP_COUNT`); not applied
    /// to `seed`, whose v0.2 formula has its own step.
    pub max_step: Option<u32>,
    /// Largest fraction of the current count removed in one decision (0, 1]; not applied to
    /// `seed`, which uses `max_scale_down_factor`.
    pub max_scale_in_fraction: Option<f64>,
    /// Failed decisions in a row before `on_metric_failure` applies.
    pub failure_fallback_after: u32,
    /// What to do once `failure_fallback_after` failed decisions in a row have happened.
    pub on_metric_failure: FailureFallback,
}

/// v0.2's `MIN_TASKS` default.
pub const DEFAULT_MIN_TASKS: u32 = 10;
/// v0.2's `MAX_TASKS` default.
pub const DEFAULT_MAX_TASKS: u32 = 300;
/// v0.2's `SCALE_OUT_COOLDOWN` / `SCALE_IN_COOLDOWN` default.
pub const DEFAULT_COOLDOWN_SECS: i64 = 120;
/// Failed decisions in a row before the fallback applies, by default.
pub const DEFAULT_FAILURE_FALLBACK_AFTER: u32 = 3;

impl Default for Guards {
    fn default() -> Self {
        Self {
            min_tasks: DEFAULT_MIN_TASKS,
            max_tasks: DEFAULT_MAX_TASKS,
            scale_out_cooldown_secs: DEFAULT_COOLDOWN_SECS,
            scale_out_cooldown_bypass: false,
            scale_in_cooldown_secs: DEFAULT_COOLDOWN_SECS,
            max_step: None,
            max_scale_in_fraction: None,
            failure_fallback_after: DEFAULT_FAILURE_FALLBACK_AFTER,
            on_metric_failure: FailureFallback::Hold,
        }
    }
}

impl Guards {
    /// Scale-out cooldown in milliseconds.
    #[must_use]
    pub fn scale_out_cooldown_ms(&self) -> i64 {
        self.scale_out_cooldown_secs.saturating_mul(1000)
    }

    /// Scale-in cooldown in milliseconds.
    #[must_use]
    pub fn scale_in_cooldown_ms(&self) -> i64 {
        self.scale_in_cooldown_secs.saturating_mul(1000)
    }

    /// Clamps `tasks` into `[min_tasks, max_tasks]`.
    #[must_use]
    pub fn clamp(&self, tasks: u32) -> u32 {
        tasks.max(self.min_tasks).min(self.max_tasks)
    }
}
