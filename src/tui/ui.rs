//! Drawing entry point: picks the layout (compact, full, compare) for the terminal size, places
//! the panels, and draws popups on top. Must never change state; everything it shows comes from
//! `App`, so a frame is a pure function of the events and the keys.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::Frame;

use super::app::{App, LayoutChoice, Overlay, Panel, Source};
use super::widgets::{asciify, compare, curves, fill, panels, popup, schedule};

/// Smallest terminal the compact layout fits in.
pub const MIN_SIZE: (u16, u16) = (60, 18);
/// Smallest terminal the full layout is chosen for automatically.
pub const FULL_SIZE: (u16, u16) = (120, 34);
/// Smallest terminal the full layout is drawn in when asked for.
const FULL_FORCED: (u16, u16) = (100, 30);
/// Width from which the full layout shows all three charts side by side.
const THREE_CHARTS: u16 = 200;

/// Draws one frame.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    render(app, area, frame.buffer_mut());
}

/// Draws the UI for `app` into `buf` over `area`.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    fill(buf, area, t.base());
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        popup::too_small(t, area, MIN_SIZE, buf);
    } else {
        let [head, body, foot] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(1),
        ])
        .areas(area);
        panels::header(app, head, buf);
        panels::footer(app, foot, buf);
        let full = use_full(app, area);
        match (app.source, full) {
            (Source::Compare, _) => compare_layout(app, body, buf, full),
            (_, true) => full_layout(app, body, buf),
            (_, false) => compact_layout(app, body, buf),
        }
        match app.overlay {
            Overlay::Help => popup::help(app, area, buf),
            Overlay::ConfirmQuit => popup::confirm_quit(app, area, buf),
            Overlay::None => {}
        }
    }
    if t.ascii {
        asciify(buf, area);
    }
}

fn use_full(app: &App, area: Rect) -> bool {
    let fits = |min: (u16, u16)| area.width >= min.0 && area.height >= min.1;
    match app.view.layout {
        LayoutChoice::Auto => fits(FULL_SIZE),
        LayoutChoice::Compact => false,
        LayoutChoice::Full => fits(FULL_FORCED),
    }
}

fn chart(app: &App, panel: Panel, area: Rect, buf: &mut Buffer) {
    match panel {
        Panel::Loss => curves::loss(app, &app.run, area, buf),
        Panel::Accuracy => curves::accuracy(app, &app.run, area, buf),
        Panel::Noise => curves::noise(app, &app.run, area, buf),
    }
}

fn compact_layout(app: &App, body: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let run = &app.run;
    let [top, sched, bottom] = Layout::vertical([
        Constraint::Min(6),
        Constraint::Length(4),
        Constraint::Length(6),
    ])
    .areas(body);
    chart(app, app.view.panel, top, buf);

    let block = super::widgets::panel(
        t,
        vec![ratatui::text::Span::styled(
            "Schedule",
            t.bold(super::theme::Role::Title),
        )],
    );
    let inner = block.inner(sched);
    ratatui::widgets::Widget::render(block, sched, buf);
    let rows = run.stage_rows();
    super::widgets::put_line(
        buf,
        inner,
        0,
        &schedule::timeline(t, run, &rows, inner.width),
    );
    super::widgets::put_line(
        buf,
        inner,
        1,
        &schedule::now_line(app, run, &rows, inner.width),
    );

    let width = bottom.width.saturating_sub(2);
    let mut lines = panels::progress_lines(app, run, width, true);
    lines.extend(panels::resource_lines(app, run, width, true));
    lines.push(panels::latest_event_line(app, run, width));
    panels::lines_panel(t, "Progress", &lines, bottom, buf);
}

fn full_layout(app: &App, body: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let run = &app.run;
    let stages = run.stage_rows().len() as u16;
    let sched_h = (6 + stages).clamp(6, 10);
    let [charts, sched, bottom] = Layout::vertical([
        Constraint::Min(10),
        Constraint::Length(sched_h),
        Constraint::Length(9),
    ])
    .areas(body);
    if charts.width >= THREE_CHARTS {
        let [a, b, c] = Layout::horizontal([Constraint::Ratio(1, 3); 3]).areas(charts);
        chart(app, Panel::Loss, a, buf);
        chart(app, Panel::Accuracy, b, buf);
        chart(app, Panel::Noise, c, buf);
    } else {
        let [a, b] = Layout::horizontal([Constraint::Ratio(1, 2); 2]).areas(charts);
        chart(app, Panel::Loss, a, buf);
        let second = if app.view.panel == Panel::Noise {
            Panel::Noise
        } else {
            Panel::Accuracy
        };
        chart(app, second, b, buf);
    }
    schedule::panel_full(app, run, sched, buf);
    let [p, r, e] = Layout::horizontal([
        Constraint::Percentage(42),
        Constraint::Percentage(24),
        Constraint::Percentage(34),
    ])
    .areas(bottom);
    let lines = panels::progress_lines(app, run, p.width.saturating_sub(2), false);
    panels::lines_panel(t, "Progress", &lines, p, buf);
    let lines = panels::resource_lines(app, run, r.width.saturating_sub(2), false);
    panels::lines_panel(t, "Resources", &lines, r, buf);
    panels::events(app, run, e, buf);
}

fn compare_layout(app: &App, body: Rect, buf: &mut Buffer, full: bool) {
    let table_h = (app.runs.len() as u16 + 3).min(body.height / 2);
    let [charts, table] =
        Layout::vertical([Constraint::Min(6), Constraint::Length(table_h)]).areas(body);
    if full {
        let [a, b] = Layout::horizontal([Constraint::Ratio(1, 2); 2]).areas(charts);
        compare::loss_chart(app, a, buf);
        compare::acc_chart(app, b, buf);
    } else if app.view.panel == Panel::Loss {
        compare::loss_chart(app, charts, buf);
    } else {
        compare::acc_chart(app, charts, buf);
    }
    compare::table(app, table, buf);
}

/// The frame as plain text, one line per row (for snapshot tests and debugging).
pub fn buffer_text(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::with_capacity(usize::from(area.width + 1) * usize::from(area.height));
    for y in area.top()..area.bottom() {
        let mut line = String::new();
        for x in area.left()..area.right() {
            let cell = &buf[(x, y)];
            if !cell.skip {
                line.push_str(cell.symbol());
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
