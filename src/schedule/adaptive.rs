//! The adaptive schedule's rule: when the SGD noise falls (a plateau of the training loss, a
//! milestone, or the end of the run coming) and how the fall is split between B and ε (by the
//! measured noise scale B_simple). Owns the decision and its state; must never touch tensors.

use serde::{Deserialize, Serialize};

use super::Schedule;
use crate::config::ScheduleKind;
use crate::events::StagePlan;

/// The settings of the adaptive rule (see [`Schedule::observe_epoch`]).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct AdaptiveRule {
    /// Latest epoch at which each cut takes effect (the config's milestones; may be empty).
    pub(super) deadlines: Vec<usize>,
    /// Cuts in all.
    pub(super) cuts: usize,
    /// Epochs a stage lasts at least.
    pub(super) min_epochs: usize,
    /// Plateau: the last epoch's fall of the training loss is below this fraction of the
    /// stage's largest ([`plateau_ratio`]).
    pub(super) threshold: f64,
    /// Epochs whose falls are averaged for the plateau test.
    pub(super) window: usize,
    /// Smallest statistical efficiency, relative to the initial batch, that a larger B may have.
    pub(super) efficiency: f64,
    /// B is kept a multiple of the ghost batch so chunks line up.
    pub(super) ghost: usize,
}

/// What the adaptive rule has seen of the current stage and done so far; saved in checkpoints
/// so a resumed run makes the same decisions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveState {
    /// Mean training loss of each finished epoch of the current stage.
    pub stage_losses: Vec<f64>,
    /// Noise cuts made so far.
    pub cuts: usize,
}

/// Why the adaptive rule cut the noise at the end of an epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CutTrigger {
    /// The training loss's recent fall per epoch was this fraction of the stage's largest.
    Plateau(f64),
    /// The config's milestone for this cut was reached.
    Milestone(usize),
    /// The remaining cuts need the remaining epochs (`min_epochs` each).
    EndOfRun,
}

/// The largest batch whose statistical efficiency relative to the run's initial batch B₀ stays
/// at least `efficiency`, for a gradient noise scale `b_simple` (McCandlish et al. 2018; Pollux,
/// OSDI'21): a sample in a batch of B does (B_simple + B₀)/(B_simple + B) of the work of one in
/// a batch of B₀, so B = (B_simple + B₀)/efficiency − B_simple.
pub fn efficient_batch(base_batch: usize, b_simple: f64, efficiency: f64) -> f64 {
    (b_simple + base_batch as f64) / efficiency - b_simple
}

impl Schedule {
    /// The adaptive rule, at the end of `epoch` with that epoch's mean training loss and the
    /// current noise-scale estimate. It decides *when* the SGD noise g falls by the factor k —
    /// when the training loss has plateaued (its mean fall over the last `adaptive_window`
    /// epochs is below `adaptive_threshold` of the stage's largest, [`plateau_ratio`]), at the
    /// latest at the config's milestone for this cut, and in any case early enough that the
    /// remaining cuts fit before the end — never before the stage has lasted
    /// `adaptive_min_epochs`, and never on the noise estimate alone. B_simple decides *how
    /// much* of the fall B takes: B grows to the largest batch whose statistical efficiency
    /// stays at least `adaptive_efficiency` ([`efficient_batch`]), at most ×k and never past
    /// `max_batch`; ε takes the rest, so g falls by exactly k. Returns the new stage (from the
    /// next epoch on) when the plan changed. Static schedules ignore the observation.
    pub fn observe_epoch(
        &mut self,
        epoch: usize,
        train_loss: f64,
        b_simple: Option<f64>,
    ) -> Option<&StagePlan> {
        if self.kind != ScheduleKind::Adaptive
            || self.state.cuts >= self.rule.cuts
            || epoch + 1 >= self.epochs
        {
            return None;
        }
        if train_loss.is_finite() {
            self.state.stage_losses.push(train_loss);
        }
        let next = epoch + 1;
        let current = self.stage(epoch).clone();
        if next - current.start_epoch < self.rule.min_epochs {
            return None;
        }
        let trigger = self.trigger(next)?;
        let (batch, lr) = self.cut(&current, b_simple);
        let idx = self.stage_index(epoch);
        self.stages.truncate(idx + 1);
        self.stages[idx].end_epoch = next;
        let reason = describe_cut(trigger, b_simple, current.batch, batch);
        self.push(next, self.epochs, batch, lr, current.momentum, Some(reason));
        self.state.cuts += 1;
        self.state.stage_losses.clear();
        self.stages.last()
    }

    /// Whether the noise falls from epoch `next` on, and why (the first reason that holds).
    fn trigger(&self, next: usize) -> Option<CutTrigger> {
        if let Some(ratio) = plateau_ratio(&self.state.stage_losses, self.rule.window) {
            if ratio < self.rule.threshold {
                return Some(CutTrigger::Plateau(ratio));
            }
        }
        if let Some(&m) = self.rule.deadlines.get(self.state.cuts) {
            if next >= m {
                return Some(CutTrigger::Milestone(m));
            }
        }
        let left = self.rule.cuts - self.state.cuts;
        (next + left * self.rule.min_epochs >= self.epochs).then_some(CutTrigger::EndOfRun)
    }

    /// The batch and learning rate after a cut of the noise by the factor from `current`.
    fn cut(&self, current: &StagePlan, b_simple: Option<f64>) -> (usize, f64) {
        let b = current.batch;
        let limit = ((b as f64 * self.factor).round() as usize).min(self.batch_cap);
        // Without a measurement B takes the whole fall, as in the paper's schedule.
        let target = match b_simple {
            Some(v) if v.is_finite() && v > 0.0 => {
                efficient_batch(self.base_batch, v, self.rule.efficiency)
            }
            _ => f64::INFINITY,
        };
        let mut grown = target.min(limit as f64).max(b as f64).floor() as usize;
        let ghost = self.rule.ghost;
        if ghost > 0 && grown >= ghost && grown < limit {
            grown = (grown / ghost * ghost).max(b);
        }
        let growth = grown as f64 / b as f64;
        (grown, current.lr * growth / self.factor)
    }

    /// What the adaptive rule has seen and done (for checkpoints).
    pub fn adaptive_state(&self) -> &AdaptiveState {
        &self.state
    }
}

/// How much the training loss fell per epoch over the last `window` epochs, as a fraction of its
/// largest fall over one epoch of the stage so far; 0 when the stage's loss has not fallen at
/// all. Needs `window + 1` falls (`window + 2` epochs), so the largest can come before the
/// ones averaged. The ratio does not depend on the loss's scale, so one threshold serves a noisy
/// first stage with fast falls and quiet late stages with small ones; averaging over a window
/// keeps one flat epoch of a noisy curve from passing for a plateau.
pub fn plateau_ratio(losses: &[f64], window: usize) -> Option<f64> {
    let window = window.max(1);
    if losses.len() < window + 2 {
        return None;
    }
    let falls: Vec<f64> = losses.windows(2).map(|w| w[0] - w[1]).collect();
    let largest = falls.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let recent = falls[falls.len() - window..].iter().sum::<f64>() / window as f64;
    Some(if largest > 0.0 {
        (recent / largest).max(0.0)
    } else {
        0.0
    })
}

/// One line for the stage event: why the noise fell and how it was split.
fn describe_cut(trigger: CutTrigger, b_simple: Option<f64>, from: usize, to: usize) -> String {
    let why = match trigger {
        CutTrigger::Plateau(ratio) => format!(
            "plateau: the training loss fell {:.0}% as much per epoch as in the stage's best",
            ratio * 100.0
        ),
        CutTrigger::Milestone(m) => format!("milestone {m}"),
        CutTrigger::EndOfRun => "the remaining cuts need the remaining epochs".to_string(),
    };
    let noise = match b_simple {
        Some(v) if v.is_finite() => format!("B_simple {v:.0}"),
        _ => "no B_simple yet".to_string(),
    };
    format!("{why}; {noise}: B ×{:.2}", to as f64 / from as f64)
}
