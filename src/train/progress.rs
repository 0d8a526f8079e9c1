//! Where a run stands and what it has scored so far: the part of the trainer's state that is
//! plain numbers, saved in checkpoints so a resumed run continues its epoch totals and its
//! summary exactly.

use serde::{Deserialize, Serialize};

use crate::events::{epoch, EpochEvent, Event, Summary, SummaryBuilder};

/// Position and running totals of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Epochs done (the index of the epoch in progress, counted from 0).
    pub epoch: usize,
    /// Updates done.
    pub update: u64,
    /// Index of the stage last announced with a `stage` event.
    pub stage_index: Option<usize>,
    /// Sum of per-sample training losses in the current epoch.
    pub epoch_loss_sum: f64,
    /// Correct training predictions in the current epoch.
    pub epoch_correct: usize,
    /// Training samples seen in the current epoch.
    pub epoch_count: usize,
    /// Seconds spent training in the current epoch.
    pub epoch_seconds: f64,
    /// Seconds spent training so far (updates only: no evaluation, checkpoints or pauses).
    pub train_seconds: f64,
    /// Seconds the run spent paused so far: its wall time is its run time less these.
    #[serde(default)]
    pub paused_seconds: f64,
    /// The run's summary, from the events the trainer emitted.
    #[serde(default)]
    pub summary: SummaryBuilder,
}

impl Progress {
    /// A run at its start, whose summary is named `name` and compared with `baseline_updates`.
    pub fn start(name: &str, train_size: usize, baseline_updates: usize) -> Progress {
        Progress {
            summary: SummaryBuilder::for_run(name, train_size, baseline_updates),
            ..Progress::default()
        }
    }

    /// Records one update's samples and time.
    pub fn record_step(&mut self, loss_sum: f64, correct: usize, count: usize, seconds: f64) {
        self.update += 1;
        self.epoch_loss_sum += loss_sum;
        self.epoch_correct += correct;
        self.epoch_count += count;
        self.epoch_seconds += seconds;
        self.train_seconds += seconds;
    }

    /// Closes the epoch with its evaluation, `wall` seconds into the run (pauses excluded);
    /// resets the epoch totals.
    pub fn end_epoch(
        &mut self,
        test_loss: f64,
        test_acc: f64,
        eval_seconds: f64,
        wall: f64,
    ) -> EpochEvent {
        let n = self.epoch_count.max(1) as f64;
        let ev = EpochEvent {
            epoch: epoch::number(self.epoch),
            train_loss: self.epoch_loss_sum / n,
            train_acc: self.epoch_correct as f64 / n,
            test_loss,
            test_acc,
            updates: self.update,
            wall,
            train_wall: Some(self.train_seconds),
            images_per_sec: self.epoch_count as f64 / self.epoch_seconds.max(1e-9),
            eval_seconds,
        };
        self.epoch += 1;
        self.epoch_loss_sum = 0.0;
        self.epoch_correct = 0;
        self.epoch_count = 0;
        self.epoch_seconds = 0.0;
        ev
    }

    /// The epoch a checkpoint taken now belongs to, counted from 1: at an epoch's end the epoch
    /// just finished, otherwise the epoch in progress. Checkpoint file names and `checkpoint`
    /// events both carry it, so `0003-000000048.safetensors` is the checkpoint after epoch 3.
    pub fn checkpoint_epoch(&self) -> usize {
        if self.epoch_count == 0 && self.epoch > 0 {
            self.epoch
        } else {
            epoch::number(self.epoch)
        }
    }

    /// Takes an event the trainer emits into the summary.
    pub fn observe(&mut self, event: &Event) {
        self.summary.observe(event);
    }

    /// The run's summary as of now.
    pub fn summary(&self) -> Summary {
        self.summary.summary().clone()
    }
}
