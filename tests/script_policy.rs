//! The script policy end to end: the shipped script that re-implements `target` decides as
//! `target` on a shipped scenario, `tune` searches a script's params from a space file, and a
//! hostile script holds and logs in `stepscale decide`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use stepscale_sim::{Backtest, Overrides};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn ticks_of(scenario: &Path, policy: Option<PathBuf>) -> Vec<stepscale_sim::model::TickRecord> {
    let bt = Backtest::prepare(
        scenario,
        &Overrides {
            policy,
            ..Overrides::default()
        },
    )
    .unwrap();
    let mut p = bt.prepared.clone();
    p.keep_ticks = true;
    bt.simulate_with(&p, &bt.config).0.ticks
}

#[test]
fn the_shipped_script_target_decides_as_target_on_scale_from_zero() {
    let scenario = root().join("scenarios/scale-from-zero.toml");
    let builtin = ticks_of(&scenario, None);
    let scripted = ticks_of(
        &scenario,
        Some(root().join("scenarios/policies/script-target.toml")),
    );
    assert!(builtin.len() > 300, "{} decisions", builtin.len());
    assert!(
        builtin.iter().any(|t| t.desired > 1) && builtin.iter().any(|t| t.desired == 0),
        "the scenario scales out and back to zero"
    );
    assert_eq!(builtin.len(), scripted.len());
    for (a, b) in builtin.iter().zip(&scripted) {
        assert_eq!(a, b, "the script parts from target here");
    }
}

#[test]
fn tune_searches_a_scripts_params_from_a_space_file() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("tune");
    let status = Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .args(["tune", "--scenario"])
        .arg(root().join("scenarios/spike.toml"))
        .arg("--space")
        .arg(root().join("scenarios/spaces/script-lookahead.toml"))
        .args([
            "--budget",
            "6",
            "--search",
            "random",
            "--threads",
            "1",
            "--out",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let results = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    let header: Vec<&str> = results.lines().next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|h| h.contains("policy.params.per_task"))
        .unwrap_or_else(|| panic!("no per_task column: {header:?}"));
    let values: std::collections::BTreeSet<String> = results
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(col).map(str::to_string))
        .filter(|v| !v.is_empty())
        .collect();
    assert!(values.len() >= 5, "per_task tried: {values:?}");
    let best = std::fs::read_to_string(dir.join("best.toml")).unwrap();
    assert!(
        best.contains("kind = \"script\"") && best.contains("per_task"),
        "{best}"
    );
}

#[test]
fn a_hostile_script_holds_and_logs_in_decide() {
    let work = tempfile::tempdir().unwrap();
    let policy = work.path().join("loop.toml");
    std::fs::write(
        &policy,
        "[guards]\nmin_tasks = 1\nmax_tasks = 20\n\n[policy]\nkind = \"script\"\nsource = \"loop { }\"\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .args(["decide", "--policy"])
        .arg(&policy)
        .env_clear()
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = "{\"at\": 1700000000, \"visible\": 900, \"desired\": 7}\n\
                 {\"at\": 1700000060, \"visible\": 0, \"desired\": 7}\n";
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let decisions: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(decisions.len(), 2, "{stdout}");
    for d in &decisions {
        assert_eq!(d["desired"], 7, "{d}");
        assert_eq!(d["action"], "hold", "{d}");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("script policy failed") && stderr.contains("operations"),
        "{stderr}"
    );
}
