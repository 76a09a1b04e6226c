//! Criterion: one `Controller::tick` per policy (the engine's decision, as live and sim call it):
//! on an exact clock, on a jittered one as live ticks come, and cold (state read from and
//! written to JSON around the decision, as the Lambda does).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use stepscale_engine::policy::{
    Combine, SeedParams, SloParams, StepBand, StepParams, TargetParams,
};
use stepscale_engine::{
    Controller, Decision, ForecastParams, Guards, PolicySpec, QueueSample, ScalerState,
    ServiceState,
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
        ("script (target in Rhai)", script_target(), None),
    ]
}

/// The shipped script that re-implements `target` (scenarios/policies/script-target.toml).
fn script_target() -> PolicySpec {
    let text = include_str!("../scenarios/policies/script-target.toml");
    let config: stepscale_engine::Config =
        toml::from_str(text).expect("the shipped script policy parses");
    config.policy
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

/// A service ticked a minute apart (plus `jitters`, in turn), on a changing backlog.
struct Ticker {
    controller: Controller,
    backlogs: Vec<u64>,
    jitters: Vec<i64>,
    state: ScalerState,
    now: i64,
    i: usize,
    j: usize,
    desired: u32,
}

impl Ticker {
    fn new(controller: Controller, jitters: Vec<i64>) -> Self {
        Self {
            controller,
            backlogs: backlogs(),
            jitters,
            state: ScalerState::default(),
            now: 0,
            i: 0,
            j: 0,
            desired: 10,
        }
    }

    /// The next tick, with the state carried in memory.
    fn tick(&mut self) -> Decision {
        self.j = if self.j + 1 == self.jitters.len() {
            0
        } else {
            self.j + 1
        };
        self.now += 60_000 + self.jitters[self.j];
        self.i = (self.i + 1) & 63;
        let readings = [Ok(QueueSample::visible(self.backlogs[self.i]))];
        let d = self.controller.tick(
            &self.now,
            black_box(&readings),
            ServiceState::settled(self.desired),
            &mut self.state,
        );
        self.desired = d.desired;
        d
    }
}

/// One group: every policy ticked with `jitters` between its ticks.
fn bench_ticks(c: &mut Criterion, group: &str, jitters: &[i64]) {
    let mut group = c.benchmark_group(group);
    for (name, policy, forecast) in policies() {
        let mut ticker = Ticker::new(controller(policy, forecast), jitters.to_vec());
        group.bench_function(name, |b| b.iter(|| black_box(ticker.tick())));
    }
    group.finish();
}

/// Ticks on an exact one-minute clock: the fixture's best case (the estimator's remembered
/// weights always hit).
fn bench_decide(c: &mut Criterion) {
    bench_ticks(c, "decide", &[0]);
}

/// Ticks as a live loop makes them: a minute apart give or take up to 300 ms, never twice the
/// same interval in a row. The headline figure.
fn bench_decide_jittered(c: &mut Criterion) {
    bench_ticks(c, "decide_jittered", &jitters());
}

/// A cold tick as the Lambda runs one: the state read from its stored JSON (after a day of
/// jittered ticks, so the windows and the forecast's profile are full), one decision, the
/// state written back as JSON.
fn bench_decide_cold(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide_cold");
    for (name, policy, forecast) in policies() {
        let mut ticker = Ticker::new(controller(policy, forecast), jitters());
        for _ in 0..1_500 {
            ticker.tick();
        }
        let stored = serde_json::to_string(&ticker.state).expect("the state serializes");
        // Each decision starts from the stored state, at the same instant and count.
        let (now, j, desired) = (ticker.now, ticker.j, ticker.desired);
        group.bench_function(name, |b| {
            b.iter(|| {
                ticker.state =
                    serde_json::from_str(black_box(&stored)).expect("the stored state reads");
                (ticker.now, ticker.j, ticker.desired) = (now, j, desired);
                let d = ticker.tick();
                black_box(serde_json::to_string(&ticker.state).expect("the state serializes"));
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
