//! What every probe promises: one read of its source, and the typed error of a failed read.

use std::future::Future;

use stepscale_engine::QueueSample;

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
