//! Criterion: one `Controller::tick` per policy (the engine's decision, as live and sim call it).

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

fn bench_decide(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide");
    for (name, policy, forecast) in policies() {
        let controller = Controller::new(
            policy,
            Guards {
                min_tasks: 1,
                ..Guards::default()
            },
            Combine::Max,
            vec![],
        )
        .with_forecast(forecast);
        // A changing backlog over a minute-by-minute clock, so every branch gets exercised
        // and the target policy's window holds a realistic few entries.
        let backlogs: Vec<u64> = (0..64).map(|i| (i * 37 % 23) * 40).collect();
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

criterion_group!(benches, bench_decide);
criterion_main!(benches);
