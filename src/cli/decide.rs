//! `stepscale decide`: observations as JSON lines on stdin, one decision per line on stdout.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use stepscale_engine::{Decision, Millis, QueueSample, ReadFailure, ScalerState, ServiceState};

/// Arguments of `stepscale decide`.
#[derive(Debug, clap::Args)]
pub struct DecideArgs {
    /// Policy file (TOML). Without it, the environment alone, exactly as the Lambda reads it.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Scaler state file (JSON): loaded first if it exists, saved after the last line.
    /// Left untouched when any line is malformed.
    #[arg(long)]
    state: Option<PathBuf>,
}

/// A time: epoch seconds (integer or fractional) or RFC 3339.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum At {
    Seconds(f64),
    Text(String),
}

/// What a line should look like, for error messages.
const EXAMPLE: &str = r#"each line is one JSON object such as {"at": "2026-01-05T00:00:00Z", "visible": 120, "in_flight": 8, "desired": 4, "running": 4} (`at`: RFC 3339 text or epoch seconds; `visible` or `error` (a failed read); `desired` required; optional `in_flight`, `delayed`, `oldest_age_s`, `arrival_rate_per_s`, `running`, `pending`)"#;

/// serde_json's message in plain words where its own names the Rust type.
fn plain(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if text.contains("untagged enum At") {
        format!(
            "`at` must be epoch seconds (a number) or RFC 3339 text (column {})",
            e.column()
        )
    } else if text.contains("expected struct Observation") {
        format!(
            "an observation is a JSON object with named keys, not an array or a bare value (column {})",
            e.column()
        )
    } else {
        text
    }
}

/// One observation line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Observation {
    at: At,
    visible: Option<u64>,
    #[serde(default)]
    in_flight: u64,
    #[serde(default)]
    delayed: u64,
    oldest_age_s: Option<f64>,
    /// The source's arrival rate in messages per second, when it reports one.
    arrival_rate_per_s: Option<f64>,
    desired: u32,
    running: Option<u32>,
    #[serde(default)]
    pending: u32,
    error: Option<String>,
}

/// One decision line.
#[derive(Debug, Serialize)]
struct Output<'a> {
    at: String,
    desired: u32,
    previous: u32,
    action: &'static str,
    reason: String,
    limited_by: Option<stepscale_engine::Limit>,
    recommended: u32,
    metric: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

fn parse_at(at: &At) -> Result<Millis, String> {
    match at {
        At::Seconds(s) if s.is_finite() && *s >= 0.0 && *s < 1e14 => {
            Ok((s * 1000.0).round() as Millis)
        }
        At::Seconds(s) => Err(format!("`at` {s} is not a valid epoch time in seconds")),
        At::Text(t) => stepscale_engine::time::parse_rfc3339_ms(t)
            .map_err(|rule| format!("`at` {t:?} is not epoch seconds or RFC 3339: {rule}"))
            .and_then(|ms| {
                if ms < 0 {
                    Err(format!("`at` {t:?} is before 1970-01-01T00:00:00Z"))
                } else {
                    Ok(ms)
                }
            }),
    }
}

fn load_state(path: Option<&Path>) -> anyhow::Result<ScalerState> {
    let Some(path) = path else {
        return Ok(ScalerState::default());
    };
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("state file {} is not a StepScale state", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ScalerState::default()),
        Err(e) => Err(e).with_context(|| format!("reading state file {}", path.display())),
    }
}

fn save_state(path: &Path, state: &ScalerState) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let json = serde_json::to_string_pretty(state)?;
    std::fs::write(&tmp, json).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// Runs the command.
pub fn run(args: &DecideArgs) -> anyhow::Result<ExitCode> {
    let config = super::load_config(args.policy.as_deref())?;
    let controller = config.controller();
    let mut state = load_state(args.state.as_deref())?;
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut last_at: Option<Millis> = None;
    for (index, line) in stdin.lock().lines().enumerate() {
        let n = index + 1;
        let line = line.with_context(|| format!("reading line {n} of stdin"))?;
        if line.trim().is_empty() {
            continue;
        }
        let obs: Observation = serde_json::from_str(&line).map_err(|e| {
            anyhow::anyhow!("line {n}: malformed observation: {}; {EXAMPLE}", plain(&e))
        })?;
        let now = parse_at(&obs.at).map_err(|e| anyhow::anyhow!("line {n}: {e}"))?;
        if let Some(age) = obs.oldest_age_s.filter(|a| !(a.is_finite() && *a >= 0.0)) {
            bail!(
                "line {n}: `oldest_age_s` = {age}: an age must be a finite number of seconds >= 0"
            );
        }
        if let Some(prev) = last_at {
            if now < prev {
                bail!("line {n}: `at` goes backwards ({now} ms after {prev} ms); times may repeat but never decrease");
            }
        }
        last_at = Some(now);
        if let Some(rate) = obs
            .arrival_rate_per_s
            .filter(|r| !(r.is_finite() && *r >= 0.0))
        {
            bail!("line {n}: `arrival_rate_per_s` = {rate}: a rate must be a finite number of messages per second >= 0");
        }
        let reading = match (&obs.error, obs.visible) {
            (Some(e), _) => Err(ReadFailure::new(e.clone())),
            (None, Some(visible)) => Ok(QueueSample {
                visible,
                in_flight: obs.in_flight,
                delayed: obs.delayed,
                oldest_age_ms: obs.oldest_age_s.map(|s| (s.max(0.0) * 1000.0) as u64),
                arrival_rate_per_s: obs.arrival_rate_per_s,
                ..QueueSample::default()
            }),
            (None, None) => {
                bail!("line {n}: `visible` is required unless `error` says the read failed")
            }
        };
        let service = ServiceState {
            desired: obs.desired,
            running: obs.running.unwrap_or(obs.desired),
            pending: obs.pending,
        };
        let decision: Decision = controller.tick(&now, &[reading], service, &mut state);
        let output = Output {
            at: stepscale_engine::time::rfc3339_millis(now),
            desired: decision.desired,
            previous: decision.previous,
            action: decision.action.as_str(),
            reason: decision.reason.to_string(),
            limited_by: decision.limited_by,
            recommended: decision.recommended,
            metric: decision.metric,
            error: obs.error.as_deref(),
        };
        serde_json::to_writer(&mut out, &output)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    if let Some(path) = &args.state {
        save_state(path, &state)?;
    }
    Ok(ExitCode::SUCCESS)
}
