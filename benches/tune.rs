//! Criterion: `tune`'s search loop (1,000 random candidates, each a 7-day fluid run at 1 s
//! steps, benches/tune-week.toml, on every core) and one candidate on a month of a real
//! per-minute trace (the first 30 days of worldcup98), as tune evaluates it and on the plain
//! stepped model beside it.

use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use stepscale_sim::model::RowSink;
use stepscale_sim::tune::{self, Constraint, Goals, Plan, Search, Space, TuneSpec};
use stepscale_sim::{Backtest, Overrides};

/// One candidate (the shipped tuned policy) on the first 30 days of worldcup98 at 1 s fluid
/// steps: 2.6 million seconds, 43,200 minute bins and 43,200 decisions, no rows kept, as a
/// `tune` candidate runs.
fn bench_month(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let backtest = Backtest::prepare(
        &root.join("scenarios/worldcup98.toml"),
        &Overrides::default(),
    )
    .expect("the shipped scenario loads");
    let whole = &backtest.prepared;
    let drain_us = whole.hard_end_us - whole.arrivals_end_us;
    let month_end = whole.start_us + 30 * 86_400 * 1_000_000;
    let (month, _) =
        tune::split(whole, month_end, drain_us).expect("worldcup98 is longer than 30 days");
    let mut group = c.benchmark_group("tune");
    group.sample_size(20);
    group.throughput(Throughput::Elements(1));
    group.bench_function("worldcup98_30_days_one_candidate", |b| {
        b.iter(|| {
            black_box(
                backtest
                    .simulate_into(&month, &backtest.config, RowSink::Nothing)
                    .1,
            )
        });
    });
    // The same candidate on the plain stepped model (every second stepped): the ratio is what
    // the spans save.
    let mut stepped = month.clone();
    stepped.fluid_every_step = true;
    group.bench_function("worldcup98_30_days_one_candidate_every_step", |b| {
        b.iter(|| {
            black_box(
                backtest
                    .simulate_into(&stepped, &backtest.config, RowSink::Nothing)
                    .1,
            )
        });
    });
    group.finish();
}

fn bench_tune(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let backtest = Backtest::prepare(&root.join("benches/tune-week.toml"), &Overrides::default())
        .expect("the bench scenario loads");
    let space_path = root.join("benches/tune-space.toml");
    let space = Space::load(&space_path).expect("the bench space loads");
    let plan = Plan::new(&backtest, 1, None).expect("plan");
    let budget = 1000;
    let spec = TuneSpec {
        scenario: "tune-week".into(),
        space_path: space_path.display().to_string(),
        space_text: String::new(),
        goals: Goals::new(
            "cost_usd",
            vec![Constraint::parse("wait_p99_s<=30").expect("constraint")],
        )
        .expect("goals"),
        budget,
        seeds: 1,
        search: Search::Random,
        train_until: None,
        seed: 7,
    };
    let stop = AtomicBool::new(false);
    let mut group = c.benchmark_group("tune");
    group.sample_size(10);
    group.throughput(Throughput::Elements(budget as u64));
    group.bench_function("random_1000_candidates_7_days", |b| {
        b.iter(|| black_box(tune::run(&plan, &space, spec.clone(), None, &stop, &|| {})));
    });
    group.finish();
}

criterion_group!(benches, bench_month, bench_tune);
criterion_main!(benches);
