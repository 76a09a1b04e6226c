//! Redis probe: lists (LLEN), streams (consumer-group lag and pending) and delayed sorted sets.
//!
//! A missing key is a failed read, never an empty queue, unless `missing_key_is_empty` says
//! otherwise; a key of the wrong type is [`crate::ProbeError::WrongType`].

mod connect;
mod probe;
mod stream;

pub use probe::RedisProbe;

/// The Redis client the probe is built on, re-exported so callers and tests use its version.
pub use ::redis as client;

use crate::secrets::redact;
