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
    /// `==` (for a boolean key: `drained==true`)
    Eq,
    /// `!=`
    Ne,
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
            Self::Eq => "==",
            Self::Ne => "!=",
        }
    }

    /// Whether smaller values are better for this bound.
    #[must_use]
    pub fn upper(self) -> bool {
        matches!(self, Self::Le | Self::Lt)
    }

    /// Whether this is a bound (`<`, `<=`, `>`, `>=`), which a plot can draw a trade-off
    /// against, rather than an equality.
    #[must_use]
    pub fn is_bound(self) -> bool {
        !matches!(self, Self::Eq | Self::Ne)
    }
}

/// The operators a constraint accepts, as written; `==` and `!=` also take `true` or `false`.
pub const OPERATORS: &str = "<=, <, >=, >, == or !=";

/// `KEY <= VALUE` and its kin; a boolean key's value is 1 for true and 0 for false.
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
        if boolean_keys().contains(&self.key) {
            write!(f, "{} {} {}", self.key, self.op.as_str(), self.value != 0.0)
        } else {
            write!(f, "{} {} {}", self.key, self.op.as_str(), self.value)
        }
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

/// The keys of `summary.json` whose values pass `kind`.
fn summary_keys(kind: fn(&serde_json::Value) -> bool) -> Vec<String> {
    match serde_json::to_value(Summary::default()) {
        Ok(serde_json::Value::Object(m)) => m
            .into_iter()
            .filter(|(_, v)| kind(v))
            .map(|(k, _)| k)
            .collect(),
        _ => Vec::new(),
    }
}

/// The numeric keys of `summary.json`.
#[must_use]
pub fn numeric_keys() -> Vec<String> {
    summary_keys(serde_json::Value::is_number)
}

/// The boolean keys of `summary.json` (`drained`), usable with `==` and `!=`.
#[must_use]
pub fn boolean_keys() -> Vec<String> {
    summary_keys(serde_json::Value::is_boolean)
}

/// Of points `(x, objective, id)` with x oriented so that smaller is better, the ids of those
/// no other point beats on both, in order of x: the Pareto front. The caller chooses which
/// points take part (the feasible ones).
#[must_use]
pub fn front(mut points: Vec<(f64, f64, usize)>) -> Vec<usize> {
    points.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then(a.1.total_cmp(&b.1))
            .then(a.2.cmp(&b.2))
    });
    let mut out = Vec::new();
    let mut best_y = f64::INFINITY;
    for (_, y, id) in points {
        if y < best_y {
            best_y = y;
            out.push(id);
        }
    }
    out
}

fn check_key(key: &str, what: &str) -> Result<(), String> {
    let keys = numeric_keys();
    if keys.iter().any(|k| k == key) {
        return Ok(());
    }
    let hint = crate::suggest::nearest(key, &keys)
        .map(|k| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default();
    Err(format!(
        "{what} `{key}` is not a numeric key of summary.json{hint}; the keys are: {}",
        keys.join(", ")
    ))
}

impl Constraint {
    /// Parses `KEY<=VALUE` (also `<`, `>=`, `>`, `==`, `!=`; spaces allowed). A boolean key
    /// (`drained`) takes `==` or `!=` and `true` or `false`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let ops = [
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<", Op::Lt),
            (">", Op::Gt),
        ];
        let Some((at, op_text, op)) = ops
            .iter()
            .filter_map(|(t, op)| text.find(t).map(|i| (i, *t, *op)))
            .min_by_key(|(i, t, _)| (*i, std::cmp::Reverse(t.len())))
        else {
            return Err(format!(
                "no operator: a constraint is KEY, an operator ({OPERATORS}) and a value, \
                 as in wait_p99_s<=30 or drained==true"
            ));
        };
        let key = text[..at].trim();
        let value_text = text[at + op_text.len()..].trim();
        if let Some(stray) = value_text.chars().next().filter(|c| "<>=!".contains(*c)) {
            return Err(format!(
                "`{op_text}{stray}` is not an operator: use one of {OPERATORS}"
            ));
        }
        if key.ends_with(['=', '!']) {
            return Err(format!(
                "`{}{op_text}` is not an operator: use one of {OPERATORS}",
                &key[key.len() - 1..]
            ));
        }
        if boolean_keys().iter().any(|k| k == key) {
            if !matches!(op, Op::Eq | Op::Ne) {
                return Err(format!(
                    "`{key}` is true or false: compare it with == or != (as in {key}==true)"
                ));
            }
            let value = match value_text {
                "true" => 1.0,
                "false" => 0.0,
                other => {
                    return Err(format!(
                        "`{key}` is true or false, not {other:?}: write {key}==true or {key}==false"
                    ))
                }
            };
            return Ok(Self {
                key: key.to_string(),
                op,
                value,
            });
        }
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

    /// The constraint every search has unless the user constrains `drained` themselves: a
    /// candidate whose run was cut off with messages still waiting reports waits only for the
    /// messages it served, so it must not win on its waits.
    #[must_use]
    pub fn drained() -> Self {
        Self {
            key: "drained".to_string(),
            op: Op::Eq,
            value: 1.0,
        }
    }

    /// Whether `x` meets the bound.
    #[must_use]
    pub fn holds(&self, x: f64) -> bool {
        match self.op {
            Op::Le => x <= self.value,
            Op::Lt => x < self.value,
            Op::Ge => x >= self.value,
            Op::Gt => x > self.value,
            // Exact: booleans are 0 or 1 and counts are whole.
            Op::Eq => x.total_cmp(&self.value).is_eq(),
            Op::Ne => x.total_cmp(&self.value).is_ne(),
        }
    }

    /// How far `x` misses the bound, relative to it (0 when it holds).
    #[must_use]
    pub fn violation(&self, x: f64) -> f64 {
        if self.holds(x) {
            return 0.0;
        }
        match self.op {
            // A boolean or an exact count that differs: one whole miss.
            Op::Eq | Op::Ne => 1.0,
            _ => (x - self.value).abs() / self.value.abs().max(1e-9),
        }
    }
}

impl Goals {
    /// Checks the objective key, and adds `drained == true` unless a constraint names
    /// `drained` already (`--constraint drained==false` or `drained!=true` lifts it).
    pub fn new(objective: &str, mut constraints: Vec<Constraint>) -> Result<Self, String> {
        check_key(objective, "objective")?;
        if !constraints.iter().any(|c| c.key == "drained") {
            constraints.push(Constraint::drained());
        }
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

    /// The first bound (a `<`, `<=`, `>` or `>=` constraint): what the Pareto plot draws
    /// against the objective.
    #[must_use]
    pub fn trade_off_constraint(&self) -> Option<&Constraint> {
        self.constraints.iter().find(|c| c.op.is_bound())
    }

    /// The key drawn against the objective: the first bound's, else p99 wait.
    #[must_use]
    pub fn trade_off_key(&self) -> (String, bool) {
        self.trade_off_constraint()
            .map_or(("wait_p99_s".to_string(), true), |c| {
                (c.key.clone(), c.op.upper())
            })
    }
}

/// A summary's value for `key`, a boolean as 1 or 0 (0 for a key it does not have, which
/// `Goals` refuses up front).
#[must_use]
pub fn value(s: &Summary, key: &str) -> f64 {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| {
            v.get(key).and_then(|x| {
                x.as_f64()
                    .or_else(|| x.as_bool().map(|b| if b { 1.0 } else { 0.0 }))
            })
        })
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
            // The worst seed's miss.
            violation += ss
                .iter()
                .map(|s| c.violation(value(s, &c.key)))
                .fold(0.0, f64::max);
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
        let e = Constraint::parse("wait_p99_s=<30").unwrap_err();
        assert!(
            e.contains("`=<` is not an operator") && e.contains(OPERATORS),
            "{e}"
        );
        let e = Constraint::parse("wait_p99_s=3").unwrap_err();
        assert!(e.contains("no operator") && e.contains(OPERATORS), "{e}");
        let e = Constraint::parse("wait_p99<=3").unwrap_err();
        assert!(e.contains("did you mean `wait_p99_s`?"), "{e}");
        let c = Constraint::parse("drained==true").unwrap();
        assert_eq!((c.op, c.value), (Op::Eq, 1.0));
        assert_eq!(c.to_string(), "drained == true");
        assert!(Constraint::parse("drained<=1")
            .unwrap_err()
            .contains("== or !="));
        assert!(Constraint::parse("drained==yes").is_err());
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
            drained: true,
            ..Summary::default()
        };
        let b = Summary {
            cost_usd: 3.0,
            wait_p99_s: 12.0,
            drained: true,
            ..Summary::default()
        };
        let s = goals.score(&[a.clone(), b]).unwrap();
        assert!((s.objective - 2.0).abs() < 1e-12);
        assert!(!s.feasible);
        assert!(goals.score(std::slice::from_ref(&a)).unwrap().feasible);
        // A run cut off with messages waiting is infeasible, however short its waits...
        let cut_off = Summary {
            drained: false,
            ..a.clone()
        };
        assert!(
            !goals
                .score(std::slice::from_ref(&cut_off))
                .unwrap()
                .feasible
        );
        assert!(!goals.score(&[a, cut_off.clone()]).unwrap().feasible);
        // ...unless the user says otherwise.
        let lifted = Goals::new(
            "cost_usd",
            vec![
                Constraint::parse("wait_p99_s<=10").unwrap(),
                Constraint::parse("drained==false").unwrap(),
            ],
        )
        .unwrap();
        assert_eq!(lifted.constraints.len(), 2);
        assert!(lifted.score(&[cut_off]).unwrap().feasible);
    }
}
