//! The AMQP side of the `RabbitMQ` probe: one kept connection, passive declares, typed errors.

use std::future::Future;
use std::io;
use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::protocol::{AMQPErrorKind, AMQPHardError, AMQPSoftError};
use lapin::tcp::{AsyncTcpStream, RustlsConnector, TLSConfig};
use lapin::types::FieldTable;
use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo};
use lapin::{Connection, ConnectionProperties, ErrorKind};
use stepscale_engine::config::queue::RabbitMqQueue;
use stepscale_engine::config::Secret;
use tokio::sync::Mutex;
use tokio::time::timeout;
use tracing::debug;

use super::pattern::encode_segment;
use super::{redact, tls};
use crate::ProbeError;

/// What one passive declare told about one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Declared {
    /// Messages ready for delivery (unacknowledged ones excluded).
    pub(super) ready: u64,
    /// Consumers on the queue.
    pub(super) consumers: u64,
}

/// How the TCP stream is wrapped.
#[derive(Clone)]
enum Transport {
    Plain,
    /// TLS checked against the system's root certificates.
    Verified,
    /// TLS that accepts any certificate (`verify_certificates = false`).
    Insecure(RustlsConnector),
}

/// The AMQP connection of one probe, opened on first use and kept while it stays healthy.
pub(super) struct Amqp {
    /// Holds the password: never formatted, never logged.
    uri: AMQPUri,
    transport: Transport,
    /// `amqp://host:port/vhost`, for errors and logs; no credentials.
    target: String,
    password: Secret,
    connect_timeout: Duration,
    request_timeout: Duration,
    connection: Mutex<Option<Connection>>,
}

impl Amqp {
    /// The connection settings of `config`; nothing is dialled yet.
    pub(super) fn new(config: &RabbitMqQueue) -> Result<Self, ProbeError> {
        if config.host.trim().is_empty() {
            return Err(ProbeError::Config("rabbitmq `host` is empty".into()));
        }
        if config.connect_timeout_secs == 0 || config.request_timeout_secs == 0 {
            return Err(ProbeError::Config(
                "rabbitmq `connect_timeout_secs` and `request_timeout_secs` must be at least 1"
                    .into(),
            ));
        }
        let (scheme, transport) = match (config.tls, config.verify_certificates) {
            (false, _) => (AMQPScheme::AMQP, Transport::Plain),
            (true, true) => (AMQPScheme::AMQPS, Transport::Verified),
            (true, false) => (
                AMQPScheme::AMQPS,
                Transport::Insecure(tls::insecure_connector(config)?),
            ),
        };
        let target = format!(
            "{scheme}://{}:{}/{}",
            config.host,
            config.port,
            encode_segment(&config.vhost)
        );
        let uri = AMQPUri {
            scheme,
            authority: AMQPAuthority {
                userinfo: AMQPUserInfo {
                    username: config.username.clone(),
                    password: config.password.expose().to_string(),
                },
                host: config.host.clone(),
                port: config.port,
            },
            vhost: config.vhost.clone(),
            query: AMQPQueryString {
                connection_timeout: Some(config.connect_timeout_secs.saturating_mul(1000)),
                ..AMQPQueryString::default()
            },
        };
        Ok(Self {
            uri,
            transport,
            target,
            password: config.password.clone(),
            connect_timeout: Duration::from_secs(config.connect_timeout_secs),
            request_timeout: Duration::from_secs(config.request_timeout_secs),
            connection: Mutex::new(None),
        })
    }

    /// `amqp://host:port/vhost`, without credentials.
    pub(super) fn target(&self) -> &str {
        &self.target
    }

    /// Declares each queue passively, in order. The first missing queue ends the read with
    /// [`ProbeError::NotFound`]: the broker closes the channel on it.
    pub(super) async fn declare_all(&self, names: &[String]) -> Result<Vec<Declared>, ProbeError> {
        let mut guard = self.connection.lock().await;
        if guard.as_ref().is_none_or(|c| !c.status().connected()) {
            *guard = None;
            *guard = Some(self.connect().await?);
        }
        let Some(connection) = guard.as_ref() else {
            return Err(self.other(&"no connection after connecting"));
        };
        let result = self.declare_on(connection, names).await;
        if let Err(e) = &result {
            // A missing queue or a refused declare only closes the channel; anything else
            // may have broken the connection, so the next read dials again.
            if !matches!(e, ProbeError::NotFound { .. } | ProbeError::Auth { .. }) {
                *guard = None;
            }
        }
        result
    }

    async fn declare_on(
        &self,
        connection: &Connection,
        names: &[String],
    ) -> Result<Vec<Declared>, ProbeError> {
        let channel = self
            .within(connection.create_channel())
            .await?
            .map_err(|e| self.request_error(&e, None))?;
        let mut declared = Vec::with_capacity(names.len());
        for name in names {
            let options = QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            };
            let queue = self
                .within(channel.queue_declare(name.as_str().into(), options, FieldTable::default()))
                .await?
                .map_err(|e| self.request_error(&e, Some(name)))?;
            declared.push(Declared {
                ready: u64::from(queue.message_count()),
                consumers: u64::from(queue.consumer_count()),
            });
        }
        // A failed close only leaves a channel for the broker to reap; the counts stand.
        if let Ok(Err(e)) = self.within(channel.close(200, "OK".into())).await {
            debug!(target = %self.target, error = %self.redacted(&e), "Channel close failed.");
        }
        Ok(declared)
    }

    async fn connect(&self) -> Result<Connection, ProbeError> {
        let runtime = lapin::runtime::default_runtime().map_err(|e| self.other(&e))?;
        let transport = self.transport.clone();
        let connect_timeout = self.connect_timeout;
        // Our own dialler rather than lapin's: it bounds the TCP connect by the connect
        // timeout and can use the opt-in connector that skips certificate checks.
        let dial = async move |uri: AMQPUri, runtime| {
            let host = uri.authority.host.as_str();
            let stream = timeout(connect_timeout, async {
                let mut last = io::Error::new(io::ErrorKind::NotFound, "no address for host");
                for addr in tokio::net::lookup_host((host, uri.authority.port)).await? {
                    match AsyncTcpStream::connect(&runtime, addr).await {
                        Ok(stream) => return Ok(stream),
                        Err(e) => last = e,
                    }
                }
                Err(last)
            })
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TCP connect timed out"))??;
            let stream = match &transport {
                Transport::Plain => stream,
                Transport::Verified => stream.into_tls(host, TLSConfig::default()).await?,
                Transport::Insecure(connector) => stream.into_rustls(connector, host).await?,
            };
            Ok(stream)
        };
        let properties =
            ConnectionProperties::default().with_connection_name("stepscale-probe".into());
        let connecting = Connection::connector(self.uri.clone(), runtime, dial, properties);
        match timeout(self.connect_timeout, connecting).await {
            Err(_) => Err(self.timeout(self.connect_timeout)),
            Ok(Err(e)) => Err(self.connect_error(&e)),
            Ok(Ok(connection)) => {
                debug!(target = %self.target, "Connected.");
                Ok(connection)
            }
        }
    }

    /// Runs `future` within the request timeout.
    async fn within<T>(&self, future: impl Future<Output = T>) -> Result<T, ProbeError> {
        timeout(self.request_timeout, future)
            .await
            .map_err(|_| self.timeout(self.request_timeout))
    }

    fn connect_error(&self, error: &lapin::Error) -> ProbeError {
        let detail = self.redacted(error);
        let ErrorKind::ProtocolError(amqp) = error.kind() else {
            return ProbeError::Connect {
                target: self.target.clone(),
                detail,
            };
        };
        match amqp.kind() {
            // The broker says NOT_ALLOWED both for a vhost that does not exist and for one
            // the user may not enter; only its text tells them apart.
            AMQPErrorKind::Hard(AMQPHardError::NOTALLOWED)
                if amqp.get_message().as_str().contains("not found") =>
            {
                ProbeError::NotFound {
                    what: "vhost",
                    name: self.uri.vhost.clone(),
                }
            }
            AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED)
            | AMQPErrorKind::Hard(AMQPHardError::NOTALLOWED) => ProbeError::Auth {
                target: self.target.clone(),
                detail,
            },
            _ => ProbeError::Connect {
                target: self.target.clone(),
                detail,
            },
        }
    }

    fn request_error(&self, error: &lapin::Error, queue: Option<&str>) -> ProbeError {
        let detail = self.redacted(error);
        match (error.kind(), queue) {
            (ErrorKind::ProtocolError(e), Some(name))
                if matches!(e.kind(), AMQPErrorKind::Soft(AMQPSoftError::NOTFOUND)) =>
            {
                ProbeError::NotFound {
                    what: "queue",
                    name: format!("{name} (vhost {})", self.uri.vhost),
                }
            }
            (ErrorKind::ProtocolError(e), _)
                if matches!(e.kind(), AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED)) =>
            {
                ProbeError::Auth {
                    target: self.target.clone(),
                    detail,
                }
            }
            (ErrorKind::IOError(_) | ErrorKind::MissingHeartbeatError, _) => ProbeError::Connect {
                target: self.target.clone(),
                detail,
            },
            _ => ProbeError::Other {
                target: self.target.clone(),
                detail,
            },
        }
    }

    fn timeout(&self, after: Duration) -> ProbeError {
        ProbeError::Timeout {
            target: self.target.clone(),
            secs: after.as_secs(),
        }
    }

    fn other(&self, detail: &dyn std::fmt::Display) -> ProbeError {
        ProbeError::Other {
            target: self.target.clone(),
            detail: redact(&detail.to_string(), self.password.expose()),
        }
    }

    fn redacted(&self, error: &lapin::Error) -> String {
        redact(&crate::secrets::error_chain(error), self.password.expose())
    }
}
