//! Popups over the panels: the key list, the stop confirmation, and the "terminal too small"
//! message, each drawn from the theme and what it shows. Must never act on keys; `app` does.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Widget};

use super::{fill, panel, put_line};
use crate::events::CheckpointEvent;
use crate::tui::keys::{Action, KeyMap};
use crate::tui::mode::Controls;
use crate::tui::theme::{Role, Theme};

/// A rectangle of `w`×`h` centred in `area` (shrunk to fit).
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn actions_for(controls: Controls) -> Vec<Action> {
    let replay_only = |a: &Action| {
        matches!(
            a,
            Action::SeekStart | Action::SeekEnd | Action::Faster | Action::Slower
        )
    };
    Action::ALL
        .into_iter()
        .filter(|a| match controls {
            Controls::Trainer => !replay_only(a),
            Controls::Playback => *a != Action::Checkpoint,
            Controls::ReadOnly => {
                !replay_only(a) && !matches!(a, Action::Pause | Action::Checkpoint)
            }
        })
        .collect()
}

/// The key list for what the keys control here; shows the keys actually bound.
pub fn help(t: &Theme, keys: &KeyMap, controls: Controls, area: Rect, buf: &mut Buffer) {
    let actions = actions_for(controls);
    let key_w = 16usize;
    let mut lines: Vec<Line> = actions
        .iter()
        .map(|a| {
            let bound: Vec<String> = keys.keys(*a).iter().map(|k| k.label()).collect();
            let desc = match (a, controls) {
                (Action::Pause, Controls::Playback) => "pause / resume the playback",
                _ => a.describe(),
            };
            Line::from(vec![
                Span::styled(
                    format!(" {:<key_w$}", bound.join(" ")),
                    t.bold(Role::Accent),
                ),
                Span::styled(desc.to_string(), t.fg(Role::Fg)),
            ])
        })
        .collect();
    if controls == Controls::Trainer {
        lines.push(Line::from(vec![
            Span::styled(format!(" {:<key_w$}", "ctrl-c"), t.bold(Role::Accent)),
            Span::styled(
                "stop? (again: checkpoint and stop, exit 130)",
                t.fg(Role::Fg),
            ),
        ]));
    }
    lines.push(Line::default());
    lines.push(Line::styled(
        format!(
            " keys and colours: themes/*.toml ({} theme) {} any key closes",
            t.name, t.sym.sep
        ),
        t.fg(Role::Muted),
    ));
    key_box(t, &lines, area, buf);
}

/// The "Keys" box holding `lines`, centred in `area` over what is drawn there (the run view's
/// key list and the dashboard's).
pub fn key_box(t: &Theme, lines: &[Line<'_>], area: Rect, buf: &mut Buffer) {
    let w = lines.iter().map(Line::width).max().unwrap_or(40) as u16 + 3;
    let rect = centered(area, w.max(40), lines.len() as u16 + 2);
    Clear.render(rect, buf);
    fill(buf, rect, t.base());
    let block = panel(t, vec![Span::styled("Keys", t.bold(Role::Title))]);
    let inner = block.inner(rect);
    block.render(rect, buf);
    for (i, l) in lines.iter().enumerate() {
        put_line(buf, inner, i as u16, l);
    }
}

/// "Stop training?" with the checkpoint choice, and the last checkpoint written if any.
pub fn confirm_quit(t: &Theme, last: Option<&CheckpointEvent>, area: Rect, buf: &mut Buffer) {
    let key = |k: &str| Span::styled(format!(" {k} "), t.bold(Role::Accent));
    let txt = |s: &str| Span::styled(s.to_string(), t.fg(Role::Fg));
    let mut lines = vec![
        Line::styled(" Stop training?", t.bold(Role::Warn)),
        Line::default(),
        Line::from(vec![key("c"), txt("write a checkpoint, then stop (enter)")]),
        Line::from(vec![key("y"), txt("stop without a checkpoint")]),
        Line::from(vec![key("n"), txt("keep training (esc)")]),
    ];
    if let Some(c) = last {
        lines.push(Line::default());
        lines.push(Line::styled(
            format!(" last checkpoint: update {}", c.update),
            t.fg(Role::Muted),
        ));
    }
    let rect = centered(area, 50, lines.len() as u16 + 2);
    Clear.render(rect, buf);
    fill(buf, rect, t.base());
    let block = panel(t, vec![Span::styled("Quit", t.bold(Role::Title))]);
    let inner = block.inner(rect);
    block.render(rect, buf);
    for (i, l) in lines.iter().enumerate() {
        put_line(buf, inner, i as u16, l);
    }
}

/// Shown instead of the panels when the terminal is smaller than the compact layout needs.
pub fn too_small(theme: &Theme, area: Rect, min: (u16, u16), buf: &mut Buffer) {
    let lines = [
        format!("terminal too small: {}x{}", area.width, area.height),
        format!("need at least {}x{}", min.0, min.1),
        "enlarge it, or press q".to_string(),
    ];
    let top = area.y + area.height.saturating_sub(lines.len() as u16) / 2;
    for (i, l) in lines.iter().enumerate() {
        let y = top + i as u16;
        if y >= area.bottom() {
            break;
        }
        let text: String = l.chars().take(usize::from(area.width)).collect();
        let x = area.x + (area.width - text.chars().count() as u16) / 2;
        let role = if i == 0 { Role::Warn } else { Role::Muted };
        buf.set_string(x, y, text, theme.bold(role));
    }
}
