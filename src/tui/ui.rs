//! Drawing entry point: picks the layout (compact, full, compare) for the terminal size, hands
//! each widget the small view it draws (the theme and its part of the state), and draws popups on
//! top. Must never change state; everything it shows comes from `App`, so a frame is a pure
//! function of the events and the keys.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Span;
use ratatui::widgets::Widget;
use ratatui::Frame;

use super::app::{App, Overlay};
use super::board::Dashboard;
use super::mode::{Mode, Shown, Status};
use super::state::RunState;
use super::theme::{Role, Theme};
use super::view::{LayoutChoice, Panel, ViewOptions};
use super::widgets::compare::Overlaid;
use super::widgets::curves::RunCharts;
use super::widgets::panels::{Footer, Header};
use super::widgets::{asciify, fill, panels, popup, put_line, schedule};

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
    if let Mode::Logdir(m) = app.mode() {
        Dashboard {
            theme: t,
            keys: &app.keys,
            board: m.board(),
            view: &m.view,
            title: &app.title,
            help: app.overlay() == Overlay::Help,
            flash: app.flash.as_deref(),
        }
        .render(area, buf);
        return;
    }
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
        Header {
            theme: t,
            title: &app.title,
            mode: app.mode(),
            tick: app.tick,
        }
        .render(head, buf);
        Footer {
            theme: t,
            keys: &app.keys,
            controls: app.mode().controls(),
            paused: match app.mode() {
                Mode::Replay(m) => m.playback().paused(),
                m => m.status() == Some(Status::Paused),
            },
            flash: app.flash.as_deref(),
            x: app.view.x,
        }
        .render(foot, buf);
        let full = use_full(&app.view, area);
        match app.mode().shown() {
            Shown::Runs(runs) => {
                let overlaid = Overlaid {
                    theme: t,
                    view: &app.view,
                    runs,
                };
                compare_layout(overlaid, body, buf, full);
            }
            // Drawn above by the dashboard.
            Shown::Board(_) => {}
            Shown::Run(run) => {
                let charts = RunCharts {
                    theme: t,
                    view: &app.view,
                    run,
                };
                if full {
                    full_layout(charts, body, buf);
                } else {
                    compact_layout(charts, body, buf, app.mode().over());
                }
            }
        }
        match app.overlay() {
            Overlay::Help => popup::help(t, &app.keys, app.mode().controls(), area, buf),
            Overlay::ConfirmQuit => {
                let last = app.mode().run().and_then(|r| r.log.checkpoint.as_ref());
                popup::confirm_quit(t, last, area, buf);
            }
            Overlay::None => {}
        }
    }
    if t.ascii {
        asciify(buf, area);
    }
}

fn use_full(view: &ViewOptions, area: Rect) -> bool {
    let fits = |min: (u16, u16)| area.width >= min.0 && area.height >= min.1;
    match view.layout {
        LayoutChoice::Auto => fits(FULL_SIZE),
        LayoutChoice::Compact => false,
        LayoutChoice::Full => fits(FULL_FORCED),
    }
}

/// The compact layout; once the run is `over`, why it ended takes the resources' line too.
fn compact_layout(charts: RunCharts<'_>, body: Rect, buf: &mut Buffer, over: bool) {
    let RunCharts {
        theme: t,
        view,
        run,
    } = charts;
    let [top, sched, bottom] = Layout::vertical([
        Constraint::Min(6),
        Constraint::Length(4),
        Constraint::Length(6),
    ])
    .areas(body);
    charts.draw(view.panel, top, buf);

    let block = super::widgets::panel(t, vec![Span::styled("Schedule", t.bold(Role::Title))]);
    let inner = block.inner(sched);
    block.render(sched, buf);
    let rows = run.stage_rows();
    put_line(
        buf,
        inner,
        0,
        &schedule::timeline(t, run, &rows, inner.width),
    );
    put_line(
        buf,
        inner,
        1,
        &schedule::now_line(t, run, &rows, inner.width),
    );

    let width = bottom.width.saturating_sub(2);
    let mut lines = panels::progress_lines(t, run, width, true);
    let latest = panels::latest_event_lines(t, run, width, 2);
    if over && latest.len() > 1 {
        lines.extend(latest);
    } else {
        lines.extend(panels::resource_lines(t, run, width, true));
        lines.push(panels::latest_event_line(t, run, width));
    }
    panels::lines_panel(t, "Progress", &lines, bottom, buf);
}

fn full_layout(charts: RunCharts<'_>, body: Rect, buf: &mut Buffer) {
    let RunCharts {
        theme: t,
        view,
        run,
    } = charts;
    let stages = run.stage_rows().len() as u16;
    let sched_h = (6 + stages).clamp(6, 10);
    let [chart_area, sched, bottom] = Layout::vertical([
        Constraint::Min(10),
        Constraint::Length(sched_h),
        Constraint::Length(9),
    ])
    .areas(body);
    if chart_area.width >= THREE_CHARTS {
        let [a, b, c] = Layout::horizontal([Constraint::Ratio(1, 3); 3]).areas(chart_area);
        charts.draw(Panel::Loss, a, buf);
        charts.draw(Panel::Accuracy, b, buf);
        charts.draw(Panel::Noise, c, buf);
    } else {
        let [a, b] = Layout::horizontal([Constraint::Ratio(1, 2); 2]).areas(chart_area);
        charts.draw(Panel::Loss, a, buf);
        let second = if view.panel == Panel::Noise {
            Panel::Noise
        } else {
            Panel::Accuracy
        };
        charts.draw(second, b, buf);
    }
    schedule::panel_full(t, run, sched, buf);
    bottom_panels(t, run, bottom, buf);
}

fn bottom_panels(t: &Theme, run: &RunState, bottom: Rect, buf: &mut Buffer) {
    let [p, r, e] = Layout::horizontal([
        Constraint::Percentage(42),
        Constraint::Percentage(24),
        Constraint::Percentage(34),
    ])
    .areas(bottom);
    let lines = panels::progress_lines(t, run, p.width.saturating_sub(2), false);
    panels::lines_panel(t, "Progress", &lines, p, buf);
    let lines = panels::resource_lines(t, run, r.width.saturating_sub(2), false);
    panels::lines_panel(t, "Resources", &lines, r, buf);
    panels::events(t, run, e, buf);
}

fn compare_layout(overlaid: Overlaid<'_>, body: Rect, buf: &mut Buffer, full: bool) {
    let table_h = (overlaid.runs.len() as u16 + 3).min(body.height / 2);
    let [charts, table] =
        Layout::vertical([Constraint::Min(6), Constraint::Length(table_h)]).areas(body);
    // The chart key steps through train loss, test accuracy and test loss.
    let k = match overlaid.view.panel {
        Panel::Loss => 0,
        Panel::Accuracy => 1,
        Panel::Noise => 2,
    };
    if full {
        let [a, b] = Layout::horizontal([Constraint::Ratio(1, 2); 2]).areas(charts);
        overlaid.nth_chart(k, a, buf);
        overlaid.nth_chart(k + 1, b, buf);
    } else {
        overlaid.nth_chart(k, charts, buf);
    }
    overlaid.table(table, buf);
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
