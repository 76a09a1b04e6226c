//! The AWS SDK configuration, built once at start: the SDK's normal endpoint and credential
//! chain (so `AWS_ENDPOINT_URL` points it at moto), rustls on ring, timeouts and retries.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Connection timeout for every AWS call.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Timeout of one attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of a call with all its retries.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(25);
/// Attempts per call; throttling and transient errors back off exponentially with jitter.
pub const MAX_ATTEMPTS: u32 = 4;

/// Loads the SDK configuration from the environment (region, credentials, endpoint URL),
/// with `region` overriding the region when given.
pub async fn load(region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(200)),
        );
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_string()));
    }
    loader.load().await
}

/// What to do when no credentials were found, naming the chain the SDK tried.
pub const NO_CREDENTIALS: &str = "no AWS credentials: tried the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), the profile (AWS_PROFILE, ~/.aws/credentials and config), web identity (AWS_WEB_IDENTITY_TOKEN_FILE), the ECS container endpoint and EC2 instance metadata; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with a task or instance role";

/// Resolves credentials once, so a run without any fails at once with one line naming the
/// chain that was tried ([`NO_CREDENTIALS`]) instead of every call failing on its own.
pub async fn check_credentials(sdk: &SdkConfig) -> Result<(), String> {
    use aws_sdk_ecs::config::ProvideCredentials;
    let Some(provider) = sdk.credentials_provider() else {
        return Err(NO_CREDENTIALS.to_string());
    };
    match provider.provide_credentials().await {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::debug!(error = %crate::secrets::error_chain(&e), "Credential chain failed.");
            Err(NO_CREDENTIALS.to_string())
        }
    }
}

/// The HTTPS client every AWS call uses: rustls with the ring provider.
#[must_use]
pub fn http_client() -> aws_sdk_ecs::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// Whether the SDK talks to a custom endpoint (moto, LocalStack): S3 then needs path-style
/// addressing.
#[must_use]
pub fn custom_endpoint(sdk: &SdkConfig) -> bool {
    sdk.endpoint_url().is_some()
}

/// A short, secret-free description of an SDK error: its code and message when the service
/// sent one, otherwise the error's own text.
pub fn describe<E, R>(err: &aws_sdk_ecs::error::SdkError<E, R>) -> String
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_ecs::error::SdkError;
    match err {
        SdkError::ServiceError(e) => {
            let inner = e.err();
            match (inner.code(), inner.message()) {
                (Some(code), Some(msg)) => format!("{code}: {msg}"),
                (Some(code), None) => code.to_string(),
                _ => inner.to_string(),
            }
        }
        SdkError::TimeoutError(_) => "timed out".to_string(),
        SdkError::DispatchFailure(e) => {
            let cause = e.as_connector_error().map_or_else(
                || "no connection".to_string(),
                |c| crate::secrets::error_chain(c),
            );
            if cause.contains("loading credentials") {
                return NO_CREDENTIALS.to_string();
            }
            // Shared by every AWS client: name the common endpoint, not one service's.
            let endpoint = std::env::var("AWS_ENDPOINT_URL").map_or_else(
                |_| "the region's endpoint".to_string(),
                |url| crate::secrets::without_userinfo(&url),
            );
            format!("cannot reach {endpoint}: {cause} (check AWS_ENDPOINT_URL, AWS_REGION and the network)")
        }
        other => crate::secrets::error_chain(other),
    }
}
