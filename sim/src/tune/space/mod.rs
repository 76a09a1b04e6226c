//! The search space: a policy file in which any number may be a range table.
//!
//! - `{ min = A, max = B }`: uniform on [A, B];
//! - `{ min = A, max = B, log = true }`: log-uniform (A > 0);
//! - `{ min = A, max = B, step = S }`: the grid A, A + S, ... up to B;
//! - `{ values = [...] }`: one of the listed values.
//!
//! When A, B (and S) are all integers, the parameter takes integers. Every other value stays as
//! written. A candidate is the file with each range replaced by one value: a complete policy
//! file that `backtest --policy` and `run --policy` load unchanged.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use stepscale_engine::Config;
use toml::{Table, Value};

mod domain;

use domain::MAX_GRID_POINTS;
pub use domain::{Domain, Unit};

/// Why a space file is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpaceError {
    /// The file could not be read.
    #[error("cannot read space file {path}: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The file is not TOML.
    #[error("space file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// toml's message.
        message: String,
    },
    /// A range table breaks a rule.
    #[error("space file {path}: `{key}` = {value}: {rule}")]
    Range {
        /// The file.
        path: PathBuf,
        /// The dotted key.
        key: String,
        /// The range as written.
        value: String,
        /// The rule.
        rule: String,
    },
    /// With its ranges filled in, the file is not a valid policy file.
    #[error("space file {path}: {message}")]
    Policy {
        /// The file.
        path: PathBuf,
        /// What is wrong (key, value, rule).
        message: String,
    },
    /// The space has no range at all.
    #[error("space file {path}: no range to search; write at least one key as {{ min = A, max = B }} or {{ values = [...] }}")]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// One searched parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Dotted key, with indices for arrays: `policy.bands[1].adjustment`.
    pub key: String,
    /// Where it sits in the document.
    path: Vec<Seg>,
    /// How it is drawn.
    pub domain: Domain,
}

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// A parsed space.
#[derive(Debug, Clone)]
pub struct Space {
    /// The file.
    pub path: PathBuf,
    /// The document with ranges still in place.
    doc: Table,
    /// The parameters, in document order.
    pub params: Vec<Param>,
}

fn number(v: &Value) -> Option<(f64, bool)> {
    match v {
        Value::Integer(i) => Some((*i as f64, true)),
        Value::Float(f) => Some((*f, false)),
        _ => None,
    }
}

fn is_range_table(t: &Table) -> bool {
    !t.is_empty()
        && t.keys()
            .all(|k| matches!(k.as_str(), "min" | "max" | "log" | "step" | "values"))
        && (t.contains_key("values") || (t.contains_key("min") && t.contains_key("max")))
}

impl Space {
    /// Reads and checks a space file: the ranges are well formed, and the file with every range
    /// at its lowest value is a valid policy file.
    pub fn load(path: &Path) -> Result<Self, SpaceError> {
        let text = std::fs::read_to_string(path).map_err(|cause| SpaceError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        Self::parse(&text, path)
    }

    /// Parses space text; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, SpaceError> {
        let doc: Table = toml::from_str(text).map_err(|e| SpaceError::Parse {
            path: path.to_path_buf(),
            message: crate::policy_file::toml_message_in(&e, Some(text)),
        })?;
        let mut params = Vec::new();
        collect(&doc, &mut Vec::new(), &mut params, path)?;
        if params.is_empty() {
            return Err(SpaceError::Empty {
                path: path.to_path_buf(),
            });
        }
        let space = Self {
            path: path.to_path_buf(),
            doc,
            params,
        };
        space.check_policy()?;
        Ok(space)
    }

    /// The policy document for positions `units` (one per parameter).
    #[must_use]
    pub fn document(&self, units: &[Unit]) -> Table {
        let mut doc = self.doc.clone();
        for (p, u) in self.params.iter().zip(units) {
            set(&mut doc, &p.path, p.domain.value_at(*u));
        }
        doc
    }

    /// The values for positions `units`, as TOML text per parameter.
    #[must_use]
    pub fn values(&self, units: &[Unit]) -> Vec<Value> {
        self.params
            .iter()
            .zip(units)
            .map(|(p, u)| p.domain.value_at(*u))
            .collect()
    }

    /// The engine configuration for positions `units`.
    pub fn config(&self, units: &[Unit]) -> Result<Config, String> {
        config_of(&self.document(units))
    }

    /// Refuses a space whose ranges sit on keys that take no number, or whose fixed part is
    /// not a valid policy file. Each range is tried at both ends.
    fn check_policy(&self) -> Result<(), SpaceError> {
        let n = self.params.len();
        for end in [0.0, 1.0] {
            let units = vec![end; n];
            let Err(message) = self.config(&units) else {
                continue;
            };
            // Blame the range whose removal changes the error: that key takes no number.
            for (i, p) in self.params.iter().enumerate() {
                if matches!(p.domain, Domain::Values(_)) {
                    continue;
                }
                let mut doc = self.document(&units);
                remove(&mut doc, &self.params[i].path);
                if config_of(&doc).err().as_deref() != Some(message.as_str()) {
                    return Err(SpaceError::Range {
                        path: self.path.clone(),
                        key: p.key.clone(),
                        value: describe(&p.domain),
                        rule: format!("this key does not take a number ({message})"),
                    });
                }
            }
            return Err(SpaceError::Policy {
                path: self.path.clone(),
                message: format!(
                    "with every range at its {}: {message}",
                    if end == 0.0 {
                        "lowest value"
                    } else {
                        "highest value"
                    }
                ),
            });
        }
        Ok(())
    }
}

fn describe(d: &Domain) -> String {
    match d {
        Domain::Values(v) => format!("{{ values = {} }}", Value::Array(v.clone())),
        Domain::Range {
            min,
            max,
            log,
            step,
            ..
        } => {
            let mut s = format!("{{ min = {min}, max = {max}");
            if *log {
                s.push_str(", log = true");
            }
            if let Some(st) = step {
                let _ = write!(s, ", step = {st}");
            }
            s.push_str(" }");
            s
        }
    }
}

/// Parses and validates a policy document.
pub fn config_of(doc: &Table) -> Result<Config, String> {
    let config: Config = Value::Table(doc.clone())
        .try_into()
        .map_err(|e: toml::de::Error| e.message().to_string())?;
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

fn key_name(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => {
                let _ = write!(s, "[{i}]");
            }
        }
    }
    s
}

fn collect(
    table: &Table,
    at: &mut Vec<Seg>,
    out: &mut Vec<Param>,
    file: &Path,
) -> Result<(), SpaceError> {
    for (k, v) in table {
        at.push(Seg::Key(k.clone()));
        visit(v, at, out, file)?;
        at.pop();
    }
    Ok(())
}

fn visit(
    v: &Value,
    at: &mut Vec<Seg>,
    out: &mut Vec<Param>,
    file: &Path,
) -> Result<(), SpaceError> {
    match v {
        Value::Table(t) if is_range_table(t) => {
            out.push(Param {
                key: key_name(at),
                path: at.clone(),
                domain: domain(t, &key_name(at), file)?,
            });
        }
        Value::Table(t) => collect(t, at, out, file)?,
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                at.push(Seg::Index(i));
                visit(item, at, out, file)?;
                at.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

fn domain(t: &Table, key: &str, file: &Path) -> Result<Domain, SpaceError> {
    let bad = |rule: &str| SpaceError::Range {
        path: file.to_path_buf(),
        key: key.to_string(),
        value: Value::Table(t.clone()).to_string(),
        rule: rule.to_string(),
    };
    if let Some(values) = t.get("values") {
        if t.len() != 1 {
            return Err(bad(
                "`values` stands alone: no min, max, log or step beside it",
            ));
        }
        let Value::Array(v) = values else {
            return Err(bad("`values` must be a list, e.g. values = [1, 2, 4]"));
        };
        if v.is_empty() {
            return Err(bad("`values` is empty: list at least one value"));
        }
        return Ok(Domain::Values(v.clone()));
    }
    let (Some((min, imin)), Some((max, imax))) =
        (t.get("min").and_then(number), t.get("max").and_then(number))
    else {
        return Err(bad("`min` and `max` must both be numbers"));
    };
    if !(min.is_finite() && max.is_finite()) {
        return Err(bad("`min` and `max` must be finite"));
    }
    if min > max {
        return Err(bad("the range is empty: `min` is above `max`"));
    }
    let log = match t.get("log") {
        None => false,
        Some(Value::Boolean(b)) => *b,
        Some(_) => return Err(bad("`log` must be true or false")),
    };
    let step = match t.get("step") {
        None => None,
        Some(v) => match number(v) {
            Some((s, _)) if s.is_finite() && s > 0.0 => Some((s, v.is_integer())),
            _ => return Err(bad("`step` must be a number above 0")),
        },
    };
    if log && step.is_some() {
        return Err(bad("choose `log = true` or `step`, not both"));
    }
    if log && min <= 0.0 {
        return Err(bad("a log range needs `min` above 0"));
    }
    if let Some((s, _)) = step {
        if (max - min) / s > MAX_GRID_POINTS {
            return Err(bad(
                "the step gives more than 1,000,000 points: use a larger step, or no step",
            ));
        }
    }
    Ok(Domain::Range {
        min,
        max,
        log,
        step: step.map(|s| s.0),
        integer: imin && imax && step.is_none_or(|s| s.1),
    })
}

fn slot<'a>(doc: &'a mut Table, path: &[Seg]) -> Option<&'a mut Value> {
    let (Seg::Key(first), rest) = path.split_first()? else {
        return None;
    };
    let mut v = doc.get_mut(first)?;
    for seg in rest {
        v = match (seg, v) {
            (Seg::Key(k), Value::Table(t)) => t.get_mut(k)?,
            (Seg::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

fn set(doc: &mut Table, path: &[Seg], value: Value) {
    if let Some(v) = slot(doc, path) {
        *v = value;
    }
}

fn remove(doc: &mut Table, path: &[Seg]) {
    let Some((Seg::Key(last), parent)) = path.split_last() else {
        return;
    };
    if parent.is_empty() {
        doc.remove(last);
    } else if let Some(Value::Table(t)) = slot(doc, parent) {
        t.remove(last);
    }
}

#[cfg(test)]
mod tests;
