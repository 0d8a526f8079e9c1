//! Where a run stands and what it has scored so far: the part of the trainer's state that is
//! plain numbers, saved in checkpoints so a resumed run continues its epoch totals exactly.

use serde::{Deserialize, Serialize};

use crate::events::{EpochEvent, StageSummary, Summary};

/// Position and running totals of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Current epoch (0-based).
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
    /// Seconds spent training so far (pauses excluded).
    pub train_seconds: f64,
    /// Best test accuracy and its epoch.
    pub best_test_acc: f64,
    /// Epoch of `best_test_acc`.
    pub best_epoch: usize,
    /// The last epoch's evaluation.
    pub last_epoch: Option<EpochEvent>,
    /// Per-stage totals for the summary.
    pub stages: Vec<StageSummary>,
    /// Images processed per stage (for the per-stage throughput).
    pub stage_images: Vec<u64>,
    /// Training seconds per stage.
    pub stage_seconds: Vec<f64>,
}

impl Progress {
    /// Records one update's samples and time.
    pub fn record_step(&mut self, loss_sum: f64, correct: usize, count: usize, seconds: f64) {
        self.update += 1;
        self.epoch_loss_sum += loss_sum;
        self.epoch_correct += correct;
        self.epoch_count += count;
        self.epoch_seconds += seconds;
        self.train_seconds += seconds;
        if let Some(i) = self.stage_index {
            self.stages[i].updates += 1;
            self.stage_images[i] += count as u64;
            self.stage_seconds[i] += seconds;
            self.stages[i].images_per_sec =
                self.stage_images[i] as f64 / self.stage_seconds[i].max(1e-9);
        }
    }

    /// Starts bookkeeping for stage `index`.
    pub fn begin_stage(&mut self, index: usize, batch: usize, lr: f64) {
        self.stage_index = Some(index);
        while self.stages.len() <= index {
            self.stages.push(StageSummary::default());
            self.stage_images.push(0);
            self.stage_seconds.push(0.0);
        }
        self.stages[index].index = index;
        self.stages[index].batch = batch;
        self.stages[index].lr = lr;
    }

    /// Closes the epoch with its evaluation; resets the epoch totals.
    pub fn end_epoch(
        &mut self,
        test_loss: f64,
        test_acc: f64,
        wall: f64,
        eval_seconds: f64,
    ) -> EpochEvent {
        let n = self.epoch_count.max(1) as f64;
        let ev = EpochEvent {
            epoch: self.epoch,
            train_loss: self.epoch_loss_sum / n,
            train_acc: self.epoch_correct as f64 / n,
            test_loss,
            test_acc,
            updates: self.update,
            wall,
            images_per_sec: self.epoch_count as f64 / self.epoch_seconds.max(1e-9),
            eval_seconds,
        };
        if self.last_epoch.is_none() || test_acc > self.best_test_acc {
            self.best_test_acc = test_acc;
            self.best_epoch = self.epoch;
        }
        if let Some(i) = self.stage_index {
            self.stages[i].epochs += 1;
        }
        self.last_epoch = Some(ev.clone());
        self.epoch += 1;
        self.epoch_loss_sum = 0.0;
        self.epoch_correct = 0;
        self.epoch_count = 0;
        self.epoch_seconds = 0.0;
        ev
    }

    /// The run's summary as of now.
    pub fn summary(&self, name: &str, baseline_updates: usize) -> Summary {
        let last = self.last_epoch.clone();
        Summary {
            name: name.to_string(),
            epochs: self.epoch,
            updates: self.update,
            baseline_updates,
            final_test_acc: last.as_ref().map_or(0.0, |e| e.test_acc),
            best_test_acc: self.best_test_acc,
            best_epoch: self.best_epoch,
            final_train_loss: last.as_ref().map_or(0.0, |e| e.train_loss),
            final_test_loss: last.as_ref().map_or(0.0, |e| e.test_loss),
            wall: self.train_seconds,
            stages: self.stages.clone(),
        }
    }
}
