//! The deployment files in `live/deploy/`: the CloudFormation template passes `cfn-lint`, and
//! the container's command line and environment are ones `stepscale` accepts. (That the
//! template's role grants exactly what `stepscale iam` prints is a unit test in
//! `live/src/iam.rs`.)

use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("live/deploy")
        .join(file)
}

/// `tests/services/cfn_lint.sh` installs cfn-lint and exports CFN_LINT; the suite's runner
/// calls it. A missing linter is a failure, not a skip.
#[test]
fn the_template_passes_cfn_lint() {
    let linter = std::env::var("CFN_LINT").expect(
        "CFN_LINT is not set: run `bash tests/services/cfn_lint.sh` (tests/run.sh does) and export what it prints",
    );
    let out = Command::new(&linter)
        .arg(deploy("template.json"))
        .output()
        .unwrap_or_else(|e| panic!("{linter}: {e}"));
    assert!(
        out.status.success(),
        "cfn-lint found problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The linter does fail on a broken template (so the pass above means something).
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.json");
    let text = std::fs::read_to_string(deploy("template.json"))
        .unwrap()
        .replace("\"provided.al2023\"", "\"provided.al2099\"");
    std::fs::write(&broken, text).unwrap();
    let out = Command::new(&linter).arg(&broken).output().unwrap();
    assert!(
        !out.status.success(),
        "cfn-lint accepted an unknown runtime"
    );
}

/// The template's bucket keeps versions and blocks public access; the function runs on
/// provided.al2023, on a schedule, with one invocation at a time.
#[test]
fn the_template_has_a_private_versioned_bucket_and_a_scheduled_function() {
    let t: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(deploy("template.json")).unwrap()).unwrap();
    let r = &t["Resources"];
    let bucket = &r["StateBucket"]["Properties"];
    assert_eq!(bucket["VersioningConfiguration"]["Status"], "Enabled");
    for key in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(bucket["PublicAccessBlockConfiguration"][key], true, "{key}");
    }
    let f = &r["Function"]["Properties"];
    assert_eq!(f["Runtime"], "provided.al2023");
    assert_eq!(f["Handler"], "bootstrap");
    assert_eq!(
        t["Parameters"]["Architecture"]["AllowedValues"],
        serde_json::json!(["arm64", "x86_64"])
    );
    assert_eq!(r["Schedule"]["Type"], "AWS::Events::Rule");
    assert_eq!(
        r["Schedule"]["Properties"]["ScheduleExpression"]["Ref"],
        "ScheduleRate"
    );
    // Every variable the function gets is one StepScale reads.
    let known = stepscale_engine::config::env_names();
    for name in f["Environment"]["Variables"].as_object().unwrap().keys() {
        assert!(
            known.contains(&name.as_str()),
            "{name} is not a StepScale variable"
        );
    }
}

/// The task definition's command, after the Dockerfile's entrypoint, parses as a `stepscale`
/// command line, and its environment names only variables StepScale reads.
#[test]
fn the_container_command_and_environment_are_ones_stepscale_accepts() {
    let dockerfile = std::fs::read_to_string(deploy("Dockerfile")).unwrap();
    let entrypoint: Vec<String> = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("ENTRYPOINT "))
        .map(|j| serde_json::from_str(j).unwrap())
        .expect("an ENTRYPOINT in exec form");
    assert_eq!(entrypoint[0], "/usr/local/bin/stepscale");
    assert!(
        dockerfile.contains("USER nonroot"),
        "the image runs as non-root"
    );
    let task: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(deploy("task-definition.json")).unwrap())
            .unwrap();
    let container = &task["containerDefinitions"][0];
    let command: Vec<String> = serde_json::from_value(container["command"].clone()).unwrap();
    // clap parses every argument before it answers --help: an unknown flag or a bad value fails.
    let out = Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .args(&entrypoint[1..])
        .args(&command)
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let known = stepscale_engine::config::env_names();
    for var in container["environment"].as_array().unwrap() {
        let name = var["name"].as_str().unwrap();
        assert!(known.contains(&name), "{name} is not a StepScale variable");
    }
}
