//! The Amazon MQ probe's settings, checked once when the probe is built.

use std::time::Duration;

use stepscale_engine::config::queue::AmazonMqQueue;
use stepscale_engine::config::Secret;

use crate::ProbeError;

/// `AmazonMqQueue` after its checks: required keys present, URLs well formed.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    /// Broker id (`AMQ_BROKER_ID`).
    pub(super) broker_id: String,
    /// Queue name (`AMQ_QUEUE_NAME`).
    pub(super) queue: String,
    /// Console user; no user sends no credentials.
    pub(super) username: Option<String>,
    /// Console password; `Secret` keeps it out of `Debug`.
    pub(super) password: Option<Secret>,
    /// Jolokia base URL override, without a trailing slash.
    pub(super) jolokia_url: Option<String>,
    /// JMX `brokerName`; none reads the pattern `*`.
    pub(super) jolokia_broker_name: Option<String>,
    /// Read CloudWatch when Jolokia fails.
    pub(super) cloudwatch_fallback: bool,
    /// RabbitMQ engine: AMQP host override.
    pub(super) rabbitmq_host: Option<String>,
    /// RabbitMQ engine: AMQP port override.
    pub(super) rabbitmq_port: Option<u16>,
    /// RabbitMQ engine: virtual host.
    pub(super) vhost: String,
    /// RabbitMQ engine: amqps.
    pub(super) tls: bool,
    /// RabbitMQ engine: management API URL override, without a trailing slash.
    pub(super) management_url: Option<String>,
    /// Each connection and each request.
    pub(super) timeout: Duration,
}

impl Settings {
    /// Checks `config`; every problem is a [`ProbeError::Config`] naming the key.
    pub(super) fn new(config: AmazonMqQueue) -> Result<Self, ProbeError> {
        let broker_id = required(config.broker_id, "broker_id", "AMQ_BROKER_ID")?;
        let queue = required(config.queue_name, "queue_name", "AMQ_QUEUE_NAME")?;
        let username = non_empty(config.username);
        if username.is_none() && config.password.is_some() {
            return Err(ProbeError::Config(
                "amazon_mq has a `password` (AMQ_PASSWORD) but no `username` (AMQ_USERNAME)".into(),
            ));
        }
        if config.timeout_secs == 0 {
            return Err(ProbeError::Config(
                "amazon_mq `timeout_secs` must be at least 1".into(),
            ));
        }
        let jolokia_url = non_empty(config.jolokia_url)
            .map(|url| checked_url("jolokia_url", &url))
            .transpose()?;
        let management_url = non_empty(config.management_url)
            .map(|url| checked_url("management_url", &url))
            .transpose()?;
        let rabbitmq_host = non_empty(config.rabbitmq_host);
        if config.rabbitmq_port == Some(0) {
            return Err(ProbeError::Config(
                "amazon_mq `rabbitmq_port` must not be 0".into(),
            ));
        }
        Ok(Self {
            broker_id,
            queue,
            username,
            password: config.password,
            jolokia_url,
            jolokia_broker_name: non_empty(config.jolokia_broker_name),
            cloudwatch_fallback: config.cloudwatch_fallback,
            rabbitmq_host,
            rabbitmq_port: config.rabbitmq_port,
            vhost: config.vhost,
            tls: config.tls,
            management_url,
            timeout: Duration::from_secs(config.timeout_secs),
        })
    }

    /// The clear password, for the one call that sends it (and for masking).
    pub(super) fn password(&self) -> Option<&str> {
        self.password.as_ref().map(Secret::expose)
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn required(value: Option<String>, key: &str, env: &str) -> Result<String, ProbeError> {
    non_empty(value).ok_or_else(|| ProbeError::Config(format!("amazon_mq needs `{key}` ({env})")))
}

/// An http(s) URL without credentials, returned without its trailing slash.
fn checked_url(key: &str, url: &str) -> Result<String, ProbeError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| ProbeError::Config(format!("amazon_mq `{key}` is not a URL: {e}")))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Never echo the URL: it holds a secret.
        return Err(ProbeError::Config(format!(
            "amazon_mq `{key}` must not hold credentials; set `username` and `password` instead"
        )));
    }
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ProbeError::Config(format!(
            "amazon_mq `{key}` must be http or https, not {}",
            parsed.scheme()
        )));
    }
    Ok(url.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::Settings;
    use crate::ProbeError;
    use stepscale_engine::config::queue::AmazonMqQueue;
    use stepscale_engine::config::Secret;

    fn base() -> AmazonMqQueue {
        AmazonMqQueue {
            broker_id: Some("b-1234".into()),
            queue_name: Some("orders".into()),
            ..AmazonMqQueue::default()
        }
    }

    fn config_error(config: AmazonMqQueue) -> String {
        match Settings::new(config) {
            Err(ProbeError::Config(text)) => text,
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_checked_and_kept() {
        let settings = Settings::new(base()).unwrap();
        assert_eq!(settings.broker_id, "b-1234");
        assert_eq!(settings.queue, "orders");
        assert!(settings.cloudwatch_fallback && settings.tls);
        assert_eq!(settings.vhost, "/");
        assert_eq!(settings.timeout.as_secs(), 5);
        assert_eq!(settings.password(), None);
    }

    #[test]
    fn missing_or_bad_keys_are_named() {
        let cases: Vec<(AmazonMqQueue, &str)> = vec![
            (
                AmazonMqQueue {
                    broker_id: Some("  ".into()),
                    ..base()
                },
                "AMQ_BROKER_ID",
            ),
            (
                AmazonMqQueue {
                    queue_name: None,
                    ..base()
                },
                "AMQ_QUEUE_NAME",
            ),
            (
                AmazonMqQueue {
                    password: Some(Secret::new("pw")),
                    ..base()
                },
                "no `username`",
            ),
            (
                AmazonMqQueue {
                    timeout_secs: 0,
                    ..base()
                },
                "timeout_secs",
            ),
            (
                AmazonMqQueue {
                    jolokia_url: Some("ftp://host/api/jolokia".into()),
                    ..base()
                },
                "http or https",
            ),
            (
                AmazonMqQueue {
                    management_url: Some("not a url".into()),
                    ..base()
                },
                "`management_url` is not a URL",
            ),
            (
                AmazonMqQueue {
                    rabbitmq_port: Some(0),
                    ..base()
                },
                "rabbitmq_port",
            ),
        ];
        for (config, expected) in cases {
            let text = config_error(config);
            assert!(text.contains(expected), "{text:?} lacks {expected:?}");
        }
    }

    #[test]
    fn a_url_with_credentials_is_refused_without_echoing_them() {
        let text = config_error(AmazonMqQueue {
            jolokia_url: Some("https://admin:s3cret-pw@host:8162/api/jolokia".into()),
            ..base()
        });
        assert!(text.contains("must not hold credentials"), "{text}");
        assert!(!text.contains("s3cret-pw"), "{text}");
    }

    #[test]
    fn policy_file_keys_deserialize_with_their_defaults_and_unknown_keys_are_refused() {
        use stepscale_engine::config::QueueConfig;
        let parsed: QueueConfig = serde_json::from_str(
            r#"{"type": "amazon_mq", "broker_id": "b-1", "queue_name": "q",
                "jolokia_broker_name": "localhost", "cloudwatch_fallback": false,
                "rabbitmq_host": "h", "rabbitmq_port": 5672, "tls": false,
                "management_url": "http://h:15672", "vhost": "v", "timeout_secs": 2}"#,
        )
        .unwrap();
        let QueueConfig::AmazonMq(config) = parsed else {
            panic!("an amazon_mq source");
        };
        let settings = Settings::new(config).unwrap();
        assert!(!settings.cloudwatch_fallback && !settings.tls);
        assert_eq!(settings.jolokia_broker_name.as_deref(), Some("localhost"));
        assert_eq!(settings.rabbitmq_port, Some(5672));
        assert_eq!(settings.timeout.as_secs(), 2);

        let QueueConfig::AmazonMq(defaults) =
            serde_json::from_str(r#"{"type": "amazon_mq", "broker_id": "b-1"}"#).unwrap()
        else {
            panic!("an amazon_mq source");
        };
        assert_eq!(
            defaults,
            AmazonMqQueue {
                broker_id: Some("b-1".into()),
                ..AmazonMqQueue::default()
            }
        );
        let unknown = serde_json::from_str::<QueueConfig>(
            r#"{"type": "amazon_mq", "broker_id": "b-1", "jolokia": "x"}"#,
        );
        assert!(unknown.is_err());
    }

    #[test]
    fn trailing_slashes_are_dropped() {
        let settings = Settings::new(AmazonMqQueue {
            jolokia_url: Some("http://127.0.0.1:8161/api/jolokia/".into()),
            management_url: Some("http://127.0.0.1:15672/".into()),
            ..base()
        })
        .unwrap();
        assert_eq!(
            settings.jolokia_url.as_deref(),
            Some("http://127.0.0.1:8161/api/jolokia")
        );
        assert_eq!(
            settings.management_url.as_deref(),
            Some("http://127.0.0.1:15672")
        );
    }
}
