//! `DescribeBroker`: the broker's engine, name, deployment mode and per-instance endpoints.

use aws_sdk_mq::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_mq::types::{DeploymentMode, EngineType};
use tracing::debug;

use crate::aws::{describe, OPERATION_TIMEOUT};
use crate::ProbeError;

/// The broker's engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Engine {
    /// ActiveMQ: Jolokia on the web console, CloudWatch as fallback.
    ActiveMq,
    /// RabbitMQ: the RabbitMQ probe over AMQPS and the management API.
    RabbitMq,
}

/// One broker instance (two for an active/standby ActiveMQ broker).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Instance {
    /// The web console, e.g. `https://b-1234-1.mq.us-east-1.amazonaws.com:8162`.
    pub(super) console_url: Option<String>,
    /// Wire endpoints, e.g. `ssl://...:61617`, `amqps://...:5671`.
    pub(super) endpoints: Vec<String>,
}

/// What the probe needs of `DescribeBroker`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Broker {
    /// The broker id asked for.
    pub(super) id: String,
    /// The broker's name (CloudWatch's `Broker` dimension starts with it).
    pub(super) name: String,
    /// The engine.
    pub(super) engine: Engine,
    /// Active/standby or cluster: more than one CloudWatch `Broker` dimension.
    pub(super) multi_instance: bool,
    /// The instances, in the order the API gives them.
    pub(super) instances: Vec<Instance>,
}

impl Broker {
    /// The Jolokia base URL of each instance's console (`{console}/api/jolokia`).
    pub(super) fn jolokia_urls(&self) -> Vec<String> {
        self.instances
            .iter()
            .filter_map(|i| i.console_url.as_deref())
            .map(|url| format!("{}/api/jolokia", url.trim_end_matches('/')))
            .collect()
    }

    /// CloudWatch `Broker` dimension values to ask for: Amazon MQ names an ActiveMQ
    /// broker's instances `{name}-1` (and `{name}-2` for the standby); the bare name is
    /// asked for too, as it costs nothing in the same request.
    pub(super) fn cloudwatch_dimensions(&self) -> Vec<String> {
        let mut names = vec![format!("{}-1", self.name)];
        if self.multi_instance {
            names.push(format!("{}-2", self.name));
        }
        names.push(self.name.clone());
        names
    }

    /// The first AMQPS endpoint's host and port (5671 when the endpoint names none).
    pub(super) fn amqps_endpoint(&self) -> Option<(String, u16)> {
        self.instances
            .iter()
            .flat_map(|i| i.endpoints.iter())
            .find_map(|endpoint| {
                let url = reqwest::Url::parse(endpoint).ok()?;
                if url.scheme() != "amqps" {
                    return None;
                }
                let host = url.host_str()?.to_string();
                Some((host, url.port().unwrap_or(5671)))
            })
    }

    /// The first instance's console URL, without a trailing slash.
    pub(super) fn console_url(&self) -> Option<String> {
        self.instances
            .iter()
            .find_map(|i| i.console_url.as_deref())
            .map(|url| url.trim_end_matches('/').to_string())
    }
}

/// Describes broker `id`; a broker that does not exist is [`ProbeError::NotFound`].
pub(super) async fn describe_broker(
    client: &aws_sdk_mq::Client,
    id: &str,
) -> Result<Broker, ProbeError> {
    let target = format!("Amazon MQ DescribeBroker {id}");
    let output = client
        .describe_broker()
        .broker_id(id)
        .send()
        .await
        .map_err(|e| sdk_error(&target, &e, Some(("broker", id))))?;
    let engine = match output.engine_type() {
        Some(EngineType::Activemq) => Engine::ActiveMq,
        Some(EngineType::Rabbitmq) => Engine::RabbitMq,
        other => {
            return Err(ProbeError::Other {
                target,
                detail: format!("engine type {other:?} is neither ActiveMQ nor RabbitMQ"),
            })
        }
    };
    let name = output
        .broker_name()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ProbeError::Other {
            target: target.clone(),
            detail: "the answer names no broker".into(),
        })?
        .to_string();
    let multi_instance = !matches!(
        output.deployment_mode(),
        Some(DeploymentMode::SingleInstance) | None
    );
    let instances = output
        .broker_instances()
        .iter()
        .map(|i| Instance {
            console_url: i.console_url().map(str::to_string),
            endpoints: i.endpoints().to_vec(),
        })
        .collect();
    debug!(
        broker_id = %id,
        broker = %name,
        engine = ?engine,
        state = ?output.broker_state(),
        deployment = ?output.deployment_mode(),
        "Described broker."
    );
    Ok(Broker {
        id: id.to_string(),
        name,
        engine,
        multi_instance,
        instances,
    })
}

/// A typed probe error for an AWS SDK error; `missing` names what a not-found error means.
pub(super) fn sdk_error<E, R>(
    target: &str,
    error: &SdkError<E, R>,
    missing: Option<(&'static str, &str)>,
) -> ProbeError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let target = target.to_string();
    let detail = describe(error);
    match error {
        SdkError::TimeoutError(_) => ProbeError::Timeout {
            target,
            secs: OPERATION_TIMEOUT.as_secs(),
        },
        SdkError::DispatchFailure(_) => ProbeError::Connect { target, detail },
        SdkError::ServiceError(e) => {
            let code = e.err().code().unwrap_or_default();
            match (code, missing) {
                (
                    "NotFoundException" | "ResourceNotFound" | "ResourceNotFoundException",
                    Some((what, name)),
                ) => ProbeError::NotFound {
                    what,
                    name: name.to_string(),
                },
                (c, _)
                    if c.contains("AccessDenied")
                        || c.contains("Forbidden")
                        || c.contains("Unauthorized")
                        || c.contains("UnrecognizedClient")
                        || c.contains("InvalidClientTokenId")
                        || c.contains("ExpiredToken")
                        || c.contains("SignatureDoesNotMatch") =>
                {
                    ProbeError::Auth { target, detail }
                }
                _ => ProbeError::Other { target, detail },
            }
        }
        _ => ProbeError::Other { target, detail },
    }
}

#[cfg(test)]
mod tests {
    use super::{Broker, Engine, Instance};

    fn broker(multi_instance: bool, instances: Vec<Instance>) -> Broker {
        Broker {
            id: "b-1234".into(),
            name: "orders-broker".into(),
            engine: Engine::ActiveMq,
            multi_instance,
            instances,
        }
    }

    fn instance(console: &str, endpoints: &[&str]) -> Instance {
        Instance {
            console_url: Some(console.into()),
            endpoints: endpoints.iter().map(|e| (*e).to_string()).collect(),
        }
    }

    #[test]
    fn each_console_gives_a_jolokia_url() {
        let b = broker(
            true,
            vec![
                instance("https://b-1234-1.mq.eu-west-1.amazonaws.com:8162", &[]),
                instance("https://b-1234-2.mq.eu-west-1.amazonaws.com:8162/", &[]),
            ],
        );
        assert_eq!(
            b.jolokia_urls(),
            [
                "https://b-1234-1.mq.eu-west-1.amazonaws.com:8162/api/jolokia",
                "https://b-1234-2.mq.eu-west-1.amazonaws.com:8162/api/jolokia",
            ]
        );
        assert!(broker(false, vec![Instance::default()])
            .jolokia_urls()
            .is_empty());
    }

    #[test]
    fn cloudwatch_dimensions_follow_the_deployment() {
        assert_eq!(
            broker(false, vec![]).cloudwatch_dimensions(),
            ["orders-broker-1", "orders-broker"]
        );
        assert_eq!(
            broker(true, vec![]).cloudwatch_dimensions(),
            ["orders-broker-1", "orders-broker-2", "orders-broker"]
        );
    }

    #[test]
    fn the_amqps_endpoint_is_found_among_others() {
        let b = broker(
            false,
            vec![instance(
                "https://b-1234.mq.us-east-1.amazonaws.com",
                &[
                    "ssl://b-1234.mq.us-east-1.amazonaws.com:61617",
                    "amqps://b-1234.mq.us-east-1.amazonaws.com:5671",
                ],
            )],
        );
        assert_eq!(
            b.amqps_endpoint(),
            Some(("b-1234.mq.us-east-1.amazonaws.com".into(), 5671))
        );
        let portless = broker(
            false,
            vec![instance("https://x", &["amqps://rabbit.example"])],
        );
        assert_eq!(
            portless.amqps_endpoint(),
            Some(("rabbit.example".into(), 5671))
        );
        // ActiveMQ's AMQP endpoint is amqp+ssl, not the RabbitMQ engine's amqps.
        let activemq = broker(
            false,
            vec![instance("https://x", &["amqp+ssl://mockmq:5671"])],
        );
        assert_eq!(activemq.amqps_endpoint(), None);
    }

    #[test]
    fn the_console_url_loses_its_trailing_slash() {
        let b = broker(
            false,
            vec![instance("https://b-1234.mq.us-east-1.amazonaws.com/", &[])],
        );
        assert_eq!(
            b.console_url().as_deref(),
            Some("https://b-1234.mq.us-east-1.amazonaws.com")
        );
    }
}
