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
    /// Emit a `noise_scale` event every this many updates (0: none), as training's `noise.every`.
    pub noise_every: u64,
    /// Warn of out-of-memory, as the trainer does, when a stage needs more micro-batches than the last.
    pub oom_warnings: bool,
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
            noise_every: 0,
            oom_warnings: false,
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
    /// The demo run the TUI snapshots, screenshots and demo draw: 50,000 images, batch ×5 at epochs
    /// 5 and 9, every optional event on, and a last stage that needs two micro-batches.
    pub fn demo() -> SampleRun {
        SampleRun {
            name: "demo-increase-batch".into(),
            train_size: 50_000,
            milestones: vec![5, 9],
            max_micro_batch: 2048,
            noise_every: 40,
            oom_warnings: true,
            ..Default::default()
        }
    }

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
                noise_scale: crate::schedule::noise_scale(
                    lr,
                    self.train_size,
                    batch,
                    self.momentum,
                ),
                reason: None,
            });
            if self.increase_batch {
                batch *= self.factor;
            } else {
                lr /= self.factor as f64;
            }
        }
        plan
    }

    fn updates_per_epoch(&self, batch: usize) -> usize {
        self.train_size.div_ceil(batch)
    }

    fn header(&self, plan: &[StagePlan]) -> RunStarted {
        RunStarted {
            name: self.name.clone(),
            config: serde_json::json!({"name": self.name, "sample": true}),
            train_size: self.train_size,
            test_size: self.train_size / 5,
            data: "synthetic".into(),
            device: "cpu (sample)".into(),
            model: "resnet8".into(),
            params: 78_042,
            epochs: self.epochs,
            stages: plan.to_vec(),
            planned_updates: plan
                .iter()
                .map(|s| (s.end_epoch - s.start_epoch) * self.updates_per_epoch(s.batch))
                .sum(),
            baseline_updates: self.epochs * self.updates_per_epoch(self.batch),
            resumed_from: None,
            workers: Vec::new(),
        }
    }

    /// Expected training loss at epoch position `pos`: falls towards a floor set by the SGD noise scale.
    fn loss_at(&self, stage: &StagePlan, pos: f64) -> f64 {
        let floor = 0.25 + 0.002 * stage.noise_scale.sqrt();
        floor + 2.2 * (-4.0 * pos / self.epochs as f64).exp()
    }

    /// The records of one update: its step, then the resource and noise-scale samples due at it.
    fn update_records(&self, t: f64, step: StepEvent, out: &mut Vec<Record>) {
        let (update, batch) = (step.update, step.batch);
        let pos = step.epochs_done();
        let n = noise(self.seed, update);
        out.push(Record::new(t, Event::Step(step)));
        if update.is_multiple_of(100) {
            out.push(Record::new(
                t,
                Event::Resources(ResourcesEvent {
                    rss: Some(400_000_000 + 1_000_000 * batch as u64),
                    cpu_percent: Some(195.0 + 3.0 * n),
                    note: Some("no GPU".into()),
                    ..Default::default()
                }),
            ));
        }
        if self.noise_every > 0 && update.is_multiple_of(self.noise_every) {
            // B_simple grows as training goes on, which is what makes larger batches pay later.
            let b_simple = 180.0 * (1.0 + 2.2 * pos) * (1.0 + 0.1 * noise(self.seed ^ 0x5, update));
            let grad_sq = 1.0 / (1.0 + pos);
            out.push(Record::new(
                t,
                Event::NoiseScale(NoiseScaleEvent {
                    update,
                    b_simple,
                    grad_sq,
                    trace: b_simple * grad_sq,
                    batch,
                }),
            ));
        }
    }

    /// Builds the whole log, header first.
    pub fn records(&self) -> Vec<Record> {
        let plan = self.plan();
        let mut out = vec![Record::new(0.0, Event::RunStarted(self.header(&plan)))];
        let (mut t, mut update, mut wall) = (0.05, 0u64, 0.0);
        let mut last_accumulation = 1;
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
            let micro_batch = stage.batch.div_ceil(accumulation);
            out.push(Record::new(
                t,
                Event::Stage(StageEvent {
                    index,
                    epoch: epoch::number(stage.start_epoch),
                    update,
                    batch: stage.batch,
                    micro_batch,
                    accumulation,
                    lr: stage.lr,
                    momentum: stage.momentum,
                    noise_scale: stage.noise_scale,
                    reason: stage.reason.clone(),
                }),
            ));
            if self.oom_warnings && accumulation > last_accumulation {
                let old = stage.batch.div_ceil(last_accumulation);
                let message = format!(
                    "out of memory with micro-batches of {old}: retrying update {} with micro-batches of {micro_batch} ({accumulation} per update)",
                    update + 1
                );
                out.push(Record::new(t, Event::Warning(MessageEvent { message })));
            }
            last_accumulation = accumulation;
            let ips = 1500.0 * (stage.batch as f64 / 128.0).powf(0.25);
            let per_epoch = self.updates_per_epoch(stage.batch);
            // The loss of a bigger batch is a less noisy estimate.
            let spread = 0.15 * (self.batch as f64 / stage.batch as f64).sqrt();
            for epoch in stage.start_epoch..stage.end_epoch.min(end_epoch) {
                // Epochs wobble a little, so runs with different seeds do not draw one line.
                let n = noise(self.seed ^ 0xE, epoch as u64);
                let epoch_loss =
                    self.loss_at(stage, epoch::number(epoch) as f64) * (1.0 + 0.02 * n);
                for i in 0..per_epoch {
                    update += 1;
                    let dt = stage.batch as f64 / ips;
                    t += dt;
                    wall += dt;
                    if self.steps {
                        let n = noise(self.seed, update);
                        let epoch_progress = (i + 1) as f64 / per_epoch as f64;
                        let loss =
                            self.loss_at(stage, epoch as f64 + epoch_progress) * (1.0 + spread * n);
                        let step = StepEvent {
                            update,
                            epoch: epoch::number(epoch),
                            epoch_progress,
                            loss,
                            acc: (1.0 - loss / 2.4).clamp(0.0, 1.0),
                            lr: stage.lr,
                            batch: stage.batch,
                            images_per_sec: ips * (1.0 + 0.05 * n),
                            parallel: None,
                        };
                        self.update_records(t, step, &mut out);
                    }
                }
                let test_loss = epoch_loss * 1.25 + 0.08 + 0.02 * n;
                // Evaluation runs forward only, about three times the training rate.
                let eval_seconds = (self.train_size / 5) as f64 / (3.0 * ips);
                let train_wall = wall;
                wall += eval_seconds;
                let ev = EpochEvent {
                    epoch: epoch::number(epoch),
                    train_loss: epoch_loss,
                    train_acc: (1.0 - epoch_loss / 2.4).clamp(0.0, 1.0),
                    test_loss,
                    test_acc: (0.97 - test_loss / 2.8 + 0.005 * n).clamp(0.0, 1.0),
                    updates: update,
                    wall,
                    images_per_sec: ips,
                    eval_seconds,
                    train_wall: Some(train_wall),
                };
                t += eval_seconds;
                out.push(Record::new(t, Event::Epoch(ev)));
            }
            if self.finished && index + 1 < plan.len() {
                out.push(Record::new(
                    t,
                    Event::Checkpoint(CheckpointEvent {
                        path: format!(
                            "checkpoints/{}.safetensors",
                            crate::train::checkpoint::stem(stage.end_epoch, update)
                        ),
                        epoch: stage.end_epoch,
                        update,
                        reason: crate::events::CheckpointReason::Stage,
                    }),
                ));
            }
        }
        if self.finished {
            // The summary the trainer would write: the same computation over the same events.
            let summary = SummaryBuilder::from_events(out.iter().map(|r| &r.event))
                .summary()
                .clone();
            out.push(Record::new(t, Event::Finished(summary)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_is_deterministic_and_consistent() {
        let a = SampleRun::demo().records();
        assert_eq!(a, SampleRun::demo().records());
        let Event::RunStarted(h) = &a[0].event else {
            panic!("header first")
        };
        assert_eq!((h.planned_updates, h.baseline_updates), (2319, 4692));
        let count = |f: fn(&Event) -> bool| a.iter().filter(|r| f(&r.event)).count();
        assert_eq!(count(|e| matches!(e, Event::Step(_))), 2319);
        assert_eq!(count(|e| matches!(e, Event::NoiseScale(_))), 2319 / 40);
        assert_eq!(count(|e| matches!(e, Event::Checkpoint(_))), 2);
        let warnings: Vec<&Record> = a
            .iter()
            .filter(|r| matches!(r.event, Event::Warning(_)))
            .collect();
        assert_eq!(warnings.len(), 1, "only the last stage needs accumulation");
        let Event::Warning(w) = &warnings[0].event else {
            unreachable!()
        };
        assert_eq!(
            w.message,
            "out of memory with micro-batches of 3200: retrying update 2272 with micro-batches of 1600 (2 per update)"
        );
        assert!(
            a.windows(2).all(|w| w[0].t <= w[1].t),
            "times never go back"
        );
        assert!(matches!(a.last().unwrap().event, Event::Finished(_)));
    }

    #[test]
    fn an_unfinished_run_stops_half_way_without_a_summary() {
        let a = SampleRun {
            finished: false,
            ..SampleRun::demo()
        }
        .records();
        let epochs = a
            .iter()
            .filter(|r| matches!(r.event, Event::Epoch(_)))
            .count();
        assert_eq!(epochs, 6);
        assert!(!a
            .iter()
            .any(|r| matches!(r.event, Event::Finished(_) | Event::Checkpoint(_))));
    }

    #[test]
    fn loss_falls_and_steps_get_less_noisy_as_the_batch_grows() {
        let a = SampleRun::demo().records();
        let steps: Vec<&StepEvent> = a
            .iter()
            .filter_map(|r| match &r.event {
                Event::Step(s) => Some(s),
                _ => None,
            })
            .collect();
        let first = steps.iter().take(100).map(|s| s.loss).sum::<f64>() / 100.0;
        let last = steps.iter().rev().take(40).map(|s| s.loss).sum::<f64>() / 40.0;
        assert!(last < first / 5.0, "{first} → {last}");
        // Relative spread of the step loss around its trend, per batch size.
        let spread = |b: usize| {
            let r: Vec<f64> = steps
                .windows(2)
                .filter(|w| w[0].batch == b && w[1].batch == b)
                .map(|w| (w[1].loss / w[0].loss).ln().abs())
                .collect();
            r.iter().sum::<f64>() / r.len() as f64
        };
        assert!(spread(3200) < spread(128) / 3.0);
    }
}
