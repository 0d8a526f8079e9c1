//! What the header and the progress panel draw: the run's plan, the latest step, the finished
//! epochs, the evaluation under way and how the run stands (paused, finished, failed). Owns
//! applying those events; must never read a clock.

use crate::events::{
    EpochEvent, EvalProgress, Event, PauseEvent, Record, RunStarted, StepEvent, Summary,
    SummaryBuilder,
};

/// Where the run is and how it stands.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// The header event.
    pub started: Option<RunStarted>,
    /// The latest step.
    pub step: Option<StepEvent>,
    /// Finished epochs with their evaluation.
    pub epochs: Vec<EpochEvent>,
    /// The evaluation in progress, until its epoch's result arrives.
    pub evaluating: Option<EvalProgress>,
    /// Set while the trainer reports itself paused.
    pub paused: Option<PauseEvent>,
    /// Set when the run completed.
    pub finished: Option<Summary>,
    /// Set when the run failed, with the message.
    pub failed: Option<String>,
    /// Time of the latest event, seconds since the run started.
    pub t: f64,
    /// Events applied.
    pub records: u64,
    /// The run's summary from the events shown (best epoch, per-stage figures).
    pub(super) summary: SummaryBuilder,
}

impl Progress {
    /// Applies one event.
    pub fn apply(&mut self, rec: &Record) {
        self.records += 1;
        if rec.t.is_finite() && rec.t > self.t {
            self.t = rec.t;
        }
        self.summary.observe(&rec.event);
        if !matches!(
            rec.event,
            Event::Evaluating(_) | Event::Resources(_) | Event::NoiseScale(_)
        ) {
            self.evaluating = None;
        }
        match &rec.event {
            Event::RunStarted(r) => self.started = Some(r.clone()),
            Event::Step(s) => self.step = Some(s.clone()),
            Event::Evaluating(e) => self.evaluating = Some(e.clone()),
            Event::Epoch(e) => self.epochs.push(e.clone()),
            Event::Paused(p) => self.paused = Some(p.clone()),
            Event::Resumed(_) => self.paused = None,
            Event::Finished(s) => {
                self.paused = None;
                self.finished = Some(s.clone());
            }
            Event::Failed(m) => {
                self.paused = None;
                self.failed = Some(m.message.clone());
            }
            _ => {}
        }
    }

    /// The epoch reached at `update`, estimated from the latest step (for events without an epoch).
    pub fn epoch_at_update(&self, update: u64) -> f64 {
        match &self.step {
            Some(s) if s.update > 0 => s.epochs_done() * update as f64 / s.update as f64,
            _ => 0.0,
        }
    }
}
