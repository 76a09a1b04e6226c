//! Criterion: the simulator's core. Fluid steps per second on the full worldcup98 trace (87 days
//! at 1 s steps) and discrete messages per second on a steady high-volume stream.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use stepscale_sim::{Backtest, Overrides};

fn bench_sim(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut group = c.benchmark_group("sim");
    group.sample_size(10);

    let worldcup = Backtest::prepare(
        &root.join("scenarios/worldcup98.toml"),
        &Overrides::default(),
    )
    .expect("the shipped worldcup98 scenario loads");
    let p = &worldcup.prepared;
    let steps = ((p.arrivals_end_us - p.start_us) / p.step_us) as u64;
    group.throughput(Throughput::Elements(steps));
    group.bench_function("fluid_worldcup98_steps", |b| {
        b.iter(|| black_box(worldcup.simulate()));
    });

    let dir = std::env::temp_dir().join(format!("stepscale-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let scenario = dir.join("discrete.toml");
    std::fs::write(
        &scenario,
        r#"
name = "discrete-bench"
seed = 1
fidelity = "discrete"
duration_secs = 3600
[arrivals]
poisson = true
[[arrivals.synthetic]]
kind = "constant"
rate_per_s = 2000.0
[plant]
initial_tasks = 60
concurrency = 4
service_time = { kind = "exponential", mean_secs = 0.1 }
[scaler.guards]
min_tasks = 10
max_tasks = 200
[scaler.policy]
kind = "target"
target_backlog_per_task = 3.0
"#,
    )
    .expect("write scenario");
    let discrete =
        Backtest::prepare(&scenario, &Overrides::default()).expect("bench scenario loads");
    let messages = discrete.prepared.arrivals.total() as u64;
    group.throughput(Throughput::Elements(messages));
    group.bench_function("discrete_messages", |b| {
        b.iter(|| black_box(discrete.simulate()));
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench_sim);
criterion_main!(benches);
