//! Colour themes: what each colour role looks like on this terminal, as the styles the widgets
//! draw with. The jobs are split by module: `role` names colours by meaning, `color` knows what
//! the terminal shows and converts down to it, `symbols` holds the glyph sets, `file` reads theme
//! files (built-in or by path, with `extends`). Owns every colour decision; must never draw, read
//! events, or bind keys: a theme file's `[keys]` table becomes a [`KeyMap`](super::keys::KeyMap)
//! of its own.
//!
//! A theme may leave most colour names out: each derived name falls back to a base name
//! (`loss` → `accent`), and a user theme may `extends` a built-in one and override only what it
//! wants.

mod color;
mod file;
mod role;
mod symbols;

use ratatui::style::{Color, Modifier, Style};

pub use color::{xterm_rgb, ColorMode, ANSI16};
pub use file::{parse_color, ThemeFile, BUILTIN};
pub use role::Role;
pub use symbols::Symbols;

use super::outcome::TuiError;

/// A loaded theme: colours for every role, converted for the terminal, and the glyphs to draw with.
#[derive(Clone, Debug)]
pub struct Theme {
    /// Theme name (built-in name or the file's `name`).
    pub name: String,
    /// Draw with ASCII only (borders, bars, curves).
    pub ascii: bool,
    /// What the terminal can show; colours are already converted to it.
    pub mode: ColorMode,
    /// Symbols matching `ascii`.
    pub sym: Symbols,
    palette: [Color; Role::ALL.len()],
    series: Vec<Color>,
}

impl Theme {
    /// Resolves every role (a role left out takes its fallback's colour, else the terminal's own)
    /// and converts the colours for `mode`.
    fn new(
        name: String,
        ascii: bool,
        mode: ColorMode,
        given: &[Option<Color>; Role::ALL.len()],
        series: Vec<Color>,
    ) -> Theme {
        let mut palette = [Color::Reset; Role::ALL.len()];
        for role in Role::ALL {
            let mut r = role;
            let c = loop {
                if let Some(c) = given[r.index()] {
                    break c;
                }
                match r.fallback() {
                    Some(f) => r = f,
                    None => break Color::Reset,
                }
            };
            palette[role.index()] = mode.convert(c);
        }
        Theme {
            name,
            ascii,
            mode,
            sym: Symbols::new(ascii),
            palette,
            series: series.into_iter().map(|c| mode.convert(c)).collect(),
        }
    }

    /// The colour of `role` as the terminal will show it.
    pub fn color(&self, role: Role) -> Color {
        self.palette[role.index()]
    }

    /// Foreground style for `role`; without colour, roles that carry meaning get bold or dim.
    pub fn fg(&self, role: Role) -> Style {
        let s = Style::new().fg(self.color(role));
        if self.mode != ColorMode::None {
            return s;
        }
        match role {
            Role::Faint | Role::LossRaw | Role::Border | Role::Muted => {
                s.add_modifier(Modifier::DIM)
            }
            Role::Accent | Role::Title | Role::Bad | Role::Warn => s.add_modifier(Modifier::BOLD),
            _ => s,
        }
    }

    /// Bold foreground for `role`.
    pub fn bold(&self, role: Role) -> Style {
        self.fg(role).add_modifier(Modifier::BOLD)
    }

    /// The style of the whole screen: normal text on the background.
    pub fn base(&self) -> Style {
        Style::new()
            .fg(self.color(Role::Fg))
            .bg(self.color(Role::Bg))
    }

    /// Background for `role` (highlights, stage segments); without a colour, the highlight
    /// becomes reverse video and other backgrounds stay plain.
    pub fn bg(&self, role: Role) -> Style {
        match (self.color(role), role) {
            (Color::Reset, Role::Highlight) => Style::new().add_modifier(Modifier::REVERSED),
            (Color::Reset, _) => Style::new(),
            (c, _) => Style::new().bg(c),
        }
    }

    /// True when nothing is coloured (NO_COLOR, or a theme without colours): series must then
    /// be told apart by their marks.
    pub fn colourless(&self) -> bool {
        self.color(Role::Accent) == Color::Reset && self.series(1) == Color::Reset
    }

    /// The colour of the `i`-th run in an overlay.
    pub fn series(&self, i: usize) -> Color {
        if self.series.is_empty() {
            return self.color(Role::Accent);
        }
        self.series[i % self.series.len()]
    }

    /// Builds a theme from TOML text; `origin` names the file in errors. Only the colours are
    /// read: the `[keys]` table is checked by [`ThemeFile::keys`].
    pub fn from_toml(text: &str, origin: &str, mode: ColorMode) -> Result<Theme, TuiError> {
        ThemeFile::parse(text, origin)?.theme(mode)
    }

    /// A built-in theme by name (`dark`, `light`, `mono`) for the given colour mode.
    pub fn builtin(name: &str, mode: ColorMode) -> Option<Theme> {
        ThemeFile::builtin(name)?.theme(mode).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_themes_load_in_every_mode() {
        for (name, _) in BUILTIN {
            for mode in [
                ColorMode::TrueColor,
                ColorMode::Ansi256,
                ColorMode::Ansi16,
                ColorMode::None,
            ] {
                let t = ThemeFile::load(Some(name))
                    .and_then(|f| f.theme(mode))
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(t.name, name);
                for role in Role::ALL {
                    let c = t.color(role);
                    match mode {
                        ColorMode::None => assert_eq!(c, Color::Reset),
                        ColorMode::Ansi16 | ColorMode::Ansi256 => {
                            assert!(
                                !matches!(c, Color::Rgb(..)),
                                "{name}/{role:?} is {c:?} in {mode:?}"
                            )
                        }
                        ColorMode::TrueColor => {}
                    }
                    if mode == ColorMode::Ansi16 {
                        assert!(!matches!(c, Color::Indexed(_)), "{name}/{role:?} is {c:?}");
                    }
                }
            }
        }
        assert!(Theme::builtin("mono", ColorMode::TrueColor).unwrap().ascii);
        let dark = ThemeFile::load(None)
            .and_then(|f| f.theme(ColorMode::TrueColor))
            .unwrap();
        assert!(!dark.ascii);
        assert_eq!(dark.sym, Symbols::new(false));
    }

    #[test]
    fn derived_roles_fall_back_to_base_roles() {
        let t = Theme::from_toml(
            "[colors]\naccent = \"#010203\"\nfaint = \"red\"\n",
            "t.toml",
            ColorMode::TrueColor,
        )
        .unwrap();
        assert_eq!(t.color(Role::Loss), Color::Rgb(1, 2, 3));
        assert_eq!(t.color(Role::LossRaw), Color::Red);
        assert_eq!(
            t.color(Role::Good),
            Color::Reset,
            "unset base roles use the terminal's colour"
        );
    }

    #[test]
    fn without_colour_meaning_moves_to_bold_dim_and_reverse() {
        let t = Theme::builtin("dark", ColorMode::None).unwrap();
        assert!(t.fg(Role::Muted).add_modifier.contains(Modifier::DIM));
        assert!(t.fg(Role::Warn).add_modifier.contains(Modifier::BOLD));
        assert!(t
            .bg(Role::Highlight)
            .add_modifier
            .contains(Modifier::REVERSED));
        assert_eq!(t.series(3), Color::Reset);
    }
}
