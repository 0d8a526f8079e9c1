//! The training schedule: for every epoch, the batch size B, learning rate ε and momentum m,
//! the SGD noise scale g = ε·N/(B·(1−m)) of each stage, and the update-count arithmetic.
//! Owns the paper's method; must never touch tensors or time.
//!
//! Counting convention: an epoch is ⌈N/B⌉ updates (the last, partial batch of an epoch is
//! kept, like PyTorch's `drop_last=False`). [`Schedule::ideal_updates`] gives the paper's
//! fractional count N·E/B for comparison.

use crate::config::{OptimKind, RunConfig, ScheduleKind};
use crate::events::StagePlan;

/// The per-epoch plan of a run. Static schedules are fixed at construction; the adaptive
/// schedule rewrites the plan from the next epoch on when the measured noise scale says so.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    kind: ScheduleKind,
    stages: Vec<StagePlan>,
    n_train: usize,
    epochs: usize,
    base_batch: usize,
    factor: f64,
    batch_cap: usize,
    adaptive_margin: f64,
}

/// The SGD noise scale g = ε·N/(B·(1−m)) of Smith et al.
pub fn noise_scale(lr: f64, n_train: usize, batch: usize, momentum: f64) -> f64 {
    lr * n_train as f64 / (batch as f64 * (1.0 - momentum))
}

impl Schedule {
    /// Builds the plan for `n_train` training images. B never exceeds `schedule.max_batch` nor N:
    /// a milestone that would pass the cap decays ε instead, keeping the noise scale's drop.
    pub fn new(cfg: &RunConfig, n_train: usize) -> Schedule {
        let s = &cfg.schedule;
        let base_momentum = match cfg.optim.kind {
            OptimKind::Momentum | OptimKind::Nesterov => cfg.optim.momentum,
            OptimKind::Sgd | OptimKind::Adam => 0.0,
        };
        let momentum = s.momentum.unwrap_or(base_momentum);
        // B ∝ ε and B ∝ 1/(1−m): both keep the noise scale of the unscaled schedule.
        let momentum_scale = (1.0 - base_momentum) / (1.0 - momentum);
        let lr0 = cfg.optim.lr * s.lr_scale;
        let n = n_train.max(1);
        let cap = match s.max_batch {
            0 => n,
            m => m.min(n),
        };
        let b0 = ((s.batch as f64 * s.lr_scale * momentum_scale).round() as usize).clamp(1, cap);
        let mut sched = Schedule {
            kind: s.kind,
            stages: Vec::new(),
            n_train: n,
            epochs: s.epochs,
            base_batch: b0,
            factor: s.factor,
            batch_cap: cap,
            adaptive_margin: s.adaptive_margin,
        };
        let mut batch = b0;
        let mut lr = lr0;
        let mut start = 0;
        let milestones: Vec<usize> = match s.kind {
            ScheduleKind::Constant | ScheduleKind::Adaptive => Vec::new(),
            _ => s.milestones.clone(),
        };
        for (i, &m) in milestones.iter().enumerate() {
            if m >= s.epochs {
                break;
            }
            sched.push(start, m, batch, lr, momentum);
            start = m;
            let grow = match s.kind {
                ScheduleKind::IncreaseBatch => true,
                ScheduleKind::Hybrid => i < s.hybrid_increases,
                _ => false,
            };
            let grown = (batch as f64 * s.factor).round() as usize;
            if grow && grown <= cap {
                batch = grown;
            } else {
                lr /= s.factor;
            }
        }
        sched.push(start, s.epochs, batch, lr, momentum);
        sched
    }

    fn push(&mut self, start: usize, end: usize, batch: usize, lr: f64, momentum: f64) {
        if start >= end {
            return;
        }
        self.stages.push(StagePlan {
            start_epoch: start,
            end_epoch: end,
            batch,
            lr,
            momentum,
            noise_scale: noise_scale(lr, self.n_train, batch, momentum),
        });
    }

    /// The plan's stages in epoch order; they tile `[0, epochs)`.
    pub fn stages(&self) -> &[StagePlan] {
        &self.stages
    }

    /// Total epochs.
    pub fn epochs(&self) -> usize {
        self.epochs
    }

    /// Index of the stage that covers `epoch` (the last stage for epochs past the end).
    pub fn stage_index(&self, epoch: usize) -> usize {
        self.stages
            .iter()
            .position(|s| epoch < s.end_epoch)
            .unwrap_or(self.stages.len() - 1)
    }

    /// The stage that covers `epoch`.
    pub fn stage(&self, epoch: usize) -> &StagePlan {
        &self.stages[self.stage_index(epoch)]
    }

    /// Updates in one epoch at batch `b` under our counting convention.
    pub fn updates_per_epoch(&self, batch: usize) -> u64 {
        self.n_train.div_ceil(batch) as u64
    }

    /// Updates the whole plan takes (⌈N/B⌉ per epoch).
    pub fn updates(&self) -> u64 {
        self.stages
            .iter()
            .map(|s| (s.end_epoch - s.start_epoch) as u64 * self.updates_per_epoch(s.batch))
            .sum()
    }

    /// The paper's fractional count Σ N·epochs/B.
    pub fn ideal_updates(&self) -> f64 {
        self.stages
            .iter()
            .map(|s| (s.end_epoch - s.start_epoch) as f64 * self.n_train as f64 / s.batch as f64)
            .sum()
    }

    /// Updates of the decay-LR baseline with the same epochs and initial batch.
    pub fn baseline_updates(&self) -> u64 {
        self.epochs as u64 * self.updates_per_epoch(self.base_batch)
    }

    /// Updates done before `epoch` starts.
    pub fn updates_before(&self, epoch: usize) -> u64 {
        (0..epoch.min(self.epochs))
            .map(|e| self.updates_per_epoch(self.stage(e).batch))
            .sum()
    }

    /// Adaptive schedule: at the end of `epoch`, grow B by the factor (up to the cap) from the next
    /// epoch on when the measured noise scale exceeds `margin × B`. Returns true when the plan changed.
    /// Static schedules ignore the measurement.
    pub fn observe_noise_scale(&mut self, epoch: usize, b_simple: f64) -> bool {
        if self.kind != ScheduleKind::Adaptive || epoch + 1 >= self.epochs {
            return false;
        }
        let current = self.stage(epoch).clone();
        if !(b_simple.is_finite() && b_simple > self.adaptive_margin * current.batch as f64) {
            return false;
        }
        let grown = ((current.batch as f64 * self.factor).round() as usize).min(self.batch_cap);
        if grown <= current.batch {
            return false;
        }
        let next = epoch + 1;
        let idx = self.stage_index(epoch);
        self.stages.truncate(idx + 1);
        self.stages[idx].end_epoch = next;
        self.push(next, self.epochs, grown, current.lr, current.momentum);
        true
    }

    /// Restores an adaptive plan saved in a checkpoint.
    pub fn restore_stages(&mut self, stages: Vec<StagePlan>) {
        if !stages.is_empty() {
            self.stages = stages;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper_config(kind: ScheduleKind) -> RunConfig {
        let mut cfg = RunConfig::default();
        cfg.schedule.kind = kind;
        cfg.schedule.epochs = 200;
        cfg.schedule.milestones = vec![60, 120, 160];
        cfg.schedule.factor = 5.0;
        cfg.schedule.batch = 128;
        cfg
    }

    #[test]
    fn update_counts_match_the_paper_arithmetic() {
        let decay = Schedule::new(&paper_config(ScheduleKind::DecayLr), 50_000);
        let inc = Schedule::new(&paper_config(ScheduleKind::IncreaseBatch), 50_000);
        // N·E/B: 200·50000/128 = 78,125 exactly.
        assert_eq!(decay.ideal_updates(), 78_125.0);
        // 60·50000/128 + 60·50000/640 + 40·50000/3200 + 40·50000/16000 = 28,875.
        assert_eq!(inc.ideal_updates(), 28_875.0);
        // With the partial last batch of each epoch counted: ⌈50000/128⌉ = 391 per epoch.
        assert_eq!(decay.updates(), 200 * 391);
        assert_eq!(inc.updates(), 60 * 391 + 60 * 79 + 40 * 16 + 40 * 4);
        assert_eq!(inc.baseline_updates(), decay.updates());
    }

    #[test]
    fn increase_batch_and_decay_lr_have_the_same_noise_scale_per_epoch() {
        let decay = Schedule::new(&paper_config(ScheduleKind::DecayLr), 50_000);
        let inc = Schedule::new(&paper_config(ScheduleKind::IncreaseBatch), 50_000);
        for epoch in 0..200 {
            let (a, b) = (decay.stage(epoch), inc.stage(epoch));
            assert!((a.noise_scale - b.noise_scale).abs() < 1e-9 * a.noise_scale);
        }
        assert_eq!(
            inc.stages().iter().map(|s| s.batch).collect::<Vec<_>>(),
            vec![128, 640, 3200, 16000]
        );
        assert!(inc.stages().iter().all(|s| s.lr == 0.1));
        let g0 = 0.1 * 50_000.0 / (128.0 * 0.1);
        assert!((decay.stages()[0].noise_scale - g0).abs() < 1e-9);
    }

    #[test]
    fn cap_turns_batch_growth_into_lr_decay() {
        let mut cfg = paper_config(ScheduleKind::IncreaseBatch);
        cfg.schedule.max_batch = 5_000;
        let s = Schedule::new(&cfg, 50_000);
        let plan: Vec<(usize, f64)> = s.stages().iter().map(|s| (s.batch, s.lr)).collect();
        assert_eq!(plan[..3], [(128, 0.1), (640, 0.1), (3200, 0.1)]);
        assert_eq!(plan[3].0, 3200);
        assert!((plan[3].1 - 0.02).abs() < 1e-12);
    }

    #[test]
    fn hybrid_grows_once_then_decays() {
        let s = Schedule::new(&paper_config(ScheduleKind::Hybrid), 50_000);
        let batches: Vec<usize> = s.stages().iter().map(|s| s.batch).collect();
        assert_eq!(batches, vec![128, 640, 640, 640]);
        assert!((s.stages()[3].lr - 0.1 / 25.0).abs() < 1e-12);
    }

    #[test]
    fn lr_and_momentum_scaling_keep_noise_scale() {
        let mut cfg = paper_config(ScheduleKind::IncreaseBatch);
        cfg.schedule.lr_scale = 5.0;
        let s = Schedule::new(&cfg, 50_000);
        assert_eq!(s.stages()[0].batch, 640);
        assert!((s.stages()[0].lr - 0.5).abs() < 1e-12);
        let reference = Schedule::new(&paper_config(ScheduleKind::IncreaseBatch), 50_000);
        assert!((s.stages()[0].noise_scale - reference.stages()[0].noise_scale).abs() < 1e-6);

        let mut cfg = paper_config(ScheduleKind::IncreaseBatch);
        cfg.schedule.momentum = Some(0.98);
        let s = Schedule::new(&cfg, 50_000);
        assert_eq!(s.stages()[0].batch, 640);
        assert_eq!(s.stages()[0].momentum, 0.98);
        assert!((s.stages()[0].noise_scale - reference.stages()[0].noise_scale).abs() < 1e-6);
    }

    #[test]
    fn batch_never_exceeds_the_training_set() {
        let s = Schedule::new(&paper_config(ScheduleKind::IncreaseBatch), 5_000);
        assert_eq!(
            s.stages().iter().map(|s| s.batch).collect::<Vec<_>>(),
            vec![128, 640, 3200, 3200]
        );
        assert_eq!(s.updates_per_epoch(3200), 2);
    }

    #[test]
    fn adaptive_grows_batch_when_noise_scale_exceeds_it() {
        let mut cfg = paper_config(ScheduleKind::Adaptive);
        cfg.schedule.epochs = 10;
        cfg.schedule.max_batch = 1000;
        let mut s = Schedule::new(&cfg, 50_000);
        assert_eq!(s.stages().len(), 1);
        assert!(!s.observe_noise_scale(2, 100.0), "below B: no change");
        assert!(s.observe_noise_scale(2, 700.0));
        assert_eq!(s.stage(2).batch, 128);
        assert_eq!(s.stage(3).batch, 640);
        assert!(s.observe_noise_scale(5, 5000.0));
        assert_eq!(s.stage(6).batch, 1000, "capped");
        assert!(!s.observe_noise_scale(7, 1e9), "already at the cap");
        assert_eq!(s.stages().len(), 3);
        assert_eq!(s.stages().last().unwrap().end_epoch, 10);
        let fixed = Schedule::new(&paper_config(ScheduleKind::IncreaseBatch), 50_000);
        let mut fixed2 = fixed.clone();
        assert!(!fixed2.observe_noise_scale(1, 1e9));
        assert_eq!(fixed, fixed2);
    }

    #[test]
    fn seed_presets_update_counts() {
        let load = |name: &str| {
            let path = format!("{}/configs/{name}.toml", env!("CARGO_MANIFEST_DIR"));
            Schedule::new(&RunConfig::load(Some(path.as_ref()), &[]).unwrap(), 50_000)
        };
        let inc = load("seed-resnet18-increase-batch");
        let dec = load("seed-resnet18-decay-lr");
        // 20·⌈50000/128⌉ + 10·⌈50000/640⌉ + 10·⌈50000/3200⌉ = 7,820 + 790 + 160.
        assert_eq!(inc.updates(), 8_770);
        assert_eq!(dec.updates(), 15_640);
        assert_eq!(
            inc.stages().iter().map(|s| s.batch).collect::<Vec<_>>(),
            vec![128, 640, 3200]
        );
        let default = load("default");
        assert_eq!(
            default
                .stages()
                .iter()
                .map(|s| (s.batch, s.lr))
                .collect::<Vec<_>>(),
            vec![(128, 0.1), (640, 0.1), (3200, 0.1), (3200, 0.1 / 5.0)]
        );
    }

    #[test]
    fn milestones_past_the_run_are_not_reached() {
        let mut cfg = paper_config(ScheduleKind::IncreaseBatch);
        cfg.schedule.epochs = 70;
        let s = Schedule::new(&cfg, 50_000);
        let plan: Vec<(usize, usize, usize)> = s
            .stages()
            .iter()
            .map(|s| (s.start_epoch, s.end_epoch, s.batch))
            .collect();
        assert_eq!(plan, vec![(0, 60, 128), (60, 70, 640)]);
    }

    #[test]
    fn updates_before_counts_whole_epochs() {
        let s = Schedule::new(&paper_config(ScheduleKind::IncreaseBatch), 50_000);
        assert_eq!(s.updates_before(0), 0);
        assert_eq!(s.updates_before(61), 60 * 391 + 79);
        assert_eq!(s.updates_before(200), s.updates());
    }
}
