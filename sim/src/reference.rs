//! The policies a scenario is compared against (`compare --against slo,aws,keda`), derived
//! from the scenario's own facts: StepScale's `slo` untuned, and the reference policies (AWS
//! target tracking, AWS step scaling, KEDA) with the same per-task target; and the cadence
//! each reference runs at.

use std::fmt;

use serde::Serialize;
use stepscale_engine::policy::{
    AdjustmentType, AlarmSpec, AwsTargetTrackingParams, KedaParams, SloParams, StepBand,
    StepMetric, StepParams,
};
use stepscale_engine::{Config, Guards, PolicySpec};

use crate::model::Prepared;
use crate::scenario::Scenario;

/// One derived policy kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reference {
    /// StepScale's `slo`, untuned: the scenario's wait goal and plant, nothing searched.
    Slo,
    /// AWS Application Auto Scaling target tracking on backlog per task.
    AwsTargetTracking,
    /// AWS step scaling behind a CloudWatch alarm.
    AwsStepScaling,
    /// KEDA's queue scaler and the HPA.
    Keda,
}

impl Reference {
    /// Every reference (what AWS or KEDA would do), in table order.
    pub const ALL: [Self; 3] = [Self::AwsTargetTracking, Self::AwsStepScaling, Self::Keda];

    /// The policy kind's name, also the name of its policy file (`<name>.toml`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Slo => "slo",
            Self::AwsTargetTracking => "aws_target_tracking",
            Self::AwsStepScaling => "aws_step_scaling",
            Self::Keda => "keda",
        }
    }

    /// Parses a comma-separated `--against` list: `slo` (StepScale's, untuned), `aws` (both
    /// AWS kinds), `keda`, `all` (every one), or a kind's own name; duplicates are dropped,
    /// table order kept.
    ///
    /// # Errors
    /// The first unknown name, with what is accepted.
    pub fn parse_list(list: &str) -> Result<Vec<Self>, String> {
        let mut out = Vec::new();
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let kinds: &[Self] = match word {
                "aws" => &[Self::AwsTargetTracking, Self::AwsStepScaling],
                "keda" => &[Self::Keda],
                "slo" => &[Self::Slo],
                "aws_target_tracking" | "aws-target-tracking" => &[Self::AwsTargetTracking],
                "aws_step_scaling" | "aws-step-scaling" => &[Self::AwsStepScaling],
                "all" => &[
                    Self::Slo,
                    Self::AwsTargetTracking,
                    Self::AwsStepScaling,
                    Self::Keda,
                ],
                other => {
                    return Err(format!(
                        "{other:?}: expected slo, aws, keda, all, aws_target_tracking or aws_step_scaling (comma-separated)"
                    ));
                }
            };
            out.extend_from_slice(kinds);
        }
        if out.is_empty() {
            return Err("empty: expected slo, aws, keda or all".into());
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The backlog one task should carry, shared by every reference: AWS's documented rule for
/// queue workers, the longest acceptable latency (the scenario's SLO wait) over the time a task
/// takes per message (mean service time ÷ concurrency). The scenario's own policy does not
/// enter: a `target` policy's target may count in-flight messages, AWS's metric does not.
#[must_use]
pub fn per_task_target(scenario: &Scenario) -> f64 {
    let per_message =
        scenario.plant.service_time.mean_secs() / f64::from(scenario.plant.concurrency.max(1));
    (scenario.slo.wait_secs / per_message.max(1e-9)).max(1.0)
}

/// The scenario's configuration `base` (its queues and state kept) under the policy `kind`
/// at its documented defaults: the references with [`per_task_target`], `slo` with the
/// scenario's wait goal and plant; the scenario's task bounds (`min_tasks`, `max_tasks`) and
/// every other guard at its default; no forecast, no shadows.
#[must_use]
pub fn config(kind: Reference, scenario: &Scenario, base: &Config) -> Config {
    let (guards, policy) = derive(kind, scenario, &base.guards);
    let mut config = base.clone();
    config.guards = guards;
    config.policy = policy;
    config.forecast = None;
    config.shadow.clear();
    config
}

/// The guards and policy of [`config`].
fn derive(kind: Reference, scenario: &Scenario, base: &Guards) -> (Guards, PolicySpec) {
    let target = per_task_target(scenario);
    let mut guards = Guards {
        min_tasks: base.min_tasks,
        max_tasks: base.max_tasks,
        ..Guards::default()
    };
    let policy = match kind {
        Reference::Slo => {
            // As the shipped slo.toml: scale-outs free, scale-ins a minute apart.
            guards.scale_out_cooldown_secs = 0;
            guards.scale_in_cooldown_secs = 60;
            PolicySpec::Slo(SloParams {
                wait_secs: scenario.slo.wait_secs,
                service_secs: Some(scenario.plant.service_time.mean_secs()),
                concurrency: scenario.plant.concurrency.max(1),
                ..SloParams::default()
            })
        }
        Reference::AwsTargetTracking => PolicySpec::AwsTargetTracking(AwsTargetTrackingParams {
            target_value: target,
            ..AwsTargetTrackingParams::default()
        }),
        Reference::AwsStepScaling => {
            // AAS step scaling's `Cooldown` defaults to 300 s (CloudFormation's
            // StepScalingPolicyConfiguration).
            guards.scale_out_cooldown_secs = 300;
            guards.scale_in_cooldown_secs = 300;
            PolicySpec::AwsStepScaling(StepParams {
                metric: StepMetric::BacklogPerTask,
                include_in_flight: false,
                adjustment_type: AdjustmentType::PercentChangeInCapacity,
                scale_out_threshold: target,
                scale_in_threshold: target / 2.0,
                scale_out_steps: vec![
                    StepBand {
                        lower: Some(0.0),
                        upper: Some(target),
                        adjustment: 50.0,
                    },
                    StepBand {
                        lower: Some(target),
                        upper: None,
                        adjustment: 100.0,
                    },
                ],
                scale_in_steps: vec![StepBand {
                    lower: None,
                    upper: Some(0.0),
                    adjustment: -25.0,
                }],
                min_adjustment_magnitude: Some(1),
                alarm: Some(AlarmSpec::default()),
            })
        }
        Reference::Keda => PolicySpec::Keda(KedaParams {
            queue_length: target,
            ..KedaParams::default()
        }),
    };
    (guards, policy)
}

/// The controller period a policy runs at in a comparison: the greatest common divisor of its
/// own periods (metric period; HPA sync and KEDA poll), none for StepScale's own policies.
#[must_use]
pub fn cadence_secs(policy: &PolicySpec) -> Option<f64> {
    let gcd = |mut a: i64, mut b: i64| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    policy
        .own_periods()
        .into_iter()
        .map(|(_, s)| s)
        .reduce(gcd)
        .filter(|s| *s > 0)
        .map(|s| s as f64)
}

/// A derived reference as a policy file: what was assumed, for the user to read, edit to match
/// their set-up and run again with `backtest --policy`.
///
/// # Errors
/// When the policy cannot be rendered as TOML (it always can).
pub fn policy_file(
    kind: Reference,
    target: f64,
    guards: &Guards,
    policy: &PolicySpec,
) -> Result<String, toml::ser::Error> {
    #[derive(Serialize)]
    struct File<'a> {
        guards: &'a Guards,
        policy: &'a PolicySpec,
    }
    let body = toml::to_string(&File { guards, policy })?;
    let head = match kind {
        Reference::Slo => "StepScale's slo policy, untuned: the scenario's wait goal at the 99th percentile, the plant's mean service time and concurrency stated, as a user who knows their service would write it.",
        Reference::AwsTargetTracking => "AWS Application Auto Scaling target tracking on backlog per running task, at AWS's defaults: 3 of 3 one-minute datapoints above the target to scale out, 15 of 15 below 90 % of it to scale in, 300 s cooldowns.",
        Reference::AwsStepScaling => "AWS step scaling on backlog per task behind a one-minute CloudWatch alarm (1 of 1 datapoint), 300 s cooldown. Step scaling has no defaults: these bands are StepScale's assumption (+50 % up to twice the target, +100 % beyond; -25 % under half of it). Edit them to your own.",
        Reference::Keda => "KEDA's queue scaler with the HPA's defaults: 30 s polling, 300 s cooldownPeriod, 15 s sync, 10 % tolerance, scale-up max(4 pods, 100 %) per 15 s, scale-down window 300 s.",
    };
    Ok(format!(
        "# {} derived by `stepscale compare --against`.\n# {head}\n{}# min_tasks and max_tasks are the scenario's. Run it again with `backtest --policy`.\n{body}",
        kind.name(),
        if kind == Reference::Slo {
            String::new()
        } else {
            format!("# The target, {target} messages per task, is AWS's acceptable backlog per task for the\n# scenario: its SLO wait over the time a task takes per message (service time / concurrency).\n")
        }
    ))
}

/// `prepared` at the reference policy's own cadence (its decisions every [`cadence_secs`],
/// the scenario's jitter kept below half of it); none when the policy is not a reference or
/// already runs at it.
#[must_use]
pub fn run_at_cadence(prepared: &Prepared, policy: &PolicySpec) -> Option<Prepared> {
    if !policy.is_reference() {
        return None;
    }
    let cadence = cadence_secs(policy)?;
    if (cadence - prepared.schedule.period_secs).abs() < 1e-9 {
        return None;
    }
    let mut p = prepared.clone();
    p.schedule.period_secs = cadence;
    p.schedule.jitter_secs = p.schedule.jitter_secs.min(cadence / 2.0);
    Some(p)
}
