//! `seed`: fast-autoscaler v0.2's threshold algorithm, reproduced decision for decision.
//!
//! With `total` = visible messages (+ in flight when `use_combined_messages`) and `current` =
//! the service's desired count:
//! - `total > scale_up_threshold`: desired = current + floor(total × tasks_per_message), or
//!   current + 1 when that product floors to 0 and total > 0; then capped at max.
//! - `total < scale_down_threshold`: desired = max(min, floor(total × tasks_per_message),
//!   floor(current × max_scale_down_factor)).
//! - otherwise hold. The result is clamped to [min, max].
//!
//! Cooldowns (applied by the controller, as v0.2 did): a scale-out ignores every cooldown
//! (priority override); a scale-in happens only when more than `scale_in_cooldown` seconds
//! have passed since the last scale-in record; a scale-out also sets that record to now.

use serde::{Deserialize, Serialize};

use crate::decision::Reason;

/// Parameters of the `seed` policy, with v0.2's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeedParams {
    /// Scale out when the total is strictly above this (`SCALE_UP_THRESHOLD`).
    pub scale_up_threshold: f64,
    /// Scale in when the total is strictly below this (`SCALE_DOWN_THRESHOLD`).
    pub scale_down_threshold: f64,
    /// Tasks per message (`TASKS_PER_MESSAGE`).
    pub tasks_per_message: f64,
    /// Scale-in keeps at least floor(current × this) tasks (`MAX_SCALE_DOWN_FACTOR`), in (0, 1].
    pub max_scale_down_factor: f64,
    /// Count in-flight messages too (`USE_COMBINED_MESSAGES`).
    pub use_combined_messages: bool,
}

impl Default for SeedParams {
    fn default() -> Self {
        Self {
            scale_up_threshold: 100.0,
            scale_down_threshold: 99.0,
            tasks_per_message: 0.01,
            max_scale_down_factor: 0.99,
            use_combined_messages: false,
        }
    }
}

impl SeedParams {
    /// v0.2's recommendation for `total` messages and `current` tasks, before the clamp.
    #[must_use]
    pub fn recommend(&self, total: f64, current: u32, min: u32) -> (u32, Reason) {
        if total > self.scale_up_threshold {
            let add = floor_u32(total * self.tasks_per_message);
            let add = if add == 0 && total > 0.0 { 1 } else { add };
            // v0.2 capped at max here; the controller's clamp does the same and records
            // that `max_tasks` limited the decision.
            let desired = current.saturating_add(add);
            (
                desired,
                Reason::AboveThreshold {
                    metric: total,
                    threshold: self.scale_up_threshold,
                },
            )
        } else if total < self.scale_down_threshold {
            let by_messages = floor_u32(total * self.tasks_per_message);
            let by_factor = floor_u32(f64::from(current) * self.max_scale_down_factor);
            (
                min.max(by_messages).max(by_factor),
                Reason::BelowThreshold {
                    metric: total,
                    threshold: self.scale_down_threshold,
                },
            )
        } else {
            (current, Reason::WithinThresholds { metric: total })
        }
    }
}

/// floor(x) as a task count, saturating at the ends (NaN and negatives give 0).
pub(crate) fn floor_u32(x: f64) -> u32 {
    if x.is_nan() || x <= 0.0 {
        0
    } else if x >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        x.floor() as u32
    }
}

/// ceil(x) as a task count, saturating at the ends (NaN and negatives give 0).
pub(crate) fn ceil_u32(x: f64) -> u32 {
    if x.is_nan() || x <= 0.0 {
        0
    } else if x >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        // x in (0, u32::MAX): truncate and round up by hand, which compiles to two
        // instructions where `f64::ceil` is a libm call on baseline x86-64.
        let t = x as u32;
        if f64::from(t) < x {
            t + 1
        } else {
            t
        }
    }
}
