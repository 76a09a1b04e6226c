//! `RedisProbe`: reads a list, a stream's consumer group or a delayed sorted set.

use stepscale_engine::config::queue::RedisQueue;
use stepscale_engine::QueueSample;
use tracing::debug;

use super::connect::Redis;
use super::stream;
use crate::{Probe, ProbeError};

/// What the queue key holds and how it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `LLEN` is the backlog.
    List,
    /// A consumer group's lag and pending count.
    Stream,
    /// Scores are due times in Unix seconds: due members are visible, later ones delayed.
    Zset,
}

impl Kind {
    /// The name `TYPE` answers for this kind.
    fn type_name(self) -> &'static str {
        match self {
            Self::List => "list",
            Self::Stream => "stream",
            Self::Zset => "zset",
        }
    }
}

/// Reads one Redis queue key.
pub struct RedisProbe {
    /// Boxed to keep `AnyProbe`'s variants small.
    redis: Box<Redis>,
    key: String,
    kind: Kind,
    group: Option<String>,
    processing_key: Option<String>,
    missing_key_is_empty: bool,
}

impl RedisProbe {
    /// A probe for `config`; checks the settings but dials nothing yet.
    pub fn new(config: RedisQueue) -> Result<Self, ProbeError> {
        let redis = Box::new(Redis::new(&config)?);
        let key = config.queue_key.trim().to_string();
        if key.is_empty() {
            return Err(ProbeError::Config(
                "redis needs `queue_key` (REDIS_QUEUE_KEY)".into(),
            ));
        }
        let kind = match config.queue_type.trim().to_ascii_lowercase().as_str() {
            "list" => Kind::List,
            "stream" => Kind::Stream,
            "zset" => Kind::Zset,
            other => {
                return Err(ProbeError::Config(format!(
                    "redis `queue_type` is {other:?}; expected list, stream or zset"
                )))
            }
        };
        let trimmed = |value: Option<String>| {
            value
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let group = trimmed(config.consumer_group);
        let processing_key = trimmed(config.processing_key);
        if kind == Kind::Stream && processing_key.is_some() {
            return Err(ProbeError::Config(
                "a redis stream counts in-flight entries from its consumer group; remove \
                 `processing_key`"
                    .into(),
            ));
        }
        Ok(Self {
            redis,
            key,
            kind,
            group,
            processing_key,
            missing_key_is_empty: config.missing_key_is_empty,
        })
    }

    async fn key_type(&self, key: &str) -> Result<String, ProbeError> {
        self.redis.query(redis::cmd("TYPE").arg(key)).await
    }

    /// Whether the queue key exists with the right type; a missing key is an error unless
    /// `missing_key_is_empty`, when it reads as `false`.
    async fn check_queue_key(&self) -> Result<bool, ProbeError> {
        let expected = self.kind.type_name();
        match self.key_type(&self.key).await?.as_str() {
            "none" if self.missing_key_is_empty => Ok(false),
            "none" => Err(ProbeError::NotFound {
                what: "key",
                name: self.key.clone(),
            }),
            actual if actual == expected => Ok(true),
            actual => Err(ProbeError::WrongType {
                key: self.key.clone(),
                actual: actual.to_string(),
                expected,
            }),
        }
    }

    /// Items in the processing key, whatever collection it is; missing counts 0, since Redis
    /// deletes an emptied collection and an idle worker pool holds nothing.
    async fn in_flight(&self) -> Result<u64, ProbeError> {
        let Some(key) = &self.processing_key else {
            return Ok(0);
        };
        let counter = match self.key_type(key).await?.as_str() {
            "none" => return Ok(0),
            "list" => "LLEN",
            "set" => "SCARD",
            "zset" => "ZCARD",
            "hash" => "HLEN",
            actual => {
                return Err(ProbeError::WrongType {
                    key: key.clone(),
                    actual: actual.to_string(),
                    expected: "list, set, zset or hash",
                })
            }
        };
        self.redis.query(redis::cmd(counter).arg(key)).await
    }

    async fn read_list(&self) -> Result<QueueSample, ProbeError> {
        let visible = if self.check_queue_key().await? {
            self.redis.query(redis::cmd("LLEN").arg(&self.key)).await?
        } else {
            0
        };
        Ok(QueueSample {
            visible,
            in_flight: self.in_flight().await?,
            ..QueueSample::default()
        })
    }

    async fn read_zset(&self) -> Result<QueueSample, ProbeError> {
        let (visible, delayed) = if self.check_queue_key().await? {
            // The server's clock, not ours: producers and the probe then agree on "now"
            // however far the probe's host drifts.
            let (secs, micros): (u64, u64) = self.redis.query(&redis::cmd("TIME")).await?;
            let now = format!("{secs}.{micros:06}");
            let due: u64 = self
                .redis
                .query(redis::cmd("ZCOUNT").arg(&self.key).arg("-inf").arg(&now))
                .await?;
            let later: u64 = self
                .redis
                .query(
                    redis::cmd("ZCOUNT")
                        .arg(&self.key)
                        .arg(format!("({now}"))
                        .arg("+inf"),
                )
                .await?;
            (due, later)
        } else {
            (0, 0)
        };
        Ok(QueueSample {
            visible,
            delayed,
            in_flight: self.in_flight().await?,
            ..QueueSample::default()
        })
    }

    async fn read_stream(&self) -> Result<QueueSample, ProbeError> {
        if self.check_queue_key().await? {
            stream::read_group(&self.redis, &self.key, self.group.as_deref()).await
        } else {
            Ok(QueueSample::default())
        }
    }
}

impl Probe for RedisProbe {
    async fn read(&self) -> Result<QueueSample, ProbeError> {
        let sample = match self.kind {
            Kind::List => self.read_list().await?,
            Kind::Stream => self.read_stream().await?,
            Kind::Zset => self.read_zset().await?,
        };
        debug!(
            target = %self.redis.target(),
            key = %self.key,
            kind = self.kind.type_name(),
            visible = sample.visible,
            in_flight = sample.in_flight,
            delayed = sample.delayed,
            "Read queue."
        );
        Ok(sample)
    }
}
