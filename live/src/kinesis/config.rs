//! The Kinesis probe's settings, checked once: stream, lag source, position, rate, shard cap.

use std::time::Duration;

use aws_sdk_kinesis::types::ShardIteratorType;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use stepscale_engine::config::queue::KinesisQueue;

use crate::cloudwatch;
use crate::ProbeError;

/// Where the consumer is taken to be, for GetShardIterator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Position {
    /// The oldest retained record: everything retained counts as behind.
    TrimHorizon,
    /// The tip: nothing is behind (only the rate and the shard cap say anything).
    Latest,
    /// A fixed checkpoint.
    AtTimestamp(DateTime),
}

impl Position {
    pub(super) fn iterator_type(self) -> ShardIteratorType {
        match self {
            Self::TrimHorizon => ShardIteratorType::TrimHorizon,
            Self::Latest => ShardIteratorType::Latest,
            Self::AtTimestamp(_) => ShardIteratorType::AtTimestamp,
        }
    }

    pub(super) fn timestamp(self) -> Option<DateTime> {
        match self {
            Self::AtTimestamp(at) => Some(at),
            _ => None,
        }
    }
}

/// Where the lag comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum LagSource {
    /// GetRecords' `MillisBehindLatest` per open shard, at a position.
    ShardIterator(Position),
    /// CloudWatch `GetRecords.IteratorAgeMilliseconds` (Maximum over the stream).
    IteratorAge,
}

/// Checked settings.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Settings {
    pub stream: String,
    pub lag: LagSource,
    /// Records per second per shard when CloudWatch cannot say.
    pub fallback_rate_per_shard: Option<f64>,
    pub window: Duration,
    pub tasks_per_shard: u32,
}

impl Settings {
    pub(super) fn parse(config: KinesisQueue) -> Result<Self, ProbeError> {
        let stream = config
            .stream_name
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ProbeError::Config("kinesis needs `stream_name` (KINESIS_STREAM_NAME)".into())
            })?;
        let iterator = lower(config.iterator_type.as_deref());
        let at = config
            .at_timestamp
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let position = match (iterator.as_deref(), at) {
            (None | Some("trim_horizon"), None) => Position::TrimHorizon,
            (Some("latest"), None) => Position::Latest,
            (Some("at_timestamp"), Some(at)) => Position::AtTimestamp(
                DateTime::from_str(at, Format::DateTimeWithOffset).map_err(|e| {
                    ProbeError::Config(format!(
                        "kinesis `at_timestamp` is {at:?}: {e}; expected RFC 3339, e.g. \
                         2026-11-28T08:00:00Z"
                    ))
                })?,
            ),
            (Some("at_timestamp"), None) => {
                return Err(ProbeError::Config(
                    "kinesis `iterator_type = \"AT_TIMESTAMP\"` needs `at_timestamp`".into(),
                ))
            }
            (None | Some("trim_horizon" | "latest"), Some(_)) => {
                return Err(ProbeError::Config(
                    "kinesis `at_timestamp` is only read with `iterator_type = \"AT_TIMESTAMP\"`"
                        .into(),
                ))
            }
            (Some(other), _) => {
                return Err(ProbeError::Config(format!(
                    "kinesis `iterator_type` is {other:?}; expected TRIM_HORIZON, LATEST or \
                     AT_TIMESTAMP"
                )))
            }
        };
        let lag = match lower(config.lag_source.as_deref()).as_deref() {
            None | Some("shard_iterator") => LagSource::ShardIterator(position),
            Some("iterator_age") => {
                if config.iterator_type.is_some() || at.is_some() {
                    return Err(ProbeError::Config(
                        "kinesis `iterator_type` and `at_timestamp` are only read with \
                         `lag_source = \"shard_iterator\"`"
                            .into(),
                    ));
                }
                LagSource::IteratorAge
            }
            Some(other) => {
                return Err(ProbeError::Config(format!(
                    "kinesis `lag_source` is {other:?}; expected `shard_iterator` or \
                     `iterator_age`"
                )))
            }
        };
        if let Some(rate) = config.records_per_second_per_shard {
            if !rate.is_finite() || rate < 0.0 {
                return Err(ProbeError::Config(format!(
                    "kinesis `records_per_second_per_shard` is {rate}; it must be 0 or more"
                )));
            }
        }
        let tasks_per_shard = config.tasks_per_shard.unwrap_or(1);
        if tasks_per_shard == 0 {
            return Err(ProbeError::Config(
                "kinesis `tasks_per_shard` is 0; it must be 1 or more".into(),
            ));
        }
        Ok(Self {
            stream,
            lag,
            fallback_rate_per_shard: config.records_per_second_per_shard,
            window: cloudwatch::window(config.metric_window_secs, "kinesis")?,
            tasks_per_shard,
        })
    }
}

/// A setting's value, trimmed and lower-cased, when given.
fn lower(value: Option<&str>) -> Option<String> {
    value
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use stepscale_engine::config::queue::KinesisQueue;

    use super::{LagSource, Position, Settings};

    fn stream() -> KinesisQueue {
        KinesisQueue {
            stream_name: Some("events".into()),
            ..KinesisQueue::default()
        }
    }

    #[test]
    fn defaults_are_trim_horizon_one_task_per_shard_and_five_minutes() {
        let s = Settings::parse(stream()).unwrap();
        assert_eq!(s.lag, LagSource::ShardIterator(Position::TrimHorizon));
        assert_eq!(s.tasks_per_shard, 1);
        assert_eq!(s.window.as_secs(), 300);
        assert_eq!(s.fallback_rate_per_shard, None);
    }

    #[test]
    fn positions_and_sources_parse_in_any_case() {
        let latest = Settings::parse(KinesisQueue {
            iterator_type: Some("latest".into()),
            ..stream()
        })
        .unwrap();
        assert_eq!(latest.lag, LagSource::ShardIterator(Position::Latest));
        let at = Settings::parse(KinesisQueue {
            iterator_type: Some("AT_TIMESTAMP".into()),
            at_timestamp: Some("2026-11-28T08:00:00Z".into()),
            ..stream()
        })
        .unwrap();
        let LagSource::ShardIterator(Position::AtTimestamp(t)) = at.lag else {
            panic!("{:?}", at.lag)
        };
        assert_eq!(t.secs(), 1_795_852_800);
        let age = Settings::parse(KinesisQueue {
            lag_source: Some("Iterator_Age".into()),
            ..stream()
        })
        .unwrap();
        assert_eq!(age.lag, LagSource::IteratorAge);
    }

    #[test]
    fn bad_settings_name_the_key() {
        for (config, key) in [
            (KinesisQueue::default(), "stream_name"),
            (
                KinesisQueue {
                    iterator_type: Some("AT_SEQUENCE_NUMBER".into()),
                    ..stream()
                },
                "iterator_type",
            ),
            (
                KinesisQueue {
                    iterator_type: Some("AT_TIMESTAMP".into()),
                    ..stream()
                },
                "at_timestamp",
            ),
            (
                KinesisQueue {
                    iterator_type: Some("AT_TIMESTAMP".into()),
                    at_timestamp: Some("yesterday".into()),
                    ..stream()
                },
                "at_timestamp",
            ),
            (
                KinesisQueue {
                    at_timestamp: Some("2026-11-28T08:00:00Z".into()),
                    ..stream()
                },
                "at_timestamp",
            ),
            (
                KinesisQueue {
                    lag_source: Some("iterator_age".into()),
                    iterator_type: Some("LATEST".into()),
                    ..stream()
                },
                "iterator_type",
            ),
            (
                KinesisQueue {
                    lag_source: Some("cloudwatch".into()),
                    ..stream()
                },
                "lag_source",
            ),
            (
                KinesisQueue {
                    records_per_second_per_shard: Some(-1.0),
                    ..stream()
                },
                "records_per_second_per_shard",
            ),
            (
                KinesisQueue {
                    tasks_per_shard: Some(0),
                    ..stream()
                },
                "tasks_per_shard",
            ),
            (
                KinesisQueue {
                    metric_window_secs: Some(10),
                    ..stream()
                },
                "metric_window_secs",
            ),
        ] {
            let err = Settings::parse(config).unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
    }
}
