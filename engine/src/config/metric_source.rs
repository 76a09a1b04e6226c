//! Sources that are a metric rather than a queue: any CloudWatch metric or metric-math
//! expression (`type = "cloudwatch"`) and any PromQL query (`type = "prometheus"`), read as a
//! backlog or as a rate, and their checks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::secret::Secret;
use super::ConfigError;

/// What a metric's value stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricMeaning {
    /// Messages waiting: the newest datapoint is the visible count.
    #[default]
    Backlog,
    /// Work arriving: the datapoints' sum over the window, per second, is the arrival rate.
    Rate,
}

impl MetricMeaning {
    /// The sample a metric's value gives: `visible` (rounded) for a backlog,
    /// `arrival_rate_per_s` for a rate; a value that is negative or not finite is no count.
    pub fn sample(self, value: f64) -> Result<crate::QueueSample, String> {
        if !value.is_finite() || value < 0.0 {
            return Err(format!(
                "the value {value} is not a count: a backlog or a rate must be a finite number >= 0"
            ));
        }
        Ok(match self {
            Self::Backlog => crate::QueueSample {
                visible: value.round() as u64,
                ..crate::QueueSample::default()
            },
            Self::Rate => crate::QueueSample {
                arrival_rate_per_s: Some(value),
                ..crate::QueueSample::default()
            },
        })
    }
}

/// One metric of a CloudWatch query: a namespace, a name, its dimensions and a statistic.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricStatSpec {
    /// The query id an `expression` refers to (a lower-case letter first, then letters,
    /// digits and `_`).
    pub id: String,
    /// The namespace (`AWS/ApplicationELB`, `MyApp`).
    pub namespace: String,
    /// The metric's name.
    pub metric_name: String,
    /// Its dimensions, name to value (at most 30).
    pub dimensions: BTreeMap<String, String>,
    /// The statistic (`Average`, `Sum`, `Maximum`, `p99`...); default `Average`.
    pub stat: Option<String>,
}

/// Any CloudWatch metric, or a metric-math expression over several, as a source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloudWatchMetric {
    /// The metric's namespace (with `metric_name`; not with `expression`).
    pub namespace: Option<String>,
    /// The metric's name.
    pub metric_name: Option<String>,
    /// Its dimensions, name to value.
    pub dimensions: BTreeMap<String, String>,
    /// The statistic (default `Average`).
    pub stat: Option<String>,
    /// A metric-math expression over `metrics` (instead of `namespace` and `metric_name`).
    pub expression: Option<String>,
    /// The metrics the expression refers to by `id`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricStatSpec>,
    /// Whether the value is a backlog (default) or an arrival rate.
    pub value: MetricMeaning,
    /// The datapoints' period in seconds: 60 or a multiple of it, or 1, 5, 10 or 30 for a
    /// high-resolution metric (default 60).
    pub period_secs: u64,
    /// Seconds of data read (default 300, at least one period, at most a day).
    pub metric_window_secs: Option<u64>,
    /// The metric's region, when it is not the SDK's.
    pub region: Option<String>,
    /// Weight in a `weighted` composite.
    pub weight: Option<f64>,
}

impl Default for CloudWatchMetric {
    fn default() -> Self {
        Self {
            namespace: None,
            metric_name: None,
            dimensions: BTreeMap::new(),
            stat: None,
            expression: None,
            metrics: Vec::new(),
            value: MetricMeaning::Backlog,
            period_secs: 60,
            metric_window_secs: None,
            region: None,
            weight: None,
        }
    }
}

/// CloudWatch's limit on a metric's dimensions.
const MAX_DIMENSIONS: usize = 30;
/// The longest window accepted.
const MAX_WINDOW_SECS: u64 = 86_400;

impl CloudWatchMetric {
    /// The statistic asked for.
    #[must_use]
    pub fn stat(&self) -> &str {
        self.stat.as_deref().unwrap_or("Average")
    }

    /// The window in seconds.
    #[must_use]
    pub fn window_secs(&self) -> u64 {
        self.metric_window_secs.unwrap_or(300)
    }

    /// Checks the source; `key` is its place in the file (`queues[0]`).
    pub fn check(&self, key: &str) -> Result<(), ConfigError> {
        let single = self.namespace.is_some() || self.metric_name.is_some();
        match (&self.expression, single) {
            (Some(_), true) => {
                return Err(ConfigError::invalid(
                    format!("{key}.expression"),
                    self.expression.as_deref().unwrap_or_default(),
                    "give either `expression` (with `metrics`) or `namespace` and `metric_name`, not both",
                ))
            }
            (None, false) => {
                return Err(ConfigError::invalid(
                    format!("{key}.metric_name"),
                    "(none)",
                    "a cloudwatch source needs `namespace` and `metric_name`, or an `expression` over `metrics`",
                ))
            }
            (Some(e), false) => {
                if e.trim().is_empty() {
                    return Err(ConfigError::invalid(
                        format!("{key}.expression"),
                        e,
                        "the expression must not be empty",
                    ));
                }
                // SEARCH() and a Metrics Insights query (SELECT ...) name their own metrics.
                let self_contained = e.contains("SEARCH(")
                    || e.trim_start()
                        .get(..6)
                        .is_some_and(|w| w.eq_ignore_ascii_case("SELECT"));
                if self.metrics.is_empty() && !self_contained {
                    return Err(ConfigError::invalid(
                        format!("{key}.metrics"),
                        "[]",
                        "an expression without SEARCH() or SELECT needs the metrics it refers to, each with an `id`",
                    ));
                }
                let mut seen = std::collections::BTreeSet::new();
                for (i, m) in self.metrics.iter().enumerate() {
                    let at = format!("{key}.metrics[{i}]");
                    check_id(&format!("{at}.id"), &m.id)?;
                    if !seen.insert(m.id.as_str()) {
                        return Err(ConfigError::invalid(
                            format!("{at}.id"),
                            &m.id,
                            "ids must be unique within the source",
                        ));
                    }
                    check_metric(&at, &m.namespace, &m.metric_name, &m.dimensions)?;
                    check_stat(&format!("{at}.stat"), m.stat.as_deref().unwrap_or("Average"))?;
                }
            }
            (None, true) => {
                check_metric(
                    key,
                    self.namespace.as_deref().unwrap_or_default(),
                    self.metric_name.as_deref().unwrap_or_default(),
                    &self.dimensions,
                )?;
                if !self.metrics.is_empty() {
                    return Err(ConfigError::invalid(
                        format!("{key}.metrics"),
                        self.metrics.len(),
                        "`metrics` are for an `expression`; a single metric is `namespace` and `metric_name`",
                    ));
                }
            }
        }
        check_stat(&format!("{key}.stat"), self.stat())?;
        let p = self.period_secs;
        if !(matches!(p, 1 | 5 | 10 | 30) || (p >= 60 && p.is_multiple_of(60))) {
            return Err(ConfigError::invalid(
                format!("{key}.period_secs"),
                p,
                "CloudWatch periods are 1, 5, 10, 30 or a multiple of 60 seconds",
            ));
        }
        let w = self.window_secs();
        if w < p || w > MAX_WINDOW_SECS {
            return Err(ConfigError::invalid(
                format!("{key}.metric_window_secs"),
                w,
                format!("the window must hold at least one period ({p} s) and at most {MAX_WINDOW_SECS} s"),
            ));
        }
        if let Some(r) = &self.region {
            if r.trim().is_empty() || r.contains(char::is_whitespace) {
                return Err(ConfigError::invalid(
                    format!("{key}.region"),
                    r,
                    "a region is a name like eu-west-1",
                ));
            }
        }
        Ok(())
    }
}

/// The id of the query whose value the source reports; a user's metric may not take it.
pub const RESULT_ID: &str = "stepscale_value";

fn check_id(key: &str, id: &str) -> Result<(), ConfigError> {
    if id == RESULT_ID {
        return Err(ConfigError::invalid(
            key,
            id,
            format!("`{RESULT_ID}` is the id StepScale gives the value it reads; choose another"),
        ));
    }
    let mut chars = id.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            id,
            "an id starts with a lower-case letter, then letters, digits or `_`",
        ))
    }
}

fn check_metric(
    key: &str,
    namespace: &str,
    name: &str,
    dimensions: &BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    for (field, value) in [("namespace", namespace), ("metric_name", name)] {
        if value.trim().is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}.{field}"),
                value,
                "must not be empty",
            ));
        }
    }
    if dimensions.len() > MAX_DIMENSIONS {
        return Err(ConfigError::invalid(
            format!("{key}.dimensions"),
            dimensions.len(),
            format!("CloudWatch takes at most {MAX_DIMENSIONS} dimensions"),
        ));
    }
    if let Some((k, v)) = dimensions
        .iter()
        .find(|(k, v)| k.trim().is_empty() || v.trim().is_empty())
    {
        return Err(ConfigError::invalid(
            format!("{key}.dimensions.{k}"),
            v,
            "dimension names and values must not be empty",
        ));
    }
    Ok(())
}

fn check_stat(key: &str, stat: &str) -> Result<(), ConfigError> {
    const NAMED: [&str; 5] = ["Average", "Sum", "Minimum", "Maximum", "SampleCount"];
    // Percentiles and their kin, as CloudWatch writes them in either case: p99, p99.9, tm90,
    // TM(10%:90%), wm99, tc50, ts90, PR(:300), IQM.
    let extended = stat == "IQM"
        || ["p", "tm", "wm", "tc", "ts", "pr"].iter().any(|prefix| {
            let (head, rest) = (stat.get(..prefix.len()), stat.get(prefix.len()..));
            head.is_some_and(|h| h.eq_ignore_ascii_case(prefix))
                && rest.is_some_and(|rest| {
                    !rest.is_empty()
                        && rest
                            .chars()
                            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '(' | ')' | ':' | '%'))
                })
        });
    if NAMED.contains(&stat) || extended {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            stat,
            "a statistic is Average, Sum, Minimum, Maximum, SampleCount or a percentile such as p99",
        ))
    }
}

/// A PromQL instant query against a Prometheus-compatible HTTP API, as a source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrometheusQuery {
    /// The server's base URL (`http://prometheus:9090`; Thanos, Mimir, VictoriaMetrics and
    /// Amazon Managed Prometheus' query path alike), without credentials.
    pub url: Option<String>,
    /// The PromQL query; it must give one series or a scalar (aggregate it with `sum()`).
    pub query: Option<String>,
    /// Whether the value is a backlog (default) or an arrival rate in messages per second
    /// (`sum(rate(jobs_enqueued_total[2m]))`).
    pub value: MetricMeaning,
    /// Basic-auth user, when the server asks for one.
    pub username: Option<String>,
    /// Basic-auth password.
    pub password: Option<Secret>,
    /// Seconds a query may take (default 5).
    pub timeout_secs: u64,
    /// Weight in a `weighted` composite.
    pub weight: Option<f64>,
}

impl Default for PrometheusQuery {
    fn default() -> Self {
        Self {
            url: None,
            query: None,
            value: MetricMeaning::Backlog,
            username: None,
            password: None,
            timeout_secs: 5,
            weight: None,
        }
    }
}

impl PrometheusQuery {
    /// Checks the source; `key` is its place in the file (`queues[0]`). Whether the URL
    /// carries credentials is checked with every source's addresses.
    pub fn check(&self, key: &str) -> Result<(), ConfigError> {
        let url = self.url.as_deref().unwrap_or_default().trim();
        let host = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .unwrap_or_default();
        if host.is_empty() || host.starts_with('/') {
            return Err(ConfigError::invalid(
                format!("{key}.url"),
                if url.is_empty() { "(none)" } else { url },
                "a prometheus source needs `url`, the server's http:// or https:// base URL",
            ));
        }
        if self.query.as_deref().unwrap_or_default().trim().is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}.query"),
                "(none)",
                "a prometheus source needs `query`, a PromQL expression giving one series",
            ));
        }
        if !(1..=60).contains(&self.timeout_secs) {
            return Err(ConfigError::invalid(
                format!("{key}.timeout_secs"),
                self.timeout_secs,
                "the timeout must be between 1 and 60 seconds",
            ));
        }
        if self.password.is_some() && self.username.is_none() {
            return Err(ConfigError::invalid(
                format!("{key}.username"),
                "(none)",
                "a password needs its `username` (basic auth)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single() -> CloudWatchMetric {
        CloudWatchMetric {
            namespace: Some("MyApp".into()),
            metric_name: Some("PendingJobs".into()),
            dimensions: BTreeMap::from([("Service".into(), "orders".into())]),
            ..CloudWatchMetric::default()
        }
    }

    #[test]
    fn a_single_metric_and_an_expression_pass() {
        single().check("queues[0]").unwrap();
        let expr = CloudWatchMetric {
            expression: Some("m1 + m2".into()),
            metrics: vec![
                MetricStatSpec {
                    id: "m1".into(),
                    namespace: "A".into(),
                    metric_name: "X".into(),
                    ..MetricStatSpec::default()
                },
                MetricStatSpec {
                    id: "m2".into(),
                    namespace: "A".into(),
                    metric_name: "Y".into(),
                    stat: Some("p99".into()),
                    ..MetricStatSpec::default()
                },
            ],
            ..CloudWatchMetric::default()
        };
        expr.check("queues[0]").unwrap();
        // Expressions that name their own metrics, and statistics in AWS's own spellings.
        for expression in [
            "SUM(SEARCH('{Orders,Shard} PendingJobs', 'Maximum', 60))",
            "SELECT MAX(PendingJobs) FROM Orders",
        ] {
            CloudWatchMetric {
                expression: Some(expression.into()),
                ..CloudWatchMetric::default()
            }
            .check("queues[0]")
            .unwrap();
        }
        for stat in [
            "p99",
            "p99.9",
            "TM(10%:90%)",
            "tm90",
            "PR(:300)",
            "IQM",
            "wm99",
        ] {
            CloudWatchMetric {
                stat: Some(stat.into()),
                ..single()
            }
            .check("queues[0]")
            .unwrap_or_else(|e| panic!("{stat}: {e}"));
        }
    }

    #[test]
    fn each_mistake_names_its_key_and_rule() {
        let cases: Vec<(CloudWatchMetric, &str)> = vec![
            (CloudWatchMetric::default(), "queues[0].metric_name"),
            (
                CloudWatchMetric {
                    expression: Some("m1".into()),
                    ..single()
                },
                "queues[0].expression",
            ),
            (
                CloudWatchMetric {
                    expression: Some("m1 * 2".into()),
                    ..CloudWatchMetric::default()
                },
                "queues[0].metrics",
            ),
            (
                CloudWatchMetric {
                    stat: Some("Mean".into()),
                    ..single()
                },
                "queues[0].stat",
            ),
            (
                CloudWatchMetric {
                    period_secs: 45,
                    ..single()
                },
                "queues[0].period_secs",
            ),
            (
                CloudWatchMetric {
                    period_secs: 600,
                    metric_window_secs: Some(300),
                    ..single()
                },
                "queues[0].metric_window_secs",
            ),
            (
                CloudWatchMetric {
                    dimensions: BTreeMap::from([("Service".into(), " ".into())]),
                    ..single()
                },
                "queues[0].dimensions.Service",
            ),
            (
                CloudWatchMetric {
                    expression: Some("M1".into()),
                    metrics: vec![MetricStatSpec {
                        id: "M1".into(),
                        namespace: "A".into(),
                        metric_name: "X".into(),
                        ..MetricStatSpec::default()
                    }],
                    ..CloudWatchMetric::default()
                },
                "queues[0].metrics[0].id",
            ),
        ];
        for (source, key) in cases {
            let err = source.check("queues[0]").unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
    }
}
