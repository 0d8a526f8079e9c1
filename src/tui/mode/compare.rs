//! Several finished runs overlaid, each with its name. Owns their states, built once from their
//! records; must never change them afterwards (a comparison has no feed).

use crate::events::Record;
use crate::tui::state::RunState;

/// Finished runs side by side.
#[derive(Clone, Debug)]
pub struct Compare {
    runs: Vec<(String, RunState)>,
}

impl Compare {
    /// Builds each run's state from its records.
    pub fn new(runs: Vec<(String, Vec<Record>)>) -> Compare {
        Compare {
            runs: runs
                .into_iter()
                .map(|(name, recs)| (name, RunState::from_records(&recs)))
                .collect(),
        }
    }

    /// The runs with their names, in the order given.
    pub fn runs(&self) -> &[(String, RunState)] {
        &self.runs
    }
}
