//! Amazon SQS probe: GetQueueAttributes (visible, in flight, delayed), CloudWatch for age and arrivals.
//!
//! The three approximate counts come from one `GetQueueAttributes` call; a failure there is a
//! failed read, never zero. With `cloudwatch_metrics` on, `ApproximateAgeOfOldestMessage` and
//! `NumberOfMessagesSent` (namespace `AWS/SQS`, dimension `QueueName`) add the age of the
//! oldest message and the arrival rate; a CloudWatch failure only leaves those two unset.

mod probe;

pub use probe::SqsProbe;

/// The queue name in a queue URL (its last path segment), for CloudWatch's `QueueName`.
fn name_from_url(url: &str) -> Option<&str> {
    crate::iam::sqs_name(url)
}

#[cfg(test)]
mod tests {
    use super::name_from_url;

    #[test]
    fn queue_names_come_from_the_last_path_segment() {
        for (url, name) in [
            (
                "https://sqs.us-east-1.amazonaws.com/123456789012/jobs",
                Some("jobs"),
            ),
            (
                "http://127.0.0.1:5000/123456789012/jobs.fifo/",
                Some("jobs.fifo"),
            ),
            ("https://sqs.eu-west-1.amazonaws.com/1/q?x=1", Some("q")),
            ("http://localhost:5000", None),
            ("http://localhost:5000/", None),
            ("jobs", None),
        ] {
            assert_eq!(name_from_url(url), name, "{url}");
        }
    }
}
