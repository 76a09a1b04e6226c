//! One stage of a pipeline as a scenario of its own: the stages before it simulated once, their
//! completions given to it as its arrivals, so `tune` searches its policy on the traffic the
//! chain really sends it.

use super::MultiBacktest;
use crate::model::RowSink;
use crate::run::{check_run_limits, Backtest, BacktestError};

impl MultiBacktest {
    /// The backtest of service `name` as the chain feeds it: every stage before it is
    /// simulated once (at its own seed) and the last one's completions, scaled, are its
    /// arrivals. A service fed by no other is its own scenario.
    ///
    /// # Errors
    /// `name` is no service of the file, is under a budget (its decisions depend on the
    /// others'), or feeds another stage (whose arrivals would change with every candidate).
    pub fn stage(&self, name: &str) -> Result<Backtest, BacktestError> {
        let flag = |rule: String| BacktestError::Flag {
            flag: "--service",
            value: name.to_string(),
            rule,
        };
        let Some(i) = self.index(name) else {
            let names: Vec<&str> = self.services.iter().map(|s| s.name.as_str()).collect();
            return Err(flag(format!(
                "names no service of {}; it has {}",
                self.path.display(),
                names.join(", ")
            )));
        };
        if let Some(b) = self
            .budgets
            .iter()
            .find(|b| b.members.iter().any(|m| m.service == name))
        {
            return Err(flag(format!(
                "is under budget {:?}, where its decisions depend on the other members': tuning a budget's members is not supported yet; tune its scenario alone",
                b.name
            )));
        }
        if let Some(d) = self
            .services
            .iter()
            .find(|d| d.arrivals_from.as_deref() == Some(name))
        {
            return Err(flag(format!(
                "feeds {:?}, whose arrivals would change with every candidate: tuning a stage with stages after it is not supported yet; tune the last stage, or this stage's scenario alone",
                d.name
            )));
        }
        // The stages before it, first to last.
        let mut chain = vec![i];
        while let Some(u) = self.services[chain[chain.len() - 1]]
            .arrivals_from
            .as_deref()
            .and_then(|f| self.index(f))
        {
            chain.push(u);
        }
        chain.reverse();
        let mut prepared = self.backtests[chain[0]].prepared.clone();
        for pair in chain.windows(2) {
            let (u, d) = (pair[0], pair[1]);
            let mut up = prepared.clone();
            up.keep_completions = true;
            let bt = &self.backtests[u];
            let (outcome, _) = bt.simulate_into(&up, &bt.config, RowSink::Nothing);
            let down = &self.backtests[d];
            prepared = super::run::fed_arrivals(
                &up,
                outcome.completions.as_deref().unwrap_or_default(),
                self.services[d].arrivals_scale,
                &down.prepared,
                down.scenario.drain_limit_secs,
            );
            check_run_limits(
                &down.scenario,
                &down.config,
                &prepared.arrivals,
                prepared.resolution_us as f64 / 1e6,
                &down.path,
            )?;
        }
        let mut stage = self.backtests[i].clone();
        stage.prepared = prepared;
        stage.trace_name = self.services[i]
            .arrivals_from
            .as_ref()
            .map(|u| format!("completions of {u} in {}", self.name));
        Ok(stage)
    }
}
