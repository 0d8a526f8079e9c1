//! Key bindings: the actions a user can take, their default keys, and parsing of the `[keys]`
//! table in theme files. A [`KeyMap`] is its own object, held beside the theme and never inside
//! it, though both come from the same file. Owns the mapping from key presses to actions; must
//! never decide what an action does (that is `app`) or send anything to the trainer.

use std::collections::BTreeMap;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Something the user asks the UI to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Leave (in a live run: ask, then stop the trainer).
    Quit,
    /// Pause or resume the trainer (replay: the playback).
    Pause,
    /// Ask the trainer for a checkpoint now.
    Checkpoint,
    /// Switch the curves between updates and epochs.
    XAxis,
    /// Log scale for the loss.
    LogScale,
    /// EMA smoothing with the raw curve drawn faint.
    Smooth,
    /// Next panel (the chart shown in the compact layout, the second chart in the full one).
    NextPanel,
    /// Cycle the layout: automatic, compact, full.
    Layout,
    /// Pan the history window left (older).
    PanLeft,
    /// Pan the history window right (newer).
    PanRight,
    /// Show a shorter stretch of history.
    ZoomIn,
    /// Show a longer stretch of history.
    ZoomOut,
    /// Show the whole history and follow new points again.
    ResetView,
    /// Show or hide the key list.
    Help,
    /// Replay: back to the start.
    SeekStart,
    /// Replay: jump to the end.
    SeekEnd,
    /// Replay: double the speed.
    Faster,
    /// Replay: halve the speed.
    Slower,
}

impl Action {
    /// Every action, in help order.
    pub const ALL: [Action; 18] = [
        Action::Pause,
        Action::Checkpoint,
        Action::Quit,
        Action::XAxis,
        Action::LogScale,
        Action::Smooth,
        Action::NextPanel,
        Action::Layout,
        Action::PanLeft,
        Action::PanRight,
        Action::ZoomIn,
        Action::ZoomOut,
        Action::ResetView,
        Action::SeekStart,
        Action::SeekEnd,
        Action::Faster,
        Action::Slower,
        Action::Help,
    ];

    /// The name used in the `[keys]` table.
    pub fn name(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Pause => "pause",
            Action::Checkpoint => "checkpoint",
            Action::XAxis => "x_axis",
            Action::LogScale => "log_scale",
            Action::Smooth => "smooth",
            Action::NextPanel => "next_panel",
            Action::Layout => "layout",
            Action::PanLeft => "pan_left",
            Action::PanRight => "pan_right",
            Action::ZoomIn => "zoom_in",
            Action::ZoomOut => "zoom_out",
            Action::ResetView => "reset_view",
            Action::Help => "help",
            Action::SeekStart => "seek_start",
            Action::SeekEnd => "seek_end",
            Action::Faster => "faster",
            Action::Slower => "slower",
        }
    }

    /// What it does, for the help overlay.
    pub fn describe(self) -> &'static str {
        match self {
            Action::Quit => "quit (live run: stop, with or without a checkpoint)",
            Action::Pause => "pause / resume training (replay: playback)",
            Action::Checkpoint => "write a checkpoint now",
            Action::XAxis => "x axis: updates / epochs",
            Action::LogScale => "log scale for the loss",
            Action::Smooth => "EMA smoothing (raw curve faint)",
            Action::NextPanel => "next chart: loss / accuracy / noise scale",
            Action::Layout => "layout: auto / compact / full",
            Action::PanLeft => "pan history left",
            Action::PanRight => "pan history right",
            Action::ZoomIn => "zoom in",
            Action::ZoomOut => "zoom out",
            Action::ResetView => "whole history, follow new points",
            Action::Help => "this help",
            Action::SeekStart => "replay: back to the start",
            Action::SeekEnd => "replay: jump to the end",
            Action::Faster => "replay: faster",
            Action::Slower => "replay: slower",
        }
    }

    fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    fn defaults(self) -> &'static [&'static str] {
        match self {
            Action::Quit => &["q"],
            Action::Pause => &["p", "space"],
            Action::Checkpoint => &["c"],
            Action::XAxis => &["x"],
            Action::LogScale => &["l"],
            Action::Smooth => &["s"],
            Action::NextPanel => &["tab"],
            Action::Layout => &["v", "backtab"],
            Action::PanLeft => &["left"],
            Action::PanRight => &["right"],
            Action::ZoomIn => &["]", "up"],
            Action::ZoomOut => &["[", "down"],
            Action::ResetView => &["0", "f"],
            Action::Help => &["?", "f1"],
            Action::SeekStart => &["home", "g"],
            Action::SeekEnd => &["end", "G"],
            Action::Faster => &[">", "."],
            Action::Slower => &["<", ","],
        }
    }
}

/// A key with its modifiers, as written in theme files (`q`, `ctrl-l`, `tab`, `f1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    /// The key.
    pub code: KeyCode,
    /// Only CONTROL and ALT are compared; SHIFT is part of the character.
    pub mods: KeyModifiers,
}

impl Key {
    /// Parses a key name; the error says what is accepted.
    pub fn parse(s: &str) -> Result<Key, String> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        loop {
            let lower = rest.to_ascii_lowercase();
            if rest.len() > 1 && (lower.starts_with("ctrl-") || lower.starts_with("ctrl+")) {
                mods |= KeyModifiers::CONTROL;
                rest = &rest[5..];
            } else if rest.len() > 1 && (lower.starts_with("alt-") || lower.starts_with("alt+")) {
                mods |= KeyModifiers::ALT;
                rest = &rest[4..];
            } else {
                break;
            }
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            "tab" => KeyCode::Tab,
            "backtab" | "shift-tab" => KeyCode::BackTab,
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "space" => KeyCode::Char(' '),
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            "backspace" => KeyCode::Backspace,
            f if f.len() >= 2
                && f.starts_with('f')
                && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) =>
            {
                KeyCode::F(f[1..].parse().unwrap_or(1))
            }
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => KeyCode::Char(c),
                    _ => {
                        return Err(format!(
                            "unknown key '{s}'; use one character, a name (tab, enter, esc, space, \
                             left, right, up, down, home, end, pageup, pagedown, f1-f12) or ctrl-/alt- before it"
                        ))
                    }
                }
            }
        };
        Ok(Key { code, mods })
    }

    /// The key of a terminal key event.
    pub fn from_event(e: &KeyEvent) -> Key {
        let mut mods = e.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        let code = match e.code {
            // Some terminals report shift-tab as Tab with SHIFT.
            KeyCode::Tab if e.modifiers.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
            KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => {
                KeyCode::Char(c.to_ascii_lowercase())
            }
            c => c,
        };
        if code == KeyCode::BackTab {
            mods = KeyModifiers::NONE;
        }
        Key { code, mods }
    }

    /// How the help overlay writes it.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Tab => "tab".to_string(),
            KeyCode::BackTab => "shift-tab".to_string(),
            KeyCode::Enter => "enter".to_string(),
            KeyCode::Esc => "esc".to_string(),
            KeyCode::Char(' ') => "space".to_string(),
            KeyCode::Left => "←".to_string(),
            KeyCode::Right => "→".to_string(),
            KeyCode::Up => "↑".to_string(),
            KeyCode::Down => "↓".to_string(),
            KeyCode::Home => "home".to_string(),
            KeyCode::End => "end".to_string(),
            KeyCode::PageUp => "pgup".to_string(),
            KeyCode::PageDown => "pgdn".to_string(),
            KeyCode::Backspace => "backspace".to_string(),
            KeyCode::F(n) => format!("F{n}"),
            KeyCode::Char(c) => c.to_string(),
            other => format!("{other:?}").to_lowercase(),
        };
        let mut out = String::new();
        if self.mods.contains(KeyModifiers::CONTROL) {
            out.push_str("ctrl-");
        }
        if self.mods.contains(KeyModifiers::ALT) {
            out.push_str("alt-");
        }
        out + &base
    }
}

/// True for Ctrl-C, which always asks to stop (twice: checkpoint and stop); it cannot be rebound.
pub fn is_interrupt(e: &KeyEvent) -> bool {
    e.kind != KeyEventKind::Release
        && e.modifiers.contains(KeyModifiers::CONTROL)
        && matches!(e.code, KeyCode::Char('c' | 'C'))
}

/// Which keys trigger which actions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyMap {
    bindings: BTreeMap<Action, Vec<Key>>,
}

impl Default for KeyMap {
    fn default() -> Self {
        let bindings = Action::ALL
            .into_iter()
            .map(|a| {
                let keys = a
                    .defaults()
                    .iter()
                    .filter_map(|k| Key::parse(k).ok())
                    .collect();
                (a, keys)
            })
            .collect();
        KeyMap { bindings }
    }
}

impl KeyMap {
    /// The action bound to a key event, if any (releases are ignored).
    pub fn action(&self, e: &KeyEvent) -> Option<Action> {
        if e.kind == KeyEventKind::Release {
            return None;
        }
        let key = Key::from_event(e);
        self.bindings
            .iter()
            .find(|(_, keys)| keys.contains(&key))
            .map(|(a, _)| *a)
    }

    /// The keys bound to `action`.
    pub fn keys(&self, action: Action) -> &[Key] {
        self.bindings.get(&action).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The first key's label for `action`, for hints ("" when unbound).
    pub fn hint(&self, action: Action) -> String {
        self.keys(action)
            .first()
            .map(Key::label)
            .unwrap_or_default()
    }

    /// Replaces the keys of the actions named in a `[keys]` table (`action = ["k", ...]` or `action = "k"`).
    pub fn apply(&mut self, table: &BTreeMap<String, toml::Value>) -> Result<(), String> {
        for (name, value) in table {
            let action = Action::from_name(name).ok_or_else(|| {
                let names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
                format!("unknown action '{name}'; known: {}", names.join(", "))
            })?;
            let list: Vec<&str> = match value {
                toml::Value::String(s) => vec![s.as_str()],
                toml::Value::Array(items) => items
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .ok_or_else(|| format!("{name}: keys must be strings"))
                    })
                    .collect::<Result<_, _>>()?,
                _ => {
                    return Err(format!(
                        "{name}: give a key or a list of keys, e.g. [\"p\"]"
                    ))
                }
            };
            let keys = list
                .into_iter()
                .map(|k| Key::parse(k).map_err(|e| format!("{name}: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            if keys
                .iter()
                .any(|k| k.code == KeyCode::Char('c') && k.mods == KeyModifiers::CONTROL)
            {
                return Err(format!(
                    "{name}: ctrl-c is reserved for checkpoint-and-quit"
                ));
            }
            self.bindings.insert(action, keys);
        }
        for (a, keys) in &self.bindings {
            for (b, other) in &self.bindings {
                if a < b {
                    if let Some(k) = keys.iter().find(|k| other.contains(k)) {
                        return Err(format!(
                            "key '{}' is bound to both {} and {}; bind it to one",
                            k.label(),
                            a.name(),
                            b.name()
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn default_keys_cover_every_action_without_clashes() {
        let km = KeyMap::default();
        for a in Action::ALL {
            assert!(!km.keys(a).is_empty(), "{a:?} has no key");
        }
        km.clone()
            .apply(&BTreeMap::new())
            .expect("defaults do not clash");
        assert_eq!(
            km.action(&press(KeyCode::Char('p'), KeyModifiers::NONE)),
            Some(Action::Pause)
        );
        assert_eq!(
            km.action(&press(KeyCode::Char('?'), KeyModifiers::SHIFT)),
            Some(Action::Help)
        );
        assert_eq!(
            km.action(&press(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::SeekEnd)
        );
        assert_eq!(
            km.action(&press(KeyCode::Tab, KeyModifiers::SHIFT)),
            Some(Action::Layout)
        );
        assert_eq!(
            km.action(&press(KeyCode::Char(']'), KeyModifiers::NONE)),
            Some(Action::ZoomIn)
        );
        assert_eq!(
            km.action(&press(KeyCode::Char('p'), KeyModifiers::CONTROL)),
            None
        );
    }

    #[test]
    fn releases_are_ignored_and_ctrl_c_is_the_interrupt() {
        let km = KeyMap::default();
        let mut e = press(KeyCode::Char('q'), KeyModifiers::NONE);
        e.kind = KeyEventKind::Release;
        assert_eq!(km.action(&e), None);
        assert!(is_interrupt(&press(
            KeyCode::Char('c'),
            KeyModifiers::CONTROL
        )));
        assert!(!is_interrupt(&press(
            KeyCode::Char('c'),
            KeyModifiers::NONE
        )));
    }

    #[test]
    fn key_names_parse() {
        assert_eq!(
            Key::parse("ctrl-l").unwrap(),
            Key {
                code: KeyCode::Char('l'),
                mods: KeyModifiers::CONTROL
            }
        );
        assert_eq!(Key::parse("F5").unwrap().code, KeyCode::F(5));
        assert_eq!(Key::parse("-").unwrap().code, KeyCode::Char('-'));
        assert_eq!(Key::parse("space").unwrap().code, KeyCode::Char(' '));
        assert!(Key::parse("hyper-x")
            .unwrap_err()
            .contains("unknown key 'hyper-x'"));
        assert_eq!(Key::parse("ctrl-l").unwrap().label(), "ctrl-l");
    }

    #[test]
    fn rebinding_replaces_and_rejects_clashes() {
        let mut km = KeyMap::default();
        let mut t = BTreeMap::new();
        t.insert("pause".to_string(), toml::Value::String("P".into()));
        km.apply(&t).unwrap();
        assert_eq!(
            km.action(&press(KeyCode::Char('P'), KeyModifiers::SHIFT)),
            Some(Action::Pause)
        );
        assert_eq!(
            km.action(&press(KeyCode::Char('p'), KeyModifiers::NONE)),
            None
        );

        let mut t = BTreeMap::new();
        t.insert("smooth".to_string(), toml::Value::Array(vec!["x".into()]));
        let e = km.clone().apply(&t).unwrap_err();
        assert!(
            e.contains("'x'") && e.contains("x_axis") && e.contains("smooth"),
            "{e}"
        );

        let mut t = BTreeMap::new();
        t.insert("quit".to_string(), toml::Value::String("ctrl-c".into()));
        assert!(km.apply(&t).unwrap_err().contains("reserved"));
    }
}
