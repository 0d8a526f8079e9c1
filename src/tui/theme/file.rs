//! Theme files: TOML text (a built-in one or a user's file by path) read into the tables it
//! holds, on top of the built-in it `extends`, and built into the two separate things a file
//! configures: a [`Theme`] from `name`, `ascii` and `[colors]`, a [`KeyMap`] from `[keys]`, and
//! a [`TagTable`] from `[[tags]]` (which TensorBoard tags are a loss, an accuracy…).
//! Owns the file format, inheritance and the error messages (each names the file); must never
//! draw, and never lets the colours, the keys and the tags depend on each other.

use std::collections::BTreeMap;
use std::path::Path;

use ratatui::style::Color;
use serde::Deserialize;

use super::{ColorMode, Role, Theme};
use crate::tboard::tags::{words, Role as TagRole, TagRule, TagTable};
use crate::tui::keys::KeyMap;
use crate::tui::outcome::TuiError;

/// The built-in themes, embedded so the binary works from any directory.
pub const BUILTIN: [(&str, &str); 3] = [
    ("dark", include_str!("../../../themes/dark.toml")),
    ("light", include_str!("../../../themes/light.toml")),
    ("mono", include_str!("../../../themes/mono.toml")),
];

/// One file's own settings, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Layer {
    name: Option<String>,
    extends: Option<String>,
    ascii: Option<bool>,
    #[serde(default)]
    colors: BTreeMap<String, toml::Value>,
    #[serde(default)]
    keys: BTreeMap<String, toml::Value>,
    /// Read entry by entry in [`ThemeFile::tag_table`], so an error can name the entry.
    #[serde(default)]
    tags: Vec<toml::Value>,
}

/// A theme file whose syntax has been checked, with the built-in theme it extends.
#[derive(Debug)]
pub struct ThemeFile {
    origin: String,
    parent: Option<Layer>,
    own: Layer,
}

impl ThemeFile {
    /// Parses TOML text; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<ThemeFile, TuiError> {
        let bad = |msg: String| TuiError::Theme(format!("{origin}: {msg}"));
        let own: Layer = toml::from_str(text)
            .map_err(|e| bad(e.message().to_string() + &at_line(text, e.span())))?;
        // One level only: a built-in's own `extends` is not followed (they all spell out every colour).
        let parent = match &own.extends {
            Some(base) => {
                let (_, src) = BUILTIN.iter().find(|(n, _)| n == base).ok_or_else(|| {
                    bad(format!(
                        "extends = \"{base}\" is not a built-in theme; use dark, light or mono"
                    ))
                })?;
                Some(toml::from_str::<Layer>(src).map_err(|e| bad(e.to_string()))?)
            }
            None => None,
        };
        Ok(ThemeFile {
            origin: origin.to_string(),
            parent,
            own,
        })
    }

    /// A built-in theme file by name (`dark`, `light`, `mono`).
    pub fn builtin(name: &str) -> Option<ThemeFile> {
        let (_, src) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        ThemeFile::parse(src, name).ok()
    }

    /// Reads a theme file by built-in name or path; `None` is `dark`.
    pub fn load(name: Option<&str>) -> Result<ThemeFile, TuiError> {
        let name = name.unwrap_or("dark");
        if let Some((n, src)) = BUILTIN.iter().find(|(n, _)| *n == name) {
            return ThemeFile::parse(src, n);
        }
        let path = Path::new(name);
        let looks_like_path =
            name.ends_with(".toml") || name.contains(std::path::MAIN_SEPARATOR) || path.exists();
        if !looks_like_path {
            return Err(TuiError::Theme(format!(
                "unknown theme '{name}': use dark, light, mono or the path of a .toml theme file"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            TuiError::Theme(format!("cannot read theme file {}: {e}", path.display()))
        })?;
        ThemeFile::parse(&text, &path.display().to_string())
    }

    /// The colours and glyphs, converted for `mode`; the file's colours override the built-in's.
    pub fn theme(&self, mode: ColorMode) -> Result<Theme, TuiError> {
        let mut given: [Option<Color>; Role::ALL.len()] = [None; Role::ALL.len()];
        let mut series = Vec::new();
        for layer in self.layers() {
            for (key, value) in &layer.colors {
                if key == "series" {
                    let items = value.as_array().ok_or_else(|| {
                        self.bad("colors.series must be a list of colours".into())
                    })?;
                    series = items
                        .iter()
                        .map(|v| {
                            parse_color_value(v)
                                .map_err(|m| self.bad(format!("colors.series: {m}")))
                        })
                        .collect::<Result<_, _>>()?;
                    continue;
                }
                let role = Role::from_name(key).ok_or_else(|| {
                    let names: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
                    self.bad(format!(
                        "unknown colour name '{key}'; known: {}, series",
                        names.join(", ")
                    ))
                })?;
                given[role.index()] = Some(
                    parse_color_value(value).map_err(|m| self.bad(format!("colors.{key}: {m}")))?,
                );
            }
        }
        let ascii = self
            .own
            .ascii
            .or(self.parent.as_ref().and_then(|p| p.ascii))
            .unwrap_or(false);
        let name = self
            .own
            .name
            .clone()
            .or_else(|| self.own.extends.clone())
            .unwrap_or_else(|| self.origin.clone());
        Ok(Theme::new(name, ascii, mode, &given, series))
    }

    /// The key bindings: the defaults, changed by the built-in's `[keys]`, then by the file's.
    pub fn keys(&self) -> Result<KeyMap, TuiError> {
        let mut keys = KeyMap::default();
        for layer in self.layers() {
            keys.apply(&layer.keys)
                .map_err(|m| self.bad(format!("keys: {m}")))?;
        }
        Ok(keys)
    }

    /// The tag table: the file's own `[[tags]]` rules, then those of the built-in it extends,
    /// then the defaults (the first rule that matches wins, so the file's win).
    pub fn tag_table(&self) -> Result<TagTable, TuiError> {
        let mut rules = Vec::new();
        for layer in std::iter::once(&self.own).chain(self.parent.iter()) {
            for (i, entry) in layer.tags.iter().enumerate() {
                let rule = tag_rule(entry).map_err(|m| {
                    let role = entry
                        .get("role")
                        .map(|r| format!(" (role = {r})"))
                        .unwrap_or_default();
                    self.bad(format!("[[tags]] entry {}{role}: {m}", i + 1))
                })?;
                rules.push(rule);
            }
        }
        Ok(TagTable::with_rules_first(rules))
    }

    /// The built-in first, so the file's own settings win.
    fn layers(&self) -> impl Iterator<Item = &Layer> {
        self.parent.iter().chain(std::iter::once(&self.own))
    }

    fn bad(&self, msg: String) -> TuiError {
        TuiError::Theme(format!("{}: {msg}", self.origin))
    }
}

/// What a `[[tags]]` entry may hold, for the error that names a wrong one.
const TAG_KEYS: &str = "role, words, at_end, unless";

/// One `[[tags]]` entry. `words` and `unless` are split as tags are (`"my_metric/objective"`
/// is the words `my metric objective`), so a piece of a tag can be pasted as it is.
fn tag_rule(entry: &toml::Value) -> Result<TagRule, String> {
    let table = entry
        .as_table()
        .ok_or("write an entry as [[tags]] followed by role = \"loss\" and words = [\"…\"]")?;
    if let Some(key) = table
        .keys()
        .find(|k| !TAG_KEYS.split(", ").any(|t| t == *k))
    {
        return Err(format!("unknown key '{key}'; an entry holds {TAG_KEYS}"));
    }
    const ROLES: &str = "write role = \"loss\", \"accuracy\", \"learning_rate\" or \"batch_size\"";
    let role = match table.get("role") {
        None => return Err(format!("no role; {ROLES}")),
        // The names are `Role`'s serde names, so a rule reads the same here as in `TagTable`.
        Some(r @ toml::Value::String(name)) => r
            .clone()
            .try_into::<TagRole>()
            .map_err(|_| format!("unknown role \"{name}\"; {ROLES}"))?,
        Some(other) => return Err(format!("role = {other} is not a name; {ROLES}")),
    };
    let word_list = |key: &str| -> Result<Vec<String>, String> {
        let wrong = || {
            format!("{key} must be text or a list of text, as in {key} = [\"objective\"] or {key} = \"cross entropy\"")
        };
        match table.get(key) {
            None => Ok(Vec::new()),
            Some(toml::Value::String(s)) => Ok(words(s)),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(words).ok_or_else(wrong))
                .collect::<Result<Vec<_>, _>>()
                .map(|w| w.concat()),
            Some(_) => Err(wrong()),
        }
    };
    let rule_words = word_list("words")?;
    if rule_words.is_empty() {
        return Err(
            "no words; write words = [\"objective\"] (the words a tag must hold in a row)".into(),
        );
    }
    let at_end = match table.get("at_end") {
        None => false,
        Some(toml::Value::Boolean(b)) => *b,
        Some(other) => return Err(format!("at_end = {other} is not true or false")),
    };
    Ok(TagRule {
        role,
        words: rule_words,
        at_end,
        unless: word_list("unless")?,
    })
}

fn at_line(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(r) => format!(
            " (line {})",
            text[..r.start.min(text.len())].lines().count().max(1)
        ),
        None => String::new(),
    }
}

fn parse_color_value(v: &toml::Value) -> Result<Color, String> {
    match v {
        toml::Value::String(s) => parse_color(s),
        toml::Value::Integer(i) if (0..=255).contains(i) => Ok(Color::Indexed(*i as u8)),
        other => Err(format!(
            "'{other}' is not a colour; use a name, \"#rrggbb\" or 0-255"
        )),
    }
}

/// Parses `reset`, one of the 16 colour names, `#rgb`, `#rrggbb` or a palette index `0`–`255`.
pub fn parse_color(s: &str) -> Result<Color, String> {
    let t = s.trim().to_ascii_lowercase().replace(['_', '-', ' '], "");
    let named = match t.as_str() {
        "reset" | "default" | "none" => Some(Color::Reset),
        "black" => Some(Color::Black),
        "red" => Some(Color::Red),
        "green" => Some(Color::Green),
        "yellow" => Some(Color::Yellow),
        "blue" => Some(Color::Blue),
        "magenta" => Some(Color::Magenta),
        "cyan" => Some(Color::Cyan),
        "gray" | "grey" => Some(Color::Gray),
        "darkgray" | "darkgrey" | "brightblack" => Some(Color::DarkGray),
        "lightred" | "brightred" => Some(Color::LightRed),
        "lightgreen" | "brightgreen" => Some(Color::LightGreen),
        "lightyellow" | "brightyellow" => Some(Color::LightYellow),
        "lightblue" | "brightblue" => Some(Color::LightBlue),
        "lightmagenta" | "brightmagenta" => Some(Color::LightMagenta),
        "lightcyan" | "brightcyan" => Some(Color::LightCyan),
        "white" | "brightwhite" => Some(Color::White),
        _ => None,
    };
    if let Some(c) = named {
        return Ok(c);
    }
    if let Some(hex) = t.strip_prefix('#') {
        let digits: Option<Vec<u8>> = hex
            .chars()
            .map(|c| c.to_digit(16).map(|d| d as u8))
            .collect();
        return match digits.as_deref() {
            Some([r, g, b]) => Ok(Color::Rgb(r * 17, g * 17, b * 17)),
            Some([r1, r2, g1, g2, b1, b2]) => {
                Ok(Color::Rgb(r1 * 16 + r2, g1 * 16 + g2, b1 * 16 + b2))
            }
            _ => Err(format!("'{s}' is not a hex colour; use #rgb or #rrggbb")),
        };
    }
    if let Ok(i) = t.parse::<u8>() {
        return Ok(Color::Indexed(i));
    }
    Err(format!(
        "unknown colour '{s}'; use reset, a name like red or lightblue, \"#rrggbb\" or 0-255"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::keys::Action;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    fn press(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn colours_parse() {
        assert_eq!(parse_color("#ff8000"), Ok(Color::Rgb(255, 128, 0)));
        assert_eq!(parse_color("#f80"), Ok(Color::Rgb(255, 136, 0)));
        assert_eq!(parse_color("Light Blue"), Ok(Color::LightBlue));
        assert_eq!(parse_color("208"), Ok(Color::Indexed(208)));
        assert!(parse_color("#12345").unwrap_err().contains("#rrggbb"));
        assert!(parse_color("blurple")
            .unwrap_err()
            .contains("unknown colour 'blurple'"));
    }

    #[test]
    fn user_theme_extends_a_builtin() {
        let f = ThemeFile::parse(
            "extends = \"light\"\n[colors]\nwarn = \"magenta\"\n[keys]\npause = [\"space\"]\n",
            "mine.toml",
        )
        .unwrap();
        let t = f.theme(ColorMode::TrueColor).unwrap();
        let light = Theme::builtin("light", ColorMode::TrueColor).unwrap();
        assert_eq!(t.color(Role::Warn), Color::Magenta);
        assert_eq!(t.color(Role::Accent), light.color(Role::Accent));
        assert_eq!(t.name, "light");
        let keys = f.keys().unwrap();
        assert_eq!(keys.action(&press(' ')), Some(Action::Pause));
        assert_eq!(
            keys.action(&press('p')),
            None,
            "the file's list replaces the default"
        );
        assert_eq!(keys.action(&press('q')), Some(Action::Quit));
    }

    #[test]
    fn colours_and_keys_are_read_apart() {
        // A bad binding does not stop the colours from loading, nor a bad colour the keys:
        // each is refused where it is asked for.
        let f = ThemeFile::parse(
            "[colors]\nfg = \"white\"\n[keys]\nfly = [\"f\"]\n",
            "k.toml",
        )
        .unwrap();
        assert_eq!(
            f.theme(ColorMode::TrueColor).unwrap().color(Role::Fg),
            Color::White
        );
        let e = f.keys().unwrap_err().to_string();
        assert!(e.contains("k.toml: keys") && e.contains("fly"), "{e}");
        let f = ThemeFile::parse("[colors]\nfg = 3.5\n", "c.toml").unwrap();
        assert!(f.theme(ColorMode::TrueColor).is_err());
        assert_eq!(f.keys().unwrap(), KeyMap::default());
    }

    #[test]
    fn bad_theme_files_give_one_clear_line() {
        let err = |text: &str| {
            ThemeFile::parse(text, "bad.toml")
                .and_then(|f| f.theme(ColorMode::TrueColor).and(f.keys()))
                .unwrap_err()
                .to_string()
        };
        let e = err("[colors]\nfg = \"#zzzzzz\"\n");
        assert!(
            e.contains("bad.toml") && e.contains("colors.fg") && e.contains("#rrggbb"),
            "{e}"
        );
        let e = err("[colors]\nlos = \"red\"\n");
        assert!(
            e.contains("unknown colour name 'los'") && e.contains("loss"),
            "{e}"
        );
        let e = err("colours = 3\n");
        assert!(e.contains("bad.toml") && e.contains("colours"), "{e}");
        let e = err("[colors\nfg = 1");
        assert!(e.contains("line 1"), "{e}");
        let e = err("extends = \"solarized\"\n");
        assert!(e.contains("not a built-in theme"), "{e}");
        let e = err("[keys]\nfly = [\"f\"]\n");
        assert!(e.contains("keys") && e.contains("fly"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }

    #[test]
    fn tags_rules_of_a_theme_file_come_before_the_defaults() {
        use crate::tboard::Role as R;
        let f = ThemeFile::parse(
            "extends = \"dark\"\n\
             [[tags]]\nrole = \"loss\"\nwords = [\"objective\"]\n\
             [[tags]]\nrole = \"accuracy\"\nwords = \"loss_ratio\"\nat_end = true\n\
             [[tags]]\nrole = \"batch_size\"\nwords = \"tokens\"\nunless = [\"seen\"]\n",
            "mine.toml",
        )
        .unwrap();
        let t = f.tag_table().unwrap();
        assert_eq!(t.role("my_metric/objective"), Some(R::Loss));
        assert_eq!(
            t.role("train/lossRatio"),
            Some(R::Accuracy),
            "before `loss`"
        );
        assert_eq!(t.role("loss_ratio/train"), Some(R::Loss), "at_end");
        assert_eq!(t.role("tokens"), Some(R::BatchSize));
        assert_eq!(t.role("tokens_seen"), None, "unless");
        assert_eq!(t.role("val_acc"), Some(R::Accuracy), "the defaults follow");
        assert_eq!(t.role("my_metric/objective_2"), Some(R::Loss));
        assert_eq!(TagTable::default().role("my_metric/objective"), None);
        // The built-ins add no rule of their own.
        for (name, _) in BUILTIN {
            let b = ThemeFile::builtin(name).unwrap();
            assert_eq!(b.tag_table().unwrap(), TagTable::default(), "{name}");
        }
    }

    #[test]
    fn a_bad_tags_entry_names_the_file_the_entry_and_what_to_write() {
        let err = |entry: &str| {
            let text = format!("[[tags]]\nrole = \"loss\"\nwords = \"x\"\n[[tags]]\n{entry}");
            let e = ThemeFile::parse(&text, "bad.toml")
                .and_then(|f| f.tag_table())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("bad.toml: [[tags]] entry 2") && !e.contains("entry 1"),
                "{e}"
            );
            assert!(!e.contains('\n'), "one line: {e}");
            e
        };
        let e = err("role = \"los\"\nwords = [\"objective\"]\n");
        assert!(
            e.contains("(role = \"los\")")
                && e.contains("unknown role \"los\"")
                && e.contains("\"learning_rate\""),
            "{e}"
        );
        let e = err("words = [\"objective\"]\n");
        assert!(e.contains("no role; write role = \"loss\""), "{e}");
        let e = err("role = \"loss\"\n");
        assert!(e.contains("no words; write words = [\"objective\"]"), "{e}");
        let e = err("role = \"loss\"\nwords = [1]\n");
        assert!(e.contains("words must be text or a list of text"), "{e}");
        let e = err("role = \"loss\"\nwords = \"x\"\nat_start = true\n");
        assert!(
            e.contains("unknown key 'at_start'") && e.contains("at_end"),
            "{e}"
        );
        let e = err("role = \"loss\"\nwords = \"x\"\nat_end = \"yes\"\n");
        assert!(e.contains("not true or false"), "{e}");
        // The colours and keys of such a file still load: each part is refused where asked for.
        let f = ThemeFile::parse("[[tags]]\nrole = 3\n", "bad.toml").unwrap();
        assert!(f.theme(ColorMode::TrueColor).is_ok() && f.keys().is_ok());
        let e = f.tag_table().unwrap_err().to_string();
        assert!(
            e.contains("entry 1 (role = 3): role = 3 is not a name"),
            "{e}"
        );
    }

    #[test]
    fn load_theme_accepts_or_refuses_a_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keys.toml");
        std::fs::write(&p, "[colors]\nfg = \"white\"\n[keys]\nquit = [\"x\"]\n").unwrap();
        let e = crate::tui::load_theme(p.to_str()).unwrap_err().to_string();
        assert!(e.contains("'x' is bound to both"), "{e}");
        std::fs::write(&p, "[[tags]]\nrole = \"metric\"\nwords = \"x\"\n").unwrap();
        let e = crate::tui::load_theme(p.to_str()).unwrap_err().to_string();
        assert!(e.contains("keys.toml: [[tags]] entry 1"), "{e}");
    }

    #[test]
    fn unknown_names_and_missing_files_are_reported() {
        let e = ThemeFile::load(Some("neon")).unwrap_err().to_string();
        assert!(
            e.contains("unknown theme 'neon'") && e.contains("dark, light, mono"),
            "{e}"
        );
        let e = ThemeFile::load(Some("/nonexistent/x.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cannot read theme file /nonexistent/x.toml"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.toml");
        std::fs::write(
            &p,
            "name = \"mine\"\nascii = true\n[colors]\nfg = \"white\"\n",
        )
        .unwrap();
        let t = ThemeFile::load(p.to_str())
            .and_then(|f| f.theme(ColorMode::Ansi16))
            .unwrap();
        assert_eq!(
            (t.name.as_str(), t.ascii, t.color(Role::Fg)),
            ("mine", true, Color::White)
        );
    }
}
