//! Properties of every policy: bounds, cooldowns, monotonicity, failed reads, state round trip.

use proptest::prelude::*;
use stepscale_engine::policy::{
    Combine, SeedParams, SloParams, StepBand, StepParams, TargetParams,
};
use stepscale_engine::{
    Action, Controller, Guards, PolicySpec, QueueSample, ReadFailure, ScalerState, ServiceState,
};

fn policies() -> impl Strategy<Value = PolicySpec> {
    prop_oneof![
        (
            0.0f64..500.0,
            0.0f64..1.0,
            0.001f64..0.2,
            0.1f64..=1.0,
            any::<bool>()
        )
            .prop_map(
                |(down, gap, tpm, factor, combined)| PolicySpec::Seed(SeedParams {
                    scale_up_threshold: down + gap * 500.0,
                    scale_down_threshold: down,
                    tasks_per_message: tpm,
                    max_scale_down_factor: factor,
                    use_combined_messages: combined,
                })
            ),
        (1.0f64..500.0, 0.0f64..100.0, 1.0f64..5.0).prop_map(|(out, inn, adj)| {
            PolicySpec::Step(StepParams {
                scale_out_threshold: out + inn,
                scale_in_threshold: inn,
                scale_out_steps: vec![
                    StepBand {
                        lower: Some(0.0),
                        upper: Some(200.0),
                        adjustment: adj.floor(),
                    },
                    StepBand {
                        lower: Some(200.0),
                        upper: None,
                        adjustment: adj.floor() + 2.0,
                    },
                ],
                scale_in_steps: vec![StepBand {
                    lower: None,
                    upper: Some(0.0),
                    adjustment: -1.0,
                }],
                ..StepParams::default()
            })
        }),
        (1.0f64..200.0, 0.0f64..0.5, 0i64..600).prop_map(|(per_task, tol, window)| {
            PolicySpec::Target(TargetParams {
                target_backlog_per_task: per_task,
                tolerance: tol,
                scale_in_stabilization_secs: window,
                ..TargetParams::default()
            })
        }),
        (
            1.0f64..600.0,
            0.5f64..0.999,
            proptest::option::of(0.01f64..10.0),
            1u32..8,
            0i64..600,
        )
            .prop_map(|(wait, quantile, service, concurrency, window)| {
                PolicySpec::Slo(SloParams {
                    wait_secs: wait,
                    quantile,
                    service_secs: service,
                    concurrency,
                    scale_in_stabilization_secs: window,
                    ..SloParams::default()
                })
            }),
    ]
}

fn guards() -> impl Strategy<Value = Guards> {
    (
        0u32..20,
        0u32..100,
        0i64..600,
        0i64..600,
        proptest::option::of(1u32..20),
    )
        .prop_map(|(min, span, out_cd, in_cd, step)| Guards {
            min_tasks: min,
            max_tasks: min + span,
            scale_out_cooldown_secs: out_cd,
            scale_in_cooldown_secs: in_cd,
            max_step: step,
            ..Guards::default()
        })
}

/// A state as it could be after some history, relative to now = 1e9 ms.
fn states() -> impl Strategy<Value = ScalerState> {
    (
        proptest::option::of(0i64..900_000),
        proptest::option::of(0i64..900_000),
        0u32..5,
    )
        .prop_map(|(out_ago, in_ago, failures)| ScalerState {
            last_scale_out_ms: out_ago.map(|a| NOW - a),
            last_scale_in_ms: in_ago.map(|a| NOW - a),
            consecutive_failures: failures,
            ..ScalerState::default()
        })
}

const NOW: i64 = 1_000_000_000;

proptest! {
    #[test]
    fn desired_stays_within_bounds(
        policy in policies(), g in guards(), state in states(),
        visible in 0u64..100_000, in_flight in 0u64..10_000, current in 0u32..200,
    ) {
        let c = Controller::new(policy, g.clone(), Combine::Max, vec![]);
        let current = g.clamp(current);
        let mut s = state;
        let sample = QueueSample { visible, in_flight, ..QueueSample::default() };
        let d = c.tick(&NOW, &[Ok(sample)], ServiceState::settled(current), &mut s);
        prop_assert!(d.desired >= g.min_tasks && d.desired <= g.max_tasks, "{d:?}");
    }

    #[test]
    fn no_scale_in_inside_the_cooldown(
        policy in policies(), g in guards(), visible in 0u64..100_000, current in 0u32..200,
        ago in 0i64..600,
    ) {
        prop_assume!(ago < g.scale_in_cooldown_secs);
        let c = Controller::new(policy, g.clone(), Combine::Max, vec![]);
        let current = g.clamp(current);
        let mut s = ScalerState { last_scale_in_ms: Some(NOW - ago * 1000), ..ScalerState::default() };
        let d = c.tick(&NOW, &[Ok(QueueSample::visible(visible))], ServiceState::settled(current), &mut s);
        prop_assert_ne!(d.action, Action::ScaleIn, "{:?}", d);
    }

    #[test]
    fn more_backlog_never_lowers_desired(
        policy in policies(), g in guards(), state in states(),
        visible in 0u64..100_000, extra in 0u64..100_000, current in 0u32..200,
    ) {
        let c = Controller::new(policy, g.clone(), Combine::Max, vec![]);
        let current = g.clamp(current);
        let mut s1 = state.clone();
        let mut s2 = state;
        let svc = ServiceState::settled(current);
        let low = c.tick(&NOW, &[Ok(QueueSample::visible(visible))], svc, &mut s1);
        let high = c.tick(&NOW, &[Ok(QueueSample::visible(visible + extra))], svc, &mut s2);
        prop_assert!(high.desired >= low.desired, "{low:?} {high:?}");
    }

    #[test]
    fn a_failed_read_never_scales_in(
        policy in policies(), g in guards(), state in states(), current in 0u32..400,
        other in proptest::option::of(0u64..100_000),
    ) {
        let c = Controller::new(policy, g, Combine::Max, vec![]);
        let mut s = state;
        let mut readings = vec![Err(ReadFailure::new("connection refused"))];
        if let Some(v) = other {
            readings.push(Ok(QueueSample::visible(v)));
        }
        let d = c.tick(&NOW, &readings, ServiceState::settled(current), &mut s);
        prop_assert_ne!(d.action, Action::ScaleIn, "{:?}", d);
    }

    #[test]
    fn state_survives_a_serde_round_trip(
        policy in policies(), g in guards(), state in states(),
        visibles in proptest::collection::vec(0u64..5_000, 1..20),
    ) {
        let c = Controller::new(policy, g.clone(), Combine::Max, vec![]);
        let mut s = state;
        let mut current = g.min_tasks;
        for (i, v) in visibles.iter().enumerate() {
            let d = c.tick(&(NOW + i as i64 * 60_000), &[Ok(QueueSample::visible(*v))], ServiceState::settled(current), &mut s);
            current = d.desired;
        }
        let json = serde_json::to_string(&s).unwrap();
        let back: ScalerState = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, s);
    }
}

/// With two partitioned sources and one failing, the one that answered does not cap the
/// scale-out: the failed source's partitions are unknown, not zero.
#[test]
fn a_failed_source_lowers_no_useful_task_cap() {
    use stepscale_engine::Config;
    let config: Config = serde_json::from_str(
        r#"{"guards": {"min_tasks": 1, "max_tasks": 50},
            "policy": {"kind": "target", "target_backlog_per_task": 10.0}}"#,
    )
    .unwrap();
    let controller = config.controller();
    let four_partitions = QueueSample {
        visible: 400,
        max_useful_tasks: Some(4),
        ..QueueSample::default()
    };
    let mut state = ScalerState::default();
    let both = controller.tick(
        &NOW,
        &[Ok(four_partitions), Ok(four_partitions)],
        ServiceState::settled(2),
        &mut state,
    );
    assert_eq!(
        both.desired, 8,
        "both answered: 4 + 4 partitions cap it: {both:?}"
    );
    let mut state = ScalerState::default();
    let one_failed = controller.tick(
        &NOW,
        &[Ok(four_partitions), Err(ReadFailure::new("timed out"))],
        ServiceState::settled(2),
        &mut state,
    );
    assert!(
        one_failed.desired > 4,
        "the answering source's 4 partitions capped a partial outage: {one_failed:?}"
    );
}

/// A state time near `i64::MIN` (or in the future) is clamped to now, so it neither overflows
/// nor holds scale-in forever.
#[test]
fn state_times_out_of_range_are_clamped_to_now() {
    use stepscale_engine::{Config, ManualClock, QueueSample, ScalerState, ServiceState};
    let config: Config = serde_json::from_str(
        r#"{"guards": {"min_tasks": 1, "max_tasks": 10, "scale_in_cooldown_secs": 60},
            "policy": {"kind": "target", "target_backlog_per_task": 1.0}}"#,
    )
    .unwrap();
    let controller = config.controller();
    let now = 1_000_000_000;
    for stale in [i64::MIN + 1, i64::MIN, now + 86_400_000] {
        let mut state = ScalerState {
            last_scale_in_ms: Some(stale),
            last_scale_out_ms: Some(stale),
            ..ScalerState::default()
        };
        let clock = ManualClock::new(now);
        let d = controller.tick(
            &clock,
            &[Ok(QueueSample::visible(0))],
            ServiceState::settled(5),
            &mut state,
        );
        assert_eq!(
            state.last_scale_in_ms.max(state.last_scale_out_ms),
            Some(now)
        );
        // Clamped to now, the cooldown holds now; one cooldown later, scale-in goes ahead.
        assert_eq!(d.desired, 5, "{stale}");
        let later = ManualClock::new(now + 61_000);
        let d = controller.tick(
            &later,
            &[Ok(QueueSample::visible(0))],
            ServiceState::settled(5),
            &mut state,
        );
        assert!(d.desired < 5, "{stale}: scale-in blocked: {d:?}");
    }
}

/// A profile visit to a future slot (a clock that went back) is dropped, so the forecast
/// goes on learning from now instead of ignoring every read until that slot comes round.
#[test]
fn a_future_profile_visit_is_dropped() {
    use stepscale_engine::forecast::{SeasonalProfile, SlotVisit};
    use stepscale_engine::ScalerState;
    let now = 1_000_000_000;
    let mut profile = SeasonalProfile::new(86_400, 300, 288);
    profile.visit = Some(SlotVisit {
        slot: now / 300_000 + 10,
        sum_per_s: 5.0,
        samples: 1,
    });
    let mut state = ScalerState {
        profile: Some(profile),
        ..ScalerState::default()
    };
    let clamped = state.clamp_times(now);
    assert!(clamped.contains(&"profile.visit"), "{clamped:?}");
    let profile = state.profile.unwrap_or_default();
    assert_eq!(profile.visit, None);
    // A visit to the current slot is kept.
    let mut current = SeasonalProfile::new(86_400, 300, 288);
    current.visit = Some(SlotVisit {
        slot: now / 300_000,
        sum_per_s: 5.0,
        samples: 1,
    });
    let mut state = ScalerState {
        profile: Some(current.clone()),
        ..ScalerState::default()
    };
    assert!(state.clamp_times(now).is_empty());
    assert_eq!(state.profile, Some(current));
}

/// `Limit::as_str` (logs) and the serialized name (`decide`) are the same snake_case word.
#[test]
fn limit_names_match_the_serialized_ones() {
    use stepscale_engine::Limit;
    for l in [
        Limit::MinTasks,
        Limit::MaxTasks,
        Limit::ScaleInCooldown,
        Limit::ScaleOutCooldown,
        Limit::MaxStep,
        Limit::MaxScaleInFraction,
        Limit::RateLimit,
        Limit::StabilizationWindow,
        Limit::MetricFailure,
        Limit::UsefulTasks,
        Limit::Budget,
    ] {
        assert_eq!(
            serde_json::to_string(&l).unwrap(),
            format!("\"{}\"", l.as_str())
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The stabilization floor keeps only the recommendations that can still be the highest,
    /// and gives the same floor as the plain maximum over the whole window.
    #[test]
    fn the_stabilization_floor_is_the_windows_maximum(
        raws in proptest::collection::vec(0u32..50, 1..400),
        window_s in 1i64..120,
        gaps in proptest::collection::vec(1i64..20, 400),
    ) {
        let mut state = ScalerState::default();
        let mut seen: Vec<(i64, u32)> = Vec::new();
        let mut now = NOW;
        for (i, raw) in raws.iter().enumerate() {
            now += gaps[i] * 1000;
            let floor = state.stabilization_floor(now, window_s * 1000, *raw);
            let naive = seen
                .iter()
                .filter(|(t, _)| now - t < window_s * 1000)
                .map(|(_, r)| *r)
                .fold(*raw, u32::max);
            prop_assert_eq!(floor, naive);
            seen.push((now, *raw));
        }
    }
}

/// A day-long window at a 1 s period keeps a handful of recommendations, not 86,400: the
/// state document stays small.
#[test]
fn a_day_long_window_at_one_second_keeps_the_state_small() {
    let mut state = ScalerState::default();
    for i in 0..86_400i64 {
        // A daily wave between 5 and 45 tasks.
        let raw = 25 + (20.0 * ((i as f64) / 86_400.0 * std::f64::consts::TAU).sin()) as i64;
        state.stabilization_floor(NOW + i * 1000, 86_400_000, raw as u32);
    }
    let json = serde_json::to_string(&state).unwrap();
    assert!(
        state.recommendations.len() <= 50,
        "{}",
        state.recommendations.len()
    );
    assert!(json.len() < 4_000, "{} bytes", json.len());
}
