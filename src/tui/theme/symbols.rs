//! Glyph sets: the characters the panels are drawn with, in Unicode and in plain ASCII for bare
//! terminals, borders and the curves' canvas marker included. Owns which character stands for
//! what; must never choose a colour, nor decide when ASCII is wanted (the theme file says).

use ratatui::symbols::border;
use ratatui::symbols::Marker;

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
    /// Status dot.
    pub dot: &'static str,
    /// Frames of the "warming up" spinner, in order.
    pub spinner: &'static [&'static str],
    /// Sparkline levels, lowest first.
    pub spark: [&'static str; 8],
    /// Panel borders.
    pub border: border::Set,
    /// How the curves are plotted on the chart canvas.
    pub canvas: Marker,
}

impl Symbols {
    /// The set for ASCII-only themes when `ascii`, else the Unicode one.
    pub fn new(ascii: bool) -> Self {
        if ascii {
            Symbols::ascii()
        } else {
            Symbols::unicode()
        }
    }

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
            dot: "●",
            spinner: &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"],
            spark: ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"],
            border: border::ROUNDED,
            canvas: Marker::Braille,
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
            dot: "*",
            spinner: &["|", "/", "-", "\\"],
            spark: ["_", ".", "-", "~", "=", "+", "*", "#"],
            border: border::Set {
                top_left: "+",
                top_right: "+",
                bottom_left: "+",
                bottom_right: "+",
                vertical_left: "|",
                vertical_right: "|",
                horizontal_top: "-",
                horizontal_bottom: "-",
            },
            canvas: Marker::Dot,
        }
    }

    /// The spinner frame for the `tick`-th ticker period.
    pub fn spinner_frame(&self, tick: u64) -> &'static str {
        self.spinner[(tick % self.spinner.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ascii_set_is_ascii() {
        let s = Symbols::new(true);
        let b = s.border;
        let mut all = vec![
            s.lr,
            s.times,
            s.sep,
            s.arrow,
            s.approx,
            s.ellipsis,
            s.bar_full,
            s.bar_empty,
            s.marker,
            s.dot,
            b.top_left,
            b.top_right,
            b.bottom_left,
            b.bottom_right,
            b.vertical_left,
            b.vertical_right,
            b.horizontal_top,
            b.horizontal_bottom,
        ];
        all.extend(s.spinner);
        all.extend(s.spark);
        assert!(all.iter().all(|g| g.is_ascii()), "{all:?}");
        assert_ne!(Symbols::new(false), s);
    }

    #[test]
    fn the_spinner_cycles_through_its_frames() {
        let s = Symbols::new(false);
        assert_eq!(s.spinner_frame(0), "⠋");
        assert_eq!(s.spinner_frame(11), "⠙");
        assert_eq!(Symbols::new(true).spinner_frame(5), "/");
    }
}
