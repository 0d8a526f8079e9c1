//! The one event schema shared by the training thread, the UI channel, the JSON Lines run log
//! and replay, and the run summary computed from it (`summary`). Owns the wire format; must
//! never know who produces or consumes an event.
//!
//! **Epoch numbering.** An epoch is named by its number counted from 1: "epoch 1" is the first
//! pass over the training set, everywhere a person reads one (the UI, the plain lines,
//! `summary.json`, plots, CSV and TensorBoard exports). Every `epoch` field below is such a
//! number. Fields that say how far a run has come count epochs *done* instead
//! (`Summary::epochs`, `StagePlan::start_epoch`/`end_epoch`: a stage with 0 and 6 covers epochs
//! 1–6). A checkpoint belongs to the epoch it was taken in: at an epoch's end the epoch just
//! finished, mid-epoch the epoch in progress; its file name and its `checkpoint` event carry
//! that number (`0006-…` is written after epoch 6 or during it). Schema v1 logs
//! counted `epoch` fields from 0; [`Record::upgrade`] reads them into this numbering, so old
//! logs stay readable.

use serde::{Deserialize, Serialize};

pub mod epoch;
pub mod line;
mod reason;
pub mod summary;

pub use reason::{CheckpointReason, PauseReason};
pub use summary::SummaryBuilder;

/// Major schema version written in every line's `v` field; readers refuse a newer major and
/// upgrade older ones ([`Record::upgrade`]). v2: `epoch` fields count from 1 (v1: from 0).
pub const SCHEMA_VERSION: u32 = 2;

/// One line of `events.jsonl`: schema version, seconds since the run started, and the event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Schema major version ([`SCHEMA_VERSION`] when written by this build).
    pub v: u32,
    /// Seconds since the run started (wall clock, monotonic within a run).
    pub t: f64,
    /// The event itself; serialised flat with a `kind` tag.
    #[serde(flatten)]
    pub event: Event,
}

impl Record {
    /// Wraps an event stamped with the current schema version and time `t`.
    pub fn new(t: f64, event: Event) -> Self {
        Record {
            v: SCHEMA_VERSION,
            t,
            event,
        }
    }

    /// The record in this build's schema: a v1 record's `epoch` fields (and its summary's
    /// best epoch) counted from 0 and are moved to the 1-based numbering. Newer records are
    /// returned as they are (readers refuse them before they get here).
    pub fn upgrade(mut self) -> Record {
        if self.v < 2 {
            match &mut self.event {
                Event::Stage(s) => s.epoch += 1,
                Event::Step(s) => s.epoch += 1,
                Event::Epoch(e) => e.epoch += 1,
                Event::Checkpoint(c) => c.epoch += 1,
                Event::Finished(s) => s.best_epoch += 1,
                _ => {}
            }
            self.v = 2;
        }
        self
    }
}

/// Declares [`Event`] and, from the same list, [`KINDS`], [`Event::kind`] and
/// [`Event::from_body`]: each kind tag is written once, here.
macro_rules! events {
    ($($(#[$doc:meta])* $variant:ident($body:ty) = $kind:literal,)*) => {
        /// Everything a run reports, in the order a run produces it.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind")]
        pub enum Event {
            $($(#[$doc])* #[serde(rename = $kind)] $variant($body),)*
        }

        /// Every `kind` tag of [`Event`], in declaration order.
        pub const KINDS: &[&str] = &[$($kind),*];

        impl Event {
            /// The `kind` tag this event is written with (e.g. `"noise_scale"`).
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Event::$variant(_) => $kind,)*
                }
            }

            /// Reads the body of an event of kind `kind` (the record's fields other than `v`,
            /// `t` and `kind`) from `d`; `None` for a kind not in [`KINDS`], leaving `d` unused.
            pub fn from_body<'de, D: serde::Deserializer<'de>>(
                kind: &str,
                d: D,
            ) -> Option<Result<Event, D::Error>> {
                match kind {
                    $($kind => Some(<$body as Deserialize>::deserialize(d).map(Event::$variant)),)*
                    _ => None,
                }
            }
        }
    };
}

events! {
    /// First line of every log: what is being trained, on what, with which plan.
    RunStarted(RunStarted) = "run_started",
    /// A new stage of the schedule begins (batch size, learning rate or momentum changed).
    Stage(StageEvent) = "stage",
    /// One parameter update finished.
    Step(StepEvent) = "step",
    /// The test set is being evaluated after an epoch: how far it has got (at its start, then
    /// about once a second; the `epoch` event that follows ends it).
    Evaluating(EvalProgress) = "evaluating",
    /// One epoch finished and the test set was evaluated.
    Epoch(EpochEvent) = "epoch",
    /// Periodic resource sample (memory, utilisation), taken off the training thread.
    Resources(ResourcesEvent) = "resources",
    /// Online estimate of the gradient noise scale (McCandlish et al. 2018).
    NoiseScale(NoiseScaleEvent) = "noise_scale",
    /// A checkpoint was written atomically to `path`.
    Checkpoint(CheckpointEvent) = "checkpoint",
    /// The trainer stopped at an update boundary on request.
    Paused(PauseEvent) = "paused",
    /// The trainer continued after a pause.
    Resumed(PauseEvent) = "resumed",
    /// Something went wrong but the run carries on (e.g. out of memory recovered).
    Warning(MessageEvent) = "warning",
    /// The run completed; carries the summary also written to `summary.json`.
    Finished(Summary) = "finished",
    /// The run stopped on an error.
    Failed(MessageEvent) = "failed",
}

/// Header event: the resolved config and what the run was started on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunStarted {
    /// Run name (from the config, used in the run directory name).
    pub name: String,
    /// The resolved config as a JSON value (every default filled in).
    pub config: serde_json::Value,
    /// Number of training images.
    pub train_size: usize,
    /// Number of test images.
    pub test_size: usize,
    /// Where the data came from (a path or `synthetic`).
    pub data: String,
    /// Human-readable device, e.g. `cpu (2 threads)` or `cuda:0 NVIDIA H200`.
    pub device: String,
    /// Network architecture name.
    pub model: String,
    /// Number of trainable parameters.
    pub params: usize,
    /// Total epochs planned.
    pub epochs: usize,
    /// The planned stages (for the adaptive schedule: the stages known at the start).
    pub stages: Vec<StagePlan>,
    /// Updates the planned schedule takes, and what decay-LR with the same epochs would take.
    pub planned_updates: usize,
    /// Updates of the equivalent decay-LR baseline (B fixed at the initial batch).
    pub baseline_updates: usize,
    /// Present when this run continues from a checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<String>,
    /// The processes training together, in rank order (empty: one process).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<Worker>,
}

/// One process of a data-parallel run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Worker {
    /// Its rank (0 owns the run directory).
    pub rank: usize,
    /// The machine it runs on.
    pub host: String,
    /// CPU threads its kernels use.
    pub threads: usize,
}

/// One stage of a schedule plan at fixed (B, ε, m): epochs `start_epoch + 1 ..= end_epoch`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StagePlan {
    /// Epochs done when the stage begins (its first epoch is `start_epoch + 1`).
    pub start_epoch: usize,
    /// Epochs done when the stage ends (its last epoch).
    pub end_epoch: usize,
    /// Batch size B.
    pub batch: usize,
    /// Learning rate ε.
    pub lr: f64,
    /// Momentum coefficient m (0 for plain SGD and Adam).
    pub momentum: f64,
    /// SGD noise scale g = ε·N/(B·(1−m)).
    pub noise_scale: f64,
    /// Why the stage is what it is, when its schedule's rule does not say: why the adaptive
    /// schedule began it, or what capped B at a milestone (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A stage begins: the plan values plus how the batch is executed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageEvent {
    /// Index of the stage in the plan (grows for the adaptive schedule).
    pub index: usize,
    /// The stage's first epoch (counted from 1).
    pub epoch: usize,
    /// Update count when the stage starts.
    pub update: u64,
    /// Batch size B of one parameter update.
    pub batch: usize,
    /// Physical batch run at once; B is split into `accumulation` micro-batches of at most this.
    pub micro_batch: usize,
    /// Number of micro-batches accumulated into one update.
    pub accumulation: usize,
    /// Learning rate ε.
    pub lr: f64,
    /// Momentum m.
    pub momentum: f64,
    /// Noise scale g = ε·N/(B·(1−m)).
    pub noise_scale: f64,
    /// Why the stage is what it is, when its schedule's rule does not say: why the adaptive
    /// schedule began it, or what capped B at a milestone (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl StageEvent {
    /// Epochs done when the stage begins: where it starts on an axis of epochs.
    pub fn epochs_done(&self) -> usize {
        epoch::done_before(self.epoch)
    }

    /// The stage as a plan entry ending where `end_epoch` says (the event does not know its end).
    pub fn plan(&self, end_epoch: usize) -> StagePlan {
        StagePlan {
            start_epoch: self.epochs_done(),
            end_epoch,
            batch: self.batch,
            lr: self.lr,
            momentum: self.momentum,
            noise_scale: self.noise_scale,
            reason: self.reason.clone(),
        }
    }
}

/// One parameter update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepEvent {
    /// Updates done so far, this one included (1-based).
    pub update: u64,
    /// The epoch this update belongs to (counted from 1).
    pub epoch: usize,
    /// Fraction of the current epoch done after this update, in (0, 1].
    pub epoch_progress: f64,
    /// Mean training loss of the batch.
    pub loss: f64,
    /// Training accuracy of the batch in [0, 1].
    pub acc: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Batch size of this update (the last batch of an epoch may be smaller).
    pub batch: usize,
    /// Training throughput over recent updates, images per second.
    pub images_per_sec: f64,
    /// How the update was shared among the workers of a data-parallel run (absent for one
    /// process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<ParallelStep>,
}

/// One update of a data-parallel run, as rank 0 saw it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParallelStep {
    /// Workers that had micro-batches to compute: min(workers, micro-batches of the update).
    pub busy: usize,
    /// Seconds spent combining the workers' shares (the all-reduces, waiting included).
    pub comm_seconds: f64,
    /// Of those, the seconds waiting for the slowest worker (absent in older logs: 0).
    #[serde(default)]
    pub wait_seconds: f64,
    /// Bytes rank 0 contributed to them.
    pub comm_bytes: u64,
    /// Seconds the whole update took on rank 0.
    pub step_seconds: f64,
}

/// Sums over the updates of a data-parallel run: the share of update time spent combining the
/// workers' shares, as the UI shows it and `batchramp plan --from-run` reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ParallelTotals {
    /// Updates counted.
    pub updates: u64,
    /// Their combining seconds.
    pub comm_seconds: f64,
    /// Their whole seconds on rank 0.
    pub step_seconds: f64,
}

impl ParallelTotals {
    /// Counts one update.
    pub fn add(&mut self, p: &ParallelStep) {
        self.updates += 1;
        self.comm_seconds += p.comm_seconds;
        self.step_seconds += p.step_seconds;
    }

    /// Combining time over update time, once any time is counted.
    pub fn comm_share(&self) -> Option<f64> {
        (self.step_seconds > 0.0).then(|| (self.comm_seconds / self.step_seconds).clamp(0.0, 1.0))
    }
}

impl StepEvent {
    /// Epochs done after this update, fractional: where it sits on an axis of epochs.
    pub fn epochs_done(&self) -> f64 {
        epoch::done_before(self.epoch) as f64 + self.epoch_progress.clamp(0.0, 1.0)
    }
}

/// How far the evaluation after an epoch has got.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalProgress {
    /// The epoch whose evaluation this is (counted from 1).
    pub epoch: usize,
    /// Test images evaluated so far.
    pub done: usize,
    /// Test images in all.
    pub total: usize,
}

/// End of an epoch with its evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochEvent {
    /// The epoch that finished (counted from 1).
    pub epoch: usize,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    /// Training accuracy over the epoch.
    pub train_acc: f64,
    /// Test loss.
    pub test_loss: f64,
    /// Test accuracy.
    pub test_acc: f64,
    /// Updates done so far.
    pub updates: u64,
    /// Seconds the run has taken so far: training, evaluations and checkpoints, pauses
    /// excluded. Logs without `train_wall` counted training only here.
    pub wall: f64,
    /// Mean training throughput of the epoch, images per second.
    pub images_per_sec: f64,
    /// Seconds the evaluation after this epoch took (part of `wall`); 0 in older logs.
    #[serde(default)]
    pub eval_seconds: f64,
    /// Seconds of training alone so far (updates: no evaluation, checkpoints or pauses); absent
    /// in older logs, whose `wall` was this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_wall: Option<f64>,
}

impl EpochEvent {
    /// Seconds of training alone so far, in this log's terms or an older one's.
    pub fn train_seconds(&self) -> f64 {
        self.train_wall.unwrap_or(self.wall)
    }
}

/// A resource sample. Every field is optional: `None` means "not known here", and `note` says why.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourcesEvent {
    /// Device memory in use, bytes (CUDA only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_used: Option<u64>,
    /// Device memory total, bytes (CUDA only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_total: Option<u64>,
    /// Resident set size of this process, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss: Option<u64>,
    /// Process CPU use in percent of one core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<f64>,
    /// GPU utilisation percent (NVML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_util: Option<f64>,
    /// GPU temperature in °C (NVML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_temp: Option<f64>,
    /// GPU power draw in watts (NVML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_power: Option<f64>,
    /// Why some figures are missing, e.g. "NVML not found".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Gradient noise scale estimate B_simple = tr(Σ)/|G|².
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoiseScaleEvent {
    /// Update at which it was measured.
    pub update: u64,
    /// The estimate B_simple (ratio of the smoothed trace and squared-norm estimates).
    pub b_simple: f64,
    /// Smoothed estimate of |G|².
    pub grad_sq: f64,
    /// Smoothed estimate of tr(Σ).
    pub trace: f64,
    /// Batch size in use when measured.
    pub batch: usize,
}

/// A checkpoint was written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointEvent {
    /// Path of the `.safetensors` file.
    pub path: String,
    /// The epoch the checkpoint was taken in (counted from 1): at an epoch's end the epoch just
    /// finished, mid-epoch the epoch in progress; its file name starts with the same number.
    pub epoch: usize,
    /// Updates done at the checkpoint.
    pub update: u64,
    /// Why it was written (`key`, `epoch`, `stage`, `interrupt`, `nan`, `final` in the log).
    pub reason: CheckpointReason,
}

/// Pause or resume at an update boundary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PauseEvent {
    /// Updates done when it happened.
    pub update: u64,
    /// Why it paused, or what it resumed from (a string in the log, as before).
    #[serde(default)]
    pub reason: PauseReason,
}

/// A free-form message (warnings and failures).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageEvent {
    /// What happened and, where useful, what to do.
    pub message: String,
}

/// Final summary of a run; also written to `summary.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Run name.
    pub name: String,
    /// Epochs completed.
    pub epochs: usize,
    /// Parameter updates done.
    pub updates: u64,
    /// Updates the equivalent decay-LR run would need.
    pub baseline_updates: usize,
    /// Test accuracy after the last epoch.
    pub final_test_acc: f64,
    /// Best test accuracy over all epochs.
    pub best_test_acc: f64,
    /// The epoch of the best test accuracy (counted from 1; the first such epoch on a tie).
    pub best_epoch: usize,
    /// Training loss of the last epoch.
    pub final_train_loss: f64,
    /// Test loss of the last epoch.
    pub final_test_loss: f64,
    /// Seconds the run took: training, evaluations and checkpoints, pauses excluded (in
    /// summaries without `train_wall`, training alone).
    pub wall: f64,
    /// Of those, the seconds of training alone (updates); absent in older summaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_wall: Option<f64>,
    /// Per-stage throughput.
    pub stages: Vec<StageSummary>,
}

/// Throughput and size of one stage, for the summary.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StageSummary {
    /// Stage index.
    pub index: usize,
    /// Batch size.
    pub batch: usize,
    /// Learning rate.
    pub lr: f64,
    /// Epochs spent in the stage.
    pub epochs: usize,
    /// Updates done in the stage.
    pub updates: u64,
    /// Images per second over the stage: its images over its training seconds.
    pub images_per_sec: f64,
}

/// Commands from the UI (or a signal handler) to the training thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    /// Stop at the next update boundary until `Resume`.
    Pause,
    /// Continue after `Pause`.
    Resume,
    /// Write a checkpoint at the next update boundary.
    Checkpoint,
    /// Stop the run at the next update boundary; checkpoint first when `checkpoint` is true.
    Stop {
        /// Write a final checkpoint before stopping.
        checkpoint: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_serialises_flat_with_kind_tag() {
        let rec = Record::new(
            1.5,
            Event::Warning(MessageEvent {
                message: "micro-batch halved".into(),
            }),
        );
        let json = serde_json::to_string(&rec).unwrap();
        assert_eq!(
            json,
            r#"{"v":2,"t":1.5,"kind":"warning","message":"micro-batch halved"}"#
        );
        let back: Record = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rec);
    }

    #[test]
    fn v1_records_are_read_with_epochs_counted_from_one() {
        let v1 = |body: &str| -> Record {
            serde_json::from_str::<Record>(&format!(r#"{{"v":1,"t":1.0,{body}}}"#))
                .unwrap()
                .upgrade()
        };
        let e = v1(
            r#""kind":"epoch","epoch":0,"train_loss":1.0,"train_acc":0.5,"test_loss":1.0,"test_acc":0.5,"updates":10,"wall":1.0,"images_per_sec":1.0"#,
        );
        assert!(
            matches!(e.event, Event::Epoch(EpochEvent { epoch: 1, .. })),
            "{e:?}"
        );
        assert_eq!(e.v, SCHEMA_VERSION);
        let s = v1(
            r#""kind":"step","update":1,"epoch":0,"epoch_progress":0.5,"loss":1.0,"acc":0.5,"lr":0.1,"batch":8,"images_per_sec":1.0"#,
        );
        let Event::Step(step) = &s.event else {
            panic!("{s:?}")
        };
        assert_eq!((step.epoch, step.epochs_done()), (1, 0.5));
        let f = v1(
            r#""kind":"finished","name":"r","epochs":3,"updates":30,"baseline_updates":30,"final_test_acc":0.5,"best_test_acc":0.6,"best_epoch":1,"final_train_loss":1.0,"final_test_loss":1.0,"wall":3.0,"stages":[]"#,
        );
        assert!(
            matches!(f.event, Event::Finished(Summary { best_epoch: 2, .. })),
            "{f:?}"
        );
        // A current record passes through unchanged.
        let now = Record::new(1.0, e.event.clone());
        assert_eq!(now.clone().upgrade(), now);
    }

    #[test]
    fn unknown_fields_are_ignored_for_forward_compatibility() {
        let line = r#"{"v":1,"t":0.0,"kind":"paused","update":3,"reason":"key","future":42}"#;
        let rec: Record = serde_json::from_str(line).unwrap();
        assert_eq!(
            rec.event,
            Event::Paused(PauseEvent {
                update: 3,
                reason: PauseReason::Key
            })
        );
    }

    #[test]
    fn old_lines_with_reasons_read_into_types_and_write_back_the_same() {
        let lines = [
            r#"{"v":2,"t":1.5,"kind":"checkpoint","path":"runs/a/checkpoints/0001-000000016.safetensors","epoch":1,"update":16,"reason":"stage"}"#,
            r#"{"v":2,"t":2.0,"kind":"paused","update":16,"reason":"non-finite loss"}"#,
            r#"{"v":2,"t":0.0,"kind":"resumed","update":16,"reason":"resumed from runs/a/checkpoints/0001-000000016.safetensors"}"#,
            r#"{"v":2,"t":3.0,"kind":"resumed","update":16,"reason":"key"}"#,
            r#"{"v":2,"t":3.0,"kind":"resumed","update":16}"#,
        ];
        let recs: Vec<Record> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(matches!(
            &recs[0].event,
            Event::Checkpoint(CheckpointEvent {
                reason: CheckpointReason::Stage,
                ..
            })
        ));
        assert!(matches!(
            &recs[1].event,
            Event::Paused(PauseEvent {
                reason: PauseReason::NonFiniteLoss,
                ..
            })
        ));
        let Event::Resumed(p) = &recs[2].event else {
            panic!("{:?}", recs[2])
        };
        assert_eq!(
            p.reason.checkpoint(),
            Some("runs/a/checkpoints/0001-000000016.safetensors")
        );
        assert!(matches!(
            &recs[3].event,
            Event::Resumed(PauseEvent {
                reason: PauseReason::Key,
                ..
            })
        ));
        assert!(matches!(
            &recs[4].event,
            Event::Resumed(PauseEvent {
                reason: PauseReason::Unspecified,
                ..
            })
        ));
        // Written back, the first four lines are what they were.
        for (line, rec) in lines.iter().zip(&recs).take(4) {
            assert_eq!(&serde_json::to_string(rec).unwrap(), line);
        }
    }
}
