//! The AWS Lambda entry point: fast-autoscaler v0.2's drop-in replacement (same environment,
//! same `{"config": {...}}` event), linking only the engine and the live adapters.
// The handler's future nests every probe's; the default query depth is too shallow for it.
#![recursion_limit = "256"]

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use stepscale_live::lambda::{handle, Shared};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let level = std::env::var("LOG_LEVEL").unwrap_or_else(|_| "info".into());
    let filter = tracing_subscriber::EnvFilter::try_new(level.to_ascii_lowercase())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // JSON lines for CloudWatch; Lambda stamps the time itself.
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .without_time()
        .init();
    let shared = Shared::cold_start().await;
    let shared = &shared;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(shared, &event.payload).await.map_err(Error::from)
    }))
    .await
}
