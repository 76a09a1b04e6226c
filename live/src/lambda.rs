//! The Lambda handler's logic: fast-autoscaler v0.2's environment and `{"config": {...}}`
//! event in, one decision and its outcome out. The `stepscale-lambda` binary wraps it in the
//! Lambda runtime; keeping it here lets tests drive it against real services.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use stepscale_engine::config::OverlayValue;
use stepscale_engine::Config;

use crate::ecs::EcsError;
use crate::runner::{wall_clock_ms, RunnerError, ServiceRunner};
use crate::secret_store::SecretReader;
use crate::state::{AnyStateStore, FileStateStore};
use crate::ProbeContext;

/// Built once at cold start; every invocation borrows it.
pub struct Shared {
    /// The v0.2 environment variables that are set, or why they could not be read (a value
    /// that is not UTF-8): every invocation then fails without scaling.
    pub env: Result<BTreeMap<String, String>, String>,
    /// The probes' shared context (the AWS SDK configuration).
    pub ctx: ProbeContext,
    /// Reads each `password_secret` once for the life of the execution environment.
    secrets: Option<SecretReader>,
}

impl Shared {
    /// The handler's shared parts from an environment and a probe context.
    #[must_use]
    pub fn new(env: Result<BTreeMap<String, String>, String>, ctx: ProbeContext) -> Self {
        let secrets = ctx.aws.as_ref().map(SecretReader::new);
        Self { env, ctx, secrets }
    }

    /// Reads the environment and builds the AWS configuration once.
    pub async fn cold_start() -> Self {
        let env = stepscale_engine::config::collect_env(|n| std::env::var_os(n))
            .map_err(|e| e.to_string());
        let region = env.as_ref().ok().and_then(|e| e.get("AWS_REGION").cloned());
        let ctx = ProbeContext {
            aws: Some(crate::aws::load(region.as_deref()).await),
        };
        Self::new(env, ctx)
    }
}

/// A failure the caller should not retry (bad configuration, missing service): reported in
/// the response, not raised, so Lambda does not retry it.
fn permanent(kind: &str, err: &dyn std::fmt::Display) -> Value {
    tracing::error!(error = %err, kind, "Nothing scaled.");
    json!({"ok": false, "retryable": false, "error": err.to_string()})
}

/// The configuration for one event: defaults < environment < event `config`.
pub fn config_for(env: &BTreeMap<String, String>, payload: &Value) -> Result<Config, String> {
    let mut config = Config::default();
    config.apply_env(env).map_err(|e| e.to_string())?;
    if let Some(table) = payload.get("config") {
        let table: BTreeMap<String, OverlayValue> = serde_json::from_value(table.clone())
            .map_err(|e| format!("event `config` must be an object: {e}"))?;
        config.apply_event(&table).map_err(|e| e.to_string())?;
    }
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

/// Handles one invocation. `Ok` carries the outcome, including permanent failures (not
/// retried); `Err` is a transient failure (throttling, timeouts, state writes) to retry.
pub async fn handle(shared: &Shared, payload: &Value) -> Result<Value, RunnerError> {
    let env = match &shared.env {
        Ok(env) => env,
        Err(e) => return Ok(permanent("environment", e)),
    };
    let mut config = match config_for(env, payload) {
        Ok(c) => c,
        Err(e) => return Ok(permanent("configuration", &e)),
    };
    // Passwords by reference are read once per execution environment, before any probe.
    if let Some(reader) = &shared.secrets {
        if let Err(e) = reader.resolve(&mut config).await {
            if e.is_transient() {
                tracing::error!(error = %e, "Nothing scaled; the invocation is retried.");
                return Err(RunnerError::Secret(e));
            }
            return Ok(permanent("secret", &e));
        }
    }
    let dry_run = payload
        .get("dry_run")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let store = match (&config.state.s3_bucket, shared.ctx.aws.as_ref()) {
        #[cfg(feature = "s3-state")]
        (Some(bucket), Some(sdk)) => {
            let (cluster, service) = config.service.state_names();
            AnyStateStore::S3(crate::state::S3StateStore::new(
                sdk,
                bucket,
                &config.state.key_prefix,
                cluster,
                service,
            ))
        }
        _ => {
            tracing::warn!("No S3 state store: state lives in /tmp and is lost with this execution environment.");
            AnyStateStore::File(FileStateStore::new(
                std::env::temp_dir().join("stepscale-state.json"),
            ))
        }
    };
    let mut runner = match ServiceRunner::new(&config, &shared.ctx, store, dry_run, None) {
        Ok(r) => r,
        Err(e) => return Ok(permanent("setup", &e)),
    };
    let now_ms = wall_clock_ms();
    // Boxed: the tick future is large, and the handler's own future must stay small.
    match Box::pin(runner.tick(now_ms)).await {
        Ok(r) => {
            let recorded = record_invocation(shared, &config, now_ms, &r).await;
            Ok(json!({
                "ok": true,
                "service": r.service,
                "previous": r.decision.previous,
                "desired": r.decision.desired,
                "action": r.decision.action,
                "reason": r.decision.reason.to_string(),
                "limited_by": r.decision.limited_by,
                "applied": format!("{:?}", r.applied),
                "recorded": recorded,
            }))
        }
        Err(e @ (RunnerError::Config(_) | RunnerError::Probe(_))) => Ok(permanent("setup", &e)),
        Err(RunnerError::Ecs(
            e @ (EcsError::Missing { .. } | EcsError::Inactive { .. } | EcsError::NotConfigured(_)),
        )) => Ok(permanent("service", &e)),
        Err(e) => Err(e),
    }
}

/// Appends what the tick saw to the day's trace in S3 when `record_s3_prefix` is set: where,
/// or none. A failed recording is logged, never retried: the decision has already acted.
async fn record_invocation(
    shared: &Shared,
    config: &Config,
    now_ms: stepscale_engine::Millis,
    report: &crate::runner::TickReport,
) -> Option<String> {
    let prefix = config.state.record_s3_prefix.as_deref()?;
    #[cfg(feature = "s3-state")]
    {
        let bucket = config.state.s3_bucket.as_deref()?;
        let sdk = shared.ctx.aws.as_ref()?;
        let (cluster, service) = config.service.state_names();
        let base = format!("{prefix}/{cluster}/{service}");
        let objects = crate::state::S3Objects::new(sdk, bucket);
        match crate::record::record_to_s3(
            &objects,
            &base,
            now_ms,
            &report.readings,
            report.fleet,
            &report.decision,
        )
        .await
        {
            Ok(location) => Some(location),
            Err(e) => {
                tracing::error!(error = %e, "Recording failed: the decision stands.");
                None
            }
        }
    }
    #[cfg(not(feature = "s3-state"))]
    {
        let _ = (shared, now_ms, report);
        tracing::error!(
            prefix,
            "record_s3_prefix is set, but this build has no `s3-state` feature: nothing recorded."
        );
        None
    }
}
