//! Criterion: one `Controller::tick` per policy (the engine's decision, as live and sim call it).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use stepscale_engine::policy::{
    Combine, SeedParams, SloParams, StepBand, StepParams, TargetParams,
};
use stepscale_engine::{Controller, Guards, PolicySpec, QueueSample, ScalerState, ServiceState};

fn policies() -> Vec<(&'static str, PolicySpec)> {
    vec![
        ("seed", PolicySpec::Seed(SeedParams::default())),
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
        ),
        (
            "target",
            PolicySpec::Target(TargetParams {
                target_backlog_per_task: 10.0,
                scale_out_limit_tasks: Some(10),
                ..TargetParams::default()
            }),
        ),
        (
            "slo",
            PolicySpec::Slo(SloParams {
                wait_secs: 30.0,
                service_secs: Some(0.5),
                concurrency: 4,
                ..SloParams::default()
            }),
        ),
    ]
}

fn bench_decide(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide");
    for (name, policy) in policies() {
        let controller = Controller::new(
            policy,
            Guards {
                min_tasks: 1,
                ..Guards::default()
            },
            Combine::Max,
            vec![],
        );
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
