//! The notable-events panel and the compact layout's latest-event line: the log's lines under
//! their times, coloured by level. Must never word an event (the log holds the words).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use crate::format;
use crate::tui::state::{file_name, Level, RunState};
use crate::tui::theme::{Role, Theme};
use crate::tui::widgets::{ellipsize, panel, put_line, wrap};

fn level_style(t: &Theme, l: Level) -> Style {
    match l {
        Level::Info => t.fg(Role::Fg),
        Level::Good => t.fg(Role::Good),
        Level::Warn => t.fg(Role::Warn),
        Level::Bad => t.bold(Role::Bad),
    }
}

/// The latest notable event whole, wrapped into at most `rows` lines of `width` (the compact
/// layout gives it the resources' line once the run is over, so why it ended is never cut).
pub fn latest_event_lines(
    t: &Theme,
    run: &RunState,
    width: u16,
    rows: usize,
) -> Vec<Line<'static>> {
    let Some(l) = run.log.back() else {
        return vec![latest_event_line(t, run, width)];
    };
    let clock = format!("{} ", format::clock(l.t));
    let room = usize::from(width).saturating_sub(clock.chars().count());
    let mut parts = wrap(&l.text, room);
    if parts.len() > rows {
        let rest = parts.split_off(rows - 1).join(" ");
        parts.push(ellipsize(t, &rest, room, false));
    }
    parts
        .into_iter()
        .enumerate()
        .map(|(k, part)| {
            let lead = if k == 0 {
                clock.clone()
            } else {
                " ".repeat(clock.chars().count())
            };
            Line::from(vec![
                Span::styled(lead, t.fg(Role::Muted)),
                Span::styled(part, level_style(t, l.level)),
            ])
        })
        .collect()
}

/// One line for the compact layout: the failure, else the latest notable event, else the checkpoint.
pub fn latest_event_line(t: &Theme, run: &RunState, width: u16) -> Line<'static> {
    let muted = t.fg(Role::Muted);
    if let Some(msg) = &run.progress.failed {
        return Line::from(vec![
            Span::styled("failed: ", t.bold(Role::Bad)),
            Span::styled(msg.clone(), t.fg(Role::Bad)),
        ]);
    }
    let Some(l) = run.log.back() else {
        return Line::styled("no warnings, no checkpoint yet", muted);
    };
    let room = usize::from(width).saturating_sub(8);
    Line::from(vec![
        Span::styled(format!("{} ", format::clock(l.t)), muted),
        Span::styled(ellipsize(t, &l.text, room, false), level_style(t, l.level)),
    ])
}

/// The events panel: last checkpoint, warning count, then the newest log lines.
pub fn events(t: &Theme, run: &RunState, area: Rect, buf: &mut Buffer) {
    let mut head = vec![Span::styled("Events", t.bold(Role::Title))];
    if run.log.warnings > 0 {
        head.push(Span::styled(
            format!(
                "  {} warning{}",
                run.log.warnings,
                if run.log.warnings == 1 { "" } else { "s" }
            ),
            t.bold(Role::Warn),
        ));
    }
    let block = panel(t, head);
    let inner = block.inner(area);
    block.render(area, buf);
    let w = usize::from(inner.width);
    let mut row = 0;
    let ck = match &run.log.checkpoint {
        Some(c) => Line::from(vec![
            Span::styled("checkpoint ", t.fg(Role::Muted)),
            Span::styled(
                ellipsize(t, file_name(&c.path), w.saturating_sub(11), true),
                t.fg(Role::Good),
            ),
        ]),
        None => Line::styled("checkpoint: none yet", t.fg(Role::Muted)),
    };
    put_line(buf, inner, row, &ck);
    row += 1;
    // Every line whole (a failure is among them), wrapped under its time; the newest that fit.
    let room = usize::from(inner.height.saturating_sub(row));
    let mut log_rows: Vec<Line<'static>> = Vec::new();
    for l in run.log.iter().rev() {
        if log_rows.len() >= room {
            break;
        }
        let parts = wrap(&l.text, w.saturating_sub(6));
        let mut lines: Vec<Line<'static>> = parts
            .into_iter()
            .enumerate()
            .map(|(k, part)| {
                let lead = if k == 0 {
                    Span::styled(format!("{} ", format::clock(l.t)), t.fg(Role::Muted))
                } else {
                    Span::raw("      ")
                };
                Line::from(vec![lead, Span::styled(part, level_style(t, l.level))])
            })
            .collect();
        lines.extend(log_rows);
        log_rows = lines;
    }
    // The oldest rows give way first.
    let skip = log_rows.len().saturating_sub(room);
    for line in log_rows.into_iter().skip(skip) {
        put_line(buf, inner, row, &line);
        row += 1;
    }
    if run.log.is_empty() && run.progress.failed.is_none() {
        put_line(
            buf,
            inner,
            row,
            &Line::styled("nothing notable yet", t.fg(Role::Muted)),
        );
    }
}
