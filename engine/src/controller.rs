//! `Controller::tick`: one decision from readings, the service and the scaler state.

use crate::clock::{Clock, Millis};
use crate::decision::{Action, Decision, Limit, Reason};
use crate::estimator::Flow;
use crate::forecast::ForecastParams;
use crate::guards::{FailureFallback, Guards};
use crate::observation::{Reading, ServiceState};
use crate::policy::seed::ceil_u32;
use crate::policy::{Combine, PolicySpec};
use crate::state::{Change, ScalerState};

/// A policy with its guards, the way its sources combine and an optional seasonal forecast.
/// Cheap to share; `tick` is pure apart from the state it is handed.
#[derive(Debug, Clone, PartialEq)]
pub struct Controller {
    policy: PolicySpec,
    guards: Guards,
    combine: Combine,
    weights: Vec<f64>,
    forecast: Option<ForecastParams>,
}

/// What the sources add up to this tick.
#[derive(Debug, PartialEq)]
struct Combined {
    /// The combined backlog, none when no read succeeded.
    metric: Option<f64>,
    /// Whether any read failed.
    any_failed: bool,
    /// Most useful tasks over all sources, when every source was read and states one.
    useful_cap: Option<u32>,
    /// The successful sources' sums, for the slo policy's estimator.
    flow: Flow,
}

impl Controller {
    /// A controller for `policy` under `guards`, combining sources by `combine`; `weights[i]`
    /// (default 1) weighs source `i`.
    #[must_use]
    pub fn new(policy: PolicySpec, guards: Guards, combine: Combine, weights: Vec<f64>) -> Self {
        Self {
            policy,
            guards,
            combine,
            weights,
            forecast: None,
        }
    }

    /// The same controller with the seasonal forecast `forecast` (none: reactive only),
    /// applied after the policy and before the guards (see [`crate::forecast`]).
    #[must_use]
    pub fn with_forecast(mut self, forecast: Option<ForecastParams>) -> Self {
        self.forecast = forecast;
        self
    }

    /// The seasonal forecast, when there is one.
    #[must_use]
    pub fn forecast(&self) -> Option<&ForecastParams> {
        self.forecast.as_ref()
    }

    /// The policy.
    #[must_use]
    pub fn policy(&self) -> &PolicySpec {
        &self.policy
    }

    /// The guards.
    #[must_use]
    pub fn guards(&self) -> &Guards {
        &self.guards
    }

    fn combine(&self, readings: &[Reading]) -> Combined {
        let in_flight = self.policy.includes_in_flight();
        if let [Ok(sample)] = readings {
            // One source read, the common case: what the loop below gives for it.
            let mut value = sample.visible as f64;
            if in_flight {
                value += sample.in_flight as f64;
            }
            if self.combine == Combine::Weighted {
                value = 0.0 + self.weights.first().copied().unwrap_or(1.0) * value;
            }
            return Combined {
                metric: Some(value),
                any_failed: false,
                useful_cap: sample.max_useful_tasks,
                flow: Flow {
                    visible: sample.visible,
                    in_flight: sample.in_flight,
                    arrival_rate_per_s: sample.arrival_rate_per_s,
                    oldest_age_ms: sample.oldest_age_ms,
                },
            };
        }
        self.combine_all(readings)
    }

    /// [`Self::combine`] for any number of readings.
    fn combine_all(&self, readings: &[Reading]) -> Combined {
        let in_flight = self.policy.includes_in_flight();
        let mut metric: Option<f64> = None;
        let mut any_failed = readings.is_empty();
        let mut useful_cap: Option<u32> = Some(0);
        let mut flow = Flow::default();
        let mut sources = 0u32;
        for (i, reading) in readings.iter().enumerate() {
            let Ok(sample) = reading else {
                any_failed = true;
                continue;
            };
            sources += 1;
            flow.visible = flow.visible.saturating_add(sample.visible);
            flow.in_flight = flow.in_flight.saturating_add(sample.in_flight);
            // A total rate only when every source that was read reports one: one source's rate
            // is not the sum of all.
            flow.arrival_rate_per_s =
                match (sources, flow.arrival_rate_per_s, sample.arrival_rate_per_s) {
                    (1, _, rate) => rate,
                    (_, Some(total), Some(rate)) => Some(total + rate),
                    _ => None,
                };
            flow.oldest_age_ms = sample.oldest_age_ms;
            let mut value = sample.visible as f64;
            if in_flight {
                value += sample.in_flight as f64;
            }
            metric = Some(match (self.combine, metric) {
                (_, None) if self.combine != Combine::Weighted => value,
                (Combine::Max, Some(m)) => m.max(value),
                (Combine::Sum, Some(m)) => m + value,
                (Combine::Weighted, m) => {
                    m.unwrap_or(0.0) + self.weights.get(i).copied().unwrap_or(1.0) * value
                }
                (_, None) => value,
            });
            useful_cap = match (useful_cap, sample.max_useful_tasks) {
                (Some(total), Some(cap)) => Some(total.saturating_add(cap)),
                _ => None,
            };
        }
        if metric.is_none() || any_failed {
            // A source that did not answer has a cap nobody knows: the sources that answered
            // must not lower the scale-out on their own (a partial outage would cap it).
            useful_cap = None;
        }
        if sources != 1 {
            // The backlog-age rate needs one FIFO queue; ages of several do not add up.
            flow.oldest_age_ms = None;
        }
        Combined {
            metric,
            any_failed,
            useful_cap,
            flow,
        }
    }

    /// Decides once, at `clock`'s now, and advances `state` to the next state.
    pub fn tick(
        &self,
        clock: &impl Clock,
        readings: &[Reading],
        service: ServiceState,
        state: &mut ScalerState,
    ) -> Decision {
        self.tick_capped(clock, readings, service, state, None)
    }

    /// [`Self::tick`] with a shared budget's `cap` as the last guard: a desired count above it
    /// is cut to it (`limited_by = budget`), whatever the cooldowns or a failed read would
    /// otherwise hold (see [`crate::budget`]).
    pub fn tick_capped(
        &self,
        clock: &impl Clock,
        readings: &[Reading],
        service: ServiceState,
        state: &mut ScalerState,
        cap: Option<u32>,
    ) -> Decision {
        let now = clock.now_ms();
        let clamped = state.clamp_times(now);
        if !clamped.is_empty() {
            tracing::warn!(
                fields = ?clamped,
                now_ms = now,
                "State times in the future or out of range were clamped to now."
            );
        }
        let combined = self.combine(readings);
        let previous = service.desired;
        let Some(metric) = combined.metric else {
            return self.metric_failure(now, previous, state, cap);
        };
        if combined.any_failed {
            state.consecutive_failures = state.consecutive_failures.saturating_add(1);
        } else {
            state.consecutive_failures = 0;
        }

        let g = &self.guards;
        let is_seed = matches!(self.policy, PolicySpec::Seed(_));
        // Seed measures from the desired count, as v0.2 did; the others count pending tasks as
        // capacity already ordered, so a slow start does not wind up more scale-outs.
        // The reference policies measure from the desired count, as AAS and the HPA do.
        let reference = self.policy.is_reference();
        let current = if is_seed || reference {
            previous
        } else {
            service.ordered()
        };
        // What an alarm may take as a datapoint: the whole backlog, never a partial sum.
        let whole_metric = (!combined.any_failed).then_some(metric);
        let (mut recommended, mut reason, mut limit) = match &self.policy {
            PolicySpec::Seed(p) => {
                let (d, r) = p.recommend(metric, current, g.min_tasks);
                (d, r, None)
            }
            PolicySpec::Step(p) | PolicySpec::AwsStepScaling(p) => {
                match self.policy.step_alarm(p) {
                    Some(alarm) => {
                        p.recommend_alarmed(&alarm, whole_metric, current, now, state, g)
                    }
                    None => p.recommend(metric, current, now, state, g),
                }
            }
            PolicySpec::Target(p) => p.recommend(metric, current, now, state),
            PolicySpec::Slo(p) => {
                p.recommend(&combined.flow, !combined.any_failed, current, now, state)
            }
            PolicySpec::AwsTargetTracking(p) => {
                p.recommend(whole_metric, service.running, current, now, state)
            }
            PolicySpec::Keda(p) => p.recommend(metric, current, g.min_tasks, now, state),
            PolicySpec::Script(p) => p.recommend(
                &crate::policy::script::ScriptInput {
                    backlog: metric,
                    flow: &combined.flow,
                    complete: !combined.any_failed,
                    running: service.running,
                    pending: service.pending,
                    desired: previous,
                    current,
                    now_ms: now,
                },
                state,
            ),
        };
        if let Some(forecast) = &self.forecast {
            let complete = !combined.any_failed;
            // The SLO policy's own queueing fleet at its λ̂ is within the recommendation: a
            // forecast rate no higher cannot beat it, and its inversion is skipped.
            let known = match &reason {
                Reason::Slo {
                    arrival_rate_per_s,
                    queueing_tasks,
                    ..
                } if *queueing_tasks <= recommended => Some(*arrival_rate_per_s),
                _ => None,
            };
            let fleet =
                forecast.step_beyond(&self.policy, &combined.flow, complete, now, state, known);
            if let Some(fleet) = fleet.filter(|f| f.tasks > recommended) {
                // Only ever adds: max(reactive, forecast). `limit` stays the policy's.
                reason = Reason::Forecast {
                    arrival_rate_per_s: fleet.arrival_rate_per_s,
                    lead_secs: forecast.lead_secs,
                    tasks: fleet.tasks,
                    reactive_tasks: recommended,
                };
                recommended = fleet.tasks;
            }
        }
        let mut desired = recommended;

        if let Some(cap) = combined.useful_cap {
            if desired > current && desired > cap {
                desired = cap.max(current);
                limit = Some(Limit::UsefulTasks);
            }
        }
        if !is_seed && !reference {
            if let Some(step) = g.max_step {
                if desired > current.saturating_add(step) {
                    desired = current.saturating_add(step);
                    limit = Some(Limit::MaxStep);
                } else if desired < current.saturating_sub(step) {
                    desired = current.saturating_sub(step);
                    limit = Some(Limit::MaxStep);
                }
            }
            if let Some(fraction) = g.max_scale_in_fraction {
                let keep = ceil_u32(f64::from(current) * (1.0 - fraction));
                if desired < keep {
                    desired = keep;
                    limit = Some(Limit::MaxScaleInFraction);
                }
            }
        }
        let clamped = g.clamp(desired);
        if clamped != desired {
            limit = Some(if clamped > desired {
                Limit::MinTasks
            } else {
                Limit::MaxTasks
            });
            desired = clamped;
        }

        if desired < previous {
            let enforcing_max = previous > g.max_tasks;
            if !enforcing_max && !self.scale_in_allowed(now, state) {
                desired = previous;
                limit = Some(Limit::ScaleInCooldown);
            }
            if combined.any_failed {
                // Part of the picture is missing: never scale in on missing data.
                desired = previous;
                limit = Some(Limit::MetricFailure);
            }
        } else if desired > previous {
            let enforcing_min = previous < g.min_tasks;
            if !enforcing_min && !self.scale_out_allowed(now, state) {
                desired = previous;
                limit = Some(Limit::ScaleOutCooldown);
            }
        }
        if let Some(cap) = cap.filter(|&c| desired > c) {
            desired = cap;
            limit = Some(Limit::Budget);
        }
        self.record(now, previous, desired, state);
        Decision {
            at_ms: now,
            previous,
            desired,
            recommended,
            action: action_of(previous, desired),
            reason,
            limited_by: limit,
            metric: Some(metric),
        }
    }

    /// Every read failed: hold (or raise to the fallback), never scale in.
    fn metric_failure(
        &self,
        now: Millis,
        previous: u32,
        state: &mut ScalerState,
        cap: Option<u32>,
    ) -> Decision {
        state.consecutive_failures = state.consecutive_failures.saturating_add(1);
        let consecutive = state.consecutive_failures;
        let g = &self.guards;
        let (desired, reason) = match g.on_metric_failure {
            FailureFallback::Fixed(tasks) if consecutive >= g.failure_fallback_after => (
                previous.max(g.clamp(tasks)),
                Reason::FailureFallback { consecutive },
            ),
            _ => (previous, Reason::MetricFailure { consecutive }),
        };
        let recommended = desired;
        let (desired, limit) = match cap {
            Some(cap) if desired > cap => (cap, Limit::Budget),
            _ => (desired, Limit::MetricFailure),
        };
        self.record(now, previous, desired, state);
        Decision {
            at_ms: now,
            previous,
            desired,
            recommended,
            action: action_of(previous, desired),
            reason,
            limited_by: Some(limit),
            metric: None,
        }
    }

    /// The scale-in cooldown: `seed` needs strictly more than the cooldown since the last
    /// scale-in record (v0.2); `target` and `slo` at least the cooldown since the last action
    /// of either direction; `step` applied AWS's rule inside the policy.
    fn scale_in_allowed(&self, now: Millis, state: &ScalerState) -> bool {
        let cooldown = self.guards.scale_in_cooldown_ms();
        match self.policy {
            PolicySpec::Seed(_) => state.last_scale_in_ms.is_none_or(|t| now - t > cooldown),
            PolicySpec::Target(_) | PolicySpec::Slo(_) | PolicySpec::Script(_) => state
                .last_scale_in_ms
                .max(state.last_scale_out_ms)
                .is_none_or(|t| now - t >= cooldown),
            // Step applied AWS's rule inside the policy; the references apply their own.
            PolicySpec::Step(_)
            | PolicySpec::AwsStepScaling(_)
            | PolicySpec::AwsTargetTracking(_)
            | PolicySpec::Keda(_) => true,
        }
    }

    /// The scale-out cooldown: `seed` ignores it (v0.2's priority override), `step` applied
    /// it inside the policy, `target` and `slo` hold inside it unless the bypass is set.
    fn scale_out_allowed(&self, now: Millis, state: &ScalerState) -> bool {
        match self.policy {
            PolicySpec::Seed(_)
            | PolicySpec::Step(_)
            | PolicySpec::AwsStepScaling(_)
            | PolicySpec::AwsTargetTracking(_)
            | PolicySpec::Keda(_) => true,
            PolicySpec::Target(_) | PolicySpec::Slo(_) | PolicySpec::Script(_) => {
                self.guards.scale_out_cooldown_bypass
                    || state
                        .last_scale_out_ms
                        .is_none_or(|t| now - t >= self.guards.scale_out_cooldown_ms())
            }
        }
    }

    fn record(&self, now: Millis, previous: u32, desired: u32, state: &mut ScalerState) {
        if desired > previous {
            let cooldown_ms = match &self.policy {
                PolicySpec::AwsTargetTracking(p) => p.scale_out_cooldown_ms(),
                _ => self.guards.scale_out_cooldown_ms(),
            };
            let in_cooldown = state
                .last_scale_out_ms
                .is_some_and(|t| now - t < cooldown_ms);
            if !in_cooldown || state.cooldown_base_tasks.is_none() {
                state.cooldown_base_tasks = Some(previous);
            }
            state.last_scale_out_ms = Some(now);
            // AWS: a scale-out ends the scale-in cooldown rather than starting one.
            let aws = matches!(
                self.policy,
                PolicySpec::Step(_)
                    | PolicySpec::AwsStepScaling(_)
                    | PolicySpec::AwsTargetTracking(_)
            );
            if !aws {
                // v0.2: a scale-out also resets the scale-in record, so no scale-in follows
                // a scale-out within the scale-in cooldown.
                state.last_scale_in_ms = Some(now);
            }
        } else if desired < previous {
            state.last_scale_in_ms = Some(now);
        }
        if let Some(period_ms) = self.policy.rate_limit_period_ms() {
            while state
                .changes
                .front()
                .is_some_and(|c| now - c.at_ms >= period_ms)
            {
                state.changes.pop_front();
            }
            if desired != previous {
                state.changes.push_back(Change {
                    at_ms: now,
                    from: previous,
                    to: desired,
                });
            }
        }
    }
}

fn action_of(previous: u32, desired: u32) -> Action {
    match desired.cmp(&previous) {
        std::cmp::Ordering::Greater => Action::ScaleOut,
        std::cmp::Ordering::Less => Action::ScaleIn,
        std::cmp::Ordering::Equal => Action::Hold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::QueueSample;
    use crate::policy::TargetParams;

    /// The one-reading shortcut gives what the general sum gives, for every way of combining.
    #[test]
    fn one_reading_combines_as_many_do() {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..20_000 {
            let combine = [Combine::Max, Combine::Sum, Combine::Weighted][i % 3];
            let policy = PolicySpec::Target(TargetParams {
                include_in_flight: i % 2 == 0,
                ..TargetParams::default()
            });
            let weights = if i % 5 == 0 {
                vec![]
            } else {
                vec![(next() % 1000) as f64 / 7.0]
            };
            let c = Controller::new(policy, Guards::default(), combine, weights);
            let sample = QueueSample {
                visible: next() % 100_000,
                in_flight: next() % 1000,
                oldest_age_ms: (i % 4 != 0).then(|| next() % 1_000_000),
                arrival_rate_per_s: (i % 7 != 0).then(|| (next() % 10_000) as f64 / 3.0),
                max_useful_tasks: (i % 6 != 0).then(|| (next() % 50) as u32),
                ..QueueSample::default()
            };
            let readings = [Ok(sample)];
            assert_eq!(c.combine(&readings), c.combine_all(&readings), "{sample:?}");
        }
    }
}
