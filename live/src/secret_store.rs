//! Passwords given by reference (`password_secret`): read from AWS Secrets Manager or SSM
//! Parameter Store once per process, put in place before any probe is built.
//!
//! Both stores speak JSON 1.1 over one signed POST, so the two calls are made here with the
//! SDK's own credentials, region and endpoint and a SigV4 signature, instead of two more SDK
//! crates in the build.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use serde_json::{json, Value};
use stepscale_engine::config::secret_ref::{SecretRef, SecretStore};
use stepscale_engine::config::Secret;
use stepscale_engine::Config;
use tokio::sync::Mutex;

use crate::secrets::{error_chain, without_userinfo};

/// Attempts per read; a throttled, failed or timed-out attempt backs off and is tried again.
const ATTEMPTS: u32 = 3;
/// Timeout of one attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a referenced password could not be read. The text names the ARN, never the value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The store answered and refused (access denied, no such secret, a value that holds no
    /// password): trying again will not help until the grant or the secret changes.
    #[error("reading the password from {arn}: {detail}")]
    Refused {
        /// The reference.
        arn: String,
        /// The store's code and message, or what the value lacks.
        detail: String,
    },
    /// The store could not be reached or kept failing (network, throttling, 5xx).
    #[error("reading the password from {arn}: {detail}")]
    Unavailable {
        /// The reference.
        arn: String,
        /// The last failure.
        detail: String,
    },
}

impl SecretError {
    /// Whether a later attempt may succeed without anything being changed.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// Reads referenced passwords, each ARN once for the life of the reader (the process).
pub struct SecretReader {
    sdk: SdkConfig,
    http: Option<reqwest::Client>,
    read: Mutex<BTreeMap<String, Secret>>,
}

impl std::fmt::Debug for SecretReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretReader").finish_non_exhaustive()
    }
}

impl SecretReader {
    /// A reader with the SDK configuration's credentials and endpoint.
    #[must_use]
    pub fn new(sdk: &SdkConfig) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(crate::aws::CONNECT_TIMEOUT)
            .timeout(ATTEMPT_TIMEOUT)
            .build()
            .map_err(|e| tracing::error!(error = %error_chain(&e), "No HTTP client for reading secrets."))
            .ok();
        Self {
            sdk: sdk.clone(),
            http,
            read: Mutex::new(BTreeMap::new()),
        }
    }

    /// Puts the password each reference in `config` names in its place. A reference already
    /// read by this reader is not read again. On an error `config` keeps its references, so
    /// no probe can be built from it.
    pub async fn resolve(&self, config: &mut Config) -> Result<(), SecretError> {
        for queue in &mut config.queues {
            let refs: Vec<(&'static str, String)> = queue
                .secret_refs()
                .into_iter()
                .map(|(field, arn)| (field, arn.to_string()))
                .collect();
            for (field, arn) in refs {
                let secret = self.password(&arn).await?;
                queue.set_referenced_password(field, secret);
            }
        }
        Ok(())
    }

    async fn password(&self, arn: &str) -> Result<Secret, SecretError> {
        let mut read = self.read.lock().await;
        if let Some(secret) = read.get(arn) {
            return Ok(secret.clone());
        }
        let reference =
            SecretRef::parse("password_secret", arn).map_err(|e| SecretError::Refused {
                arn: arn.to_string(),
                detail: e.to_string(),
            })?;
        let secret = self.fetch(&reference).await?;
        tracing::info!(arn, "Read the password by reference.");
        read.insert(arn.to_string(), secret.clone());
        Ok(secret)
    }

    async fn fetch(&self, reference: &SecretRef) -> Result<Secret, SecretError> {
        let arn = reference.arn.clone();
        let refused = |detail: String| SecretError::Refused {
            arn: arn.clone(),
            detail,
        };
        let unavailable = |detail: String| SecretError::Unavailable {
            arn: arn.clone(),
            detail,
        };
        let (service, target, body) = match reference.store {
            SecretStore::SecretsManager => (
                "secretsmanager",
                "secretsmanager.GetSecretValue",
                json!({ "SecretId": reference.arn }),
            ),
            SecretStore::ParameterStore => (
                "ssm",
                "AmazonSSM.GetParameter",
                json!({ "Name": reference.name, "WithDecryption": true }),
            ),
        };
        let endpoint = self.endpoint(reference, service);
        let body = body.to_string();
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
            match self
                .call(reference, service, target, &endpoint, &body)
                .await
            {
                Ok((status, text)) if status < 300 => {
                    return password_in(reference.store, &text).map_err(refused);
                }
                Ok((status, text)) => {
                    let (code, message) = error_of(&text);
                    let detail = format!("HTTP {status} {code}: {message}");
                    let retry = status >= 500 || status == 429 || code.contains("Throttl");
                    if !retry {
                        return Err(refused(detail));
                    }
                    last = detail;
                }
                Err(detail) => last = detail,
            }
        }
        Err(unavailable(format!(
            "{last} (after {ATTEMPTS} attempts at {})",
            without_userinfo(&endpoint)
        )))
    }

    /// The store's endpoint: the service's own `AWS_ENDPOINT_URL_*` variable, else the SDK's
    /// endpoint (`AWS_ENDPOINT_URL`), else the regional endpoint of the ARN's region.
    fn endpoint(&self, reference: &SecretRef, service: &str) -> String {
        let own = match reference.store {
            SecretStore::SecretsManager => "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            SecretStore::ParameterStore => "AWS_ENDPOINT_URL_SSM",
        };
        if let Some(url) = std::env::var(own).ok().filter(|u| !u.is_empty()) {
            return url;
        }
        if let Some(url) = self.sdk.endpoint_url() {
            return url.to_string();
        }
        let suffix = if reference.partition == "aws-cn" {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        format!("https://{service}.{}.{suffix}", reference.region)
    }

    /// One signed attempt: the status and body, or why no answer came.
    async fn call(
        &self,
        reference: &SecretRef,
        service: &str,
        target: &str,
        endpoint: &str,
        body: &str,
    ) -> Result<(u16, String), String> {
        let http = self.http.as_ref().ok_or("no HTTP client")?;
        let url = reqwest::Url::parse(endpoint)
            .ok()
            .filter(|u| u.host_str().is_some())
            .ok_or_else(|| format!("{} is not a URL with a host", without_userinfo(endpoint)))?;
        let provider = self
            .sdk
            .credentials_provider()
            .ok_or_else(|| crate::aws::NO_CREDENTIALS.to_string())?;
        let credentials = {
            use aws_sdk_ecs::config::ProvideCredentials;
            provider.provide_credentials().await.map_err(|e| {
                tracing::debug!(error = %error_chain(&e), "Credential chain failed.");
                crate::aws::NO_CREDENTIALS.to_string()
            })?
        };
        let identity: Identity = credentials.into();
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target),
        ];
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&reference.region)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("signing: {e}"))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| format!("signing: {e}"))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| format!("signing: {e}"))?
            .into_parts();
        let mut request = http.post(url).body(body.to_string());
        for (name, value) in headers.iter().copied().chain(instructions.headers()) {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| without_userinfo(&error_chain(&e)))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| without_userinfo(&error_chain(&e)))?;
        Ok((status, text))
    }
}

/// The password in a store's answer: a parameter's value; a secret's string, or its JSON
/// `password` when the string is a JSON object (as MSK's and RDS's secrets are).
fn password_in(store: SecretStore, text: &str) -> Result<Secret, String> {
    let answer: Value =
        serde_json::from_str(text).map_err(|_| "the store's answer is not JSON".to_string())?;
    let value = match store {
        SecretStore::SecretsManager => answer
            .get("SecretString")
            .and_then(Value::as_str)
            .ok_or("the secret has no SecretString (a binary secret cannot hold a password)")?,
        SecretStore::ParameterStore => answer
            .pointer("/Parameter/Value")
            .and_then(Value::as_str)
            .ok_or("the answer has no Parameter.Value")?,
    };
    let password = match serde_json::from_str::<Value>(value) {
        Ok(Value::Object(fields)) => fields
            .get("password")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or("the value is a JSON object without a string `password` key")?,
        _ => value.to_string(),
    };
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    Ok(Secret::new(password))
}

/// A JSON 1.1 error's code (`__type`, without its namespace) and message.
fn error_of(text: &str) -> (String, String) {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let code = v
        .get("__type")
        .and_then(Value::as_str)
        .map_or("", |t| t.rsplit('#').next().unwrap_or(t))
        .to_string();
    let message = ["message", "Message"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .unwrap_or("")
        .chars()
        .take(300)
        .collect();
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_secret_gives_its_password_and_a_plain_one_itself() {
        let plain = password_in(SecretStore::SecretsManager, r#"{"SecretString": "pw"}"#).unwrap();
        assert_eq!(plain.expose(), "pw");
        let json = password_in(
            SecretStore::SecretsManager,
            r#"{"SecretString": "{\"username\": \"u\", \"password\": \"p2\"}"}"#,
        )
        .unwrap();
        assert_eq!(json.expose(), "p2");
        let param = password_in(
            SecretStore::ParameterStore,
            r#"{"Parameter": {"Value": "p3"}}"#,
        )
        .unwrap();
        assert_eq!(param.expose(), "p3");
        for bad in [
            r#"{"SecretBinary": "AAAA"}"#,
            r#"{"SecretString": "{\"user\": \"u\"}"}"#,
            r#"{"SecretString": ""}"#,
            "<html>",
        ] {
            assert!(
                password_in(SecretStore::SecretsManager, bad).is_err(),
                "{bad}"
            );
        }
    }

    /// An endpoint nobody answers, given with user-info: the read is tried three times, is
    /// transient, names the ARN and never the endpoint's password.
    #[tokio::test]
    async fn an_unreachable_store_is_transient_and_masks_the_endpoints_user_info() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let credentials = aws_sdk_ecs::config::Credentials::new("a", "b", None, None, "test");
        let sdk = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .endpoint_url(format!("http://alice:pw-in-url@127.0.0.1:{port}"))
            .credentials_provider(aws_sdk_ecs::config::SharedCredentialsProvider::new(
                credentials,
            ))
            .build();
        let reader = SecretReader::new(&sdk);
        let mut config: Config = serde_json::from_str(
            r#"{"queues": [{"type": "redis", "queue_key": "k", "password_secret": "arn:aws:ssm:us-east-1:123456789012:parameter/x"}]}"#,
        )
        .unwrap();
        let err = reader.resolve(&mut config).await.unwrap_err();
        assert!(err.is_transient(), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("parameter/x") && text.contains("3 attempts"),
            "{text}"
        );
        assert!(!text.contains("pw-in-url"), "{text}");
        // The reference stays, so no probe can be built from the configuration.
        assert_eq!(config.queues[0].secret_refs().len(), 1);
    }

    #[test]
    fn errors_give_the_code_without_its_namespace() {
        let (code, message) = error_of(
            r#"{"__type": "com.amazonaws.secretsmanager#ResourceNotFoundException", "message": "no"}"#,
        );
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("ResourceNotFoundException", "no")
        );
        assert_eq!(error_of("junk"), (String::new(), String::new()));
    }
}
