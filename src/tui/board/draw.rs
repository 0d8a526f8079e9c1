//! The dashboard's frame: header (title, reading status, counts, damage), the tag list grouped
//! by prefix with its filter, this machine's panel, one line per run (colour, stages, updates
//! saved, hparams, restarts, notes), a page of charts around the cursor's tag, and the
//! last/step/min/max table of the tags on that page (or of every shown tag, full height). Must
//! never change state; the layout is a pure function of the area, so the keys page by what the
//! last frame fitted ([`charts_per_page`]).

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::charts::tag_chart;
use super::view::BoardView;
use super::{Board, BoardRun, BoardStatus};
use crate::format;
use crate::tboard::Role as TagRole;
use crate::tui::keys::{Action, KeyMap};
use crate::tui::theme::{Role, Theme};
use crate::tui::widgets::machine::machine_panel;
use crate::tui::widgets::panels::spread;
use crate::tui::widgets::popup::{key_box, too_small};
use crate::tui::widgets::{ellipsize, fill, first_fitting, panel, put_line};

/// Smallest terminal the dashboard is drawn in.
pub const MIN_SIZE: (u16, u16) = (60, 18);
/// Width from which the tag list and the machine panel sit left of the charts.
const SIDE_FROM: u16 = 96;
/// Smallest chart: narrower or lower ones are fewer.
const CHART_MIN: (u16, u16) = (44, 11);
/// Charts per page at most, across and down.
const GRID_MAX: (u16, u16) = (3, 3);
/// Height of the machine panel under the tag list.
const MACHINE_H: u16 = 8;
/// Stages a run may have for them to be counted and marked on its charts; more are a schedule
/// that changes continuously (cosine, warm-up), shown by its values alone.
pub const MAX_STAGES: usize = 16;
/// Runs listed in the runs panel before "+N more".
const RUN_LINES: usize = 5;

/// Everything a dashboard frame draws from.
pub struct Dashboard<'a> {
    /// Colours and glyphs.
    pub theme: &'a Theme,
    /// The bindings the hints and the key list name.
    pub keys: &'a KeyMap,
    /// What the reader sent.
    pub board: &'a Board,
    /// What the user chose to see.
    pub view: &'a BoardView,
    /// The header's title.
    pub title: &'a str,
    /// Show the key list on top.
    pub help: bool,
    /// A one-line message for the footer.
    pub flash: Option<&'a str>,
}

/// Draws the dashboard with the default key bindings' hints.
pub fn draw(
    theme: &Theme,
    board: &Board,
    view: &BoardView,
    title: &str,
    area: Rect,
    buf: &mut Buffer,
) {
    Dashboard {
        theme,
        keys: &KeyMap::default(),
        board,
        view,
        title,
        help: false,
        flash: None,
    }
    .render(area, buf);
}

/// Where each part of the frame goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Areas {
    header: Rect,
    footer: Rect,
    tags: Option<Rect>,
    machine: Option<Rect>,
    runs: Rect,
    charts: Rect,
    table: Option<Rect>,
}

fn areas(area: Rect, board: &Board, view: &BoardView) -> Areas {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let (side, main) = if area.width >= SIDE_FROM {
        let w = (area.width / 5).clamp(24, 36);
        let [s, m] = Layout::horizontal([Constraint::Length(w), Constraint::Min(1)]).areas(body);
        (Some(s), m)
    } else {
        (None, body)
    };
    let (tags, machine) = match side {
        Some(s) if s.height >= MACHINE_H + 8 => {
            let [t, m] =
                Layout::vertical([Constraint::Min(6), Constraint::Length(MACHINE_H)]).areas(s);
            (Some(t), Some(m))
        }
        Some(s) => (Some(s), None),
        None => (None, None),
    };
    let runs_h = runs_lines(board).min(RUN_LINES + 1) as u16 + 2;
    let [runs, rest] =
        Layout::vertical([Constraint::Length(runs_h), Constraint::Min(1)]).areas(main);
    if view.table {
        return Areas {
            header,
            footer,
            tags,
            machine,
            runs,
            charts: Rect::default(),
            table: Some(rest),
        };
    }
    // A third for the table whatever the page holds, so the charts do not jump as it changes.
    let table_h = rest.height / 3;
    let (charts, table) = if table_h >= 4 {
        let [c, t] =
            Layout::vertical([Constraint::Min(1), Constraint::Length(table_h)]).areas(rest);
        (c, Some(t))
    } else {
        (rest, None)
    };
    Areas {
        header,
        footer,
        tags,
        machine,
        runs,
        charts,
        table,
    }
}

/// Columns and rows of charts for `n` tags in `area`.
fn grid(area: Rect, n: usize) -> (u16, u16) {
    let cols = (area.width / CHART_MIN.0).clamp(1, GRID_MAX.0);
    let rows = (area.height / CHART_MIN.1).clamp(1, GRID_MAX.1);
    let n = n.max(1) as u16;
    if n >= cols * rows {
        return (cols, rows);
    }
    let cols = cols.min(n);
    (cols, n.div_ceil(cols).min(rows))
}

/// How many charts a frame of `area` shows on a page: what paging moves by.
pub fn charts_per_page(area: Rect, board: &Board, view: &BoardView) -> usize {
    let a = areas(area, board, view);
    if view.table {
        return a
            .table
            .map_or(1, |t| usize::from(t.height.saturating_sub(3)).max(1));
    }
    if view.single {
        return 1;
    }
    // The largest grid the chart area holds, whatever the number of tags shown now.
    let (c, r) = grid(a.charts, usize::MAX);
    usize::from(c * r)
}

fn runs_lines(board: &Board) -> usize {
    board.runs().len().max(1) + usize::from(!board.notes().is_empty())
}

impl Widget for Dashboard<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let t = self.theme;
        fill(buf, area, t.base());
        if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
            too_small(t, area, MIN_SIZE, buf);
            return;
        }
        let a = areas(area, self.board, self.view);
        self.header(a.header, buf);
        self.footer(a.footer, a.tags.is_none(), buf);
        // The tags shown and the cursor's, once per frame for every panel.
        let shown = self.view.shown(self.board);
        let cursor = shown
            .get(self.view.cursor_index(self.board, &shown))
            .copied();
        if let Some(r) = a.tags {
            self.tag_list(&shown, cursor, r, buf);
        }
        if let Some(r) = a.machine {
            machine_panel(t, self.board.machine.as_ref(), r, buf);
        }
        self.runs_panel(a.runs, buf);
        if self.view.table {
            if let Some(r) = a.table {
                self.table(&shown, cursor, true, r, buf);
            }
        } else {
            let (cols, rows) = if self.view.single {
                (1, 1)
            } else {
                grid(a.charts, shown.len())
            };
            let (_, page) = self.view.page(self.board, &shown, usize::from(cols * rows));
            self.charts(page, cursor, (cols, rows), a.charts, buf);
            if let Some(r) = a.table {
                self.table(page, cursor, false, r, buf);
            }
        }
        if self.help {
            self.help_popup(area, buf);
        }
        if t.ascii {
            crate::tui::widgets::asciify(buf, area);
        }
    }
}

impl Dashboard<'_> {
    fn header(&self, area: Rect, buf: &mut Buffer) {
        let t = self.theme;
        let b = self.board;
        let muted = t.fg(Role::Muted);
        let sep = || Span::styled(format!(" {} ", t.sym.sep), muted);
        let mut left = vec![
            Span::styled(
                " batchramp ",
                t.bold(Role::Accent).add_modifier(Modifier::REVERSED),
            ),
            Span::raw(" "),
            Span::styled(self.title.to_string(), t.bold(Role::Fg)),
            sep(),
            Span::styled(format::counted(b.runs().len() as u64, "run"), muted),
            sep(),
            Span::styled(format::counted(b.tags().len() as u64, "tag"), muted),
            sep(),
            Span::styled(
                format!("{} points", format::si(b.point_count() as f64)),
                muted,
            ),
        ];
        if b.skipped() > 0 {
            left.push(sep());
            left.push(Span::styled(
                format!(
                    "{} damaged records skipped",
                    format::count(b.skipped() as u64)
                ),
                t.bold(Role::Warn),
            ));
        }
        let (status, role) = match b.status() {
            BoardStatus::Loading => ("reading…", Role::Muted),
            BoardStatus::Loaded => ("loaded", Role::Good),
            BoardStatus::Following => ("following", Role::Good),
            BoardStatus::Ended => ("reader stopped", Role::Warn),
        };
        let right = vec![
            Span::styled(format!("{} ", t.sym.dot), t.fg(role)),
            Span::styled(status.to_string(), t.bold(role)),
        ];
        put_line(buf, area, 0, &spread(left, right, area.width));
    }

    fn footer(&self, area: Rect, narrow: bool, buf: &mut Buffer) {
        let t = self.theme;
        let key = |s: &str| Span::styled(s.to_string(), t.bold(Role::Accent));
        let txt = |s: String| Span::styled(format!(" {s}  "), t.fg(Role::Muted));
        if self.view.editing {
            let line = Line::from(vec![
                key("/"),
                Span::styled(
                    format!("{}{}", self.view.filter, typing_cursor(t)),
                    t.bold(Role::Fg),
                ),
                txt(String::new()),
                key("enter"),
                txt("keep".into()),
                key("esc"),
                txt("clear".into()),
                Span::styled("words match in any order", t.fg(Role::Muted)),
            ]);
            put_line(buf, area, 0, &line);
            return;
        }
        let mut lead = Vec::new();
        if let Some(msg) = self.flash {
            lead.push(Span::styled(format!(" {msg}  "), t.bold(Role::Warn)));
        }
        if narrow && !self.view.filter.is_empty() {
            lead.push(key("/"));
            lead.push(txt(self.view.filter.clone()));
        }
        let c = &self.view.chart;
        let smooth = if c.smoothing > 0.0 {
            format!("smooth {:.2}", c.smoothing)
        } else {
            "smooth off".into()
        };
        let hint = |k: &str, s: String| vec![key(k), txt(s)];
        let keys = self.keys;
        let all = [
            hint("/", "filter".into()),
            hint("↑↓", "tag".into()),
            hint("tab", "page".into()),
            hint(&keys.hint(Action::Smooth), smooth.clone()),
            hint("+-", "weight".into()),
            hint(&keys.hint(Action::XAxis), format!("{} axis", c.x.label())),
            hint(&keys.hint(Action::LogScale), "log".into()),
            hint("o", "outliers".into()),
            hint("t", "table".into()),
            hint(&keys.hint(Action::Help), "help".into()),
            hint(&keys.hint(Action::Quit), "quit".into()),
        ];
        // Fewer hints when narrow: the key list (help) says the rest.
        let short = [0usize, 3, 5, 8, 9, 10];
        let tiny = [0usize, 9, 10];
        let pick = |idx: &[usize]| -> Vec<Span<'static>> {
            let mut v = lead.clone();
            v.extend(idx.iter().flat_map(|&i| all[i].clone()));
            v
        };
        let every: Vec<usize> = (0..all.len()).collect();
        let spans = first_fitting(
            vec![pick(&every), pick(&short), pick(&tiny)],
            usize::from(area.width),
        );
        put_line(buf, area, 0, &Line::from(spans));
    }

    fn tag_list(&self, shown: &[&str], cursor: Option<&str>, area: Rect, buf: &mut Buffer) {
        let t = self.theme;
        let b = self.board;
        let total = b.tags().len();
        let count = if shown.len() == total {
            format!("{total}")
        } else {
            format!("{}/{total}", shown.len())
        };
        let block = panel(
            t,
            vec![
                Span::styled("Tags ", t.bold(Role::Title)),
                Span::styled(count, t.fg(Role::Muted)),
            ],
        );
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.height == 0 {
            return;
        }
        let filter = if self.view.editing {
            Line::from(vec![
                Span::styled("/", t.bold(Role::Accent)),
                Span::styled(
                    format!("{}{}", self.view.filter, typing_cursor(t)),
                    t.bold(Role::Fg),
                ),
            ])
        } else if self.view.filter.is_empty() {
            Line::styled("/ to filter", t.fg(Role::Faint))
        } else {
            Line::from(vec![
                Span::styled("/", t.bold(Role::Accent)),
                Span::styled(self.view.filter.clone(), t.fg(Role::Fg)),
            ])
        };
        put_line(buf, inner, 0, &filter);
        // The list as lines: a group's name, then its tags without the prefix.
        let mut lines: Vec<(Line<'static>, bool)> = Vec::new();
        let width = usize::from(inner.width);
        for (group, tags) in b.groups() {
            let tags: Vec<&str> = tags.into_iter().filter(|t| shown.contains(t)).collect();
            if tags.is_empty() {
                continue;
            }
            let grouped = tags.len() > 1 || tags[0] != group;
            if grouped {
                lines.push((
                    Line::styled(ellipsize(t, &group, width, false), t.bold(Role::Muted)),
                    false,
                ));
            }
            for tag in tags {
                let on = cursor == Some(tag);
                let name = match tag.strip_prefix(&group).and_then(|r| r.strip_prefix('/')) {
                    Some(rest) if grouped => format!("  {rest}"),
                    _ => tag.to_string(),
                };
                let badge = b.role(tag).map(role_badge).unwrap_or("");
                let room = width.saturating_sub(badge.chars().count() + 1);
                let name = ellipsize(t, &name, room, true);
                let pad = width.saturating_sub(name.chars().count() + badge.chars().count());
                let style = if on {
                    t.bg(Role::Highlight).patch(t.bold(Role::Fg))
                } else {
                    t.fg(Role::Fg)
                };
                lines.push((
                    Line::from(vec![
                        Span::styled(format!("{name}{}", " ".repeat(pad)), style),
                        Span::styled(badge.to_string(), t.fg(Role::Accent)),
                    ]),
                    on,
                ));
            }
        }
        if shown.is_empty() {
            let msg = if total == 0 {
                "no scalar tags yet"
            } else {
                "no tag matches"
            };
            put_line(buf, inner, 1, &Line::styled(msg, t.fg(Role::Muted)));
            return;
        }
        let rows = usize::from(inner.height - 1);
        let start = scroll_start(&lines, rows);
        for (row, (line, _)) in lines.iter().skip(start).take(rows).enumerate() {
            put_line(buf, inner, row as u16 + 1, line);
        }
    }

    fn runs_panel(&self, area: Rect, buf: &mut Buffer) {
        let t = self.theme;
        let b = self.board;
        let block = panel(
            t,
            vec![
                Span::styled("Runs ", t.bold(Role::Title)),
                Span::styled(b.runs().len().to_string(), t.fg(Role::Muted)),
            ],
        );
        let inner = block.inner(area);
        block.render(area, buf);
        let width = usize::from(inner.width);
        if b.runs().is_empty() {
            let msg = match b.status() {
                BoardStatus::Loading => "reading the logdir…",
                BoardStatus::Following => {
                    "no event files yet (events.out.tfevents.*): waiting for a writer"
                }
                BoardStatus::Loaded | BoardStatus::Ended => "no runs with scalars",
            };
            put_line(buf, inner, 0, &Line::styled(msg, t.fg(Role::Muted)));
        }
        let name_w = b
            .runs()
            .iter()
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(1)
            .clamp(1, 28);
        let room = usize::from(inner.height);
        let notes = usize::from(!b.notes().is_empty());
        let listed = if b.runs().len() + notes > room {
            room.saturating_sub(1 + notes)
        } else {
            b.runs().len()
        };
        for (i, run) in b.runs().iter().enumerate().take(listed) {
            let line = run_line(t, run, i, name_w, width);
            put_line(buf, inner, i as u16, &line);
        }
        let mut row = listed as u16;
        if listed < b.runs().len() {
            let more = format!("+{} more runs", b.runs().len() - listed);
            put_line(buf, inner, row, &Line::styled(more, t.fg(Role::Muted)));
            row += 1;
        }
        if let Some(note) = b.notes().last() {
            let more = b.notes().len() - 1;
            let text = if more > 0 {
                format!("{note} (+{more} more notes)")
            } else {
                note.clone()
            };
            // The end says what happened; the start is the file's path.
            let text = ellipsize(t, &text, width, true);
            put_line(buf, inner, row, &Line::styled(text, t.fg(Role::Warn)));
        }
    }

    fn charts(
        &self,
        page: &[&str],
        cursor: Option<&str>,
        (cols, rows): (u16, u16),
        area: Rect,
        buf: &mut Buffer,
    ) {
        let t = self.theme;
        if page.is_empty() {
            let block = panel(t, vec![Span::styled("Charts", t.bold(Role::Title))]);
            let inner = block.inner(area);
            block.render(area, buf);
            let msg = if self.board.tags().is_empty() {
                "no scalars yet"
            } else {
                "no tag matches the filter (esc clears it)"
            };
            put_line(
                buf,
                inner,
                inner.height / 2,
                &Line::styled(msg, t.fg(Role::Muted)),
            );
            return;
        }
        let row_areas =
            Layout::vertical(vec![Constraint::Ratio(1, u32::from(rows)); rows.into()]).split(area);
        for (r, row) in row_areas.iter().enumerate() {
            let cells =
                Layout::horizontal(vec![Constraint::Ratio(1, u32::from(cols)); cols.into()])
                    .split(*row);
            for (c, cell) in cells.iter().enumerate() {
                let Some(tag) = page.get(r * usize::from(cols) + c) else {
                    continue;
                };
                let focused = cursor == Some(*tag);
                tag_chart(t, self.board, tag, &self.view.chart, focused, *cell, buf);
            }
        }
    }

    /// The last value, its step, min, max and count of `tags` per run; `all` when it is the
    /// full-height table of every shown tag (scrolled to the cursor).
    fn table(&self, tags: &[&str], cursor: Option<&str>, all: bool, area: Rect, buf: &mut Buffer) {
        let t = self.theme;
        let b = self.board;
        let title = if all { "All tags" } else { "Last values" };
        let block = panel(t, vec![Span::styled(title, t.bold(Role::Title))]);
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.height == 0 {
            return;
        }
        let width = usize::from(inner.width);
        let num_w = 11usize;
        let step_w = 9usize;
        let fixed = 4 * num_w + step_w + 4;
        let label_w = width.saturating_sub(fixed + 2).max(8);
        let muted = t.fg(Role::Muted);
        let head = format!(
            "  {:<label_w$}{:>num_w$}{:>step_w$}{:>num_w$}{:>num_w$}{:>num_w$}",
            "tag · run", "last", "step", "min", "max", "points"
        );
        put_line(buf, inner, 0, &Line::styled(head, t.bold(Role::Muted)));
        let mut lines: Vec<(Line<'static>, bool)> = Vec::new();
        for tag in tags {
            let on = cursor == Some(*tag);
            for (i, run) in b.runs().iter().enumerate() {
                let Some(f) = run.tag(tag).and_then(|s| s.figures) else {
                    continue;
                };
                let label = if b.runs().len() > 1 {
                    format!("{tag} · {}", run.name)
                } else {
                    tag.to_string()
                };
                let label = ellipsize(t, &label, label_w, true);
                let style = if on { t.bold(Role::Fg) } else { t.fg(Role::Fg) };
                let mark = Style::new().fg(t.series(i)).add_modifier(Modifier::BOLD);
                lines.push((
                    Line::from(vec![
                        Span::styled(
                            if !on {
                                "  "
                            } else if t.ascii {
                                "> "
                            } else {
                                "▸ "
                            },
                            mark,
                        ),
                        Span::styled(format!("{label:<label_w$}"), style),
                        Span::styled(
                            format!("{:>num_w$}", table_value(f.last.value)),
                            t.bold(Role::Fg),
                        ),
                        Span::styled(format!("{:>step_w$}", step_text(f.last.step)), muted),
                        Span::styled(format!("{:>num_w$}", table_value(f.min)), muted),
                        Span::styled(format!("{:>num_w$}", table_value(f.max)), muted),
                        Span::styled(format!("{:>num_w$}", format::count(f.count)), muted),
                    ]),
                    on,
                ));
            }
        }
        let rows = usize::from(inner.height - 1);
        let start = scroll_start(&lines, rows);
        for (row, (line, _)) in lines.iter().skip(start).take(rows).enumerate() {
            put_line(buf, inner, row as u16 + 1, line);
        }
        if lines.len() > rows && !all {
            let hint = format!("{} rows · t: all", lines.len());
            crate::tui::widgets::chart::corner_hint(buf, area, &hint, muted);
        }
    }

    fn help_popup(&self, area: Rect, buf: &mut Buffer) {
        let t = self.theme;
        let k = self.keys;
        let rows: Vec<(String, &str)> = vec![
            (
                "/".into(),
                "filter tags (words in any order; enter keeps, esc clears)",
            ),
            ("↑ ↓ j k".into(), "previous / next tag"),
            ("tab pgdn n".into(), "next page of charts"),
            ("S-tab pgup N".into(), "previous page"),
            ("home end g G".into(), "first / last tag"),
            (
                k.hint(Action::Smooth),
                "smoothing on / off (TensorBoard's EMA)",
            ),
            ("+ -".into(), "smoothing weight ± 0.1"),
            (k.hint(Action::XAxis), "x axis: step / relative / wall time"),
            (k.hint(Action::LogScale), "log-scale y"),
            ("o".into(), "y range ignores outliers (5th–95th percentile)"),
            (
                "enter z".into(),
                "one chart, the cursor's, at full size / all",
            ),
            ("t".into(), "table of every shown tag instead of charts"),
            (k.hint(Action::Help), "this help"),
            (k.hint(Action::Quit), "quit"),
        ];
        let mut lines: Vec<Line> = rows
            .iter()
            .map(|(key, what)| {
                Line::from(vec![
                    Span::styled(format!(" {key:<14}"), t.bold(Role::Accent)),
                    Span::styled(what.to_string(), t.fg(Role::Fg)),
                ])
            })
            .collect();
        lines.push(Line::default());
        lines.push(Line::styled(
            format!(
                " tag roles, keys and colours: themes/*.toml {} any key closes",
                t.sym.sep
            ),
            t.fg(Role::Muted),
        ));
        key_box(t, &lines, area, buf);
    }
}

/// The first of `lines` to show in `rows` rows so the one marked (the cursor's) is in view, a
/// third of the way down.
fn scroll_start(lines: &[(Line<'static>, bool)], rows: usize) -> usize {
    let at = lines.iter().position(|(_, on)| *on).unwrap_or(0);
    if lines.len() <= rows {
        0
    } else {
        at.saturating_sub(rows / 3).min(lines.len() - rows)
    }
}

/// Where the next typed letter of the filter goes.
fn typing_cursor(t: &Theme) -> &'static str {
    if t.ascii {
        "_"
    } else {
        "▏"
    }
}

/// A step with thousands separators (TensorBoard allows negative steps).
fn step_text(step: i64) -> String {
    let n = format::count(step.unsigned_abs());
    if step < 0 {
        format!("-{n}")
    } else {
        n
    }
}

/// A short mark for a tag batchramp knows the meaning of.
fn role_badge(role: TagRole) -> &'static str {
    match role {
        TagRole::Loss => "loss",
        TagRole::Accuracy => "acc",
        TagRole::LearningRate => "lr",
        TagRole::BatchSize => "B",
    }
}

/// A value as the table shows it (the dashboard's and the plain one): six significant digits,
/// or an exponent beyond them.
pub fn table_value(v: f64) -> String {
    let a = v.abs();
    if v.is_nan() {
        // As TensorBoard shows it: the value was written as NaN.
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.into()
    } else if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e6).contains(&a) {
        format!("{v:.4e}")
    } else {
        let digits = 5usize.saturating_sub(a.log10().floor().max(0.0) as usize);
        let s = format!("{v:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

/// One run's line: its colour and name, stages, updates saved, hparams, restarts.
fn run_line(t: &Theme, run: &BoardRun, i: usize, name_w: usize, width: usize) -> Line<'static> {
    let muted = t.fg(Role::Muted);
    let mark = Style::new().fg(t.series(i)).add_modifier(Modifier::BOLD);
    let sample = if t.ascii { "*" } else { "━" };
    let name = ellipsize(t, &run.name, name_w, true);
    let mut spans = vec![
        Span::styled(format!("{sample} "), mark),
        Span::styled(format!("{name:<name_w$}"), t.bold(Role::Fg)),
    ];
    let sep = format!(" {} ", t.sym.sep);
    let mut parts: Vec<Vec<Span<'static>>> = Vec::new();
    let stages = run.stages();
    if stages.len() > 1 || stages.first().is_some_and(|s| s.batch.is_some()) {
        let arrow = t.sym.arrow;
        let batches: Vec<String> = dedup(stages.iter().filter_map(|s| s.batch))
            .iter()
            .map(|b| format::count(b.round().max(0.0) as u64))
            .collect();
        let lrs: Vec<String> = dedup(stages.iter().filter_map(|s| s.lr))
            .iter()
            .map(|v| format::lr(*v))
            .collect();
        let n = stages.len();
        // A schedule that changes every few steps (cosine, warm-up) has no stages to count.
        let mut text = if n <= MAX_STAGES {
            format!("{} ", format::counted(n as u64, "stage"))
        } else {
            String::new()
        };
        if !batches.is_empty() {
            text.push_str(&format!("B {}", short_chain(&batches, arrow)));
        }
        if !lrs.is_empty() {
            if !batches.is_empty() {
                text.push_str("  ");
            }
            text.push_str(&format!("{} {}", t.sym.lr, short_chain(&lrs, arrow)));
        }
        parts.push(vec![Span::styled(text, t.fg(Role::Fg))]);
    }
    if let Some((saved, base)) = run.updates_saved() {
        if saved > 0 {
            let share = saved as f64 / base.max(1) as f64 * 100.0;
            parts.push(vec![
                Span::styled("saved ", muted),
                Span::styled(format::count(saved), t.bold(Role::Good)),
                Span::styled(format!(" updates ({share:.0}%) vs B₀"), muted),
            ]);
        }
    }
    if run.restarts.0 > 0 {
        parts.push(vec![Span::styled(
            format!(
                "restarted {}× ({} points dropped)",
                run.restarts.0,
                format::count(run.restarts.1 as u64)
            ),
            t.fg(Role::Warn),
        )]);
    }
    let not_drawn = run
        .other_tags
        .iter()
        .filter(|(_, p)| p != "hparams")
        .count();
    if not_drawn > 0 {
        // Said, so a histogram or an image the writer logged is known to be there, not lost.
        // hparams are shown as `name=value`; the rest is only listed.
        let mut plugins: Vec<&str> = run
            .other_tags
            .iter()
            .map(|(_, p)| p.as_str())
            .filter(|p| *p != "hparams")
            .collect();
        plugins.sort_unstable();
        plugins.dedup();
        parts.push(vec![Span::styled(
            format!(
                "{} not drawn ({})",
                format::counted(not_drawn as u64, "tag"),
                plugins.join(", ")
            ),
            muted,
        )]);
    }
    // Whole pieces while they fit; the hparams last, cut to the room left.
    let mut used = name_w + 2;
    let sep_w = sep.chars().count();
    for part in parts {
        let w: usize = part.iter().map(Span::width).sum::<usize>() + sep_w;
        if used + w <= width {
            spans.push(Span::styled(sep.clone(), muted));
            spans.extend(part);
            used += w;
        }
    }
    if !run.hparams.is_empty() {
        let text: Vec<String> = run
            .hparams
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let room = width.saturating_sub(used + sep_w);
        if room >= 8 {
            spans.push(Span::styled(sep, muted));
            spans.push(Span::styled(
                ellipsize(t, &text.join(" "), room, false),
                muted,
            ));
        }
    }
    Line::from(spans)
}

/// The values with repeats in a row dropped (a stage that changes only the other value).
fn dedup(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut out: Vec<f64> = Vec::new();
    for v in values {
        if out.last() != Some(&v) {
            out.push(v);
        }
    }
    out
}

/// `a→b→c`, or `a→…→z` when there are more than four.
fn short_chain(items: &[String], arrow: &str) -> String {
    if items.len() <= 4 {
        items.join(arrow)
    } else {
        format!("{}{arrow}…{arrow}{}", items[0], items[items.len() - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::board::XMode;
    use crate::tui::theme::ColorMode;
    use crate::tui::ui::buffer_text;

    fn fixture(name: &str) -> Board {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tensorboard")
            .join(name);
        crate::tui::fixture::logdir_board(&dir).unwrap()
    }

    fn frame(board: &Board, view: &BoardView, (w, h): (u16, u16), theme: &str) -> String {
        let t = Theme::builtin(theme, ColorMode::None).unwrap();
        let area = Rect::new(0, 0, w, h);
        let mut buf = Buffer::empty(area);
        draw(&t, board, view, "replay: fixture", area, &mut buf);
        buffer_text(&buf)
    }

    fn snap(name: &str, text: &str) {
        insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(name, text);
        });
    }

    #[test]
    fn frames_of_the_fixtures() {
        let pytorch = fixture("pytorch");
        let view = BoardView::default();
        snap(
            "board_pytorch_160x48",
            &frame(&pytorch, &view, (160, 48), "dark"),
        );
        snap(
            "board_pytorch_80x24",
            &frame(&pytorch, &view, (80, 24), "dark"),
        );
        let mut filtered = BoardView::default();
        filtered.filter = "loss".into();
        filtered.editing = true;
        snap(
            "board_pytorch_filter_120x34",
            &frame(&pytorch, &filtered, (120, 34), "dark"),
        );
        let mut table = BoardView::default();
        table.table = true;
        snap(
            "board_tf2_table_120x34",
            &frame(&fixture("tf2"), &table, (120, 34), "dark"),
        );
        let mut options = BoardView::default();
        options.chart.x = XMode::Relative;
        options.chart.log_y = true;
        options.chart.ignore_outliers = true;
        options.chart.smoothing = 0.0;
        snap(
            "board_restart_relative_log_120x34",
            &frame(&fixture("restart"), &options, (120, 34), "dark"),
        );
        snap(
            "board_nested_mono_100x30",
            &frame(&fixture("nested"), &view, (100, 30), "mono"),
        );
    }

    #[test]
    fn the_table_shows_each_tags_exact_last_value_step_min_and_max() {
        let b = fixture("pytorch");
        let text = frame(&b, &BoardView::default(), (160, 48), "dark");
        let f = b.runs()[0].tag("batch_size").unwrap().figures.unwrap();
        assert_eq!((f.min, f.max, f.last.step), (128.0, 640.0, 29));
        let row = text
            .lines()
            .find(|l| l.contains("batch_size ·") || l.contains("  batch_size  "))
            .unwrap_or_else(|| panic!("{text}"));
        for cell in ["640", "29", "128", "30"] {
            assert!(row.contains(cell), "{row}");
        }
        // The header counts runs and tags; a damaged record is counted there too.
        assert!(text.lines().next().unwrap().contains("4 runs"), "{text}");
        let damaged = frame(
            &fixture("corrupt-data"),
            &BoardView::default(),
            (120, 34),
            "dark",
        );
        assert!(
            damaged
                .lines()
                .next()
                .unwrap()
                .contains("1 damaged records skipped")
                || damaged.lines().next().unwrap().contains("damaged"),
            "{damaged}"
        );
        assert!(damaged.contains("checksum"), "{damaged}");
    }

    #[test]
    fn the_key_list_and_a_small_terminal() {
        let b = fixture("nested");
        let t = Theme::builtin("dark", ColorMode::None).unwrap();
        let area = Rect::new(0, 0, 100, 30);
        let mut buf = Buffer::empty(area);
        Dashboard {
            theme: &t,
            keys: &KeyMap::default(),
            board: &b,
            view: &BoardView::default(),
            title: "t",
            help: true,
            flash: None,
        }
        .render(area, &mut buf);
        let text = buffer_text(&buf);
        assert!(text.contains("smoothing weight"), "{text}");
        let small = frame(&b, &BoardView::default(), (50, 12), "dark");
        assert!(small.contains("60"), "{small}");
    }

    #[test]
    fn a_schedule_that_changes_every_step_is_no_stages_and_no_markers() {
        use crate::series::Point;
        use crate::tboard::{ScalarUpdate, TagTable};
        let mut b = Board::new(TagTable::default(), false);
        let pts = |f: &dyn Fn(i64) -> f64| -> Vec<Point> {
            (0..100)
                .map(|s| Point {
                    step: s,
                    wall_time: 1.7e9 + s as f64,
                    value: f(s),
                })
                .collect()
        };
        for (tag, points) in [
            (
                "lr",
                pts(&|s| 0.1 * (1.0 + (s as f64 / 100.0 * std::f64::consts::PI).cos()) / 2.0),
            ),
            ("loss", pts(&|s| 2.0 / (1.0 + s as f64))),
        ] {
            b.apply(ScalarUpdate::Points {
                run: "cosine".into(),
                tag: tag.into(),
                points,
                more: false,
            });
        }
        let text = frame(&b, &BoardView::default(), (120, 34), "dark");
        let line = text.lines().find(|l| l.contains("━ cosine")).unwrap();
        assert!(
            !line.contains("stages") && line.contains("ε 0.1→…"),
            "{line}"
        );
        assert!(!text.contains('┊'), "no markers: {text}");
    }

    #[test]
    fn paging_follows_the_grid_that_fits() {
        let b = fixture("pytorch");
        let v = BoardView::default();
        assert_eq!(charts_per_page(Rect::new(0, 0, 160, 48), &b, &v), 4);
        assert_eq!(charts_per_page(Rect::new(0, 0, 250, 70), &b, &v), 9);
        let mut one = BoardView::default();
        one.single = true;
        assert_eq!(charts_per_page(Rect::new(0, 0, 250, 70), &b, &one), 1);
        let text = frame(&b, &one, (160, 48), "dark");
        assert_eq!(
            text.matches("╭ ").count(),
            5,
            "tags, runs, one chart, machine, table: {text}"
        );
        assert_eq!(charts_per_page(Rect::new(0, 0, 80, 24), &b, &v), 1);
        assert_eq!(grid(Rect::new(0, 0, 140, 40), 2), (2, 1));
        assert_eq!(grid(Rect::new(0, 0, 140, 40), 5), (3, 2));
    }
}
