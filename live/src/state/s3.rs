//! S3 as state store: one JSON document per service, written with `If-Match` on the `ETag`
//! read (or `If-None-Match: *` for the first write), so of two overlapping invocations only
//! one can act. Falls back to fast-autoscaler v0.2's keys so migrating users keep cooldowns.

use aws_config::SdkConfig;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use stepscale_engine::{Millis, ScalerState};

use super::{safe_default, v02, Loaded, StateError, StateSource};

/// State of one service in S3.
#[derive(Debug, Clone)]
pub struct S3StateStore {
    objects: S3Objects,
    key: String,
    up_key: String,
    down_key: String,
}

/// One bucket's objects, read whole and written with a condition on the version read.
#[derive(Debug, Clone)]
pub struct S3Objects {
    client: Client,
    bucket: String,
}

/// What a GET found.
pub(crate) enum Got {
    Found { body: Vec<u8>, etag: Option<String> },
    Missing,
}

impl S3StateStore {
    /// The store for `service` in `cluster`, under `prefix` (v0.2: `autoscaling-state`).
    #[must_use]
    pub fn new(sdk: &SdkConfig, bucket: &str, prefix: &str, cluster: &str, service: &str) -> Self {
        Self {
            objects: S3Objects::new(sdk, bucket),
            key: format!("{prefix}/{cluster}/{service}/stepscale-state.json"),
            up_key: v02::key(prefix, cluster, service, "up"),
            down_key: v02::key(prefix, cluster, service, "down"),
        }
    }

    /// The object key of StepScale's document.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    async fn get(&self, key: &str) -> Result<Got, StateError> {
        self.objects.get(key).await
    }

    /// Loads StepScale's document, or v0.2's last-action keys when there is none.
    pub async fn load(&self, now_ms: Millis) -> Result<Loaded, StateError> {
        match self.get(&self.key).await? {
            Got::Found { body, etag } => match serde_json::from_slice::<ScalerState>(&body) {
                Ok(state) => Ok(Loaded {
                    state,
                    version: etag,
                    source: StateSource::StepScale,
                }),
                Err(e) => {
                    tracing::warn!(key = %self.key, error = %e, "State document unreadable: no scale-in until a cooldown has passed.");
                    Ok(Loaded {
                        state: safe_default(now_ms),
                        version: etag,
                        source: StateSource::Corrupt,
                    })
                }
            },
            Got::Missing => self.load_v02(now_ms).await,
        }
    }

    async fn load_v02(&self, now_ms: Millis) -> Result<Loaded, StateError> {
        let mut state = ScalerState::default();
        let mut found = false;
        let mut corrupt = false;
        for (key, up) in [(&self.up_key, true), (&self.down_key, false)] {
            if let Got::Found { body, .. } = self.get(key).await? {
                found = true;
                match v02::parse(&String::from_utf8_lossy(&body)) {
                    Some(t) if up => state.last_scale_out_ms = Some(t),
                    Some(t) => state.last_scale_in_ms = Some(t),
                    None => {
                        tracing::warn!(key = %key, "fast-autoscaler v0.2 state unreadable: no scale-in until a cooldown has passed.");
                        corrupt = true;
                    }
                }
            }
        }
        if corrupt {
            state.last_scale_in_ms = Some(state.last_scale_in_ms.map_or(now_ms, |t| t.max(now_ms)));
        }
        if found {
            tracing::info!(up = ?state.last_scale_out_ms, down = ?state.last_scale_in_ms, "Read fast-autoscaler v0.2 state.");
        }
        Ok(Loaded {
            state,
            version: None,
            source: if found {
                StateSource::V02
            } else {
                StateSource::Empty
            },
        })
    }

    /// Writes `state` if the document is still at `version` (none: it must not exist yet).
    pub async fn save(
        &self,
        state: &ScalerState,
        version: Option<&str>,
    ) -> Result<String, StateError> {
        let body = serde_json::to_vec_pretty(state).map_err(|e| StateError::Io {
            location: self.objects.location(&self.key),
            detail: e.to_string(),
        })?;
        self.objects
            .put_if(&self.key, body, "application/json", version)
            .await
    }
}

impl S3Objects {
    /// The objects of `bucket`; path-style addressing with a custom endpoint (moto, LocalStack).
    #[must_use]
    pub fn new(sdk: &SdkConfig, bucket: &str) -> Self {
        let conf = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(crate::aws::custom_endpoint(sdk))
            .build();
        Self {
            client: Client::from_conf(conf),
            bucket: bucket.to_string(),
        }
    }

    /// `s3://bucket/key`, for messages.
    #[must_use]
    pub fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// The keys ending in `.csv` directly under `prefix` (a folder, ending in `/`), in order.
    pub(crate) async fn list_csv(&self, prefix: &str) -> Result<Vec<String>, StateError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| StateError::Io {
                location: self.location(prefix),
                detail: crate::aws::describe(&e),
            })?;
            for object in page.contents() {
                if let Some(key) = object.key() {
                    let rest = &key[prefix.len().min(key.len())..];
                    let csv = std::path::Path::new(rest)
                        .extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
                    if csv && !rest.contains('/') {
                        keys.push(key.to_string());
                    }
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// The object at `key`, with its version; missing is not an error.
    pub(crate) async fn get(&self, key: &str) -> Result<Got, StateError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let etag = out.e_tag().map(str::to_string);
                let body = out.body.collect().await.map_err(|e| StateError::Io {
                    location: self.location(key),
                    detail: e.to_string(),
                })?;
                Ok(Got::Found {
                    body: body.into_bytes().to_vec(),
                    etag,
                })
            }
            Err(e) => {
                let missing = e
                    .as_service_error()
                    .is_some_and(aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key)
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 404);
                if missing {
                    Ok(Got::Missing)
                } else {
                    Err(StateError::Io {
                        location: self.location(key),
                        detail: crate::aws::describe(&e),
                    })
                }
            }
        }
    }

    /// Writes `body` at `key` if the object is still at `version` (none: it must not exist
    /// yet). A lost race is [`StateError::Conflict`]. Returns the new version.
    pub(crate) async fn put_if(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        version: Option<&str>,
    ) -> Result<String, StateError> {
        let mut put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body));
        put = match version {
            Some(etag) => put.if_match(etag),
            None => put.if_none_match("*"),
        };
        match put.send().await {
            Ok(out) => Ok(out.e_tag().unwrap_or_default().to_string()),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                let code = e.as_service_error().and_then(ProvideErrorMetadata::code);
                if matches!(status, Some(412 | 409))
                    || matches!(
                        code,
                        Some("PreconditionFailed" | "ConditionalRequestConflict")
                    )
                {
                    Err(StateError::Conflict {
                        location: self.location(key),
                    })
                } else {
                    Err(StateError::Io {
                        location: self.location(key),
                        detail: crate::aws::describe(&e),
                    })
                }
            }
        }
    }
}
