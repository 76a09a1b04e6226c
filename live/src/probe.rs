//! The probe trait every queue adapter implements, and the enum that forwards to them.

use std::future::Future;

use stepscale_engine::config::QueueConfig;
use stepscale_engine::{QueueSample, ReadFailure, Reading};

/// Why a probe could not read its source. Every variant is a failed read for the engine,
/// never zero messages. Messages never carry secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The server could not be reached (refused, DNS, TLS).
    #[error("cannot connect to {target}: {detail}")]
    Connect {
        /// What was dialled (host:port, no credentials).
        target: String,
        /// The cause.
        detail: String,
    },
    /// The server refused the credentials.
    #[error("authentication failed at {target}: {detail}")]
    Auth {
        /// What was dialled.
        target: String,
        /// The cause.
        detail: String,
    },
    /// The queue, key or group does not exist (a missing queue is not an empty queue).
    #[error("{what} not found: {name}")]
    NotFound {
        /// Queue, key, consumer group, ...
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// The key holds the wrong kind of value.
    #[error("key {key} has type {actual}, expected {expected}")]
    WrongType {
        /// The key.
        key: String,
        /// What it holds.
        actual: String,
        /// What the probe needs.
        expected: &'static str,
    },
    /// The read took longer than its timeout.
    #[error("timed out after {secs} s reading {target}")]
    Timeout {
        /// What was being read.
        target: String,
        /// The timeout.
        secs: u64,
    },
    /// The probe's configuration cannot work.
    #[error("probe configuration: {0}")]
    Config(String),
    /// Any other protocol or server error.
    #[error("{target}: {detail}")]
    Other {
        /// What was being read.
        target: String,
        /// The cause.
        detail: String,
    },
}

/// A queue source that can be read once per decision.
pub trait Probe {
    /// Reads the source now.
    fn read(&self) -> impl Future<Output = Result<QueueSample, ProbeError>> + Send;
}

/// Every probe this build includes; a cargo feature removes a variant and its code.
#[non_exhaustive]
pub enum AnyProbe {
    /// `RabbitMQ`.
    #[cfg(feature = "rabbitmq")]
    Rabbitmq(crate::rabbitmq::RabbitMqProbe),
    /// Redis.
    #[cfg(feature = "redis")]
    Redis(crate::redis::RedisProbe),
}

impl AnyProbe {
    /// The probe for a configured source.
    pub fn from_config(config: &QueueConfig) -> Result<Self, ProbeError> {
        match config {
            #[cfg(feature = "rabbitmq")]
            QueueConfig::Rabbitmq(c) => Ok(Self::Rabbitmq(crate::rabbitmq::RabbitMqProbe::new(
                c.clone(),
            )?)),
            #[cfg(feature = "redis")]
            QueueConfig::Redis(c) => Ok(Self::Redis(crate::redis::RedisProbe::new(c.clone())?)),
            other => Err(ProbeError::Config(format!(
                "queue type `{}` is not built into this binary (enable its cargo feature)",
                other.type_name()
            ))),
        }
    }

    /// Reads the source as the engine wants it: a failure is a failed read, never zero.
    pub async fn reading(&self) -> Reading {
        let result = match self {
            #[cfg(feature = "rabbitmq")]
            Self::Rabbitmq(p) => p.read().await,
            #[cfg(feature = "redis")]
            Self::Redis(p) => p.read().await,
            #[allow(unreachable_patterns)]
            _ => Err(ProbeError::Config("no probe compiled in".into())),
        };
        result.map_err(|e| ReadFailure::new(e.to_string()))
    }
}
