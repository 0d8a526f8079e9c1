//! What the stage timeline draws besides the plan: the stage events seen and the latest
//! measured noise scale. Owns applying those events; must never plan a stage.

use crate::events::{Event, NoiseScaleEvent, Record, StageEvent};

/// The stages as they happened.
#[derive(Clone, Debug, Default)]
pub struct Stages {
    /// Stage events in arrival order.
    pub seen: Vec<StageEvent>,
    /// Latest noise-scale estimate.
    pub noise: Option<NoiseScaleEvent>,
}

impl Stages {
    /// Applies one event.
    pub fn apply(&mut self, rec: &Record) {
        match &rec.event {
            Event::Stage(s) => self.seen.push(s.clone()),
            Event::NoiseScale(n) => self.noise = Some(n.clone()),
            _ => {}
        }
    }

    /// The stage in progress.
    pub fn last(&self) -> Option<&StageEvent> {
        self.seen.last()
    }

    /// Where each stage after the first began: (update, epoch, B).
    pub fn changes(&self) -> Vec<(f64, f64, usize)> {
        self.seen
            .iter()
            .filter(|s| s.index > 0 || s.epochs_done() > 0)
            .map(|s| (s.update as f64, s.epochs_done() as f64, s.batch))
            .collect()
    }
}
