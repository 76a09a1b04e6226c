//! A PromQL instant query as a source (`type = "prometheus"`): `GET /api/v1/query` on any
//! Prometheus-compatible API; its one value is the backlog or the arrival rate.

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde::Deserialize;
use stepscale_engine::config::queue::{MetricMeaning, PrometheusQuery};
use stepscale_engine::QueueSample;
use tracing::debug;

use crate::secrets::{error_chain, http_error};
use crate::{Probe, ProbeError};

/// Runs one query each tick.
#[derive(Debug)]
pub struct PrometheusProbe {
    client: Client,
    /// `{url}/api/v1/query`.
    endpoint: String,
    query: String,
    meaning: MetricMeaning,
    username: Option<String>,
    password: Option<stepscale_engine::config::Secret>,
    timeout_secs: u64,
}

/// The API's answer: `{"status": "success", "data": {"resultType": ..., "result": ...}}`, or
/// `{"status": "error", "errorType": ..., "error": ...}`.
#[derive(Debug, Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct Series {
    #[serde(default)]
    metric: serde_json::Map<String, serde_json::Value>,
    /// `[timestamp, "value"]`.
    value: (f64, String),
}

impl PrometheusProbe {
    /// A probe for `config`, checked as the engine checks it; nothing is requested yet.
    pub fn new(config: &PrometheusQuery) -> Result<Self, ProbeError> {
        config
            .check("prometheus")
            .map_err(|e| ProbeError::Config(e.to_string()))?;
        let url = config.url.as_deref().unwrap_or_default().trim();
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| ProbeError::Config(format!("prometheus `url` is not a URL: {e}")))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            // Never echo the URL: it holds a secret.
            return Err(ProbeError::Config(
                "prometheus `url` must not hold credentials; set `username` and `password`".into(),
            ));
        }
        let client = Client::builder()
            .connect_timeout(Duration::from_secs(config.timeout_secs))
            .timeout(Duration::from_secs(config.timeout_secs))
            .build()
            .map_err(|e| ProbeError::Config(format!("HTTP client: {}", error_chain(&e))))?;
        Ok(Self {
            client,
            endpoint: format!("{}/api/v1/query", url.trim_end_matches('/')),
            query: config.query.clone().unwrap_or_default(),
            meaning: config.value,
            username: config.username.clone(),
            password: config.password.clone(),
            timeout_secs: config.timeout_secs,
        })
    }

    fn other(&self, detail: impl Into<String>) -> ProbeError {
        ProbeError::Other {
            target: format!("Prometheus query {:?}", self.query),
            detail: detail.into(),
        }
    }

    fn transport_error(&self, error: &reqwest::Error) -> ProbeError {
        http_error(
            &self.endpoint,
            error,
            self.password
                .as_ref()
                .map(stepscale_engine::config::Secret::expose),
            self.timeout_secs,
        )
    }

    /// The one value an answer holds, or why it holds none.
    fn value(&self, answer: Answer) -> Result<f64, ProbeError> {
        if answer.status != "success" {
            return Err(self.other(format!(
                "{}: {}",
                answer.error_type.unwrap_or_else(|| answer.status.clone()),
                answer.error.unwrap_or_default()
            )));
        }
        let Some(data) = answer.data else {
            return Err(self.other("a success without data"));
        };
        let text = match data.result_type.as_str() {
            // `[timestamp, "value"]`
            "scalar" => serde_json::from_value::<(f64, String)>(data.result)
                .map_err(|e| self.other(format!("a scalar that is not [time, value]: {e}")))?
                .1,
            "vector" => {
                let mut series: Vec<Series> = serde_json::from_value(data.result)
                    .map_err(|e| self.other(format!("a vector that is not a list of series: {e}")))?;
                match series.len() {
                    0 => {
                        return Err(self.other(
                            "the query gave no series: an empty read holds, it is never taken as 0",
                        ))
                    }
                    1 => series.remove(0).value.1,
                    n => {
                        let labels: Vec<String> = series
                            .iter()
                            .take(3)
                            .map(|s| serde_json::Value::Object(s.metric.clone()).to_string())
                            .collect();
                        return Err(self.other(format!(
                            "the query gave {n} series ({}...); it must give one: aggregate it, e.g. sum(...)",
                            labels.join(", ")
                        )));
                    }
                }
            }
            other => {
                return Err(self.other(format!(
                    "the query gave a {other}; it must give one series or a scalar (an instant query, not a range)"
                )))
            }
        };
        text.parse()
            .map_err(|_| self.other(format!("the value {text:?} is not a number")))
    }
}

impl Probe for PrometheusProbe {
    async fn read(&self) -> Result<QueueSample, ProbeError> {
        let mut request = self
            .client
            .get(&self.endpoint)
            .query(&[("query", self.query.as_str())]);
        if let Some(user) = &self.username {
            request = request.basic_auth(
                user,
                self.password
                    .as_ref()
                    .map(stepscale_engine::config::Secret::expose),
            );
        }
        let response = request.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(ProbeError::Auth {
                target: self.endpoint.clone(),
                detail: format!("HTTP {status}"),
            });
        }
        let body = response
            .text()
            .await
            .map_err(|e| self.transport_error(&e))?;
        // Prometheus answers a bad query with 400 and an error document: read it for its text.
        let answer: Answer = serde_json::from_str(&body).map_err(|_| {
            let start: String = body.chars().take(120).collect();
            self.other(format!("HTTP {status}, not a Prometheus answer: {start:?}"))
        })?;
        let value = self.value(answer)?;
        debug!(query = %self.query, value, "Read Prometheus query.");
        self.meaning
            .sample(value)
            .map_err(|detail| self.other(detail))
    }
}
