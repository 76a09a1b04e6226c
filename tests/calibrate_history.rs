//! `stepscale calibrate --since` against moto: an SQS queue's CloudWatch history (seeded, as
//! moto has no service metrics) and its ECS service give a scenario with the service time the
//! history implies, and `tune` runs on it unchanged.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn stepscale(args: &[&str]) -> Output {
    support::aws::at_moto(
        Command::new(env!("CARGO_BIN_EXE_stepscale"))
            .args(args)
            .current_dir(root()),
    )
    .output()
    .expect("the stepscale binary runs")
}

fn policy(dir: &Path, cluster: &str, service: &str, queue: &str) -> PathBuf {
    let path = dir.join("live.toml");
    std::fs::write(
        &path,
        format!(
            "[service]\ncluster = \"{cluster}\"\nname = \"{service}\"\n\n[[queues]]\ntype = \"sqs\"\nqueue_name = \"{queue}\"\ncloudwatch_metrics = true\n\n[guards]\nmin_tasks = 1\nmax_tasks = 40\n\n[policy]\nkind = \"slo\"\nwait_secs = 30.0\nconcurrency = 2\n"
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn cloudwatch_history_gives_a_scenario_that_tune_runs_on() {
    let sdk = support::aws::sdk().await;
    let (cluster, service) = support::aws::ecs_service(&sdk, 3).await;
    let queue = support::unique("history");
    // 40 minutes: 600 messages sent and 600 deleted a minute, 25 in flight on average, so
    // 25 × 60 s of work per 600 messages: 2.5 s each. Mid-minute, one datapoint a minute.
    for k in 1..=40u64 {
        let ago = 60 * k + 30;
        for (metric, value) in [
            ("NumberOfMessagesSent", 600.0),
            ("NumberOfMessagesDeleted", 600.0),
            ("ApproximateNumberOfMessagesNotVisible", 25.0),
        ] {
            support::aws::put_metric(
                &sdk,
                "AWS/SQS",
                metric,
                &[("QueueName", &queue)],
                value,
                ago,
            )
            .await;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let live = policy(dir.path(), &cluster, &service, &queue);
    let out = dir.path().join("calibrated");
    let o = stepscale(&[
        "calibrate",
        "--since",
        "60m",
        "--policy",
        live.to_str().unwrap(),
        "--startup-secs",
        "30",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&o.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("calibration.json")).unwrap())
            .unwrap();
    let service_s = json["fitted"][0]["estimate"].as_f64().unwrap();
    assert!((service_s - 2.5).abs() < 0.05, "{service_s}\n{stdout}");
    let scenario = std::fs::read_to_string(out.join("scenario.toml")).unwrap();
    assert!(
        scenario.contains("startup = { kind = \"constant\", secs = 30 }")
            && scenario.contains("initial_tasks = 3")
            && scenario.contains("concurrency = 2"),
        "{scenario}"
    );
    let trace = std::fs::read_to_string(out.join("trace.csv")).unwrap();
    assert!(trace.lines().count() >= 40, "{trace}");
    // tune runs on it as it is.
    let tuned = stepscale(&[
        "tune",
        "--scenario",
        out.join("scenario.toml").to_str().unwrap(),
        "--space",
        "tests/spaces/target-small.toml",
        "--budget",
        "5",
        "--out",
        dir.path().join("tune").to_str().unwrap(),
    ]);
    assert!(
        tuned.status.success(),
        "{}",
        String::from_utf8_lossy(&tuned.stderr)
    );
    // Without a stated start-up, and no task ECS saw start, it says what is missing.
    let o = stepscale(&[
        "calibrate",
        "--since",
        "60m",
        "--policy",
        live.to_str().unwrap(),
        "--out",
        dir.path().join("none").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("plant.startup"),
        "{err}"
    );
    assert!(!dir.path().join("none").exists());
    // A queue with no history is refused, naming the service-time data it lacks.
    let empty = policy(dir.path(), &cluster, &service, &support::unique("silent"));
    let o = stepscale(&[
        "calibrate",
        "--since",
        "60m",
        "--policy",
        empty.to_str().unwrap(),
        "--startup-secs",
        "30",
        "--out",
        dir.path().join("silent").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("plant.service_time"),
        "{err}"
    );
}
