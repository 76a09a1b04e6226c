//! A password given by reference: the ARN of a Secrets Manager secret or an SSM parameter,
//! checked here and read by the live side once at start.

use std::fmt;

use super::ConfigError;

/// Which AWS store holds a referenced password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretStore {
    /// AWS Secrets Manager (`GetSecretValue`).
    SecretsManager,
    /// AWS Systems Manager Parameter Store (`GetParameter` with decryption).
    ParameterStore,
}

/// The ARN of a Secrets Manager secret or an SSM parameter, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// The whole ARN, as written.
    pub arn: String,
    /// Which store holds it.
    pub store: SecretStore,
    /// The ARN's partition (`aws`, `aws-cn`, ...).
    pub partition: String,
    /// The region the store is called in.
    pub region: String,
    /// The secret's id or the parameter's name (with its leading `/` when hierarchical).
    pub name: String,
}

/// What a reference must look like, for the error that refuses one.
pub const SECRET_REF_RULE: &str = "expected the ARN of a Secrets Manager secret (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME) or of an SSM parameter (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME)";

impl SecretRef {
    /// Parses `value`, refusing anything but a secret or parameter ARN with the key named.
    pub fn parse(key: &str, value: &str) -> Result<Self, ConfigError> {
        Self::split(value).ok_or_else(|| ConfigError::invalid(key, value, SECRET_REF_RULE))
    }

    fn split(value: &str) -> Option<Self> {
        let value = value.trim();
        // arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE (the resource may hold `:` and `/`).
        let mut parts = value.splitn(6, ':');
        let (arn, partition, service, region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        let word = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        if arn != "arn"
            || !partition.starts_with("aws")
            || !word(partition)
            || !word(region)
            || account.len() != 12
            || !account.chars().all(|c| c.is_ascii_digit())
        {
            return None;
        }
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-:".contains(c))
        };
        let (store, name) = match service {
            "secretsmanager" => {
                let name = resource.strip_prefix("secret:")?;
                (SecretStore::SecretsManager, name.to_string())
            }
            "ssm" => {
                let rest = resource.strip_prefix("parameter")?;
                if !rest.starts_with('/') {
                    return None;
                }
                // `parameter/name` names `name`; `parameter/a/b` names the hierarchical `/a/b`.
                let name = if rest[1..].contains('/') {
                    rest.to_string()
                } else {
                    rest[1..].to_string()
                };
                (SecretStore::ParameterStore, name)
            }
            _ => return None,
        };
        if !name_ok(name.trim_start_matches('/')) {
            return None;
        }
        Some(Self {
            arn: value.to_string(),
            store,
            partition: partition.to_string(),
            region: region.to_string(),
            name,
        })
    }

    /// The one IAM action that reads it.
    #[must_use]
    pub fn action(&self) -> &'static str {
        match self.store {
            SecretStore::SecretsManager => "secretsmanager:GetSecretValue",
            SecretStore::ParameterStore => "ssm:GetParameter",
        }
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_parameters_parse_with_their_region_and_name() {
        let s = SecretRef::parse(
            "k",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/redis-AbC123",
        )
        .unwrap();
        assert_eq!(s.store, SecretStore::SecretsManager);
        assert_eq!(
            (s.region.as_str(), s.name.as_str()),
            ("eu-west-1", "prod/redis-AbC123")
        );
        assert_eq!(s.action(), "secretsmanager:GetSecretValue");
        let p = SecretRef::parse(
            "k",
            "arn:aws-cn:ssm:cn-north-1:123456789012:parameter/prod/redis",
        )
        .unwrap();
        assert_eq!(p.store, SecretStore::ParameterStore);
        assert_eq!(
            (p.partition.as_str(), p.name.as_str()),
            ("aws-cn", "/prod/redis")
        );
        let flat =
            SecretRef::parse("k", "arn:aws:ssm:us-east-1:123456789012:parameter/redis").unwrap();
        assert_eq!(flat.name, "redis");
    }

    #[test]
    fn anything_else_is_refused_naming_the_key_and_the_rule() {
        for bad in [
            "",
            "hunter2",
            "prod/redis",
            "arn:aws:s3:::bucket/key",
            "arn:aws:secretsmanager:eu-west-1:123456789012:prod/redis",
            "arn:aws:secretsmanager:eu-west-1:1234:secret:x",
            "arn:aws:ssm:us-east-1:123456789012:parameter",
            "arn:aws:ssm:us-east-1:123456789012:parameter/",
            "arn:aws:ssm::123456789012:parameter/x",
            "arn:aws:ssm:us-east-1:123456789012:document/x",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:a b",
        ] {
            let e = SecretRef::parse("REDIS_PASSWORD_SECRET", bad)
                .unwrap_err()
                .to_string();
            assert!(e.contains("REDIS_PASSWORD_SECRET"), "{e}");
            assert!(e.contains("Secrets Manager"), "{e}");
        }
    }
}
