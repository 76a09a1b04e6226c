//! Loading a policy file (TOML) into the engine's config model, with errors naming the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use stepscale_engine::{Config, ConfigError};

/// Why a policy file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyFileError {
    /// The file could not be read.
    #[error("cannot read policy file {path}: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause (printed once, in this message).
        cause: std::io::Error,
    },
    /// The file is not valid TOML for the policy schema (unknown keys included).
    #[error("policy file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message: line, column, key and what was expected.
        message: String,
    },
    /// A value broke a rule.
    #[error("policy file {path}: {cause}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The rule broken.
        cause: ConfigError,
    },
}

/// toml's error as one line: where (line and column) and what, without quoting the source
/// line, which may hold a password.
#[must_use]
pub fn toml_message(e: &toml::de::Error) -> String {
    toml_message_in(e, None)
}

/// Like [`toml_message`], with the line and column computed from `text`.
#[must_use]
pub fn toml_message_in(e: &toml::de::Error, text: Option<&str>) -> String {
    let message = crate::suggest::with_hint(&e.message().trim_end().replace('\n', " "));
    match (e.span(), text) {
        (Some(span), Some(text)) => {
            // serde loses the span of a key inside an internally tagged table (`[policy]`):
            // point at the unknown key's own line, searched from the table on.
            let mut start = span.start;
            if let Some(key) = message
                .strip_prefix("unknown field `")
                .and_then(|r| r.split('`').next())
            {
                let mut offset = 0;
                for line in text.get(span.start..).unwrap_or("").split_inclusive('\n') {
                    let t = line.trim_start();
                    if t.strip_prefix(key)
                        .is_some_and(|r| r.trim_start().starts_with('='))
                    {
                        start = span.start + offset + (line.len() - t.len());
                        break;
                    }
                    offset += line.len();
                }
            }
            let before = text.get(..start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before
                .rfind('\n')
                .map_or(before.len(), |i| before.len() - i - 1)
                + 1;
            format!("line {line}, column {column}: {message}")
        }
        _ => message,
    }
}

/// Parses policy TOML text (no environment applied, not yet validated).
pub fn parse(text: &str, path: &Path) -> Result<Config, PolicyFileError> {
    toml::from_str::<Config>(text).map_err(|e| PolicyFileError::Parse {
        path: path.to_path_buf(),
        message: toml_message_in(&e, Some(text)),
    })
}

/// Reads a policy file, applies the environment on top (the documented precedence) and
/// validates the result. Pass an empty map for no environment.
pub fn load(path: &Path, env: &BTreeMap<String, String>) -> Result<Config, PolicyFileError> {
    let text = std::fs::read_to_string(path).map_err(|cause| PolicyFileError::Read {
        path: path.to_path_buf(),
        cause,
    })?;
    let mut config = parse(&text, path)?;
    let invalid = |cause| PolicyFileError::Invalid {
        path: path.to_path_buf(),
        cause,
    };
    if !env.is_empty() {
        config.apply_env(env).map_err(invalid)?;
    }
    config.validate().map_err(invalid)?;
    Ok(config)
}
