//! The hand-over to the RabbitMQ probe: its settings from the broker's endpoints and ours.

use stepscale_engine::config::queue::RabbitMqQueue;

use super::broker::Broker;
use super::settings::Settings;
use crate::ProbeError;

/// The RabbitMQ probe's settings for an Amazon MQ RabbitMQ broker: the AMQPS endpoint
/// (port 5671, TLS) and the console URL as the management API, unless overridden.
pub(super) fn rabbitmq_config(
    settings: &Settings,
    broker: &Broker,
) -> Result<RabbitMqQueue, ProbeError> {
    let (Some(username), Some(password)) = (&settings.username, &settings.password) else {
        return Err(ProbeError::Config(format!(
            "broker {} runs RabbitMQ, which needs amazon_mq `username` and `password` \
             (AMQ_USERNAME, AMQ_PASSWORD)",
            broker.id
        )));
    };
    let endpoint = broker.amqps_endpoint();
    let Some(host) = settings
        .rabbitmq_host
        .clone()
        .or_else(|| endpoint.as_ref().map(|(host, _)| host.clone()))
    else {
        return Err(ProbeError::Config(format!(
            "DescribeBroker gave broker {} no amqps endpoint; set amazon_mq `rabbitmq_host`",
            broker.id
        )));
    };
    let port = settings
        .rabbitmq_port
        .or_else(|| endpoint.as_ref().map(|(_, port)| *port))
        .unwrap_or(5671);
    let timeout_secs = settings.timeout.as_secs();
    Ok(RabbitMqQueue {
        host,
        port,
        vhost: settings.vhost.clone(),
        queues: vec![settings.queue.clone()],
        username: username.clone(),
        password: password.clone(),
        tls: settings.tls,
        management_url: settings
            .management_url
            .clone()
            .or_else(|| broker.console_url()),
        connect_timeout_secs: timeout_secs,
        request_timeout_secs: timeout_secs,
        ..RabbitMqQueue::default()
    })
}

#[cfg(test)]
mod tests {
    use super::rabbitmq_config;
    use crate::amazon_mq::broker::{Broker, Engine, Instance};
    use crate::amazon_mq::settings::Settings;
    use crate::ProbeError;
    use stepscale_engine::config::queue::AmazonMqQueue;
    use stepscale_engine::config::Secret;

    fn settings(overrides: impl FnOnce(&mut AmazonMqQueue)) -> Settings {
        let mut config = AmazonMqQueue {
            broker_id: Some("b-5678".into()),
            queue_name: Some("jobs".into()),
            username: Some("stepscale".into()),
            password: Some(Secret::new("pw")),
            ..AmazonMqQueue::default()
        };
        overrides(&mut config);
        Settings::new(config).unwrap()
    }

    fn rabbit_broker() -> Broker {
        Broker {
            id: "b-5678".into(),
            name: "jobs-broker".into(),
            engine: Engine::RabbitMq,
            multi_instance: false,
            instances: vec![Instance {
                console_url: Some("https://b-5678.mq.eu-west-1.amazonaws.com".into()),
                endpoints: vec!["amqps://b-5678.mq.eu-west-1.amazonaws.com:5671".into()],
            }],
        }
    }

    #[test]
    fn the_broker_gives_host_port_tls_and_management_url() {
        let config = rabbitmq_config(&settings(|_| {}), &rabbit_broker()).unwrap();
        assert_eq!(config.host, "b-5678.mq.eu-west-1.amazonaws.com");
        assert_eq!(config.port, 5671);
        assert!(config.tls && config.verify_certificates);
        assert_eq!(
            config.management_url.as_deref(),
            Some("https://b-5678.mq.eu-west-1.amazonaws.com")
        );
        assert_eq!(config.queues, ["jobs"]);
        assert_eq!(config.vhost, "/");
        assert_eq!(
            (config.username.as_str(), config.password.expose()),
            ("stepscale", "pw")
        );
        assert_eq!(
            (config.connect_timeout_secs, config.request_timeout_secs),
            (5, 5)
        );
    }

    #[test]
    fn overrides_win() {
        let config = rabbitmq_config(
            &settings(|c| {
                c.rabbitmq_host = Some("127.0.0.1".into());
                c.rabbitmq_port = Some(5672);
                c.tls = false;
                c.management_url = Some("http://127.0.0.1:15672".into());
                c.vhost = "orders".into();
                c.timeout_secs = 2;
            }),
            &rabbit_broker(),
        )
        .unwrap();
        assert_eq!(
            (config.host.as_str(), config.port, config.tls),
            ("127.0.0.1", 5672, false)
        );
        assert_eq!(
            config.management_url.as_deref(),
            Some("http://127.0.0.1:15672")
        );
        assert_eq!(config.vhost, "orders");
        assert_eq!(config.request_timeout_secs, 2);
    }

    #[test]
    fn credentials_and_an_endpoint_are_required() {
        let err = rabbitmq_config(
            &settings(|c| {
                c.username = None;
                c.password = None;
            }),
            &rabbit_broker(),
        )
        .unwrap_err();
        assert!(
            matches!(&err, ProbeError::Config(t) if t.contains("AMQ_USERNAME")),
            "{err:?}"
        );
        let mut no_endpoint = rabbit_broker();
        no_endpoint.instances[0].endpoints.clear();
        let err = rabbitmq_config(&settings(|_| {}), &no_endpoint).unwrap_err();
        assert!(
            matches!(&err, ProbeError::Config(t) if t.contains("rabbitmq_host")),
            "{err:?}"
        );
        // With a host override the port defaults to Amazon MQ's 5671.
        let config = rabbitmq_config(
            &settings(|c| c.rabbitmq_host = Some("r".into())),
            &no_endpoint,
        )
        .unwrap();
        assert_eq!((config.host.as_str(), config.port), ("r", 5671));
    }
}
