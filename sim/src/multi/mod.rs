//! Several services backtested as one: a services file naming one scenario per service, with
//! shared budgets over them (`[[budget]]`, decided in lockstep) and pipelines (a service whose
//! arrivals are another's completions, `arrivals_from`).
//!
//! ```toml
//! name = "ingest and thumbnails"
//!
//! [[services]]
//! name = "ingest"
//! scenario = "../scale-from-zero.toml"   # relative to this file
//!
//! [[services]]
//! name = "thumbnails"
//! scenario = "thumbnails.toml"
//! arrivals_from = "ingest"                # its own arrivals are replaced
//! arrivals_scale = 2.0                    # messages per upstream message
//! ```

mod run;
mod stage;

pub use run::{BudgetLine, MultiSummary, ServiceLine, ServiceOutcome};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use stepscale_engine::budget::{self, BudgetSpec};

use crate::run::{Backtest, BacktestError, Overrides};
use crate::scenario::ScenarioError;

/// One `[[services]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceEntry {
    /// The service's name: in outputs, budgets and `arrivals_from`.
    pub name: String,
    /// Its scenario, relative to the services file.
    pub scenario: PathBuf,
    /// The service whose completions are this one's arrivals.
    #[serde(default)]
    pub arrivals_from: Option<String>,
    /// Messages this service gets per message the upstream service completes.
    #[serde(default = "one")]
    pub arrivals_scale: f64,
}

fn one() -> f64 {
    1.0
}

/// A services file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServicesFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    services: Vec<ServiceEntry>,
    #[serde(default)]
    budget: Vec<BudgetSpec>,
}

/// Whether `path` is a services file (it has `[[services]]`) rather than one scenario.
#[must_use]
pub fn is_services_file(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .is_some_and(|t| t.contains_key("services"))
}

/// Checks the shape of a services file's text (its keys and types, at least one service),
/// without loading the scenarios it names.
///
/// # Errors
/// What is wrong, as TOML parsing or the first rule says it.
pub fn check_text(text: &str) -> Result<(), String> {
    let file: ServicesFile = toml::from_str(text).map_err(|e| e.message().to_string())?;
    if file.services.is_empty() {
        return Err("no [[services]] table".into());
    }
    Ok(())
}

/// A services file ready to run.
#[derive(Debug, Clone)]
pub struct MultiBacktest {
    /// The file.
    pub path: PathBuf,
    /// Its name.
    pub name: String,
    /// The services, as listed.
    pub services: Vec<ServiceEntry>,
    /// Each service's backtest, as listed.
    pub backtests: Vec<Backtest>,
    /// The budgets.
    pub budgets: Vec<BudgetSpec>,
}

/// Names that can be part of a file name.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl MultiBacktest {
    /// Loads `path` and every scenario it names (with `seed` replacing each scenario's seed).
    ///
    /// # Errors
    /// A broken rule of the file (naming the key, the value and the rule), or of a scenario.
    pub fn prepare(path: &Path, seed: Option<u64>) -> Result<Self, BacktestError> {
        let invalid = |key: String, value: String, rule: &str| {
            BacktestError::Scenario(ScenarioError::Invalid {
                path: path.to_path_buf(),
                key,
                value,
                rule: rule.into(),
            })
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            BacktestError::Scenario(ScenarioError::Invalid {
                path: path.to_path_buf(),
                key: "(file)".into(),
                value: path.display().to_string(),
                rule: format!("cannot be read: {e}"),
            })
        })?;
        let file: ServicesFile = toml::from_str(&text).map_err(|e| {
            invalid(
                "(file)".into(),
                path.display().to_string(),
                &format!("is not a valid services file: {}", e.message()),
            )
        })?;
        if file.services.is_empty() {
            return Err(invalid(
                "services".into(),
                "[]".into(),
                "a services file needs at least one [[services]] table",
            ));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let mut names = BTreeSet::new();
        let mut backtests = Vec::new();
        for (i, s) in file.services.iter().enumerate() {
            if !plain_name(&s.name) {
                return Err(invalid(
                    format!("services[{i}].name"),
                    format!("{:?}", s.name),
                    "must be 1 to 64 letters, digits, '-' or '_' (it names the output files)",
                ));
            }
            if !names.insert(s.name.as_str()) {
                return Err(invalid(
                    format!("services[{i}].name"),
                    s.name.clone(),
                    "names another service too: each needs its own name",
                ));
            }
            if !(s.arrivals_scale.is_finite() && s.arrivals_scale >= 0.0) {
                return Err(invalid(
                    format!("services[{i}].arrivals_scale"),
                    s.arrivals_scale.to_string(),
                    "must be a number of at least 0",
                ));
            }
            let overrides = Overrides {
                seed,
                ..Overrides::default()
            };
            backtests.push(Backtest::prepare(&base.join(&s.scenario), &overrides)?);
        }
        for (i, s) in file.services.iter().enumerate() {
            if let Some(from) = &s.arrivals_from {
                if from == &s.name || !names.contains(from.as_str()) {
                    return Err(invalid(
                        format!("services[{i}].arrivals_from"),
                        from.clone(),
                        "must name another service of this file",
                    ));
                }
            } else if (s.arrivals_scale - 1.0).abs() > f64::EPSILON {
                return Err(invalid(
                    format!("services[{i}].arrivals_scale"),
                    s.arrivals_scale.to_string(),
                    "scales the arrivals from another service: set arrivals_from too",
                ));
            }
        }
        let multi = Self {
            path: path.to_path_buf(),
            name: file.name.unwrap_or_else(|| {
                path.file_stem()
                    .map_or_else(|| "services".into(), |n| n.to_string_lossy().into_owned())
            }),
            services: file.services,
            backtests,
            budgets: file.budget,
        };
        multi.order()?;
        multi.check_budgets()?;
        Ok(multi)
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.services.iter().position(|s| s.name == name)
    }

    /// The services in an order where every upstream comes before its downstream.
    ///
    /// # Errors
    /// When `arrivals_from` makes a circle.
    pub fn order(&self) -> Result<Vec<usize>, BacktestError> {
        let mut done = vec![false; self.services.len()];
        let mut order = Vec::new();
        while order.len() < self.services.len() {
            let before = order.len();
            for (i, s) in self.services.iter().enumerate() {
                let ready = s
                    .arrivals_from
                    .as_deref()
                    .and_then(|f| self.index(f))
                    .is_none_or(|u| done[u]);
                if !done[i] && ready {
                    done[i] = true;
                    order.push(i);
                }
            }
            if order.len() == before {
                let i = done.iter().position(|d| !d).unwrap_or(0);
                return Err(BacktestError::Scenario(ScenarioError::Invalid {
                    path: self.path.clone(),
                    key: format!("services[{i}].arrivals_from"),
                    value: self.services[i].arrivals_from.clone().unwrap_or_default(),
                    rule: "makes a circle of services each fed by the next: a pipeline must \
                           have a first stage"
                        .into(),
                }));
            }
        }
        Ok(order)
    }

    /// Whether service `i` is in a pipeline (fed by another, or feeding one).
    fn in_pipeline(&self, i: usize) -> bool {
        let name = &self.services[i].name;
        self.services[i].arrivals_from.is_some()
            || self
                .services
                .iter()
                .any(|s| s.arrivals_from.as_deref() == Some(name.as_str()))
    }

    fn check_budgets(&self) -> Result<(), BacktestError> {
        let invalid = |key: String, value: String, rule: String| {
            BacktestError::Scenario(ScenarioError::Invalid {
                path: self.path.clone(),
                key,
                value,
                rule,
            })
        };
        let min_tasks: BTreeMap<&str, u32> = self
            .services
            .iter()
            .zip(&self.backtests)
            .map(|(s, b)| (s.name.as_str(), b.config.guards.min_tasks))
            .collect();
        budget::validate(&self.budgets, |s| min_tasks.get(s).copied()).map_err(|e| match e {
            stepscale_engine::ConfigError::Invalid { key, value, rule } => {
                invalid(key, value, rule)
            }
            other => invalid("budget".into(), String::new(), other.to_string()),
        })?;
        for (i, b) in self.budgets.iter().enumerate() {
            let mut used = 0.0;
            for (j, m) in b.members.iter().enumerate() {
                let Some(k) = self.index(&m.service) else {
                    continue;
                };
                if self.in_pipeline(k) {
                    return Err(invalid(
                        format!("budget[{i}].members[{j}].service"),
                        m.service.clone(),
                        "is a pipeline stage, and a budget over pipeline stages is not \
                         supported yet: budget services that are not fed by, and do not feed, \
                         another"
                            .into(),
                    ));
                }
                used += f64::from(self.backtests[k].prepared.initial_tasks) * m.vcpu.unwrap_or(1.0);
            }
            let capacity = b.capacity();
            if used > capacity + 1e-9 {
                return Err(invalid(
                    format!("budget[{i}]"),
                    b.name.clone(),
                    format!(
                        "the members start with {used} {} (their scenarios' plant.initial_tasks, \
                         or min_tasks), over the budget's {capacity}: lower them or raise the \
                         budget",
                        b.unit()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The files the run reads.
    #[must_use]
    pub fn inputs(&self) -> Vec<PathBuf> {
        let mut v = vec![self.path.clone()];
        for b in &self.backtests {
            v.extend(b.inputs());
        }
        v
    }
}
