//! The three run charts: train loss (EMA over faint raw, log scale), accuracy (test and train per
//! epoch, smoothed batch accuracy), and batch size against the measured noise scale; all with a
//! marker at each stage change and the shared pan/zoom window. Each chart draws from a
//! [`RunCharts`] view (theme, view options, one run). Must never change the run state.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::Widget;

use super::chart::{legend, pad_range, title, Curve, CurveChart, Draw, Marker};
use super::panel;
use crate::events::EpochEvent;
use crate::format;
use crate::series::{Track, XAxis};
use crate::tui::state::{tags, RunState};
use crate::tui::theme::{Role, Theme};
use crate::tui::view::{Panel, ViewOptions};

/// Formats an x value for its axis.
pub fn x_label(axis: XAxis, v: f64) -> String {
    match axis {
        // A batchramp run never uses wall time (its toggle is updates ↔ epochs).
        XAxis::Updates | XAxis::Wall => format::si(v.max(0.0)),
        XAxis::Epochs => {
            if (v - v.round()).abs() < 0.05 {
                format!("{:.0}", v.round())
            } else {
                format!("{v:.1}")
            }
        }
    }
}

/// The full x extent of a run on `axis`: from 0 to the newest point.
pub fn run_extent(run: &RunState, axis: XAxis) -> (f64, f64) {
    let mut hi: f64 = 0.0;
    if let Some((_, h)) = run.curves.track(tags::LOSS).x_extent(axis) {
        hi = hi.max(h);
    }
    if let Some(e) = run.progress.epochs.last() {
        hi = hi.max(epoch_x(axis, e.epoch, e.updates));
    }
    (
        0.0,
        hi.max(match axis {
            XAxis::Updates | XAxis::Wall => 1.0,
            XAxis::Epochs => 0.1,
        }),
    )
}

/// Where the end of epoch `epoch` lies on `axis`.
pub fn epoch_x(axis: XAxis, epoch: usize, updates: u64) -> f64 {
    match axis {
        XAxis::Updates | XAxis::Wall => updates as f64,
        XAxis::Epochs => epoch as f64,
    }
}

/// Stage-change markers for the window.
pub fn stage_markers(run: &RunState, axis: XAxis) -> Vec<Marker> {
    run.stage_changes()
        .into_iter()
        .map(|(update, epoch, batch)| Marker {
            x: match axis {
                XAxis::Updates | XAxis::Wall => update,
                XAxis::Epochs => epoch,
            },
            label: format!("B{batch}"),
        })
        .collect()
}

fn series_curve(
    s: &Track,
    view: &ViewOptions,
    window: (f64, f64),
    cols: usize,
    style: Style,
    ascii: char,
    log: bool,
) -> Curve {
    let mut points = s.points_in(view.x, window.0, window.1, cols);
    if log {
        for p in &mut points {
            p.1 = p.1.max(1e-6).log10();
        }
    }
    Curve {
        points,
        style,
        draw: Draw::Line,
        ascii,
    }
}

fn y_range(curves: &[Curve], window: (f64, f64)) -> Option<(f64, f64)> {
    let mut lo = f64::MAX;
    let mut hi = f64::MIN;
    for c in curves {
        for &(x, y) in &c.points {
            if x >= window.0 && x <= window.1 && y.is_finite() {
                lo = lo.min(y);
                hi = hi.max(y);
            }
        }
    }
    (lo <= hi).then_some((lo, hi))
}

fn view_hint(view: &ViewOptions, theme: &Theme) -> Vec<Span<'static>> {
    let mut v = vec![Span::styled(
        format!("x: {}", view.x.label()),
        theme.fg(Role::Muted),
    )];
    if view.zoom > 0 || view.pan.is_some() {
        let z = format!(
            " {} zoom {}{}",
            theme.sym.sep,
            theme.sym.times,
            1u32 << view.zoom
        );
        v.push(Span::styled(z, theme.fg(Role::Accent)));
        if view.pan.is_some() {
            v.push(Span::styled(
                " (panned)".to_string(),
                theme.fg(Role::Accent),
            ));
        }
    }
    v
}

/// What the charts of one run draw from.
#[derive(Clone, Copy)]
pub struct RunCharts<'a> {
    /// Colours and glyphs.
    pub theme: &'a Theme,
    /// Axis, scale, smoothing and window.
    pub view: &'a ViewOptions,
    /// The run.
    pub run: &'a RunState,
}

impl RunCharts<'_> {
    /// Draws `panel`'s chart.
    pub fn draw(self, panel: Panel, area: Rect, buf: &mut Buffer) {
        match panel {
            Panel::Loss => self.loss(area, buf),
            Panel::Accuracy => self.accuracy(area, buf),
            Panel::Noise => self.noise(area, buf),
        }
    }

    /// Draws the loss chart.
    fn loss(self, area: Rect, buf: &mut Buffer) {
        let (t, view, run) = (self.theme, self.view, self.run);
        let mut c = Builder::new(self, area);
        let log = view.log_loss;
        let ly = move |v: f64| if log { v.max(1e-6).log10() } else { v };
        // A log without per-update losses (older logs, the study's copies) still has each
        // epoch's mean training loss: drawn as a line, and the title says so.
        let loss = run.curves.track(tags::LOSS);
        let per_epoch = loss.is_empty() && !run.progress.epochs.is_empty();
        if per_epoch {
            let train = c.per_epoch(|e| e.train_loss, ly);
            c.line(train, t.bold(Role::Loss), '*', "train (epoch mean)");
        } else if view.smooth {
            c.track(tags::LOSS, t.fg(Role::LossRaw), '.', log);
            c.track(tags::LOSS_EMA, t.bold(Role::Loss), '*', log);
            c.legend(t.bold(Role::Loss), '*', "train (EMA)");
            c.legend(t.fg(Role::LossRaw), '.', "raw");
        } else {
            c.track(tags::LOSS, t.fg(Role::Loss), '*', log);
            c.legend(t.fg(Role::Loss), '*', "train");
        }
        let test = c.per_epoch(|e| e.test_loss, ly);
        if !test.is_empty() {
            // A line through the epochs' points, as test accuracy is drawn.
            c.legend(t.bold(Role::TestAcc), 'o', "test");
            c.test(test, 'o');
        }
        let (y0, y1) = c.y_range().unwrap_or((0.0, 1.0));
        let y = pad_range(y0, y1);
        let now = run
            .curves
            .track(tags::LOSS_EMA)
            .last()
            .or(loss.last())
            .map(|p| p.y)
            .or_else(|| run.progress.epochs.last().map(|e| e.train_loss))
            .map(|v| Span::styled(format!(" {v:.3}"), t.bold(Role::Fg)));
        let tail = match log {
            true => vec![Span::styled(
                format!(" {} log", t.sym.sep),
                t.fg(Role::Accent),
            )],
            false => Vec::new(),
        };
        let y_fmt = move |v: f64| {
            let v = if log { 10f64.powf(v) } else { v };
            if v.abs() >= 10.0 {
                format!("{v:.1}")
            } else {
                format!("{v:.2}")
            }
        };
        let name = if per_epoch { "Loss per epoch" } else { "Loss" };
        c.render(
            Head { name, now, tail },
            y,
            &y_fmt,
            waiting_text(run),
            area,
            buf,
        );
    }

    /// Draws the accuracy chart: test and train accuracy per epoch, smoothed batch accuracy.
    fn accuracy(self, area: Rect, buf: &mut Buffer) {
        let (t, run) = (self.theme, self.run);
        let mut c = Builder::new(self, area);
        let test = c.per_epoch(|e| e.test_acc, |v| v);
        let train = c.per_epoch(|e| e.train_acc, |v| v);
        c.track(tags::ACC_EMA, t.fg(Role::Faint), '.', false);
        c.line(train, t.fg(Role::TrainAcc), '+', "");
        c.line(test.clone(), t.bold(Role::TestAcc), '*', "");
        c.dots(test, 'o');
        c.legend(t.bold(Role::TestAcc), '*', "test");
        c.legend(t.fg(Role::TrainAcc), '+', "train");
        c.legend(t.fg(Role::Faint), '.', "batch");
        let (y0, y1) = c.y_range().unwrap_or((0.0, 1.0));
        let (y0, y1) = pad_range(y0, y1);
        let y = (y0.max(0.0), y1.min(1.0).max(y0.max(0.0) + 0.01));
        let now = run.progress.epochs.last().map(|e| {
            Span::styled(
                format!(" {}", format::pct(e.test_acc)),
                t.bold(Role::TestAcc),
            )
        });
        let y_fmt = |v: f64| format!("{:.0}%", v * 100.0);
        let head = Head {
            name: "Accuracy",
            now,
            tail: Vec::new(),
        };
        c.render(head, y, &y_fmt, waiting_text(run), area, buf);
    }

    /// Draws batch size against the measured gradient noise scale B_simple (log scale).
    fn noise(self, area: Rect, buf: &mut Buffer) {
        let (t, run) = (self.theme, self.run);
        let mut c = Builder::new(self, area);
        c.track(tags::NOISE, t.bold(Role::Noise), '*', true);
        c.track(tags::BATCH, t.bold(Role::Batch), '=', true);
        c.legend(t.bold(Role::Batch), '=', "B");
        c.legend(t.bold(Role::Noise), '*', "B_simple (measured)");
        let (y0, y1) = c.y_range().unwrap_or((1.0, 3.0));
        let y = pad_range(y0, y1);
        let y_fmt = |v: f64| format::si(10f64.powf(v));
        let empty = if run.warming_up() {
            waiting_text(run)
        } else {
            "no noise-scale estimates in this run".into()
        };
        let head = Head {
            name: "Batch vs noise scale",
            now: None,
            tail: vec![Span::styled(
                format!(" {} log", t.sym.sep),
                t.fg(Role::Muted),
            )],
        };
        c.render(head, y, &y_fmt, empty, area, buf);
    }
}

/// A chart's title: its name, the value now, then (after the legend and the view hint) `tail`.
struct Head {
    name: &'static str,
    now: Option<Span<'static>>,
    tail: Vec<Span<'static>>,
}

/// One run chart being put together: the window it shows, its curves in drawing order and its
/// legend. The loss, accuracy and noise charts differ only in what they add to it.
struct Builder<'a> {
    charts: RunCharts<'a>,
    window: (f64, f64),
    cols: usize,
    curves: Vec<Curve>,
    legend: Vec<Span<'static>>,
}

impl<'a> Builder<'a> {
    /// A chart of `area` over the view's window of the run.
    fn new(charts: RunCharts<'a>, area: Rect) -> Self {
        let extent = run_extent(charts.run, charts.view.x);
        Builder {
            charts,
            window: charts.view.window(extent.0, extent.1),
            cols: usize::from(area.width) * 2,
            curves: Vec::new(),
            legend: Vec::new(),
        }
    }

    /// Adds the track of `tag` as a line (log10 of its values when `log`).
    fn track(&mut self, tag: &str, style: Style, ascii: char, log: bool) {
        let track = self.charts.run.curves.track(tag);
        let (view, window) = (self.charts.view, self.window);
        self.curves.push(series_curve(
            track, view, window, self.cols, style, ascii, log,
        ));
    }

    /// Each finished epoch's `value` (through `y`) where its value is finite.
    fn per_epoch(
        &self,
        value: impl Fn(&EpochEvent) -> f64,
        y: impl Fn(f64) -> f64,
    ) -> Vec<(f64, f64)> {
        let axis = self.charts.view.x;
        self.charts
            .run
            .progress
            .epochs
            .iter()
            .filter(|e| value(e).is_finite())
            .map(|e| (epoch_x(axis, e.epoch, e.updates), y(value(e))))
            .collect()
    }

    /// Adds `points` as a line, with a legend entry unless `label` is empty.
    fn line(&mut self, points: Vec<(f64, f64)>, style: Style, ascii: char, label: &str) {
        self.curves.push(Curve {
            points,
            style,
            draw: Draw::Line,
            ascii,
        });
        if !label.is_empty() {
            self.legend(style, ascii, label);
        }
    }

    /// Adds the test points as bold dots.
    fn dots(&mut self, points: Vec<(f64, f64)>, ascii: char) {
        let t = self.charts.theme;
        self.curves.push(Curve {
            points,
            style: t.bold(Role::TestAcc).add_modifier(Modifier::BOLD),
            draw: Draw::Dots,
            ascii,
        });
    }

    /// Adds the test points as a line through bold dots.
    fn test(&mut self, points: Vec<(f64, f64)>, ascii: char) {
        let style = self.charts.theme.bold(Role::TestAcc);
        self.line(points.clone(), style, ascii, "");
        self.dots(points, ascii);
    }

    /// Adds a legend entry.
    fn legend(&mut self, style: Style, ascii: char, label: &str) {
        self.legend
            .extend(legend(self.charts.theme, style, ascii, label));
    }

    /// The lowest and highest value drawn within the window.
    fn y_range(&self) -> Option<(f64, f64)> {
        y_range(&self.curves, self.window)
    }

    /// Renders the chart with its title, y range and labels.
    fn render(
        self,
        head: Head,
        y: (f64, f64),
        y_fmt: &dyn Fn(f64) -> String,
        empty: String,
        area: Rect,
        buf: &mut Buffer,
    ) {
        let RunCharts {
            theme: t,
            view,
            run,
        } = self.charts;
        let mut title_spans = title(t, head.name, Vec::new());
        if let Some(now) = head.now {
            title_spans.insert(1, now);
        }
        title_spans.extend(self.legend);
        title_spans.extend(view_hint(view, t));
        title_spans.extend(head.tail);
        let x_fmt = move |v: f64| x_label(view.x, v);
        CurveChart {
            block: panel(t, title_spans),
            curves: self.curves,
            x: self.window,
            y,
            x_fmt: &x_fmt,
            y_fmt,
            markers: stage_markers(run, view.x),
            empty,
            theme: t,
        }
        .render(area, buf);
    }
}

fn waiting_text(run: &RunState) -> String {
    if run.progress.started.is_none() {
        "waiting for the run to start".into()
    } else {
        "waiting for the first update".into()
    }
}
