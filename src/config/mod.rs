//! The run configuration: every tunable of a run and its defaults (this file), reading a file
//! with `--set KEY=VALUE` overrides and placing each error where the value was written
//! (`load`), upgrading keys that older runs wrote (`upgrade`), and the value checks
//! (`validate`). Must never touch data, devices or files other than the config file it is asked
//! to read.

use serde::{Deserialize, Serialize};

use crate::ops::Kernels;

/// The preset used when no `--config` is given: `configs/default.toml`, built into the binary so
/// `batchramp train` behaves the same from any directory.
pub const DEFAULT_PRESET: &str = include_str!("../../configs/default.toml");

mod differences;
mod load;
mod upgrade;
mod validate;

pub use differences::{differences, worker_differences};
pub use load::Loaded;

/// Errors in a config file or override; always name the key, and the file and line or the
/// `--set` argument where the value was written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Something in a config file is wrong: its syntax, an unknown key or table, a value of the
    /// wrong type or out of range.
    #[error("{origin}{}: {message}", if *.line > 0 { format!(":{line}") } else { String::new() })]
    Parse {
        /// The file.
        origin: String,
        /// 1-based line of the offending key, 0 when unknown.
        line: usize,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A `--set` override names an unknown key or gives a value of the wrong type or range.
    #[error("--set {item}: {message}")]
    Override {
        /// The override as given, `key=value`.
        item: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A `--set` argument is not of the form `section.key=value`.
    #[error("--set {0}: expected KEY=VALUE with a dotted key, e.g. --set schedule.epochs=2")]
    BadOverride(String),
    /// A value that no file or override wrote (a program's own config) is out of range.
    #[error("config: {key} = {value}: {reason}")]
    Invalid {
        /// Dotted key.
        key: String,
        /// The offending value.
        value: String,
        /// Why it is rejected and what is allowed.
        reason: String,
    },
}

/// Everything a run needs to know, with defaults for every key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Run name, used in the run directory name.
    pub name: String,
    /// Seed for initialisation, data order and augmentation.
    pub seed: u64,
    /// Data set and loader settings.
    pub data: DataConfig,
    /// Network settings.
    pub model: ModelConfig,
    /// Optimizer settings.
    pub optim: OptimConfig,
    /// Batch-size / learning-rate schedule.
    pub schedule: ScheduleConfig,
    /// Execution limits.
    pub hardware: HardwareConfig,
    /// Checkpoint policy.
    pub checkpoint: CheckpointConfig,
    /// How a data-parallel run waits for its workers.
    pub parallel: ParallelConfig,
    /// Gradient noise scale measurement.
    pub noise: NoiseConfig,
}

/// Data set and loader settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Use only the first N training images (0 = all).
    pub train_subset: usize,
    /// Use only the first N test images (0 = all).
    pub test_subset: usize,
    /// Pad-crop-flip augmentation of training images.
    pub augment: bool,
    /// Size of the generated training set for `--data synthetic`.
    pub synthetic_train: usize,
    /// Size of the generated test set for `--data synthetic`.
    pub synthetic_test: usize,
    /// Batch size for evaluating the test set.
    pub eval_batch: usize,
}

/// Network architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// ResNet-8 (16/32/64 channels, one block per stage).
    Resnet8,
    /// ResNet-20 (16/32/64 channels, three blocks per stage).
    Resnet20,
    /// CIFAR ResNet-18 (3×3 stem, no max-pool, 64/128/256/512).
    Resnet18,
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Arch::Resnet8 => "resnet8",
            Arch::Resnet20 => "resnet20",
            Arch::Resnet18 => "resnet18",
        })
    }
}

/// Network settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Which ResNet.
    pub arch: Arch,
    /// Ghost batch norm chunk: BN statistics over chunks of this many samples (0 = whole micro-batch).
    pub ghost_batch: usize,
    /// Running-statistics momentum of batch norm (PyTorch convention).
    pub bn_momentum: f64,
    /// Batch-norm epsilon.
    pub bn_eps: f64,
}

/// Optimizer family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimKind {
    /// Plain SGD (momentum ignored).
    Sgd,
    /// SGD with heavy-ball momentum.
    Momentum,
    /// SGD with Nesterov momentum.
    Nesterov,
    /// Adam.
    Adam,
}

/// Optimizer settings (PyTorch semantics).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// Optimizer family.
    pub kind: OptimKind,
    /// Initial learning rate ε₀.
    pub lr: f64,
    /// Momentum coefficient m (SGD variants).
    pub momentum: f64,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f64,
    /// Adam β₁.
    pub beta1: f64,
    /// Adam β₂.
    pub beta2: f64,
    /// Adam ε.
    pub adam_eps: f64,
}

/// How the schedule reacts at a milestone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleKind {
    /// Baseline: divide ε by the factor at each milestone.
    DecayLr,
    /// The paper: multiply B by the factor at each milestone (ε ÷ factor once B would pass `max_batch`).
    IncreaseBatch,
    /// Grow B by the factor at the first `hybrid_increases` milestones, decay ε at the rest.
    Hybrid,
    /// Nothing changes.
    Constant,
    /// Cut the noise by the factor when the training loss plateaus (by the milestones at the
    /// latest, when there are any); the measured noise scale splits each cut between B and ε.
    Adaptive,
}

impl std::fmt::Display for ScheduleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ScheduleKind::DecayLr => "decay-lr",
            ScheduleKind::IncreaseBatch => "increase-batch",
            ScheduleKind::Hybrid => "hybrid",
            ScheduleKind::Constant => "constant",
            ScheduleKind::Adaptive => "adaptive",
        })
    }
}

/// Batch-size / learning-rate schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// Which schedule.
    pub kind: ScheduleKind,
    /// Total epochs.
    pub epochs: usize,
    /// Initial batch size B₀ (before `lr_scale` / `momentum` scaling).
    pub batch: usize,
    /// Epochs at which the schedule steps (0-based epoch index where the new stage starts).
    pub milestones: Vec<usize>,
    /// Factor k applied at each milestone.
    pub factor: f64,
    /// Largest batch size; past it increase-batch decays ε instead (0 = no cap).
    pub max_batch: usize,
    /// Hybrid: how many milestones grow B before the rest decay ε.
    pub hybrid_increases: usize,
    /// B ∝ ε variant: multiply ε₀ and B₀ by this factor (1 = off).
    pub lr_scale: f64,
    /// B ∝ 1/(1−m) variant: run with this momentum and scale B₀ by (1−m)/(1−this) (unset = off).
    pub momentum: Option<f64>,
    /// Adaptive: a plateau is when the mean training loss's fall per epoch, over the last
    /// `adaptive_window` epochs, is less than this fraction of the largest one-epoch fall so far
    /// in the stage.
    pub adaptive_threshold: f64,
    /// Adaptive: epochs averaged for the plateau test (1 = the last epoch alone).
    pub adaptive_window: usize,
    /// Adaptive: epochs every stage lasts at least.
    pub adaptive_min_epochs: usize,
    /// Adaptive without milestones: how many times the noise is cut (with milestones: one per
    /// milestone).
    pub adaptive_cuts: usize,
    /// Adaptive: B grows at a cut while the statistical efficiency of the larger batch, relative
    /// to the initial one, stays at least this (from the measured B_simple); ε takes the rest.
    pub adaptive_efficiency: f64,
}

/// Execution limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HardwareConfig {
    /// Largest physical batch; larger B is split into micro-batches with accumulated gradients.
    pub max_micro_batch: usize,
    /// Layer kernels: `fast` (our CPU ops) or `candle` (stock).
    pub kernels: Kernels,
    /// CPU threads for the kernels (0 = all cores).
    pub threads: usize,
}

/// Checkpoint policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointConfig {
    /// Write a checkpoint every N epochs (0 = only at stage changes, on request and at the end).
    pub every_epochs: usize,
    /// Keep this many checkpoints, pruning older ones (0 = keep all).
    pub keep_last: usize,
    /// Checkpoint at every stage change.
    pub at_stage_change: bool,
}

/// How long a data-parallel worker waits for the others in one exchange. The same on every worker
/// (the handshake compares them: the first worker to give up ends the job, so one worker's value
/// would silently become everyone's); a resume may change them, as they change no result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParallelConfig {
    /// A wait this long names the workers not there yet, and the warning repeats as often.
    pub stall_warning_seconds: u64,
    /// A wait this long ends the job on every worker (0 = wait forever).
    pub stall_timeout_seconds: u64,
}

/// Gradient noise scale estimation. The small batches are the micro-batches of an update; when an
/// update is a single micro-batch, two consecutive updates form the large batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoiseConfig {
    /// Measure B_simple online.
    pub enabled: bool,
    /// EMA decay of the |G|² and tr(Σ) estimates.
    pub ema: f64,
    /// Measure every N updates.
    pub every: u64,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            name: "run".into(),
            seed: 0,
            data: DataConfig::default(),
            model: ModelConfig::default(),
            optim: OptimConfig::default(),
            schedule: ScheduleConfig::default(),
            hardware: HardwareConfig::default(),
            checkpoint: CheckpointConfig::default(),
            parallel: ParallelConfig::default(),
            noise: NoiseConfig::default(),
        }
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            train_subset: 0,
            test_subset: 0,
            augment: true,
            synthetic_train: 2000,
            synthetic_test: 500,
            eval_batch: 500,
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            arch: Arch::Resnet8,
            ghost_batch: 128,
            bn_momentum: 0.1,
            bn_eps: 1e-5,
        }
    }
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            kind: OptimKind::Momentum,
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 5e-4,
            beta1: 0.9,
            beta2: 0.999,
            adam_eps: 1e-8,
        }
    }
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            kind: ScheduleKind::IncreaseBatch,
            epochs: 20,
            batch: 128,
            milestones: vec![6, 12, 16],
            factor: 5.0,
            max_batch: 0,
            hybrid_increases: 1,
            lr_scale: 1.0,
            momentum: None,
            adaptive_threshold: 0.15,
            adaptive_window: 2,
            adaptive_min_epochs: 2,
            adaptive_cuts: 3,
            adaptive_efficiency: 0.5,
        }
    }
}

impl Default for HardwareConfig {
    fn default() -> Self {
        HardwareConfig {
            max_micro_batch: 256,
            kernels: Kernels::default(),
            threads: 0,
        }
    }
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            every_epochs: 1,
            keep_last: 3,
            at_stage_change: true,
        }
    }
}

impl Default for ParallelConfig {
    fn default() -> Self {
        ParallelConfig {
            stall_warning_seconds: 60,
            stall_timeout_seconds: 600,
        }
    }
}

impl Default for NoiseConfig {
    fn default() -> Self {
        NoiseConfig {
            enabled: true,
            ema: 0.95,
            every: 1,
        }
    }
}

impl RunConfig {
    /// The resolved config as TOML, every default filled in.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("RunConfig always serialises")
    }
}

/// Reads a config stored as JSON (a checkpoint's), upgrading the keys older versions wrote, so
/// that an older run's checkpoint resumes as its `config.toml` loads.
pub fn deserialize_upgraded<'de, D: serde::Deserializer<'de>>(d: D) -> Result<RunConfig, D::Error> {
    let mut value = serde_json::Value::deserialize(d)?;
    upgrade::upgrade_json(&mut value);
    serde_json::from_value(value).map_err(serde::de::Error::custom)
}
