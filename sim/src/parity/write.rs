//! Writing a parity comparison: `parity.csv`, `parity.json` and the overlay figure.

use std::path::Path;

use super::{Parity, ParityError, ParityInputs};
use crate::staged::{OutputRules, StagedDir};

impl Parity {
    /// Writes `parity.csv`, `parity.json` and `parity.png` into `dir` (a folder StepScale
    /// owns, or a new one; `force` as for `backtest`).
    pub fn write(&self, dir: &Path, force: bool, inputs: &ParityInputs) -> Result<(), ParityError> {
        let mut sources = vec![inputs.scenario.clone(), inputs.record.clone()];
        sources.extend(inputs.policy.clone());
        sources.extend(inputs.arrivals.clone());
        let rules = OutputRules {
            force,
            inputs: sources,
        };
        let mut staged = StagedDir::new(dir, "parity", &rules)?;
        staged.write("parity.csv", self.csv().as_bytes())?;
        let mut json = serde_json::to_string_pretty(&self.report).unwrap_or_default();
        json.push('\n');
        staged.write("parity.json", json.as_bytes())?;
        let png = staged.path("parity.png");
        crate::plot::write_parity(&png, self)?;
        staged.commit()?;
        Ok(())
    }
}
