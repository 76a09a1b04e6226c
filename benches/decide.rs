//! Criterion: one `Controller::tick` per policy (the engine's decision, as live and sim call it):
//! on an exact clock, on a jittered one as live ticks come, and cold (state read from and
//! written to JSON around the decision, as the Lambda does).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use stepscale_engine::policy::{
    Combine, SeedParams, SloParams, StepBand, StepParams, TargetParams,
};
use stepscale_engine::{
    Controller, ForecastParams, Guards, PolicySpec, QueueSample, ScalerState, ServiceState,
};

fn slo() -> PolicySpec {
    PolicySpec::Slo(SloParams {
        wait_secs: 30.0,
        service_secs: Some(0.5),
        concurrency: 4,
        ..SloParams::default()
    })
}

/// Each policy, with the seasonal forecast where the name says so. The forecast's season is a
/// day, so after the first 1,440 iterations (a simulated day of one-minute ticks) it is on and
/// every decision looks ahead in the profile.
fn policies() -> Vec<(&'static str, PolicySpec, Option<ForecastParams>)> {
    let daily = ForecastParams {
        season_secs: 86_400,
        ..ForecastParams::default()
    };
    vec![
        ("seed", PolicySpec::Seed(SeedParams::default()), None),
        (
            "step",
            PolicySpec::Step(StepParams {
                scale_out_steps: vec![
                    StepBand {
                        lower: Some(0.0),
                        upper: Some(500.0),
                        adjustment: 1.0,
                    },
                    StepBand {
                        lower: Some(500.0),
                        upper: None,
                        adjustment: 3.0,
                    },
                ],
                ..StepParams::default()
            }),
            None,
        ),
        (
            "target",
            PolicySpec::Target(TargetParams {
                target_backlog_per_task: 10.0,
                scale_out_limit_tasks: Some(10),
                ..TargetParams::default()
            }),
            None,
        ),
        ("slo", slo(), None),
        ("slo+forecast", slo(), Some(daily)),
    ]
}

/// The controller of a bench case.
fn controller(policy: PolicySpec, forecast: Option<ForecastParams>) -> Controller {
    Controller::new(
        policy,
        Guards {
            min_tasks: 1,
            ..Guards::default()
        },
        Combine::Max,
        vec![],
    )
    .with_forecast(forecast)
}

/// A changing backlog, so every branch gets exercised and the target policy's window holds a
/// realistic few entries.
fn backlogs() -> Vec<u64> {
    (0..64).map(|i| (i * 37 % 23) * 40).collect()
}

/// Milliseconds a live tick lands off its period: a loop on a timer drifts by a few, and no
/// two intervals are alike (the estimator's remembered weights then rarely hit).
fn jitters() -> Vec<i64> {
    (0..61).map(|i: i64| (i * 7919 % 601) - 300).collect()
}

/// Ticks on an exact one-minute clock: the fixture's best case.
fn bench_decide(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide");
    for (name, policy, forecast) in policies() {
        let controller = controller(policy, forecast);
        let backlogs = backlogs();
        group.bench_function(name, |b| {
            let mut state = ScalerState::default();
            let mut now: i64 = 0;
            let mut i = 0usize;
            let mut desired = 10u32;
            b.iter(|| {
                now += 60_000;
                i = (i + 1) & 63;
                let readings = [Ok(QueueSample::visible(backlogs[i]))];
                let d = controller.tick(
                    &now,
                    black_box(&readings),
                    ServiceState::settled(desired),
                    &mut state,
                );
                desired = d.desired;
                black_box(d)
            });
        });
    }
    group.finish();
}

/// Ticks as a live loop makes them: a minute apart give or take up to 300 ms, never twice the
/// same interval in a row. The headline figure.
fn bench_decide_jittered(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide_jittered");
    for (name, policy, forecast) in policies() {
        let controller = controller(policy, forecast);
        let backlogs = backlogs();
        let jitters = jitters();
        group.bench_function(name, |b| {
            let mut state = ScalerState::default();
            let mut now: i64 = 0;
            let mut i = 0usize;
            let mut j = 0usize;
            let mut desired = 10u32;
            b.iter(|| {
                j = if j + 1 == jitters.len() { 0 } else { j + 1 };
                now += 60_000 + jitters[j];
                i = (i + 1) & 63;
                let readings = [Ok(QueueSample::visible(backlogs[i]))];
                let d = controller.tick(
                    &now,
                    black_box(&readings),
                    ServiceState::settled(desired),
                    &mut state,
                );
                desired = d.desired;
                black_box(d)
            });
        });
    }
    group.finish();
}

/// A cold tick as the Lambda runs one: the state read from its stored JSON (after a day of
/// jittered ticks, so the windows and the forecast's profile are full), one decision, the
/// state written back as JSON.
fn bench_decide_cold(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide_cold");
    for (name, policy, forecast) in policies() {
        let controller = controller(policy, forecast);
        let backlogs = backlogs();
        let jitters = jitters();
        let mut state = ScalerState::default();
        let mut now: i64 = 0;
        let mut desired = 10u32;
        for k in 0..1_500 {
            now += 60_000 + jitters[k % jitters.len()];
            let readings = [Ok(QueueSample::visible(backlogs[k & 63]))];
            desired = controller
                .tick(&now, &readings, ServiceState::settled(desired), &mut state)
                .desired;
        }
        let stored = serde_json::to_string(&state).expect("the state serializes");
        group.bench_function(name, |b| {
            let mut i = 0usize;
            b.iter(|| {
                i = (i + 1) & 63;
                let mut state: ScalerState =
                    serde_json::from_str(black_box(&stored)).expect("the stored state reads");
                let readings = [Ok(QueueSample::visible(backlogs[i]))];
                let d = controller.tick(
                    &(now + 60_123),
                    black_box(&readings),
                    ServiceState::settled(desired),
                    &mut state,
                );
                black_box(serde_json::to_string(&state).expect("the state serializes"));
                black_box(d)
            });
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_decide,
    bench_decide_jittered,
    bench_decide_cold
);
criterion_main!(benches);
