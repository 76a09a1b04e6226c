//! End to end: no error, log line or `config` output holds a password, across a set of broken
//! and valid policy files given to `config`, `decide`, `run` and `backtest`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const PASSWORD: &str = "S3cr3t-PW-42";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const SERVICE: &str = "[service]\ncluster = \"c\"\nname = \"s\"\n";

/// Broken (and a few valid) policy files, each holding the password somewhere.
fn files() -> Vec<(&'static str, String)> {
    let q = |extra: &str| {
        format!(
            "{SERVICE}[[queues]]\ntype = \"rabbitmq\"\nhost = \"127.0.0.1\"\nport = 1\nqueues = [\"q\"]\nusername = \"u\"\npassword = \"{PASSWORD}\"\n{extra}\n[guards]\nmin_tasks = 1\nmax_tasks = 5\n[policy]\nkind = \"target\"\ntarget_backlog_per_task = 3.0\n"
        )
    };
    vec![
        (
            "syntax error on the password's line",
            format!("{SERVICE}[[queues]]\ntype = \"rabbitmq\"\npassword = \"{PASSWORD}\" oops\n"),
        ),
        (
            "unclosed string after the password",
            format!("{SERVICE}[[queues]]\ntype = \"rabbitmq\"\npassword = \"{PASSWORD}\nhost = \"h\"\n"),
        ),
        ("unknown key beside the password", q("hots = \"x\"")),
        ("wrong type beside the password", q("vhost = 5")),
        (
            "management_url with user-info",
            q(&format!("management_url = \"https://u:{PASSWORD}@127.0.0.1:15672\"")),
        ),
        (
            "host with user-info",
            format!(
                "{SERVICE}[[queues]]\ntype = \"redis\"\nhost = \"u:{PASSWORD}@127.0.0.1\"\nqueue_key = \"k\"\n"
            ),
        ),
        (
            "amazon_mq jolokia_url with user-info",
            format!(
                "{SERVICE}[[queues]]\ntype = \"amazon_mq\"\nbroker_id = \"b\"\nqueue_name = \"q\"\njolokia_url = \"http://admin:{PASSWORD}@h:8161\"\n"
            ),
        ),
        ("a valid file (nothing listens on port 1)", q("")),
        (
            "a bad guard beside a valid password",
            q("").replace("min_tasks = 1", "min_tasks = 9"),
        ),
    ]
}

fn run(args: &[&str], cwd: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_stepscale"))
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "trace")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .stdin(Stdio::null())
        .output()
        .expect("the stepscale binary runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn no_output_holds_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = root().join("scenarios/steady.toml");
    for (i, (what, text)) in files().into_iter().enumerate() {
        let file = dir.path().join(format!("p{i}.toml"));
        std::fs::write(&file, &text).unwrap();
        let f = file.to_str().unwrap();
        let out = dir.path().join(format!("out{i}"));
        let state = dir.path().join(format!("state{i}"));
        let outputs = [
            run(&["config", "--policy", f], dir.path()),
            run(
                &["--log-format", "json", "config", "--policy", f],
                dir.path(),
            ),
            run(&["decide", "--policy", f], dir.path()),
            run(
                &[
                    "run",
                    "--policy",
                    f,
                    "--once",
                    "--dry-run",
                    "--state-dir",
                    state.to_str().unwrap(),
                ],
                dir.path(),
            ),
            run(
                &[
                    "backtest",
                    "--scenario",
                    scenario.to_str().unwrap(),
                    "--policy",
                    f,
                    "--out",
                    out.to_str().unwrap(),
                ],
                dir.path(),
            ),
        ];
        for (j, o) in outputs.iter().enumerate() {
            assert!(
                !o.is_empty() || j == 2,
                "{what}: command {j} printed nothing"
            );
            assert!(
                !o.contains(PASSWORD),
                "{what}: command {j} printed the password:\n{o}"
            );
        }
        if what.contains("user-info") {
            assert!(
                outputs[0].contains("must not carry user:password@"),
                "{what}: config accepted it:\n{}",
                outputs[0]
            );
        }
    }
}
