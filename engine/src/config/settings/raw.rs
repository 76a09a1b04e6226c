//! A raw value from one of the front doors (environment text, event JSON), read as the type a
//! setting needs, with an error naming the key and never echoing a secret.

use super::super::secret_ref::SecretRef;
use super::super::ConfigError;

/// A raw value from one of the front doors.
#[derive(Clone, Copy)]
pub(super) enum Raw<'a> {
    Text(&'a str),
    Number(f64),
    Bool(bool),
}

impl Raw<'_> {
    pub(super) fn shown(self, secret: bool) -> String {
        if secret {
            return "\"********\"".into();
        }
        match self {
            Raw::Text(s) => format!("{s:?}"),
            Raw::Number(n) => n.to_string(),
            Raw::Bool(b) => b.to_string(),
        }
    }

    pub(super) fn text(self, key: &str) -> Result<String, ConfigError> {
        match self {
            Raw::Text(s) => Ok(s.to_string()),
            Raw::Number(n) => Ok(n.to_string()),
            Raw::Bool(b) => Err(ConfigError::invalid(key, b, "expected a string")),
        }
    }

    pub(super) fn integer(self, key: &str) -> Result<i64, ConfigError> {
        let bad = || ConfigError::invalid(key, self.shown(false), "expected a whole number");
        match self {
            Raw::Text(s) => s.trim().parse::<i64>().map_err(|_| bad()),
            Raw::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Ok(n as i64),
            _ => Err(bad()),
        }
    }

    pub(super) fn count(self, key: &str) -> Result<u32, ConfigError> {
        let n = self.integer(key)?;
        u32::try_from(n).map_err(|_| {
            ConfigError::invalid(key, n, "expected a task count between 0 and 4294967295")
        })
    }

    pub(super) fn port(self, key: &str) -> Result<u16, ConfigError> {
        let n = self.integer(key)?;
        u16::try_from(n)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| ConfigError::invalid(key, n, "expected a port between 1 and 65535"))
    }

    pub(super) fn number(self, key: &str) -> Result<f64, ConfigError> {
        let bad = || ConfigError::invalid(key, self.shown(false), "expected a finite number");
        let n = match self {
            Raw::Text(s) => s.trim().parse::<f64>().map_err(|_| bad())?,
            Raw::Number(n) => n,
            Raw::Bool(_) => return Err(bad()),
        };
        if n.is_finite() {
            Ok(n)
        } else {
            Err(bad())
        }
    }

    pub(super) fn boolean(self, key: &str) -> Result<bool, ConfigError> {
        match self {
            Raw::Bool(b) => Ok(b),
            Raw::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "y" | "on" => Ok(true),
                "false" | "0" | "no" | "n" | "off" => Ok(false),
                _ => Err(ConfigError::invalid(
                    key,
                    format!("{s:?}"),
                    "expected a boolean: true/false, 1/0, yes/no or on/off (any case)",
                )),
            },
            Raw::Number(n) => match n.to_string().as_str() {
                "0" => Ok(false),
                "1" => Ok(true),
                _ => Err(ConfigError::invalid(key, n, "expected a boolean")),
            },
        }
    }
}

/// A secret's text; a non-text secret is refused without echoing it.
pub(super) fn secret_text(key: &str, raw: Raw<'_>) -> Result<String, ConfigError> {
    match raw {
        Raw::Text(s) => Ok(s.to_string()),
        _ => Err(ConfigError::invalid(
            key,
            raw.shown(true),
            "expected a string",
        )),
    }
}

/// A password reference: checked here, so that a bad one is named by the variable or event
/// key that set it.
pub(super) fn secret_ref(key: &str, raw: Raw<'_>) -> Result<String, ConfigError> {
    let arn = raw.text(key)?;
    SecretRef::parse(key, &arn)?;
    Ok(arn.trim().to_string())
}
