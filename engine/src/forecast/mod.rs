//! The seasonal forecast: provisions ahead of known peaks, for any policy, from the `[forecast]`
//! table of the policy file.
//!
//! **Where it sits.** A top-level `[forecast]` table beside `[policy]` and `[guards]`, not a
//! field of each policy: `[policy]` is an internally tagged enum (`kind = "…"`), so a field
//! common to every kind would repeat in each one, and a `kind = "predictive"` wrapper would
//! move the reactive policy's keys one table down and break existing files. The controller
//! applies the forecast after the policy's recommendation and before the guards:
//!
//! desired = max(reactive, forecast fleet)
//!
//! so the forecast only adds. It never lowers a recommendation, so on its own it never scales
//! in; it can only make a scale-in smaller or hold it off while a known peak is near. The
//! guards (bounds, cooldowns, `max_step`, useful tasks) then apply to the result as to any
//! recommendation; the policy's own limits (target's rate limits, the stabilization windows)
//! shape only the reactive part. When the forecast fleet is above the reactive one, the
//! decision's reason is [`Reason::Forecast`](crate::Reason::Forecast) and `recommended` is
//! the forecast fleet; `limited_by` is whatever the policy and the guards made it.
//!
//! **What it learns.** The arrival rate λ̂ of [`crate::estimator`], the estimate the `slo`
//! policy uses: under `slo` the policy's own (its `service_secs`, `rate_smoothing_secs`);
//! under the other policies the controller runs the same estimator with this table's
//! `service_secs` and `rate_smoothing_secs`. Each complete read (no source failed) adds λ̂ to
//! a [`SeasonalProfile`]: one exponentially weighted mean per `slot_secs` slot of a
//! `season_secs` season, in [`ScalerState`], so it persists in S3 like the rest of the state
//! and replays identically in the simulator. A change of `season_secs` or `slot_secs`
//! discards the stored profile and starts over.
//!
//! **When it turns on.** Only once the profile's history spans one full season: `season_secs`
//! from the first arrival-rate sample (a week by default; a day with `season_secs = 86400`).
//! Until then it learns and adds nothing. Only a complete read that gives the estimator a new
//! sample λᵢ teaches the profile (λ̂ is what is stored): a policy that cannot estimate λ (no
//! reported rate, no aged backlog, no service time) teaches nothing, and a read that measured
//! nothing does not repeat an old λ̂ into the current slot.
//!
//! **The forecast fleet.** λ_f = the highest profile value over the slots that the window
//! [now, now + `lead_secs`] touches: tasks ordered now are ready at now + lead, and the peak
//! of the window (not only its end) keeps capacity ordered for a peak that starts inside it
//! from being scaled away before it arrives. `lead_secs` should be the task start-up time
//! plus one controller period. Then, with S the service time:
//! - `slo`: its queueing fleet at λ_f: the fewest tasks whose M/M/c wait quantile meets the
//!   goal ([`SloParams::fleets`](crate::policy::SloParams::fleets), no backlog term);
//! - the others: ceil(λ_f · S / (`concurrency` · `target_utilisation`)), S = `service_secs`,
//!   else the one the estimator learned. Without either the forecast stays off.
//!
//! With several sources λ is their sum: the forecast sizes one worker pool for every source.
//! When every read fails the metric-failure rule decides alone.
//!
//! **Size.** At most [`MAX_SLOTS`] slots (a week of 5-minute slots), each stored with four
//! significant digits and at most 12 characters of JSON: a full profile serializes to under
//! 30 KB even when every slot holds the longest number it can, under 10 KB at the default 672
//! slots (about 4 KB with everyday rates), well within a 64 KB state document.

pub mod profile;

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::config::ConfigError;
use crate::estimator::{ArrivalEstimate, Flow};
use crate::policy::seed::ceil_u32;
use crate::policy::PolicySpec;
use crate::state::ScalerState;
pub use profile::{SeasonalProfile, SlotVisit};

/// Most slots in a season: a week of 5-minute slots, which keeps the state document small.
pub const MAX_SLOTS: i64 = 2016;

/// Default season: a week, seconds.
pub const DEFAULT_SEASON_SECS: i64 = 604_800;

/// Default slot: 15 minutes, seconds (672 slots a week).
pub const DEFAULT_SLOT_SECS: i64 = 900;

/// Default lead: 5 minutes, seconds (a few minutes of start-up plus a one-minute period).
pub const DEFAULT_LEAD_SECS: i64 = 300;

/// Default weight of the latest season in a slot's value.
pub const DEFAULT_SEASON_WEIGHT: f64 = 0.5;

/// Default concurrency of the simple sizing rule (non-`slo` policies).
pub const DEFAULT_CONCURRENCY: u32 = 1;

/// Default target utilisation of the simple sizing rule (non-`slo` policies).
pub const DEFAULT_TARGET_UTILISATION: f64 = 0.8;

/// Default time constant of the arrival-rate average under non-`slo` policies, seconds.
pub const DEFAULT_RATE_SMOOTHING_SECS: i64 = 60;

/// The `[forecast]` table (formulas in the module doc).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForecastParams {
    /// The season, seconds (default 604800, a week). A whole number of slots.
    pub season_secs: i64,
    /// One slot of the profile, seconds (default 900: 672 slots a week).
    pub slot_secs: i64,
    /// How far ahead to provision, seconds: task start-up plus one period (default 300).
    pub lead_secs: i64,
    /// Weight of the latest season in each slot's average, in (0, 1] (default 0.5).
    pub season_weight: f64,
    /// Mean service time per message, seconds (non-`slo` policies); learned when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_secs: Option<f64>,
    /// Messages one task works at once (non-`slo` policies; default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Busy fraction the forecast fleet aims at, in (0, 1] (non-`slo` policies; default 0.8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_utilisation: Option<f64>,
    /// Time constant of the arrival-rate average, seconds (non-`slo` policies; default 60).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_smoothing_secs: Option<i64>,
}

impl Default for ForecastParams {
    fn default() -> Self {
        Self {
            season_secs: DEFAULT_SEASON_SECS,
            slot_secs: DEFAULT_SLOT_SECS,
            lead_secs: DEFAULT_LEAD_SECS,
            season_weight: DEFAULT_SEASON_WEIGHT,
            service_secs: None,
            concurrency: None,
            target_utilisation: None,
            rate_smoothing_secs: None,
        }
    }
}

/// The forecast fleet at one decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForecastFleet {
    /// The forecast arrival rate λ_f, messages per second.
    pub arrival_rate_per_s: f64,
    /// Tasks that serve it.
    pub tasks: u32,
}

impl ForecastParams {
    /// Slots per season, when the layout is valid (see [`Self::validate`]).
    #[must_use]
    pub fn slots(&self) -> Option<usize> {
        if self.slot_secs <= 0 || self.season_secs <= 0 || self.season_secs % self.slot_secs != 0 {
            return None;
        }
        let slots = self.season_secs / self.slot_secs;
        (slots <= MAX_SLOTS).then_some(slots as usize)
    }

    /// One decision's forecast: learns from this read (`complete`: no source failed) and
    /// returns the forecast fleet, none while the forecast is off. Under `slo` the policy has
    /// already updated the estimator this tick; under the others this updates it.
    pub fn step(
        &self,
        policy: &PolicySpec,
        flow: &Flow,
        complete: bool,
        now: Millis,
        state: &mut ScalerState,
    ) -> Option<ForecastFleet> {
        self.step_beyond(policy, flow, complete, now, state, None)
    }

    /// [`Self::step`], for a controller that only wants a fleet that can beat its reactive
    /// one: under `slo`, `known_at_or_below` is a rate whose queueing fleet is already no more
    /// than the reactive recommendation. The queueing fleet never falls as λ rises, so a
    /// forecast rate at or below it cannot win, and its Erlang C inversion is skipped (none is
    /// returned). The profile learns from the read either way.
    pub fn step_beyond(
        &self,
        policy: &PolicySpec,
        flow: &Flow,
        complete: bool,
        now: Millis,
        state: &mut ScalerState,
        known_at_or_below: Option<f64>,
    ) -> Option<ForecastFleet> {
        let slots = self.slots()?;
        if complete {
            let estimate = state.arrivals.get_or_insert_with(ArrivalEstimate::default);
            if !matches!(policy, PolicySpec::Slo(_)) {
                let smoothing = self
                    .rate_smoothing_secs
                    .unwrap_or(DEFAULT_RATE_SMOOTHING_SECS);
                estimate.observe(now, flow, self.service_secs, smoothing as f64);
            }
            // Only a read that gave the estimator a new sample teaches the profile: λ̂ carried
            // over a read that measured nothing (no rate, no aged backlog, no service time,
            // or a clock that did not move) would fill its slots with a stale value.
            let fresh =
                estimate.last.is_some_and(|l| l.at_ms == now) && estimate.sample_per_s.is_some();
            if let (true, Some(rate)) = (fresh, estimate.rate_per_s) {
                let profile = state.profile.get_or_insert_with(|| {
                    SeasonalProfile::new(self.season_secs, self.slot_secs, slots)
                });
                if !profile.has_layout(self.season_secs, self.slot_secs, slots) {
                    *profile = SeasonalProfile::new(self.season_secs, self.slot_secs, slots);
                }
                profile.observe(now, rate, self.season_weight);
            }
        }
        let profile = state
            .profile
            .as_ref()
            .filter(|p| p.has_layout(self.season_secs, self.slot_secs, slots))?;
        let lambda = profile.peak_ahead(now, self.lead_secs.saturating_mul(1000))?;
        let estimate = state.arrivals.as_ref()?;
        let tasks = if let PolicySpec::Slo(p) = policy {
            if known_at_or_below.is_some_and(|known| lambda <= known) {
                return None;
            }
            let service_secs = estimate.service_secs(p.service_secs)?;
            p.fleets(lambda, service_secs, 0.0).0
        } else {
            let service_secs = estimate.service_secs(self.service_secs)?;
            let per_task = f64::from(self.concurrency.unwrap_or(DEFAULT_CONCURRENCY).max(1))
                * self
                    .target_utilisation
                    .unwrap_or(DEFAULT_TARGET_UTILISATION);
            ceil_u32(lambda * service_secs / per_task)
        };
        Some(ForecastFleet {
            arrival_rate_per_s: lambda,
            tasks,
        })
    }

    /// Checks the table against `policy`; keys are named `forecast.<field>`.
    pub fn validate(&self, policy: &PolicySpec) -> Result<(), ConfigError> {
        if self.slot_secs <= 0 {
            return Err(ConfigError::invalid(
                "forecast.slot_secs",
                self.slot_secs,
                "a slot must be > 0 seconds, for example 900",
            ));
        }
        if self.season_secs <= 0 || self.season_secs % self.slot_secs != 0 {
            return Err(ConfigError::invalid(
                "forecast.season_secs",
                self.season_secs,
                format!(
                    "the season must be a whole number (>= 1) of slots of {} s, for example 604800 (a week) or 86400 (a day)",
                    self.slot_secs
                ),
            ));
        }
        if self.season_secs / self.slot_secs > MAX_SLOTS {
            return Err(ConfigError::invalid(
                "forecast.slot_secs",
                self.slot_secs,
                format!(
                    "a season of {} s would need more than {MAX_SLOTS} slots, which the state document cannot hold: use wider slots (at least {} s)",
                    self.season_secs,
                    (self.season_secs - 1) / MAX_SLOTS + 1
                ),
            ));
        }
        if !(0..self.season_secs).contains(&self.lead_secs) {
            return Err(ConfigError::invalid(
                "forecast.lead_secs",
                self.lead_secs,
                "the lead must be >= 0 seconds and shorter than the season: task start-up plus one controller period",
            ));
        }
        if !(self.season_weight > 0.0 && self.season_weight <= 1.0) {
            return Err(ConfigError::invalid(
                "forecast.season_weight",
                self.season_weight,
                "the latest season's weight must be in (0, 1], for example 0.5",
            ));
        }
        if let PolicySpec::Slo(_) = policy {
            let owned = [
                ("forecast.service_secs", self.service_secs.is_some()),
                ("forecast.concurrency", self.concurrency.is_some()),
                (
                    "forecast.target_utilisation",
                    self.target_utilisation.is_some(),
                ),
                (
                    "forecast.rate_smoothing_secs",
                    self.rate_smoothing_secs.is_some(),
                ),
            ];
            if let Some((key, _)) = owned.iter().find(|(_, set)| *set) {
                return Err(ConfigError::invalid(
                    *key,
                    "set",
                    "under the slo policy the forecast sizes with the policy's own queueing model, service time, concurrency and smoothing: remove it here and set it in [policy]",
                ));
            }
            return Ok(());
        }
        if let Some(s) = self.service_secs {
            if !(s.is_finite() && s > 0.0) {
                return Err(ConfigError::invalid(
                    "forecast.service_secs",
                    s,
                    "the service time must be a finite number of seconds > 0 (omit it to learn it online)",
                ));
            }
        }
        if self.concurrency == Some(0) {
            return Err(ConfigError::invalid(
                "forecast.concurrency",
                0,
                "a task works at least 1 message at a time",
            ));
        }
        if let Some(u) = self.target_utilisation {
            if !(u > 0.0 && u <= 1.0) {
                return Err(ConfigError::invalid(
                    "forecast.target_utilisation",
                    u,
                    "the target utilisation must be in (0, 1], for example 0.8",
                ));
            }
        }
        if let Some(secs) = self.rate_smoothing_secs {
            if secs < 0 {
                return Err(ConfigError::invalid(
                    "forecast.rate_smoothing_secs",
                    secs,
                    "a window must be >= 0 seconds",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{SloParams, TargetParams};

    const DAY_MS: i64 = 86_400_000;

    fn daily() -> ForecastParams {
        ForecastParams {
            season_secs: 86_400,
            service_secs: Some(1.0),
            ..ForecastParams::default()
        }
    }

    fn reported(rate: f64) -> Flow {
        Flow {
            arrival_rate_per_s: Some(rate),
            ..Flow::default()
        }
    }

    /// A day at `rate`, one read a minute from `from`; the last step's answer.
    fn feed(
        f: &ForecastParams,
        policy: &PolicySpec,
        from: Millis,
        rate: f64,
        state: &mut ScalerState,
    ) -> Option<ForecastFleet> {
        let mut last = None;
        for i in 0..1440 {
            last = f.step(policy, &reported(rate), true, from + i * 60_000, state);
        }
        last
    }

    #[test]
    fn the_simple_rule_sizes_for_the_target_utilisation() {
        let f = ForecastParams {
            concurrency: Some(4),
            target_utilisation: Some(0.5),
            rate_smoothing_secs: Some(0),
            ..daily()
        };
        let policy = PolicySpec::Target(TargetParams::default());
        let mut state = ScalerState::default();
        assert_eq!(feed(&f, &policy, 0, 10.0, &mut state), None);
        // 10/s × 1 s / (4 × 0.5) = 5 tasks.
        let fleet = f.step(&policy, &reported(10.0), true, DAY_MS, &mut state);
        assert_eq!(
            fleet,
            Some(ForecastFleet {
                arrival_rate_per_s: 10.0,
                tasks: 5
            })
        );
    }

    #[test]
    fn slo_sizes_with_its_queueing_fleet() {
        let p = SloParams {
            wait_secs: 30.0,
            service_secs: Some(1.0),
            rate_smoothing_secs: 0,
            ..SloParams::default()
        };
        let policy = PolicySpec::Slo(p.clone());
        let f = ForecastParams {
            season_secs: 86_400,
            ..ForecastParams::default()
        };
        let mut state = ScalerState::default();
        // Under slo the policy feeds the estimator; do it by hand here.
        for i in 0..=1440 {
            let now = i * 60_000;
            state
                .arrivals
                .get_or_insert_with(ArrivalEstimate::default)
                .observe(now, &reported(20.0), p.service_secs, 0.0);
            f.step(&policy, &reported(20.0), true, now, &mut state);
        }
        let before = state.clone();
        let fleet = f.step(&policy, &reported(20.0), true, DAY_MS, &mut state);
        // λ = 20/s, S = 1 s, p99 within 30 s: 21 slots (see the queueing tests).
        assert_eq!(fleet.map(|f| f.tasks), Some(21));
        // A controller that knows a rate whose fleet is within its recommendation: a forecast
        // at or below it is skipped, above it is the same fleet; the state learns alike.
        for (known, want) in [(20.0, None), (25.0, None), (19.99, fleet)] {
            let mut s = before.clone();
            let got = f.step_beyond(&policy, &reported(20.0), true, DAY_MS, &mut s, Some(known));
            assert_eq!(got, want, "known {known}");
            assert_eq!(s, state, "known {known}");
        }
    }

    #[test]
    fn no_service_time_no_forecast() {
        let f = ForecastParams {
            service_secs: None,
            ..daily()
        };
        let policy = PolicySpec::Target(TargetParams::default());
        let mut state = ScalerState::default();
        feed(&f, &policy, 0, 10.0, &mut state);
        assert!(state.profile.is_some());
        assert_eq!(
            f.step(&policy, &reported(10.0), true, DAY_MS, &mut state),
            None
        );
    }

    #[test]
    fn a_partial_read_teaches_nothing() {
        let f = daily();
        let policy = PolicySpec::Target(TargetParams::default());
        let mut state = ScalerState::default();
        f.step(&policy, &reported(10.0), true, 0, &mut state);
        let before = state.clone();
        f.step(&policy, &reported(500.0), false, 60_000, &mut state);
        assert_eq!(state, before);
    }

    #[test]
    fn a_read_without_a_new_sample_teaches_nothing() {
        // No service time and no reported rate: the estimator has no sample at these reads,
        // so the λ̂ of the first (reported) read must not be copied into later slots.
        let f = ForecastParams {
            slot_secs: 300,
            ..daily()
        };
        let policy = PolicySpec::Target(TargetParams::default());
        let mut state = ScalerState::default();
        f.step(&policy, &reported(10.0), true, 0, &mut state);
        let busy = Flow {
            visible: 3,
            in_flight: 5,
            ..Flow::default()
        };
        let g = ForecastParams {
            service_secs: None,
            ..f.clone()
        };
        for i in 1..=20 {
            g.step(&policy, &busy, true, i * 60_000, &mut state);
        }
        let profile = state.profile.unwrap_or_default();
        assert_eq!(profile.visit.map(|v| (v.slot, v.samples)), Some((0, 1)));
        assert!(profile.rates_per_s.iter().all(Option::is_none));
    }

    #[test]
    fn another_layout_starts_over() {
        let f = daily();
        let policy = PolicySpec::Target(TargetParams::default());
        let mut state = ScalerState::default();
        feed(&f, &policy, 0, 10.0, &mut state);
        let wider = ForecastParams {
            slot_secs: 1800,
            ..daily()
        };
        assert_eq!(
            wider.step(&policy, &reported(10.0), true, DAY_MS, &mut state),
            None
        );
        let profile = state.profile.unwrap_or_default();
        assert_eq!(
            (
                profile.slot_secs,
                profile.rates_per_s.len(),
                profile.since_ms
            ),
            (1800, 48, DAY_MS)
        );
    }

    #[test]
    fn validation_names_the_key_and_the_rule() {
        let target = PolicySpec::Target(TargetParams::default());
        let slo = PolicySpec::Slo(SloParams::default());
        let cases = [
            (
                ForecastParams {
                    slot_secs: 0,
                    ..ForecastParams::default()
                },
                "forecast.slot_secs",
            ),
            (
                ForecastParams {
                    season_secs: 1000,
                    ..ForecastParams::default()
                },
                "forecast.season_secs",
            ),
            (
                ForecastParams {
                    slot_secs: 60,
                    ..ForecastParams::default()
                },
                "forecast.slot_secs",
            ),
            (
                ForecastParams {
                    lead_secs: 604_800,
                    ..ForecastParams::default()
                },
                "forecast.lead_secs",
            ),
            (
                ForecastParams {
                    season_weight: 0.0,
                    ..ForecastParams::default()
                },
                "forecast.season_weight",
            ),
            (
                ForecastParams {
                    target_utilisation: Some(1.5),
                    ..ForecastParams::default()
                },
                "forecast.target_utilisation",
            ),
            (
                ForecastParams {
                    concurrency: Some(0),
                    ..ForecastParams::default()
                },
                "forecast.concurrency",
            ),
            (
                ForecastParams {
                    service_secs: Some(f64::NAN),
                    ..ForecastParams::default()
                },
                "forecast.service_secs",
            ),
        ];
        for (f, key) in cases {
            match f.validate(&target) {
                Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key),
                other => panic!("{key}: {other:?}"),
            }
        }
        assert!(ForecastParams::default().validate(&target).is_ok());
        assert!(ForecastParams::default().validate(&slo).is_ok());
        let owned = ForecastParams {
            service_secs: Some(1.0),
            ..ForecastParams::default()
        };
        assert!(owned.validate(&target).is_ok());
        match owned.validate(&slo) {
            Err(ConfigError::Invalid { key, .. }) => assert_eq!(key, "forecast.service_secs"),
            other => panic!("{other:?}"),
        }
    }
}
