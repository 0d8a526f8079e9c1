//! The schedule: a timeline of every stage across the epochs with the current one highlighted and
//! the position marked, the current values with the measured noise scale beside B, the next
//! change and its ETA, and (in the full layout) a table of the stages. Must never change state.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::{panel, put_line};
use crate::format;
use crate::tui::state::{RunState, StageRow};
use crate::tui::theme::{Role, Theme};

fn col(epoch: f64, total: f64, width: u16) -> u16 {
    if total <= 0.0 {
        return 0;
    }
    ((epoch / total) * f64::from(width))
        .round()
        .clamp(0.0, f64::from(width)) as u16
}

/// The timeline bar: one segment per stage, labelled, the current one highlighted, `|` at the position.
pub fn timeline(theme: &Theme, run: &RunState, rows: &[StageRow], width: u16) -> Line<'static> {
    let total = run
        .total_epochs()
        .max(rows.last().map_or(0, |r| r.end_epoch)) as f64;
    if rows.is_empty() || total <= 0.0 || width == 0 {
        return Line::styled("no schedule yet", theme.fg(Role::Muted));
    }
    let current = run.current_stage(rows);
    let pos = run.epoch_pos();
    let here = col(pos, total, width).min(width - 1);
    let plain = theme.ascii || theme.color(Role::StageA) == ratatui::style::Color::Reset;
    let mut spans = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let a = col(r.start_epoch as f64, total, width);
        let b = col(r.end_epoch as f64, total, width).max(a);
        if b <= a {
            continue;
        }
        let w = usize::from(b - a);
        let label = [
            format!(" B {} {} {} ", r.batch, theme.sym.lr, format::lr(r.lr)),
            format!(" B{} ", r.batch),
            format!("{}", r.batch),
        ]
        .into_iter()
        .find(|l| l.chars().count() <= w)
        .unwrap_or_default();
        // Without background colours the segments need a visible boundary.
        let text: String = if plain && w > 1 {
            let inner = w - 1;
            format!(
                "{}{:<inner$}",
                if theme.ascii { "|" } else { "▏" },
                label.trim_start()
            )
        } else {
            format!("{label:<w$}")
        };
        let mut style = if Some(i) == current {
            theme
                .bg(Role::Highlight)
                .add_modifier(Modifier::BOLD)
                .fg(theme.color(Role::Fg))
        } else if i % 2 == 0 {
            theme.bg(Role::StageA).fg(theme.color(Role::Fg))
        } else {
            theme.bg(Role::StageB).fg(theme.color(Role::Fg))
        };
        if current.is_some_and(|c| i > c) {
            style = style.add_modifier(Modifier::DIM);
        }
        // Split the segment where the position marker falls.
        if (a..b).contains(&here) && run.finished.is_none() {
            let k = usize::from(here - a);
            let chars: Vec<char> = text.chars().collect();
            let before: String = chars[..k].iter().collect();
            let after: String = chars[k + 1..].iter().collect();
            spans.push(Span::styled(before, style));
            let mark = if theme.ascii { "#" } else { "┃" };
            spans.push(Span::styled(
                mark,
                style
                    .fg(theme.color(Role::Accent))
                    .add_modifier(Modifier::BOLD),
            ));
            spans.push(Span::styled(after, style));
        } else {
            spans.push(Span::styled(text, style));
        }
    }
    Line::from(spans)
}

/// Epoch ticks under the timeline: 0, each stage start, the end.
pub fn ticks(theme: &Theme, run: &RunState, rows: &[StageRow], width: u16) -> Line<'static> {
    let total = run
        .total_epochs()
        .max(rows.last().map_or(0, |r| r.end_epoch));
    let mut line = vec![' '; usize::from(width)];
    let mut put = |epoch: usize, right_align: bool| {
        let s = epoch.to_string();
        let c = usize::from(col(epoch as f64, total as f64, width));
        let start = if right_align {
            c.saturating_sub(s.len())
        } else {
            c.min(line.len().saturating_sub(s.len()))
        };
        if line[start.saturating_sub(1)..(start + s.len() + 1).min(line.len())]
            .iter()
            .all(|ch| *ch == ' ')
        {
            for (k, ch) in s.chars().enumerate() {
                if let Some(slot) = line.get_mut(start + k) {
                    *slot = ch;
                }
            }
        }
    };
    put(0, false);
    put(total, true);
    for r in rows.iter().skip(1) {
        put(r.start_epoch, false);
    }
    let text: String = line.into_iter().collect();
    Line::styled(text, theme.fg(Role::Muted))
}

/// The current stage in one line: B with the measured noise scale beside it, ε, m, g, and the
/// next change; a terser wording when `width` is too small for the full one.
pub fn now_line(theme: &Theme, run: &RunState, rows: &[StageRow], width: u16) -> Line<'static> {
    let full = stage_spans(theme, run, rows, false);
    if full.iter().map(Span::width).sum::<usize>() <= usize::from(width) {
        return Line::from(full);
    }
    Line::from(stage_spans(theme, run, rows, true))
}

fn stage_spans(t: &Theme, run: &RunState, rows: &[StageRow], terse: bool) -> Vec<Span<'static>> {
    let muted = t.fg(Role::Muted);
    let fg = t.fg(Role::Fg);
    let Some(ci) = run.current_stage(rows) else {
        return vec![Span::styled("waiting for the first stage", muted)];
    };
    let r = &rows[ci];
    let sep = if terse {
        " ".to_string()
    } else {
        format!(" {} ", t.sym.sep)
    };
    let mut spans = Vec::new();
    if !terse {
        spans.push(Span::styled(
            format!("stage {}/{} ", ci + 1, rows.len()),
            muted,
        ));
    }
    spans.push(Span::styled("B ", muted));
    spans.push(Span::styled(r.batch.to_string(), t.bold(Role::Batch)));
    if let Some((micro, acc)) = r.execution.filter(|e| e.1 > 1) {
        spans.push(Span::styled(
            format!(" ({micro}{}{acc})", t.sym.times),
            muted,
        ));
    }
    if let Some(n) = &run.noise_last {
        let label = if terse {
            format!(" B_simple{}", t.sym.approx)
        } else {
            format!("{sep}B_simple {} ", t.sym.approx)
        };
        spans.push(Span::styled(label, muted));
        spans.push(Span::styled(format::si(n.b_simple), t.bold(Role::Noise)));
    }
    let pair = |k: &str, v: String, first: bool| {
        let lead = if first { sep.clone() } else { " ".to_string() };
        [
            Span::styled(format!("{lead}{k} "), muted),
            Span::styled(v, fg),
        ]
    };
    spans.extend(pair(t.sym.lr, format::lr(r.lr), true));
    spans.extend(pair("m", format!("{}", r.momentum), false));
    spans.extend(pair("g", format::si(r.noise_scale), false));
    spans.push(Span::styled(
        if terse {
            format!(" {} ", t.sym.sep)
        } else {
            sep.clone()
        },
        muted,
    ));
    spans.extend(next_change(t, run, rows, ci, terse));
    spans
}

fn next_change(
    t: &Theme,
    run: &RunState,
    rows: &[StageRow],
    ci: usize,
    terse: bool,
) -> Vec<Span<'static>> {
    let muted = t.fg(Role::Muted);
    if run.finished.is_some() {
        return vec![Span::styled(
            if terse { "done" } else { "schedule complete" },
            t.fg(Role::Good),
        )];
    }
    let Some(next) = rows.get(ci + 1) else {
        return vec![Span::styled("last stage", muted)];
    };
    let cur = &rows[ci];
    let mut what = Vec::new();
    if next.batch != cur.batch {
        what.push(if terse {
            format!("B{}{}", t.sym.arrow, next.batch)
        } else {
            format!("B {}{}{}", cur.batch, t.sym.arrow, next.batch)
        });
    }
    if next.lr != cur.lr {
        what.push(if terse {
            format!("{}{}{}", t.sym.lr, t.sym.arrow, format::lr(next.lr))
        } else {
            format!(
                "{} {}{}{}",
                t.sym.lr,
                format::lr(cur.lr),
                t.sym.arrow,
                format::lr(next.lr)
            )
        });
    }
    if next.momentum != cur.momentum {
        what.push(format!("m{}{}", t.sym.arrow, next.momentum));
    }
    let at = if terse {
        format!(" @ep {}", next.start_epoch + 1)
    } else {
        format!(" at epoch {}", next.start_epoch + 1)
    };
    let mut v = vec![
        Span::styled("next ", muted),
        Span::styled(what.join(" "), t.bold(Role::Accent)),
        Span::styled(at, muted),
    ];
    if let Some(eta) = run.eta_to(next.start_epoch as f64) {
        v.push(Span::styled(
            format!(" in {}", format::duration(eta)),
            t.fg(Role::Fg),
        ));
    }
    v
}

/// The full schedule panel: timeline, ticks, current values and (when there is room) the stage table.
pub fn panel_full(t: &Theme, run: &RunState, area: Rect, buf: &mut Buffer) {
    let block = panel(t, vec![Span::styled("Schedule", t.bold(Role::Title))]);
    let inner = block.inner(area);
    block.render(area, buf);
    let rows = run.stage_rows();
    put_line(buf, inner, 0, &timeline(t, run, &rows, inner.width));
    put_line(buf, inner, 1, &ticks(t, run, &rows, inner.width));
    put_line(buf, inner, 2, &now_line(t, run, &rows, inner.width));
    if inner.height > 4 {
        table(
            t,
            run,
            &rows,
            Rect {
                y: inner.y + 3,
                height: inner.height - 3,
                ..inner
            },
            buf,
        );
    }
}

fn table(t: &Theme, run: &RunState, rows: &[StageRow], area: Rect, buf: &mut Buffer) {
    let current = run.current_stage(rows);
    let n = run.train_size();
    let header = format!(
        " {:>2}  {:>7}  {:>6}  {:>11}  {:>7}  {:>5}  {:>8}  {:>17}",
        "#",
        "epochs",
        "B",
        "micro×acc".replace('×', t.sym.times),
        t.sym.lr,
        "m",
        "g",
        "updates done/plan"
    );
    put_line(buf, area, 0, &Line::styled(header, t.fg(Role::Muted)));
    let room = usize::from(area.height.saturating_sub(1));
    // Keep the current stage in view when there are more stages than rows.
    let first = current.map_or(0, |c| (c + 1).saturating_sub(room));
    for (k, (i, r)) in rows.iter().enumerate().skip(first).take(room).enumerate() {
        let plan = (r.end_epoch - r.start_epoch) as u64 * n.div_ceil(r.batch.max(1)) as u64;
        let done = match (r.start_update, rows.get(i + 1).and_then(|x| x.start_update)) {
            (Some(a), Some(b)) => Some(b - a),
            (Some(a), None) => Some(run.update().saturating_sub(a)),
            _ => None,
        };
        let exec = r
            .execution
            .map_or("".into(), |(m, a)| format!("{m}{}{a}", t.sym.times));
        let text = format!(
            " {:>2}  {:>7}  {:>6}  {:>11}  {:>7}  {:>5}  {:>8}  {:>17}",
            i + 1,
            format!("{}-{}", r.start_epoch + 1, r.end_epoch),
            r.batch,
            exec,
            format::lr(r.lr),
            r.momentum,
            format::si(r.noise_scale),
            format!(
                "{}/{}",
                done.map_or("-".into(), format::count),
                format::count(plan)
            ),
        );
        let style = if Some(i) == current {
            t.bg(Role::Highlight)
                .fg(t.color(Role::Fg))
                .add_modifier(Modifier::BOLD)
        } else if current.is_some_and(|c| i < c) {
            t.fg(Role::Muted)
        } else {
            t.fg(Role::Fg)
        };
        let width = usize::from(area.width);
        put_line(
            buf,
            area,
            1 + k as u16,
            &Line::styled(format!("{text:<width$}"), style),
        );
    }
}
