//! Keys that older versions of batchramp wrote into a run's `config.toml` (and its checkpoints)
//! and that this version no longer reads: each is upgraded with a one-line note, so that a run's
//! own config always loads again, as v1 logs are read. Must never touch a key this version
//! still reads.

/// A key this version no longer reads.
struct Retired {
    key: &'static str,
    /// The day it went, for the note.
    since: &'static str,
    /// Why it went and what replaced it.
    why: &'static str,
}

/// Every key retired so far, oldest first.
const RETIRED: &[Retired] = &[Retired {
    key: "schedule.adaptive_margin",
    since: "2026-12-02",
    why: "the adaptive schedule was redesigned and a training-loss plateau now decides when \
          the noise falls (schedule.adaptive_threshold); an adaptive run follows the new rule",
}];

/// Removes the retired keys from `table`; returns one note per key it removed.
pub(super) fn upgrade_toml(table: &mut toml::Table) -> Vec<String> {
    let mut notes = Vec::new();
    for r in RETIRED {
        let Some(value) = take(table, r.key) else {
            continue;
        };
        notes.push(format!(
            "{} = {value} is no longer read (since {}): {}",
            r.key, r.since, r.why
        ));
    }
    notes
}

/// The same upgrade for a config stored as JSON (a checkpoint's); the notes are left out, since
/// the run's `config.toml` says them.
pub(super) fn upgrade_json(value: &mut serde_json::Value) {
    let Ok(mut table) = serde_json::from_value::<toml::Table>(value.clone()) else {
        return;
    };
    if !upgrade_toml(&mut table).is_empty() {
        if let Ok(v) = serde_json::to_value(&table) {
            *value = v;
        }
    }
}

fn take(table: &mut toml::Table, dotted: &str) -> Option<toml::Value> {
    let (parents, last) = match dotted.rsplit_once('.') {
        Some((p, l)) => (Some(p), l),
        None => (None, dotted),
    };
    let mut cur = table;
    for p in parents.into_iter().flat_map(|p| p.split('.')) {
        cur = cur.get_mut(p)?.as_table_mut()?;
    }
    cur.remove(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retired_key_is_dropped_with_a_note_and_the_rest_kept() {
        let mut t: toml::Table = "[schedule]\nepochs = 3\nadaptive_margin = 1.0\n"
            .parse()
            .unwrap();
        let notes = upgrade_toml(&mut t);
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0]
                .starts_with("schedule.adaptive_margin = 1.0 is no longer read (since 2026-12-02)"),
            "{}",
            notes[0]
        );
        assert_eq!(t.to_string(), "[schedule]\nepochs = 3\n");
        assert!(
            upgrade_toml(&mut t).is_empty(),
            "a second upgrade changes nothing"
        );
    }

    #[test]
    fn take_follows_dotted_keys() {
        let mut t: toml::Table = "[a.b]\nc = 1\n".parse().unwrap();
        assert_eq!(take(&mut t, "a.b.c"), Some(toml::Value::Integer(1)));
        assert_eq!(take(&mut t, "a.b.c"), None);
        assert_eq!(take(&mut t, "x.y"), None);
    }

    #[test]
    fn json_configs_are_upgraded_too() {
        let mut v = serde_json::json!({"schedule": {"epochs": 3, "adaptive_margin": 1.0}});
        upgrade_json(&mut v);
        assert_eq!(v, serde_json::json!({"schedule": {"epochs": 3}}));
    }
}
