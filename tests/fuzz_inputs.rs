//! Property tests over every input parser: arbitrary bytes and mutated valid inputs for the
//! scenario, the policy file, the space file, the trace, the JSON line of `decide`, the Lambda
//! event payload, the state document, fast-autoscaler v0.2's state document, `parity`'s record
//! reader, the recorder's last-row reader, `shard.json` and the environment. The property: no panic; every
//! input is accepted or refused with an error.
//!
//! The case count comes from `PROPTEST_CASES` (default 256 per property here, about 2,500 in
//! all); `PROPTEST_CASES=20000 cargo test --release --test fuzz_inputs` is the longer run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use stepscale_engine::{Config, ScalerState};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Values that break careless parsers.
const NASTY: &[&str] = &[
    "-1",
    "0",
    "-0.0",
    "1e308",
    "-1e308",
    "nan",
    "inf",
    "-inf",
    "18446744073709551615",
    "9223372036854775807",
    "-9223372036854775808",
    "4294967296",
    "\"\"",
    "\"x\"",
    "\"\\u0000\"",
    "true",
    "[]",
    "[1, \"a\"]",
    "{}",
    "{ min = 1 }",
    "1.5",
    "0.000001",
    "\"2026-13-45T99:99:99Z\"",
    "\"0000-01-01T00:00:00Z\"",
];

/// A valid text with one line's value replaced, a line dropped or a line repeated.
fn mutated(base: &'static str) -> impl Strategy<Value = String> {
    let lines: Vec<&'static str> = base.lines().collect();
    let n = lines.len();
    (0..n, 0..NASTY.len(), 0..4u8).prop_map(move |(i, v, how)| {
        let mut out: Vec<String> = lines.iter().map(|l| (*l).to_string()).collect();
        match how {
            0 | 1 => {
                if let Some((key, _)) = out[i].split_once('=') {
                    out[i] = format!("{key}= {}", NASTY[v]);
                }
            }
            2 => {
                out.remove(i);
            }
            _ => {
                let l = out[i].clone();
                out.insert(i, l);
            }
        }
        out.join("\n")
    })
}

/// Arbitrary text, printable or not.
fn junk() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<Vec<u8>>().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        "[ -~\n]{0,200}",
    ]
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const SCENARIO: &str = include_str!("../scenarios/steady.toml");
const POLICY: &str = include_str!("../scenarios/policies/step.toml");
const SPACE: &str = include_str!("../scenarios/spaces/target.toml");
const LIVE: &str = "[service]\ncluster = \"c\"\nname = \"s\"\n[[queues]]\ntype = \"rabbitmq\"\nhost = \"h\"\nport = 5672\nqueues = [\"q\"]\nusername = \"u\"\npassword = \"p\"\nmanagement_url = \"http://h:15672\"\n[guards]\nmin_tasks = 1\nmax_tasks = 5\n[policy]\nkind = \"slo\"\nwait_secs = 30.0\nconcurrency = 2\n";

proptest! {
    #![proptest_config(config())]

    #[test]
    fn scenario_files_never_panic(text in prop_oneof![mutated(SCENARIO), junk()]) {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "s.toml", &text);
        if let Ok(s) = stepscale_sim::Scenario::load(&path) {
            if s.validate(&path).is_ok() {
                let _ = s.scaler_config(&path);
            }
        }
    }

    #[test]
    fn policy_files_never_panic(
        text in prop_oneof![mutated(POLICY), mutated(LIVE), junk()]
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "p.toml", &text);
        let _ = stepscale_sim::policy_file::load(&path, &BTreeMap::new());
    }

    #[test]
    fn space_files_never_panic(text in prop_oneof![mutated(SPACE), junk()]) {
        if let Ok(space) = stepscale_sim::tune::Space::parse(&text, Path::new("space.toml")) {
            let n = space.params.len();
            for u in [0.0, 0.5, 1.0] {
                let _ = space.config(&vec![u; n]);
            }
        }
    }

    #[test]
    fn traces_never_panic(
        rows in proptest::collection::vec(
            (prop_oneof![
                Just("2026-01-05T00:00:00Z".to_string()),
                Just("1700000000".to_string()),
                Just("0000-01-01T00:00:00Z".to_string()),
                Just("9999-12-31T23:59:59Z".to_string()),
                "[0-9]{1,20}",
                "[ -~]{0,12}",
            ], prop_oneof![Just("5".to_string()), "[-0-9.e]{0,12}", "[ -~]{0,6}"]),
            0..8,
        ),
        header in prop_oneof![Just("time,count".to_string()), "[a-z,]{0,12}"],
        scale in prop_oneof![Just(1.0f64), any::<f64>()],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut text = header.clone();
        text.push('\n');
        for (t, v) in &rows {
            let _ = writeln!(text, "{t},{v}");
        }
        let path = write(dir.path(), "t.csv", &text);
        for value_column in [Some("count".to_string()), None] {
            let spec = stepscale_sim::trace::TraceSpec {
                path: path.clone(),
                time_column: "time".into(),
                value_column,
                time_format: stepscale_sim::timefmt::TimeFormat::Auto,
                scale,
            };
            let _ = stepscale_sim::trace::read(&spec);
        }
    }

    #[test]
    fn state_documents_never_panic(
        text in prop_oneof![
            junk(),
            (any::<i64>(), any::<i64>(), any::<u32>()).prop_map(|(a, b, c)| format!(
                "{{\"last_scale_out_ms\": {a}, \"last_scale_in_ms\": {b}, \"consecutive_failures\": {c}, \"recommendations\": [{{\"at_ms\": {a}, \"tasks\": {c}}}]}}"
            )),
        ],
        now in any::<i64>(),
    ) {
        if let Ok(mut state) = serde_json::from_str::<ScalerState>(&text) {
            let _ = state.clamp_times(now);
            let config = Config::default();
            let controller = config.controller();
            let clock = stepscale_engine::ManualClock::new(now);
            let _ = controller.tick(
                &clock,
                &[Ok(stepscale_engine::QueueSample::visible(500))],
                stepscale_engine::ServiceState::settled(5),
                &mut state,
            );
        }
    }

    #[test]
    fn environments_never_panic(
        vars in proptest::collection::btree_map(
            proptest::sample::select(stepscale_engine::config::env_names()),
            prop_oneof![
                proptest::sample::select(NASTY).prop_map(str::to_string),
                "[ -~]{0,16}",
            ],
            0..10,
        )
    ) {
        let vars: BTreeMap<String, String> =
            vars.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        if let Ok(c) = Config::from_env(&vars) {
            let _ = c.validate();
        }
    }

    #[test]
    fn lambda_event_payloads_never_panic(
        payload in prop_oneof![
            junk().prop_map(serde_json::Value::String),
            proptest::collection::btree_map(
                proptest::sample::select(vec![
                    "min_tasks", "max_tasks", "scale_up_threshold", "queue_type",
                    "service_name", "ecs_cluster", "tasks_per_message", "nonsense",
                ]),
                prop_oneof![
                    any::<i64>().prop_map(serde_json::Value::from),
                    any::<f64>().prop_map(serde_json::Value::from),
                    "[ -~]{0,10}".prop_map(serde_json::Value::from),
                    Just(serde_json::Value::Null),
                    Just(serde_json::json!([1, 2])),
                ],
                0..6,
            ).prop_map(|m| serde_json::json!({ "config": m })),
        ]
    ) {
        let _ = stepscale_live::lambda::config_for(&BTreeMap::new(), &payload);
    }

    #[test]
    fn v02_state_documents_never_panic(
        text in prop_oneof![
            junk(),
            "\\PC{0,30}".prop_map(|t| format!("{{\"timestamp\": {t:?}}}")),
            "[0-9T:.Z+é-]{0,30}".prop_map(|t| format!("{{\"last_action\": \"{t}\"}}")),
        ]
    ) {
        let _ = stepscale_live::state::v02::parse(&text);
    }

    #[test]
    fn parity_records_never_panic(text in prop_oneof![mutated(RECORD), junk()]) {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "record.csv", &text);
        if let Ok(ticks) = stepscale_sim::parity::read_record(&path) {
            let _ = stepscale_sim::parity::arrivals_from_record(&ticks);
        }
    }

    #[test]
    fn a_records_last_row_never_panics(rows in prop_oneof![mutated(RECORD), junk()]) {
        // The recorder reads the last complete row of a file it wrote to continue from it.
        let dir = tempfile::tempdir().unwrap();
        let header = RECORD.lines().next().unwrap_or_default();
        let body = rows.lines().skip(1).collect::<Vec<_>>().join("\n");
        let path = write(dir.path(), "trace.csv", &format!("{header}\n{body}\n"));
        let _ = stepscale_live::record::TraceRecorder::new(&path, &[]);
    }
}

/// A record as `stepscale run --record` writes it, for the mutations.
const RECORD: &str =
    "time,arrivals,arrivals_estimated,visible,in_flight,delayed,desired,running,pending,action
2026-01-05T00:00:00.000Z,0.000,true,0,0,0,1,1,0,hold
2026-01-05T00:00:01.000Z,3.000,true,3,0,0,1,1,0,scale_out
2026-01-05T00:00:02.000Z,,,5,0,0,2,2,0,hold
2026-01-05T00:00:03.000Z,,,,,,2,2,0,hold
2026-01-05T00:00:04.000Z,1.500,false,2,1,0,2,2,0,scale_in
";

/// shard.json files: a real shard with each number in turn replaced by a nasty value (forged
/// shard counts among them) is read and merged without a panic or a huge allocation.
#[test]
fn shard_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shard");
    let made = Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .args([
            "tune",
            "--scenario",
            "scenarios/steady.toml",
            "--space",
            "tests/spaces/target-small.toml",
            "--budget",
            "4",
            "--search",
            "random",
            "--shard",
            "0/2",
            "--out",
        ])
        .arg(&out)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let text = std::fs::read_to_string(out.join("shard.json")).unwrap();
    // Where each number starts and ends.
    let bytes = text.as_bytes();
    let mut numbers = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric()) {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || b".eE+-".contains(&bytes[i])) {
                i += 1;
            }
            numbers.push((start, i));
        } else {
            i += 1;
        }
    }
    let mut tried = 0;
    for &(start, end) in numbers.iter().take(300) {
        for nasty in [
            "18446744073709551615",
            "4294967296",
            "-1",
            "0",
            "1e308",
            "\"x\"",
        ] {
            let forged = format!("{}{nasty}{}", &text[..start], &text[end..]);
            if let Ok(run) = serde_json::from_str::<stepscale_sim::tune::TuneRun>(&forged) {
                let _ = stepscale_sim::tune::merge(vec![run.clone()]);
                let _ = stepscale_sim::tune::merge(vec![run.clone(), run]);
                tried += 1;
            }
        }
    }
    assert!(tried > 50, "only {tried} forged shards parsed");
}

/// `decide` is the binary's own parser: its lines go through the real command.
#[test]
fn decide_lines_never_panic() {
    let cases: u32 = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: cases.min(2000),
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let line = prop_oneof![
        junk(),
        (
            prop_oneof![
                any::<i64>().prop_map(|v| v.to_string()),
                any::<f64>().prop_map(|v| format!("{v:?}")),
                Just("\"2026-01-05T00:00:00Z\"".to_string()),
                Just("true".to_string()),
                Just("\"0000-01-01T00:00:00Z\"".to_string()),
            ],
            any::<i64>(),
            any::<i64>(),
        )
            .prop_map(|(at, v, d)| format!(
                "{{\"at\": {at}, \"visible\": {v}, \"desired\": {d}, \"running\": {d}}}"
            )),
    ];
    // One process per line: the command stops at its first bad line.
    for _ in 0..cases.min(2000) {
        let l = line
            .new_tree(&mut runner)
            .unwrap()
            .current()
            .replace('\n', " ");
        {
            let mut child = Command::new(env!("CARGO_BIN_EXE_stepscale"))
                .args(["decide", "--policy", "scenarios/policies/target.toml"])
                .current_dir(root())
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("{l}\n").as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!err.contains("panicked"), "{l}: {err}");
            assert!(
                out.status.code().is_some_and(|c| c == 0 || c == 1),
                "{l}: {:?} {err}",
                out.status
            );
        }
    }
}
