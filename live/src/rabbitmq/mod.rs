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

/// `text` with every occurrence of `secret` masked: server and library messages may echo
/// what they were given, and none of them may reach a log or an error.
fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_string()
    } else {
        text.replace(secret, "********")
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
            redact("a hunter2 b hunter2", "hunter2"),
            "a ******** b ********"
        );
        assert_eq!(redact("nothing here", ""), "nothing here");
    }
}
