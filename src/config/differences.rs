//! Which keys two run configs differ in: what a resume and a data-parallel handshake compare.
//! Owns the list of keys that may differ (how, not what, is computed); must never change a config.

use std::collections::HashMap;

use super::RunConfig;

/// Config keys that may differ between a checkpoint and a resumed run (they change how, not what,
/// is computed).
const FREE_KEYS: &[&str] = &["hardware.", "checkpoint.", "parallel."];

/// Config keys that may differ between the workers of one data-parallel run: what each machine
/// sets for itself. `parallel.*` is not among them: every worker counts its own waits, and the
/// first to give up ends the job, so one worker's stall timeout would become everyone's.
const PER_MACHINE_KEYS: &[&str] = &["hardware.", "checkpoint."];

/// Dotted keys whose values differ between two configs, ignoring keys a resume may change.
pub fn differences(a: &RunConfig, b: &RunConfig) -> Vec<String> {
    differences_but(a, b, FREE_KEYS)
}

/// Dotted keys whose values differ between two workers' configs, ignoring the per-machine keys.
pub fn worker_differences(a: &RunConfig, b: &RunConfig) -> Vec<String> {
    differences_but(a, b, PER_MACHINE_KEYS)
}

fn differences_but(a: &RunConfig, b: &RunConfig, free: &[&str]) -> Vec<String> {
    fn flatten(prefix: &str, v: &toml::Value, out: &mut Vec<(String, String)>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&key, v, out);
                }
            }
            other => out.push((prefix.to_string(), other.to_string())),
        }
    }
    let to_pairs = |c: &RunConfig| {
        let mut out = Vec::new();
        if let Ok(v) = toml::Value::try_from(c) {
            flatten("", &v, &mut out);
        }
        out
    };
    let (pa, pb) = (to_pairs(a), to_pairs(b));
    let mb: HashMap<_, _> = pb.into_iter().collect();
    pa.into_iter()
        .filter(|(k, _)| !free.iter().any(|f| k.starts_with(f)))
        .filter(|(k, v)| mb.get(k) != Some(v))
        .map(|(k, v)| {
            format!(
                "{k} ({v} vs {})",
                mb.get(&k).cloned().unwrap_or_else(|| "unset".into())
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_differences_name_keys() {
        let a = RunConfig::default();
        let mut b = a.clone();
        b.schedule.batch = 64;
        b.hardware.max_micro_batch = 32;
        let d = differences(&a, &b);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].starts_with("schedule.batch"), "{d:?}");
    }

    #[test]
    fn stall_limits_may_change_on_resume_but_not_between_workers() {
        let a = RunConfig::default();
        let mut b = a.clone();
        b.parallel.stall_timeout_seconds = 30;
        assert!(differences(&a, &b).is_empty());
        assert_eq!(
            worker_differences(&a, &b),
            vec!["parallel.stall_timeout_seconds (600 vs 30)".to_string()]
        );
    }
}
