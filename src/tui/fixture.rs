//! A fixed, synthetic event sequence of a small increase-batch run, for UI tests, screenshots
//! and the demo. Owns nothing but made-up numbers; must never be used to report real results.

use crate::events::{
    CheckpointEvent, EpochEvent, Event, MessageEvent, NoiseScaleEvent, PauseEvent, Record,
    ResourcesEvent, RunStarted, StageEvent, StagePlan, StageSummary, StepEvent, Summary,
};

const TRAIN: usize = 50_000;
const TEST: usize = 10_000;
const EPOCHS: usize = 12;
/// (start epoch, batch, lr): the batch grows ×5 twice, the learning rate stays.
const PLAN: [(usize, usize, f64); 3] = [(0, 128, 0.1), (5, 640, 0.1), (9, 3200, 0.1)];
const MOMENTUM: f64 = 0.9;

/// Small deterministic generator (xorshift64*), so the fixture needs no RNG crate.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (v >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

fn noise_scale(lr: f64, batch: usize) -> f64 {
    lr * TRAIN as f64 / (batch as f64 * (1.0 - MOMENTUM))
}

fn updates_per_epoch(batch: usize) -> usize {
    TRAIN.div_ceil(batch)
}

/// Expected loss at epoch position `e`: falls, and drops again after each batch increase.
fn loss_at(e: f64) -> f64 {
    let mut l = 0.62 + 1.68 * (-e / 1.3).exp();
    for (start, _, _) in PLAN.iter().skip(1) {
        let s = *start as f64;
        if e > s {
            l -= 0.16 * (1.0 - (-(e - s) / 0.4).exp());
        }
    }
    l
}

/// The whole run: header, stages, steps, epochs, resources, noise scale, checkpoints, a warning, finish.
pub fn demo_records() -> Vec<Record> {
    let mut out = Vec::new();
    let mut rng = Noise(0x9E37_79B9_7F4A_7C15);
    let stages: Vec<StagePlan> = PLAN
        .iter()
        .enumerate()
        .map(|(i, &(start, batch, lr))| StagePlan {
            start_epoch: start,
            end_epoch: PLAN.get(i + 1).map_or(EPOCHS, |p| p.0),
            batch,
            lr,
            momentum: MOMENTUM,
            noise_scale: noise_scale(lr, batch),
        })
        .collect();
    let planned: usize = stages
        .iter()
        .map(|s| (s.end_epoch - s.start_epoch) * updates_per_epoch(s.batch))
        .sum();
    let baseline = EPOCHS * updates_per_epoch(PLAN[0].1);
    out.push(Record::new(
        0.0,
        Event::RunStarted(RunStarted {
            name: "demo-increase-batch".into(),
            config: serde_json::json!({"schedule": {"kind": "increase-batch"}}),
            train_size: TRAIN,
            test_size: TEST,
            data: "synthetic".into(),
            device: "cpu (2 threads)".into(),
            model: "resnet8".into(),
            params: 78_042,
            epochs: EPOCHS,
            stages: stages.clone(),
            planned_updates: planned,
            baseline_updates: baseline,
            resumed_from: None,
        }),
    ));
    let mut t = 0.0;
    let mut update: u64 = 0;
    let mut next_resources = 0.4;
    let mut rss: u64 = 1_050_000_000;
    let mut stage_summaries = Vec::new();
    let mut best = (0.0, 0);
    let mut last_epoch = None;
    for (si, plan) in stages.iter().enumerate() {
        let mut micro = plan.batch;
        let mut accumulation = 1;
        if si == 2 {
            micro = plan.batch / 2;
            accumulation = 2;
            out.push(Record::new(
                t,
                Event::Warning(MessageEvent {
                    message: format!(
                        "out of memory at micro-batch {}: retrying with {micro} × {accumulation}",
                        plan.batch
                    ),
                }),
            ));
        }
        out.push(Record::new(
            t,
            Event::Stage(StageEvent {
                index: si,
                epoch: plan.start_epoch,
                update,
                batch: plan.batch,
                micro_batch: micro,
                accumulation,
                lr: plan.lr,
                momentum: plan.momentum,
                noise_scale: plan.noise_scale,
            }),
        ));
        let stage_t0 = t;
        let stage_u0 = update;
        let base_ips = match si {
            0 => 1850.0,
            1 => 3050.0,
            _ => 3700.0,
        };
        for epoch in plan.start_epoch..plan.end_epoch {
            let per_epoch = updates_per_epoch(plan.batch);
            let (mut loss_sum, mut acc_sum) = (0.0, 0.0);
            for i in 0..per_epoch {
                let batch = if i + 1 == per_epoch {
                    TRAIN - plan.batch * (per_epoch - 1)
                } else {
                    plan.batch
                };
                let ips = base_ips * (1.0 + 0.04 * rng.next());
                t += batch as f64 / ips;
                update += 1;
                let progress = (i + 1) as f64 / per_epoch as f64;
                let e = epoch as f64 + progress;
                let amp = 0.22 * (128.0 / plan.batch as f64).sqrt();
                let loss = (loss_at(e) + amp * rng.next()).max(0.02);
                let acc = (1.0 - loss / 2.45 + 0.03 * rng.next()).clamp(0.0, 1.0);
                loss_sum += loss * batch as f64;
                acc_sum += acc * batch as f64;
                out.push(Record::new(
                    t,
                    Event::Step(StepEvent {
                        update,
                        epoch,
                        epoch_progress: progress,
                        loss,
                        acc,
                        lr: plan.lr,
                        batch,
                        images_per_sec: ips,
                    }),
                ));
                if update.is_multiple_of(40) {
                    let b_simple = 180.0 * (1.0 + 2.2 * e) * (1.0 + 0.1 * rng.next());
                    out.push(Record::new(
                        t,
                        Event::NoiseScale(NoiseScaleEvent {
                            update,
                            b_simple,
                            grad_sq: 1.0 / (1.0 + e),
                            trace: b_simple / (1.0 + e),
                            batch: plan.batch,
                        }),
                    ));
                }
                if t >= next_resources {
                    rss += 1_500_000;
                    out.push(Record::new(
                        t,
                        Event::Resources(ResourcesEvent {
                            rss: Some(rss),
                            cpu_percent: Some(186.0 + 8.0 * rng.next()),
                            note: Some("cpu run: no GPU figures".into()),
                            ..Default::default()
                        }),
                    ));
                    next_resources = t + 1.0;
                }
            }
            t += 2.5; // evaluation
            let test_acc = 0.88 - 0.5 * (-(epoch as f64 + 1.0) / 2.2).exp()
                + 0.025 * PLAN.iter().skip(1).filter(|p| p.0 <= epoch).count() as f64
                + 0.004 * rng.next();
            if test_acc > best.0 {
                best = (test_acc, epoch);
            }
            let ev = EpochEvent {
                epoch,
                train_loss: loss_sum / TRAIN as f64,
                train_acc: acc_sum / TRAIN as f64,
                test_loss: loss_at(epoch as f64 + 1.0) + 0.08,
                test_acc,
                updates: update,
                wall: t,
                images_per_sec: base_ips,
            };
            last_epoch = Some(ev.clone());
            out.push(Record::new(t, Event::Epoch(ev)));
        }
        out.push(Record::new(
            t + 0.3,
            Event::Checkpoint(CheckpointEvent {
                path: format!(
                    "runs/demo/checkpoints/{}-{update}.safetensors",
                    plan.end_epoch - 1
                ),
                epoch: plan.end_epoch - 1,
                update,
                reason: if si + 1 == stages.len() {
                    "final".into()
                } else {
                    "stage".into()
                },
            }),
        ));
        t += 0.3;
        stage_summaries.push(StageSummary {
            index: si,
            batch: plan.batch,
            lr: plan.lr,
            epochs: plan.end_epoch - plan.start_epoch,
            updates: update - stage_u0,
            images_per_sec: (plan.end_epoch - plan.start_epoch) as f64 * TRAIN as f64
                / (t - stage_t0),
        });
    }
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
            name: "demo-increase-batch".into(),
            epochs: EPOCHS,
            updates: update,
            baseline_updates: baseline,
            final_test_acc: last.test_acc,
            best_test_acc: best.0,
            best_epoch: best.1,
            final_train_loss: last.train_loss,
            final_test_loss: last.test_loss,
            wall: t,
            stages: stage_summaries,
        }),
    ));
    out
}

/// The records up to and including the step of update `u` (all of them when the run is shorter).
pub fn cut_at_update(records: &[Record], u: u64) -> Vec<Record> {
    let end = records
        .iter()
        .position(|r| matches!(&r.event, Event::Step(s) if s.update >= u))
        .map_or(records.len(), |i| i + 1);
    records[..end].to_vec()
}

/// The records before the first step: header, first stage, maybe a resource sample.
pub fn warming_up(records: &[Record]) -> Vec<Record> {
    let end = records
        .iter()
        .position(|r| matches!(r.event, Event::Step(_)))
        .unwrap_or(records.len());
    records[..end].to_vec()
}

/// The records up to `n` updates after stage `index` began.
pub fn after_stage(records: &[Record], index: usize, n: u64) -> Vec<Record> {
    let start = records.iter().find_map(|r| match &r.event {
        Event::Stage(s) if s.index == index => Some(s.update),
        _ => None,
    });
    cut_at_update(records, start.unwrap_or(0) + n)
}

/// A run paused by the user at update `u`.
pub fn paused_at(records: &[Record], u: u64) -> Vec<Record> {
    let mut out = cut_at_update(records, u);
    let t = out.last().map_or(0.0, |r| r.t);
    out.push(Record::new(
        t,
        Event::Paused(PauseEvent {
            update: u,
            reason: "key".into(),
        }),
    ));
    out
}

/// A run that failed at update `u` on a non-finite loss.
pub fn failed_at(records: &[Record], u: u64) -> Vec<Record> {
    let mut out = cut_at_update(records, u);
    let t = out.last().map_or(0.0, |r| r.t);
    out.push(Record::new(
        t + 0.1,
        Event::Checkpoint(CheckpointEvent {
            path: format!("runs/demo/checkpoints/nan-{u}.safetensors"),
            epoch: 0,
            update: u,
            reason: "nan".into(),
        }),
    ));
    out.push(Record::new(
        t + 0.2,
        Event::Failed(MessageEvent {
            message: format!("loss became NaN at update {u}; lower the learning rate or resume from the last checkpoint"),
        }),
    ));
    out
}

/// A second, decay-LR run of the same length for the compare view: same epochs, fixed batch.
pub fn decay_lr_records() -> Vec<Record> {
    let mut recs = demo_records();
    let mut update = 0u64;
    let per_epoch = updates_per_epoch(PLAN[0].1) as u64;
    for r in &mut recs {
        match &mut r.event {
            Event::RunStarted(h) => {
                h.name = "demo-decay-lr".into();
                for (i, s) in h.stages.iter_mut().enumerate() {
                    s.batch = PLAN[0].1;
                    s.lr = 0.1 / 5f64.powi(i as i32);
                    s.noise_scale = noise_scale(s.lr, s.batch);
                }
                h.planned_updates = h.baseline_updates;
            }
            Event::Stage(s) => {
                s.lr = 0.1 / 5f64.powi(s.index as i32);
                s.batch = PLAN[0].1;
                s.micro_batch = PLAN[0].1;
                s.accumulation = 1;
                s.noise_scale = noise_scale(s.lr, s.batch);
                s.update = s.epoch as u64 * per_epoch;
            }
            Event::Epoch(e) => {
                update = (e.epoch as u64 + 1) * per_epoch;
                e.updates = update;
                e.test_acc -= 0.004;
                e.train_loss *= 1.03;
            }
            Event::Finished(s) => {
                s.name = "demo-decay-lr".into();
                s.updates = update;
            }
            _ => {}
        }
    }
    // Steps would need re-timing per update; the compare view draws epoch curves and the loss per epoch.
    recs.retain(|r| !matches!(r.event, Event::Step(_) | Event::NoiseScale(_)));
    recs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_is_deterministic_and_consistent() {
        let a = demo_records();
        assert_eq!(a, demo_records());
        let Event::RunStarted(h) = &a[0].event else {
            panic!("header first")
        };
        assert_eq!((h.planned_updates, h.baseline_updates), (2319, 4692));
        let steps = a
            .iter()
            .filter(|r| matches!(r.event, Event::Step(_)))
            .count();
        assert_eq!(steps, 2319);
        assert!(
            a.windows(2).all(|w| w[0].t <= w[1].t),
            "times never go back"
        );
        assert!(matches!(a.last().unwrap().event, Event::Finished(_)));
    }
}
