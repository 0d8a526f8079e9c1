//! The schedule: a timeline of every stage across the epochs with the current one highlighted and
//! the position marked, the current values with the measured noise scale beside B, the next
//! change and its ETA, and (in the full layout) a table of the stages. Must never change state.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::{panel, put_line};
use crate::events::epoch;
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
        .max(rows.last().map_or(0, |r| r.plan.end_epoch)) as f64;
    if rows.is_empty() || total <= 0.0 || width == 0 {
        return Line::styled("no schedule yet", theme.fg(Role::Muted));
    }
    let current = run.current_stage(rows);
    let pos = run.epoch_pos();
    let here = col(pos, total, width).min(width - 1);
    let plain = theme.ascii || theme.color(Role::StageA) == ratatui::style::Color::Reset;
    let mut spans = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let a = col(r.plan.start_epoch as f64, total, width);
        let b = col(r.plan.end_epoch as f64, total, width).max(a);
        if b <= a {
            continue;
        }
        let w = usize::from(b - a);
        let labels = [
            format!(
                "B {} {} {}",
                r.plan.batch,
                theme.sym.lr,
                format::lr(r.plan.lr)
            ),
            format!("B{}", r.plan.batch),
            format!("{}", r.plan.batch),
        ];
        let marker = ((a..b).contains(&here) && run.progress.finished.is_none())
            .then(|| usize::from(here - a));
        // Without background colours the segments need a visible boundary.
        let boundary = (plain && w > 1).then_some(if theme.ascii { '|' } else { '▏' });
        let cells = segment_cells(&labels, w, boundary, marker);
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
        match marker {
            Some(k) => {
                spans.push(Span::styled(cells[..k].iter().collect::<String>(), style));
                let mark = if theme.ascii { "#" } else { "┃" };
                spans.push(Span::styled(
                    mark,
                    style
                        .fg(theme.color(Role::Accent))
                        .add_modifier(Modifier::BOLD),
                ));
                spans.push(Span::styled(
                    cells[k + 1..].iter().collect::<String>(),
                    style,
                ));
            }
            None => spans.push(Span::styled(cells.into_iter().collect::<String>(), style)),
        }
    }
    Line::from(spans)
}

/// One stage's `w` cells: the optional boundary first, then the longest of `labels` (longest
/// first) that fits with a space either side (none before it right after the boundary). The
/// position marker's cell (`marker`) is left blank for the caller to draw: the label goes on
/// whichever side of it has room for the longer label, so the marker never cuts it in two.
fn segment_cells(
    labels: &[String],
    w: usize,
    boundary: Option<char>,
    marker: Option<usize>,
) -> Vec<char> {
    let mut cells = vec![' '; w];
    let start = usize::from(boundary.is_some());
    if let Some(c) = boundary {
        cells[0] = c;
    }
    // Free runs of cells as (first, len): either side of the marker, or the whole segment.
    let rooms: Vec<(usize, usize)> = match marker {
        Some(k) if k >= start => vec![(start, k - start), (k + 1, w - k - 1)],
        Some(k) => vec![(k + 1, w - k - 1)],
        None => vec![(start, w - start)],
    };
    // (first cell of the label, the label) for the best fit in a room.
    let fit = |(first, len): (usize, usize)| {
        let lead = usize::from(!(boundary.is_some() && first == start));
        labels
            .iter()
            .find(|l| lead + l.chars().count() < len)
            .map(|l| (first + lead, l))
    };
    let mut best: Option<(usize, &String)> = None;
    for found in rooms.into_iter().filter_map(fit) {
        if best.is_none_or(|(_, l)| found.1.chars().count() > l.chars().count()) {
            best = Some(found);
        }
    }
    if let Some((first, label)) = best {
        for (k, ch) in label.chars().enumerate() {
            cells[first + k] = ch;
        }
    }
    cells
}

/// Epoch ticks under the timeline: 0, each stage start, the end.
pub fn ticks(theme: &Theme, run: &RunState, rows: &[StageRow], width: u16) -> Line<'static> {
    let total = run
        .total_epochs()
        .max(rows.last().map_or(0, |r| r.plan.end_epoch));
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
        put(r.plan.start_epoch, false);
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
    spans.push(Span::styled(r.plan.batch.to_string(), t.bold(Role::Batch)));
    if let Some(split) = r
        .execution
        .and_then(|(micro, _)| format::micro_batches(r.plan.batch, micro, t.sym.times))
    {
        spans.push(Span::styled(format!(" ({split})"), muted));
    }
    if let Some(n) = &run.stages.noise {
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
    spans.extend(pair(t.sym.lr, format::lr(r.plan.lr), true));
    spans.extend(pair("m", format!("{}", r.plan.momentum), false));
    spans.extend(pair("g", format::noise_scale(r.plan.noise_scale), false));
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
    if run.progress.finished.is_some() {
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
    if next.plan.batch != cur.plan.batch {
        what.push(if terse {
            format!("B{}{}", t.sym.arrow, next.plan.batch)
        } else {
            format!("B {}{}{}", cur.plan.batch, t.sym.arrow, next.plan.batch)
        });
    }
    if next.plan.lr != cur.plan.lr {
        what.push(if terse {
            format!("{}{}{}", t.sym.lr, t.sym.arrow, format::lr(next.plan.lr))
        } else {
            format!(
                "{} {}{}{}",
                t.sym.lr,
                format::lr(cur.plan.lr),
                t.sym.arrow,
                format::lr(next.plan.lr)
            )
        });
    }
    if next.plan.momentum != cur.plan.momentum {
        what.push(format!("m{}{}", t.sym.arrow, next.plan.momentum));
    }
    let at = if terse {
        format!(" @ep {}", epoch::number(next.plan.start_epoch))
    } else {
        format!(" at epoch {}", epoch::number(next.plan.start_epoch))
    };
    let mut v = vec![
        Span::styled("next ", muted),
        Span::styled(what.join(" "), t.bold(Role::Accent)),
        Span::styled(at, muted),
    ];
    if let Some(eta) = run.eta_to(next.plan.start_epoch as f64) {
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
    let mut first = 3;
    if let Some(why) = reason_line(t, run, &rows).filter(|_| inner.height > 5) {
        put_line(buf, inner, first, &why);
        first += 1;
    }
    if inner.height > first + 1 {
        table(
            t,
            run,
            &rows,
            Rect {
                y: inner.y + first,
                height: inner.height - first,
                ..inner
            },
            buf,
        );
    }
}

/// Why the current stage is what it is, when its schedule's rule does not say (B capped, or
/// the adaptive schedule's reason), while the run goes on.
pub fn reason_line(t: &Theme, run: &RunState, rows: &[StageRow]) -> Option<Line<'static>> {
    let current = &rows[run.current_stage(rows)?];
    let why = current
        .plan
        .reason
        .as_ref()
        .filter(|_| run.progress.finished.is_none())?;
    Some(Line::from(vec![
        Span::styled("why ", t.fg(Role::Muted)),
        Span::styled(why.clone(), t.fg(Role::Fg)),
    ]))
}

fn table(t: &Theme, run: &RunState, rows: &[StageRow], area: Rect, buf: &mut Buffer) {
    let current = run.current_stage(rows);
    let n = run.train_size();
    let header = format!(
        " {:>2}  {:>7}  {:>6}  {:>13}  {:>7}  {:>5}  {:>8}  {:>17}",
        "#", "epochs", "B", "micro-batches", t.sym.lr, "m", "g", "updates done/plan"
    );
    put_line(buf, area, 0, &Line::styled(header, t.fg(Role::Muted)));
    let room = usize::from(area.height.saturating_sub(1));
    // Keep the current stage in view when there are more stages than rows.
    let first = current.map_or(0, |c| (c + 1).saturating_sub(room));
    for (k, (i, r)) in rows.iter().enumerate().skip(first).take(room).enumerate() {
        let plan =
            (r.plan.end_epoch - r.plan.start_epoch) as u64 * n.div_ceil(r.plan.batch.max(1)) as u64;
        let done = match (r.start_update, rows.get(i + 1).and_then(|x| x.start_update)) {
            (Some(a), Some(b)) => Some(b - a),
            (Some(a), None) => Some(run.update().saturating_sub(a)),
            _ => None,
        };
        let exec = r.execution.map_or(String::new(), |(m, _)| {
            format::micro_batches(r.plan.batch, m, t.sym.times).unwrap_or_else(|| "1".into())
        });
        let text = format!(
            " {:>2}  {:>7}  {:>6}  {:>13}  {:>7}  {:>5}  {:>8}  {:>17}",
            i + 1,
            format!("{}-{}", epoch::number(r.plan.start_epoch), r.plan.end_epoch),
            r.plan.batch,
            exec,
            format::lr(r.plan.lr),
            r.plan.momentum,
            format::noise_scale(r.plan.noise_scale),
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

#[cfg(test)]
mod tests {
    use super::segment_cells;

    fn labels() -> Vec<String> {
        vec!["B 640 ε 0.1".into(), "B640".into(), "640".into()]
    }

    fn text(cells: Vec<char>) -> String {
        cells.into_iter().collect()
    }

    #[test]
    fn a_label_fits_with_a_space_each_side() {
        assert_eq!(
            text(segment_cells(&labels(), 14, None, None)),
            " B 640 ε 0.1  "
        );
        assert_eq!(text(segment_cells(&labels(), 6, None, None)), " B640 ");
        assert_eq!(text(segment_cells(&labels(), 2, None, None)), "  ");
        assert_eq!(
            text(segment_cells(&labels(), 14, Some('|'), None)),
            "|B 640 ε 0.1  "
        );
    }

    #[test]
    fn the_marker_never_cuts_the_label() {
        // The marker near the start: the label moves past it.
        let cells = segment_cells(&labels(), 20, None, Some(2));
        assert_eq!(text(cells), "    B 640 ε 0.1     ");
        // Near the end: the label stays before it; its cell is left blank for the marker.
        let cells = segment_cells(&labels(), 20, None, Some(15));
        assert_eq!(text(cells), " B 640 ε 0.1        ");
        // No side has room for the long label: the shorter one on the roomier side.
        let cells = segment_cells(&labels(), 12, Some('▏'), Some(1));
        assert_eq!(text(cells), "▏  B640     ");
        for k in 0..20 {
            let t = text(segment_cells(&labels(), 20, None, Some(k)));
            assert!(
                t.contains("B 640 ε 0.1") || t.contains("B640"),
                "marker at {k}: {t:?}"
            );
            assert_eq!(t.chars().nth(k), Some(' '), "marker at {k}: {t:?}");
        }
    }
}
