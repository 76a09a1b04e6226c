//! `keda`: a KEDA queue scaler with the Kubernetes HPA behind it, as their documentation
//! describes them, for backtesting against.
//!
//! KEDA polls the queue every `polling_interval_secs`. The scaler is active when the queue
//! length is above `activation_queue_length`; KEDA alone moves the workload between 0 and 1:
//! an active scaler at 0 replicas scales to 1, and a scaler inactive for `cooldown_period_secs`
//! (since it was last active) scales to 0 when the minimum (`guards.min_tasks`, KEDA's
//! `minReplicaCount`) is 0. Above 0 the HPA decides every `sync_period_secs` on the
//! `AverageValue` metric: desired = ceil(queue length ÷ `queue_length`), unchanged while
//! queue length ÷ (replicas × target) is within `tolerance` of 1. Its default behaviour: no
//! scale-up stabilization and at most max(4 pods, 100 %) added per 15 s; scale-down
//! stabilized over 300 s (the highest recommendation in the window wins) and at most 100 %
//! removed per 15 s. `guards.max_tasks` is `maxReplicaCount`.

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::decision::{Limit, Reason};
use crate::policy::target::TargetParams;
use crate::state::ScalerState;

/// Parameters of the `keda` policy; names follow a `ScaledObject` and the HPA's `behavior`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KedaParams {
    /// The target queue length per replica (the SQS scaler's `queueLength`, default 5).
    pub queue_length: f64,
    /// The scaler is active above this queue length (`activationQueueLength`, default 0).
    pub activation_queue_length: f64,
    /// Count in-flight messages (the SQS scaler's `scaleOnInFlight`, default true).
    pub scale_on_in_flight: bool,
    /// `pollingInterval`, seconds (default 30).
    pub polling_interval_secs: i64,
    /// `cooldownPeriod`, seconds before an inactive workload goes to 0 (default 300).
    pub cooldown_period_secs: i64,
    /// The HPA controller's `--horizontal-pod-autoscaler-sync-period`, seconds (default 15).
    pub sync_period_secs: i64,
    /// The HPA's `--horizontal-pod-autoscaler-tolerance` (default 0.1).
    pub tolerance: f64,
    /// `behavior.scaleDown.stabilizationWindowSeconds` (default 300).
    pub scale_down_stabilization_secs: i64,
    /// `behavior.scaleUp` policy of type `Pods`: pods added per period (default 4).
    pub scale_up_pods: u32,
    /// `behavior.scaleUp` policy of type `Percent` (default 100).
    pub scale_up_percent: f64,
    /// `behavior.scaleDown` policy of type `Percent` (default 100).
    pub scale_down_percent: f64,
    /// The policies' `periodSeconds` (default 15).
    pub policy_period_secs: i64,
}

impl Default for KedaParams {
    fn default() -> Self {
        Self {
            queue_length: 5.0,
            activation_queue_length: 0.0,
            scale_on_in_flight: true,
            polling_interval_secs: 30,
            cooldown_period_secs: 300,
            sync_period_secs: 15,
            tolerance: 0.1,
            scale_down_stabilization_secs: 300,
            scale_up_pods: 4,
            scale_up_percent: 100.0,
            scale_down_percent: 100.0,
            policy_period_secs: 15,
        }
    }
}

impl KedaParams {
    /// The HPA as a `target` policy: same formula, tolerance, scale-down window and rate
    /// limits (the most permissive scale-up policy applies, `selectPolicy: Max`).
    #[must_use]
    pub fn hpa(&self) -> TargetParams {
        TargetParams {
            target_backlog_per_task: self.queue_length,
            include_in_flight: self.scale_on_in_flight,
            tolerance: self.tolerance,
            scale_in_stabilization_secs: self.scale_down_stabilization_secs,
            scale_out_limit_tasks: Some(self.scale_up_pods),
            scale_out_limit_percent: Some(self.scale_up_percent),
            scale_in_limit_tasks: None,
            scale_in_limit_percent: Some(self.scale_down_percent),
            limit_period_secs: self.policy_period_secs,
        }
    }

    /// The recommendation for queue length `metric` at `current` replicas; `min_replicas` is
    /// `guards.min_tasks`.
    pub fn recommend(
        &self,
        metric: f64,
        current: u32,
        min_replicas: u32,
        now: Millis,
        state: &mut ScalerState,
    ) -> (u32, Reason, Option<Limit>) {
        let active = metric > self.activation_queue_length;
        let poll = now.div_euclid(self.polling_interval_secs.max(1).saturating_mul(1000));
        let sync = now.div_euclid(self.sync_period_secs.max(1).saturating_mul(1000));
        let reference = state.reference_mut();
        let polled = reference.last_poll != Some(poll);
        if polled {
            reference.last_poll = Some(poll);
        }
        // Inactive since the first decision counts from it, as from a new ScaledObject.
        let last_active = *reference.last_active_ms.get_or_insert(now);
        if polled && active {
            reference.last_active_ms = Some(now);
        }
        let activation = Reason::Activation {
            metric,
            activation: self.activation_queue_length,
            active,
        };
        if current == 0 {
            if polled && active {
                return (min_replicas.max(1), activation, None);
            }
            return (0, activation, None);
        }
        let cooled = now - last_active >= self.cooldown_period_secs.saturating_mul(1000);
        if polled && !active && min_replicas == 0 && cooled {
            return (0, activation, None);
        }
        if reference.last_sync == Some(sync) {
            return (
                current,
                Reason::AwaitingPeriod {
                    period_secs: self.sync_period_secs,
                },
                None,
            );
        }
        reference.last_sync = Some(sync);
        let (desired, reason, limit) = self.hpa().recommend(metric, current, now, state);
        // The HPA's own minimum is at least 1: only KEDA takes the workload to 0.
        if desired < 1 {
            return (1, reason, Some(Limit::MinTasks));
        }
        (desired, reason, limit)
    }
}
