//! The seasonal forecast end to end: off for the first season, ahead of a repeating peak
//! after it, never scaling in on its own, its state small and round-tripping, its config.

use proptest::prelude::*;
use stepscale_engine::forecast::{profile::round_rate, SeasonalProfile, SlotVisit};
use stepscale_engine::policy::{
    Combine, SeedParams, SloParams, StepBand, StepParams, TargetParams,
};
use stepscale_engine::{
    Action, Config, ConfigError, Controller, Decision, ForecastParams, Guards, PolicySpec,
    QueueSample, Reason, ScalerState, ServiceState,
};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
const WEEK_MS: i64 = 7 * DAY_MS;
/// The state document's budget.
const STATE_BUDGET_BYTES: usize = 64 * 1024;

/// Decisions in this test: a minute apart, start-up of four minutes: lead 5 minutes.
const LEAD_SECS: i64 = 300;

fn guards() -> Guards {
    Guards {
        min_tasks: 0,
        max_tasks: 10_000,
        scale_out_cooldown_secs: 0,
        scale_in_cooldown_secs: 0,
        ..Guards::default()
    }
}

/// Every day: 10 messages/s, 200/s from 14:00 to 15:00 UTC.
fn daily_rate(t: i64) -> f64 {
    if t.rem_euclid(DAY_MS) / HOUR_MS == 14 {
        200.0
    } else {
        10.0
    }
}

/// A source that reports its arrival rate and holds 2 s of arrivals visible.
fn sample(t: i64) -> QueueSample {
    let rate = daily_rate(t);
    QueueSample {
        visible: (2.0 * rate) as u64,
        arrival_rate_per_s: Some(rate),
        ..QueueSample::default()
    }
}

/// Target tracking at 20 visible per task: 1 task at the base, 20 at the peak, once it is here.
fn target() -> PolicySpec {
    PolicySpec::Target(TargetParams {
        target_backlog_per_task: 20.0,
        ..TargetParams::default()
    })
}

/// The simple rule sized like the target policy: λ × 1 s / (10 × 1.0) tasks.
fn weekly_for_target() -> ForecastParams {
    ForecastParams {
        lead_secs: LEAD_SECS,
        service_secs: Some(1.0),
        concurrency: Some(10),
        target_utilisation: Some(1.0),
        rate_smoothing_secs: Some(0),
        ..ForecastParams::default()
    }
}

/// A run of one controller: its decisions, each on the service its previous one left.
struct Run {
    controller: Controller,
    state: ScalerState,
    desired: u32,
}

impl Run {
    fn new(controller: Controller) -> Self {
        Self {
            controller,
            state: ScalerState::default(),
            desired: 1,
        }
    }

    fn tick(&mut self, t: i64) -> Decision {
        let d = self.controller.tick(
            &t,
            &[Ok(sample(t))],
            ServiceState::settled(self.desired),
            &mut self.state,
        );
        self.desired = d.desired;
        d
    }
}

/// Runs `policy` with and without `forecast` for two weeks of decisions a minute apart; checks
/// that both decide alike through the first week, and returns the decisions of the second
/// (time, with forecast, reactive alone).
fn two_weeks(policy: &PolicySpec, forecast: &ForecastParams) -> Vec<(i64, Decision, Decision)> {
    let reactive = Controller::new(policy.clone(), guards(), Combine::Max, vec![]);
    let mut with = Run::new(reactive.clone().with_forecast(Some(forecast.clone())));
    let mut without = Run::new(reactive);
    let mut second_week = Vec::new();
    for t in (0..2 * WEEK_MS).step_by(MINUTE_MS as usize) {
        let (a, b) = (with.tick(t), without.tick(t));
        if t < WEEK_MS {
            assert_eq!(
                a, b,
                "the forecast acted at {t} ms, inside its first season"
            );
        } else {
            second_week.push((t, a, b));
        }
    }
    let json = serde_json::to_string(&with.state).unwrap();
    assert!(json.len() < STATE_BUDGET_BYTES, "{} bytes", json.len());
    let back: ScalerState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, with.state);
    second_week
}

fn is_forecast(d: &Decision) -> bool {
    matches!(d.reason, Reason::Forecast { .. })
}

#[test]
fn off_for_the_first_season_then_ahead_of_every_peak() {
    let week2 = two_weeks(&target(), &weekly_for_target());
    // On from one full season of history: the first raise is the first peak after it.
    let first = week2.iter().find(|(_, a, _)| is_forecast(a));
    let peak_less_lead = |day: i64| day * DAY_MS + 14 * HOUR_MS - LEAD_SECS * 1000;
    assert_eq!(first.map(|(t, _, _)| *t), Some(peak_less_lead(7)));
    for day in 7..14 {
        let at = |t: i64| {
            week2
                .iter()
                .find(|(when, _, _)| *when == t)
                .map(|(_, a, b)| (*a, *b))
                .unwrap()
        };
        // Five minutes before the peak: 20 tasks ordered, where the policy alone keeps 1.
        let (a, b) = at(peak_less_lead(day));
        assert_eq!((a.desired, b.desired), (20, 1), "day {day}");
        assert_eq!(
            a.reason,
            Reason::Forecast {
                arrival_rate_per_s: 200.0,
                lead_secs: LEAD_SECS,
                tasks: 20,
                reactive_tasks: 1,
            }
        );
        assert_eq!(a.limited_by, b.limited_by);
        // The capacity stays until the peak arrives, though the policy alone would drop it.
        let (a, _) = at(peak_less_lead(day) + 2 * MINUTE_MS);
        assert_eq!(a.desired, 20);
        // Earlier, the window does not reach the peak: the policy's answer.
        let (a, b) = at(peak_less_lead(day) - 10 * MINUTE_MS);
        assert_eq!((a.desired, a.reason), (b.desired, b.reason));
    }
    // The forecast only ever added.
    for (t, a, b) in &week2 {
        assert!(a.recommended >= b.recommended, "at {t}: {a:?} {b:?}");
    }
}

#[test]
fn slo_sizes_ahead_of_the_peak_with_its_queueing_model() {
    let slo = PolicySpec::Slo(SloParams {
        wait_secs: 30.0,
        service_secs: Some(1.0),
        concurrency: 10,
        scale_in_stabilization_secs: 0,
        ..SloParams::default()
    });
    let forecast = ForecastParams {
        lead_secs: LEAD_SECS,
        ..ForecastParams::default()
    };
    let week2 = two_weeks(&slo, &forecast);
    let t = 8 * DAY_MS + 14 * HOUR_MS - LEAD_SECS * 1000;
    let (_, a, b) = week2.iter().find(|(when, _, _)| *when == t).unwrap();
    let Reason::Forecast {
        arrival_rate_per_s,
        tasks,
        ..
    } = a.reason
    else {
        panic!("{a:?}")
    };
    // The queueing fleet at the profile's peak rate, as the policy itself sizes it.
    let PolicySpec::Slo(p) = &slo else {
        unreachable!()
    };
    assert_eq!(tasks, p.fleets(arrival_rate_per_s, 1.0, 0.0).0);
    assert!(arrival_rate_per_s > 150.0, "{arrival_rate_per_s}");
    assert!(a.desired > b.desired, "{a:?} vs {b:?}");
}

#[test]
fn a_daily_season_turns_on_after_a_day() {
    let forecast = ForecastParams {
        season_secs: 86_400,
        ..weekly_for_target()
    };
    let reactive = Controller::new(target(), guards(), Combine::Max, vec![]);
    let mut run = Run::new(reactive.with_forecast(Some(forecast)));
    let mut first = None;
    for t in (0..2 * DAY_MS).step_by(MINUTE_MS as usize) {
        if first.is_none() && is_forecast(&run.tick(t)) {
            first = Some(t);
        }
    }
    assert_eq!(first, Some(DAY_MS + 14 * HOUR_MS - LEAD_SECS * 1000));
}

fn policies() -> impl Strategy<Value = PolicySpec> {
    prop_oneof![
        (0.0f64..200.0, 0.001f64..0.2, 0.1f64..=1.0).prop_map(|(down, tpm, factor)| {
            PolicySpec::Seed(SeedParams {
                scale_up_threshold: down + 50.0,
                scale_down_threshold: down,
                tasks_per_message: tpm,
                max_scale_down_factor: factor,
                use_combined_messages: false,
            })
        }),
        (1.0f64..300.0, 1.0f64..5.0).prop_map(|(threshold, adj)| {
            PolicySpec::Step(StepParams {
                scale_out_threshold: threshold + 10.0,
                scale_in_threshold: threshold,
                scale_out_steps: vec![StepBand {
                    lower: Some(0.0),
                    upper: None,
                    adjustment: adj.floor(),
                }],
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
            0.01f64..10.0,
            1u32..8,
            0i64..600
        )
            .prop_map(|(wait, quantile, service, concurrency, window)| {
                PolicySpec::Slo(SloParams {
                    wait_secs: wait,
                    quantile,
                    service_secs: Some(service),
                    concurrency,
                    scale_in_stabilization_secs: window,
                    ..SloParams::default()
                })
            }),
    ]
}

/// A week of 15-minute slots, a full season old, with the given rates.
fn learned_profile(now: i64, rates: &[f64]) -> SeasonalProfile {
    let mut profile = SeasonalProfile::new(604_800, 900, 672);
    for (slot, rate) in profile.rates_per_s.iter_mut().zip(rates.iter().cycle()) {
        *slot = Some(round_rate(*rate));
    }
    profile.since_ms = now - 2 * WEEK_MS;
    profile.visit = Some(SlotVisit {
        slot: now.div_euclid(900_000),
        sum_per_s: 1.0,
        samples: 1,
    });
    profile
}

proptest! {
    /// max(reactive, forecast): from the same state, the forecast never lowers a decision; so
    /// it never scales in, nor deepens a scale-in, and it changes nothing unless it says so.
    #[test]
    fn the_forecast_only_ever_adds(
        policy in policies(),
        rates in proptest::collection::vec(0.0f64..500.0, 1..50),
        visible in 0u64..5_000, in_flight in 0u64..200,
        reported in proptest::option::of(0.0f64..500.0),
        previous in 0u32..300, pending in 0u32..20,
        last_out in proptest::option::of(0i64..600_000),
        last_in in proptest::option::of(0i64..600_000),
        lead_secs in 0i64..3_600, max_step in proptest::option::of(1u32..20),
        now in (3 * WEEK_MS)..(4 * WEEK_MS),
    ) {
        let guards = Guards {
            min_tasks: 1,
            max_tasks: 200,
            scale_out_cooldown_secs: 120,
            scale_in_cooldown_secs: 300,
            max_step,
            ..Guards::default()
        };
        let forecast = if matches!(policy, PolicySpec::Slo(_)) {
            ForecastParams { lead_secs, ..ForecastParams::default() }
        } else {
            ForecastParams { lead_secs, service_secs: Some(0.5), ..ForecastParams::default() }
        };
        let reactive = Controller::new(policy, guards, Combine::Max, vec![]);
        let predictive = reactive.clone().with_forecast(Some(forecast));
        let mut state = ScalerState {
            last_scale_out_ms: last_out.map(|t| now - t),
            last_scale_in_ms: last_in.map(|t| now - t),
            profile: Some(learned_profile(now, &rates)),
            ..ScalerState::default()
        };
        // One read earlier, so the estimator has an interval.
        let earlier = QueueSample { visible, in_flight, arrival_rate_per_s: reported, ..QueueSample::default() };
        predictive.tick(&(now - MINUTE_MS), &[Ok(earlier)], ServiceState::settled(previous), &mut state);
        let sample = QueueSample { visible, in_flight, arrival_rate_per_s: reported, ..QueueSample::default() };
        let service = ServiceState { desired: previous, running: previous, pending };
        let a = predictive.tick(&now, &[Ok(sample)], service, &mut state.clone());
        let b = reactive.tick(&now, &[Ok(sample)], service, &mut state.clone());
        prop_assert!(a.recommended >= b.recommended, "{:?} {:?}", a, b);
        prop_assert!(a.desired >= b.desired, "{:?} {:?}", a, b);
        if b.action != Action::ScaleIn {
            prop_assert_ne!(a.action, Action::ScaleIn);
        }
        if is_forecast(&a) {
            prop_assert!(a.recommended > b.recommended);
        } else {
            prop_assert_eq!(a, b);
        }
    }
}

/// Every slot filled with one of the longest numbers the profile stores.
fn worst_case_state(season_secs: i64, slot_secs: i64) -> ScalerState {
    let slots = (season_secs / slot_secs) as usize;
    let mut profile = SeasonalProfile::new(season_secs, slot_secs, slots);
    let longest = [f64::MAX, 1.234_567e-5, 987_654_321.0];
    for (slot, x) in profile.rates_per_s.iter_mut().zip(longest.iter().cycle()) {
        // 1000000000.0, 0.00001235, 987700000.0
        *slot = Some(round_rate(*x));
    }
    profile.since_ms = 1_700_000_000_000;
    profile.visit = Some(SlotVisit {
        slot: 1_888_888,
        sum_per_s: 1_234.567_890_123_456_7,
        samples: 15,
    });
    ScalerState {
        last_scale_out_ms: Some(1_700_000_000_000),
        last_scale_in_ms: Some(1_700_000_000_000),
        profile: Some(profile),
        ..ScalerState::default()
    }
}

#[test]
fn a_full_profile_round_trips_well_under_64_kb() {
    for (season, slot, budget) in [
        (604_800, 900, 10 * 1024),
        (604_800, 300, 30 * 1024),
        (86_400, 900, 2 * 1024),
    ] {
        let state = worst_case_state(season, slot);
        let json = serde_json::to_string(&state).unwrap();
        assert!(
            json.len() < budget && budget <= STATE_BUDGET_BYTES,
            "{season}/{slot}: {} bytes",
            json.len()
        );
        let back: ScalerState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, state);
        // Every slot is a short decimal, so any parser reads the same number back.
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        for rate in value["profile"]["rates_per_s"].as_array().unwrap() {
            assert!(rate.to_string().len() <= 12, "{rate}");
        }
    }
}

#[test]
fn old_state_documents_still_load() {
    let before_slo = r#"{"last_scale_out_ms":1000,"last_scale_in_ms":1000,"cooldown_base_tasks":null,
        "recommendations":[],"changes":[],"consecutive_failures":0}"#;
    let before_forecast = r#"{"consecutive_failures":0,
        "arrivals":{"rate_per_s":12.5,"busy_slots":0.0,"throughput_per_s":0.0}}"#;
    for old in [before_slo, before_forecast] {
        let state: ScalerState = serde_json::from_str(old).unwrap();
        assert_eq!(state.profile, None);
        // Without a forecast the document does not grow the field.
        assert!(!serde_json::to_string(&state).unwrap().contains("profile"));
    }
}

#[test]
fn a_profile_of_another_layout_is_discarded() {
    let mut state = worst_case_state(604_800, 300);
    let c = Controller::new(target(), guards(), Combine::Max, vec![])
        .with_forecast(Some(weekly_for_target()));
    let d = c.tick(
        &WEEK_MS,
        &[Ok(sample(WEEK_MS))],
        ServiceState::settled(1),
        &mut state,
    );
    assert!(!is_forecast(&d));
    let profile = state.profile.unwrap();
    assert_eq!((profile.slot_secs, profile.rates_per_s.len()), (900, 672));
    assert!(profile.rates_per_s.iter().all(Option::is_none));
}

#[test]
fn the_policy_file_takes_a_forecast_table() {
    let json = r#"{"policy": {"kind": "target", "target_backlog_per_task": 20},
        "forecast": {"season_secs": 86400, "lead_secs": 120, "service_secs": 1.5,
                     "concurrency": 4}}"#;
    let config: Config = serde_json::from_str(json).unwrap();
    let f = config.forecast.clone().unwrap();
    assert_eq!(
        (f.season_secs, f.slot_secs, f.lead_secs, f.season_weight),
        (86_400, 900, 120, 0.5)
    );
    assert_eq!(
        (f.service_secs, f.concurrency, f.target_utilisation),
        (Some(1.5), Some(4), None)
    );
    assert!(config.validate().is_ok());
    assert_eq!(config.controller().forecast(), Some(&f));

    let unknown = r#"{"forecast": {"season": 86400}}"#;
    assert!(serde_json::from_str::<Config>(unknown).is_err());

    // Without the table nothing changes, in or out.
    let plain: Config = serde_json::from_str(r#"{"policy": {"kind": "seed"}}"#).unwrap();
    assert_eq!(plain.forecast, None);
    assert!(!serde_json::to_string(&plain).unwrap().contains("forecast"));

    // Under slo the sizing keys belong to the policy.
    let slo = r#"{"policy": {"kind": "slo"}, "forecast": {"concurrency": 4}}"#;
    let config: Config = serde_json::from_str(slo).unwrap();
    let Err(ConfigError::Invalid { key, rule, .. }) = config.validate() else {
        panic!("a forecast concurrency under slo was accepted")
    };
    assert_eq!(key, "forecast.concurrency");
    assert!(rule.contains("[policy]"), "{rule}");
}
