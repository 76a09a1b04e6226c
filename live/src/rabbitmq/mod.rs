//! `RabbitMQ` probe: ready counts by passive queue declare, in-flight counts and rates from the management API.
//!
//! Ready messages and consumers come from a passive `queue.declare` (exact and immediate);
//! unacknowledged messages and the publish rate come from the management HTTP API when
//! `management_url` is set (its statistics lag a few seconds). A missing queue is a failed
//! read, never zero.

mod amqp;
mod management;
mod pattern;
mod probe;
mod tls;

pub use probe::RabbitMqProbe;

/// The AMQP client the probe is built on, re-exported so callers and tests use its version.
pub use lapin;

use crate::secrets::{error_chain, redact};
