//! The run's summary: waits, backlog, cost, scaling activity, SLO violation and the SPEC RG
//! elasticity metrics against ideal demand.
//!
//! Elasticity (Herbst et al., "Ready for Rain?", SPEC RG), over the simulation's own steps
//! (`step_ms`, never the output rows, so no figure depends on `--resolution`) with demand
//! d = ceil(arrival rate in the step / per-task throughput) and supply s = running tasks, each
//! step lasting Δt, T the total:
//! - `accuracy_under` = 100/T × Σ (d − s)⁺ / max(d, 1) × Δt  (percent of demand missing)
//! - `accuracy_over`  = 100/T × Σ (s − d)⁺ / max(d, 1) × Δt  (percent of demand in excess)
//! - `timeshare_under` / `timeshare_over` = percent of time with s < d / s > d
//! - `instability` = percent of step-to-step transitions where supply and demand move in
//!   different directions: sgn Δs ≠ sgn Δd.

use serde::{Deserialize, Serialize};

use crate::model::Outcome;

/// What `summary.json` holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// The trace file's name when `--trace` replaced the scenario's arrivals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// Policy kind.
    pub policy: String,
    /// fluid or discrete.
    pub fidelity: String,
    /// The seed.
    pub seed: u64,
    /// Simulated seconds (arrivals plus the drain tail).
    pub duration_s: f64,
    /// Messages that arrived.
    pub messages: f64,
    /// Messages processed.
    pub processed: f64,
    /// Messages redelivered after a stop or crash.
    pub redeliveries: f64,
    /// Mean wait to first receive.
    pub wait_mean_s: f64,
    /// Median wait.
    pub wait_p50_s: f64,
    /// 90th percentile wait.
    pub wait_p90_s: f64,
    /// 99th percentile wait.
    pub wait_p99_s: f64,
    /// Longest wait.
    pub wait_max_s: f64,
    /// Largest visible backlog.
    pub backlog_max: f64,
    /// Task-hours billed.
    pub task_hours: f64,
    /// Cost at the scenario's price.
    pub cost_usd: f64,
    /// Decisions made.
    pub decisions: u64,
    /// Scale-out actions.
    pub scale_out_actions: u64,
    /// Scale-in actions.
    pub scale_in_actions: u64,
    /// Direction changes between consecutive actions.
    pub direction_flips: u64,
    /// The SLO on the oldest message's age.
    pub slo_wait_s: f64,
    /// Time the oldest message was older than the SLO.
    pub slo_violation_s: f64,
    /// SPEC RG under-provisioning accuracy (percent).
    pub accuracy_under: f64,
    /// SPEC RG over-provisioning accuracy (percent).
    pub accuracy_over: f64,
    /// SPEC RG under-provisioning timeshare (percent).
    pub timeshare_under: f64,
    /// SPEC RG over-provisioning timeshare (percent).
    pub timeshare_over: f64,
    /// SPEC RG instability (percent).
    pub instability: f64,
    /// Little's law, L: time-average visible backlog, sampled every simulation step.
    pub little_mean_backlog: f64,
    /// Little's law, λW: arrival rate × mean wait.
    pub little_rate_times_wait: f64,
    /// Whether the queue emptied before `drain_limit_secs` ran out; when false, the run was
    /// cut off with messages still waiting and the waits above leave them out.
    pub drained: bool,
    /// Mean time from a burst's start to the first added task, seconds, at the time series'
    /// resolution (a burst: ideal tasks at 1.5 × their recent level and 2 more; see
    /// [`crate::model::Reactions`]).
    pub reaction_mean_s: f64,
    /// The longest such time, seconds.
    pub reaction_max_s: f64,
    /// Bursts answered by an added task.
    pub bursts_answered: u64,
    /// Bursts over before any task was added.
    pub bursts_unanswered: u64,
}

/// Rounds to 6 decimals so that outputs read cleanly and compare as text.
fn r6(x: f64) -> f64 {
    let v = (x * 1e6).round() / 1e6;
    if v == 0.0 {
        0.0
    } else {
        v
    }
}

/// Run metadata for the summary.
pub struct Meta<'a> {
    /// Scenario name.
    pub scenario: &'a str,
    /// The trace file's name when `--trace` replaced the scenario's arrivals.
    pub trace: Option<&'a str>,
    /// Policy kind.
    pub policy: &'a str,
    /// Fidelity name.
    pub fidelity: &'a str,
    /// Seed.
    pub seed: u64,
    /// Start of the run.
    pub start_us: i64,
    /// SLO.
    pub slo_wait_s: f64,
    /// Price per task-hour.
    pub task_hour_usd: f64,
}

/// Builds the summary of a run.
#[must_use]
pub fn summarize(o: &Outcome, meta: &Meta<'_>) -> Summary {
    let duration_s = (o.end_us - meta.start_us) as f64 / 1e6;
    let [au, ao, tu, to, inst] = o.stats.elasticity();
    let mean_backlog = o.stats.mean_backlog();
    let rate = if duration_s > 0.0 {
        o.waits.count() / duration_s
    } else {
        0.0
    };
    Summary {
        scenario: meta.scenario.to_string(),
        trace: meta.trace.map(str::to_string),
        policy: meta.policy.to_string(),
        fidelity: meta.fidelity.to_string(),
        seed: meta.seed,
        duration_s: r6(duration_s),
        messages: r6(o.messages),
        processed: r6(o.processed),
        redeliveries: r6(o.redeliveries),
        wait_mean_s: r6(o.waits.mean_secs()),
        wait_p50_s: r6(o.waits.quantile_secs(0.50)),
        wait_p90_s: r6(o.waits.quantile_secs(0.90)),
        wait_p99_s: r6(o.waits.quantile_secs(0.99)),
        wait_max_s: r6(o.waits.max_secs()),
        backlog_max: r6(o.backlog_max),
        task_hours: r6(o.task_hours),
        cost_usd: r6(o.task_hours * meta.task_hour_usd),
        decisions: o.decisions,
        scale_out_actions: o.scale_out_actions,
        scale_in_actions: o.scale_in_actions,
        direction_flips: o.direction_flips,
        slo_wait_s: meta.slo_wait_s,
        slo_violation_s: r6(o.slo_violation_s),
        accuracy_under: r6(au),
        accuracy_over: r6(ao),
        timeshare_under: r6(tu),
        timeshare_over: r6(to),
        instability: r6(inst),
        little_mean_backlog: r6(mean_backlog),
        little_rate_times_wait: r6(rate * o.waits.mean_secs()),
        drained: o.drained,
        reaction_mean_s: r6(o.reactions.mean_s()),
        reaction_max_s: r6(o.reactions.max_s),
        bursts_answered: o.reactions.answered,
        bursts_unanswered: o.reactions.unanswered,
    }
}

impl Summary {
    /// The first figure that is not a finite number, if any (a run that overflowed).
    #[must_use]
    pub fn non_finite(&self) -> Option<String> {
        let serde_json::Value::Object(map) = serde_json::to_value(self).ok()? else {
            return None;
        };
        map.into_iter().find(|(_, v)| v.is_null()).map(|(k, _)| k)
    }

    /// The scenario's name, with the trace's when `--trace` replaced its arrivals.
    #[must_use]
    pub fn name(&self) -> String {
        match &self.trace {
            Some(trace) => format!("{} with trace {trace}", self.scenario),
            None => self.scenario.clone(),
        }
    }

    /// A few lines for a person.
    #[must_use]
    pub fn human(&self) -> String {
        format!(
            "{} ({} policy, {} mode, seed {})\n  messages {:.0}, processed {:.0}, backlog max {:.0}\n  wait p50 {:.1} s, p90 {:.1} s, p99 {:.1} s, max {:.1} s; SLO {} s violated for {:.0} s\n  {:.1} task-hours, ${:.2}; {} scale-outs, {} scale-ins, {} direction flips",
            self.name(),
            self.policy,
            self.fidelity,
            self.seed,
            self.messages,
            self.processed,
            self.backlog_max,
            self.wait_p50_s,
            self.wait_p90_s,
            self.wait_p99_s,
            self.wait_max_s,
            self.slo_wait_s,
            self.slo_violation_s,
            self.task_hours,
            self.cost_usd,
            self.scale_out_actions,
            self.scale_in_actions,
            self.direction_flips
        ) + if self.drained {
            ""
        } else {
            "\n  WARNING: the backlog had not drained when drain_limit_secs ran out: the run was cut off with messages waiting (drained: false in summary.json)"
        }
    }
}
