//! The AWS Lambda handler: fast-autoscaler v0.2's drop-in replacement (same environment,
//! same `{"config": {...}}` event), linking only the engine and the live adapters.

use std::collections::BTreeMap;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use stepscale_engine::config::{env_names, OverlayValue};
use stepscale_engine::Config;
use stepscale_live::runner::{wall_clock_ms, RunnerError, ServiceRunner};
use stepscale_live::state::{AnyStateStore, FileStateStore};
use stepscale_live::ProbeContext;

/// Built once at cold start; every invocation borrows it.
struct Shared {
    env: BTreeMap<String, String>,
    ctx: ProbeContext,
}

/// A failure the caller should not retry (bad configuration, missing service): reported in
/// the response, not raised, so Lambda does not retry it.
fn permanent(kind: &str, err: &dyn std::fmt::Display) -> Value {
    tracing::error!(error = %err, kind, "Nothing scaled.");
    json!({"ok": false, "retryable": false, "error": err.to_string()})
}

fn config_for(shared: &Shared, payload: &Value) -> Result<Config, String> {
    let mut config = Config::default();
    config.apply_env(&shared.env).map_err(|e| e.to_string())?;
    if let Some(table) = payload.get("config") {
        let table: BTreeMap<String, OverlayValue> = serde_json::from_value(table.clone())
            .map_err(|e| format!("event `config` must be an object: {e}"))?;
        config.apply_event(&table).map_err(|e| e.to_string())?;
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

async fn handle(shared: &Shared, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let payload = event.payload;
    let config = match config_for(shared, &payload) {
        Ok(c) => c,
        Err(e) => return Ok(permanent("configuration", &e)),
    };
    let dry_run = payload
        .get("dry_run")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let store = match (&config.state.s3_bucket, shared.ctx.aws.as_ref()) {
        (Some(bucket), Some(sdk)) => AnyStateStore::S3(stepscale_live::state::S3StateStore::new(
            sdk,
            bucket,
            &config.state.key_prefix,
            config.service.cluster.as_deref().unwrap_or("default"),
            config.service.name.as_deref().unwrap_or("service"),
        )),
        _ => {
            tracing::warn!("No S3_CONFIG_BUCKET: state lives in /tmp and is lost with this execution environment.");
            AnyStateStore::File(FileStateStore::new("/tmp/stepscale-state.json"))
        }
    };
    let mut runner = match ServiceRunner::new(&config, &shared.ctx, store, dry_run, None) {
        Ok(r) => r,
        Err(e) => return Ok(permanent("setup", &e)),
    };
    match runner.tick(wall_clock_ms()).await {
        Ok(r) => Ok(json!({
            "ok": true,
            "service": r.service,
            "previous": r.decision.previous,
            "desired": r.decision.desired,
            "action": r.decision.action,
            "reason": r.decision.reason.to_string(),
            "limited_by": r.decision.limited_by,
            "applied": format!("{:?}", r.applied),
        })),
        Err(e @ (RunnerError::Config(_) | RunnerError::Probe(_))) => Ok(permanent("setup", &e)),
        Err(RunnerError::Ecs(
            e @ (stepscale_live::ecs::EcsError::Missing { .. }
            | stepscale_live::ecs::EcsError::Inactive { .. }),
        )) => Ok(permanent("service", &e)),
        // Throttling, timeouts, state write failures: let Lambda retry.
        Err(e) => Err(Box::new(e)),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let level = std::env::var("LOG_LEVEL").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(level.to_ascii_lowercase())
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .without_time()
        .init();
    let env: BTreeMap<String, String> = env_names()
        .into_iter()
        .filter_map(|n| std::env::var(n).ok().map(|v| (n.to_string(), v)))
        .collect();
    let region = env.get("AWS_REGION").cloned();
    let shared = Shared {
        env,
        ctx: ProbeContext {
            aws: Some(stepscale_live::aws::load(region.as_deref()).await),
        },
    };
    let shared = &shared;
    lambda_runtime::run(service_fn(move |event| handle(shared, event))).await
}
