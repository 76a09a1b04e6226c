//! The CloudWatch fallback: `AWS/AmazonMQ` `QueueSize` and `InFlightCount` per `Broker` and `Queue`.

use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricStat, ScanBy, StatusCode,
};
use aws_smithy_types::DateTime;

use super::broker::sdk_error;
use crate::ProbeError;

/// How far back a datapoint still counts (Amazon MQ publishes every minute).
pub(super) const LOOKBACK: Duration = Duration::from_secs(600);
/// The metrics' period.
const PERIOD_SECS: i32 = 60;

/// The newest CloudWatch figures of one queue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Figures {
    /// `QueueSize` (includes in-flight messages, as Jolokia's does).
    pub(super) queue_size: u64,
    /// `InFlightCount` at the same minute, when CloudWatch has it.
    pub(super) in_flight: Option<u64>,
    /// The datapoint's age when read.
    pub(super) age: Duration,
}

/// One metric series, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
struct Series {
    /// Seconds since the epoch.
    times: Vec<i64>,
    values: Vec<f64>,
}

/// Reads `queue`'s newest `QueueSize` (and `InFlightCount`) under any of `brokers`
/// (dimension values); the freshest broker wins, so an active/standby pair reads the active.
pub(super) async fn read(
    client: &aws_sdk_cloudwatch::Client,
    brokers: &[String],
    queue: &str,
) -> Result<Figures, ProbeError> {
    let target = format!("CloudWatch AWS/AmazonMQ QueueSize (queue {queue})");
    let now = SystemTime::now();
    let mut request = client
        .get_metric_data()
        .start_time(DateTime::from(now - LOOKBACK))
        // A minute ahead: a datapoint stamped by a clock slightly ahead still counts.
        .end_time(DateTime::from(now + Duration::from_secs(60)))
        .scan_by(ScanBy::TimestampDescending);
    for (i, broker) in brokers.iter().enumerate() {
        for (prefix, metric) in [("size", "QueueSize"), ("inflight", "InFlightCount")] {
            request =
                request.metric_data_queries(query(&format!("{prefix}{i}"), metric, broker, queue));
        }
    }
    let output = request
        .send()
        .await
        .map_err(|e| sdk_error(&target, &e, None))?;
    let mut size = vec![Series::default(); brokers.len()];
    let mut in_flight = vec![Series::default(); brokers.len()];
    for result in output.metric_data_results() {
        let id = result.id().unwrap_or_default();
        if let Some(code @ (StatusCode::Forbidden | StatusCode::InternalError)) =
            result.status_code()
        {
            let messages: Vec<&str> = result.messages().iter().filter_map(|m| m.value()).collect();
            let detail = format!("query {id}: {} {}", code.as_str(), messages.join("; "));
            return Err(if *code == StatusCode::Forbidden {
                ProbeError::Auth { target, detail }
            } else {
                ProbeError::Other { target, detail }
            });
        }
        let (series, index) = if let Some(i) = id.strip_prefix("size") {
            (&mut size, i)
        } else if let Some(i) = id.strip_prefix("inflight") {
            (&mut in_flight, i)
        } else {
            continue;
        };
        let Some(slot) = index.parse::<usize>().ok().and_then(|i| series.get_mut(i)) else {
            continue;
        };
        slot.times = result.timestamps().iter().map(DateTime::secs).collect();
        slot.values = result.values().to_vec();
    }
    let now_secs = DateTime::from(now).secs();
    newest(&size, &in_flight, now_secs).ok_or_else(|| ProbeError::Other {
        target,
        detail: format!(
            "no datapoint in the last {} min for Broker {} (CloudWatch tracks an ActiveMQ \
             broker's first 1000 destinations only)",
            LOOKBACK.as_secs() / 60,
            brokers.join(" or ")
        ),
    })
}

fn query(id: &str, metric: &str, broker: &str, queue: &str) -> MetricDataQuery {
    let dimension = |name: &str, value: &str| Dimension::builder().name(name).value(value).build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace("AWS/AmazonMQ")
                        .metric_name(metric)
                        .dimensions(dimension("Broker", broker))
                        .dimensions(dimension("Queue", queue))
                        .build(),
                )
                .period(PERIOD_SECS)
                // The largest sample of the minute: a fallback must not under-read a backlog.
                .stat("Maximum")
                .build(),
        )
        .return_data(true)
        .build()
}

/// The newest `QueueSize` over the brokers, with the same broker's `InFlightCount` at that
/// minute. Ties between brokers take the larger size.
fn newest(size: &[Series], in_flight: &[Series], now_secs: i64) -> Option<Figures> {
    let mut best: Option<(usize, i64, f64)> = None;
    for (i, series) in size.iter().enumerate() {
        let Some((time, value)) = latest(series) else {
            continue;
        };
        let better = best.is_none_or(|(_, t, v)| time > t || (time == t && value > v));
        if better {
            best = Some((i, time, value));
        }
    }
    let (broker, time, value) = best?;
    let in_flight = in_flight.get(broker).and_then(|s| {
        s.times
            .iter()
            .zip(&s.values)
            .find(|(t, _)| **t == time)
            .map(|(_, v)| to_count(*v))
    });
    Some(Figures {
        queue_size: to_count(value),
        in_flight,
        age: Duration::from_secs(u64::try_from(now_secs - time).unwrap_or(0)),
    })
}

/// The newest finite datapoint of a series (CloudWatch sorts as asked, but not trusted).
fn latest(series: &Series) -> Option<(i64, f64)> {
    series
        .times
        .iter()
        .zip(&series.values)
        .filter(|(_, v)| v.is_finite())
        .max_by_key(|(t, _)| **t)
        .map(|(t, v)| (*t, *v))
}

fn to_count(value: f64) -> u64 {
    value.max(0.0).round() as u64
}

#[cfg(test)]
mod tests {
    use super::{newest, Figures, Series};
    use std::time::Duration;

    fn series(points: &[(i64, f64)]) -> Series {
        Series {
            times: points.iter().map(|p| p.0).collect(),
            values: points.iter().map(|p| p.1).collect(),
        }
    }

    #[test]
    fn the_newest_datapoint_of_the_freshest_broker_wins() {
        let size = [
            series(&[(940, 12.0), (1000, 15.0)]),
            series(&[(880, 99.0)]),
            Series::default(),
        ];
        let in_flight = [
            series(&[(1000, 4.0), (940, 1.0)]),
            Series::default(),
            Series::default(),
        ];
        assert_eq!(
            newest(&size, &in_flight, 1030),
            Some(Figures {
                queue_size: 15,
                in_flight: Some(4),
                age: Duration::from_secs(30),
            })
        );
    }

    #[test]
    fn in_flight_must_share_the_minute_and_no_data_is_none() {
        let size = [series(&[(1000, 7.0)])];
        let in_flight = [series(&[(940, 3.0)])];
        let figures = newest(&size, &in_flight, 1000).unwrap();
        assert_eq!((figures.queue_size, figures.in_flight), (7, None));
        assert_eq!(
            newest(&[Series::default()], &[Series::default()], 1000),
            None
        );
        assert_eq!(newest(&[series(&[(1000, f64::NAN)])], &[], 1000), None);
    }

    #[test]
    fn equal_times_take_the_larger_size() {
        let size = [series(&[(1000, 3.0)]), series(&[(1000, 8.0)])];
        assert_eq!(newest(&size, &[], 1000).unwrap().queue_size, 8);
    }
}
