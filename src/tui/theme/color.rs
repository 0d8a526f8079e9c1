//! What the terminal can show and how a theme's colours are brought down to it: detection from
//! NO_COLOR, COLORTERM and TERM, nearest-colour conversion, and the RGB values of the xterm
//! palette. Owns every decision about the terminal's colour capability; must never pick a colour
//! for a role or read a theme file.

use ratatui::style::Color;

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
    fn colours_convert_to_the_nearest_one_shown() {
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
}
