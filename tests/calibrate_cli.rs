//! End to end: `stepscale calibrate` on the shipped real recording (the parity harness's pool:
//! 1 s per message), and bad input refused whole with the reason.

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn calibrate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .arg("calibrate")
        .args(args)
        .current_dir(root())
        .output()
        .expect("the stepscale binary runs")
}

const RECORD: &str = "scenarios/records/parity-slo-redis.record.csv";
const ARRIVALS: &str = "scenarios/records/parity-slo-redis.arrivals.csv";
const POLICY: &str = "scenarios/records/parity-slo-redis.toml";

#[test]
fn the_shipped_recording_gives_back_its_service_time_and_a_scenario_that_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("calibrated");
    let o = calibrate(&[
        "--record",
        RECORD,
        "--arrivals",
        ARRIVALS,
        "--policy",
        POLICY,
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("calibration.json")).unwrap())
            .unwrap();
    let service = json["fitted"][0]["estimate"].as_f64().unwrap();
    // The harness's workers take 1 s per message.
    assert!((service - 1.0).abs() < 0.05, "{service}\n{stdout}");
    let [lo, hi] = [
        json["fitted"][0]["interval_90"][0].as_f64().unwrap(),
        json["fitted"][0]["interval_90"][1].as_f64().unwrap(),
    ];
    assert!(lo < 1.0 && 1.0 < hi, "{lo} to {hi}");
    // moto's ECS runs a task the moment it is ordered: the record cannot show the pool's
    // start-up, and calibrate says so.
    assert!(stdout.contains("cannot be resolved"), "{stdout}");
    let run = Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .args(["backtest", "--scenario"])
        .arg(out.join("scenario.toml"))
        .arg("--out")
        .arg(tmp.path().join("backtest"))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // The loop: the live run replayed 20 times on the calibrated plant sits inside the band.
    let parity = Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .args(["parity", "--scenario"])
        .arg(out.join("scenario.toml"))
        .args([
            "--record",
            RECORD,
            "--arrivals",
            ARRIVALS,
            "--seeds",
            "20",
            "--out",
        ])
        .arg(tmp.path().join("parity"))
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        parity.status.success(),
        "{}",
        String::from_utf8_lossy(&parity.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("parity/parity.json")).unwrap(),
    )
    .unwrap();
    let band = &report["band"];
    assert_eq!(band["seeds"], 20);
    for key in ["desired_inside_share", "backlog_inside_share"] {
        let share = band[key].as_f64().unwrap();
        assert!(share >= 0.9, "{key} = {share}: {report}");
    }
}

#[test]
fn estimated_arrivals_without_a_log_are_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("calibrated");
    let o = calibrate(&[
        "--record",
        RECORD,
        "--policy",
        POLICY,
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("estimated arrivals") && err.contains("--arrivals"),
        "{err}"
    );
    assert!(!out.exists());
    let o = calibrate(&[
        "--record",
        RECORD,
        "--arrivals",
        ARRIVALS,
        "--policy",
        "scenarios/policies/target.toml",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("--concurrency"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn a_record_without_an_in_flight_count_needs_the_service_time_stated() {
    // The shipped record as a source without an in-flight count (Kafka's lag) records it: 0.
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join(RECORD)).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let column = header.split(',').position(|h| h == "in_flight").unwrap();
    let mut zeroed = format!("{header}\n");
    for line in lines {
        let mut cells: Vec<&str> = line.split(',').collect();
        if !cells[column].is_empty() {
            cells[column] = "0";
        }
        zeroed.push_str(&cells.join(","));
        zeroed.push('\n');
    }
    let record = tmp.path().join("lag.record.csv");
    std::fs::write(&record, zeroed).unwrap();
    let out = tmp.path().join("calibrated");
    let args = |extra: &[&'static str]| {
        let mut v = vec![
            "--record".to_string(),
            record.display().to_string(),
            "--arrivals".into(),
            ARRIVALS.into(),
            "--policy".into(),
            POLICY.into(),
            "--out".into(),
            out.display().to_string(),
        ];
        v.extend(extra.iter().map(|s| (*s).to_string()));
        v
    };
    let run = |extra: &[&'static str]| {
        let a = args(extra);
        calibrate(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let o = run(&[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("--service-secs"),
        "{err}"
    );
    assert!(!out.exists());
    let o = run(&["--service-secs", "0"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("--service-secs 0"),
        "{err}"
    );
    let o = run(&["--service-secs", "1.25"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let scenario = std::fs::read_to_string(out.join("scenario.toml")).unwrap();
    assert!(scenario.contains("mean_secs = 1.2500"), "{scenario}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("calibration.json")).unwrap())
            .unwrap();
    let fitted = json["fitted"].as_array().unwrap();
    assert!(
        fitted
            .iter()
            .all(|f| f["parameter"] != "plant.service_time (mean)"),
        "{json}"
    );
    assert!(
        json["stated"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["parameter"] == "plant.service_time (mean)"
                && s["source"] == "--service-secs"),
        "{json}"
    );
}
