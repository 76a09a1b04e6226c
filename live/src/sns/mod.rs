//! Amazon SNS rate source: CloudWatch NumberOfMessagesPublished per topic.
//!
//! SNS holds no messages: it pushes each one to its subscribers at once, so it has no backlog
//! to scale on. This probe is a rate source, for rate-aware policies and for recording:
//! `visible` is always 0 and `arrival_rate_per_s` is the topic's publish rate. To scale the
//! workers behind a topic, probe the SQS queue subscribed to it.

mod probe;

pub use probe::SnsProbe;

/// The parts of a topic ARN the probe needs: `arn:PARTITION:sns:REGION:ACCOUNT:NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TopicArn {
    region: String,
    name: String,
}

impl TopicArn {
    fn parse(arn: &str) -> Option<Self> {
        let parts: Vec<&str> = arn.split(':').collect();
        match parts.as_slice() {
            ["arn", partition, "sns", region, account, name]
                if !partition.is_empty()
                    && !region.is_empty()
                    && !account.is_empty()
                    && !name.is_empty() =>
            {
                Some(Self {
                    region: (*region).to_string(),
                    name: (*name).to_string(),
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TopicArn;

    #[test]
    fn topic_arns_give_region_and_name() {
        assert_eq!(
            TopicArn::parse("arn:aws:sns:eu-west-1:123456789012:orders.fifo"),
            Some(TopicArn {
                region: "eu-west-1".into(),
                name: "orders.fifo".into()
            })
        );
        for bad in [
            "orders",
            "arn:aws:sqs:us-east-1:123456789012:orders",
            "arn:aws:sns:us-east-1:123456789012:",
            "arn:aws:sns:us-east-1:123456789012:orders:3f1c-subscription",
        ] {
            assert_eq!(TopicArn::parse(bad), None, "{bad}");
        }
    }
}
