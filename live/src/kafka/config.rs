//! The Kafka probe's settings, checked once when the probe is built.

use std::time::Duration;

use stepscale_engine::config::queue::KafkaQueue;
use stepscale_engine::config::Secret;

use crate::ProbeError;

/// Seconds a read may take against the brokers when `timeout_secs` is unset.
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;

/// How a partition the group has never committed counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uncommitted {
    /// From the low watermark: every message still in the partition (a new consumer with
    /// `auto.offset.reset=earliest` reads them all). The default, because `latest` can
    /// dead-lock a service scaled to zero: no worker runs, so none commits, so no lag shows.
    Earliest,
    /// Nothing: a consumer with `auto.offset.reset=latest` skips what is already there.
    Latest,
    /// From offset 0, counting records retention already deleted (v0.2's end-offset sum).
    Zero,
}

impl Uncommitted {
    fn parse(value: Option<&str>) -> Result<Self, ProbeError> {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("" | "earliest") => Ok(Self::Earliest),
            Some("latest") => Ok(Self::Latest),
            Some("zero") => Ok(Self::Zero),
            Some(other) => Err(ProbeError::Config(format!(
                "kafka `uncommitted` is {other:?}; expected `earliest`, `latest` or `zero`"
            ))),
        }
    }
}

/// What `max_useful_tasks` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsefulTasks {
    /// The topic's partition count: more consumers than partitions sit idle.
    Partitions,
    /// Partitions whose lag is above 0: only those have work for a consumer.
    LaggingPartitions,
}

impl UsefulTasks {
    fn parse(value: Option<&str>) -> Result<Self, ProbeError> {
        match value
            .map(|v| v.trim().to_ascii_lowercase().replace('-', "_"))
            .as_deref()
        {
            None | Some("" | "partitions") => Ok(Self::Partitions),
            Some("lagging_partitions") => Ok(Self::LaggingPartitions),
            Some(other) => Err(ProbeError::Config(format!(
                "kafka `useful_tasks` is {other:?}; expected `partitions` or `lagging_partitions`"
            ))),
        }
    }
}

/// librdkafka's `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// No TLS, no SASL (MSK's plaintext listener, port 9092).
    Plaintext,
    /// TLS (MSK's TLS listener, port 9094).
    Ssl,
    /// SASL without TLS (not offered by MSK).
    SaslPlaintext,
    /// SASL over TLS (MSK's SASL/SCRAM listener, port 9096).
    SaslSsl,
}

impl Protocol {
    fn parse(value: Option<&str>) -> Result<Self, ProbeError> {
        match value
            .map(|v| v.trim().to_ascii_lowercase().replace('-', "_"))
            .as_deref()
        {
            None | Some("" | "plaintext") => Ok(Self::Plaintext),
            Some("ssl" | "tls") => Ok(Self::Ssl),
            Some("sasl_plaintext") => Ok(Self::SaslPlaintext),
            Some("sasl_ssl") => Ok(Self::SaslSsl),
            Some(other) => Err(ProbeError::Config(format!(
                "kafka `security_protocol` is {other:?}; expected `plaintext`, `ssl`, \
                 `sasl_plaintext` or `sasl_ssl`"
            ))),
        }
    }

    /// The value librdkafka takes.
    pub fn librdkafka_name(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Ssl => "ssl",
            Self::SaslPlaintext => "sasl_plaintext",
            Self::SaslSsl => "sasl_ssl",
        }
    }

    /// Whether the protocol authenticates with SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

/// SASL credentials (SCRAM or PLAIN).
#[derive(Debug, Clone)]
pub struct Sasl {
    /// `SCRAM-SHA-512`, `SCRAM-SHA-256` or `PLAIN`.
    pub mechanism: &'static str,
    /// The user.
    pub username: String,
    /// The password, only exposed to librdkafka's configuration.
    pub password: Secret,
}

impl Sasl {
    fn parse(
        config: &KafkaQueue,
        password: Option<Secret>,
        protocol: Protocol,
    ) -> Result<Option<Self>, ProbeError> {
        let mechanism = config
            .sasl_mechanism
            .as_deref()
            .map(|m| m.trim().to_ascii_uppercase().replace('_', "-"))
            .filter(|m| !m.is_empty());
        if !protocol.uses_sasl() {
            if mechanism.is_some() || config.sasl_username.is_some() {
                return Err(ProbeError::Config(format!(
                    "kafka SASL settings need `security_protocol` `sasl_ssl` (or \
                     `sasl_plaintext`), not `{}`",
                    protocol.librdkafka_name()
                )));
            }
            return Ok(None);
        }
        let mechanism = match mechanism.as_deref() {
            None | Some("SCRAM-SHA-512") => "SCRAM-SHA-512",
            Some("SCRAM-SHA-256") => "SCRAM-SHA-256",
            Some("PLAIN") => "PLAIN",
            Some("AWS-MSK-IAM" | "OAUTHBEARER") => {
                return Err(ProbeError::Config(
                    "kafka: MSK IAM authentication is not supported yet; use the cluster's \
                     SASL/SCRAM listener (`sasl_mechanism = \"SCRAM-SHA-512\"`)"
                        .into(),
                ))
            }
            Some(other) => {
                return Err(ProbeError::Config(format!(
                    "kafka `sasl_mechanism` is {other:?}; expected `SCRAM-SHA-512`, \
                     `SCRAM-SHA-256` or `PLAIN`"
                )))
            }
        };
        let username = config
            .sasl_username
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                ProbeError::Config(format!("kafka {mechanism} needs `sasl_username`"))
            })?;
        let password = password.filter(|p| !p.expose().is_empty()).ok_or_else(|| {
            ProbeError::Config(format!("kafka {mechanism} needs `sasl_password`"))
        })?;
        Ok(Some(Self {
            mechanism,
            username: username.to_string(),
            password,
        }))
    }
}

/// Where the bootstrap servers come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootstrapSource {
    /// The configured list, MSK never asked.
    Configured(String),
    /// MSK `GetBootstrapBrokers` for the cluster, then the configured list if that call fails.
    Msk {
        /// The cluster's ARN.
        cluster_arn: String,
        /// `bootstrap_servers`, used when the call fails.
        fallback: Option<String>,
    },
}

/// Checked settings of one Kafka probe.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The topic whose partitions are read.
    pub topic: String,
    /// The consumer group whose committed offsets are read (never joined).
    pub group: String,
    /// Where the bootstrap servers come from.
    pub bootstrap: BootstrapSource,
    /// The rule for partitions without a committed offset.
    pub uncommitted: Uncommitted,
    /// What `max_useful_tasks` reports.
    pub useful_tasks: UsefulTasks,
    /// `security.protocol`.
    pub protocol: Protocol,
    /// SASL credentials, for the `sasl_*` protocols.
    pub sasl: Option<Sasl>,
    /// `ssl.ca.location`.
    pub ssl_ca_location: Option<String>,
    /// The bound of one read against the brokers.
    pub timeout: Duration,
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

impl Settings {
    /// Checks `config`; every problem is a `ProbeError::Config` that names the key to fix.
    pub fn parse(mut config: KafkaQueue) -> Result<Self, ProbeError> {
        let topic = non_empty(config.topic.as_deref())
            .ok_or_else(|| ProbeError::Config("kafka needs `topic` (KAFKA_TOPIC)".into()))?;
        let group = non_empty(config.consumer_group.as_deref()).ok_or_else(|| {
            ProbeError::Config(
                "kafka needs `consumer_group` (KAFKA_CONSUMER_GROUP): lag is measured against \
                 a group's committed offsets"
                    .into(),
            )
        })?;
        let servers = non_empty(config.bootstrap_servers.as_deref()).map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(",")
        });
        let arn = non_empty(config.cluster_arn.as_deref());
        let bootstrap = match (arn, servers) {
            (None, None) => {
                return Err(ProbeError::Config(
                    "kafka needs `cluster_arn` (MSK_CLUSTER_ARN) or `bootstrap_servers` \
                     (KAFKA_BOOTSTRAP_SERVERS)"
                        .into(),
                ))
            }
            (Some(cluster_arn), fallback) if !config.bootstrap_servers_override => {
                BootstrapSource::Msk {
                    cluster_arn,
                    fallback,
                }
            }
            (_, Some(servers)) => BootstrapSource::Configured(servers),
            (Some(_), None) => {
                return Err(ProbeError::Config(
                    "kafka `bootstrap_servers_override` needs `bootstrap_servers` \
                     (KAFKA_BOOTSTRAP_SERVERS)"
                        .into(),
                ))
            }
        };
        let protocol = Protocol::parse(config.security_protocol.as_deref())?;
        let password = config.sasl_password.take();
        let timeout_secs = config.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
        if timeout_secs == 0 {
            return Err(ProbeError::Config(
                "kafka `timeout_secs` must be at least 1".into(),
            ));
        }
        Ok(Self {
            topic,
            group,
            bootstrap,
            uncommitted: Uncommitted::parse(config.uncommitted.as_deref())?,
            useful_tasks: UsefulTasks::parse(config.useful_tasks.as_deref())?,
            protocol,
            sasl: Sasl::parse(&config, password, protocol)?,
            ssl_ca_location: non_empty(config.ssl_ca_location.as_deref()),
            timeout: Duration::from_secs(timeout_secs),
        })
    }

    /// The password, when there is one: masked in every message that leaves the probe.
    pub fn secret(&self) -> &str {
        self.sasl.as_ref().map_or("", |s| s.password.expose())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> KafkaQueue {
        KafkaQueue {
            topic: Some("orders".into()),
            consumer_group: Some("workers".into()),
            bootstrap_servers: Some(" b1:9092 , b2:9092,".into()),
            ..KafkaQueue::default()
        }
    }

    #[test]
    fn rules_parse_and_default() {
        let table = [
            (None, Some(Uncommitted::Earliest)),
            (Some("Earliest"), Some(Uncommitted::Earliest)),
            (Some("latest"), Some(Uncommitted::Latest)),
            (Some(" zero "), Some(Uncommitted::Zero)),
            (Some("newest"), None),
        ];
        for (value, expected) in table {
            assert_eq!(Uncommitted::parse(value).ok(), expected, "{value:?}");
        }
        assert_eq!(UsefulTasks::parse(None).ok(), Some(UsefulTasks::Partitions));
        assert_eq!(
            UsefulTasks::parse(Some("lagging-partitions")).ok(),
            Some(UsefulTasks::LaggingPartitions)
        );
        assert!(UsefulTasks::parse(Some("shards")).is_err());
        assert_eq!(
            Protocol::parse(Some("SASL_SSL")).ok(),
            Some(Protocol::SaslSsl)
        );
        assert!(Protocol::parse(Some("https")).is_err());
    }

    #[test]
    fn bootstrap_source_follows_arn_servers_and_override() {
        let plain = Settings::parse(base()).unwrap();
        assert_eq!(
            plain.bootstrap,
            BootstrapSource::Configured("b1:9092,b2:9092".into())
        );
        assert_eq!(plain.timeout, Duration::from_secs(DEFAULT_TIMEOUT_SECS));

        let mut msk = base();
        msk.cluster_arn = Some("arn:aws:kafka:us-east-1:1:cluster/c/1".into());
        assert_eq!(
            Settings::parse(msk.clone()).unwrap().bootstrap,
            BootstrapSource::Msk {
                cluster_arn: "arn:aws:kafka:us-east-1:1:cluster/c/1".into(),
                fallback: Some("b1:9092,b2:9092".into()),
            }
        );
        msk.bootstrap_servers_override = true;
        assert!(matches!(
            Settings::parse(msk.clone()).unwrap().bootstrap,
            BootstrapSource::Configured(_)
        ));
        msk.bootstrap_servers = None;
        assert!(Settings::parse(msk.clone()).is_err());
        msk.bootstrap_servers_override = false;
        assert!(matches!(
            Settings::parse(msk.clone()).unwrap().bootstrap,
            BootstrapSource::Msk { fallback: None, .. }
        ));
    }

    #[test]
    fn missing_or_inconsistent_settings_are_config_errors() {
        type Edit = fn(&mut KafkaQueue);
        let cases: [(&str, Edit); 8] = [
            ("topic", |c| c.topic = Some(" ".into())),
            ("consumer_group", |c| c.consumer_group = None),
            ("cluster_arn", |c| c.bootstrap_servers = None),
            ("timeout_secs", |c| c.timeout_secs = Some(0)),
            ("sasl_ssl", |c| c.sasl_username = Some("u".into())),
            ("sasl_password", |c| {
                c.security_protocol = Some("sasl_ssl".into());
                c.sasl_username = Some("u".into());
            }),
            ("not supported", |c| {
                c.security_protocol = Some("sasl_ssl".into());
                c.sasl_mechanism = Some("AWS_MSK_IAM".into());
            }),
            ("uncommitted", |c| c.uncommitted = Some("all".into())),
        ];
        for (needle, edit) in cases {
            let mut config = base();
            edit(&mut config);
            let err = Settings::parse(config.clone()).unwrap_err();
            assert!(
                matches!(&err, ProbeError::Config(m) if m.contains(needle)),
                "{needle}: {err}"
            );
        }
    }

    #[test]
    fn scram_settings_are_kept_and_the_password_stays_hidden() {
        let mut config = base();
        config.security_protocol = Some("sasl_ssl".into());
        config.sasl_username = Some("alice".into());
        config.sasl_password = Some(Secret::new("hunter2"));
        let settings = Settings::parse(config.clone()).unwrap();
        let sasl = settings.sasl.as_ref().unwrap();
        assert_eq!(
            (sasl.mechanism, sasl.username.as_str()),
            ("SCRAM-SHA-512", "alice")
        );
        assert_eq!(settings.secret(), "hunter2");
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
