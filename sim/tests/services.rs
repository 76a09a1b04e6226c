//! Services backtested as one: budgets never exceeded (a property over random services, checked
//! on the decisions themselves), the higher priority winning, byte-identical lockstep runs,
//! pipelines that pass every completed message on, and bad services files refused.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use stepscale_sim::multi::MultiBacktest;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A one-hour fluid scenario: `base` messages/s with a spike of `spike` for 10 minutes.
fn scenario(dir: &Path, name: &str, s: &Svc) {
    let text = format!(
        r#"name = "{name}"
seed = {seed}
fidelity = "fluid"
duration_secs = 3600

[[arrivals.synthetic]]
kind = "constant"
rate_per_s = {base}

[[arrivals.synthetic]]
kind = "spike"
at_secs = {at}
duration_secs = 600
rate_per_s = {spike}

[plant]
initial_tasks = {initial}
concurrency = 2
service_time = {{ kind = "exponential", mean_secs = 0.5 }}
startup = {{ kind = "lognormal", median_secs = 30.0, sigma = 0.3 }}

[controller]
period_secs = {period}
jitter_secs = {jitter}

[scaler.guards]
min_tasks = {min}
max_tasks = 100
scale_out_cooldown_secs = {cooldown}
scale_in_cooldown_secs = {cooldown}

[scaler.policy]
kind = "target"
target_backlog_per_task = 10.0
include_in_flight = true
"#,
        seed = s.seed,
        base = s.base,
        at = s.at,
        spike = s.spike,
        initial = s.initial,
        period = s.period,
        jitter = s.jitter,
        min = s.min,
        cooldown = s.cooldown,
    );
    std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
}

#[derive(Debug, Clone)]
struct Svc {
    seed: u64,
    base: f64,
    spike: f64,
    at: u64,
    initial: u32,
    min: u32,
    period: u32,
    jitter: u32,
    cooldown: u32,
    priority: i32,
}

fn svc() -> impl Strategy<Value = Svc> {
    (
        (0u64..1000, 1.0f64..40.0, 0.0f64..300.0, 0u64..3000),
        (
            0u32..6,
            0u32..4,
            prop_oneof![Just(15u32), Just(30), Just(60)],
        ),
        (
            0u32..20,
            prop_oneof![Just(0u32), Just(60), Just(300)],
            -2i32..3,
        ),
    )
        .prop_map(
            |((seed, base, spike, at), (initial, min, period), (jitter, cooldown, priority))| Svc {
                seed,
                base,
                spike,
                at,
                initial: initial.max(min),
                min,
                period,
                jitter: jitter % period,
                cooldown,
                priority,
            },
        )
}

fn services_file(dir: &Path, svcs: &[Svc], max_tasks: u32) -> PathBuf {
    let mut text = String::from("name = \"prop\"\n");
    for (i, s) in svcs.iter().enumerate() {
        let name = format!("s{i}");
        scenario(dir, &name, s);
        let _ = writeln!(
            text,
            "[[services]]\nname = \"{name}\"\nscenario = \"{name}.toml\""
        );
    }
    let _ = writeln!(
        text,
        "[[budget]]\nname = \"cluster\"\nmax_tasks = {max_tasks}"
    );
    for (i, s) in svcs.iter().enumerate() {
        let _ = writeln!(
            text,
            "[[budget.members]]\nservice = \"s{i}\"\npriority = {}",
            s.priority
        );
    }
    let path = dir.join("services.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The largest sum of the services' desired counts over every decision of every service.
fn peak_of_decisions(multi: &MultiBacktest) -> (u32, Vec<u64>) {
    let (results, report) = multi.simulate().unwrap();
    let mut desired: Vec<u32> = multi
        .backtests
        .iter()
        .map(|b| b.prepared.initial_tasks)
        .collect();
    // Every decision in time order; the fleet at an instant is what every decision made at
    // that instant left (several services deciding in one model step act at once).
    let mut all: BTreeMap<i64, Vec<(usize, u32)>> = BTreeMap::new();
    for (i, r) in results.iter().enumerate() {
        for t in &r.outcome.ticks {
            all.entry(t.at_us).or_default().push((i, t.desired));
        }
    }
    let mut peak: u32 = desired.iter().sum();
    for decisions in all.values() {
        for &(i, d) in decisions {
            desired[i] = d;
        }
        peak = peak.max(desired.iter().sum::<u32>());
    }
    (peak, report.cut)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn services_under_a_budget_never_exceed_it(
        a in svc(), b in svc(), max_tasks in 4u32..60,
    ) {
        prop_assume!(a.initial + b.initial <= max_tasks);
        let dir = tempfile::tempdir().unwrap();
        let path = services_file(dir.path(), &[a, b], max_tasks);
        let multi = MultiBacktest::prepare(&path, None).unwrap();
        let (peak, _) = peak_of_decisions(&multi);
        prop_assert!(peak <= max_tasks, "the services held {peak} tasks under a budget of {max_tasks}");
    }
}

#[test]
fn without_the_budget_the_same_services_exceed_it() {
    // The property above can fail: the same two services, unbudgeted, go past 30 tasks.
    let dir = tempfile::tempdir().unwrap();
    let s = Svc {
        seed: 1,
        base: 20.0,
        spike: 200.0,
        at: 600,
        initial: 2,
        min: 1,
        period: 30,
        jitter: 5,
        cooldown: 0,
        priority: 0,
    };
    let path = services_file(dir.path(), &[s.clone(), s], 30);
    let text = std::fs::read_to_string(&path).unwrap();
    let unbudgeted = text[..text.find("[[budget]]").unwrap()].to_string();
    std::fs::write(&path, unbudgeted).unwrap();
    let (peak, _) = peak_of_decisions(&MultiBacktest::prepare(&path, None).unwrap());
    assert!(peak > 30, "peak {peak}");
    std::fs::write(&path, text).unwrap();
    let (peak, cut) = peak_of_decisions(&MultiBacktest::prepare(&path, None).unwrap());
    assert!(
        peak <= 30 && cut.iter().sum::<u64>() > 0,
        "peak {peak}, cut {cut:?}"
    );
}

fn shipped(name: &str) -> PathBuf {
    root().join("scenarios/services").join(name)
}

#[test]
fn the_higher_priority_service_waits_less_than_when_it_ranks_lower() {
    let (results, report) = MultiBacktest::prepare(&shipped("budget.toml"), None)
        .unwrap()
        .simulate()
        .unwrap();
    let orders_first = results[0].summary.wait_p99_s;
    assert!(report.budgets[0].1 <= report.budgets[0].2);
    // The same file with the priorities swapped.
    let dir = tempfile::tempdir().unwrap();
    for f in ["orders.toml", "reports.toml"] {
        std::fs::copy(shipped(f), dir.path().join(f)).unwrap();
    }
    let text = std::fs::read_to_string(shipped("budget.toml"))
        .unwrap()
        .replace("priority = 10", "priority = -1");
    std::fs::write(dir.path().join("budget.toml"), text).unwrap();
    let (swapped, _) = MultiBacktest::prepare(&dir.path().join("budget.toml"), None)
        .unwrap()
        .simulate()
        .unwrap();
    let orders_last = swapped[0].summary.wait_p99_s;
    assert!(
        orders_first * 2.0 < orders_last,
        "orders' p99 wait: {orders_first} s ranked first, {orders_last} s ranked last"
    );
}

#[test]
fn lockstep_runs_are_byte_identical() {
    let out = |dir: &Path| {
        let multi = MultiBacktest::prepare(&shipped("budget.toml"), None).unwrap();
        multi.run_and_write(dir, false).unwrap();
        let mut files = BTreeMap::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "json" || x == "csv") {
                files.insert(
                    p.file_name().unwrap().to_owned(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
        files
    };
    let tmp = tempfile::tempdir().unwrap();
    let a = out(&tmp.path().join("a"));
    let b = out(&tmp.path().join("b"));
    assert_eq!(a.len(), 6, "{:?}", a.keys());
    assert!(a == b, "two runs of the same services file differ");
}

#[test]
fn a_pipeline_stage_gets_every_completed_message_scaled() {
    let multi = MultiBacktest::prepare(&shipped("pipeline.toml"), None).unwrap();
    let (results, _) = multi.simulate().unwrap();
    let (ingest, thumbs) = (&results[0].summary, &results[1].summary);
    // Counts of whole messages: exact.
    assert!((ingest.processed - ingest.messages).abs() < 1e-9);
    assert!((thumbs.messages - 3.0 * ingest.processed).abs() < 1e-9);
    // Thumbnails alone replays its own steady arrivals; in the pipeline it sees ingest's.
    let alone = stepscale_sim::Backtest::prepare(
        &shipped("thumbnails.toml"),
        &stepscale_sim::Overrides::default(),
    )
    .unwrap()
    .simulate()
    .1;
    assert!((alone.messages - thumbs.messages).abs() > 1.0);
}

#[test]
fn bad_services_files_name_the_key_and_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "ingest.toml",
        "thumbnails.toml",
        "orders.toml",
        "reports.toml",
    ] {
        std::fs::copy(shipped(f), dir.path().join(f)).unwrap();
    }
    let cases = [
        (
            "[[services]]\nname = \"a\"\nscenario = \"ingest.toml\"\narrivals_from = \"b\"\n[[services]]\nname = \"b\"\nscenario = \"thumbnails.toml\"\narrivals_from = \"a\"\n",
            "makes a circle",
        ),
        (
            "[[services]]\nname = \"a\"\nscenario = \"ingest.toml\"\narrivals_from = \"nobody\"\n",
            "services[0].arrivals_from",
        ),
        (
            "[[services]]\nname = \"a b\"\nscenario = \"ingest.toml\"\n",
            "services[0].name",
        ),
        (
            "[[services]]\nname = \"a\"\nscenario = \"orders.toml\"\n[[services]]\nname = \"b\"\nscenario = \"reports.toml\"\n[[budget]]\nname = \"c\"\nmax_tasks = 20\n[[budget.members]]\nservice = \"a\"\n[[budget.members]]\nservice = \"b\"\n",
            "the members start with 28 tasks",
        ),
        (
            "[[services]]\nname = \"a\"\nscenario = \"ingest.toml\"\n[[services]]\nname = \"b\"\nscenario = \"thumbnails.toml\"\narrivals_from = \"a\"\n[[budget]]\nname = \"c\"\nmax_tasks = 20\n[[budget.members]]\nservice = \"b\"\n",
            "is a pipeline stage",
        ),
        (
            "[[services]]\nname = \"a\"\nscenario = \"ingest.toml\"\n[[budget]]\nname = \"c\"\nmax_tasks = 20\n[[budget.members]]\nservice = \"z\"\n",
            "budget[0].members[0].service",
        ),
        (
            "[[services]]\nname = \"a\"\nscenario = \"ingest.toml\"\nspeed = 2\n",
            "unknown field",
        ),
    ];
    for (text, expected) in cases {
        let path = dir.path().join("services.toml");
        std::fs::write(&path, text).unwrap();
        let err = MultiBacktest::prepare(&path, None).unwrap_err().to_string();
        assert!(err.contains(expected), "{text}\n-> {err}");
    }
}
