//! MSK `GetBootstrapBrokers`: the cluster's bootstrap string for the listener the probe uses.

use aws_sdk_kafka::config::http::HttpResponse;
use aws_sdk_kafka::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kafka::operation::get_bootstrap_brokers::GetBootstrapBrokersError;

use super::config::{Protocol, Sasl};
use crate::aws::describe;
use crate::ProbeError;

/// Which of MSK's bootstrap strings matches the configured protocol and mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// `BootstrapBrokerString` (plaintext, port 9092).
    Plaintext,
    /// `BootstrapBrokerStringTls` (port 9094).
    Tls,
    /// `BootstrapBrokerStringSaslScram` (port 9096).
    SaslScram,
}

impl Listener {
    /// The listener for `protocol`, or why MSK has none.
    pub fn for_protocol(protocol: Protocol, sasl: Option<&Sasl>) -> Result<Self, String> {
        match (protocol, sasl.map(|s| s.mechanism)) {
            (Protocol::Plaintext, _) => Ok(Self::Plaintext),
            (Protocol::Ssl, _) => Ok(Self::Tls),
            (Protocol::SaslSsl, Some("SCRAM-SHA-512")) => Ok(Self::SaslScram),
            (Protocol::SaslSsl, mechanism) => Err(format!(
                "MSK's SASL listener takes SCRAM-SHA-512, not {}",
                mechanism.unwrap_or("none")
            )),
            (Protocol::SaslPlaintext, _) => {
                Err("MSK has no SASL listener without TLS (use `sasl_ssl`)".into())
            }
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Tls => "TLS",
            Self::SaslScram => "SASL/SCRAM",
        }
    }
}

/// A failed `GetBootstrapBrokers` as a probe error, with the HTTP status when there was one.
fn classify(
    err: &SdkError<GetBootstrapBrokersError, HttpResponse>,
    cluster_arn: &str,
    target: &str,
) -> ProbeError {
    let mut detail = describe(err);
    if let Some(status) = err.raw_response().map(|r| r.status().as_u16()) {
        detail = format!("HTTP {status}: {detail}");
    }
    let target = target.to_string();
    match err {
        SdkError::ServiceError(_) => match err.code() {
            Some("NotFoundException") => ProbeError::NotFound {
                what: "MSK cluster",
                name: cluster_arn.to_string(),
            },
            Some(
                "ForbiddenException"
                | "UnauthorizedException"
                | "AccessDeniedException"
                | "UnrecognizedClientException",
            ) => ProbeError::Auth {
                target,
                detail: format!("{detail} (the role needs kafka:GetBootstrapBrokers)"),
            },
            _ => ProbeError::Other { target, detail },
        },
        SdkError::TimeoutError(_) => ProbeError::Timeout {
            target,
            secs: crate::aws::OPERATION_TIMEOUT.as_secs(),
        },
        SdkError::DispatchFailure(_) => ProbeError::Connect { target, detail },
        _ => ProbeError::Other { target, detail },
    }
}

/// Asks MSK for the cluster's bootstrap brokers on `listener`.
pub async fn bootstrap_brokers(
    client: &aws_sdk_kafka::Client,
    cluster_arn: &str,
    listener: Listener,
) -> Result<String, ProbeError> {
    let target = format!("MSK GetBootstrapBrokers {cluster_arn}");
    let out = client
        .get_bootstrap_brokers()
        .cluster_arn(cluster_arn)
        .send()
        .await
        .map_err(|err| classify(&err, cluster_arn, &target))?;
    let servers = match listener {
        Listener::Plaintext => out.bootstrap_broker_string(),
        Listener::Tls => out.bootstrap_broker_string_tls(),
        Listener::SaslScram => out.bootstrap_broker_string_sasl_scram(),
    };
    servers
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            ProbeError::Config(format!(
                "MSK cluster {cluster_arn} has no {} listener; match `security_protocol` to \
                 the cluster or set `bootstrap_servers`",
                listener.name()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use stepscale_engine::config::Secret;

    #[test]
    fn the_listener_follows_protocol_and_mechanism() {
        let scram = |mechanism| Sasl {
            mechanism,
            username: "u".into(),
            password: Secret::new("p"),
        };
        assert_eq!(
            Listener::for_protocol(Protocol::Plaintext, None),
            Ok(Listener::Plaintext)
        );
        assert_eq!(
            Listener::for_protocol(Protocol::Ssl, None),
            Ok(Listener::Tls)
        );
        assert_eq!(
            Listener::for_protocol(Protocol::SaslSsl, Some(&scram("SCRAM-SHA-512"))),
            Ok(Listener::SaslScram)
        );
        assert!(Listener::for_protocol(Protocol::SaslSsl, Some(&scram("PLAIN"))).is_err());
        assert!(Listener::for_protocol(Protocol::SaslPlaintext, Some(&scram("PLAIN"))).is_err());
    }
}
