//! The fluid model's spans against the plain stepped model: every shipped scenario, run in
//! fluid mode both ways, must give the same summary (counts exactly, every other figure within
//! 0.1 %), so integrating a stretch the fleet keeps up with in one go changes no result; and
//! so must random traces, plants, schedules and policies.

use std::fmt::Write as _;
use std::path::Path;

use proptest::prelude::*;
use serde_json::Value;
use stepscale_sim::model::Outcome;
use stepscale_sim::{Backtest, Fidelity, Overrides};

/// Every place where `a` and `b` differ beyond the tolerance, by key path.
fn differences(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                let vb = y.get(k).unwrap_or(&Value::Null);
                differences(&format!("{path}.{k}"), va, vb, out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                differences(&format!("{path}[{i}]"), va, vb, out);
            }
        }
        (Value::Number(first), Value::Number(second)) => {
            let (x, y) = (
                first.as_f64().unwrap_or(f64::NAN),
                second.as_f64().unwrap_or(f64::NAN),
            );
            // Counts exactly; every other figure within 0.1 %.
            let close = if first.is_f64() {
                (x - y).abs() <= 1e-9 + 1e-3 * x.abs().max(y.abs())
            } else {
                first == second
            };
            if !close {
                out.push(format!("{path}: spans {x}, every step {y}"));
            }
        }
        _ if a != b => out.push(format!("{path}: spans {a}, every step {b}")),
        _ => {}
    }
}

/// Runs `bt` with spans and stepped every second: both outcomes and the summary figures apart.
fn both_ways(bt: &mut Backtest) -> (Outcome, Outcome, Vec<String>) {
    bt.prepared.fluid_every_step = false;
    let (spans, spans_summary) = bt.simulate();
    bt.prepared.fluid_every_step = true;
    let (steps, steps_summary) = bt.simulate();
    let mut out = Vec::new();
    differences(
        "summary",
        &serde_json::to_value(&spans_summary).unwrap(),
        &serde_json::to_value(&steps_summary).unwrap(),
        &mut out,
    );
    (spans, steps, out)
}

#[test]
fn spans_give_the_stepped_models_summary_on_every_shipped_scenario() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut scenarios: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    scenarios.sort();
    assert!(scenarios.len() >= 8, "{scenarios:?}");
    let mut failures = Vec::new();
    for path in &scenarios {
        let mut bt = Backtest::prepare(
            path,
            &Overrides {
                fidelity: Some(Fidelity::Fluid),
                ..Overrides::default()
            },
        )
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (spans, steps, out) = both_ways(&mut bt);
        println!(
            "{}: {} of {} seconds stepped (every one: {}), {} decisions; {} summary figures apart",
            path.display(),
            spans.stepped_steps,
            steps.stepped_steps,
            steps.stepped_steps,
            spans.decisions,
            out.len()
        );
        // The stepped model did step every second, and the spans skipped some.
        assert!(
            spans.stepped_steps < steps.stepped_steps,
            "{}: {} and {} seconds stepped",
            path.display(),
            spans.stepped_steps,
            steps.stepped_steps
        );
        assert_eq!(spans.decisions, steps.decisions, "{}", path.display());
        failures.extend(out.into_iter().map(|d| format!("{}: {d}", path.display())));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A random policy: target tracking or step scaling with drawn parameters, or one of the
/// shipped files (v0.2's seed, slo, slo with a forecast, a script).
#[derive(Debug, Clone)]
enum PolicyCase {
    Target {
        per_task: f64,
        tolerance: f64,
        stabilization_secs: u32,
        out_cooldown_secs: u32,
        in_cooldown_secs: u32,
        max_tasks: u32,
    },
    Step {
        out_threshold: f64,
        in_threshold: f64,
        big_step: u32,
        out_cooldown_secs: u32,
        in_cooldown_secs: u32,
    },
    Shipped(&'static str),
}

/// A random scenario: a binned trace (or one row per message), a plant and a schedule.
#[derive(Debug, Clone)]
struct Case {
    /// Levels and how many bins each holds.
    levels: Vec<(u32, usize)>,
    bin_secs: u64,
    /// One CSV row per message instead of counts.
    events: bool,
    step_ms: u64,
    concurrency: u32,
    service_secs: f64,
    startup: (f64, f64),
    requeue: bool,
    crash_rate: f64,
    launch_rate: Option<f64>,
    period_secs: u32,
    jitter_secs: f64,
    delay_secs: f64,
    initial_tasks: u32,
    policy: PolicyCase,
    seed: u64,
}

fn policy_case() -> impl Strategy<Value = PolicyCase> {
    prop_oneof![
        (
            0.5f64..40.0,
            0.0f64..0.4,
            0u32..600,
            0u32..300,
            0u32..600,
            5u32..200
        )
            .prop_map(
                |(per_task, tolerance, stabilization_secs, out_cd, in_cd, max_tasks)| {
                    PolicyCase::Target {
                        per_task,
                        tolerance,
                        stabilization_secs,
                        out_cooldown_secs: out_cd,
                        in_cooldown_secs: in_cd,
                        max_tasks,
                    }
                }
            ),
        (1.0f64..500.0, 0.0f64..1.0, 2u32..10, 0u32..300, 0u32..600).prop_map(
            |(out_threshold, in_fraction, big_step, out_cd, in_cd)| PolicyCase::Step {
                out_threshold,
                in_threshold: out_threshold * in_fraction,
                big_step,
                out_cooldown_secs: out_cd,
                in_cooldown_secs: in_cd,
            }
        ),
        prop::sample::select(vec![
            "seed-v02.toml",
            "slo.toml",
            "slo-forecast.toml",
            "script-target.toml",
        ])
        .prop_map(PolicyCase::Shipped),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        (
            prop::collection::vec((0u32..3000, 1usize..40), 2..30),
            prop::sample::select(vec![1u64, 10, 60, 300]),
            any::<bool>(),
            prop::sample::select(vec![250u64, 1000, 2000]),
        ),
        (
            1u32..10,
            0.02f64..3.0,
            (0.0f64..90.0, 0.0f64..60.0),
            any::<bool>(),
            prop::sample::select(vec![0.0, 0.0, 0.5]),
            prop::option::of(1.0f64..20.0),
        ),
        (
            prop::sample::select(vec![10u32, 30, 60]),
            0.0f64..0.9,
            0.0f64..120.0,
            0u32..20,
        ),
        policy_case(),
        any::<u64>(),
    )
        .prop_map(|(trace, plant, schedule, policy, seed)| Case {
            levels: trace.0,
            bin_secs: trace.1,
            events: trace.2,
            step_ms: trace.3,
            concurrency: plant.0,
            service_secs: plant.1,
            startup: (plant.2 .0, plant.2 .0 + plant.2 .1),
            requeue: plant.3,
            crash_rate: plant.4,
            launch_rate: plant.5,
            period_secs: schedule.0,
            jitter_secs: schedule.1 * f64::from(schedule.0),
            delay_secs: schedule.2,
            initial_tasks: schedule.3,
            policy,
            seed,
        })
}

/// Writes `c`'s trace, policy and scenario into `dir`; the scenario's path.
fn write_case(dir: &Path, c: &Case) -> std::path::PathBuf {
    let start = 1_767_571_200u64; // 2026-01-05T00:00:00Z
    let stamp = |t: u64| {
        let secs = t - start;
        format!(
            "2026-01-{:02} {:02}:{:02}:{:02}",
            5 + secs / 86_400,
            secs / 3600 % 24,
            secs / 60 % 60,
            secs % 60
        )
    };
    let mut csv = String::from(if c.events { "time\n" } else { "time,count\n" });
    let mut t = start;
    for &(level, bins) in &c.levels {
        for _ in 0..bins {
            if c.events {
                // At most a few per second, so the file stays small: spread evenly in the bin.
                let n = u64::from(level / 100).min(c.bin_secs * 3);
                for k in 0..n {
                    writeln!(csv, "{}", stamp(t + k * c.bin_secs / n.max(1))).unwrap();
                }
            } else {
                writeln!(csv, "{},{level}", stamp(t)).unwrap();
            }
            t += c.bin_secs;
        }
    }
    std::fs::write(dir.join("trace.csv"), csv).unwrap();
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/policies");
    let policy_path = match &c.policy {
        PolicyCase::Shipped(name) => policies.join(name),
        PolicyCase::Target {
            per_task,
            tolerance,
            stabilization_secs,
            out_cooldown_secs,
            in_cooldown_secs,
            max_tasks,
        } => {
            let text = format!(
                "[guards]\nmin_tasks = 1\nmax_tasks = {max_tasks}\n\
                 scale_out_cooldown_secs = {out_cooldown_secs}\n\
                 scale_in_cooldown_secs = {in_cooldown_secs}\n\n\
                 [policy]\nkind = \"target\"\ntarget_backlog_per_task = {per_task}\n\
                 tolerance = {tolerance}\nscale_in_stabilization_secs = {stabilization_secs}\n"
            );
            std::fs::write(dir.join("policy.toml"), text).unwrap();
            dir.join("policy.toml")
        }
        PolicyCase::Step {
            out_threshold,
            in_threshold,
            big_step,
            out_cooldown_secs,
            in_cooldown_secs,
        } => {
            let upper = out_threshold * 5.0;
            let text = format!(
                "[guards]\nmin_tasks = 1\nmax_tasks = 100\n\
                 scale_out_cooldown_secs = {out_cooldown_secs}\n\
                 scale_in_cooldown_secs = {in_cooldown_secs}\n\n\
                 [policy]\nkind = \"step\"\nadjustment_type = \"change_in_capacity\"\n\
                 scale_out_threshold = {out_threshold}\nscale_in_threshold = {in_threshold}\n\n\
                 [[policy.scale_out_steps]]\nlower = 0.0\nupper = {upper}\nadjustment = 1\n\n\
                 [[policy.scale_out_steps]]\nlower = {upper}\nadjustment = {big_step}\n\n\
                 [[policy.scale_in_steps]]\nupper = 0.0\nadjustment = -1\n"
            );
            std::fs::write(dir.join("policy.toml"), text).unwrap();
            dir.join("policy.toml")
        }
    };
    let value_column = if c.events {
        String::new()
    } else {
        "value_column = \"count\"\n".into()
    };
    let launch = c
        .launch_rate
        .map(|r| format!("launch_rate_per_min = {r}\n"))
        .unwrap_or_default();
    let scenario = format!(
        "name = \"random\"\nseed = {seed}\nfidelity = \"fluid\"\nstep_ms = {step_ms}\n\
         policy_file = {policy:?}\n\n\
         [arrivals.trace]\npath = \"trace.csv\"\ntime_column = \"time\"\n{value_column}\n\
         [plant]\ninitial_tasks = {initial}\nconcurrency = {concurrency}\n\
         service_time = {{ kind = \"exponential\", mean_secs = {service} }}\n\
         startup = {{ kind = \"uniform\", min_secs = {su0}, max_secs = {su1} }}\n\
         stop = \"{stop}\"\ncrash_rate_per_task_hour = {crash}\n{launch}\n\
         [controller]\nperiod_secs = {period}\njitter_secs = {jitter}\n\
         metric_delay_secs = {delay}\n\n\
         [slo]\nwait_secs = 30\n",
        seed = c.seed,
        step_ms = c.step_ms,
        policy = policy_path.display().to_string(),
        initial = c.initial_tasks,
        concurrency = c.concurrency,
        service = c.service_secs,
        su0 = c.startup.0,
        su1 = c.startup.1,
        stop = if c.requeue { "requeue" } else { "drain" },
        crash = c.crash_rate,
        period = c.period_secs,
        jitter = c.jitter_secs,
        delay = c.delay_secs,
    );
    let path = dir.join("scenario.toml");
    std::fs::write(&path, scenario).unwrap();
    path
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random traces, plants, schedules and policies: the spans give the stepped model's
    /// summary (counts exactly, the rest within 0.1 %) and its decisions.
    #[test]
    fn spans_give_the_stepped_models_summary_on_random_scenarios(c in case()) {
        let dir = tempfile::tempdir().unwrap();
        let path = write_case(dir.path(), &c);
        let mut bt = Backtest::prepare(&path, &Overrides::default())
            .unwrap_or_else(|e| panic!("{e}\n{}", std::fs::read_to_string(&path).unwrap()));
        bt.prepared.keep_ticks = true;
        let (spans, steps, out) = both_ways(&mut bt);
        prop_assert!(out.is_empty(), "{}", out.join("\n"));
        prop_assert_eq!(spans.decisions, steps.decisions);
        let desired = |o: &Outcome| o.ticks.iter().map(|t| (t.at_us, t.desired)).collect::<Vec<_>>();
        prop_assert_eq!(desired(&spans), desired(&steps));
    }
}
