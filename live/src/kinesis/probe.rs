//! `KinesisProbe`: open shards, each shard's lag, the incoming rate, and the estimate.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_kinesis::Client;
use stepscale_engine::config::queue::KinesisQueue;
use stepscale_engine::QueueSample;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use super::config::{LagSource, Position, Settings};
use super::records_behind;
use crate::cloudwatch::{error_code, probe_error, CloudWatch, MetricSpec};
use crate::{Probe, ProbeError};

/// What `NotFound` calls a missing stream.
const WHAT: &str = "Kinesis stream";
/// Shards read at once (GetShardIterator and GetRecords have per-shard quotas, ListShards a
/// per-stream one; this bounds the burst).
const SHARD_CONCURRENCY: usize = 8;

/// One open shard's lag.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShardLag {
    /// `MillisBehindLatest` at the configured position.
    pub millis_behind_latest: u64,
    /// [`records_behind`] of that lag at the per-shard rate.
    pub records_behind: u64,
}

/// A read with its working: what the sample was computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct KinesisReading {
    /// What the engine gets.
    pub sample: QueueSample,
    /// Open shards, by shard id (empty in `iterator_age` mode, which has no per-shard lag).
    pub shards: BTreeMap<String, ShardLag>,
    /// Open shards counted.
    pub open_shards: u32,
    /// Records per second per open shard used in the estimate.
    pub rate_per_shard: f64,
    /// Whether that rate is the configured fallback rather than CloudWatch's.
    pub rate_is_fallback: bool,
}

/// Reads one Kinesis stream's estimated backlog; see the module documentation.
#[derive(Debug)]
pub struct KinesisProbe {
    client: Client,
    cloudwatch: CloudWatch,
    settings: Settings,
}

impl KinesisProbe {
    /// A probe for `config`, sharing the SDK configuration; calls nothing yet.
    pub fn new(config: KinesisQueue, sdk: &SdkConfig) -> Result<Self, ProbeError> {
        Ok(Self {
            client: Client::new(sdk),
            cloudwatch: CloudWatch::new(sdk),
            settings: Settings::parse(config)?,
        })
    }

    fn missing(&self) -> ProbeError {
        ProbeError::NotFound {
            what: WHAT,
            name: self.settings.stream.clone(),
        }
    }

    /// The open shards' ids (no ending sequence number), sorted.
    async fn open_shards(&self) -> Result<Vec<String>, ProbeError> {
        let stream = &self.settings.stream;
        let mut open = Vec::new();
        let mut token: Option<String> = None;
        loop {
            // A page after the first names the stream only through its token.
            let request = match token.take() {
                Some(next) => self.client.list_shards().next_token(next),
                None => self.client.list_shards().stream_name(stream),
            };
            let page = request.send().await.map_err(|e| {
                if error_code(&e) == Some("ResourceNotFoundException") {
                    self.missing()
                } else {
                    probe_error(&e, &format!("Kinesis ListShards {stream}"))
                }
            })?;
            open.extend(
                page.shards()
                    .iter()
                    .filter(|s| {
                        s.sequence_number_range()
                            .is_none_or(|r| r.ending_sequence_number().is_none())
                    })
                    .map(|s| s.shard_id().to_string()),
            );
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => break,
            }
        }
        open.sort();
        Ok(open)
    }

    /// `MillisBehindLatest` of every shard at `position`, a few shards at a time.
    async fn lags(
        &self,
        shards: &[String],
        position: Position,
    ) -> Result<BTreeMap<String, u64>, ProbeError> {
        let permits = Arc::new(Semaphore::new(SHARD_CONCURRENCY));
        let mut tasks = JoinSet::new();
        for shard in shards {
            let (client, stream, shard) = (
                self.client.clone(),
                self.settings.stream.clone(),
                shard.clone(),
            );
            let permits = permits.clone();
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let lag = shard_lag(&client, &stream, &shard, position).await;
                (shard, lag)
            });
        }
        let mut lags = BTreeMap::new();
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            let (shard, lag) = joined.map_err(|e| ProbeError::Other {
                target: format!("Kinesis stream {}", self.settings.stream),
                detail: format!("a shard read stopped: {e}"),
            })?;
            match lag {
                Ok(millis) => {
                    lags.insert(shard, millis);
                }
                Err(ShardError::Missing) => first_error = Some(self.missing()),
                Err(ShardError::Probe(e)) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(lags),
        }
    }

    /// The stream's incoming records per second (CloudWatch, else the fallback) and, in
    /// `iterator_age` mode, the newest iterator age in ms.
    async fn rate_and_age(&self, open_shards: u32) -> Result<(f64, bool, Option<u64>), ProbeError> {
        let s = &self.settings;
        let mut specs = vec![MetricSpec {
            id: "incoming".into(),
            namespace: "AWS/Kinesis",
            name: "IncomingRecords",
            dimensions: vec![("StreamName", s.stream.clone())],
            stat: "Sum",
        }];
        let wants_age = s.lag == LagSource::IteratorAge;
        if wants_age {
            specs.push(MetricSpec {
                id: "age".into(),
                namespace: "AWS/Kinesis",
                name: "GetRecords.IteratorAgeMilliseconds",
                dimensions: vec![("StreamName", s.stream.clone())],
                stat: "Maximum",
            });
        }
        let fallback = s
            .fallback_rate_per_shard
            .map(|per_shard| per_shard * f64::from(open_shards));
        let target = format!("CloudWatch AWS/Kinesis {}", s.stream);
        match self.cloudwatch.read(&specs, s.window).await {
            Ok(series) => {
                let incoming = series.get("incoming").cloned().unwrap_or_default();
                let (rate, is_fallback) = match (incoming.is_empty(), fallback) {
                    (true, Some(rate)) => (rate, true),
                    _ => (incoming.rate_per_s(s.window), false),
                };
                if !wants_age {
                    return Ok((rate, is_fallback, None));
                }
                let age = series
                    .get("age")
                    .and_then(crate::cloudwatch::Series::latest)
                    .filter(|a| a.is_finite() && *a >= 0.0)
                    .ok_or_else(|| ProbeError::Other {
                        target: target.clone(),
                        detail: format!(
                            "no GetRecords.IteratorAgeMilliseconds datapoint in the last {} s: \
                             no consumer is reading the stream (keep min_tasks at 1 or more \
                             with lag_source = \"iterator_age\")",
                            s.window.as_secs()
                        ),
                    })?;
                Ok((rate, is_fallback, Some(age.round() as u64)))
            }
            Err(detail) => match fallback {
                Some(rate) if !wants_age => {
                    warn!(stream = %s.stream, error = %detail, rate, "CloudWatch unreadable; using records_per_second_per_shard.");
                    Ok((rate, true, None))
                }
                _ => Err(ProbeError::Other {
                    target,
                    detail: if wants_age {
                        detail
                    } else {
                        format!(
                            "{detail} (set `records_per_second_per_shard` to estimate without \
                             CloudWatch)"
                        )
                    },
                }),
            },
        }
    }

    /// Reads the stream, returning the sample and what it was computed from.
    pub async fn read_detailed(&self) -> Result<KinesisReading, ProbeError> {
        let s = &self.settings;
        let shards = self.open_shards().await?;
        let open_shards = u32::try_from(shards.len()).unwrap_or(u32::MAX);
        let lags = match s.lag {
            LagSource::ShardIterator(position) => Some(self.lags(&shards, position).await?),
            LagSource::IteratorAge => None,
        };
        let (stream_rate, rate_is_fallback, iterator_age) = self.rate_and_age(open_shards).await?;
        let rate_per_shard = if open_shards == 0 {
            0.0
        } else {
            stream_rate / f64::from(open_shards)
        };
        let mut detail = BTreeMap::new();
        let (visible, oldest_age_ms) = match (lags, iterator_age) {
            (Some(lags), _) => {
                for (shard, millis) in lags {
                    let lag = ShardLag {
                        millis_behind_latest: millis,
                        records_behind: records_behind(millis, rate_per_shard),
                    };
                    detail.insert(shard, lag);
                }
                let visible = detail
                    .values()
                    .fold(0_u64, |sum, l| sum.saturating_add(l.records_behind));
                (
                    visible,
                    detail.values().map(|l| l.millis_behind_latest).max(),
                )
            }
            // The oldest shard's age times the whole stream's rate: an upper bound when only
            // some shards lag.
            (None, Some(age)) => (records_behind(age, stream_rate), Some(age)),
            (None, None) => (0, None),
        };
        let sample = QueueSample {
            visible,
            in_flight: 0,
            delayed: 0,
            oldest_age_ms,
            arrival_rate_per_s: Some(stream_rate),
            max_useful_tasks: Some(open_shards.saturating_mul(s.tasks_per_shard)),
        };
        debug!(
            stream = %s.stream,
            open_shards,
            visible,
            oldest_age_ms,
            rate_per_shard,
            rate_is_fallback,
            max_useful_tasks = sample.max_useful_tasks,
            "Read Kinesis stream."
        );
        Ok(KinesisReading {
            sample,
            shards: detail,
            open_shards,
            rate_per_shard,
            rate_is_fallback,
        })
    }
}

impl Probe for KinesisProbe {
    async fn read(&self) -> Result<QueueSample, ProbeError> {
        Ok(self.read_detailed().await?.sample)
    }
}

/// Why one shard could not be read.
enum ShardError {
    /// The stream (or the shard) is gone.
    Missing,
    Probe(ProbeError),
}

/// GetShardIterator at `position`, then GetRecords (Limit 1): its `MillisBehindLatest`.
async fn shard_lag(
    client: &Client,
    stream: &str,
    shard: &str,
    position: Position,
) -> Result<u64, ShardError> {
    let target = || format!("Kinesis stream {stream} shard {shard}");
    let iterator = client
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard)
        .shard_iterator_type(position.iterator_type())
        .set_timestamp(position.timestamp())
        .send()
        .await
        .map_err(|e| {
            if error_code(&e) == Some("ResourceNotFoundException") {
                ShardError::Missing
            } else {
                ShardError::Probe(probe_error(&e, &format!("{} GetShardIterator", target())))
            }
        })?;
    let Some(iterator) = iterator.shard_iterator() else {
        return Err(ShardError::Probe(ProbeError::Other {
            target: target(),
            detail: "GetShardIterator returned no iterator (the shard is closed)".into(),
        }));
    };
    let records = client
        .get_records()
        .shard_iterator(iterator)
        .limit(1)
        .send()
        .await
        .map_err(|e| {
            if error_code(&e) == Some("ResourceNotFoundException") {
                ShardError::Missing
            } else {
                ShardError::Probe(probe_error(&e, &format!("{} GetRecords", target())))
            }
        })?;
    let millis = records.millis_behind_latest().ok_or_else(|| {
        ShardError::Probe(ProbeError::Other {
            target: target(),
            detail: "GetRecords returned no MillisBehindLatest".into(),
        })
    })?;
    Ok(u64::try_from(millis).unwrap_or(0))
}
