//! `script`: a scaling rule written in Rhai, sandboxed (no files, no modules, no clock of its
//! own, a budget of operations and sizes), given what every policy sees and a small state map
//! that persists between decisions. A script that fails in any way holds the count.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use rhai::{Dynamic, Engine, Map, Scope, AST};
use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::decision::{Limit, Reason};
use crate::estimator::Flow;
use crate::state::{ScalerState, StateValue};

/// The most operations a decision may take by default (a few thousand is a large rule).
pub const DEFAULT_MAX_OPERATIONS: u64 = 100_000;
/// The most entries the state map may hold.
pub const MAX_STATE_ENTRIES: usize = 64;
/// The most items a list in the state may hold.
pub const MAX_STATE_LIST: usize = 1_024;

/// Parameters of the `script` policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScriptParams {
    /// The Rhai source. Its value is the decision: a whole number of tasks, or a map
    /// `#{ desired: N, reason: "..." }`.
    pub source: String,
    /// Numbers the script reads as `params.NAME`; a tune space can search them.
    pub params: BTreeMap<String, f64>,
    /// Count in-flight messages in `backlog` (default true).
    pub include_in_flight: bool,
    /// The most operations one decision may take (default 100,000).
    pub max_operations: u64,
    /// The compiled script, built on first use and shared by clones.
    #[serde(skip)]
    runtime: Arc<OnceLock<Result<Runtime, String>>>,
}

impl Default for ScriptParams {
    fn default() -> Self {
        Self {
            source: String::new(),
            params: BTreeMap::new(),
            include_in_flight: true,
            max_operations: DEFAULT_MAX_OPERATIONS,
            runtime: Arc::default(),
        }
    }
}

impl PartialEq for ScriptParams {
    /// Equal when written the same: the compiled form is a cache.
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
            && self.params == other.params
            && self.include_in_flight == other.include_in_flight
            && self.max_operations == other.max_operations
    }
}

/// The sandboxed interpreter and the compiled script.
struct Runtime {
    engine: Engine,
    ast: AST,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Runtime")
    }
}

/// What a script sees, besides its params and state.
#[derive(Debug, Clone, Copy)]
pub struct ScriptInput<'a> {
    /// The policy's backlog metric (the sources combined).
    pub backlog: f64,
    /// The sources' flow: visible, in flight, arrival rate, oldest age.
    pub flow: &'a Flow,
    /// Whether every source was read.
    pub complete: bool,
    /// Running tasks.
    pub running: u32,
    /// Pending tasks.
    pub pending: u32,
    /// The desired count before this decision.
    pub desired: u32,
    /// The capacity already ordered: the desired count, or running + pending when that is
    /// higher.
    pub current: u32,
    /// Now, epoch milliseconds.
    pub now_ms: Millis,
}

fn sandbox(max_operations: u64) -> Engine {
    let mut engine = Engine::new();
    engine.set_max_operations(max_operations.max(1));
    engine.set_max_call_levels(32);
    engine.set_max_expr_depths(64, 32);
    engine.set_max_string_size(4_096);
    engine.set_max_array_size(4_096);
    engine.set_max_map_size(256);
    engine.set_max_variables(256);
    engine.set_max_functions(64);
    // `eval` would compile code at run time, past the limits above.
    engine.disable_symbol("eval");
    // Printing goes to the log, never to stdout (the Lambda's and `decide`'s output).
    engine.on_print(|text| tracing::debug!(script = text, "Script printed."));
    engine.on_debug(|text, _, _| tracing::debug!(script = text, "Script debug."));
    engine
}

impl ScriptParams {
    /// A script with its params and the other settings' defaults.
    #[must_use]
    pub fn new(source: impl Into<String>, params: BTreeMap<String, f64>) -> Self {
        Self {
            source: source.into(),
            params,
            ..Self::default()
        }
    }

    fn runtime(&self) -> &Result<Runtime, String> {
        self.runtime.get_or_init(|| {
            let engine = sandbox(self.max_operations);
            let ast = engine.compile(&self.source).map_err(|e| e.to_string())?;
            Ok(Runtime { engine, ast })
        })
    }

    /// Compiles the script: its syntax error, if any, with the line and column.
    pub fn check(&self) -> Result<(), String> {
        if self.source.trim().is_empty() {
            return Err("the script is empty".into());
        }
        self.runtime().as_ref().map(|_| ()).map_err(Clone::clone)
    }

    /// The script's decision; any failure (an error, too many operations, a value that is
    /// no count, a state it cannot keep) is logged and holds the desired count (not
    /// `current`, which can be above it while stopped tasks drain: holding that would scale
    /// out).
    pub fn recommend(
        &self,
        input: &ScriptInput<'_>,
        state: &mut ScalerState,
    ) -> (u32, Reason, Option<Limit>) {
        match self.run(input, state) {
            Ok(tasks) => (tasks, Reason::Script { tasks }, None),
            Err(error) => {
                tracing::warn!(
                    error = %error,
                    holding = input.desired,
                    "The script policy failed: holding."
                );
                (
                    input.desired,
                    Reason::ScriptFailed {
                        holding: input.desired,
                    },
                    None,
                )
            }
        }
    }

    fn run(&self, input: &ScriptInput<'_>, state: &mut ScalerState) -> Result<u32, String> {
        let runtime = self.runtime().as_ref().map_err(Clone::clone)?;
        let mut scope = Scope::new();
        let flow = input.flow;
        scope.push_constant("backlog", input.backlog);
        scope.push_constant("visible", to_int(flow.visible));
        scope.push_constant("in_flight", to_int(flow.in_flight));
        scope.push_constant(
            "arrival_rate",
            flow.arrival_rate_per_s.map_or(Dynamic::UNIT, Dynamic::from),
        );
        scope.push_constant(
            "oldest_age_s",
            flow.oldest_age_ms
                .map_or(Dynamic::UNIT, |ms| Dynamic::from(ms as f64 / 1000.0)),
        );
        scope.push_constant("complete", input.complete);
        scope.push_constant("running", i64::from(input.running));
        scope.push_constant("pending", i64::from(input.pending));
        scope.push_constant("desired", i64::from(input.desired));
        scope.push_constant("current", i64::from(input.current));
        scope.push_constant("now_ms", input.now_ms);
        let params: Map = self
            .params
            .iter()
            .map(|(k, v)| (k.as_str().into(), Dynamic::from(*v)))
            .collect();
        scope.push_constant("params", params);
        let kept: Map = state
            .script
            .iter()
            .flat_map(|m| m.iter())
            .map(|(k, v)| (k.as_str().into(), to_dynamic(v)))
            .collect();
        scope.push("state", kept);
        let value: Dynamic = runtime
            .engine
            .eval_ast_with_scope(&mut scope, &runtime.ast)
            .map_err(|e| e.to_string())?;
        let tasks = tasks_of(&value)?;
        // The state is kept only when the decision stands.
        let new_state = scope
            .get_value::<Map>("state")
            .ok_or("`state` is no longer a map")?;
        let new_state = state_of(new_state)?;
        state.script = (!new_state.is_empty()).then(|| Box::new(new_state));
        Ok(tasks)
    }
}

fn to_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_dynamic(v: &StateValue) -> Dynamic {
    match v {
        StateValue::Bool(b) => Dynamic::from(*b),
        StateValue::Int(i) => Dynamic::from(*i),
        StateValue::Float(f) => Dynamic::from(*f),
        StateValue::Text(s) => Dynamic::from(s.clone()),
        StateValue::List(items) => Dynamic::from_array(items.iter().map(to_dynamic).collect()),
    }
}

/// The task count a script's value gives: a whole number >= 0 (an integer, or a float with no
/// fraction), alone or as `desired` in a map.
fn tasks_of(value: &Dynamic) -> Result<u32, String> {
    let value = match value.read_lock::<Map>() {
        Some(map) => map
            .get("desired")
            .cloned()
            .ok_or("the script returned a map without `desired`")?,
        None => value.clone(),
    };
    let n = if let Some(i) = value.clone().try_cast::<i64>() {
        i as f64
    } else if let Some(f) = value.clone().try_cast::<f64>() {
        f
    } else {
        return Err(format!(
            "the script returned {} ({}), not a number of tasks",
            value,
            value.type_name()
        ));
    };
    if !n.is_finite() || n < 0.0 || n.fract() != 0.0 || n > f64::from(u32::MAX) {
        return Err(format!(
            "the script returned {n}: a number of tasks is a whole number >= 0"
        ));
    }
    Ok(n as u32)
}

fn state_of(map: Map) -> Result<BTreeMap<String, StateValue>, String> {
    if map.len() > MAX_STATE_ENTRIES {
        return Err(format!(
            "the state holds {} entries; at most {MAX_STATE_ENTRIES}",
            map.len()
        ));
    }
    map.into_iter()
        .map(|(k, v)| {
            let value = if let Some(items) = v.clone().try_cast::<rhai::Array>() {
                if items.len() > MAX_STATE_LIST {
                    return Err(format!(
                        "state.{k} holds {} items; a list keeps at most {MAX_STATE_LIST}",
                        items.len()
                    ));
                }
                StateValue::List(
                    items
                        .iter()
                        .map(|item| scalar(&k, item))
                        .collect::<Result<_, _>>()?,
                )
            } else {
                scalar(&k, &v)?
            };
            Ok((k.to_string(), value))
        })
        .collect()
}

/// A number, boolean or text the state can keep.
fn scalar(key: &str, v: &Dynamic) -> Result<StateValue, String> {
    if let Some(b) = v.clone().try_cast::<bool>() {
        Ok(StateValue::Bool(b))
    } else if let Some(i) = v.clone().try_cast::<i64>() {
        Ok(StateValue::Int(i))
    } else if let Some(f) = v.clone().try_cast::<f64>() {
        if f.is_finite() {
            Ok(StateValue::Float(f))
        } else {
            Err(format!(
                "state.{key} holds {f}: the state keeps finite numbers"
            ))
        }
    } else if let Ok(s) = v.clone().into_string() {
        Ok(StateValue::Text(s))
    } else {
        Err(format!(
            "state.{key} holds a {}: the state keeps numbers, booleans, text and lists of them",
            v.type_name()
        ))
    }
}
