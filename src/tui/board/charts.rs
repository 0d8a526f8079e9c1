//! One chart per tag: every run holding the tag overlaid in its colour with a legend, the
//! smoothed curve over the raw one drawn faint, on the chosen x axis and y scale. Must never
//! change state.
//!
//! Smoothing runs over the points drawn, as TensorBoard's does over the points its data server
//! keeps (it samples 1,000 per tag): the recent window is exact, the older part is the track's
//! per-bucket extremes.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::Widget;

use super::{Board, BoardRun, ChartOptions, XMode};
use crate::format;
use crate::series::smooth_ema;
use crate::tui::theme::{Role, Theme};
use crate::tui::widgets::chart::{pad_range, run_sample, Curve, CurveChart, Draw, Marker};
use crate::tui::widgets::compare::legend_names;
use crate::tui::widgets::panel;

/// Marks telling runs apart without colour, in run order.
const ASCII_MARKS: [char; 6] = ['*', '+', 'o', 'x', '#', '@'];
/// Share of the values cut at either end when outliers are ignored (TensorBoard's 5 %).
const OUTLIER_QUANTILE: f64 = 0.05;

/// Draws `tag`'s chart into `area`; `focused` marks the chart the tag list's cursor is on.
pub fn tag_chart(
    theme: &Theme,
    board: &Board,
    tag: &str,
    opts: &ChartOptions,
    focused: bool,
    area: Rect,
    buf: &mut Buffer,
) {
    let t = theme;
    // Colours follow the run's place in the whole logdir, so a run keeps its colour in every chart.
    let runs: Vec<(usize, &BoardRun)> = board
        .runs()
        .iter()
        .enumerate()
        .filter(|(_, r)| r.tag(tag).is_some_and(|s| !s.track.is_empty()))
        .collect();
    let x = x_range(&runs, tag, opts.x);
    let columns = usize::from(area.width.saturating_sub(8)).max(1);
    let smoothing = opts.smoothing > 0.0;
    let mut raw_curves = Vec::new();
    let mut top_curves = Vec::new();
    let mut values = Vec::new();
    for &(i, run) in &runs {
        let Some(series) = run.tag(tag) else { continue };
        let offset = x_offset(run, opts.x);
        let axis = opts.x.axis();
        let mut pts: Vec<(f64, f64)> = series
            .track
            .points_in(axis, x.0 + offset, x.1 + offset, columns)
            .into_iter()
            .map(|(px, py)| (px - offset, py))
            .collect();
        if opts.log_y {
            pts.retain(|p| p.1 > 0.0);
            pts.iter_mut().for_each(|p| p.1 = p.1.log10());
        }
        let mark = ASCII_MARKS[i % ASCII_MARKS.len()];
        let colour = Style::new().fg(t.series(i));
        let bold = colour.add_modifier(Modifier::BOLD);
        // A single point has no line; it is drawn as a dot by the chart.
        values.extend(pts.iter().map(|p| p.1));
        if smoothing {
            let ys: Vec<f64> = pts.iter().map(|p| p.1).collect();
            let smoothed: Vec<(f64, f64)> = pts
                .iter()
                .zip(smooth_ema(&ys, opts.smoothing))
                .map(|(p, s)| (p.0, s))
                .collect();
            raw_curves.push(Curve {
                points: pts,
                style: colour.add_modifier(Modifier::DIM),
                draw: Draw::Line,
                ascii: '.',
            });
            top_curves.push(Curve {
                points: smoothed,
                style: bold,
                draw: Draw::Line,
                ascii: mark,
            });
        } else {
            top_curves.push(Curve {
                points: pts,
                style: bold,
                draw: Draw::Line,
                ascii: mark,
            });
        }
    }
    let y = y_range(values, opts.ignore_outliers);
    let title = title_spans(t, tag, &runs, opts, focused, area.width);
    let mut curves = raw_curves;
    curves.extend(top_curves);
    let mode = opts.x;
    let x_fmt = move |v: f64| x_label(mode, v);
    let log = opts.log_y;
    let y_fmt = move |v: f64| y_label(if log { 10f64.powf(v) } else { v });
    let mut block = panel(t, title);
    if focused {
        block = block.border_style(t.fg(Role::Accent));
    }
    CurveChart {
        block,
        curves,
        x,
        y,
        x_fmt: &x_fmt,
        y_fmt: &y_fmt,
        markers: stage_markers(t, &runs, opts.x),
        empty: if log {
            "no positive values for a log scale".into()
        } else {
            "no finite values yet".into()
        },
        theme: t,
    }
    .render(area, buf);
}

/// A marker where each stage after the first begins (a batch-size or learning-rate tag
/// changed value): the paper's milestones, on every chart of the run. With several runs, only
/// when every run that has stages changes at the same steps; runs whose milestones differ
/// would draw a forest of lines no one could attribute.
fn stage_markers(t: &Theme, runs: &[(usize, &BoardRun)], mode: XMode) -> Vec<Marker> {
    let staged: Vec<(&BoardRun, Vec<super::BoardStage>)> = runs
        .iter()
        .map(|(_, r)| (*r, r.stages()))
        .filter(|(_, s)| s.len() > 1)
        .collect();
    // A continuously changing schedule would be a forest of lines.
    if staged
        .iter()
        .any(|(_, s)| s.len() > super::draw::MAX_STAGES)
    {
        return Vec::new();
    }
    let Some((run, stages)) = staged.first() else {
        return Vec::new();
    };
    let steps = |s: &[super::BoardStage]| s.iter().map(|x| x.step).collect::<Vec<_>>();
    if staged.iter().any(|(_, s)| steps(s) != steps(stages)) {
        return Vec::new();
    }
    let offset = x_offset(run, mode);
    stages
        .windows(2)
        .map(|w| {
            let (before, now) = (w[0], w[1]);
            let label = match (now.batch, now.lr) {
                (Some(b), _) if now.batch != before.batch => {
                    format!("B {}", format::count(b.round().max(0.0) as u64))
                }
                (_, Some(lr)) => format!("{} {}", t.sym.lr, format::lr(lr)),
                _ => String::new(),
            };
            let x = match mode {
                XMode::Step => now.step as f64,
                XMode::Relative | XMode::Wall => now.wall - offset,
            };
            Marker { x, label }
        })
        .collect()
}

/// Where a run's x coordinate starts: its first event for relative time, else nothing.
fn x_offset(run: &BoardRun, mode: XMode) -> f64 {
    match mode {
        XMode::Relative => run.start().unwrap_or(0.0),
        XMode::Step | XMode::Wall => 0.0,
    }
}

/// The x range covering every run's points of `tag` (a unit range when there are none).
fn x_range(runs: &[(usize, &BoardRun)], tag: &str, mode: XMode) -> (f64, f64) {
    let (lo, hi) = runs
        .iter()
        .filter_map(|(_, r)| {
            let (a, b) = r.tag(tag)?.track.x_extent(mode.axis())?;
            let off = x_offset(r, mode);
            Some((a - off, b - off))
        })
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (a, b)| {
            (lo.min(a), hi.max(b))
        });
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    let lo = match mode {
        // Steps and relative time read from zero, as TensorBoard draws them.
        XMode::Step | XMode::Relative => lo.min(0.0),
        XMode::Wall => lo,
    };
    if hi > lo {
        (lo, hi)
    } else {
        (lo, lo + 1.0)
    }
}

/// The y range of `values`: all of them, or the bulk between the 5th and 95th percentiles.
pub fn y_range(mut values: Vec<f64>, ignore_outliers: bool) -> (f64, f64) {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return (0.0, 1.0);
    }
    values.sort_unstable_by(f64::total_cmp);
    let (lo, hi) = if ignore_outliers && values.len() >= 20 {
        (
            quantile(&values, OUTLIER_QUANTILE),
            quantile(&values, 1.0 - OUTLIER_QUANTILE),
        )
    } else {
        (values[0], values[values.len() - 1])
    };
    pad_range(lo, hi)
}

/// The `q` quantile of sorted `values`, linearly interpolated (as d3's, which TensorBoard uses).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    match sorted.get(i + 1) {
        Some(next) => sorted[i] + (next - sorted[i]) * frac,
        None => sorted[i],
    }
}

/// The chart's title: the tag, one legend entry per run (names shortened to fit), and what is
/// not the default (smoothing weight, log scale, outliers ignored).
fn title_spans(
    t: &Theme,
    tag: &str,
    runs: &[(usize, &BoardRun)],
    opts: &ChartOptions,
    focused: bool,
    width: u16,
) -> Vec<Span<'static>> {
    let role = if focused { Role::Accent } else { Role::Title };
    let mut spans = vec![Span::styled(tag.to_string(), t.bold(role)), Span::raw("  ")];
    let mut extras = Vec::new();
    if opts.log_y {
        extras.push("log".to_string());
    }
    if opts.ignore_outliers {
        extras.push("no outliers".to_string());
    }
    let extra_w: usize = extras.iter().map(|e| e.chars().count() + 3).sum();
    // Names share what is left of the border after the tag, the samples and the extras.
    let fixed = tag.chars().count() + 6 + extra_w + runs.len() * 4;
    let names: Vec<&str> = runs.iter().map(|(_, r)| r.name.as_str()).collect();
    let room = usize::from(width).saturating_sub(fixed);
    // One run needs no legend when its name does not fit: the header names it.
    if runs.len() > 1 || names.first().is_some_and(|n| n.chars().count() <= room) {
        let shown = legend_names(&names, room);
        for (k, &(i, _)) in runs.iter().enumerate() {
            let mark = ASCII_MARKS[i % ASCII_MARKS.len()];
            let style = Style::new().fg(t.series(i)).add_modifier(Modifier::BOLD);
            spans.push(Span::styled(run_sample(t, mark), style));
            spans.push(Span::styled(format!(" {}  ", shown[k]), t.fg(Role::Muted)));
        }
    }
    for e in extras {
        spans.push(Span::styled(
            format!("{} {e} ", t.sym.sep),
            t.fg(Role::Accent),
        ));
    }
    spans
}

/// Formats an x value for `mode`: a step count, a duration since the run's start, a clock time.
pub fn x_label(mode: XMode, v: f64) -> String {
    match mode {
        // Steps are whole numbers, even between two ticks.
        XMode::Step => format::si(v.round().max(0.0)),
        XMode::Relative => format::duration(v.max(0.0)),
        XMode::Wall => wall_clock(v),
    }
}

/// Local clock time `HH:MM` of Unix seconds `v`.
fn wall_clock(v: f64) -> String {
    use chrono::TimeZone;
    if !v.is_finite() {
        return "n/a".into();
    }
    match chrono::Local.timestamp_opt(v.floor() as i64, 0) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.format("%H:%M").to_string()
        }
        chrono::LocalResult::None => "n/a".into(),
    }
}

/// A y value in at most about seven characters, from 1e-4 to 1e6 and beyond.
pub fn y_label(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        "n/a".into()
    } else if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::Point;
    use crate::tboard::{ScalarUpdate, TagTable};
    use crate::tui::theme::ColorMode;
    use crate::tui::ui::buffer_text;

    fn board(runs: &[(&str, Vec<f64>)]) -> Board {
        let mut b = Board::new(TagTable::default(), false);
        for (run, values) in runs {
            b.apply(ScalarUpdate::Points {
                run: run.to_string(),
                tag: "train/loss".into(),
                points: values
                    .iter()
                    .enumerate()
                    .map(|(i, &value)| Point {
                        step: i as i64 * 10,
                        wall_time: 1.7e9 + i as f64 * 60.0,
                        value,
                    })
                    .collect(),
                more: false,
            });
        }
        b
    }

    fn draw(b: &Board, opts: &ChartOptions, w: u16, h: u16) -> String {
        let t = Theme::builtin("dark", ColorMode::None).unwrap();
        let area = Rect::new(0, 0, w, h);
        let mut buf = Buffer::empty(area);
        tag_chart(&t, b, "train/loss", opts, true, area, &mut buf);
        buffer_text(&buf)
    }

    #[test]
    fn runs_are_overlaid_with_a_legend_and_steps_on_x() {
        let b = board(&[
            (
                "resnet/seed0",
                (0..50).map(|i| 2.0 - i as f64 * 0.03).collect(),
            ),
            (
                "resnet/seed1",
                (0..30).map(|i| 2.2 - i as f64 * 0.02).collect(),
            ),
        ]);
        let text = draw(&b, &ChartOptions::default(), 80, 14);
        let first = text.lines().next().unwrap();
        assert!(first.contains("train/loss"), "{text}");
        assert!(first.contains("seed0") && first.contains("seed1"), "{text}");
        // The x axis ends at the last step of the longer run.
        assert!(text.contains("490"), "{text}");
    }

    #[test]
    fn relative_time_starts_at_zero_and_log_scale_drops_non_positive_values() {
        let b = board(&[(".", vec![1.0, 0.0, -1.0, 0.1, 0.01])]);
        let opts = ChartOptions {
            x: XMode::Relative,
            log_y: true,
            ..ChartOptions::default()
        };
        let text = draw(&b, &opts, 80, 14);
        assert!(text.contains("0s"), "{text}");
        assert!(text.contains("4m00s"), "{text}");
        assert!(text.lines().next().unwrap().contains("log"), "{text}");
        // Only 0.01 to 1 is drawn: the labels stay within it.
        assert!(!text.contains("-1"), "{text}");
    }

    #[test]
    fn outliers_can_be_left_out_of_the_y_range() {
        let mut values: Vec<f64> = (0..100).map(|i| 1.0 + (i % 7) as f64 * 0.01).collect();
        values[50] = 1000.0;
        assert!(y_range(values.clone(), false).1 > 1000.0);
        let (lo, hi) = y_range(values, true);
        assert!(lo > 0.9 && hi < 1.2, "{lo} {hi}");
        // Too few points to call any an outlier.
        assert!(y_range(vec![1.0, 2.0, 500.0], true).1 > 500.0);
    }

    #[test]
    fn quantiles_interpolate_like_d3() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 0.25), 2.0);
        assert_eq!(quantile(&v, 0.1), 1.4);
        assert_eq!(quantile(&v, 1.0), 5.0);
    }

    #[test]
    fn labels_read_as_numbers_durations_and_clocks() {
        assert_eq!(x_label(XMode::Step, 250_000.0), "250k");
        assert_eq!(x_label(XMode::Relative, 3725.0), "1h02m");
        assert_eq!(x_label(XMode::Wall, 1.7e9).len(), 5);
        assert_eq!(y_label(0.1234), "0.123");
        assert_eq!(y_label(12.345), "12.35");
        assert_eq!(y_label(2e-5), "2.0e-5");
        assert_eq!(y_label(0.0), "0");
    }

    #[test]
    fn stage_markers_show_where_the_batch_size_grows() {
        let mut b = board(&[(".", (0..40).map(|i| 2.0 - i as f64 * 0.04).collect())]);
        b.apply(ScalarUpdate::Points {
            run: ".".into(),
            tag: "batch_size".into(),
            points: (0..40)
                .map(|i| Point {
                    step: i * 10,
                    wall_time: 1.7e9 + i as f64 * 60.0,
                    value: if i < 20 { 128.0 } else { 640.0 },
                })
                .collect(),
            more: false,
        });
        let text = draw(&b, &ChartOptions::default(), 80, 14);
        assert!(text.contains("┊B 640"), "{text}");
        // Another run changing elsewhere: no markers anyone could misread.
        b.apply(ScalarUpdate::Points {
            run: "other".into(),
            tag: "batch_size".into(),
            points: vec![
                Point {
                    step: 0,
                    wall_time: 1.7e9,
                    value: 128.0,
                },
                Point {
                    step: 50,
                    wall_time: 1.7e9 + 5.0,
                    value: 256.0,
                },
            ],
            more: false,
        });
        b.apply(ScalarUpdate::Points {
            run: "other".into(),
            tag: "train/loss".into(),
            points: vec![Point {
                step: 0,
                wall_time: 1.7e9,
                value: 1.0,
            }],
            more: false,
        });
        assert!(!draw(&b, &ChartOptions::default(), 80, 14).contains("B 640"));
    }

    #[test]
    fn an_empty_tag_says_so() {
        let b = board(&[(".", vec![f64::NAN])]);
        let text = draw(&b, &ChartOptions::default(), 60, 10);
        assert!(text.contains("no finite values yet"), "{text}");
    }
}
