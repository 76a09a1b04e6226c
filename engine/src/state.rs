//! The scaler's memory between decisions: last actions, recent recommendations, failure count,
//! the arrival-rate estimator (`slo`, or any policy with a forecast) and the seasonal profile.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::estimator::ArrivalEstimate;
use crate::forecast::SeasonalProfile;
use crate::policy::alarm::Datapoints;

/// One recommendation of the target or slo policy, kept for its stabilization window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recommendation {
    /// When it was made.
    pub at_ms: Millis,
    /// Tasks recommended.
    pub tasks: u32,
}

/// One change of the desired count, kept for rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// When it was made.
    pub at_ms: Millis,
    /// Desired count before.
    pub from: u32,
    /// Desired count after.
    pub to: u32,
}

/// The cooldown fields as they were before a claimed decision, to put back if the claim never
/// reached ECS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CooldownTimes {
    /// `last_scale_out_ms` before the decision.
    pub last_scale_out_ms: Option<Millis>,
    /// `last_scale_in_ms` before the decision.
    pub last_scale_in_ms: Option<Millis>,
    /// `cooldown_base_tasks` before the decision.
    pub cooldown_base_tasks: Option<u32>,
}

/// What a live tick wrote into the state before it acted on ECS: who wrote it (an id unique to
/// that tick's attempt, so that a retried write that had in fact succeeded is recognised as
/// one's own), the change it claims and the cooldowns it replaced. The simulator never sets
/// it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// The writer: unique per tick attempt.
    pub id: String,
    /// When the decision was made.
    pub at_ms: Millis,
    /// ECS's desired count when it was decided.
    pub from: u32,
    /// The desired count it claims (equal to `from` for a hold).
    pub to: u32,
    /// The cooldown fields before the decision.
    #[serde(default)]
    pub before: CooldownTimes,
}

/// What the reference policies (`aws_target_tracking`, `aws_step_scaling`, `keda`) remember:
/// their alarm's datapoints, KEDA's last poll and activity, the HPA's last sync.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReferenceState {
    /// The alarm's datapoints (AWS kinds).
    pub datapoints: Datapoints,
    /// The polling interval KEDA last polled in (its index from the epoch).
    pub last_poll: Option<i64>,
    /// The sync period the HPA last decided in (its index from the epoch).
    pub last_sync: Option<i64>,
    /// When KEDA's scaler was last active.
    pub last_active_ms: Option<Millis>,
}

/// A value the script policy's state map keeps between decisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StateValue {
    /// `true` or `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number.
    Float(f64),
    /// Text.
    Text(String),
    /// A list of numbers, booleans or text (a window of recent values).
    List(Vec<StateValue>),
}

/// Everything the engine remembers between decisions. It survives a serde round trip, so it
/// can live in a file, in S3, or in the simulator's memory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScalerState {
    /// Time of the last scale-out.
    pub last_scale_out_ms: Option<Millis>,
    /// Time of the last scale-in record. As in fast-autoscaler v0.2, a scale-out also sets it.
    pub last_scale_in_ms: Option<Millis>,
    /// Capacity before the scale-out that began the current scale-out cooldown (step policy).
    pub cooldown_base_tasks: Option<u32>,
    /// Recent recommendations (the target and slo policies' stabilization window).
    pub recommendations: VecDeque<Recommendation>,
    /// Recent changes of the desired count (rate limits).
    pub changes: VecDeque<Change>,
    /// Decisions in a row that saw at least one failed metric read.
    pub consecutive_failures: u32,
    /// The arrival-rate and service-time estimator of the slo policy and of the forecast;
    /// absent for other policies without a forecast, and in state documents written before it
    /// existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrivals: Option<ArrivalEstimate>,
    /// The forecast's seasonal profile of the arrival rate; absent without a `[forecast]`
    /// table, and in state documents written before it existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<SeasonalProfile>,
    /// The last live tick's claim (see [`Claim`]); absent in the simulator and in state
    /// documents written before it existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
    /// The reference policies' memory; absent for StepScale's own policies (boxed: the state
    /// travels through the Lambda's futures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<Box<ReferenceState>>,
    /// The script policy's own map, as the script left it; absent for other policies and
    /// while the script keeps nothing (boxed: the state travels through the Lambda's futures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script: Option<Box<BTreeMap<String, StateValue>>>,
}

/// `t` clamped to `now` when it lies in the future or so far back that `now - t` overflows.
fn clamp(t: &mut Millis, now: Millis, name: &'static str, out: &mut Vec<&'static str>) {
    if *t > now || now.checked_sub(*t).is_none() {
        *t = now;
        if !out.contains(&name) {
            out.push(name);
        }
    }
}

impl ScalerState {
    /// The reference policies' memory, created empty on first use.
    pub fn reference_mut(&mut self) -> &mut ReferenceState {
        self.reference.get_or_insert_with(Box::default)
    }

    /// The cooldown fields as they are now.
    #[must_use]
    pub fn cooldown_times(&self) -> CooldownTimes {
        CooldownTimes {
            last_scale_out_ms: self.last_scale_out_ms,
            last_scale_in_ms: self.last_scale_in_ms,
            cooldown_base_tasks: self.cooldown_base_tasks,
        }
    }

    /// Takes back the claim: its action never reached ECS, so its cooldowns must not hold the
    /// next decision. Puts back the cooldown fields it replaced and drops its rate-limit
    /// change; returns the claim (none when there was none to release, or it was a hold).
    pub fn release_claim(&mut self) -> Option<Claim> {
        let claim = self.claim.take().filter(|c| c.from != c.to)?;
        let before = claim.before;
        self.last_scale_out_ms = before.last_scale_out_ms;
        self.last_scale_in_ms = before.last_scale_in_ms;
        self.cooldown_base_tasks = before.cooldown_base_tasks;
        self.changes
            .retain(|c| !(c.at_ms == claim.at_ms && c.from == claim.from && c.to == claim.to));
        Some(claim)
    }

    /// Clamps every stored time to `now` when it lies in the future (a clock that moved back,
    /// a hand-edited file) or overflows `now - t`; returns the fields it changed. Without this,
    /// a time near `i64::MIN` would hold scale-in forever.
    #[inline]
    pub fn clamp_times(&mut self, now: Millis) -> Vec<&'static str> {
        if self.times_in_range(now) {
            return Vec::new();
        }
        self.clamp_out_of_range(now)
    }

    /// [`Self::clamp_times`] once some time is out of range: rare, kept out of the tick's way.
    #[cold]
    #[inline(never)]
    fn clamp_out_of_range(&mut self, now: Millis) -> Vec<&'static str> {
        let mut out = Vec::new();
        if let Some(t) = &mut self.last_scale_out_ms {
            clamp(t, now, "last_scale_out_ms", &mut out);
        }
        if let Some(t) = &mut self.last_scale_in_ms {
            clamp(t, now, "last_scale_in_ms", &mut out);
        }
        for r in &mut self.recommendations {
            clamp(&mut r.at_ms, now, "recommendations", &mut out);
        }
        for c in &mut self.changes {
            clamp(&mut c.at_ms, now, "changes", &mut out);
        }
        if let Some(last) = self.arrivals.as_mut().and_then(|a| a.last.as_mut()) {
            clamp(&mut last.at_ms, now, "arrivals.last", &mut out);
        }
        if let Some(t) = self
            .reference
            .as_mut()
            .and_then(|r| r.last_active_ms.as_mut())
        {
            clamp(t, now, "reference.last_active_ms", &mut out);
        }
        if let Some(p) = &mut self.profile {
            clamp(&mut p.since_ms, now, "profile.since_ms", &mut out);
            // A visit to a future slot would make the profile ignore every read until then.
            if p.visit_is_after(now) {
                p.visit = None;
                out.push("profile.visit");
            }
        }
        out
    }

    /// Whether every stored time is at most `now` and `now - t` cannot overflow: the common
    /// case, checked in one branch-light pass before [`Self::clamp_times`] does any work.
    #[inline]
    fn times_in_range(&self, now: Millis) -> bool {
        let ok = |t: Millis| t <= now && now.checked_sub(t).is_some();
        self.last_scale_out_ms.is_none_or(ok)
            && self.last_scale_in_ms.is_none_or(ok)
            && self.recommendations.iter().all(|r| ok(r.at_ms))
            && self.changes.iter().all(|c| ok(c.at_ms))
            && self
                .arrivals
                .as_ref()
                .and_then(|a| a.last)
                .is_none_or(|l| ok(l.at_ms))
            && self
                .profile
                .as_ref()
                .is_none_or(|p| ok(p.since_ms) && !p.visit_is_after(now))
            && self
                .reference
                .as_ref()
                .and_then(|r| r.last_active_ms)
                .is_none_or(ok)
    }

    /// Scale-in stabilization: drops recommendations older than `window_ms`, records `raw`
    /// (when the window is not empty) and returns the highest recommendation in the window,
    /// `raw` included. A scale-in may not go below it.
    pub fn stabilization_floor(&mut self, now: Millis, window_ms: i64, raw: u32) -> u32 {
        while self
            .recommendations
            .front()
            .is_some_and(|r| now - r.at_ms >= window_ms)
        {
            self.recommendations.pop_front();
        }
        let highest = self
            .recommendations
            .iter()
            .map(|r| r.tasks)
            .fold(raw, u32::max);
        if window_ms > 0 {
            // An older recommendation no higher than `raw` leaves the window before `raw` does,
            // so it can never be the highest again: dropped. The window keeps a falling run of
            // recommendations (a few entries, not one per tick), with the same floor.
            while self.recommendations.back().is_some_and(|r| r.tasks <= raw) {
                self.recommendations.pop_back();
            }
            self.recommendations.push_back(Recommendation {
                at_ms: now,
                tasks: raw,
            });
        }
        highest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A claim whose action never reached ECS gives back the cooldowns it replaced and its
    /// rate-limit change; a hold's claim releases nothing.
    #[test]
    fn a_released_claim_restores_the_cooldowns_it_replaced() {
        let before = CooldownTimes {
            last_scale_out_ms: Some(1_000),
            last_scale_in_ms: None,
            cooldown_base_tasks: Some(3),
        };
        let mut state = ScalerState {
            last_scale_out_ms: Some(60_000),
            last_scale_in_ms: Some(60_000),
            cooldown_base_tasks: Some(2),
            changes: [Change {
                at_ms: 60_000,
                from: 2,
                to: 20,
            }]
            .into(),
            claim: Some(Claim {
                id: "a".into(),
                at_ms: 60_000,
                from: 2,
                to: 20,
                before,
            }),
            ..ScalerState::default()
        };
        let released = state
            .release_claim()
            .expect("a scale-out claim is released");
        assert_eq!(released.id, "a");
        assert_eq!(state.cooldown_times(), before);
        assert!(state.changes.is_empty() && state.claim.is_none());
        let mut hold = ScalerState {
            last_scale_out_ms: Some(60_000),
            claim: Some(Claim {
                id: "h".into(),
                at_ms: 60_000,
                from: 2,
                to: 2,
                before,
            }),
            ..ScalerState::default()
        };
        assert_eq!(hold.release_claim(), None);
        assert_eq!(hold.last_scale_out_ms, Some(60_000));
    }
}
