//! What a decision sees: queue samples (or failed reads) and the ECS service's task counts.

use serde::{Deserialize, Serialize};

/// One reading of one queue source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueSample {
    /// Messages ready to be received.
    pub visible: u64,
    /// Messages received but not yet deleted or acknowledged.
    #[serde(default)]
    pub in_flight: u64,
    /// Messages not yet deliverable (delay queues, scheduled sets).
    #[serde(default)]
    pub delayed: u64,
    /// Age of the oldest message, when the source knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_age_ms: Option<u64>,
    /// Arrival rate in messages per second, when the source knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival_rate_per_s: Option<f64>,
    /// Most tasks that can usefully work this source (Kafka partitions, Kinesis shards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_useful_tasks: Option<u32>,
}

impl QueueSample {
    /// A sample with only a visible count.
    #[must_use]
    pub fn visible(visible: u64) -> Self {
        Self {
            visible,
            ..Self::default()
        }
    }
}

/// Why a metric read failed. A failed read is never taken for zero messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadFailure {
    /// Human text from the probe (secrets already removed).
    pub message: String,
}

impl ReadFailure {
    /// A failure with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// The outcome of reading one source.
pub type Reading = Result<QueueSample, ReadFailure>;

/// The ECS service as last described.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceState {
    /// The service's desired count (capacity ordered).
    pub desired: u32,
    /// Tasks running.
    pub running: u32,
    /// Tasks launched but not yet running.
    pub pending: u32,
}

impl ServiceState {
    /// A settled service: every desired task is running.
    #[must_use]
    pub fn settled(desired: u32) -> Self {
        Self {
            desired,
            running: desired,
            pending: 0,
        }
    }

    /// Capacity already ordered: the desired count, or running + pending when that is higher.
    /// Counting pending tasks stops scale-out wind-up while tasks start.
    #[must_use]
    pub fn ordered(&self) -> u32 {
        self.desired.max(self.running.saturating_add(self.pending))
    }
}
