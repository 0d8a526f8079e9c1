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
use crate::format;
use crate::series::{Track, XAxis};
use crate::tui::state::{tags, RunState};
use crate::tui::theme::{Role, Theme};
use crate::tui::view::{Panel, ViewOptions};

/// Formats an x value for its axis.
pub fn x_label(axis: XAxis, v: f64) -> String {
    match axis {
        XAxis::Updates => format::si(v.max(0.0)),
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
            XAxis::Updates => 1.0,
            XAxis::Epochs => 0.1,
        }),
    )
}

/// Where the end of epoch `epoch` lies on `axis`.
pub fn epoch_x(axis: XAxis, epoch: usize, updates: u64) -> f64 {
    match axis {
        XAxis::Updates => updates as f64,
        XAxis::Epochs => epoch as f64,
    }
}

/// Stage-change markers for the window.
pub fn stage_markers(run: &RunState, axis: XAxis) -> Vec<Marker> {
    run.stage_changes()
        .into_iter()
        .map(|(update, epoch, batch)| Marker {
            x: match axis {
                XAxis::Updates => update,
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
        let RunCharts {
            theme: t,
            view,
            run,
        } = self;
        let extent = run_extent(run, view.x);
        let window = view.window(extent.0, extent.1);
        let cols = usize::from(area.width) * 2;
        let log = view.log_loss;
        let mut curves = Vec::new();
        let mut legend_spans = Vec::new();
        let ly = |v: f64| if log { v.max(1e-6).log10() } else { v };
        // A log without per-update losses (older logs, the study's copies) still has each
        // epoch's mean training loss: drawn as a line, and the title says so.
        let per_epoch = run.curves.track(tags::LOSS).is_empty() && !run.progress.epochs.is_empty();
        if per_epoch {
            let train: Vec<(f64, f64)> = run
                .progress
                .epochs
                .iter()
                .filter(|e| e.train_loss.is_finite())
                .map(|e| (epoch_x(view.x, e.epoch, e.updates), ly(e.train_loss)))
                .collect();
            curves.push(Curve {
                points: train,
                style: t.bold(Role::Loss),
                draw: Draw::Line,
                ascii: '*',
            });
            legend_spans.extend(legend(t, t.bold(Role::Loss), '*', "train (epoch mean)"));
        } else if view.smooth {
            curves.push(series_curve(
                &run.curves.track(tags::LOSS),
                view,
                window,
                cols,
                t.fg(Role::LossRaw),
                '.',
                log,
            ));
            curves.push(series_curve(
                &run.curves.track(tags::LOSS_EMA),
                view,
                window,
                cols,
                t.bold(Role::Loss),
                '*',
                log,
            ));
            legend_spans.extend(legend(t, t.bold(Role::Loss), '*', "train (EMA)"));
            legend_spans.extend(legend(t, t.fg(Role::LossRaw), '.', "raw"));
        } else {
            curves.push(series_curve(
                &run.curves.track(tags::LOSS),
                view,
                window,
                cols,
                t.fg(Role::Loss),
                '*',
                log,
            ));
            legend_spans.extend(legend(t, t.fg(Role::Loss), '*', "train"));
        }
        let test: Vec<(f64, f64)> = run
            .progress
            .epochs
            .iter()
            .filter(|e| e.test_loss.is_finite())
            .map(|e| (epoch_x(view.x, e.epoch, e.updates), ly(e.test_loss)))
            .collect();
        if !test.is_empty() {
            // A line through the epochs' points, as test accuracy is drawn.
            legend_spans.extend(legend(t, t.bold(Role::TestAcc), 'o', "test"));
            curves.push(Curve {
                points: test.clone(),
                style: t.bold(Role::TestAcc),
                draw: Draw::Line,
                ascii: 'o',
            });
            curves.push(Curve {
                points: test,
                style: t.bold(Role::TestAcc).add_modifier(Modifier::BOLD),
                draw: Draw::Dots,
                ascii: 'o',
            });
        }
        let (y0, y1) = y_range(&curves, window).unwrap_or((0.0, 1.0));
        let y = pad_range(y0, y1);
        let mut extra = legend_spans;
        extra.extend(view_hint(view, t));
        if log {
            extra.push(Span::styled(
                format!(" {} log", t.sym.sep),
                t.fg(Role::Accent),
            ));
        }
        let now = run
            .curves
            .track(tags::LOSS_EMA)
            .last()
            .or(run.curves.track(tags::LOSS).last())
            .map(|p| p.y)
            .or_else(|| run.progress.epochs.last().map(|e| e.train_loss));
        let mut head = title(
            t,
            if per_epoch { "Loss per epoch" } else { "Loss" },
            Vec::new(),
        );
        if let Some(v) = now {
            head.insert(1, Span::styled(format!(" {v:.3}"), t.bold(Role::Fg)));
        }
        head.extend(extra);
        let x_fmt = move |v: f64| x_label(view.x, v);
        let y_fmt = move |v: f64| {
            let v = if log { 10f64.powf(v) } else { v };
            if v.abs() >= 10.0 {
                format!("{v:.1}")
            } else {
                format!("{v:.2}")
            }
        };
        CurveChart {
            block: panel(t, head),
            curves,
            x: window,
            y,
            x_fmt: &x_fmt,
            y_fmt: &y_fmt,
            markers: stage_markers(run, view.x),
            empty: waiting_text(run),
            theme: t,
        }
        .render(area, buf);
    }

    /// Draws the accuracy chart: test and train accuracy per epoch, smoothed batch accuracy.
    fn accuracy(self, area: Rect, buf: &mut Buffer) {
        let RunCharts {
            theme: t,
            view,
            run,
        } = self;
        let extent = run_extent(run, view.x);
        let window = view.window(extent.0, extent.1);
        let cols = usize::from(area.width) * 2;
        let per_epoch = |f: &dyn Fn(&crate::events::EpochEvent) -> f64| -> Vec<(f64, f64)> {
            run.progress
                .epochs
                .iter()
                .map(|e| (epoch_x(view.x, e.epoch, e.updates), f(e)))
                .filter(|p| p.1.is_finite())
                .collect()
        };
        let test = per_epoch(&|e| e.test_acc);
        let train = per_epoch(&|e| e.train_acc);
        let batch = series_curve(
            &run.curves.track(tags::ACC_EMA),
            view,
            window,
            cols,
            t.fg(Role::Faint),
            '.',
            false,
        );
        let mut curves = vec![batch];
        curves.push(Curve {
            points: train,
            style: t.fg(Role::TrainAcc),
            draw: Draw::Line,
            ascii: '+',
        });
        curves.push(Curve {
            points: test.clone(),
            style: t.bold(Role::TestAcc),
            draw: Draw::Line,
            ascii: '*',
        });
        curves.push(Curve {
            points: test,
            style: t.bold(Role::TestAcc).add_modifier(Modifier::BOLD),
            draw: Draw::Dots,
            ascii: 'o',
        });
        let (y0, y1) = y_range(&curves, window).unwrap_or((0.0, 1.0));
        let (y0, y1) = pad_range(y0, y1);
        let y = (y0.max(0.0), y1.min(1.0).max(y0.max(0.0) + 0.01));
        let mut head = title(t, "Accuracy", Vec::new());
        if let Some(e) = run.progress.epochs.last() {
            head.insert(
                1,
                Span::styled(
                    format!(" {}", format::pct(e.test_acc)),
                    t.bold(Role::TestAcc),
                ),
            );
        }
        head.extend(legend(t, t.bold(Role::TestAcc), '*', "test"));
        head.extend(legend(t, t.fg(Role::TrainAcc), '+', "train"));
        head.extend(legend(t, t.fg(Role::Faint), '.', "batch"));
        head.extend(view_hint(view, t));
        let x_fmt = move |v: f64| x_label(view.x, v);
        let y_fmt = |v: f64| format!("{:.0}%", v * 100.0);
        CurveChart {
            block: panel(t, head),
            curves,
            x: window,
            y,
            x_fmt: &x_fmt,
            y_fmt: &y_fmt,
            markers: stage_markers(run, view.x),
            empty: waiting_text(run),
            theme: t,
        }
        .render(area, buf);
    }

    /// Draws batch size against the measured gradient noise scale B_simple (log scale).
    fn noise(self, area: Rect, buf: &mut Buffer) {
        let RunCharts {
            theme: t,
            view,
            run,
        } = self;
        let extent = run_extent(run, view.x);
        let window = view.window(extent.0, extent.1);
        let cols = usize::from(area.width) * 2;
        let curves = vec![
            series_curve(
                &run.curves.track(tags::NOISE),
                view,
                window,
                cols,
                t.bold(Role::Noise),
                '*',
                true,
            ),
            series_curve(
                &run.curves.track(tags::BATCH),
                view,
                window,
                cols,
                t.bold(Role::Batch),
                '=',
                true,
            ),
        ];
        let (y0, y1) = y_range(&curves, window).unwrap_or((1.0, 3.0));
        let y = pad_range(y0, y1);
        let mut head = title(t, "Batch vs noise scale", Vec::new());
        head.extend(legend(t, t.bold(Role::Batch), '=', "B"));
        head.extend(legend(t, t.bold(Role::Noise), '*', "B_simple (measured)"));
        head.extend(view_hint(view, t));
        head.push(Span::styled(
            format!(" {} log", t.sym.sep),
            t.fg(Role::Muted),
        ));
        let x_fmt = move |v: f64| x_label(view.x, v);
        let y_fmt = |v: f64| format::si(10f64.powf(v));
        let empty = if run.warming_up() {
            waiting_text(run)
        } else {
            "no noise-scale estimates in this run".into()
        };
        CurveChart {
            block: panel(t, head),
            curves,
            x: window,
            y,
            x_fmt: &x_fmt,
            y_fmt: &y_fmt,
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
