//! The fluid model's spans against the plain stepped model: every shipped scenario, run in
//! fluid mode both ways, must give the same summary (counts exactly, every other figure within
//! 0.1 %), so integrating a stretch the fleet keeps up with in one go changes no result.

use std::path::Path;

use serde_json::Value;
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
