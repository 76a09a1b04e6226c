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
//! A missing broker or queue is a failed read, never zero.

mod broker;
mod cloudwatch;
mod jolokia;
mod probe;
mod rabbit;
mod settings;

pub use probe::AmazonMqProbe;

/// `text` with every occurrence of `secret` masked: server and library messages may echo
/// what they were given, and none of them may reach a log or an error.
fn redact(text: &str, secret: Option<&str>) -> String {
    match secret {
        Some(secret) if !secret.is_empty() => text.replace(secret, "********"),
        _ => text.to_string(),
    }
}

/// An error and its sources, joined, so the cause is not hidden behind a generic message.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_masks_every_occurrence_and_leaves_empty_secrets_alone() {
        assert_eq!(
            redact("a hunter2 b hunter2", Some("hunter2")),
            "a ******** b ********"
        );
        assert_eq!(redact("nothing here", Some("")), "nothing here");
        assert_eq!(redact("nothing here", None), "nothing here");
    }
}
