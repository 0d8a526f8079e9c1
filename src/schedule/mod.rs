//! The training schedule: for every epoch, the batch size B, learning rate ε and momentum m,
//! the SGD noise scale g = ε·N/(B·(1−m)) of each stage, and the update-count arithmetic.
//! Owns the paper's method; must never touch tensors or time.
//!
//! Counting convention: an epoch is ⌈N/B⌉ updates (the last, partial batch of an epoch is
//! kept, like PyTorch's `drop_last=False`). [`Schedule::ideal_updates`] gives the paper's
//! fractional count N·E/B for comparison.

mod adaptive;
mod noise;

use crate::config::{OptimKind, RunConfig, ScheduleKind};
use crate::events::StagePlan;

use adaptive::AdaptiveRule;
pub use adaptive::{efficient_batch, plateau_ratio, AdaptiveState, CutTrigger};
pub use noise::noise_scale;

/// The per-epoch plan of a run. Static schedules are fixed at construction; the adaptive
/// schedule rewrites the plan from the next epoch on when its rule cuts the noise.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    kind: ScheduleKind,
    stages: Vec<StagePlan>,
    n_train: usize,
    epochs: usize,
    base_batch: usize,
    factor: f64,
    batch_cap: usize,
    rule: AdaptiveRule,
    state: AdaptiveState,
}

/// Why B did not grow at a milestone: what capped it, and what fell instead.
fn capped_reason(batch: usize, max_batch: usize, n_train: usize, factor: f64) -> String {
    let cap = if max_batch > 0 && max_batch < n_train {
        format!(
            "schedule.max_batch is {}",
            crate::format::count(max_batch as u64)
        )
    } else {
        format!(
            "the training set has {} images",
            crate::format::count(n_train as u64)
        )
    };
    format!(
        "B stays {}: {cap}; ε ÷{} instead",
        crate::format::count(batch as u64),
        crate::format::lr(factor)
    )
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
        let deadlines: Vec<usize> = s
            .milestones
            .iter()
            .copied()
            .filter(|&m| m < s.epochs)
            .collect();
        let mut sched = Schedule {
            kind: s.kind,
            stages: Vec::new(),
            n_train: n,
            epochs: s.epochs,
            base_batch: b0,
            factor: s.factor,
            batch_cap: cap,
            rule: AdaptiveRule {
                cuts: if s.milestones.is_empty() {
                    s.adaptive_cuts
                } else {
                    deadlines.len()
                },
                deadlines,
                min_epochs: s.adaptive_min_epochs.max(1),
                threshold: s.adaptive_threshold,
                window: s.adaptive_window,
                efficiency: s.adaptive_efficiency,
                ghost: cfg.model.ghost_batch,
            },
            state: AdaptiveState::default(),
        };
        let mut batch = b0;
        let mut lr = lr0;
        let mut start = 0;
        let milestones: Vec<usize> = match s.kind {
            ScheduleKind::Constant | ScheduleKind::Adaptive => Vec::new(),
            _ => s.milestones.clone(),
        };
        // Why the next stage differs from what its schedule's rule says (B capped).
        let mut reason = None;
        for (i, &m) in milestones.iter().enumerate() {
            if m >= s.epochs {
                break;
            }
            sched.push(start, m, batch, lr, momentum, reason.take());
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
                if grow {
                    reason = Some(capped_reason(batch, s.max_batch, n, s.factor));
                }
            }
        }
        sched.push(start, s.epochs, batch, lr, momentum, reason);
        sched
    }

    fn push(
        &mut self,
        start: usize,
        end: usize,
        batch: usize,
        lr: f64,
        momentum: f64,
        reason: Option<String>,
    ) {
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
            reason,
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

    /// Restores a plan and adaptive state saved in a checkpoint.
    pub fn restore(&mut self, stages: Vec<StagePlan>, state: AdaptiveState) {
        if !stages.is_empty() {
            self.stages = stages;
        }
        self.state = state;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper_config(kind: ScheduleKind) -> RunConfig {
        let mut cfg = RunConfig::default();
        // The rule's tests read one epoch at a time; the window has its own test.
        cfg.schedule.adaptive_window = 1;
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
        assert_eq!(
            s.stages()[3].reason.as_deref(),
            Some("B stays 3,200: schedule.max_batch is 5,000; ε ÷5 instead")
        );
        assert!(s.stages()[..3].iter().all(|st| st.reason.is_none()));
        // The training set caps B too, and says so.
        let s = Schedule::new(&paper_config(ScheduleKind::IncreaseBatch), 2_000);
        let capped = s.stages().iter().find(|st| st.reason.is_some()).unwrap();
        assert_eq!(
            capped.reason.as_deref(),
            Some("B stays 640: the training set has 2,000 images; ε ÷5 instead")
        );
        // Decay-LR decays ε by its rule: no reason to give.
        let d = Schedule::new(&paper_config(ScheduleKind::DecayLr), 2_000);
        assert!(d.stages().iter().all(|st| st.reason.is_none()));
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

    fn adaptive(milestones: &[usize]) -> Schedule {
        let mut cfg = paper_config(ScheduleKind::Adaptive);
        cfg.schedule.epochs = 20;
        cfg.schedule.milestones = milestones.to_vec();
        cfg.schedule.max_batch = 5000;
        Schedule::new(&cfg, 50_000)
    }

    /// Feeds epochs `from..to` of a loss trace with a fixed B_simple; returns the epochs whose
    /// end cut the noise.
    fn feed(
        s: &mut Schedule,
        range: std::ops::Range<usize>,
        loss: impl Fn(usize) -> f64,
        b: f64,
    ) -> Vec<usize> {
        range
            .filter(|&e| s.observe_epoch(e, loss(e), Some(b)).is_some())
            .collect()
    }

    /// A stage's loss falling geometrically towards a floor: falls shrink by `r` per epoch.
    fn settling(start: usize, r: f64) -> impl Fn(usize) -> f64 {
        move |e| 0.5 + r.powi((e - start) as i32)
    }

    #[test]
    fn adaptive_cuts_the_noise_at_a_plateau() {
        let mut s = adaptive(&[]);
        assert_eq!(s.stages().len(), 1, "nothing is planned ahead");
        let g0 = s.stage(0).noise_scale;
        // Falls 0.6^e: the fall after epoch e is 0.6^(e-1) of the first, below 0.15 from e = 5.
        assert_eq!(feed(&mut s, 0..6, settling(0, 0.6), 1e5), vec![5]);
        let stage = s.stage(6).clone();
        assert_eq!((stage.start_epoch, stage.batch, stage.lr), (6, 640, 0.1));
        assert!((stage.noise_scale - g0 / 5.0).abs() < 1e-9 * g0);
        assert!(stage.reason.as_deref().unwrap().starts_with("plateau"));
        assert_eq!(s.stage(5).batch, 128);
    }

    #[test]
    fn adaptive_window_waits_out_a_single_flat_epoch() {
        let mut cfg = paper_config(ScheduleKind::Adaptive);
        cfg.schedule.epochs = 20;
        cfg.schedule.milestones = vec![];
        cfg.schedule.max_batch = 5000;
        cfg.schedule.adaptive_window = 2;
        let mut s = Schedule::new(&cfg, 50_000);
        // Falls 0.4, 0.2, 0.01 (flat), 0.2, then small ones: one epoch alone would cut after
        // the flat one; two averaged wait for the loss to settle.
        let losses = [2.0, 1.6, 1.4, 1.39, 1.19, 1.18, 1.175, 1.17];
        let cuts = feed(&mut s, 0..losses.len(), |e| losses[e], 1e5);
        assert_eq!(cuts, vec![6], "{:?}", s.stages());
        cfg.schedule.adaptive_window = 1;
        let mut s = Schedule::new(&cfg, 50_000);
        assert_eq!(feed(&mut s, 0..4, |e| losses[e], 1e5), vec![3]);
    }

    #[test]
    fn adaptive_never_cuts_on_the_noise_scale_alone() {
        let mut s = adaptive(&[]);
        // A steady fall (no plateau) with B_simple far above B: no cut until the remaining three
        // cuts need the remaining epochs (two each): the first at epoch 14.
        let steady = |e: usize| 2.0 - 0.05 * e as f64;
        assert_eq!(feed(&mut s, 0..13, steady, 1e6), Vec::<usize>::new());
        assert_eq!(s.stages().len(), 1);
        assert_eq!(feed(&mut s, 13..20, steady, 1e6), vec![13, 15, 17]);
        let starts: Vec<usize> = s.stages().iter().map(|s| s.start_epoch).collect();
        assert_eq!(starts, vec![0, 14, 16, 18]);
        assert!(s.stages()[1]
            .reason
            .as_deref()
            .unwrap()
            .contains("remaining"));
    }

    #[test]
    fn adaptive_splits_each_cut_by_the_noise_scale_and_respects_the_cap() {
        let mut s = adaptive(&[]);
        let g0 = s.stage(0).noise_scale;
        feed(&mut s, 0..6, settling(0, 0.6), 1e5);
        assert_eq!(s.stage(6).batch, 640);
        // B_simple 1,500: the efficient batch is (1500 + 128)/0.5 − 1500 = 1,756, kept a
        // multiple of the ghost batch (128): 1,664; ε takes the rest of the ×5.
        assert_eq!(feed(&mut s, 6..12, settling(6, 0.6), 1500.0), vec![11]);
        let st = s.stage(12).clone();
        assert_eq!(st.batch, 1664);
        assert!((st.lr - 0.1 * (1664.0 / 640.0) / 5.0).abs() < 1e-12);
        assert!((st.noise_scale - g0 / 25.0).abs() < 1e-9 * g0);
        // Next cut: ×5 would pass the cap of 5,000, so B stops there and ε falls by the rest.
        assert_eq!(feed(&mut s, 12..18, settling(12, 0.6), 1e5), vec![17]);
        let last = s.stage(18).clone();
        assert_eq!(last.batch, 5000);
        assert!((last.noise_scale - g0 / 125.0).abs() < 1e-9 * g0);
        assert!(s.stages().iter().all(|st| st.batch <= 5000));
        // Three cuts were asked for: a further plateau changes nothing.
        assert_eq!(feed(&mut s, 18..20, |_| 0.5, 1e5), Vec::<usize>::new());
    }

    #[test]
    fn adaptive_at_the_cap_decays_the_learning_rate_only() {
        let mut cfg = paper_config(ScheduleKind::Adaptive);
        cfg.schedule.epochs = 20;
        cfg.schedule.milestones = vec![];
        cfg.schedule.max_batch = 128;
        let mut s = Schedule::new(&cfg, 50_000);
        feed(&mut s, 0..6, settling(0, 0.6), 1e5);
        assert_eq!((s.stage(6).batch, s.stage(6).lr), (128, 0.1 / 5.0));
        // A batch already past the efficient one (100 + 2·128 = 356 < 640) stays too.
        let mut s = adaptive(&[]);
        feed(&mut s, 0..6, settling(0, 0.6), 1e5);
        assert_eq!(feed(&mut s, 6..12, settling(6, 0.6), 100.0), vec![11]);
        assert_eq!((s.stage(12).batch, s.stage(12).lr), (640, 0.1 / 5.0));
    }

    #[test]
    fn adaptive_milestones_are_the_latest_epochs_for_each_cut() {
        let steady = |e: usize| 2.0 - 0.05 * e as f64;
        let mut s = adaptive(&[6, 12, 16]);
        assert_eq!(feed(&mut s, 0..20, steady, 1e5), vec![5, 11, 15]);
        let plan: Vec<(usize, usize)> = s
            .stages()
            .iter()
            .map(|s| (s.start_epoch, s.batch))
            .collect();
        assert_eq!(plan, vec![(0, 128), (6, 640), (12, 3200), (16, 5000)]);
        assert_eq!(
            s.stages()[1].reason.as_deref(),
            Some("milestone 6; B_simple 100000: B ×5.00")
        );
        // A plateau comes first: the cut is brought forward.
        let mut s = adaptive(&[6, 12, 16]);
        assert_eq!(feed(&mut s, 0..4, settling(0, 0.3), 1e5), vec![3]);
        assert_eq!(s.stage(4).batch, 640);
    }

    #[test]
    fn adaptive_keeps_a_minimum_stage_length() {
        let mut cfg = paper_config(ScheduleKind::Adaptive);
        cfg.schedule.epochs = 20;
        cfg.schedule.milestones = vec![];
        cfg.schedule.adaptive_min_epochs = 4;
        let mut s = Schedule::new(&cfg, 50_000);
        // Flat from the start: a plateau at once, but stages last four epochs.
        assert_eq!(feed(&mut s, 0..20, |_| 1.0, 1e5), vec![3, 7, 11]);
    }

    #[test]
    fn adaptive_without_a_measurement_grows_batch_by_the_whole_factor() {
        let mut s = adaptive(&[]);
        let trace = settling(0, 0.6);
        for e in 0..6 {
            s.observe_epoch(e, trace(e), None);
        }
        assert_eq!((s.stage(6).batch, s.stage(6).lr), (640, 0.1));
        assert!(s
            .stage(6)
            .reason
            .as_deref()
            .unwrap()
            .contains("no B_simple"));
    }

    #[test]
    fn adaptive_resumed_mid_stage_makes_the_same_decisions() {
        let trace = |e: usize| match e {
            0..=6 => settling(0, 0.6)(e),
            _ => settling(7, 0.7)(e) - 0.4,
        };
        let b = |e: usize| 300.0 + 100.0 * e as f64;
        let run = |s: &mut Schedule, range: std::ops::Range<usize>| {
            for e in range {
                s.observe_epoch(e, trace(e), Some(b(e)));
            }
        };
        let mut whole = adaptive(&[]);
        run(&mut whole, 0..20);
        for stop in [3, 6, 8, 9, 13] {
            let mut first = adaptive(&[]);
            run(&mut first, 0..stop);
            // What a checkpoint keeps, through its JSON form.
            let state: AdaptiveState =
                serde_json::from_str(&serde_json::to_string(first.adaptive_state()).unwrap())
                    .unwrap();
            let mut resumed = adaptive(&[]);
            resumed.restore(first.stages().to_vec(), state);
            run(&mut resumed, stop..20);
            assert_eq!(resumed, whole, "resumed after epoch {stop}");
        }
        assert!(whole.stages().len() > 2, "{:?}", whole.stages());
    }

    #[test]
    fn static_schedules_ignore_observations() {
        let fixed = Schedule::new(&paper_config(ScheduleKind::IncreaseBatch), 50_000);
        let mut observed = fixed.clone();
        assert_eq!(
            feed(&mut observed, 0..200, |_| 1.0, 1e9),
            Vec::<usize>::new()
        );
        assert_eq!(fixed, observed);
    }

    #[test]
    fn plateau_ratio_is_scale_free() {
        assert_eq!(plateau_ratio(&[2.0, 1.0], 1), None);
        let a = plateau_ratio(&[2.0, 1.0, 0.9], 1).unwrap();
        let b = plateau_ratio(&[0.2, 0.1, 0.09], 1).unwrap();
        assert!((a - 0.1).abs() < 1e-12 && (a - b).abs() < 1e-12);
        assert_eq!(
            plateau_ratio(&[1.0, 1.1, 1.2], 1),
            Some(0.0),
            "a rising loss is a plateau"
        );
        assert_eq!(plateau_ratio(&[1.0, 0.9, 1.0], 1), Some(0.0));
        // A window of two: one flat epoch between two falls is not a plateau.
        let noisy = [2.0, 1.0, 0.9, 0.899, 0.8];
        assert!(plateau_ratio(&noisy, 1).unwrap() > 0.09);
        assert!(plateau_ratio(&noisy[..4], 1).unwrap() < 0.01);
        assert!((plateau_ratio(&noisy[..4], 2).unwrap() - 0.0505).abs() < 1e-9);
        assert_eq!(
            plateau_ratio(&noisy[..3], 2),
            None,
            "needs the largest fall before the window"
        );
        assert!((efficient_batch(128, 1000.0, 0.5) - 1256.0).abs() < 1e-9);
        assert!((efficient_batch(128, 1000.0, 1.0) - 128.0).abs() < 1e-9);
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
