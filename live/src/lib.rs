//! StepScale's live side: queue probes (one folder and one cargo feature per provider),
//! and the glue that feeds their readings to the engine.

pub mod probe;

#[cfg(feature = "rabbitmq")]
pub mod rabbitmq;
#[cfg(feature = "redis")]
pub mod redis;

pub use probe::{AnyProbe, Probe, ProbeError};
