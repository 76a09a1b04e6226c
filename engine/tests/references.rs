//! The reference policies against their documentation: AWS target tracking, AWS step scaling
//! behind its alarm, and KEDA with the HPA, as timelines and as properties.

use proptest::prelude::*;
use stepscale_engine::policy::{
    AlarmSpec, AwsTargetTrackingParams, Combine, KedaParams, StepBand, StepMetric, StepParams,
};
use stepscale_engine::{
    Action, Controller, Decision, Guards, Limit, PolicySpec, QueueSample, ScalerState, ServiceState,
};

fn guards(min: u32, max: u32) -> Guards {
    Guards {
        min_tasks: min,
        max_tasks: max,
        scale_out_cooldown_secs: 0,
        scale_in_cooldown_secs: 0,
        ..Guards::default()
    }
}

/// A policy, its state and the service it drives: every tick sets desired to the decision
/// and, unless told otherwise, every desired task runs at once.
struct Run {
    controller: Controller,
    state: ScalerState,
    service: ServiceState,
}

impl Run {
    fn new(policy: PolicySpec, g: Guards, tasks: u32) -> Self {
        Self {
            controller: Controller::new(policy, g, Combine::Max, vec![]),
            state: ScalerState::default(),
            service: ServiceState::settled(tasks),
        }
    }

    /// One decision at `at_s` with `visible` messages; the service settles at the new count.
    fn tick(&mut self, at_s: i64, visible: u64) -> Decision {
        let d = self.tick_unsettled(at_s, visible);
        self.service = ServiceState::settled(d.desired);
        d
    }

    /// One decision; the new tasks stay pending (running does not change).
    fn tick_unsettled(&mut self, at_s: i64, visible: u64) -> Decision {
        let d = self.controller.tick(
            &(at_s * 1000),
            &[Ok(QueueSample::visible(visible))],
            self.service,
            &mut self.state,
        );
        self.service.desired = d.desired;
        d
    }
}

fn aws_target(target: f64) -> PolicySpec {
    PolicySpec::AwsTargetTracking(AwsTargetTrackingParams {
        target_value: target,
        ..AwsTargetTrackingParams::default()
    })
}

/// AWS: the high alarm needs 3 of 3 one-minute datapoints above the target, and a datapoint is
/// the average of its minute, seen after the minute ends. The first scale-out comes at the
/// third minute's end, proportional to the metric: ceil(2 × 200 / 100) = 4.
#[test]
fn aws_target_tracking_scales_out_after_three_datapoints_above_target() {
    let mut run = Run::new(aws_target(100.0), guards(1, 100), 2);
    // Backlog 400 over 2 running tasks: 200 per task, twice the target.
    let holds: Vec<_> = (0..3).map(|m| run.tick(m * 60, 400)).collect();
    for d in &holds {
        assert_eq!(d.action, Action::Hold, "{d:?}");
    }
    let d = run.tick(180, 400);
    assert_eq!((d.action, d.desired), (Action::ScaleOut, 4), "{d:?}");
}

/// Capacity follows the metric: 350 per task at 2 tasks and a target of 100 gives 7.
#[test]
fn aws_target_tracking_scale_out_is_proportional() {
    let mut run = Run::new(aws_target(100.0), guards(1, 100), 2);
    for m in 0..4 {
        run.tick(m * 60, 700);
    }
    assert_eq!(run.service.desired, 7);
}

/// Inside the scale-out cooldown the capacity the scale-out added counts: the same metric adds
/// nothing more, a larger one adds only its extra over the capacity before the cooldown.
#[test]
fn aws_target_tracking_scale_out_cooldown_counts_the_added_capacity() {
    let mut run = Run::new(aws_target(100.0), guards(1, 100), 2);
    for m in 0..3 {
        run.tick_unsettled(m * 60, 400);
    }
    let first = run.tick_unsettled(180, 400);
    assert_eq!(first.desired, 4);
    // Two tasks still starting: the metric (over running tasks) stays at 200.
    let held = run.tick_unsettled(240, 400);
    assert_eq!(
        (held.desired, held.limited_by),
        (4, Some(Limit::ScaleOutCooldown))
    );
    // Three times the target: 2 × 3 = 6 from the capacity before the cooldown.
    run.tick_unsettled(300, 600);
    let larger = run.tick_unsettled(360, 600);
    assert_eq!(larger.desired, 6, "{larger:?}");
}

/// AWS: the low alarm needs 15 of 15 datapoints below about 90 % of the target; scale-in is
/// proportional and then blocked for the scale-in cooldown (300 s).
#[test]
fn aws_target_tracking_scales_in_after_fifteen_datapoints_then_waits_the_cooldown() {
    let mut run = Run::new(aws_target(100.0), guards(1, 100), 10);
    // 500 over 10 tasks: 50 per task, half the target.
    for m in 0..15 {
        let d = run.tick(m * 60, 500);
        assert_eq!(d.action, Action::Hold, "minute {m}: {d:?}");
    }
    let d = run.tick(15 * 60, 500);
    assert_eq!((d.action, d.desired), (Action::ScaleIn, 5), "{d:?}");
    // 100 messages over 5 tasks: 20 per task. The low alarm stays in ALARM and fires every
    // minute; the scale-in cooldown (300 s from 900 s) holds it until 1,200 s.
    for m in 16..20 {
        let d = run.tick(m * 60, 100);
        assert_eq!(
            (d.action, d.limited_by),
            (Action::Hold, Some(Limit::ScaleInCooldown)),
            "minute {m}: {d:?}"
        );
    }
    let d = run.tick(20 * 60, 100);
    assert_eq!((d.action, d.desired), (Action::ScaleIn, 1), "{d:?}");
}

#[test]
fn aws_target_tracking_scale_in_cooldown_blocks_only_scale_in() {
    let p = aws_target(100.0);
    let mut run = Run::new(p, guards(1, 100), 10);
    for m in 0..16 {
        run.tick(m * 60, 500);
    }
    assert_eq!(run.service.desired, 5);
    // Still below: the low alarm fires again a minute later, inside the cooldown.
    let held = run.tick(16 * 60, 100);
    assert_eq!(
        (held.action, held.limited_by),
        (Action::Hold, Some(Limit::ScaleInCooldown))
    );
    // A burst inside the scale-in cooldown scales out at once (3 datapoints above).
    for m in 17..20 {
        run.tick(m * 60, 2_000);
    }
    let out = run.tick(20 * 60, 2_000);
    assert_eq!(out.action, Action::ScaleOut, "{out:?}");
}

/// Between the low threshold (90) and the target nothing happens, however long.
#[test]
fn aws_target_tracking_keeps_capacity_just_under_the_target() {
    let mut run = Run::new(aws_target(100.0), guards(1, 100), 10);
    for m in 0..60 {
        let d = run.tick(m * 60, 950);
        assert_eq!(d.action, Action::Hold, "{d:?}");
    }
}

#[test]
fn aws_target_tracking_disable_scale_in_never_removes_capacity() {
    let p = PolicySpec::AwsTargetTracking(AwsTargetTrackingParams {
        target_value: 100.0,
        disable_scale_in: true,
        ..AwsTargetTrackingParams::default()
    });
    let mut run = Run::new(p, guards(1, 100), 10);
    for m in 0..60 {
        assert_ne!(run.tick(m * 60, 0).action, Action::ScaleIn);
    }
}

/// Backlog per *running* task has no datapoint while no task runs: target tracking on it
/// cannot start a service from zero, as on AWS.
#[test]
fn aws_target_tracking_cannot_scale_from_zero_running_tasks() {
    let mut run = Run::new(aws_target(100.0), guards(0, 100), 0);
    for m in 0..10 {
        assert_eq!(run.tick(m * 60, 10_000).desired, 0);
    }
}

/// With ticks every 15 s, a datapoint averages its minute's four samples.
#[test]
fn aws_target_tracking_averages_the_samples_of_a_period() {
    let mut run = Run::new(aws_target(100.0), guards(1, 100), 1);
    // Per minute: 3 samples of 0 and one of 1,000: average 250 per task.
    for m in 0..4 {
        for (q, v) in [0, 0, 0, 1_000].into_iter().enumerate() {
            run.tick_unsettled(m * 60 + q as i64 * 15, v);
        }
    }
    // Three closed minutes at 250: ceil(1 × 2.5) = 3.
    assert_eq!(run.tick(240, 0).desired, 3);
}

fn aws_step(alarm: AlarmSpec) -> PolicySpec {
    PolicySpec::AwsStepScaling(StepParams {
        metric: StepMetric::Backlog,
        scale_out_threshold: 100.0,
        scale_in_threshold: 10.0,
        scale_out_steps: vec![
            StepBand {
                lower: Some(0.0),
                upper: Some(400.0),
                adjustment: 1.0,
            },
            StepBand {
                lower: Some(400.0),
                upper: None,
                adjustment: 3.0,
            },
        ],
        alarm: Some(alarm),
        ..StepParams::default()
    })
}

/// AWS step scaling acts on its alarm's datapoint, one period late: a breach in minute 0 is
/// acted on at the end of minute 0, and again every minute the alarm stays in ALARM.
#[test]
fn aws_step_scaling_acts_on_each_closed_datapoint_in_alarm() {
    let mut run = Run::new(aws_step(AlarmSpec::default()), guards(1, 100), 2);
    assert_eq!(run.tick(0, 200).action, Action::Hold);
    assert_eq!(run.tick(60, 200).desired, 3);
    assert_eq!(
        run.tick(120, 900).desired,
        4,
        "minute 1's datapoint was 200"
    );
    assert_eq!(
        run.tick(180, 0).desired,
        7,
        "minute 2's was 900: the +3 band"
    );
}

/// 2 of 3 datapoints: one breach is not enough, two in the last three are; the steps apply to
/// the newest breaching datapoint.
#[test]
fn aws_step_scaling_m_of_n() {
    let alarm = AlarmSpec {
        evaluation_periods: 3,
        datapoints_to_alarm: 2,
        ..AlarmSpec::default()
    };
    let mut run = Run::new(aws_step(alarm), guards(1, 100), 2);
    run.tick(0, 600);
    assert_eq!(run.tick(60, 50).action, Action::Hold);
    assert_eq!(run.tick(120, 200).action, Action::Hold, "1 of 3");
    let d = run.tick(180, 50);
    assert_eq!(
        d.desired, 3,
        "2 of 3; the newest breach (200) is in the +1 band: {d:?}"
    );
}

/// The default alarm under `aws_step_scaling` is one one-minute datapoint; `step` without
/// `[policy.alarm]` acts on every reading.
#[test]
fn step_without_an_alarm_acts_at_once() {
    let PolicySpec::AwsStepScaling(mut p) = aws_step(AlarmSpec::default()) else {
        unreachable!()
    };
    p.alarm = None;
    let mut plain = Run::new(PolicySpec::Step(p.clone()), guards(1, 100), 2);
    assert_eq!(plain.tick(0, 200).desired, 3);
    let mut aws = Run::new(PolicySpec::AwsStepScaling(p), guards(1, 100), 2);
    assert_eq!(aws.tick(0, 200).desired, 2);
    assert_eq!(aws.tick(60, 200).desired, 3);
}

/// With two queues summed and one failing, the answering queue's smaller count is no
/// datapoint: fifteen minutes of partial reads do not fire the low alarm once reads recover.
#[test]
fn a_partial_read_is_no_datapoint_for_the_alarms() {
    use stepscale_engine::ReadFailure;
    let controller = Controller::new(aws_target(100.0), guards(1, 100), Combine::Sum, vec![]);
    let mut state = ScalerState::default();
    let service = ServiceState::settled(10);
    // 500 + 1,500 on 10 tasks: 200 per task, twice the target; the second queue fails, and
    // the first alone is 50 per task.
    for m in 0..16 {
        let readings = [
            Ok(QueueSample::visible(500)),
            Err(ReadFailure::new("connection refused")),
        ];
        let d = controller.tick(&(m * 60_000), &readings, service, &mut state);
        assert_eq!(d.action, Action::Hold, "minute {m}: {d:?}");
    }
    // Reads recover with the queues as they were: still 200 per task. Had the partial sums
    // (50 per task, under 90) been datapoints, the low alarm would now scale in.
    let whole = [
        Ok(QueueSample::visible(500)),
        Ok(QueueSample::visible(1_500)),
    ];
    let d = controller.tick(&(16 * 60_000), &whole, service, &mut state);
    assert_ne!(d.action, Action::ScaleIn, "{d:?}");
    let points = &state.reference.as_ref().unwrap().datapoints;
    assert!(points.closed.is_empty(), "{points:?}");
}

fn keda() -> PolicySpec {
    PolicySpec::Keda(KedaParams::default())
}

/// KEDA activates a workload at 0 on its poll; the HPA then sizes it: ceil(queue ÷ 5).
#[test]
fn keda_activates_from_zero_then_the_hpa_sizes() {
    let mut run = Run::new(keda(), guards(0, 100), 0);
    let d = run.tick(0, 20);
    assert_eq!(d.desired, 1, "{d:?}");
    // The HPA's next sync: 20 / 5 = 4 (within its +4 / +100 % per 15 s).
    assert_eq!(run.tick(15, 20).desired, 4);
}

/// The HPA's default scale-up: at most max(4 pods, 100 %) per 15 s.
#[test]
fn keda_hpa_scale_up_is_limited_per_period() {
    let mut run = Run::new(keda(), guards(1, 1_000), 1);
    let seen: Vec<u32> = (0..4).map(|i| run.tick(i * 15, 5_000).desired).collect();
    assert_eq!(seen, vec![5, 10, 20, 40]);
}

/// Within 10 % of the target nothing changes; scale-down waits out the 300 s window.
#[test]
fn keda_hpa_tolerance_and_scale_down_stabilization() {
    let mut run = Run::new(keda(), guards(1, 100), 10);
    assert_eq!(
        run.tick(0, 54).desired,
        10,
        "54 / 50 = 1.08: within tolerance"
    );
    // The 10 recommended at 0 s holds scale-down until it leaves the window.
    for i in 1..20 {
        let d = run.tick(i * 15, 10);
        assert_eq!(d.desired, 10, "{}s: {d:?}", i * 15);
    }
    let d = run.tick(300, 10);
    assert_eq!((d.action, d.desired), (Action::ScaleIn, 2), "{d:?}");
}

/// An inactive scaler takes the workload to 0 after `cooldownPeriod` (300 s) since it was
/// last active, and only when the minimum is 0.
#[test]
fn keda_scales_to_zero_after_the_cooldown_period() {
    let mut run = Run::new(keda(), guards(0, 100), 2);
    run.tick(0, 10);
    let mut zero_at = None;
    for i in 1..=24 {
        let d = run.tick(i * 15, 0);
        if d.desired == 0 {
            zero_at = Some(i * 15);
            break;
        }
    }
    assert_eq!(
        zero_at,
        Some(300),
        "the first poll at or after 300 s since active"
    );
    let mut kept = Run::new(keda(), guards(1, 100), 2);
    kept.tick(0, 10);
    for i in 1..=40 {
        assert!(kept.tick(i * 15, 0).desired >= 1);
    }
}

/// The controller's own limits that StepScale's policies use (max_step) do not apply to the
/// references: they act as AWS and KEDA do.
#[test]
fn references_ignore_stepscale_only_guards() {
    let g = Guards {
        max_step: Some(1),
        ..guards(1, 1_000)
    };
    let mut run = Run::new(keda(), g, 1);
    assert_eq!(run.tick(0, 5_000).desired, 5);
}

fn reference_policies() -> impl Strategy<Value = PolicySpec> {
    prop_oneof![
        (
            1.0f64..500.0,
            1u32..5,
            1u32..20,
            0i64..900,
            0i64..900,
            any::<bool>()
        )
            .prop_map(|(target, out_n, in_n, out_cd, in_cd, disable)| {
                PolicySpec::AwsTargetTracking(AwsTargetTrackingParams {
                    target_value: target,
                    scale_out_evaluation_periods: out_n,
                    scale_in_evaluation_periods: in_n,
                    scale_out_cooldown_secs: out_cd,
                    scale_in_cooldown_secs: in_cd,
                    disable_scale_in: disable,
                    ..AwsTargetTrackingParams::default()
                })
            }),
        (1u32..5, 1.0f64..500.0).prop_map(|(n, threshold)| {
            let PolicySpec::AwsStepScaling(mut p) = aws_step(AlarmSpec {
                evaluation_periods: n,
                datapoints_to_alarm: n,
                ..AlarmSpec::default()
            }) else {
                unreachable!()
            };
            p.scale_out_threshold = threshold + 10.0;
            PolicySpec::AwsStepScaling(p)
        }),
        (1.0f64..50.0, 0.0f64..10.0, 0i64..600).prop_map(|(q, activation, cooldown)| {
            PolicySpec::Keda(KedaParams {
                queue_length: q,
                activation_queue_length: activation,
                cooldown_period_secs: cooldown,
                ..KedaParams::default()
            })
        }),
    ]
}

proptest! {
    /// Over any run of readings: within the bounds, never a scale-in within the AWS
    /// scale-in cooldown of the last scale-in (unless a scale-out came after it), and an AWS
    /// target-tracking scale-out is the ceiling of capacity × datapoint ÷ target.
    #[test]
    fn reference_invariants(
        policy in reference_policies(),
        min in 0u32..3, span in 1u32..200,
        visibles in proptest::collection::vec(0u64..20_000, 1..80),
        period in prop_oneof![Just(15i64), Just(30), Just(60)],
    ) {
        let g = guards(min, min + span);
        let mut run = Run::new(policy.clone(), g.clone(), min.max(1));
        let mut last_in: Option<i64> = None;
        let mut last_out: Option<i64> = None;
        for (i, v) in visibles.iter().enumerate() {
            let at = i as i64 * period;
            let before = run.service.desired;
            let d = run.tick(at, *v);
            prop_assert!(d.desired >= g.min_tasks && d.desired <= g.max_tasks, "{d:?}");
            if let PolicySpec::AwsTargetTracking(p) = &policy {
                if d.action == Action::ScaleIn {
                    prop_assert!(!p.disable_scale_in);
                    if let Some(t) = last_in {
                        let ended = last_out.is_some_and(|o| o > t);
                        prop_assert!(ended || at - t >= p.scale_in_cooldown_secs, "{d:?}");
                    }
                }
                if d.action == Action::ScaleOut && d.limited_by.is_none() {
                    if let stepscale_engine::Reason::AlarmHigh { metric, threshold, tasks } = d.reason {
                        prop_assert!(metric > threshold);
                        prop_assert_eq!(d.desired, tasks);
                        prop_assert!(tasks > before);
                    }
                }
            }
            match d.action {
                Action::ScaleIn => last_in = Some(at),
                Action::ScaleOut => last_out = Some(at),
                Action::Hold => {}
            }
        }
        let json = serde_json::to_string(&run.state).unwrap();
        let back: ScalerState = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, run.state);
    }
}
