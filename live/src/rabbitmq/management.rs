//! The `RabbitMQ` management HTTP API: per-queue unacknowledged counts and rates, and queue listing.

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde::Deserialize;
use stepscale_engine::config::queue::RabbitMqQueue;
use stepscale_engine::config::Secret;
use tracing::debug;

use super::error_chain;
use super::pattern::encode_segment;
use crate::secrets::http_error;
use crate::ProbeError;

/// The columns asked for when listing, so a vhost with many queues stays a small reply.
const LIST_COLUMNS: &str = "name,messages_ready,messages_unacknowledged,consumers,\
message_stats.publish_details.rate,message_stats.deliver_get_details.rate";

/// One queue as the management API reports it (statistics lag a few seconds).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(super) struct QueueStats {
    /// The queue's name.
    pub(super) name: String,
    /// Messages ready for delivery.
    #[serde(default)]
    pub(super) messages_ready: u64,
    /// Messages delivered and not yet acknowledged.
    #[serde(default)]
    pub(super) messages_unacknowledged: u64,
    /// Consumers on the queue.
    #[serde(default)]
    pub(super) consumers: u64,
    /// Absent until the queue has seen traffic.
    #[serde(default)]
    message_stats: Option<MessageStats>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct MessageStats {
    #[serde(default)]
    publish_details: Option<Rate>,
    #[serde(default)]
    deliver_get_details: Option<Rate>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Rate {
    #[serde(default)]
    rate: f64,
}

impl QueueStats {
    /// Messages published into the queue per second (0 before any traffic).
    pub(super) fn publish_rate(&self) -> f64 {
        self.message_stats
            .as_ref()
            .and_then(|s| s.publish_details.as_ref())
            .map_or(0.0, |r| r.rate)
    }

    /// Messages delivered (or fetched) per second (0 before any traffic).
    pub(super) fn deliver_rate(&self) -> f64 {
        self.message_stats
            .as_ref()
            .and_then(|s| s.deliver_get_details.as_ref())
            .map_or(0.0, |r| r.rate)
    }
}

/// A management API client for one vhost, with the probe's credentials.
pub(super) struct Management {
    client: Client,
    /// The base URL without a trailing slash; checked to hold no credentials.
    base: String,
    vhost: String,
    username: String,
    password: Secret,
    timeout_secs: u64,
}

impl Management {
    /// A client for `base_url`; nothing is requested yet.
    pub(super) fn new(config: &RabbitMqQueue, base_url: &str) -> Result<Self, ProbeError> {
        let parsed = reqwest::Url::parse(base_url).map_err(|e| {
            ProbeError::Config(format!("rabbitmq `management_url` is not a URL: {e}"))
        })?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            // Never echo the URL: it holds a secret.
            return Err(ProbeError::Config(
                "rabbitmq `management_url` must not hold credentials; set `username` and \
                 `password` instead"
                    .into(),
            ));
        }
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ProbeError::Config(format!(
                "rabbitmq `management_url` must be http or https, not {}",
                parsed.scheme()
            )));
        }
        let client = Client::builder()
            .connect_timeout(Duration::from_secs(config.connect_timeout_secs))
            .timeout(Duration::from_secs(config.request_timeout_secs))
            .danger_accept_invalid_certs(!config.verify_certificates)
            .build()
            .map_err(|e| ProbeError::Config(format!("HTTP client: {}", error_chain(&e))))?;
        Ok(Self {
            client,
            base: base_url.trim_end_matches('/').to_string(),
            vhost: config.vhost.clone(),
            username: config.username.clone(),
            password: config.password.clone(),
            timeout_secs: config.request_timeout_secs,
        })
    }

    /// The statistics of one queue; a missing queue is [`ProbeError::NotFound`].
    pub(super) async fn queue(&self, name: &str) -> Result<QueueStats, ProbeError> {
        let path = format!(
            "/api/queues/{}/{}",
            encode_segment(&self.vhost),
            encode_segment(name)
        );
        self.get(&path, Some(name)).await
    }

    /// Every queue of the vhost.
    pub(super) async fn list(&self) -> Result<Vec<QueueStats>, ProbeError> {
        let path = format!(
            "/api/queues/{}?columns={LIST_COLUMNS}",
            encode_segment(&self.vhost)
        );
        self.get(&path, None).await
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        queue: Option<&str>,
    ) -> Result<T, ProbeError> {
        let url = format!("{}{path}", self.base);
        let target = url.split('?').next().unwrap_or(&url).to_string();
        let response = self
            .client
            .get(&url)
            .basic_auth(&self.username, Some(self.password.expose()))
            .send()
            .await
            .map_err(|e| self.transport_error(&target, &e))?;
        let status = response.status();
        debug!(target = %target, status = status.as_u16(), "Management API answered.");
        match status {
            s if s.is_success() => response
                .json::<T>()
                .await
                .map_err(|e| self.transport_error(&target, &e)),
            StatusCode::NOT_FOUND => Err(ProbeError::NotFound {
                what: if queue.is_some() { "queue" } else { "vhost" },
                name: queue.map_or_else(
                    || self.vhost.clone(),
                    |q| format!("{q} (vhost {})", self.vhost),
                ),
            }),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(ProbeError::Auth {
                target,
                detail: format!(
                    "HTTP {status} from the management API (the user needs the `monitoring` \
                     tag and access to the vhost)"
                ),
            }),
            _ => Err(ProbeError::Other {
                target,
                detail: format!("HTTP {status} from the management API"),
            }),
        }
    }

    fn transport_error(&self, target: &str, error: &reqwest::Error) -> ProbeError {
        http_error(
            target,
            error,
            Some(self.password.expose()),
            self.timeout_secs,
        )
    }
}
