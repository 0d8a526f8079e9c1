//! The panels and the pieces they are built from. Each widget takes a small view, the theme and
//! what it draws (a run, the named runs, the view options, the bindings it hints at), never the
//! whole `App`, and writes cells; none of them changes state or decides what a key does.

pub mod chart;
pub mod compare;
pub mod curves;
pub mod machine;
pub mod panels;
pub mod popup;
pub mod schedule;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders};

use super::theme::{Role, Theme};

/// A bordered panel with a styled title.
pub fn panel<'a>(theme: &Theme, title: Vec<Span<'a>>) -> Block<'a> {
    let mut spans = vec![Span::raw(" ")];
    spans.extend(title);
    spans.push(Span::raw(" "));
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.fg(Role::Border))
        .border_set(theme.sym.border)
        .title(Line::from(spans))
}

/// A horizontal progress bar `width` cells wide.
pub fn bar<'a>(theme: &Theme, frac: f64, width: usize, role: Role) -> Vec<Span<'a>> {
    let frac = if frac.is_finite() {
        frac.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let full = ((frac * width as f64).round() as usize).min(width);
    vec![
        Span::styled(theme.sym.bar_full.repeat(full), theme.fg(role)),
        Span::styled(
            theme.sym.bar_empty.repeat(width - full),
            theme.fg(Role::Faint),
        ),
    ]
}

/// `values` as a one-line sparkline `width` cells wide at most, scaled to their own range;
/// longer inputs are averaged in equal buckets so the line shows the trend, not the last few.
pub fn sparkline(theme: &Theme, values: &[f64], width: usize) -> String {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if width == 0 || finite.is_empty() {
        return String::new();
    }
    let vals: Vec<f64> = if finite.len() > width {
        (0..width)
            .map(|i| {
                let a = i * finite.len() / width;
                let b = ((i + 1) * finite.len() / width).max(a + 1);
                finite[a..b].iter().sum::<f64>() / (b - a) as f64
            })
            .collect()
    } else {
        finite
    };
    let (lo, hi) = vals
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    vals.iter()
        .map(|v| {
            let level = if hi > lo {
                ((v - lo) / (hi - lo) * 7.0).round() as usize
            } else {
                3
            };
            theme.sym.spark[level.min(7)]
        })
        .collect()
}

/// Shrinks a long string to `max` characters with an ellipsis at the start (paths) or end.
pub fn ellipsize(theme: &Theme, s: &str, max: usize, keep_end: bool) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let e = theme.sym.ellipsis;
    let keep = max.saturating_sub(e.chars().count());
    if keep_end {
        let tail: String = s.chars().skip(n - keep).collect();
        format!("{e}{tail}")
    } else {
        let head: String = s.chars().take(keep).collect();
        format!("{head}{e}")
    }
}

/// `s` in lines of at most `width` characters, broken at spaces where it can (a word longer
/// than a line is broken inside it): nothing of it is lost.
pub fn wrap(s: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in s.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        let used = line.chars().count();
        if used > 0 && used + 1 + word.len() <= width {
            line.push(' ');
            line.extend(word);
            continue;
        }
        if used > 0 {
            lines.push(std::mem::take(&mut line));
        }
        while word.len() > width {
            lines.push(word.drain(..width).collect());
        }
        line = word.into_iter().collect();
    }
    lines.push(line);
    lines
}

/// The first of `wordings` (longest first) whose width fits `width`; the last (the tersest)
/// when none does, so a line is shortened by choice of words rather than cut.
pub fn first_fitting<'a>(wordings: Vec<Vec<Span<'a>>>, width: usize) -> Vec<Span<'a>> {
    let last = wordings.len().saturating_sub(1);
    wordings
        .into_iter()
        .enumerate()
        .find(|(i, w)| *i == last || w.iter().map(Span::width).sum::<usize>() <= width)
        .map(|(_, w)| w)
        .unwrap_or_default()
}

/// Writes a line into `area`'s row `row`, clipped to its width.
pub fn put_line(buf: &mut Buffer, area: Rect, row: u16, line: &Line<'_>) {
    if row < area.height {
        buf.set_line(area.x, area.y + row, line, area.width);
    }
}

/// Replaces every non-ASCII symbol in `area` by an ASCII stand-in (safety net for ASCII themes).
pub fn asciify(buf: &mut Buffer, area: Rect) {
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            let cell = &mut buf[(x, y)];
            if cell.symbol().is_ascii() {
                continue;
            }
            let c = cell.symbol().chars().next().unwrap_or(' ');
            let sub = match c {
                '\u{2800}' => ' ',
                '\u{2801}'..='\u{28ff}' | '•' | '●' | '◆' => '*',
                '─' | '━' | '┄' | '╌' => '-',
                '│' | '┃' | '┊' | '┆' => '|',
                '┌' | '┐' | '└' | '┘' | '├' | '┤' | '┬' | '┴' | '┼' | '╭' | '╮' | '╰' | '╯' => {
                    '+'
                }
                '█' | '▉' | '▊' | '▋' | '▌' | '▇' | '▆' | '▅' => '#',
                '▁' | '▂' | '▃' | '▄' | '▍' | '▎' | '▏' => '.',
                '▲' => '^',
                '▼' => 'v',
                '→' | '▶' => '>',
                '←' => '<',
                '↑' => '^',
                '↓' => 'v',
                '×' => 'x',
                '·' => '.',
                '≈' => '~',
                '…' => '.',
                'ε' => 'e',
                '°' => 'o',
                _ => '?',
            };
            cell.set_char(sub);
        }
    }
}

/// Fills `area` with the theme's base style (clears what was there).
pub fn fill(buf: &mut Buffer, area: Rect, style: Style) {
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            buf[(x, y)].reset();
            buf[(x, y)].set_style(style);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::theme::ColorMode;

    #[test]
    fn wrapping_keeps_every_word() {
        let text = "the writer is gone: no record for 30s and the lock is free (last update 1,234)";
        for width in [8, 20, 33, 80] {
            let lines = wrap(text, width);
            assert!(
                lines.iter().all(|l| l.chars().count() <= width),
                "{lines:?}"
            );
            assert_eq!(lines.join(" "), text, "{width}");
        }
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), vec![""]);
    }

    #[test]
    fn sparkline_averages_long_inputs_into_the_width() {
        let t = Theme::builtin("mono", ColorMode::None).unwrap();
        let rising: Vec<f64> = (0..1000).map(f64::from).collect();
        let s = sparkline(&t, &rising, 8);
        assert_eq!(s, "_.-~=+*#");
        assert_eq!(
            sparkline(&t, &[1.0, f64::NAN, 1.0], 8),
            "~~",
            "flat input sits mid-height"
        );
        assert_eq!(sparkline(&t, &[], 8), "");
    }

    #[test]
    fn asciify_leaves_only_ascii() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 6, 1));
        buf.set_string(0, 0, "╭ε⣿·█▁", Style::new());
        let area = buf.area;
        asciify(&mut buf, area);
        let line: String = (0..6).map(|x| buf[(x, 0)].symbol().to_string()).collect();
        assert_eq!(line, "+e*.#.");
    }
}
