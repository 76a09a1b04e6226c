//! The one error a configuration gives: the key as the user wrote it, the value and the rule.

/// A configuration error: names the key, the value and the rule that was broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value broke a rule.
    #[error("invalid value for `{key}`: {value}: {rule}")]
    Invalid {
        /// The key as the user wrote it.
        key: String,
        /// The value (secrets redacted).
        value: String,
        /// The rule, and what to do.
        rule: String,
    },
    /// A key StepScale does not know.
    #[error("unknown key `{key}`: {hint}")]
    UnknownKey {
        /// The key as written.
        key: String,
        /// What is accepted instead.
        hint: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(
        key: impl Into<String>,
        value: impl std::fmt::Display,
        rule: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            key: key.into(),
            value: value.to_string(),
            rule: rule.into(),
        }
    }
}
