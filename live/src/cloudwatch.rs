//! CloudWatch reads shared by the AWS probes (one GetMetricData call per read), and the
//! mapping of AWS SDK errors to [`ProbeError`].

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::config::http::HttpResponse;
use aws_sdk_cloudwatch::error::SdkError;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, StatusCode};
use aws_sdk_cloudwatch::Client;
use aws_smithy_types::DateTime;

use crate::aws::{describe, OPERATION_TIMEOUT};
use crate::ProbeError;

/// CloudWatch's finest period for AWS service metrics; each datapoint is one minute.
pub const PERIOD_SECS: u64 = 60;
/// How far past now a window ends, so a datapoint stamped in the current minute (or second)
/// is not cut off; there is no data in the future, so sums are not inflated by it.
const END_SLACK: Duration = Duration::from_secs(PERIOD_SECS);
/// The averaging window when none is configured.
pub const DEFAULT_WINDOW_SECS: u64 = 300;
/// The longest window accepted (GetMetricData keeps 1-minute data for 15 days, but a rate over
/// more than a day says little about now).
pub const MAX_WINDOW_SECS: u64 = 86_400;

/// The configured window, checked: at least one period, at most a day.
pub fn window(configured: Option<u64>, provider: &str) -> Result<Duration, ProbeError> {
    let secs = configured.unwrap_or(DEFAULT_WINDOW_SECS);
    if (PERIOD_SECS..=MAX_WINDOW_SECS).contains(&secs) {
        Ok(Duration::from_secs(secs))
    } else {
        Err(ProbeError::Config(format!(
            "{provider} `metric_window_secs` is {secs}; it must be between {PERIOD_SECS} and \
             {MAX_WINDOW_SECS}"
        )))
    }
}

/// One statistic of one metric with a single dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricSpec {
    /// Query id, unique within a call (lower-case letter first).
    pub id: std::borrow::Cow<'static, str>,
    /// `AWS/SQS`, `AWS/SNS`, `AWS/Kinesis`, ...
    pub namespace: &'static str,
    /// The metric's name.
    pub name: &'static str,
    /// The dimensions, name and value (`QueueName`, `TopicName`, `StreamName`; Amazon MQ's
    /// `Broker` and `Queue`).
    pub dimensions: Vec<(&'static str, String)>,
    /// `Sum`, `Maximum`, ...
    pub stat: &'static str,
}

/// One queue's one-minute CloudWatch history as `calibrate --since` reads it: messages sent,
/// messages completed and the average in flight (the last two empty where the service
/// publishes no such figures, as Kinesis).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueSeries {
    /// The queue as a person names it (`SQS queue jobs`).
    pub queue: String,
    /// The namespace, dimensions and metrics read, for `calibration.json`.
    pub source: String,
    /// The metric the arrivals come from (`NumberOfMessagesSent`).
    pub arrivals_metric: &'static str,
    /// Messages sent per minute: (epoch seconds, count).
    pub sent: Vec<(i64, f64)>,
    /// Messages completed per minute.
    pub deleted: Vec<(i64, f64)>,
    /// Messages in flight, averaged over each minute.
    pub in_flight: Vec<(i64, f64)>,
    /// What the reader found wrong with the series (minutes some part did not report).
    pub warnings: Vec<String>,
}

/// `a` and `b` added minute by minute (a minute in only one of them counts as it is).
#[must_use]
pub fn add_series(a: &[(i64, f64)], b: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let mut sum: BTreeMap<i64, f64> = a.iter().copied().collect();
    for &(t, v) in b {
        *sum.entry(t).or_insert(0.0) += v;
    }
    sum.into_iter().collect()
}

/// The datapoints of one metric over the window, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// `(timestamp in epoch seconds, value)`.
    pub points: Vec<(i64, f64)>,
}

impl Series {
    /// Sum of all values (0 when there are none).
    #[must_use]
    pub fn sum(&self) -> f64 {
        self.points.iter().map(|(_, v)| v).sum()
    }

    /// The newest value.
    #[must_use]
    pub fn latest(&self) -> Option<f64> {
        self.points.last().map(|(_, v)| *v)
    }

    /// Whether no datapoint fell in the window.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The sum as a rate: `sum / window` per second.
    #[must_use]
    pub fn rate_per_s(&self, window: Duration) -> f64 {
        self.sum() / window.as_secs_f64()
    }
}

/// A CloudWatch client built from the shared SDK configuration.
#[derive(Debug, Clone)]
pub struct CloudWatch {
    client: Client,
}

impl CloudWatch {
    /// A client with the shared endpoint, credentials, timeouts and retries.
    #[must_use]
    pub fn new(sdk: &SdkConfig) -> Self {
        Self {
            client: Client::new(sdk),
        }
    }

    /// A client like [`CloudWatch::new`] but in `region` (a topic's or stream's own region).
    #[must_use]
    pub fn in_region(sdk: &SdkConfig, region: &str) -> Self {
        let config = aws_sdk_cloudwatch::config::Builder::from(sdk)
            .region(aws_sdk_cloudwatch::config::Region::new(region.to_string()))
            .build();
        Self {
            client: Client::from_conf(config),
        }
    }

    /// Reads every metric over `[now - window, now + 1 min)` at one-minute periods, in one
    /// GetMetricData call (paged). An error is a short, secret-free sentence.
    pub async fn read(
        &self,
        metrics: &[MetricSpec],
        window: Duration,
    ) -> Result<BTreeMap<String, Series>, String> {
        let queries: Vec<MetricDataQuery> = metrics.iter().map(query).collect();
        let mut found = self.run(queries, window, END_SLACK).await?;
        Ok(metrics
            .iter()
            .map(|m| {
                let series = found.remove(m.id.as_ref()).unwrap_or_default();
                (m.id.to_string(), series)
            })
            .collect())
    }

    /// Runs any GetMetricData queries over `[now - window, now + slack)`, paged; the series
    /// of every query that returns data, by id, oldest point first. A query CloudWatch
    /// reports as forbidden or failed is an error; an error is a short, secret-free sentence.
    pub async fn run(
        &self,
        queries: Vec<MetricDataQuery>,
        window: Duration,
        slack: Duration,
    ) -> Result<BTreeMap<String, Series>, String> {
        let now = SystemTime::now();
        let start = DateTime::from(now - window);
        let end = DateTime::from(now + slack);
        let mut out: BTreeMap<String, Series> = queries
            .iter()
            .filter(|q| q.return_data() != Some(false))
            .filter_map(|q| q.id().map(|id| (id.to_string(), Series::default())))
            .collect();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(start)
                .end_time(end)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| format!("CloudWatch GetMetricData: {}", detail(&e)))?;
            for result in page.metric_data_results() {
                if let Some(code @ (StatusCode::Forbidden | StatusCode::InternalError)) =
                    result.status_code()
                {
                    let detail: Vec<&str> =
                        result.messages().iter().filter_map(|m| m.value()).collect();
                    return Err(format!(
                        "CloudWatch GetMetricData {}: {} {}",
                        result.id().unwrap_or("?"),
                        code.as_str(),
                        detail.join("; ")
                    ));
                }
                let Some(series) = result.id().and_then(|id| out.get_mut(id)) else {
                    continue;
                };
                series.points.extend(
                    result
                        .timestamps()
                        .iter()
                        .map(DateTime::secs)
                        .zip(result.values().iter().copied()),
                );
            }
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => break,
            }
        }
        for series in out.values_mut() {
            series.points.sort_by_key(|(t, _)| *t);
        }
        Ok(out)
    }
}

fn query(spec: &MetricSpec) -> MetricDataQuery {
    MetricDataQuery::builder()
        .id(spec.id.as_ref())
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace(spec.namespace)
                        .metric_name(spec.name)
                        .set_dimensions(Some(
                            spec.dimensions
                                .iter()
                                .map(|(name, value)| {
                                    Dimension::builder().name(*name).value(value).build()
                                })
                                .collect(),
                        ))
                        .build(),
                )
                .period(PERIOD_SECS as i32)
                .stat(spec.stat)
                .build(),
        )
        .return_data(true)
        .build()
}

/// Error codes that mean the credentials or their permissions were refused.
const AUTH_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
    "AuthFailure",
    "ExpiredToken",
    "ExpiredTokenException",
    "IncompleteSignature",
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "InvalidSecurity",
    "MissingAuthenticationToken",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
];

/// An AWS SDK error as a [`ProbeError`] about `target` (what was being read, no secrets):
/// unreachable endpoints are `Connect`, timeouts `Timeout`, refused credentials `Auth`, and
/// anything else `Other` with the service's code and message. Missing resources are the
/// caller's to recognise first.
pub fn probe_error<E>(err: &SdkError<E, HttpResponse>, target: &str) -> ProbeError
where
    E: aws_sdk_cloudwatch::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = detail(err);
    match err {
        SdkError::DispatchFailure(_) => ProbeError::Connect {
            target: target.to_string(),
            detail,
        },
        SdkError::TimeoutError(_) => ProbeError::Timeout {
            target: target.to_string(),
            secs: OPERATION_TIMEOUT.as_secs(),
        },
        SdkError::ServiceError(e) if e.err().code().is_some_and(|c| AUTH_CODES.contains(&c)) => {
            ProbeError::Auth {
                target: target.to_string(),
                detail,
            }
        }
        _ => ProbeError::Other {
            target: target.to_string(),
            detail,
        },
    }
}

/// [`describe`], with the HTTP status when the service sent no error code (a proxy's or an
/// emulator's bare 403, 404 or 500 otherwise reads only "unhandled error").
fn detail<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: aws_sdk_cloudwatch::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let text = describe(err);
    match err {
        SdkError::ServiceError(e) if e.err().code().is_none() => {
            format!("{text} (HTTP {})", e.raw().status().as_u16())
        }
        _ => text,
    }
}

/// The error code of a service error, if the service sent one.
pub fn error_code<E, R>(err: &SdkError<E, R>) -> Option<&str>
where
    E: aws_sdk_cloudwatch::error::ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(e) => e.err().code(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{window, Series};

    #[test]
    fn series_sums_rates_and_latest() {
        let s = Series {
            points: vec![(60, 120.0), (120, 480.0)],
        };
        assert!((s.sum() - 600.0).abs() < f64::EPSILON);
        assert!((s.rate_per_s(Duration::from_secs(300)) - 2.0).abs() < f64::EPSILON);
        assert_eq!(s.latest(), Some(480.0));
        assert_eq!(Series::default().latest(), None);
        assert!(Series::default().rate_per_s(Duration::from_secs(60)).abs() < f64::EPSILON);
    }

    #[test]
    fn window_defaults_and_bounds() {
        assert_eq!(window(None, "sqs").unwrap(), Duration::from_secs(300));
        assert_eq!(window(Some(60), "sqs").unwrap(), Duration::from_secs(60));
        for bad in [0, 59, 86_401] {
            let err = window(Some(bad), "sqs").unwrap_err().to_string();
            assert!(err.contains("metric_window_secs"), "{err}");
        }
    }
}
