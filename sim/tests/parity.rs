//! `stepscale parity` against a run whose answer is known: a "live" record written by the
//! simulator itself must agree with its replay on every tick, and a record shifted by one
//! decision must not.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use stepscale_engine::time::push_rfc3339_secs;
use stepscale_sim::model::TickRecord;
use stepscale_sim::parity::{self, ParityInputs};
use stepscale_sim::{Backtest, Overrides};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The plant's arrivals as the harness's generator sends them, from 2026-01-05T00:00:00Z.
fn arrivals_log(dir: &Path) -> PathBuf {
    let plant = stepscale_sim::Scenario::load(&repo().join("tests/parity/plant.toml")).unwrap();
    let t0 = 1_767_571_200.0_f64;
    let mut text = String::from("time\n");
    let sends = stepscale_sim::synth::even_send_times(
        &plant.arrivals.synthetic,
        plant.duration_secs.unwrap(),
    );
    for at in sends {
        let _ = writeln!(text, "{:.6}", t0 + at);
    }
    let path = dir.join("sent.csv");
    std::fs::write(&path, text).unwrap();
    path
}

/// Writes `ticks` as `stepscale run --record` would.
fn record(dir: &Path, ticks: &[TickRecord]) -> PathBuf {
    let mut text = String::from(
        "time,arrivals,arrivals_estimated,visible,in_flight,delayed,desired,running,pending,action\n",
    );
    for t in ticks {
        push_rfc3339_secs(&mut text, t.at_us);
        let _ = writeln!(
            text,
            ",0.000,true,{},{},0,{},{},0,{}",
            t.visible, t.in_flight, t.previous, t.previous, t.action
        );
    }
    let path = dir.join("record.csv");
    std::fs::write(&path, text).unwrap();
    path
}

fn simulated_ticks(policy: &Path, sent: &Path) -> Vec<TickRecord> {
    let mut bt = Backtest::prepare(
        &repo().join("tests/parity/plant.toml"),
        &Overrides {
            trace: Some(sent.to_path_buf()),
            policy: Some(policy.to_path_buf()),
            ..Overrides::default()
        },
    )
    .unwrap();
    bt.prepared.keep_ticks = true;
    let (outcome, _) = bt.simulate();
    outcome.ticks
}

#[test]
fn a_record_of_the_simulator_agrees_with_its_replay_on_every_tick() {
    for kind in ["seed", "step", "target", "slo"] {
        let dir = tempfile::tempdir().unwrap();
        let sent = arrivals_log(dir.path());
        let policy = repo().join(format!("tests/parity/policies/{kind}.toml"));
        let ticks = simulated_ticks(&policy, &sent);
        assert!(ticks.len() > 200, "{kind}: {} ticks", ticks.len());
        assert!(
            ticks
                .iter()
                .any(|t| t.action == stepscale_engine::Action::ScaleOut)
                && ticks
                    .iter()
                    .any(|t| t.action == stepscale_engine::Action::ScaleIn),
            "{kind}: the plant should make the policy scale both ways"
        );
        let inputs = ParityInputs {
            scenario: repo().join("tests/parity/plant.toml"),
            policy: Some(policy),
            record: record(dir.path(), &ticks),
            arrivals: Some(sent),
            seeds: 1,
        };
        let p = parity::run(&inputs).unwrap();
        let r = &p.report;
        assert_eq!(r.ticks, ticks.len(), "{kind}");
        assert!(
            (r.same_action_share - 1.0).abs() < 1e-12 && r.max_desired_gap == 0,
            "{kind}: {r:?}"
        );
        assert!(r.mean_backlog_gap.abs() < 1e-12, "{kind}: {r:?}");

        // The same record one decision late everywhere: the comparison must see it.
        let late: Vec<TickRecord> = ticks
            .iter()
            .zip(ticks.iter().skip(1))
            .map(|(a, b)| TickRecord {
                at_us: b.at_us,
                ..*a
            })
            .collect();
        let inputs = ParityInputs {
            record: record(dir.path(), &late),
            ..inputs
        };
        let shifted = parity::run(&inputs).unwrap().report;
        assert!(
            shifted.same_action_share < 1.0 && shifted.mean_backlog_gap > 0.0,
            "{kind}: {shifted:?}"
        );
    }
}

#[test]
fn a_scenario_with_another_period_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let sent = arrivals_log(dir.path());
    let policy = repo().join("tests/parity/policies/step.toml");
    let ticks = simulated_ticks(&policy, &sent);
    // Every other tick: a record 2 s apart against a 1 s scenario.
    let sparse: Vec<TickRecord> = ticks.iter().step_by(2).copied().collect();
    let e = parity::run(&ParityInputs {
        scenario: repo().join("tests/parity/plant.toml"),
        policy: Some(policy),
        record: record(dir.path(), &sparse),
        arrivals: Some(sent),
        seeds: 1,
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("controller.period_secs") && e.contains("2.000 s apart"),
        "{e}"
    );
}

/// The parity plant with random service and start-up times (lognormal), service time scaled by
/// `slow`.
fn random_plant(dir: &Path, slow: f64) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("tests/parity/plant.toml"))
        .unwrap()
        .replace(
            "service_time = { kind = \"constant\", secs = 1.0 }",
            &format!(
                "service_time = {{ kind = \"lognormal\", median_secs = {}, sigma = 0.5 }}",
                0.9 * slow
            ),
        )
        .replace(
            "startup = { kind = \"constant\", secs = 4.5 }",
            "startup = { kind = \"lognormal\", median_secs = 4.5, sigma = 0.3 }",
        );
    assert!(
        text.contains("median_secs = 4.5"),
        "the plant file changed: {text}"
    );
    let path = dir.join(format!("random-{slow}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// The share of one run's ticks inside the band of 20 replays, for "live" runs of `live_plant`
/// at 20 seeds the replays do not use, each replayed on `replayed`: (desired, backlog) a run.
fn shares_inside(dir: &Path, live_plant: &Path, replayed: &Path) -> Vec<(f64, f64)> {
    let sent = arrivals_log(dir);
    let policy = repo().join("tests/parity/policies/target.toml");
    (9_000..9_020)
        .map(|seed| {
            let mut bt = Backtest::prepare(
                live_plant,
                &Overrides {
                    trace: Some(sent.clone()),
                    policy: Some(policy.clone()),
                    seed: Some(seed),
                    ..Overrides::default()
                },
            )
            .unwrap();
            bt.prepared.keep_ticks = true;
            let live = bt.simulate().0.ticks;
            let p = parity::run(&ParityInputs {
                scenario: replayed.to_path_buf(),
                policy: Some(policy.clone()),
                record: record(dir, &live),
                arrivals: Some(sent.clone()),
                seeds: 20,
            })
            .unwrap();
            assert_eq!(p.bands.len(), p.compared.len());
            assert!(p.csv().lines().next().unwrap().ends_with("sim_backlog_p95"));
            let b = p.report.band.unwrap();
            assert!((b.nominal_coverage - 19.0 / 21.0).abs() < 1e-12, "{b:?}");
            (b.desired_inside_share, b.backlog_inside_share)
        })
        .collect()
}

/// Mean, lowest, and how many runs fell under 90 %, of one column of [`shares_inside`].
fn spread(shares: &[(f64, f64)], column: fn(&(f64, f64)) -> f64) -> (f64, f64, usize) {
    let v: Vec<f64> = shares.iter().map(column).collect();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let low = v.iter().copied().fold(f64::INFINITY, f64::min);
    (mean, low, v.iter().filter(|&&x| x < 0.9).count())
}

#[test]
fn a_random_plant_sits_inside_the_band_of_its_replays_and_a_wrong_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let plant = random_plant(dir.path(), 1.0);
    let right = shares_inside(dir.path(), &plant, &plant);
    let wrong = shares_inside(dir.path(), &plant, &random_plant(dir.path(), 1.6));
    let desired = |s: &(f64, f64)| s.0;
    let backlog = |s: &(f64, f64)| s.1;
    for (name, shares) in [("right plant", &right), ("plant 60 % slower", &wrong)] {
        let (dm, dl, df) = spread(shares, desired);
        let (bm, bl, bf) = spread(shares, backlog);
        println!(
            "{name}, 20 runs: desired inside mean {:.1} %, lowest {:.1} %, {df} under 90 %; backlog mean {:.1} %, lowest {:.1} %, {bf} under 90 %",
            dm * 100.0,
            dl * 100.0,
            bm * 100.0,
            bl * 100.0
        );
    }
    // The band's promise is for a tick: a run of the replayed plant itself is inside it 19
    // times in 21 or more. A run's ticks come in stretches, so one run's share spreads around
    // that; the mean over runs must keep it.
    let (right_mean, _, _) = spread(&right, desired);
    let (right_backlog, _, _) = spread(&right, backlog);
    let (wrong_mean, _, _) = spread(&wrong, desired);
    assert!(right_mean >= 0.9 && right_backlog >= 0.9, "{right:?}");
    assert!(
        wrong_mean + 0.2 < right_mean,
        "a plant 60 % slower should fall outside the band: {wrong:?} against {right:?}"
    );
}

#[test]
fn a_shadow_policy_is_replayed_beside_the_acting_one_and_compared() {
    let dir = tempfile::tempdir().unwrap();
    let sent = arrivals_log(dir.path());
    // The acting policy (target) with the step policy as its shadow.
    let step = std::fs::read_to_string(repo().join("tests/parity/policies/step.toml")).unwrap();
    let mut text =
        std::fs::read_to_string(repo().join("tests/parity/policies/target.toml")).unwrap();
    text.push_str("\n[[shadow]]\nname = \"step\"\n");
    for line in step.lines() {
        match line.strip_prefix("[[") {
            Some(rest) => {
                let _ = writeln!(text, "[[shadow.{rest}");
            }
            None => match line.strip_prefix('[') {
                Some(rest) => {
                    let _ = writeln!(text, "[shadow.{rest}");
                }
                None => {
                    let _ = writeln!(text, "{line}");
                }
            },
        }
    }
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, text).unwrap();
    let mut bt = Backtest::prepare(
        &repo().join("tests/parity/plant.toml"),
        &Overrides {
            trace: Some(sent.clone()),
            policy: Some(policy.clone()),
            ..Overrides::default()
        },
    )
    .unwrap();
    bt.prepared.keep_ticks = true;
    bt.prepared.shadows = bt
        .config
        .shadow
        .iter()
        .map(|s| bt.config.for_shadow(s).controller())
        .collect();
    let (outcome, _) = bt.simulate();
    assert_eq!(outcome.shadow_desired.len(), outcome.ticks.len());
    // The shadow is decided, not acted on: it would have set other counts than the acting one.
    assert!(outcome
        .ticks
        .iter()
        .zip(&outcome.shadow_desired)
        .any(|(t, &s)| t.desired != s));
    let write = |shadow: &[u32]| {
        let plain = record(dir.path(), &outcome.ticks);
        let text = std::fs::read_to_string(&plain).unwrap();
        let mut out = String::new();
        for (i, line) in text.lines().enumerate() {
            match i {
                0 => {
                    let _ = writeln!(out, "{line},shadow_desired");
                }
                _ => {
                    let _ = writeln!(out, "{line},{}", shadow[i - 1]);
                }
            }
        }
        let path = dir.path().join("shadowed.csv");
        std::fs::write(&path, out).unwrap();
        path
    };
    let inputs = ParityInputs {
        scenario: repo().join("tests/parity/plant.toml"),
        policy: Some(policy),
        record: write(&outcome.shadow_desired),
        arrivals: Some(sent),
        seeds: 1,
    };
    let r = parity::run(&inputs).unwrap().report;
    assert_eq!(r.shadows.len(), 1, "{r:?}");
    let s = &r.shadows[0];
    assert_eq!((s.name.as_str(), s.ticks), ("step", outcome.ticks.len()));
    assert!(
        (s.same_desired_share - 1.0).abs() < 1e-12 && s.max_desired_gap == 0,
        "{s:?}"
    );
    // The shadow's counts one decision late: the comparison must see it.
    let mut late = outcome.shadow_desired.clone();
    late.rotate_right(1);
    let inputs = ParityInputs {
        record: write(&late),
        ..inputs
    };
    let r = parity::run(&inputs).unwrap().report;
    assert!(r.shadows[0].same_desired_share < 1.0, "{:?}", r.shadows);
    assert!(r.shadow_columns_not_compared.is_empty(), "{r:?}");
    // A policy without that shadow: the column is named as not compared, not passed over.
    let r = parity::run(&ParityInputs {
        policy: Some(repo().join("tests/parity/policies/target.toml")),
        ..inputs
    })
    .unwrap()
    .report;
    assert!(r.shadows.is_empty(), "{r:?}");
    assert_eq!(r.shadow_columns_not_compared, ["shadow_desired"]);
}

#[test]
fn the_replay_samples_the_queue_when_the_record_says_it_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let sent = arrivals_log(dir.path());
    let policy = repo().join("tests/parity/policies/target.toml");
    let ticks = simulated_ticks(&policy, &sent);
    let plain = std::fs::read_to_string(record(dir.path(), &ticks)).unwrap();
    let with_read = |cell: &str| {
        let mut out = String::new();
        for (i, line) in plain.lines().enumerate() {
            let extra = if i == 0 { "read_ms" } else { cell };
            let _ = writeln!(out, "{line},{extra}");
        }
        let path = dir.path().join("read.csv");
        std::fs::write(&path, out).unwrap();
        path
    };
    let inputs = ParityInputs {
        scenario: repo().join("tests/parity/plant.toml"),
        policy: Some(policy),
        record: with_read("250"),
        arrivals: Some(sent),
        seeds: 1,
    };
    let p = parity::run(&inputs).unwrap();
    assert_eq!(p.compared.len(), ticks.len());
    for c in &p.compared {
        assert_eq!(
            c.sim.at_us,
            c.live.at_us + 250_000,
            "sampled and acted at the read"
        );
    }
    // Read at the tick itself: the replay is the one without the column, tick for tick.
    let at_tick = parity::run(&ParityInputs {
        record: with_read("0"),
        ..inputs.clone()
    })
    .unwrap();
    let without = parity::run(&ParityInputs {
        record: record(dir.path(), &ticks),
        ..inputs.clone()
    })
    .unwrap();
    let sims = |p: &parity::Parity| p.compared.iter().map(|c| c.sim).collect::<Vec<_>>();
    assert_eq!(sims(&at_tick), sims(&without));
    assert!(
        (without.report.same_action_share - 1.0).abs() < 1e-12,
        "{:?}",
        without.report
    );
    let e = parity::run(&ParityInputs {
        record: with_read("-3"),
        ..inputs
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("read_ms") && e.contains("-3"), "{e}");
}
