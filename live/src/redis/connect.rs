//! The Redis connection of one probe: built from fields (no URL holding the password), kept while healthy, errors typed.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, ErrorKind, FromRedisValue,
    RedisConnectionInfo, RedisError,
};
use stepscale_engine::config::queue::RedisQueue;
use tokio::sync::Mutex;
use tokio::time::timeout;
use tracing::debug;

use super::redact;
use crate::ProbeError;

/// A lazily opened, shared connection to one Redis server.
pub(super) struct Redis {
    client: Client,
    /// `redis://host:port/db`, for errors and logs; no credentials.
    target: String,
    /// Only for masking it out of server and library messages.
    password: String,
    timeout: Duration,
    connection: Mutex<Option<MultiplexedConnection>>,
}

impl Redis {
    /// The connection settings of `config`; nothing is dialled yet.
    pub(super) fn new(config: &RedisQueue) -> Result<Self, ProbeError> {
        if config.host.trim().is_empty() {
            return Err(ProbeError::Config("redis `host` is empty".into()));
        }
        if config.timeout_secs == 0 {
            return Err(ProbeError::Config(
                "redis `timeout_secs` must be at least 1".into(),
            ));
        }
        let addr = if config.tls {
            ConnectionAddr::TcpTls {
                host: config.host.clone(),
                port: config.port,
                insecure: !config.verify_certificates,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(config.host.clone(), config.port)
        };
        let scheme = if config.tls { "rediss" } else { "redis" };
        let target = format!("{scheme}://{}:{}/{}", config.host, config.port, config.db);
        let password = config
            .password
            .as_ref()
            .map(|p| p.expose().to_string())
            .filter(|p| !p.is_empty());
        let info = ConnectionInfo {
            addr,
            redis: RedisConnectionInfo {
                db: config.db,
                username: config.username.clone().filter(|u| !u.is_empty()),
                password: password.clone(),
                ..RedisConnectionInfo::default()
            },
        };
        let password = password.unwrap_or_default();
        let client = Client::open(info).map_err(|e| {
            ProbeError::Config(format!(
                "redis client for {target}: {}",
                redact(&e.to_string(), password.as_str())
            ))
        })?;
        Ok(Self {
            client,
            target,
            password,
            timeout: Duration::from_secs(config.timeout_secs),
            connection: Mutex::new(None),
        })
    }

    /// `redis://host:port/db`, without credentials.
    pub(super) fn target(&self) -> &str {
        &self.target
    }

    /// The command timeout, which also bounds a stream fallback scan.
    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs one command; a broken connection is dropped so the next command dials again.
    pub(super) async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, ProbeError> {
        let mut connection = self.connection().await?;
        let Ok(result) = timeout(self.timeout, cmd.query_async::<T>(&mut connection)).await else {
            self.forget().await;
            return Err(self.timed_out());
        };
        match result {
            Ok(value) => Ok(value),
            Err(e) => {
                if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
                    self.forget().await;
                }
                Err(self.error(&e))
            }
        }
    }

    async fn connection(&self) -> Result<MultiplexedConnection, ProbeError> {
        let mut guard = self.connection.lock().await;
        if let Some(connection) = guard.as_ref() {
            return Ok(connection.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout);
        let connecting = self
            .client
            .get_multiplexed_async_connection_with_config(&config);
        let connection = match timeout(self.timeout, connecting).await {
            Err(_) => return Err(self.timed_out()),
            Ok(Err(e)) => return Err(self.connect_error(&e)),
            Ok(Ok(connection)) => connection,
        };
        debug!(target = %self.target, "Connected.");
        *guard = Some(connection.clone());
        Ok(connection)
    }

    async fn forget(&self) {
        *self.connection.lock().await = None;
    }

    fn timed_out(&self) -> ProbeError {
        ProbeError::Timeout {
            target: self.target.clone(),
            secs: self.timeout.as_secs(),
        }
    }

    /// A failure while dialling: refused credentials are [`ProbeError::Auth`], the rest
    /// [`ProbeError::Connect`].
    fn connect_error(&self, error: &RedisError) -> ProbeError {
        match self.error(error) {
            ProbeError::Other { target, detail } => ProbeError::Connect { target, detail },
            other => other,
        }
    }

    /// A failure from the server or the client, typed; the text never holds the password.
    pub(super) fn error(&self, error: &RedisError) -> ProbeError {
        let target = self.target.clone();
        let detail = redact(&error.to_string(), self.password.as_str());
        let code = error.code().unwrap_or_default();
        if error.kind() == ErrorKind::AuthenticationFailed
            || matches!(code, "WRONGPASS" | "NOAUTH" | "NOPERM")
        {
            ProbeError::Auth { target, detail }
        } else if error.is_timeout() {
            self.timed_out()
        } else if error.is_io_error()
            || error.is_connection_refusal()
            || error.is_connection_dropped()
        {
            ProbeError::Connect { target, detail }
        } else {
            ProbeError::Other { target, detail }
        }
    }
}
