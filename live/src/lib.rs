//! StepScale's live side: queue probes (one folder and one cargo feature per provider),
//! and the glue that feeds their readings to the engine.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "aws")]
pub mod cloudwatch;
#[cfg(feature = "aws")]
pub mod ecs;
#[cfg(feature = "aws")]
pub mod history;
pub mod iam;
#[cfg(feature = "aws")]
pub mod lambda;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod probe;
pub mod record;
pub mod runner;
#[cfg(feature = "aws")]
pub mod secret_store;
mod secrets;
pub mod state;

#[cfg(feature = "amazon-mq")]
pub mod amazon_mq;
#[cfg(feature = "cloudwatch")]
pub mod cloudwatch_metric;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "kinesis")]
pub mod kinesis;
#[cfg(feature = "prometheus")]
pub mod prometheus;
#[cfg(feature = "sns")]
pub mod sns;
#[cfg(feature = "sqs")]
pub mod sqs;

#[cfg(feature = "rabbitmq")]
pub mod rabbitmq;
#[cfg(feature = "redis")]
pub mod redis;

pub use probe::{AnyProbe, Probe, ProbeContext, ProbeError};
