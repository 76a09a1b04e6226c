//! The shipped live policy files (`scenarios/policies/live/`, one per queue type) are complete:
//! `stepscale config` accepts each, with its service, its queue and no secret printed; `iam`
//! grants each exactly what it reads; each scales out on a rising backlog.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped live policy files, in name order.
fn live_examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("scenarios/policies/live"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// `stepscale config --policy FILE` with no provider variables that would override the file.
fn config(file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .args(["config", "--policy"])
        .arg(file)
        .env_remove("QUEUE_TYPE")
        .env_remove("RABBITMQ_PASSWORD")
        .env_remove("REDIS_PASSWORD")
        .env_remove("AMQ_PASSWORD")
        .output()
        .expect("the stepscale binary runs")
}

#[test]
fn every_queue_type_has_a_live_policy_that_config_accepts() {
    let mut types = BTreeSet::new();
    for file in live_examples() {
        let out = config(&file);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("[service]") && stdout.contains("cluster = \"prod\""),
            "{}: {stdout}",
            file.display()
        );
        for line in stdout.lines() {
            if let Some(t) = line.strip_prefix("type = ") {
                types.insert(t.trim_matches('"').to_string());
            }
        }
    }
    let expected: BTreeSet<String> = [
        "amazon_mq",
        "cloudwatch",
        "kafka",
        "kinesis",
        "prometheus",
        "rabbitmq",
        "redis",
        "sns",
        "sqs",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(types, expected, "one live policy per queue type");
}

#[test]
fn iam_prints_a_least_privilege_policy_for_every_live_example() {
    let readme = std::fs::read_to_string(root().join("live/README.md")).unwrap();
    for (_, action) in stepscale_live::iam::ACTIONS {
        assert!(
            readme.contains(action),
            "live/README.md's IAM table lacks {action}"
        );
    }
    for file in live_examples() {
        let out = Command::new(env!("CARGO_BIN_EXE_stepscale"))
            .args([
                "iam",
                "--account",
                "123456789012",
                "--region",
                "eu-west-1",
                "--policy",
            ])
            .arg(&file)
            .output()
            .expect("the stepscale binary runs");
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let statements = doc["Statement"].as_array().unwrap();
        assert!(
            statements
                .iter()
                .any(|s| s["Resource"][0]
                    == "arn:aws:ecs:eu-west-1:123456789012:service/prod/worker"),
            "{}: {doc}",
            file.display()
        );
        for s in statements {
            for a in s["Action"].as_array().unwrap() {
                assert!(
                    !a.as_str().unwrap().contains('*'),
                    "{}: {a}",
                    file.display()
                );
            }
        }
    }
}

/// Each shipped live policy, copied with only its names changed, scales out on a rising
/// backlog when driven through `stepscale decide` with what its source reports: the counts,
/// plus the arrival rate and the oldest message's age where the source gives them. (The Redis
/// example once held at 2 tasks on every tick: an `slo` policy on a source that cannot teach
/// the service time.)
#[test]
fn every_shipped_live_policy_scales_out_on_a_rising_backlog() {
    use std::fmt::Write as _;
    use std::io::Write as _;
    let work = tempfile::tempdir().unwrap();
    let files = live_examples();
    assert_eq!(files.len(), 9, "one example per queue type");
    for file in files {
        let text = std::fs::read_to_string(&file)
            .unwrap()
            .replace("cluster = \"prod\"", "cluster = \"acme\"")
            .replace("name = \"worker\"", "name = \"billing\"");
        let copy = work.path().join(file.file_name().unwrap());
        std::fs::write(&copy, &text).unwrap();
        let config: stepscale_engine::Config =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let rate = config
            .queues
            .iter()
            .all(stepscale_engine::config::QueueConfig::reports_arrival_rate);
        let age = config.queues.len() == 1 && config.queues[0].reports_oldest_age();
        // A minute per line for 40 minutes: 2 tasks of 4 slots busy at 2 s a message (4 msg/s
        // served) while 6 msg/s arrive, so the backlog rises by 120 a minute to 4,800.
        let mut input = String::new();
        for minute in 0..40u32 {
            let visible = 120 * minute;
            let _ = write!(
                input,
                "{{\"at\": {}, \"visible\": {visible}, \"in_flight\": 8, \"desired\": 2",
                1_767_571_200 + 60 * minute
            );
            if rate {
                input.push_str(", \"arrival_rate_per_s\": 6.0");
            }
            if age && visible > 0 {
                let _ = write!(input, ", \"oldest_age_s\": {}", f64::from(visible) / 6.0);
            }
            input.push_str("}\n");
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_stepscale"))
            .args(["decide", "--policy"])
            .arg(&copy)
            .env_remove("QUEUE_TYPE")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the stepscale binary runs");
        let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let outs: Vec<serde_json::Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(
            outs.iter().any(|o| o["action"] == "scale_out"
                && o["desired"].as_u64().is_some_and(|d| d > 2)),
            "{} never scaled out on a backlog rising to 4,680 (rate given: {rate}, age given: {age}):\n{stdout}",
            file.display()
        );
    }
}

/// `stepscale config` refuses an `slo` policy without `service_secs` on a source that
/// reports neither a rate nor an age, naming the key and the way out.
#[test]
fn config_refuses_an_slo_policy_that_could_never_learn_its_service_time() {
    let text = std::fs::read_to_string(root().join("scenarios/policies/live/redis.toml"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("service_secs"))
        .collect::<Vec<_>>()
        .join("\n");
    let work = tempfile::tempdir().unwrap();
    let copy = work.path().join("redis.toml");
    std::fs::write(&copy, text).unwrap();
    let out = config(&copy);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("policy.service_secs") && stderr.contains("redis"),
        "{stderr}"
    );
}
