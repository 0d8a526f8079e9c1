//! Colour themes and keymaps loaded from TOML (built-ins embedded, user files by path), and the
//! terminal's colour capability (NO_COLOR, COLORTERM, TERM). Owns every colour decision; must
//! never draw or read events.
//!
//! Colours are named by meaning (`muted`, `warn`, `loss`…). A theme may leave most names out:
//! each derived name falls back to a base name (`loss` → `accent`), and a user theme may
//! `extends` a built-in one and override only what it wants.

use std::collections::BTreeMap;
use std::path::Path;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

use super::keys::KeyMap;
use super::TuiError;

/// The built-in themes, embedded so the binary works from any directory.
pub const BUILTIN: [(&str, &str); 3] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("mono", include_str!("../../themes/mono.toml")),
];

/// A colour's meaning; themes assign colours to these names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Normal text.
    Fg,
    /// Screen background (`reset` = the terminal's own).
    Bg,
    /// Secondary text: labels, units.
    Muted,
    /// Barely-there text and lines: raw curves, empty bar parts.
    Faint,
    /// Emphasis: the current value, the focused panel.
    Accent,
    /// Healthy state: running, finished, test accuracy.
    Good,
    /// Needs attention: paused, warnings.
    Warn,
    /// Failure.
    Bad,
    /// Panel borders.
    Border,
    /// Panel titles.
    Title,
    /// Background of the current stage and selected rows.
    Highlight,
    /// Train loss curve (smoothed).
    Loss,
    /// Raw train loss drawn under the smoothed one.
    LossRaw,
    /// Train accuracy curve.
    TrainAcc,
    /// Test accuracy curve.
    TestAcc,
    /// Measured gradient noise scale.
    Noise,
    /// Batch size.
    Batch,
    /// Stage-change markers on the curves.
    Marker,
    /// Background of even stages in the timeline.
    StageA,
    /// Background of odd stages in the timeline.
    StageB,
}

impl Role {
    /// Every role, in palette order.
    pub const ALL: [Role; 20] = [
        Role::Fg,
        Role::Bg,
        Role::Muted,
        Role::Faint,
        Role::Accent,
        Role::Good,
        Role::Warn,
        Role::Bad,
        Role::Border,
        Role::Title,
        Role::Highlight,
        Role::Loss,
        Role::LossRaw,
        Role::TrainAcc,
        Role::TestAcc,
        Role::Noise,
        Role::Batch,
        Role::Marker,
        Role::StageA,
        Role::StageB,
    ];

    /// The name used in theme files.
    pub fn name(self) -> &'static str {
        match self {
            Role::Fg => "fg",
            Role::Bg => "bg",
            Role::Muted => "muted",
            Role::Faint => "faint",
            Role::Accent => "accent",
            Role::Good => "good",
            Role::Warn => "warn",
            Role::Bad => "bad",
            Role::Border => "border",
            Role::Title => "title",
            Role::Highlight => "highlight",
            Role::Loss => "loss",
            Role::LossRaw => "loss_raw",
            Role::TrainAcc => "train_acc",
            Role::TestAcc => "test_acc",
            Role::Noise => "noise",
            Role::Batch => "batch",
            Role::Marker => "marker",
            Role::StageA => "stage_a",
            Role::StageB => "stage_b",
        }
    }

    /// The role whose colour is used when a theme leaves this one out.
    fn fallback(self) -> Option<Role> {
        Some(match self {
            Role::Border | Role::LossRaw | Role::StageA => Role::Faint,
            Role::Title | Role::Loss | Role::Batch | Role::Highlight => Role::Accent,
            Role::TrainAcc | Role::StageB => Role::Muted,
            Role::TestAcc => Role::Good,
            Role::Noise | Role::Marker => Role::Warn,
            _ => return None,
        })
    }

    fn index(self) -> usize {
        Role::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }

    fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// What the terminal can show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorMode {
    /// 24-bit colour (COLORTERM=truecolor or 24bit).
    TrueColor,
    /// The xterm 256-colour palette.
    Ansi256,
    /// The 16 basic colours (bare consoles such as TERM=linux).
    Ansi16,
    /// No colour at all (NO_COLOR): emphasis by bold, dim and reverse video only.
    None,
}

impl ColorMode {
    /// Decides from the values of `NO_COLOR`, `COLORTERM` and `TERM`.
    pub fn detect(no_color: Option<&str>, colorterm: Option<&str>, term: Option<&str>) -> Self {
        if no_color.is_some_and(|v| !v.is_empty()) || term == Some("dumb") {
            return ColorMode::None;
        }
        if matches!(colorterm, Some("truecolor" | "24bit")) {
            return ColorMode::TrueColor;
        }
        match term {
            Some(t) if t.contains("256") || t.contains("direct") => ColorMode::Ansi256,
            Some("linux" | "vt100" | "vt220" | "ansi" | "cons25") => ColorMode::Ansi16,
            // An unknown or missing TERM on a modern emulator almost always takes 256 colours.
            _ => ColorMode::Ansi256,
        }
    }

    /// Reads the process environment.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok();
        ColorMode::detect(
            var("NO_COLOR").as_deref(),
            var("COLORTERM").as_deref(),
            var("TERM").as_deref(),
        )
    }

    /// Converts a theme colour into one this terminal shows.
    pub fn convert(self, c: Color) -> Color {
        match (self, c) {
            (ColorMode::None, _) => Color::Reset,
            (ColorMode::TrueColor, c) => c,
            (ColorMode::Ansi256, Color::Rgb(r, g, b)) => Color::Indexed(nearest_256(r, g, b)),
            (ColorMode::Ansi16, Color::Rgb(r, g, b)) => nearest_16(r, g, b),
            (ColorMode::Ansi16, Color::Indexed(i)) => {
                let (r, g, b) = xterm_rgb(i);
                nearest_16(r, g, b)
            }
            (_, c) => c,
        }
    }
}

/// Characters that have a plain-ASCII stand-in on bare terminals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbols {
    /// Learning rate.
    pub lr: &'static str,
    /// Multiplication sign.
    pub times: &'static str,
    /// Separator dot between items.
    pub sep: &'static str,
    /// Arrow "becomes".
    pub arrow: &'static str,
    /// "About".
    pub approx: &'static str,
    /// Ellipsis.
    pub ellipsis: &'static str,
    /// Filled part of a bar.
    pub bar_full: &'static str,
    /// Empty part of a bar.
    pub bar_empty: &'static str,
    /// Vertical stage marker on curves.
    pub marker: &'static str,
    /// "You are here" on the timeline.
    pub here: &'static str,
    /// Status dot.
    pub dot: &'static str,
    /// Sparkline levels, lowest first.
    pub spark: [&'static str; 8],
}

impl Symbols {
    fn unicode() -> Self {
        Symbols {
            lr: "ε",
            times: "×",
            sep: "·",
            arrow: "→",
            approx: "≈",
            ellipsis: "…",
            bar_full: "━",
            bar_empty: "─",
            marker: "┊",
            here: "▲",
            dot: "●",
            spark: ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"],
        }
    }

    fn ascii() -> Self {
        Symbols {
            lr: "lr",
            times: "x",
            sep: "|",
            arrow: "->",
            approx: "~",
            ellipsis: "...",
            bar_full: "#",
            bar_empty: "-",
            marker: ":",
            here: "^",
            dot: "*",
            spark: ["_", ".", "-", "~", "=", "+", "*", "#"],
        }
    }
}

/// A loaded theme: colours for every role, ASCII mode, and the keymap.
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
    /// Key bindings.
    pub keys: KeyMap,
    palette: [Color; Role::ALL.len()],
    series: Vec<Color>,
}

/// The on-disk form of a theme file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    extends: Option<String>,
    ascii: Option<bool>,
    #[serde(default)]
    colors: BTreeMap<String, toml::Value>,
    #[serde(default)]
    keys: BTreeMap<String, toml::Value>,
}

impl Theme {
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

    /// The colour of the `i`-th run in an overlay.
    pub fn series(&self, i: usize) -> Color {
        if self.series.is_empty() {
            return self.color(Role::Accent);
        }
        self.series[i % self.series.len()]
    }

    /// The border set to draw panels with.
    pub fn border_set(&self) -> ratatui::symbols::border::Set {
        if self.ascii {
            ratatui::symbols::border::Set {
                top_left: "+",
                top_right: "+",
                bottom_left: "+",
                bottom_right: "+",
                vertical_left: "|",
                vertical_right: "|",
                horizontal_top: "-",
                horizontal_bottom: "-",
            }
        } else {
            ratatui::symbols::border::ROUNDED
        }
    }

    /// The canvas marker for curves.
    pub fn marker(&self) -> ratatui::symbols::Marker {
        if self.ascii {
            ratatui::symbols::Marker::Dot
        } else {
            ratatui::symbols::Marker::Braille
        }
    }

    /// Builds a theme from TOML text; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str, mode: ColorMode) -> Result<Theme, TuiError> {
        let bad = |msg: String| TuiError::Theme(format!("{origin}: {msg}"));
        let file: ThemeFile = toml::from_str(text)
            .map_err(|e| bad(e.message().to_string() + &at_line(text, e.span())))?;
        let parent = match &file.extends {
            Some(base) => {
                let (_, src) = BUILTIN.iter().find(|(n, _)| n == base).ok_or_else(|| {
                    bad(format!(
                        "extends = \"{base}\" is not a built-in theme; use dark, light or mono"
                    ))
                })?;
                Some(toml::from_str::<ThemeFile>(src).map_err(|e| bad(e.to_string()))?)
            }
            None => None,
        };
        let mut raw: [Option<Color>; Role::ALL.len()] = [None; Role::ALL.len()];
        let mut series = Vec::new();
        for f in parent.iter().chain(std::iter::once(&file)) {
            for (key, value) in &f.colors {
                if key == "series" {
                    let items = value
                        .as_array()
                        .ok_or_else(|| bad("colors.series must be a list of colours".into()))?;
                    series = items
                        .iter()
                        .map(|v| {
                            parse_color_value(v).map_err(|m| bad(format!("colors.series: {m}")))
                        })
                        .collect::<Result<_, _>>()?;
                    continue;
                }
                let role = Role::from_name(key).ok_or_else(|| {
                    let names: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
                    bad(format!(
                        "unknown colour name '{key}'; known: {}, series",
                        names.join(", ")
                    ))
                })?;
                raw[role.index()] =
                    Some(parse_color_value(value).map_err(|m| bad(format!("colors.{key}: {m}")))?);
            }
        }
        let mut palette = [Color::Reset; Role::ALL.len()];
        for role in Role::ALL {
            let mut r = role;
            let c = loop {
                if let Some(c) = raw[r.index()] {
                    break c;
                }
                match r.fallback() {
                    Some(f) => r = f,
                    None => break Color::Reset,
                }
            };
            palette[role.index()] = mode.convert(c);
        }
        let mut keys = KeyMap::default();
        for f in parent.iter().chain(std::iter::once(&file)) {
            keys.apply(&f.keys).map_err(|m| bad(format!("keys: {m}")))?;
        }
        let ascii = file
            .ascii
            .or(parent.as_ref().and_then(|p| p.ascii))
            .unwrap_or(false);
        Ok(Theme {
            name: file
                .name
                .or(file.extends)
                .unwrap_or_else(|| origin.to_string()),
            ascii,
            mode,
            sym: if ascii {
                Symbols::ascii()
            } else {
                Symbols::unicode()
            },
            keys,
            palette,
            series: series.into_iter().map(|c| mode.convert(c)).collect(),
        })
    }

    /// A built-in theme by name (`dark`, `light`, `mono`) for the given colour mode.
    pub fn builtin(name: &str, mode: ColorMode) -> Option<Theme> {
        let (_, src) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        Theme::from_toml(src, name, mode).ok()
    }
}

/// Loads a theme by built-in name or path, for the colours this terminal shows.
pub fn load_theme_with(name: Option<&str>, mode: ColorMode) -> Result<Theme, TuiError> {
    let name = name.unwrap_or("dark");
    if let Some((n, src)) = BUILTIN.iter().find(|(n, _)| *n == name) {
        return Theme::from_toml(src, n, mode);
    }
    let path = Path::new(name);
    let looks_like_path =
        name.ends_with(".toml") || name.contains(std::path::MAIN_SEPARATOR) || path.exists();
    if !looks_like_path {
        return Err(TuiError::Theme(format!(
            "unknown theme '{name}': use dark, light, mono or the path of a .toml theme file"
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| TuiError::Theme(format!("cannot read theme file {}: {e}", path.display())))?;
    Theme::from_toml(&text, &path.display().to_string(), mode)
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

const CUBE: [u8; 6] = [0, 95, 135, 175, 215, 255];

/// The RGB value of an xterm palette index.
pub fn xterm_rgb(i: u8) -> (u8, u8, u8) {
    match i {
        0..=15 => ANSI16[i as usize].1,
        16..=231 => {
            let i = i - 16;
            (
                CUBE[(i / 36) as usize],
                CUBE[(i / 6 % 6) as usize],
                CUBE[(i % 6) as usize],
            )
        }
        _ => {
            let v = 8 + (i - 232) * 10;
            (v, v, v)
        }
    }
}

fn dist(a: (u8, u8, u8), b: (u8, u8, u8)) -> u32 {
    let d = |x: u8, y: u8| (i32::from(x) - i32::from(y)).pow(2) as u32;
    // Weighted like the eye: green matters most, blue least.
    3 * d(a.0, b.0) + 4 * d(a.1, b.1) + 2 * d(a.2, b.2)
}

fn nearest_256(r: u8, g: u8, b: u8) -> u8 {
    (16..=255u8)
        .min_by_key(|&i| dist(xterm_rgb(i), (r, g, b)))
        .unwrap_or(16)
}

/// The 16 named colours with the RGB values xterm uses for them.
pub const ANSI16: [(Color, (u8, u8, u8)); 16] = [
    (Color::Black, (0, 0, 0)),
    (Color::Red, (205, 0, 0)),
    (Color::Green, (0, 205, 0)),
    (Color::Yellow, (205, 205, 0)),
    (Color::Blue, (0, 0, 238)),
    (Color::Magenta, (205, 0, 205)),
    (Color::Cyan, (0, 205, 205)),
    (Color::Gray, (229, 229, 229)),
    (Color::DarkGray, (127, 127, 127)),
    (Color::LightRed, (255, 0, 0)),
    (Color::LightGreen, (0, 255, 0)),
    (Color::LightYellow, (255, 255, 0)),
    (Color::LightBlue, (92, 92, 255)),
    (Color::LightMagenta, (255, 0, 255)),
    (Color::LightCyan, (0, 255, 255)),
    (Color::White, (255, 255, 255)),
];

fn nearest_16(r: u8, g: u8, b: u8) -> Color {
    ANSI16
        .iter()
        .min_by_key(|(_, rgb)| dist(*rgb, (r, g, b)))
        .map(|(c, _)| *c)
        .unwrap_or(Color::Reset)
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
                let t = load_theme_with(Some(name), mode).unwrap_or_else(|e| panic!("{name}: {e}"));
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
        assert!(
            load_theme_with(Some("mono"), ColorMode::TrueColor)
                .unwrap()
                .ascii
        );
        assert!(!load_theme_with(None, ColorMode::TrueColor).unwrap().ascii);
    }

    #[test]
    fn detection_honours_no_color_and_colorterm() {
        assert_eq!(
            ColorMode::detect(Some("1"), Some("truecolor"), Some("xterm-256color")),
            ColorMode::None
        );
        assert_eq!(
            ColorMode::detect(Some(""), Some("truecolor"), None),
            ColorMode::TrueColor
        );
        assert_eq!(
            ColorMode::detect(None, Some("24bit"), Some("xterm")),
            ColorMode::TrueColor
        );
        assert_eq!(
            ColorMode::detect(None, None, Some("xterm-256color")),
            ColorMode::Ansi256
        );
        assert_eq!(
            ColorMode::detect(None, None, Some("linux")),
            ColorMode::Ansi16
        );
        assert_eq!(ColorMode::detect(None, None, Some("dumb")), ColorMode::None);
    }

    #[test]
    fn colours_parse_and_convert() {
        assert_eq!(parse_color("#ff8000"), Ok(Color::Rgb(255, 128, 0)));
        assert_eq!(parse_color("#f80"), Ok(Color::Rgb(255, 136, 0)));
        assert_eq!(parse_color("Light Blue"), Ok(Color::LightBlue));
        assert_eq!(parse_color("208"), Ok(Color::Indexed(208)));
        assert!(parse_color("#12345").unwrap_err().contains("#rrggbb"));
        assert!(parse_color("blurple")
            .unwrap_err()
            .contains("unknown colour 'blurple'"));
        assert_eq!(
            ColorMode::Ansi256.convert(Color::Rgb(255, 0, 0)),
            Color::Indexed(196)
        );
        assert_eq!(
            ColorMode::Ansi256.convert(Color::Rgb(128, 128, 128)),
            Color::Indexed(244)
        );
        assert_eq!(
            ColorMode::Ansi16.convert(Color::Rgb(250, 10, 10)),
            Color::LightRed
        );
        assert_eq!(ColorMode::Ansi16.convert(Color::Indexed(21)), Color::Blue);
        assert_eq!(ColorMode::None.convert(Color::Green), Color::Reset);
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
    fn user_theme_extends_a_builtin() {
        let t = Theme::from_toml(
            "extends = \"light\"\n[colors]\nwarn = \"magenta\"\n[keys]\npause = [\"space\"]\n",
            "mine.toml",
            ColorMode::TrueColor,
        )
        .unwrap();
        let light = Theme::builtin("light", ColorMode::TrueColor).unwrap();
        assert_eq!(t.color(Role::Warn), Color::Magenta);
        assert_eq!(t.color(Role::Accent), light.color(Role::Accent));
        assert_eq!(t.name, "light");
    }

    #[test]
    fn bad_theme_files_give_one_clear_line() {
        let err = |text: &str| {
            Theme::from_toml(text, "bad.toml", ColorMode::TrueColor)
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
    fn unknown_names_and_missing_files_are_reported() {
        let e = load_theme_with(Some("neon"), ColorMode::Ansi256)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown theme 'neon'") && e.contains("dark, light, mono"),
            "{e}"
        );
        let e = load_theme_with(Some("/nonexistent/x.toml"), ColorMode::Ansi256)
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
        let t = load_theme_with(p.to_str(), ColorMode::Ansi16).unwrap();
        assert_eq!(
            (t.name.as_str(), t.ascii, t.color(Role::Fg)),
            ("mine", true, Color::White)
        );
    }
}
