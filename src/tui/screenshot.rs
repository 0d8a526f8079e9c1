//! Frames rendered off-screen: as plain text (snapshot tests) and as SVG that looks like a
//! terminal (README screenshots). Owns the SVG writer; must never touch the real terminal. Key
//! hints and the key list show the default bindings: a [`Theme`] holds colours only.

use std::fmt::Write as _;

use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use ratatui::Terminal;

use super::app::App;
use super::keys::{Action, KeyMap};
use super::mode::{Live, Mode, Replay};
use super::state::RunState;
use super::theme::{xterm_rgb, Role, Theme, ANSI16};
use super::ui;
use super::view::ViewOptions;
use crate::events::Record;

/// What to change from the defaults before taking a screenshot.
#[derive(Clone, Debug, Default)]
pub struct Shot {
    /// View options (axis, log scale, smoothing, panel, layout, zoom).
    pub view: ViewOptions,
    /// Show the key list.
    pub help: bool,
    /// Show the stop confirmation, as the quit key does in a live run that has not ended.
    pub confirm_quit: bool,
    /// Header title (defaults to the run name).
    pub title: Option<String>,
    /// Draw as `batchramp replay --speed max` shows a log played to its end, instead of a live run.
    pub replay: bool,
}

/// The UI after `records`, reached as a user reaches it: events applied, then the popup's key.
fn shot_app(records: &[Record], theme: &Theme, shot: &Shot) -> App {
    let run = RunState::from_records(records);
    let title = shot
        .title
        .clone()
        .or_else(|| run.progress.started.as_ref().map(|r| r.name.clone()))
        .unwrap_or_else(|| "run".into());
    let mode = if shot.replay {
        let mut replay = Replay::new(records.to_vec(), None);
        replay.seek_end();
        Mode::Replay(replay)
    } else {
        let mut live = Live::new();
        for r in records {
            live.apply(r);
        }
        Mode::Live(live)
    };
    let mut app = App::new(mode, title, theme.clone(), KeyMap::default());
    app.view = shot.view;
    // What a key would send or how it would leave is dropped: a picture does neither. Where quit
    // leaves at once (a replay, a run that has ended) no question shows, as in the UI.
    if shot.help {
        app.on_action(Action::Help);
    } else if shot.confirm_quit {
        app.on_action(Action::Quit);
    }
    app
}

/// Draws `app` into a `width`×`height` buffer.
pub fn render_buffer(app: &App, width: u16, height: u16) -> Buffer {
    // The in-memory backend has no I/O that could fail; an error would be a ratatui bug.
    let mut term = Terminal::new(TestBackend::new(width, height)).expect("in-memory terminal");
    term.draw(|f| ui::draw(f, app)).expect("in-memory draw");
    term.backend().buffer().clone()
}

/// The UI of a run after `records`, as plain text (one line per row, trailing spaces trimmed).
pub fn render_text(
    records: &[Record],
    width: u16,
    height: u16,
    theme: &Theme,
    shot: &Shot,
) -> String {
    ui::buffer_text(&render_buffer(
        &shot_app(records, theme, shot),
        width,
        height,
    ))
}

/// The UI of a run after `records`, as an SVG picture of a terminal.
pub fn render_screenshot(
    records: &[Record],
    width: u16,
    height: u16,
    theme: &Theme,
    shot: &Shot,
) -> String {
    let app = shot_app(records, theme, shot);
    buffer_svg(&render_buffer(&app, width, height), theme)
}

/// The scalars dashboard of `board` as `view` shows it, as an SVG picture of a terminal.
pub fn render_board_screenshot(
    board: &crate::tui::board::Board,
    view: &crate::tui::board::BoardView,
    title: &str,
    width: u16,
    height: u16,
    theme: &Theme,
) -> String {
    let area = ratatui::layout::Rect::new(0, 0, width, height);
    let mut buf = Buffer::empty(area);
    crate::tui::board::draw(theme, board, view, title, area, &mut buf);
    buffer_svg(&buf, theme)
}

/// The compare view of several runs, as an SVG picture of a terminal.
pub fn render_compare_screenshot(
    runs: Vec<(String, Vec<Record>)>,
    width: u16,
    height: u16,
    theme: &Theme,
    shot: &Shot,
) -> String {
    let mut app = App::compare(
        shot.title.clone().unwrap_or_else(|| "compare".into()),
        theme.clone(),
        KeyMap::default(),
        runs,
    );
    app.view = shot.view;
    buffer_svg(&render_buffer(&app, width, height), theme)
}

type Rgb = (u8, u8, u8);
/// A cell as painted: symbol, text colour, background, modifiers.
type CellPaint = (String, Rgb, Rgb, Modifier);

/// Cell size in pixels: a 14 px monospace font.
const CW: f64 = 8.4;
const CH: f64 = 18.0;

fn hex(rgb: (u8, u8, u8)) -> String {
    format!("#{:02x}{:02x}{:02x}", rgb.0, rgb.1, rgb.2)
}

fn rgb_of(c: Color) -> Option<(u8, u8, u8)> {
    match c {
        Color::Reset => None,
        Color::Rgb(r, g, b) => Some((r, g, b)),
        Color::Indexed(i) => Some(xterm_rgb(i)),
        named => ANSI16
            .iter()
            .find(|(n, _)| *n == named)
            .map(|(_, rgb)| *rgb),
    }
}

fn luminance(rgb: (u8, u8, u8)) -> f64 {
    0.2126 * f64::from(rgb.0) + 0.7152 * f64::from(rgb.1) + 0.0722 * f64::from(rgb.2)
}

/// The terminal's own colours, for cells that use them: chosen to suit the theme's text colour.
fn screen_colors(theme: &Theme) -> ((u8, u8, u8), (u8, u8, u8)) {
    let fg = rgb_of(theme.color(Role::Fg));
    let bg = rgb_of(theme.color(Role::Bg));
    let dark_text = fg.is_some_and(|c| luminance(c) < 128.0);
    let default_bg = if dark_text {
        (0xfa, 0xfa, 0xf7)
    } else {
        (0x1b, 0x1d, 0x2b)
    };
    let default_fg = if dark_text {
        (0x30, 0x30, 0x30)
    } else {
        (0xd8, 0xdc, 0xe8)
    };
    (fg.unwrap_or(default_fg), bg.unwrap_or(default_bg))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Converts a buffer to SVG: one rectangle per run of background colour, one text per run of style.
pub fn buffer_svg(buf: &Buffer, theme: &Theme) -> String {
    let (dfg, dbg) = screen_colors(theme);
    let area = buf.area;
    let (w, h) = (f64::from(area.width) * CW, f64::from(area.height) * CH);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.1} {h:.1}">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="100%" height="100%" fill="{}"/>"#,
        hex(dbg)
    );
    let _ = writeln!(
        out,
        r#"<g font-family="'DejaVu Sans Mono', 'Cascadia Mono', Menlo, Consolas, monospace" font-size="14" xml:space="preserve">"#
    );
    for y in 0..area.height {
        // Resolve each cell's final colours once.
        let cells: Vec<CellPaint> = (0..area.width)
            .map(|x| {
                let c = &buf[(area.x + x, area.y + y)];
                let mut fg = rgb_of(c.fg).unwrap_or(dfg);
                let mut bg = rgb_of(c.bg).unwrap_or(dbg);
                if c.modifier.contains(Modifier::REVERSED) {
                    std::mem::swap(&mut fg, &mut bg);
                }
                let sym = if c.skip {
                    String::new()
                } else {
                    c.symbol().to_string()
                };
                (sym, fg, bg, c.modifier)
            })
            .collect();
        let ty = f64::from(y) * CH;
        let mut x = 0usize;
        while x < cells.len() {
            let bg = cells[x].2;
            let start = x;
            while x < cells.len() && cells[x].2 == bg {
                x += 1;
            }
            if bg != dbg {
                let _ = writeln!(
                    out,
                    r#"<rect x="{:.1}" y="{ty:.1}" width="{:.1}" height="{CH:.1}" fill="{}"/>"#,
                    start as f64 * CW,
                    (x - start) as f64 * CW,
                    hex(bg)
                );
            }
        }
        // Braille cells (the charts' points) as vector dots: a viewer whose monospace font lacks
        // Braille would show boxes. The text runs below carry a space in their place.
        let mut x = 0usize;
        while x < cells.len() {
            let fg = cells[x].1;
            let mut dots = String::new();
            while x < cells.len() && cells[x].1 == fg {
                if let Some(bits) = braille_bits(&cells[x].0) {
                    braille_dots(&mut dots, x, y, bits);
                }
                x += 1;
            }
            if !dots.is_empty() {
                let _ = writeln!(out, r#"<path fill="{}" d="{dots}"/>"#, hex(fg));
            }
        }
        let mut x = 0usize;
        while x < cells.len() {
            let (fg, m) = (cells[x].1, cells[x].3);
            let start = x;
            let mut text = String::new();
            while x < cells.len() && cells[x].1 == fg && cells[x].3 == m {
                match braille_bits(&cells[x].0) {
                    Some(_) => text.push(' '),
                    None => text.push_str(&cells[x].0),
                }
                x += 1;
            }
            if text.trim().is_empty() {
                continue;
            }
            let mut attrs = String::new();
            if m.contains(Modifier::BOLD) {
                attrs.push_str(r#" font-weight="bold""#);
            }
            if m.contains(Modifier::DIM) {
                attrs.push_str(r#" opacity="0.6""#);
            }
            if m.contains(Modifier::ITALIC) {
                attrs.push_str(r#" font-style="italic""#);
            }
            if m.contains(Modifier::UNDERLINED) {
                attrs.push_str(r#" text-decoration="underline""#);
            }
            // textLength pins every run to the cell grid whatever font the viewer has.
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{:.1}" fill="{}" textLength="{:.1}" lengthAdjust="spacingAndGlyphs"{attrs}>{}</text>"#,
                start as f64 * CW,
                ty + CH * 0.75,
                hex(fg),
                (x - start) as f64 * CW,
                escape(&text)
            );
        }
    }
    out.push_str("</g>\n</svg>\n");
    out
}

/// The dots of a Braille pattern cell (U+2800–U+28FF) as its 8 bits, `None` for other symbols.
fn braille_bits(symbol: &str) -> Option<u8> {
    let mut chars = symbol.chars();
    let c = chars.next()?;
    let code = u32::from(c);
    (chars.next().is_none() && (0x2800..=0x28ff).contains(&code)).then(|| (code - 0x2800) as u8)
}

/// Appends one square per raised dot of the Braille cell at (`col`, `row`) to a path: the cell is
/// 2 dots wide and 4 high; bit k is dot k+1 (dots 1–3 and 7 in the left column, 4–6 and 8 right).
fn braille_dots(path: &mut String, col: usize, row: u16, bits: u8) {
    const DOT: [(u8, u8); 8] = [
        (0, 0),
        (0, 1),
        (0, 2),
        (1, 0),
        (1, 1),
        (1, 2),
        (0, 3),
        (1, 3),
    ];
    let side = 2.2;
    for (k, (dx, dy)) in DOT.iter().enumerate() {
        if bits & (1 << k) == 0 {
            continue;
        }
        let cx = col as f64 * CW + (f64::from(*dx) + 0.5) * CW / 2.0;
        let cy = f64::from(row) * CH + (f64::from(*dy) + 0.5) * CH / 4.0;
        let _ = write!(
            path,
            "M{:.1} {:.1}h{side}v{side}h-{side}z",
            cx - side / 2.0,
            cy - side / 2.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::super::theme::ColorMode;
    use super::*;

    #[test]
    fn svg_has_colours_and_text() {
        let theme = Theme::builtin("dark", ColorMode::TrueColor).unwrap();
        let recs = fixture::cut_at_update(&fixture::demo_records(), 1500);
        let svg = render_screenshot(&recs, 100, 30, &theme, &Shot::default());
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("batchramp"));
        assert!(svg.contains("Loss"));
        let accent = match theme.color(Role::Accent) {
            Color::Rgb(r, g, b) => hex((r, g, b)),
            c => panic!("truecolor theme gives {c:?}"),
        };
        assert!(svg.contains(&accent), "accent colour used");
        assert!(
            !svg.contains("<text x=\"0.0\" y=\"13.5\" fill=\"#000000\""),
            "no black-on-black"
        );
        // Well-formed enough: every opened text is closed, no raw '<' inside text.
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    }

    #[test]
    fn braille_is_drawn_as_dots_not_text() {
        let theme = Theme::builtin("dark", ColorMode::TrueColor).unwrap();
        let recs = fixture::cut_at_update(&fixture::demo_records(), 1500);
        let app = shot_app(&recs, &theme, &Shot::default());
        let buf = render_buffer(&app, 100, 30);
        let braille = buf
            .content
            .iter()
            .filter(|c| braille_bits(c.symbol()).is_some())
            .count();
        assert!(braille > 0, "the charts draw Braille points");
        let svg = buffer_svg(&buf, &theme);
        assert!(
            !svg.chars().any(|c| ('\u{2800}'..='\u{28ff}').contains(&c)),
            "no Braille glyph left for a font to miss"
        );
        assert!(
            svg.matches("h2.2v2.2h-2.2z").count() >= braille,
            "at least one dot per Braille cell"
        );
    }

    #[test]
    fn braille_dots_follow_the_unicode_layout() {
        assert_eq!(braille_bits("⠁"), Some(1));
        assert_eq!(braille_bits("⣿"), Some(0xff));
        assert_eq!(braille_bits("a"), None);
        let mut path = String::new();
        // Dot 1 (top left) and dot 8 (bottom right) of the cell at column 0, row 0.
        braille_dots(&mut path, 0, 0, 0b1000_0001);
        assert_eq!(path.matches('M').count(), 2);
        assert!(path.starts_with("M1.0 1.1"), "{path}");
    }
}
