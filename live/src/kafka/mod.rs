//! Kafka / MSK probe: consumer-group lag from watermarks and committed offsets, without joining the group.
//!
//! Lag is `Σ over the topic's partitions of (high watermark − committed offset)`. The
//! committed offsets come from an OffsetFetch by a librdkafka consumer that carries the
//! group's id but never subscribes, is never assigned partitions and never commits, so it
//! never joins the group: the workers in the group see no rebalance. (fast-autoscaler v0.2
//! subscribed into the group, which made the group rebalance on every read and stalled the
//! workers, and it scaled on the sum of end offsets, which only grows, instead of lag.)
//!
//! Partitions the group has never committed count by the `uncommitted` rule (`earliest` by
//! default: every retained record); an unknown group is a group with no commits. A missing
//! topic is a failed read, never zero. Every librdkafka call blocks, so reads run on a
//! blocking thread under a bounded timeout.

mod client;
mod config;
mod history;
mod lag;
mod msk;
mod probe;

pub use history::history;
pub use probe::KafkaProbe;

/// The Kafka client the probe is built on, re-exported so callers and tests use its version.
pub use rdkafka;

/// The MSK SDK the probe calls, re-exported so callers and tests use its version.
pub use aws_sdk_kafka;

use crate::secrets::redact;
