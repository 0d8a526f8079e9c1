//! What the resources panel draws: the latest sample, recent utilisation for its sparkline and
//! the data-parallel sums. Owns applying those events; must never sample anything itself.

use std::collections::VecDeque;

use crate::events::{Event, ParallelTotals, Record, ResourcesEvent};

/// Resource samples kept for sparklines.
const SAMPLES: usize = 240;

/// The machine as the run's events describe it.
#[derive(Clone, Debug)]
pub struct Resources {
    /// Latest resource sample.
    pub last: Option<ResourcesEvent>,
    /// Recent CPU (or GPU, when known) utilisation samples, percent.
    pub util: VecDeque<f64>,
    /// Sums over the data-parallel updates seen (all zero for one process).
    pub parallel: ParallelTotals,
}

impl Default for Resources {
    fn default() -> Self {
        Resources {
            last: None,
            util: VecDeque::with_capacity(SAMPLES),
            parallel: ParallelTotals::default(),
        }
    }
}

impl Resources {
    /// Applies one event.
    pub fn apply(&mut self, rec: &Record) {
        match &rec.event {
            Event::Resources(r) => {
                let util = r.gpu_util.or(r.cpu_percent);
                if let Some(u) = util.filter(|u| u.is_finite()) {
                    if self.util.len() == SAMPLES {
                        self.util.pop_front();
                    }
                    self.util.push_back(u);
                }
                self.last = Some(r.clone());
            }
            Event::Step(s) => {
                if let Some(par) = &s.parallel {
                    self.parallel.add(par);
                }
            }
            _ => {}
        }
    }
}
