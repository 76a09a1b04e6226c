//! Shared budgets: a cap on the summed desired count (or vCPU) of several services, applied as
//! the last guard after each service's own decision, the higher priority winning when it binds.
//!
//! Each service still decides alone and purely. The budget then caps its decision at what the
//! other members leave: a member of *higher* priority leaves out the larger of its desired
//! count and the count it last wanted; any other member leaves out its desired count. So a
//! service of lower priority gives way at its own next decision (it is scaled in if need be,
//! cooldowns or not), and the higher one takes the freed room at its next decision. No member is
//! cut below its `min_tasks`, and the members' `min_tasks` must fit the budget, so once every
//! member has decided once the sum of desired counts never exceeds the budget. A cut decision
//! says `limited_by = budget`.

use serde::Deserialize;

use crate::clock::Clock;
use crate::config::ConfigError;
use crate::controller::Controller;
use crate::decision::Decision;
use crate::observation::{Reading, ServiceState};
use crate::state::ScalerState;

/// One `[[budget]]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    /// The budget's name, in logs and outputs.
    pub name: String,
    /// The most tasks the members may want together.
    #[serde(default)]
    pub max_tasks: Option<u32>,
    /// The most vCPU the members may want together (each member states `vcpu` per task).
    #[serde(default)]
    pub max_vcpu: Option<f64>,
    /// The services under it.
    #[serde(default)]
    pub members: Vec<MemberSpec>,
}

/// One service under a budget.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSpec {
    /// The service's name: the ECS service name live, the `[[services]]` name in a simulation.
    pub service: String,
    /// Higher wins when the budget binds; members of equal priority keep what they hold.
    #[serde(default)]
    pub priority: i32,
    /// vCPU per task (required by, and only allowed with, `max_vcpu`).
    #[serde(default)]
    pub vcpu: Option<f64>,
}

/// A file of `[[budget]]` tables (`stepscale run --budget FILE`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetsFile {
    /// The budgets.
    #[serde(default)]
    pub budget: Vec<BudgetSpec>,
}

impl BudgetSpec {
    /// What the budget holds, in its unit (tasks or vCPU).
    #[must_use]
    pub fn capacity(&self) -> f64 {
        match (self.max_tasks, self.max_vcpu) {
            (Some(t), _) => f64::from(t),
            (None, Some(v)) => v,
            (None, None) => 0.0,
        }
    }

    /// `tasks` or `vCPU`.
    #[must_use]
    pub fn unit(&self) -> &'static str {
        if self.max_tasks.is_some() {
            "tasks"
        } else {
            "vCPU"
        }
    }
}

/// Checks `specs` against the services of the run: `min_tasks(service)` is the service's
/// `min_tasks`, none when no such service runs.
///
/// # Errors
/// The first broken rule, naming the key (`budget[i].…`), the value and the rule.
pub fn validate(
    specs: &[BudgetSpec],
    min_tasks: impl Fn(&str) -> Option<u32>,
) -> Result<(), ConfigError> {
    let mut names = std::collections::BTreeSet::new();
    for (i, b) in specs.iter().enumerate() {
        let key = |k: &str| format!("budget[{i}].{k}");
        if b.name.trim().is_empty() {
            return Err(ConfigError::invalid(
                key("name"),
                "\"\"",
                "must not be empty",
            ));
        }
        if !names.insert(b.name.as_str()) {
            return Err(ConfigError::invalid(
                key("name"),
                &b.name,
                "names another budget too: each budget needs its own name",
            ));
        }
        match (b.max_tasks, b.max_vcpu) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(ConfigError::invalid(
                    key("max_tasks"),
                    b.max_tasks.map_or("none".into(), |t| t.to_string()),
                    "give exactly one of max_tasks and max_vcpu",
                ))
            }
            (Some(0), None) => {
                return Err(ConfigError::invalid(
                    key("max_tasks"),
                    0,
                    "must be at least 1: a budget of no tasks would stop every member",
                ))
            }
            (None, Some(v)) if !(v.is_finite() && v > 0.0) => {
                return Err(ConfigError::invalid(
                    key("max_vcpu"),
                    v,
                    "must be a positive number",
                ))
            }
            _ => {}
        }
        if b.members.is_empty() {
            return Err(ConfigError::invalid(
                key("members"),
                "[]",
                "a budget needs at least one member ([[budget.members]] with service = ...)",
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut reserved = 0.0;
        for (j, m) in b.members.iter().enumerate() {
            let mkey = |k: &str| format!("budget[{i}].members[{j}].{k}");
            let Some(min) = min_tasks(&m.service) else {
                return Err(ConfigError::invalid(
                    mkey("service"),
                    &m.service,
                    "names no service of this run",
                ));
            };
            if !seen.insert(m.service.as_str()) {
                return Err(ConfigError::invalid(
                    mkey("service"),
                    &m.service,
                    "is listed twice in this budget",
                ));
            }
            let weight =
                match (b.max_vcpu, m.vcpu) {
                    (Some(_), Some(v)) if v.is_finite() && v > 0.0 => v,
                    (Some(_), Some(v)) => {
                        return Err(ConfigError::invalid(
                            mkey("vcpu"),
                            v,
                            "must be a positive number",
                        ))
                    }
                    (Some(_), None) => {
                        return Err(ConfigError::invalid(
                            mkey("vcpu"),
                            "none",
                            "a max_vcpu budget needs each member's vCPU per task",
                        ))
                    }
                    (None, Some(v)) => return Err(ConfigError::invalid(
                        mkey("vcpu"),
                        v,
                        "only a max_vcpu budget weighs tasks by vCPU; remove it or use max_vcpu",
                    )),
                    (None, None) => 1.0,
                };
            reserved += f64::from(min) * weight;
        }
        let capacity = b.capacity();
        if reserved > capacity + 1e-9 {
            return Err(ConfigError::invalid(
                key(if b.max_tasks.is_some() {
                    "max_tasks"
                } else {
                    "max_vcpu"
                }),
                capacity,
                format!(
                    "the members' min_tasks need {} {} together: the budget must hold at least that",
                    reserved,
                    b.unit()
                ),
            ));
        }
    }
    Ok(())
}

/// One member's place in a budget.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    service: String,
    priority: i32,
    weight: f64,
    min_tasks: u32,
    /// The count last set (or held) for it.
    desired: u32,
    /// The count its own decision last asked for, before any budget.
    want: u32,
}

#[derive(Debug, Clone, PartialEq)]
struct Ledger {
    name: String,
    capacity: f64,
    members: Vec<Entry>,
}

/// A budget's cap on one decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cap {
    /// The most tasks the service may have.
    pub tasks: u32,
    /// The budget that set it (the tightest).
    pub budget: String,
}

/// How full a budget is.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    /// The budget.
    pub name: String,
    /// The members' desired counts, weighed (tasks or vCPU).
    pub used: f64,
    /// What it holds.
    pub capacity: f64,
}

/// Every budget of a run and where each member stands. Pure data: the simulator and the live
/// loop keep one and ask it for each decision's cap.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Budgets {
    ledgers: Vec<Ledger>,
}

impl Budgets {
    /// The budgets of validated `specs`; `member(service)` gives the service's `min_tasks` and
    /// its desired count now (the initial tasks, or what ECS holds).
    #[must_use]
    pub fn new(specs: &[BudgetSpec], member: impl Fn(&str) -> (u32, u32)) -> Self {
        let ledgers = specs
            .iter()
            .map(|b| Ledger {
                name: b.name.clone(),
                capacity: b.capacity(),
                members: b
                    .members
                    .iter()
                    .map(|m| {
                        let (min_tasks, desired) = member(&m.service);
                        Entry {
                            service: m.service.clone(),
                            priority: m.priority,
                            weight: m.vcpu.unwrap_or(1.0),
                            min_tasks,
                            desired,
                            want: desired,
                        }
                    })
                    .collect(),
            })
            .collect();
        Self { ledgers }
    }

    /// Whether `service` is under any budget.
    #[must_use]
    pub fn governs(&self, service: &str) -> bool {
        self.ledgers
            .iter()
            .any(|l| l.members.iter().any(|m| m.service == service))
    }

    /// The most tasks `service` may have now (the tightest of its budgets), none when it is
    /// under no budget.
    #[must_use]
    pub fn cap(&self, service: &str) -> Option<Cap> {
        let mut best: Option<Cap> = None;
        for l in &self.ledgers {
            let Some(i) = l.members.iter().position(|m| m.service == service) else {
                continue;
            };
            let me = &l.members[i];
            let others: f64 = l
                .members
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, m)| {
                    let hold = if m.priority > me.priority {
                        m.desired.max(m.want)
                    } else {
                        m.desired
                    };
                    f64::from(hold) * m.weight
                })
                .sum();
            let room = ((l.capacity - others) / me.weight + 1e-9).floor();
            let tasks = if room <= 0.0 {
                0
            } else if room >= f64::from(u32::MAX) {
                u32::MAX
            } else {
                room as u32
            };
            let tasks = tasks.max(me.min_tasks);
            if best.as_ref().is_none_or(|b| tasks < b.tasks) {
                best = Some(Cap {
                    tasks,
                    budget: l.name.clone(),
                });
            }
        }
        best
    }

    /// Records that `service` asked for `want` and now holds `desired`.
    pub fn commit(&mut self, service: &str, want: u32, desired: u32) {
        for m in self.entries_mut(service) {
            m.want = want;
            m.desired = desired;
        }
    }

    /// Records what `service` holds, leaving what it asked for (a seed from ECS, or an
    /// action taken back).
    pub fn set_desired(&mut self, service: &str, desired: u32) {
        for m in self.entries_mut(service) {
            m.desired = desired;
        }
    }

    fn entries_mut<'a>(&'a mut self, service: &'a str) -> impl Iterator<Item = &'a mut Entry> {
        self.ledgers
            .iter_mut()
            .flat_map(|l| l.members.iter_mut())
            .filter(move |m| m.service == service)
    }

    /// How full each budget is, in order.
    #[must_use]
    pub fn usage(&self) -> Vec<Usage> {
        self.ledgers
            .iter()
            .map(|l| Usage {
                name: l.name.clone(),
                used: l
                    .members
                    .iter()
                    .map(|m| f64::from(m.desired) * m.weight)
                    .sum(),
                capacity: l.capacity,
            })
            .collect()
    }
}

/// One decision under a budget: the service's own decision, then, when it asks for more than
/// `cap` allows, the same decision made again with the cap as the last guard (so the state
/// records what was really decided: a scale-out cut to a hold starts no cooldown). `cap` is
/// asked with the unbudgeted desired count. Returns the decision and what the service wanted.
pub fn decide_within(
    controller: &Controller,
    clock: &impl Clock,
    readings: &[Reading],
    service: ServiceState,
    state: &mut ScalerState,
    cap: impl FnOnce(u32) -> Option<u32>,
) -> (Decision, u32) {
    let mut trial = state.clone();
    let free = controller.tick(clock, readings, service, &mut trial);
    match cap(free.desired) {
        Some(cap) if free.desired > cap => {
            let capped = controller.tick_capped(clock, readings, service, state, Some(cap));
            (capped, free.desired)
        }
        _ => {
            *state = trial;
            (free, free.desired)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(max_tasks: u32, members: &[(&str, i32)]) -> BudgetSpec {
        BudgetSpec {
            name: "cluster".into(),
            max_tasks: Some(max_tasks),
            max_vcpu: None,
            members: members
                .iter()
                .map(|&(s, p)| MemberSpec {
                    service: s.into(),
                    priority: p,
                    vcpu: None,
                })
                .collect(),
        }
    }

    #[test]
    fn higher_priority_takes_the_room_a_lower_one_gives_up() {
        let specs = [spec(10, &[("hi", 2), ("lo", 1)])];
        let mut b = Budgets::new(&specs, |s| if s == "hi" { (1, 2) } else { (1, 8) });
        // hi wants 9: only 2 free while lo holds 8.
        assert_eq!(b.cap("hi").map(|c| c.tasks), Some(2));
        b.commit("hi", 9, 2);
        // lo's next decision leaves room for hi's want of 9: lo keeps its min of 1.
        assert_eq!(b.cap("lo").map(|c| c.tasks), Some(1));
        b.commit("lo", 8, 1);
        assert_eq!(b.cap("hi").map(|c| c.tasks), Some(9));
    }

    #[test]
    fn equal_priorities_keep_what_they_hold() {
        let specs = [spec(10, &[("a", 0), ("b", 0)])];
        let b = Budgets::new(&specs, |s| if s == "a" { (0, 7) } else { (0, 3) });
        assert_eq!(b.cap("a").map(|c| c.tasks), Some(7));
        assert_eq!(b.cap("b").map(|c| c.tasks), Some(3));
        assert_eq!(b.cap("c"), None);
    }

    #[test]
    fn vcpu_budgets_weigh_tasks() {
        let mut s = spec(0, &[("a", 0), ("b", 0)]);
        s.max_tasks = None;
        s.max_vcpu = Some(4.0);
        s.members[0].vcpu = Some(0.5);
        s.members[1].vcpu = Some(1.0);
        let specs = [s];
        validate(&specs, |_| Some(0)).unwrap();
        let b = Budgets::new(&specs, |s| if s == "a" { (0, 2) } else { (0, 3) });
        // b holds 3 vCPU: a may have (4 − 3) / 0.5 = 2 tasks.
        assert_eq!(b.cap("a").map(|c| c.tasks), Some(2));
        assert_eq!(b.cap("b").map(|c| c.tasks), Some(3));
    }

    #[test]
    fn bad_budgets_name_the_key_and_the_rule() {
        let err = |specs: &[BudgetSpec]| validate(specs, |s| (s != "x").then_some(3)).unwrap_err();
        let e = err(&[spec(5, &[("a", 0), ("b", 0)])]).to_string();
        assert!(
            e.contains("budget[0].max_tasks") && e.contains("need 6 tasks"),
            "{e}"
        );
        let e = err(&[spec(50, &[("a", 0), ("x", 0)])]).to_string();
        assert!(
            e.contains("budget[0].members[1].service") && e.contains("names no service"),
            "{e}"
        );
        let e = err(&[spec(50, &[("a", 0), ("a", 0)])]).to_string();
        assert!(e.contains("listed twice"), "{e}");
        let mut s = spec(50, &[("a", 0)]);
        s.max_vcpu = Some(3.0);
        assert!(err(&[s]).to_string().contains("exactly one"));
        let mut s = spec(50, &[("a", 0)]);
        s.members[0].vcpu = Some(1.0);
        assert!(err(&[s]).to_string().contains("only a max_vcpu budget"));
        let e = validate(&[spec(0, &[("a", 0)])], |_| Some(0)).unwrap_err();
        assert!(e.to_string().contains("at least 1"), "{e}");
    }
}
