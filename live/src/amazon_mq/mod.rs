//! Amazon MQ probe: DescribeBroker, then Jolokia with a CloudWatch fallback (ActiveMQ) or the RabbitMQ probe.
//!
//! `DescribeBroker` names the engine, the broker and its endpoints once; the outcome is kept
//! for the probe's life (a failed describe is tried again on the next read).
//!
//! - **ActiveMQ**: Jolokia on the web console reads the queue's MBean:
//!   `visible = QueueSize − InFlightCount`, `in_flight = InFlightCount` (ActiveMQ's
//!   `QueueSize` counts dispatched, unacknowledged messages too). When Jolokia fails,
//!   CloudWatch's `AWS/AmazonMQ` `QueueSize` stands in, if `cloudwatch_fallback` is on.
//! - **RabbitMQ**: the read is handed to [`crate::rabbitmq::RabbitMqProbe`], built from the
//!   broker's AMQPS endpoint and console URL.
//!
//! A missing broker or queue is a failed read, never zero. `calibrate --since` reads an
//! ActiveMQ queue's CloudWatch history ([`history`]).

mod broker;
mod cloudwatch;
mod history;
mod jolokia;
mod probe;
mod rabbit;
mod settings;

pub use history::history;
pub use probe::AmazonMqProbe;

use crate::secrets::{error_chain, redact};
