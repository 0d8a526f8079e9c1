//! The run configuration: TOML presets, `--set KEY=VALUE` overrides and validation.
//! Owns every tunable of a run and its defaults; must never touch data, devices or files
//! other than the config file it is asked to read.

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::ops::Kernels;

/// The preset used when no `--config` is given: `configs/default.toml`, built into the binary so
/// `batchramp train` behaves the same from any directory.
pub const DEFAULT_PRESET: &str = include_str!("../configs/default.toml");

/// Errors in a config file or override; always name the key, and the file and line when known.
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
    /// The TOML did not parse or did not match the schema (unknown key, wrong type).
    #[error("{origin}{}: {message}", if *.line > 0 { format!(":{line}") } else { String::new() })]
    Parse {
        /// The file (or `--set`).
        origin: String,
        /// 1-based line of the offending key, 0 when unknown.
        line: usize,
        /// What is wrong, as the parser says it.
        message: String,
    },
    /// A `--set` argument is not of the form `section.key=value`.
    #[error("--set {0}: expected KEY=VALUE with a dotted key, e.g. --set schedule.epochs=2")]
    BadOverride(String),
    /// A value parsed but is out of range or inconsistent.
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
    /// Reads a TOML file (the built-in default preset when `None`), applies `--set` overrides in
    /// order, and validates the result.
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<RunConfig, ConfigError> {
        let (origin, text) = match path {
            Some(p) => (
                p.display().to_string(),
                std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                })?,
            ),
            None => (
                "configs/default.toml (built in)".to_string(),
                DEFAULT_PRESET.to_string(),
            ),
        };
        Self::from_toml_str(&text, &origin, overrides)
    }

    /// Parses TOML text (named `origin` in errors), applies overrides, validates.
    pub fn from_toml_str(
        text: &str,
        origin: &str,
        overrides: &[String],
    ) -> Result<RunConfig, ConfigError> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| parse_error(origin, text, e.span(), e.message()))?;
        for item in overrides {
            apply_override(&mut table, item)?;
        }
        // Re-serialise so that errors for overridden keys still point at a line.
        let merged = toml::to_string(&table).map_err(|e| ConfigError::Parse {
            origin: origin.into(),
            line: 0,
            message: e.to_string(),
        })?;
        let cfg: RunConfig = toml::from_str(&merged).map_err(|e: toml::de::Error| {
            // Point at the user's file when the key is there, else at the merged text.
            let key_line = e
                .span()
                .map(|s| line_of(&merged, s.start))
                .and_then(|l| merged.lines().nth(l - 1))
                .and_then(|l| l.split('=').next())
                .map(|k| k.trim().to_string());
            let line = key_line
                .as_deref()
                .and_then(|k| find_key_line(text, k))
                .unwrap_or(0);
            // Not in the file: name the override that set it, if one did.
            let from_override = (line == 0)
                .then(|| {
                    key_line.as_deref().and_then(|k| {
                        overrides.iter().rev().find(|o| {
                            o.split_once('=')
                                .and_then(|(key, _)| key.trim().rsplit('.').next())
                                .is_some_and(|last| last == k)
                        })
                    })
                })
                .flatten();
            let origin = match from_override {
                Some(o) => format!("--set {o}"),
                None if line == 0 && !overrides.is_empty() => format!("{origin} (with --set)"),
                None => origin.to_string(),
            };
            ConfigError::Parse {
                origin,
                line,
                message: e.message().to_string(),
            }
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks ranges and consistency; every error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn bad(key: &str, value: impl std::fmt::Display, reason: &str) -> ConfigError {
            ConfigError::Invalid {
                key: key.into(),
                value: value.to_string(),
                reason: reason.into(),
            }
        }
        let s = &self.schedule;
        if s.epochs == 0 {
            return Err(bad("schedule.epochs", s.epochs, "must be at least 1"));
        }
        if s.batch == 0 {
            return Err(bad("schedule.batch", s.batch, "must be at least 1"));
        }
        if !(s.factor.is_finite() && s.factor >= 1.0) {
            return Err(bad("schedule.factor", s.factor, "must be a number ≥ 1"));
        }
        if s.milestones.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad(
                "schedule.milestones",
                format!("{:?}", s.milestones),
                "must be strictly increasing",
            ));
        }
        // Milestones at or past the last epoch are allowed (a shortened run of a preset simply
        // never reaches them); epoch 0 is not a milestone.
        if s.milestones.contains(&0) {
            return Err(bad(
                "schedule.milestones",
                0,
                "milestones are the epochs where a new stage starts, so they start at 1",
            ));
        }
        if !(s.lr_scale.is_finite() && s.lr_scale > 0.0) {
            return Err(bad("schedule.lr_scale", s.lr_scale, "must be > 0"));
        }
        if let Some(m) = s.momentum {
            if !(0.0..1.0).contains(&m) {
                return Err(bad("schedule.momentum", m, "must be in [0, 1)"));
            }
            if !matches!(self.optim.kind, OptimKind::Momentum | OptimKind::Nesterov) {
                return Err(bad(
                    "schedule.momentum",
                    m,
                    "needs optim.kind = \"momentum\" or \"nesterov\"",
                ));
            }
        }
        if !(s.adaptive_threshold.is_finite() && (0.0..1.0).contains(&s.adaptive_threshold)) {
            return Err(bad(
                "schedule.adaptive_threshold",
                s.adaptive_threshold,
                "must be in [0, 1): the fraction of the stage's largest one-epoch fall of the training loss below which a fall counts as a plateau",
            ));
        }
        if !(s.adaptive_efficiency > 0.0 && s.adaptive_efficiency <= 1.0) {
            return Err(bad(
                "schedule.adaptive_efficiency",
                s.adaptive_efficiency,
                "must be in (0, 1]",
            ));
        }
        if s.adaptive_window == 0 {
            return Err(bad("schedule.adaptive_window", 0, "must be at least 1"));
        }
        if s.adaptive_min_epochs == 0 {
            return Err(bad("schedule.adaptive_min_epochs", 0, "must be at least 1"));
        }
        let o = &self.optim;
        if !(o.lr.is_finite() && o.lr > 0.0) {
            return Err(bad("optim.lr", o.lr, "must be > 0"));
        }
        if !(0.0..1.0).contains(&o.momentum) {
            return Err(bad("optim.momentum", o.momentum, "must be in [0, 1)"));
        }
        if !(o.weight_decay.is_finite() && o.weight_decay >= 0.0) {
            return Err(bad("optim.weight_decay", o.weight_decay, "must be ≥ 0"));
        }
        if !(0.0..1.0).contains(&o.beta1) || !(0.0..1.0).contains(&o.beta2) {
            return Err(bad(
                "optim.beta1/beta2",
                format!("{}/{}", o.beta1, o.beta2),
                "must be in [0, 1)",
            ));
        }
        if !(0.0..1.0).contains(&self.model.bn_momentum) {
            return Err(bad(
                "model.bn_momentum",
                self.model.bn_momentum,
                "must be in [0, 1)",
            ));
        }
        if self.hardware.max_micro_batch == 0 {
            return Err(bad(
                "hardware.max_micro_batch",
                0,
                "must be at least 1 (it caps the physical batch)",
            ));
        }
        if self.data.eval_batch == 0 {
            return Err(bad("data.eval_batch", 0, "must be at least 1"));
        }
        if self.data.synthetic_train == 0 || self.data.synthetic_test == 0 {
            return Err(bad(
                "data.synthetic_train/test",
                0,
                "must be at least 1 each",
            ));
        }
        if self.noise.every == 0 {
            return Err(bad("noise.every", 0, "must be at least 1"));
        }
        if !(0.0..1.0).contains(&self.noise.ema) {
            return Err(bad("noise.ema", self.noise.ema, "must be in [0, 1)"));
        }
        if s.kind == ScheduleKind::Adaptive && !self.noise.enabled {
            return Err(bad(
                "noise.enabled",
                false,
                "the adaptive schedule needs the noise-scale measurement",
            ));
        }
        Ok(())
    }

    /// The resolved config as TOML, every default filled in.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("RunConfig always serialises")
    }
}

fn line_of(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].matches('\n').count() + 1
}

fn parse_error(
    origin: &str,
    text: &str,
    span: Option<std::ops::Range<usize>>,
    message: &str,
) -> ConfigError {
    ConfigError::Parse {
        origin: origin.into(),
        line: span.map(|s| line_of(text, s.start)).unwrap_or(0),
        message: message.trim().to_string(),
    }
}

/// Finds the line where `key = ...` is set in the user's TOML text (best effort, for messages).
fn find_key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let t = l.trim_start();
            t.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

/// Applies `a.b.c=value`; the value is parsed as TOML (number, bool, array, quoted string),
/// falling back to a bare string so `--set schedule.kind=hybrid` works without quotes.
fn apply_override(table: &mut toml::Table, item: &str) -> Result<(), ConfigError> {
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| ConfigError::BadOverride(item.into()))?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(|p| p.trim().is_empty()) {
        return Err(ConfigError::BadOverride(item.into()));
    }
    let value: toml::Value = format!("x = {}", raw.trim())
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("x"))
        .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
    let parts: Vec<&str> = key.split('.').map(str::trim).collect();
    let mut cur = table;
    for part in &parts[..parts.len() - 1] {
        let entry = cur
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry.as_table_mut().ok_or_else(|| ConfigError::Invalid {
            key: key.into(),
            value: raw.into(),
            reason: format!("{part} is not a section"),
        })?;
    }
    cur.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_round_trip() {
        let cfg = RunConfig::default();
        cfg.validate().unwrap();
        let back = RunConfig::from_toml_str(&cfg.to_toml(), "x", &[]).unwrap();
        assert_eq!(back, cfg);
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let text = "name = \"a\"\n[schedule]\nepochs = 3\nepoch = 4\n";
        let err = RunConfig::from_toml_str(text, "c.toml", &[])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.toml:4:"), "{err}");
        assert!(err.contains("epoch"), "{err}");
    }

    #[test]
    fn wrong_type_names_line() {
        let text = "[optim]\nlr = \"fast\"\n";
        let err = RunConfig::from_toml_str(text, "c.toml", &[])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.toml:2:"), "{err}");
    }

    #[test]
    fn set_overrides_any_key() {
        let cfg = RunConfig::from_toml_str(
            "",
            "x",
            &[
                "schedule.epochs=2".into(),
                "data.train_subset=2000".into(),
                "schedule.kind=hybrid".into(),
                "schedule.milestones=[1]".into(),
                "hardware.kernels=candle".into(),
            ],
        )
        .unwrap();
        assert_eq!(cfg.schedule.epochs, 2);
        assert_eq!(cfg.data.train_subset, 2000);
        assert_eq!(cfg.schedule.kind, ScheduleKind::Hybrid);
        assert_eq!(cfg.hardware.kernels, Kernels::Candle);
    }

    #[test]
    fn bad_override_and_invalid_values_are_named() {
        let e = RunConfig::from_toml_str("", "x", &["schedule.epochs".into()]).unwrap_err();
        assert!(e.to_string().contains("--set schedule.epochs"), "{e}");
        let e = RunConfig::from_toml_str("", "x", &["optim.lr=-1".into()]).unwrap_err();
        assert!(e.to_string().contains("optim.lr"), "{e}");
        let e = RunConfig::from_toml_str("", "x", &["schedule.bogus=1".into()]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--set schedule.bogus=1: unknown field `bogus`"),
            "{e}"
        );
        let e = RunConfig::from_toml_str("", "x", &["optim.lr=\"fast\"".into()]).unwrap_err();
        assert!(
            e.to_string().starts_with("--set optim.lr=\"fast\": "),
            "{e}"
        );
        let e =
            RunConfig::from_toml_str("", "x", &["schedule.milestones=[0,3]".into()]).unwrap_err();
        assert!(e.to_string().contains("schedule.milestones"), "{e}");
        // A preset cut short keeps its later milestones; they are simply not reached.
        RunConfig::from_toml_str("", "x", &["schedule.epochs=2".into()]).unwrap();
    }

    #[test]
    fn presets_parse() {
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/configs")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                RunConfig::load(Some(&path), &[])
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
        }
    }
}
