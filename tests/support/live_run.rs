//! The `stepscale run` binary as a user runs it, in the background or once, with JSON logs
//! read back as ticks: how each one ended, what it decided and what reached ECS.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::relay;

/// `stepscale --log-format json run ARGS` against moto, at LOG_LEVEL=info, with `env` on top.
pub fn stepscale(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stepscale"));
    cmd.args(["--log-format", "json", "run"])
        .args(args)
        .env_clear();
    cmd.env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", relay::moto_endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("LOG_LEVEL", "info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    cmd
}

/// How a tick ended, from the runner's one end-of-tick line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// "Decided.": the reads (or some) succeeded.
    Decided,
    /// "Every metric read failed: the engine held."
    Blind,
    /// "Tick failed: nothing scaled."
    Failed,
}

/// One tick, as its end-of-tick log line tells it.
#[derive(Debug, Clone)]
pub struct Tick {
    /// When the test read the line.
    pub at: Instant,
    /// How it ended.
    pub outcome: Outcome,
    /// `hold`, `scale_out`, `scale_in`; a blind tick is a hold by definition of its message.
    pub action: String,
    /// The desired count it decided (or held).
    pub desired: Option<u64>,
    /// `Updated(7)`, `Unchanged`, `StoodDown`, ...
    pub applied: String,
    /// The whole JSON line.
    pub line: String,
}

/// The tick an end-of-tick line tells of; none for any other line.
pub fn parse_tick(at: Instant, line: &str) -> Option<Tick> {
    let json: Value = serde_json::from_str(line).ok()?;
    let fields = json.get("fields")?;
    let text = |k: &str| fields.get(k).and_then(Value::as_str).unwrap_or_default();
    let outcome = match text("message") {
        "Decided." => Outcome::Decided,
        "Every metric read failed: the engine held." => Outcome::Blind,
        "Tick failed: nothing scaled." => Outcome::Failed,
        _ => return None,
    };
    Some(Tick {
        at,
        outcome,
        action: if outcome == Outcome::Blind {
            "hold".into()
        } else {
            text("action").into()
        },
        desired: fields.get("desired").and_then(Value::as_u64),
        applied: text("applied").into(),
        line: line.to_string(),
    })
}

/// The messages of every JSON line in `log`, in order.
pub fn messages(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|j| Some(j.get("fields")?.get("message")?.as_str()?.to_string()))
        .collect()
}

/// The ticks of a finished run's log.
pub fn ticks(log: &str) -> Vec<Tick> {
    let now = Instant::now();
    log.lines().filter_map(|l| parse_tick(now, l)).collect()
}

/// A `stepscale run` loop in the background; its stderr read line by line as it comes, each
/// line stamped with the moment the test saw it.
pub struct LiveRun {
    child: Child,
    lines: Receiver<(Instant, String)>,
    log: Vec<String>,
}

impl LiveRun {
    /// Starts `cmd` (from [`stepscale`]) with its stderr piped to the test.
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd.stderr(Stdio::piped()).spawn().expect("the binary runs");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send((Instant::now(), line)).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// The next tick that ends before `deadline`, if any.
    pub fn next_tick(&mut self, deadline: Instant) -> Option<Tick> {
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(wait) {
                Ok((at, line)) => {
                    let tick = parse_tick(at, &line);
                    self.log.push(line);
                    if tick.is_some() {
                        return tick;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, as ECS (or systemd) stops a task.
    pub fn terminate(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM delivered");
    }

    /// Waits up to `limit` for the process to exit; the rest of its log is then read.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "still running {limit:?} later:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok((_, line)) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.log.push(line);
        }
        status
    }

    pub fn log(&self) -> String {
        self.log.join("\n")
    }
}

impl Drop for LiveRun {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
