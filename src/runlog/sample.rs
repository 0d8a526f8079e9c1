//! A plausible synthetic run log, for tests, benchmarks, screenshots and demos.
//!
//! Owns nothing but the shape of a believable run (loss falls, accuracy rises, stages change,
//! throughput grows with the batch). It must never be used by training or presented as real data.

use crate::events::*;

/// Parameters of a synthetic run; `records()` turns them into a complete log.
#[derive(Clone, Debug)]
pub struct SampleRun {
    /// Run name written in the header and summary.
    pub name: String,
    /// Epochs to simulate.
    pub epochs: usize,
    /// Training set size (sets the updates per epoch).
    pub train_size: usize,
    /// Initial batch size.
    pub batch: usize,
    /// Largest physical batch; bigger batches are split into accumulated micro-batches.
    pub max_micro_batch: usize,
    /// Initial learning rate.
    pub lr: f64,
    /// Momentum.
    pub momentum: f64,
    /// Epochs at which the next stage begins.
    pub milestones: Vec<usize>,
    /// Factor applied at each milestone.
    pub factor: usize,
    /// True: multiply the batch at milestones; false: divide the learning rate (decay-LR).
    pub increase_batch: bool,
    /// Emit one `step` event per update (false keeps logs small).
    pub steps: bool,
    /// End with `finished`; false stops mid-run as if the process died.
    pub finished: bool,
    /// Varies the noise so several runs do not coincide.
    pub seed: u64,
}

impl Default for SampleRun {
    fn default() -> Self {
        SampleRun {
            name: "sample".into(),
            epochs: 12,
            train_size: 5_000,
            batch: 128,
            max_micro_batch: 256,
            lr: 0.1,
            momentum: 0.9,
            milestones: vec![6, 9],
            factor: 5,
            increase_batch: true,
            steps: true,
            finished: true,
            seed: 1,
        }
    }
}

/// Deterministic noise in [-1, 1) (splitmix64), so samples need no RNG crate and never change.
fn noise(seed: u64, i: u64) -> f64 {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(i.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

impl SampleRun {
    /// The stage plan: (start epoch, end epoch, batch, lr).
    fn plan(&self) -> Vec<StagePlan> {
        let mut bounds = vec![0];
        bounds.extend(
            self.milestones
                .iter()
                .copied()
                .filter(|&m| m > 0 && m < self.epochs),
        );
        bounds.push(self.epochs);
        let (mut batch, mut lr) = (self.batch, self.lr);
        let mut plan = Vec::new();
        for w in bounds.windows(2) {
            plan.push(StagePlan {
                start_epoch: w[0],
                end_epoch: w[1],
                batch,
                lr,
                momentum: self.momentum,
                noise_scale: lr * self.train_size as f64 / (batch as f64 * (1.0 - self.momentum)),
            });
            if self.increase_batch {
                batch *= self.factor;
            } else {
                lr /= self.factor as f64;
            }
        }
        plan
    }

    /// Builds the whole log, header first.
    pub fn records(&self) -> Vec<Record> {
        let plan = self.plan();
        let updates_for = |b: usize| self.train_size.div_ceil(b);
        let planned: usize = plan
            .iter()
            .map(|s| (s.end_epoch - s.start_epoch) * updates_for(s.batch))
            .sum();
        let mut out = vec![Record::new(
            0.0,
            Event::RunStarted(RunStarted {
                name: self.name.clone(),
                config: serde_json::json!({"name": self.name, "sample": true}),
                train_size: self.train_size,
                test_size: self.train_size / 5,
                data: "synthetic".into(),
                device: "cpu (sample)".into(),
                model: "resnet8".into(),
                params: 78_042,
                epochs: self.epochs,
                stages: plan.clone(),
                planned_updates: planned,
                baseline_updates: self.epochs * updates_for(self.batch),
                resumed_from: None,
            }),
        )];
        let (mut t, mut update, mut wall) = (0.05, 0u64, 0.0);
        let mut best = (0.0, 0);
        let mut last_epoch: Option<EpochEvent> = None;
        let mut stage_sums = Vec::new();
        let end_epoch = if self.finished {
            self.epochs
        } else {
            self.epochs.div_ceil(2)
        };
        for (index, stage) in plan.iter().enumerate() {
            if stage.start_epoch >= end_epoch {
                break;
            }
            let accumulation = stage.batch.div_ceil(self.max_micro_batch);
            out.push(Record::new(
                t,
                Event::Stage(StageEvent {
                    index,
                    epoch: stage.start_epoch,
                    update,
                    batch: stage.batch,
                    micro_batch: stage.batch.div_ceil(accumulation),
                    accumulation,
                    lr: stage.lr,
                    momentum: stage.momentum,
                    noise_scale: stage.noise_scale,
                }),
            ));
            let ips = 1500.0 * (stage.batch as f64 / 128.0).powf(0.25);
            let per_epoch = updates_for(stage.batch);
            let stage_start = (update, wall);
            for epoch in stage.start_epoch..stage.end_epoch.min(end_epoch) {
                // Loss falls with epochs towards a floor set by the SGD noise scale.
                let floor = 0.05 + 0.0006 * stage.noise_scale.sqrt();
                let progress = (epoch + 1) as f64 / self.epochs as f64;
                let epoch_loss = floor + 2.2 * (-4.0 * progress).exp();
                for i in 0..per_epoch {
                    update += 1;
                    let dt = stage.batch as f64 / ips;
                    t += dt;
                    wall += dt;
                    if self.steps {
                        let n = noise(self.seed, update);
                        let loss = epoch_loss * (1.0 + 0.15 * n);
                        out.push(Record::new(
                            t,
                            Event::Step(StepEvent {
                                update,
                                epoch,
                                epoch_progress: (i + 1) as f64 / per_epoch as f64,
                                loss,
                                acc: (1.0 - loss / 2.4).clamp(0.0, 1.0),
                                lr: stage.lr,
                                batch: stage.batch,
                                images_per_sec: ips * (1.0 + 0.05 * n),
                            }),
                        ));
                        if update % 100 == 0 {
                            out.push(Record::new(
                                t,
                                Event::Resources(ResourcesEvent {
                                    rss: Some(400_000_000 + 1_000_000 * stage.batch as u64),
                                    cpu_percent: Some(195.0 + 3.0 * n),
                                    note: Some("no GPU".into()),
                                    ..Default::default()
                                }),
                            ));
                        }
                    }
                }
                let n = noise(self.seed ^ 0xE, epoch as u64);
                let test_loss = epoch_loss * 1.25 + 0.08 + 0.02 * n;
                let ev = EpochEvent {
                    epoch,
                    train_loss: epoch_loss,
                    train_acc: (1.0 - epoch_loss / 2.4).clamp(0.0, 1.0),
                    test_loss,
                    test_acc: (0.97 - test_loss / 2.8 + 0.005 * n).clamp(0.0, 1.0),
                    updates: update,
                    wall,
                    images_per_sec: ips,
                };
                if ev.test_acc > best.0 {
                    best = (ev.test_acc, epoch);
                }
                t += 0.5;
                out.push(Record::new(t, Event::Epoch(ev.clone())));
                last_epoch = Some(ev);
            }
            let epochs = stage.end_epoch.min(end_epoch) - stage.start_epoch;
            stage_sums.push(StageSummary {
                index,
                batch: stage.batch,
                lr: stage.lr,
                epochs,
                updates: update - stage_start.0,
                images_per_sec: ips,
            });
            if self.finished && index + 1 < plan.len() {
                out.push(Record::new(
                    t,
                    Event::Checkpoint(CheckpointEvent {
                        path: format!("checkpoints/{}-{}.safetensors", stage.end_epoch, update),
                        epoch: stage.end_epoch,
                        update,
                        reason: "stage".into(),
                    }),
                ));
            }
        }
        if self.finished {
            let last = last_epoch.unwrap_or(EpochEvent {
                epoch: 0,
                train_loss: 0.0,
                train_acc: 0.0,
                test_loss: 0.0,
                test_acc: 0.0,
                updates: 0,
                wall: 0.0,
                images_per_sec: 0.0,
            });
            out.push(Record::new(
                t,
                Event::Finished(Summary {
                    name: self.name.clone(),
                    epochs: self.epochs,
                    updates: update,
                    baseline_updates: self.epochs * updates_for(self.batch),
                    final_test_acc: last.test_acc,
                    best_test_acc: best.0,
                    best_epoch: best.1,
                    final_train_loss: last.train_loss,
                    final_test_loss: last.test_loss,
                    wall,
                    stages: stage_sums,
                }),
            ));
        }
        out
    }
}
