//! One configuration model with fast-autoscaler v0.2's precedence: defaults < TOML policy
//! file < environment variables < Lambda event payload (`{"config": {...}}`).
//!
//! The engine parses no file and reads no environment: callers hand it the parsed TOML
//! (`Config` is `Deserialize` with unknown keys refused), a map of the environment and the
//! event's `config` table. Validation runs once, after every layer, and names the key as the
//! user wrote it (`MIN_TASKS`, `config.min_tasks` or `guards.min_tasks`).

pub mod env;
mod error;
mod metric_source;
pub mod queue;
mod secret;
pub mod secret_ref;
mod service;
mod settings;
mod validate;
mod validate_policy;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::controller::Controller;
use crate::forecast::ForecastParams;
use crate::guards::Guards;
use crate::policy::{Combine, PolicySpec};
pub use error::ConfigError;
pub use queue::{QueueConfig, Secret};
pub use service::{partition, ServiceId, ServiceTarget};
pub use settings::{collect_env, env_names, OverlayValue};
pub use validate_policy::MAX_WINDOW_SECS;

/// Where live keeps the scaler state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateConfig {
    /// S3 bucket (`S3_CONFIG_BUCKET`); none keeps state in a local file.
    pub s3_bucket: Option<String>,
    /// Key prefix; v0.2's is `autoscaling-state`.
    pub key_prefix: String,
    /// Where the Lambda records what it observed, under the state bucket
    /// (`RECORD_S3_PREFIX`): `{prefix}/{cluster}/{service}/{YYYY-MM-DD}.csv`. None: no record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_s3_prefix: Option<String>,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            s3_bucket: None,
            key_prefix: "autoscaling-state".into(),
            record_s3_prefix: None,
        }
    }
}

/// A shadow policy (`[[shadow]]`): decided beside the acting policy every tick, on the same
/// readings and with its own state, logged, recorded and exported; never acted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowSpec {
    /// Its name, in logs, the metric's label and its state's key (letters, digits, `-`, `_`).
    pub name: String,
    /// The policy it evaluates.
    pub policy: PolicySpec,
    /// Its guards; the acting policy's when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guards: Option<Guards>,
    /// Its forecast; none when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast: Option<ForecastParams>,
}

/// The whole policy file: what to scale, from which queues, by which policy, within which
/// guards. The same file drives `backtest` and the live runners.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The ECS service.
    pub service: ServiceTarget,
    /// Queue sources; several make a composite.
    pub queues: Vec<QueueConfig>,
    /// How several sources combine.
    pub combine: Combine,
    /// Guards shared by all policies.
    pub guards: Guards,
    /// The policy.
    pub policy: PolicySpec,
    /// The seasonal forecast (`[forecast]`), applied to any policy; none by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast: Option<ForecastParams>,
    /// Shadow policies (`[[shadow]]`), decided beside the acting one and never acted on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shadow: Vec<ShadowSpec>,
    /// Scaler state storage.
    pub state: StateConfig,
    /// Log level (`LOG_LEVEL`).
    pub log_level: Option<String>,
    /// AWS region (`AWS_REGION`).
    pub region: Option<String>,
    /// Which key set each field, for error messages.
    #[serde(skip)]
    origins: BTreeMap<&'static str, String>,
}

impl Config {
    /// The v0.2 configuration from the environment alone (`vars` is the environment).
    pub fn from_env(vars: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        config.apply_env(vars)?;
        config.validate()?;
        Ok(config)
    }

    /// The key the user wrote for a canonical field path.
    #[must_use]
    pub fn key_for(&self, canonical: &'static str) -> String {
        self.origins
            .get(canonical)
            .cloned()
            .unwrap_or_else(|| canonical.to_string())
    }

    pub(crate) fn set_origin(&mut self, canonical: &'static str, key: &str) {
        self.origins.insert(canonical, key.to_string());
    }

    /// The controller this configuration describes.
    #[must_use]
    pub fn controller(&self) -> Controller {
        Controller::new(
            self.policy.clone(),
            self.guards.clone(),
            self.combine,
            self.queues.iter().map(QueueConfig::weight).collect(),
        )
        .with_forecast(self.forecast.clone())
    }

    /// The configuration of shadow `spec`: this one with its policy, guards and forecast.
    #[must_use]
    pub fn for_shadow(&self, spec: &ShadowSpec) -> Self {
        let mut c = self.clone();
        c.policy = spec.policy.clone();
        c.guards = spec.guards.clone().unwrap_or_else(|| self.guards.clone());
        c.forecast.clone_from(&spec.forecast);
        c.shadow.clear();
        c.origins.clear();
        c
    }
}

#[cfg(test)]
mod tests;
