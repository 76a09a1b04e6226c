//! The objective (a numeric `summary.json` key, minimised) and the constraints over summary keys.

use serde::{Deserialize, Serialize};

use crate::summary::Summary;

/// A comparison in a constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// `<=`
    Le,
    /// `<`
    Lt,
    /// `>=`
    Ge,
    /// `>`
    Gt,
}

impl Op {
    /// The operator as written.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Le => "<=",
            Self::Lt => "<",
            Self::Ge => ">=",
            Self::Gt => ">",
        }
    }

    /// Whether smaller values are better for this bound.
    #[must_use]
    pub fn upper(self) -> bool {
        matches!(self, Self::Le | Self::Lt)
    }
}

/// `KEY <= VALUE` and its kin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Constraint {
    /// The summary key.
    pub key: String,
    /// The comparison.
    pub op: Op,
    /// The bound.
    pub value: f64,
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.key, self.op.as_str(), self.value)
    }
}

/// The objective and the constraints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Goals {
    /// The key minimised.
    pub objective: String,
    /// All must hold.
    pub constraints: Vec<Constraint>,
}

/// The numeric keys of `summary.json`.
#[must_use]
pub fn numeric_keys() -> Vec<String> {
    match serde_json::to_value(Summary::default()) {
        Ok(serde_json::Value::Object(m)) => m
            .into_iter()
            .filter(|(_, v)| v.is_number())
            .map(|(k, _)| k)
            .collect(),
        _ => Vec::new(),
    }
}

fn check_key(key: &str, what: &str) -> Result<(), String> {
    let keys = numeric_keys();
    if keys.iter().any(|k| k == key) {
        Ok(())
    } else {
        Err(format!(
            "{what} `{key}` is not a numeric key of summary.json; the keys are: {}",
            keys.join(", ")
        ))
    }
}

impl Constraint {
    /// Parses `KEY<=VALUE` (also `<`, `>=`, `>`; spaces allowed).
    pub fn parse(text: &str) -> Result<Self, String> {
        let ops = [("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)];
        let Some((at, op_text, op)) = ops
            .iter()
            .filter_map(|(t, op)| text.find(t).map(|i| (i, *t, *op)))
            .min_by_key(|(i, t, _)| (*i, std::cmp::Reverse(t.len())))
        else {
            return Err("expected KEY<=VALUE, KEY>=VALUE, KEY<VALUE or KEY>VALUE".into());
        };
        let key = text[..at].trim();
        let value_text = text[at + op_text.len()..].trim();
        check_key(key, "constraint key")?;
        let value: f64 = value_text
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| format!("the bound {value_text:?} is not a finite number"))?;
        Ok(Self {
            key: key.to_string(),
            op,
            value,
        })
    }

    /// Whether `x` meets the bound.
    #[must_use]
    pub fn holds(&self, x: f64) -> bool {
        match self.op {
            Op::Le => x <= self.value,
            Op::Lt => x < self.value,
            Op::Ge => x >= self.value,
            Op::Gt => x > self.value,
        }
    }

    /// How far `x` misses the bound, relative to it (0 when it holds).
    #[must_use]
    pub fn violation(&self, x: f64) -> f64 {
        if self.holds(x) {
            return 0.0;
        }
        (x - self.value).abs() / self.value.abs().max(1e-9)
    }
}

impl Goals {
    /// Checks the objective key.
    pub fn new(objective: &str, constraints: Vec<Constraint>) -> Result<Self, String> {
        check_key(objective, "objective")?;
        Ok(Self {
            objective: objective.to_string(),
            constraints,
        })
    }

    /// The keys a result row reports: the objective, each constraint's key, then cost, p99
    /// wait and direction flips; each once.
    #[must_use]
    pub fn report_keys(&self) -> Vec<String> {
        let mut keys = vec![self.objective.clone()];
        for c in &self.constraints {
            keys.push(c.key.clone());
        }
        for k in [
            "cost_usd",
            "wait_p99_s",
            "slo_violation_s",
            "direction_flips",
        ] {
            keys.push(k.to_string());
        }
        let mut seen = std::collections::BTreeSet::new();
        keys.retain(|k| seen.insert(k.clone()));
        keys
    }

    /// The key drawn against the objective: the first constraint's, else p99 wait.
    #[must_use]
    pub fn trade_off_key(&self) -> (String, bool) {
        self.constraints
            .first()
            .map_or(("wait_p99_s".to_string(), true), |c| {
                (c.key.clone(), c.op.upper())
            })
    }
}

/// A summary's value for `key` (0 for a key it does not have, which `Goals` refuses up front).
#[must_use]
pub fn value(s: &Summary, key: &str) -> f64 {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.get(key).and_then(serde_json::Value::as_f64))
        .unwrap_or(0.0)
}

/// Figures over seeds: the mean, and the worst for a bound (`upper`: the largest).
#[must_use]
pub fn over_seeds(ss: &[Summary], key: &str) -> (f64, f64, f64) {
    let vals: Vec<f64> = ss.iter().map(|s| value(s, key)).collect();
    let n = vals.len().max(1) as f64;
    let mean = vals.iter().sum::<f64>() / n;
    let max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
    (mean, min, max)
}

/// How a candidate scores on a set of summaries (one per seed).
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// The objective, averaged over seeds.
    pub objective: f64,
    /// Whether every constraint holds on the worst seed.
    pub feasible: bool,
    /// Summed relative violation on the worst seed (0 when feasible).
    pub violation: f64,
}

impl Goals {
    /// Scores summaries; `None` for none (an invalid candidate).
    #[must_use]
    pub fn score(&self, ss: &[Summary]) -> Option<Score> {
        if ss.is_empty() {
            return None;
        }
        let objective = over_seeds(ss, &self.objective).0;
        let mut violation = 0.0;
        for c in &self.constraints {
            let (_, min, max) = over_seeds(ss, &c.key);
            violation += c.violation(if c.op.upper() { max } else { min });
        }
        Some(Score {
            objective,
            feasible: violation == 0.0,
            violation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_parse_and_bad_keys_are_named() {
        let c = Constraint::parse("wait_p99_s<=30").unwrap();
        assert_eq!(
            (c.key.as_str(), c.op, c.value),
            ("wait_p99_s", Op::Le, 30.0)
        );
        let c = Constraint::parse(" direction_flips > 2.5 ").unwrap();
        assert_eq!(c.op, Op::Gt);
        assert!(Constraint::parse("wait_p999<=3")
            .unwrap_err()
            .contains("`wait_p999` is not a numeric key"));
        assert!(Constraint::parse("scenario<=3").is_err());
        assert!(Constraint::parse("wait_p99_s=3").is_err());
        assert!(Constraint::parse("wait_p99_s<=abc").is_err());
        assert!(Goals::new("costs", vec![]).is_err());
    }

    #[test]
    fn worst_seed_decides_and_mean_is_the_objective() {
        let goals = Goals::new(
            "cost_usd",
            vec![Constraint::parse("wait_p99_s<=10").unwrap()],
        )
        .unwrap();
        let a = Summary {
            cost_usd: 1.0,
            wait_p99_s: 5.0,
            ..Summary::default()
        };
        let b = Summary {
            cost_usd: 3.0,
            wait_p99_s: 12.0,
            ..Summary::default()
        };
        let s = goals.score(&[a.clone(), b]).unwrap();
        assert!((s.objective - 2.0).abs() < 1e-12);
        assert!(!s.feasible);
        assert!(goals.score(&[a]).unwrap().feasible);
    }
}
