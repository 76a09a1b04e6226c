//! The shipped live policy files (`scenarios/policies/live/`, one per queue type) are complete:
//! `stepscale config` accepts each, with its service, its queue and no secret printed.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_queue_type_has_a_live_policy_that_config_accepts() {
    let dir = root().join("scenarios/policies/live");
    let mut types = BTreeSet::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    for file in files {
        let out = Command::new(env!("CARGO_BIN_EXE_stepscale"))
            .args(["config", "--policy"])
            .arg(&file)
            .env_remove("QUEUE_TYPE")
            .env_remove("RABBITMQ_PASSWORD")
            .env_remove("REDIS_PASSWORD")
            .env_remove("AMQ_PASSWORD")
            .output()
            .expect("the stepscale binary runs");
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
        "kafka",
        "kinesis",
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
    let dir = root().join("scenarios/policies/live");
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for (_, action) in stepscale_live::iam::ACTIONS {
        assert!(readme.contains(action), "README lacks {action}");
    }
    for entry in std::fs::read_dir(&dir).unwrap() {
        let file = entry.unwrap().path();
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
