//! Reading a config: the file's TOML, the upgrade of keys older runs wrote, the `--set`
//! overrides in order, the schema, then the value checks. Every error is placed where the user
//! wrote the value: the `--set` argument that set it, else the file and line; never the built-in
//! preset the user did not write. Must never hold defaults (they live in `super`).

use std::path::Path;

use super::upgrade::upgrade_toml;
use super::validate::whole_number_rule;
use super::{ConfigError, RunConfig, DEFAULT_PRESET};

/// A config and the notes its reading left: keys upgraded from an older version, one line each,
/// already naming the file.
#[derive(Debug)]
pub struct Loaded {
    /// The resolved, validated config.
    pub config: RunConfig,
    /// One line per upgraded key, e.g. "run/config.toml: schedule.x is no longer read …".
    pub notes: Vec<String>,
}

/// Where the built-in preset's errors would point (they are bugs, not user input).
const BUILT_IN: &str = "configs/default.toml (built in)";

impl RunConfig {
    /// Reads a TOML file (the built-in default preset when `None`), applies `--set` overrides in
    /// order, and validates the result.
    pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<RunConfig, ConfigError> {
        Self::load_with_notes(path, overrides).map(|l| l.config)
    }

    /// [`RunConfig::load`], keeping the notes about upgraded keys for the caller to show.
    pub fn load_with_notes(
        path: Option<&Path>,
        overrides: &[String],
    ) -> Result<Loaded, ConfigError> {
        match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                })?;
                Self::parse_with_notes(&text, &p.display().to_string(), overrides)
            }
            None => Self::parse_with_notes(DEFAULT_PRESET, BUILT_IN, overrides),
        }
    }

    /// Parses TOML text (named `origin` in errors), applies overrides, validates.
    pub fn from_toml_str(
        text: &str,
        origin: &str,
        overrides: &[String],
    ) -> Result<RunConfig, ConfigError> {
        Self::parse_with_notes(text, origin, overrides).map(|l| l.config)
    }

    /// [`RunConfig::from_toml_str`], keeping the notes about upgraded keys.
    pub fn parse_with_notes(
        text: &str,
        origin: &str,
        overrides: &[String],
    ) -> Result<Loaded, ConfigError> {
        let mut table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    origin: origin.into(),
                    line: e.span().map(|s| line_of(text, s.start)).unwrap_or(0),
                    message: e.message().trim().to_string(),
                })?;
        let notes = upgrade_toml(&mut table)
            .into_iter()
            .map(|n| format!("{origin}: {n}"))
            .collect();
        let mut set = Vec::with_capacity(overrides.len());
        for item in overrides {
            set.push(apply_override(&mut table, item)?);
        }
        let place = Placer {
            text,
            origin,
            set: &set,
        };
        // Re-serialised, the merged table gives the schema's errors a position to name.
        let merged = toml::to_string(&table).map_err(|e| place.whole(e.to_string()))?;
        let config: RunConfig = toml::from_str(&merged).map_err(|e: toml::de::Error| {
            let path = e.span().and_then(|s| path_at(&merged, s.start));
            match path {
                Some(path) => place.at(&path, &table, e.message()),
                None => place.whole(e.message().to_string()),
            }
        })?;
        config.validate().map_err(|e| match e {
            ConfigError::Invalid { key, value, reason } => {
                let path: Vec<String> = key.split('.').map(str::to_string).collect();
                place.invalid(&path, &value, &reason)
            }
            other => other,
        })?;
        Ok(Loaded { config, notes })
    }
}

/// An override as applied: its dotted key and the argument as the user gave it.
struct Override {
    path: Vec<String>,
    item: String,
}

/// Turns an error at a dotted key into one that names where the value was written.
struct Placer<'a> {
    text: &'a str,
    origin: &'a str,
    set: &'a [Override],
}

impl Placer<'_> {
    /// The last override that wrote `path` or a key under it, or the table it is in.
    fn override_of(&self, path: &[String]) -> Option<&Override> {
        self.set
            .iter()
            .rev()
            .find(|o| o.path.starts_with(path) || path.starts_with(&o.path))
    }

    /// An error of the schema (unknown key, wrong type) at `path`.
    fn at(&self, path: &[String], table: &toml::Table, message: &str) -> ConfigError {
        let key = path.join(".");
        let message = plain_words(&key, message);
        if let Some(o) = self.override_of(path) {
            return ConfigError::Override {
                item: o.item.clone(),
                message,
            };
        }
        let line = line_of_key(self.text, path).unwrap_or(0);
        let message = match value_at(table, path) {
            // An unknown key's own message names it already.
            Some(v) if !message.starts_with("unknown field") => format!("{key} = {v}: {message}"),
            _ => message,
        };
        ConfigError::Parse {
            origin: self.origin.into(),
            line,
            message,
        }
    }

    /// A value out of range at `path`.
    fn invalid(&self, path: &[String], value: &str, reason: &str) -> ConfigError {
        let key = path.join(".");
        if let Some(o) = self.override_of(path) {
            return ConfigError::Override {
                item: o.item.clone(),
                message: reason.into(),
            };
        }
        match line_of_key(self.text, path) {
            Some(line) => ConfigError::Parse {
                origin: self.origin.into(),
                line,
                message: format!("{key} = {value}: {reason}"),
            },
            // Neither the file nor an override wrote it.
            None => ConfigError::Invalid {
                key,
                value: value.into(),
                reason: reason.into(),
            },
        }
    }

    /// An error with no key to name.
    fn whole(&self, message: String) -> ConfigError {
        ConfigError::Parse {
            origin: if self.set.is_empty() {
                self.origin.into()
            } else {
                format!("{} (with --set)", self.origin)
            },
            line: 0,
            message,
        }
    }
}

/// The deserializer's words for a type it expected, in the user's: "expected usize" means
/// nothing to someone setting an epoch count.
fn plain_words(key: &str, message: &str) -> String {
    let Some((_, expected)) = message.rsplit_once("expected ") else {
        return message.to_string();
    };
    if message.starts_with("unknown ") {
        return message.to_string();
    }
    match expected.trim() {
        "usize" | "u64" | "u32" | "u16" | "u8" => whole_number_rule(key).into(),
        "isize" | "i64" | "i32" => "expected a whole number".into(),
        "f64" | "f32" => "expected a number".into(),
        "a boolean" => "expected true or false".into(),
        "a sequence" => "expected a list in brackets, e.g. [6, 12, 16]".into(),
        _ => message.to_string(),
    }
}

fn line_of(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].matches('\n').count() + 1
}

/// The value at a dotted key, as TOML text.
fn value_at(table: &toml::Table, path: &[String]) -> Option<String> {
    let (first, rest) = path.split_first()?;
    let mut cur = table.get(first)?;
    for p in rest {
        cur = cur.as_table()?.get(p)?;
    }
    Some(cur.to_string())
}

/// The dotted key whose name or value holds byte `at` of a TOML text: the deepest one, so a
/// key inside a table wins over the table.
fn path_at(text: &str, at: usize) -> Option<Vec<String>> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut best = None;
    let mut prefix = Vec::new();
    walk_spans(doc.as_table(), &mut prefix, &mut |path, span| {
        if span.contains(&at) {
            best = Some(path.to_vec());
        }
    });
    best
}

/// The 1-based line where a dotted key (or the table it names) is written in a TOML text.
fn line_of_key(text: &str, path: &[String]) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut found = None;
    let mut prefix = Vec::new();
    walk_spans(doc.as_table(), &mut prefix, &mut |p, span| {
        if p == path && found.is_none() {
            found = Some(line_of(text, span.start));
        }
    });
    found
}

/// Calls `visit` with every key's dotted path and the spans of its name and of its value.
fn walk_spans(
    table: &toml_edit::Table,
    prefix: &mut Vec<String>,
    visit: &mut dyn FnMut(&[String], std::ops::Range<usize>),
) {
    for (name, item) in table.iter() {
        prefix.push(name.to_string());
        if let Some(span) = table.key(name).and_then(|k| k.span()) {
            visit(prefix, span);
        }
        if let Some(span) = item.span() {
            visit(prefix, span);
        }
        if let Some(t) = item.as_table() {
            walk_spans(t, prefix, visit);
        }
        prefix.pop();
    }
}

/// Applies `a.b.c=value`; the value is parsed as TOML (number, bool, array, quoted string),
/// falling back to a bare string so `--set schedule.kind=hybrid` works without quotes.
fn apply_override(table: &mut toml::Table, item: &str) -> Result<Override, ConfigError> {
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
    let path: Vec<String> = key.split('.').map(|p| p.trim().to_string()).collect();
    let mut cur = table;
    for (i, part) in path[..path.len() - 1].iter().enumerate() {
        let entry = cur
            .entry(part.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry.as_table_mut().ok_or_else(|| ConfigError::Override {
            item: item.into(),
            message: format!("{} is a value, not a section", path[..=i].join(".")),
        })?;
    }
    cur.insert(path[path.len() - 1].clone(), value);
    Ok(Override {
        path,
        item: item.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ScheduleKind;
    use crate::ops::Kernels;

    fn set_error(item: &str) -> String {
        RunConfig::from_toml_str(DEFAULT_PRESET, BUILT_IN, &[item.to_string()])
            .unwrap_err()
            .to_string()
    }

    fn file_error(text: &str) -> String {
        RunConfig::from_toml_str(text, "c.toml", &[])
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn defaults_validate_and_round_trip() {
        let cfg = RunConfig::default();
        cfg.validate().unwrap();
        let back = RunConfig::from_toml_str(&cfg.to_toml(), "x", &[]).unwrap();
        assert_eq!(back, cfg);
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
        // A preset cut short keeps its later milestones; they are simply not reached.
        RunConfig::from_toml_str(DEFAULT_PRESET, BUILT_IN, &["schedule.epochs=2".into()]).unwrap();
    }

    #[test]
    fn a_bad_override_is_named_never_the_built_in_file() {
        for (item, want) in [
            ("schedule.epochs=-2", "expected a whole number ≥ 1"),
            ("schedule.epochs=0", "expected a whole number ≥ 1"),
            ("schedule.epochs=2.5", "expected a whole number ≥ 1"),
            ("data.train_subset=-1", "expected a whole number ≥ 0"),
            ("optim.lr=abc", "expected a number"),
            ("optim.lr=-1", "expected a number > 0"),
            ("data.augment=maybe", "expected true or false"),
            ("schedule.milestones=6", "expected a list in brackets, e.g. [6, 12, 16]"),
            (
                "schedule.kind=foo",
                "unknown variant `foo`, expected one of `decay-lr`, `increase-batch`, `hybrid`, `constant`, `adaptive`",
            ),
            ("schedule.bogus=1", "unknown field `bogus`"),
            ("schedul.epochs=3", "unknown field `schedul`"),
            ("schedule.epochs.x=3", "schedule.epochs is a value, not a section"),
            (
                "schedule.milestones=[0,3]",
                "milestones are the epochs where a new stage starts, so they start at 1",
            ),
        ] {
            let e = set_error(item);
            assert!(e.starts_with(&format!("--set {item}: {want}")), "{item}: {e}");
            assert!(!e.contains("built in"), "{item}: {e}");
        }
        let e = set_error("schedule.epochs");
        assert!(
            e.starts_with("--set schedule.epochs: expected KEY=VALUE"),
            "{e}"
        );
    }

    #[test]
    fn the_last_override_of_a_key_is_the_one_named() {
        let e = RunConfig::from_toml_str("", "x", &["optim.lr=0.1".into(), "optim.lr=oops".into()])
            .unwrap_err();
        assert_eq!(e.to_string(), "--set optim.lr=oops: expected a number");
    }

    #[test]
    fn errors_in_a_file_name_its_line_and_key() {
        let e = file_error("name = \"a\"\n[schedule]\nepochs = 3\nepoch = 4\n");
        assert!(e.starts_with("c.toml:4: unknown field `epoch`"), "{e}");
        let e = file_error("name = \"a\"\n\n[schedul]\nepochs = 3\n");
        assert!(e.starts_with("c.toml:3: unknown field `schedul`"), "{e}");
        let e = file_error("[optim]\nlr = \"fast\"\n");
        assert_eq!(e, "c.toml:2: optim.lr = \"fast\": expected a number");
        let e = file_error("[schedule]\nkind = \"increase-batch\"\nepochs = -2\n");
        assert_eq!(
            e,
            "c.toml:3: schedule.epochs = -2: expected a whole number ≥ 1"
        );
        let e = file_error("schedule.epochs = 0\n");
        assert_eq!(
            e,
            "c.toml:1: schedule.epochs = 0: expected a whole number ≥ 1"
        );
        let e = file_error("[optim]\nlr = 0.1\nlr = 0.2\n");
        assert!(e.starts_with("c.toml:3: "), "{e}");
    }

    #[test]
    fn a_file_error_and_an_override_are_told_apart() {
        let e = RunConfig::from_toml_str("[optim]\nlr = -1\n", "c.toml", &["seed=1".into()])
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "c.toml:2: optim.lr = -1: expected a number > 0"
        );
        // An override mends a bad value in the file.
        RunConfig::from_toml_str("[optim]\nlr = -1\n", "c.toml", &["optim.lr=0.1".into()]).unwrap();
    }

    #[test]
    fn presets_parse() {
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/configs")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let loaded = RunConfig::load_with_notes(Some(&path), &[])
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(loaded.notes.is_empty(), "{:?}", loaded.notes);
            }
        }
    }

    /// Every committed run's own config loads again: renamed or removed keys are upgraded with a
    /// note naming the file.
    #[test]
    fn every_committed_run_config_loads_again() {
        fn configs(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    configs(&path, found);
                } else if path.file_name().is_some_and(|n| n == "config.toml") {
                    found.push(path);
                }
            }
        }
        let mut found = Vec::new();
        configs(
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/docs")),
            &mut found,
        );
        assert!(found.len() >= 20, "{} run configs", found.len());
        let mut upgraded = 0;
        for path in &found {
            let loaded = RunConfig::load_with_notes(Some(path), &[])
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for note in &loaded.notes {
                assert!(note.starts_with(&path.display().to_string()), "{note}");
                assert!(note.contains("schedule.adaptive_margin"), "{note}");
            }
            upgraded += usize::from(!loaded.notes.is_empty());
        }
        assert!(upgraded > 0, "the older runs' configs need their upgrade");
    }
}
