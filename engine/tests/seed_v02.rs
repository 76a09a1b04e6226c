//! fast-autoscaler v0.2's own test cases, as a table, against the `seed` policy.

use stepscale_engine::policy::{Combine, SeedParams};
use stepscale_engine::{
    Action, Controller, Guards, Limit, PolicySpec, QueueSample, ScalerState, ServiceState,
};

struct Case {
    name: &'static str,
    tasks: u32,
    messages: u64,
    min: u32,
    max: u32,
    factor: f64,
    in_cooldown_secs: i64,
    last_scale_in_secs_ago: Option<i64>,
    want: u32,
}

const fn case(name: &'static str, tasks: u32, messages: u64, want: u32) -> Case {
    Case {
        name,
        tasks,
        messages,
        min: 1,
        max: 300,
        factor: 0.99,
        in_cooldown_secs: 60,
        last_scale_in_secs_ago: None,
        want,
    }
}

#[test]
fn v02_cases_decide_as_v02_did() {
    let cases = [
        case("scale out: 10 tasks, 200 msgs, 0.01 per msg", 10, 200, 12),
        Case {
            factor: 0.5,
            ..case("scale in by factor 0.5", 10, 5, 5)
        },
        Case {
            min: 3,
            factor: 0.5,
            ..case("scale in floors at min", 5, 1, 3)
        },
        Case {
            max: 100,
            ..case("scale out caps at max", 90, 5000, 100)
        },
        case("between thresholds holds", 10, 50, 10),
        Case {
            last_scale_in_secs_ago: Some(10),
            ..case("scale out during cooldown is allowed", 10, 200, 12)
        },
        Case {
            factor: 0.5,
            last_scale_in_secs_ago: Some(10),
            ..case(
                "scale in 10 s after a scale-in (60 s cooldown) is refused",
                10,
                5,
                10,
            )
        },
        Case {
            factor: 0.5,
            last_scale_in_secs_ago: Some(70),
            ..case(
                "scale in 70 s after a scale-in (60 s cooldown) is allowed",
                10,
                5,
                5,
            )
        },
    ];
    for c in cases {
        let policy = PolicySpec::Seed(SeedParams {
            scale_up_threshold: 100.0,
            scale_down_threshold: 10.0,
            tasks_per_message: 0.01,
            max_scale_down_factor: c.factor,
            use_combined_messages: false,
        });
        let guards = Guards {
            min_tasks: c.min,
            max_tasks: c.max,
            scale_in_cooldown_secs: c.in_cooldown_secs,
            ..Guards::default()
        };
        let controller = Controller::new(policy, guards, Combine::default(), vec![]);
        let now: i64 = 1_000_000_000;
        let mut state = ScalerState {
            last_scale_in_ms: c.last_scale_in_secs_ago.map(|s| now - s * 1000),
            ..ScalerState::default()
        };
        let d = controller.tick(
            &now,
            &[Ok(QueueSample::visible(c.messages))],
            ServiceState::settled(c.tasks),
            &mut state,
        );
        assert_eq!(d.desired, c.want, "{}: {d:?}", c.name);
    }
}

#[test]
fn a_scale_out_resets_the_scale_in_record() {
    let controller = Controller::new(
        PolicySpec::Seed(SeedParams {
            scale_down_threshold: 10.0,
            ..SeedParams::default()
        }),
        Guards {
            min_tasks: 1,
            scale_in_cooldown_secs: 60,
            ..Guards::default()
        },
        Combine::default(),
        vec![],
    );
    let mut state = ScalerState::default();
    let out = controller.tick(
        &0,
        &[Ok(QueueSample::visible(500))],
        ServiceState::settled(10),
        &mut state,
    );
    assert_eq!((out.action, out.desired), (Action::ScaleOut, 15));
    assert_eq!(state.last_scale_in_ms, Some(0));
    let refused = controller.tick(
        &30_000,
        &[Ok(QueueSample::visible(0))],
        ServiceState::settled(15),
        &mut state,
    );
    assert_eq!(refused.action, Action::Hold);
    assert_eq!(refused.limited_by, Some(Limit::ScaleInCooldown));
    let allowed = controller.tick(
        &61_000,
        &[Ok(QueueSample::visible(0))],
        ServiceState::settled(15),
        &mut state,
    );
    assert_eq!((allowed.action, allowed.desired), (Action::ScaleIn, 14));
}

#[test]
fn a_failed_read_holds_where_v02_scaled_in() {
    // v0.2 read a failed SQS call as 0 messages and went from 20 tasks to 19.
    let controller = Controller::new(
        PolicySpec::default(),
        Guards::default(),
        Combine::default(),
        vec![],
    );
    let mut state = ScalerState::default();
    let d = controller.tick(
        &0,
        &[Err(stepscale_engine::ReadFailure::new("AccessDenied"))],
        ServiceState::settled(20),
        &mut state,
    );
    assert_eq!((d.action, d.desired), (Action::Hold, 20));
    assert_eq!(d.limited_by, Some(Limit::MetricFailure));
    assert_eq!(state.consecutive_failures, 1);
}

#[test]
fn fallback_raises_after_n_failures_and_never_lowers() {
    let guards = Guards {
        min_tasks: 1,
        failure_fallback_after: 2,
        on_metric_failure: stepscale_engine::FailureFallback::Fixed(8),
        ..Guards::default()
    };
    let controller = Controller::new(PolicySpec::default(), guards, Combine::default(), vec![]);
    let fail = [Err(stepscale_engine::ReadFailure::new("timeout"))];
    let mut state = ScalerState::default();
    assert_eq!(
        controller
            .tick(&0, &fail, ServiceState::settled(5), &mut state)
            .desired,
        5
    );
    assert_eq!(
        controller
            .tick(&60_000, &fail, ServiceState::settled(5), &mut state)
            .desired,
        8
    );
    let mut state = ScalerState::default();
    controller.tick(&0, &fail, ServiceState::settled(20), &mut state);
    assert_eq!(
        controller
            .tick(&60_000, &fail, ServiceState::settled(20), &mut state)
            .desired,
        20
    );
}
