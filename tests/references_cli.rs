//! End to end: `compare --against aws,keda` runs the reference policies beside the scenario's
//! own, writes each derived policy file, and the file runs again with `backtest --policy`; bad
//! reference input is refused with the key, the value and the rule.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn stepscale(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the stepscale binary runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(out: &Output) -> String {
    assert!(!out.status.success(), "expected a refusal");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn compare_against_aws_and_keda_writes_the_table_and_each_reference_policy() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cmp");
    ok(&stepscale(&[
        "compare",
        "--scenario",
        "scenarios/spike.toml",
        "--against",
        "aws,keda",
        "--out",
        out.to_str().unwrap(),
    ]));
    let table = std::fs::read_to_string(out.join("compare.csv")).unwrap();
    let kinds: Vec<&str> = table
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["step", "aws_target_tracking", "aws_step_scaling", "keda"],
        "{table}"
    );
    for name in ["aws_target_tracking", "aws_step_scaling", "keda"] {
        let file = out.join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains(&format!("kind = \"{name}\"")), "{text}");
        // The written reference is a policy file `backtest --policy` takes unchanged; the
        // scenario's controller period (60 s) divides each reference's own periods.
        let again = dir.path().join(format!("again-{name}"));
        ok(&stepscale(&[
            "backtest",
            "--scenario",
            "scenarios/spike.toml",
            "--policy",
            file.to_str().unwrap(),
            "--out",
            again.to_str().unwrap(),
        ]));
    }
    // Every reference scaled out for the spike: none of them is a policy that never acts.
    for line in table.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let scale_outs: u64 = cols[8].parse().unwrap();
        assert!(scale_outs > 0, "{line}");
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn bad_reference_input_names_the_key_the_value_and_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[policy]\nkind = \"aws_target_tracking\"\nqueue_length = 5\n",
            "queue_length",
        ),
        (
            "[policy]\nkind = \"aws_step_scaling\"\n[policy.alarm]\nevaluation_periods = 3\ndatapoints_to_alarm = 0\n",
            "policy.alarm.datapoints_to_alarm",
        ),
        (
            "[policy]\nkind = \"aws_target_tracking\"\nperiod_secs = 45\n",
            "policy.period_secs",
        ),
        (
            "[policy]\nkind = \"keda\"\nqueue_length = 0\n",
            "policy.queue_length",
        ),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let policy = write(dir.path(), &format!("p{i}.toml"), text);
        let err = refused(&stepscale(&[
            "backtest",
            "--scenario",
            "scenarios/spike.toml",
            "--policy",
            policy.to_str().unwrap(),
            "--out",
            dir.path().join(format!("o{i}")).to_str().unwrap(),
        ]));
        assert!(err.contains(key), "{key}: {err}");
        assert!(!dir.path().join(format!("o{i}")).exists());
    }
    // A step alarm's period the controller period does not divide: 60 s alarm, 45 s
    // decisions. (The reference kinds run at their own cadence and never meet this.)
    let scenario = std::fs::read_to_string(root().join("scenarios/spike.toml"))
        .unwrap()
        .replace("policy_file = \"policies/step.toml\"\n", "")
        + "\n[controller]\nperiod_secs = 45\n";
    let scenario = write(dir.path(), "spike45.toml", &scenario);
    let policy = write(
        dir.path(),
        "alarmed.toml",
        "[policy]\nkind = \"step\"\n[policy.alarm]\nperiod_secs = 60\n",
    );
    let err = refused(&stepscale(&[
        "backtest",
        "--scenario",
        scenario.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
        "--out",
        dir.path().join("o45").to_str().unwrap(),
    ]));
    assert!(
        err.contains("policy.alarm.period_secs") && err.contains("controller.period_secs"),
        "{err}"
    );
    let err = refused(&stepscale(&[
        "compare",
        "--scenario",
        "scenarios/spike.toml",
        "--against",
        "aws,gcp",
        "--out",
        dir.path().join("ox").to_str().unwrap(),
    ]));
    assert!(err.contains("gcp") && err.contains("keda"), "{err}");
}
