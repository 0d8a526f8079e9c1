//! The value checks of a parsed config: ranges and consistency. Every error names the dotted key
//! and says what is allowed; where the value was written (file line or `--set`) is added by the
//! loader. Must never parse text.

use super::{ConfigError, OptimKind, RunConfig, ScheduleKind};

/// Keys that count something and must be at least 1. One list for the check below and for the
/// loader's message about a value of the wrong type ("expected a whole number ≥ 1").
pub(super) const COUNTS_FROM_ONE: &[&str] = &[
    "schedule.epochs",
    "schedule.batch",
    "schedule.adaptive_window",
    "schedule.adaptive_min_epochs",
    "hardware.max_micro_batch",
    "data.eval_batch",
    "data.synthetic_train",
    "data.synthetic_test",
    "noise.every",
    "parallel.stall_warning_seconds",
];

/// What a whole-number key accepts, in the words every message uses.
pub(super) fn whole_number_rule(key: &str) -> &'static str {
    if COUNTS_FROM_ONE.contains(&key) {
        "expected a whole number ≥ 1"
    } else {
        "expected a whole number ≥ 0"
    }
}

fn bad(key: &str, value: impl std::fmt::Display, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// The value at a dotted key of the config, as TOML.
fn value_at(table: &toml::Table, key: &str) -> Option<toml::Value> {
    let mut parts = key.split('.');
    let mut cur = table.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_table()?.get(p)?;
    }
    Some(cur.clone())
}

impl RunConfig {
    /// Checks ranges and consistency; every error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let table = toml::Table::try_from(self).map_err(|e| bad("config", "", &e.to_string()))?;
        for key in COUNTS_FROM_ONE {
            if let Some(v) = value_at(&table, key) {
                if v.as_integer().is_some_and(|n| n < 1) {
                    return Err(bad(key, v, whole_number_rule(key)));
                }
            }
        }
        let s = &self.schedule;
        if !(s.factor.is_finite() && s.factor >= 1.0) {
            return Err(bad("schedule.factor", s.factor, "expected a number ≥ 1"));
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
            return Err(bad(
                "schedule.lr_scale",
                s.lr_scale,
                "expected a number > 0",
            ));
        }
        if let Some(m) = s.momentum {
            if !(0.0..1.0).contains(&m) {
                return Err(bad("schedule.momentum", m, "expected a number in [0, 1)"));
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
                "expected a number in [0, 1): the fraction of the stage's largest one-epoch fall of the training loss below which a fall counts as a plateau",
            ));
        }
        if !(s.adaptive_efficiency > 0.0 && s.adaptive_efficiency <= 1.0) {
            return Err(bad(
                "schedule.adaptive_efficiency",
                s.adaptive_efficiency,
                "expected a number in (0, 1]",
            ));
        }
        let o = &self.optim;
        if !(o.lr.is_finite() && o.lr > 0.0) {
            return Err(bad("optim.lr", o.lr, "expected a number > 0"));
        }
        if !(0.0..1.0).contains(&o.momentum) {
            return Err(bad(
                "optim.momentum",
                o.momentum,
                "expected a number in [0, 1)",
            ));
        }
        if !(o.weight_decay.is_finite() && o.weight_decay >= 0.0) {
            return Err(bad(
                "optim.weight_decay",
                o.weight_decay,
                "expected a number ≥ 0",
            ));
        }
        for (key, beta) in [("optim.beta1", o.beta1), ("optim.beta2", o.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return Err(bad(key, beta, "expected a number in [0, 1)"));
            }
        }
        if !(0.0..1.0).contains(&self.model.bn_momentum) {
            return Err(bad(
                "model.bn_momentum",
                self.model.bn_momentum,
                "expected a number in [0, 1)",
            ));
        }
        if !(0.0..1.0).contains(&self.noise.ema) {
            return Err(bad(
                "noise.ema",
                self.noise.ema,
                "expected a number in [0, 1)",
            ));
        }
        if s.kind == ScheduleKind::Adaptive && !self.noise.enabled {
            return Err(bad(
                "noise.enabled",
                false,
                "the adaptive schedule needs the noise-scale measurement",
            ));
        }
        let p = &self.parallel;
        if p.stall_timeout_seconds != 0 && p.stall_timeout_seconds <= p.stall_warning_seconds {
            return Err(bad(
                "parallel.stall_timeout_seconds",
                p.stall_timeout_seconds,
                &format!(
                    "must be longer than parallel.stall_warning_seconds ({} s), so that a stalled worker is named before the job ends (0 = wait forever)",
                    p.stall_warning_seconds
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_count_from_one_is_a_key_of_the_config_and_zero_is_refused() {
        let table = toml::Table::try_from(RunConfig::default()).unwrap();
        for key in COUNTS_FROM_ONE {
            assert!(value_at(&table, key).is_some(), "{key} is not a config key");
            let e = RunConfig::from_toml_str("", "x", &[format!("{key}=0")]).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("--set {key}=0: expected a whole number ≥ 1"),
                "{key}"
            );
        }
    }

    #[test]
    fn the_stall_timeout_must_outlast_the_warning() {
        let e = RunConfig::from_toml_str(
            "[parallel]\nstall_warning_seconds = 10\nstall_timeout_seconds = 10\n",
            "x.toml",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("parallel.stall_timeout_seconds") && e.contains("longer than"),
            "{e}"
        );
        let forever =
            RunConfig::from_toml_str("", "x", &["parallel.stall_timeout_seconds=0".into()]);
        assert_eq!(forever.unwrap().parallel.stall_timeout_seconds, 0);
        let d = RunConfig::default().parallel;
        assert_eq!(
            (d.stall_warning_seconds, d.stall_timeout_seconds),
            (60, 600)
        );
    }
}
