//! The compare view: several runs' per-epoch curves overlaid (one colour per run, legend in the
//! title) and a table of their outcomes. Per-epoch points make runs with different batch sizes
//! line up on the epoch axis and spread apart on the update axis, which is the paper's point.
//! Both draw from an [`Overlaid`] view (theme, view options, the named runs). Must never change
//! state.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::chart::{pad_range, run_sample, Curve, CurveChart, Draw, Marker};
use super::curves::{epoch_x, x_label};
use super::{panel, put_line};
use crate::events::EpochEvent;
use crate::format;
use crate::tui::state::RunState;
use crate::tui::theme::{Role, Theme};
use crate::tui::view::ViewOptions;

const ASCII_MARKS: [char; 6] = ['*', '+', 'o', 'x', '#', '@'];

/// What the compare view draws from.
#[derive(Clone, Copy)]
pub struct Overlaid<'a> {
    /// Colours and glyphs.
    pub theme: &'a Theme,
    /// Axis, scale and window.
    pub view: &'a ViewOptions,
    /// The runs with their names, one colour each in this order.
    pub runs: &'a [(String, RunState)],
}

impl Overlaid<'_> {
    fn chart(
        self,
        area: Rect,
        buf: &mut Buffer,
        name: &str,
        value: fn(&EpochEvent) -> f64,
        percent: bool,
    ) {
        let Overlaid {
            theme: t,
            view,
            runs,
        } = self;
        let hi = runs
            .iter()
            .filter_map(|(_, r)| {
                r.progress
                    .epochs
                    .last()
                    .map(|e| epoch_x(view.x, e.epoch, e.updates))
            })
            .fold(1.0f64, f64::max);
        let window = view.window(0.0, hi);
        let log = !percent && view.log_loss;
        let mut curves = Vec::new();
        let mut head = vec![
            Span::styled(name.to_string(), t.bold(Role::Title)),
            Span::raw("  "),
        ];
        // Room for the names: the panel less its title, the samples and the axis hint.
        let fixed = name.chars().count() + 4 + 12 + runs.len() * 4;
        let names = legend_names(
            &runs.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            usize::from(area.width).saturating_sub(fixed),
        );
        for (i, (_, r)) in runs.iter().enumerate() {
            let run_name = &names[i];
            let style = Style::new().fg(t.series(i)).add_modifier(Modifier::BOLD);
            let mut pts: Vec<(f64, f64)> = r
                .progress
                .epochs
                .iter()
                .map(|e| (epoch_x(view.x, e.epoch, e.updates), value(e)))
                .filter(|p| p.1.is_finite())
                .collect();
            if log {
                for p in &mut pts {
                    p.1 = p.1.max(1e-6).log10();
                }
            }
            let mark = ASCII_MARKS[i % ASCII_MARKS.len()];
            curves.push(Curve {
                points: pts.clone(),
                style,
                draw: Draw::Line,
                ascii: mark,
            });
            curves.push(Curve {
                points: pts,
                style,
                draw: Draw::Dots,
                ascii: mark,
            });
            head.push(Span::styled(run_sample(t, mark), style));
            head.push(Span::styled(format!(" {run_name}  "), t.fg(Role::Muted)));
        }
        head.push(Span::styled(
            format!("x: {}", view.x.label()),
            t.fg(Role::Muted),
        ));
        if log {
            head.push(Span::styled(
                format!(" {} log", t.sym.sep),
                t.fg(Role::Accent),
            ));
        }
        let (lo, hi_y) = curves
            .iter()
            .flat_map(|c| c.points.iter())
            .filter(|p| p.0 >= window.0 && p.0 <= window.1)
            .fold((f64::MAX, f64::MIN), |(lo, hi), p| {
                (lo.min(p.1), hi.max(p.1))
            });
        let y = if lo <= hi_y {
            pad_range(lo, hi_y)
        } else {
            (0.0, 1.0)
        };
        let y = if percent {
            (y.0.max(0.0), y.1.min(1.0).max(y.0.max(0.0) + 0.01))
        } else {
            y
        };
        let x_fmt = move |v: f64| x_label(view.x, v);
        let y_fmt = move |v: f64| {
            if percent {
                format!("{:.0}%", v * 100.0)
            } else {
                let v = if log { 10f64.powf(v) } else { v };
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
            markers: Vec::<Marker>::new(),
            empty: "no finished epochs in these runs".into(),
            theme: t,
        }
        .render(area, buf);
    }

    /// Train loss per epoch of every run.
    pub fn loss_chart(self, area: Rect, buf: &mut Buffer) {
        self.chart(area, buf, "Train loss per epoch", |e| e.train_loss, false);
    }

    /// Test accuracy per epoch of every run.
    pub fn acc_chart(self, area: Rect, buf: &mut Buffer) {
        self.chart(area, buf, "Test accuracy per epoch", |e| e.test_acc, true);
    }

    /// Test loss per epoch of every run.
    pub fn test_loss_chart(self, area: Rect, buf: &mut Buffer) {
        self.chart(area, buf, "Test loss per epoch", |e| e.test_loss, false);
    }

    /// The `k`-th of the comparison's charts (train loss, test accuracy, test loss, round
    /// again): what the chart key steps through.
    pub fn nth_chart(self, k: usize, area: Rect, buf: &mut Buffer) {
        match k % 3 {
            0 => self.loss_chart(area, buf),
            1 => self.acc_chart(area, buf),
            _ => self.test_loss_chart(area, buf),
        }
    }

    /// One row per run: epochs, updates (vs the decay-LR baseline), accuracy, wall time, schedule;
    /// the best-accuracy and time columns go first when the panel is narrow.
    pub fn table(self, area: Rect, buf: &mut Buffer) {
        let Overlaid { theme: t, runs, .. } = self;
        let block = panel(t, vec![Span::styled("Runs", t.bold(Role::Title))]);
        let inner = block.inner(area);
        block.render(area, buf);
        let name_w = runs
            .iter()
            .map(|(n, _)| n.chars().count())
            .max()
            .unwrap_or(4)
            .clamp(4, 28);
        let wide = usize::from(inner.width) >= name_w + 90;
        let head = if wide {
            format!(
                "  {:<name_w$}  {:>6}  {:>15}  {:>8}  {:>8}  {:>7}  {}",
                "run", "epochs", "updates (base)", "test", "best", "time", "schedule"
            )
        } else {
            format!(
                "  {:<name_w$}  {:>6}  {:>15}  {:>8}  {}",
                "run", "epochs", "updates (base)", "test", "schedule"
            )
        };
        put_line(buf, inner, 0, &Line::styled(head, t.fg(Role::Muted)));
        for (i, (name, r)) in runs.iter().enumerate() {
            let style = Style::new().fg(t.series(i)).add_modifier(Modifier::BOLD);
            let base = r
                .progress
                .started
                .as_ref()
                .map_or(0, |s| s.baseline_updates);
            let test = r
                .progress
                .epochs
                .last()
                .map_or("n/a".into(), |e| format::pct(e.test_acc));
            let best = r
                .best_test_acc()
                .map_or("n/a".into(), |(a, _)| format::pct(a));
            let time = r
                .progress
                .finished
                .as_ref()
                .map_or(r.progress.t, |s| s.wall);
            let name: String = name.chars().take(name_w).collect();
            let status = if r.progress.failed.is_some() {
                " (failed)"
            } else if r.progress.finished.is_none() {
                " (unfinished)"
            } else {
                ""
            };
            let updates = format!(
                "{} ({})",
                format::count(r.update()),
                format::si(base as f64)
            );
            let sched = schedule_text(t, r);
            let rest = if wide {
                format!(
                    "  {:>6}  {updates:>15}  {test:>8}  {best:>8}  {:>7}  {sched}{status}",
                    r.progress.epochs.len(),
                    format::duration(time),
                )
            } else {
                format!(
                    "  {:>6}  {updates:>15}  {test:>8}  {sched}{status}",
                    r.progress.epochs.len()
                )
            };
            let mark = if t.ascii || t.colourless() {
                ASCII_MARKS[i % ASCII_MARKS.len()].to_string()
            } else {
                "●".to_string()
            };
            let line = Line::from(vec![
                Span::styled(format!("{mark} "), style),
                Span::styled(format!("{name:<name_w$}"), t.bold(Role::Fg)),
                Span::styled(rest, t.fg(Role::Fg)),
            ]);
            put_line(buf, inner, 1 + i as u16, &line);
        }
    }
}

/// The runs' names for a legend with `room` characters for the names: whole when they fit, else without the
/// words they all share at the start and end, else those cut to a length that still tells them
/// apart, else their numbers in the table's order.
pub fn legend_names(names: &[&str], room: usize) -> Vec<String> {
    let fits = |v: &[String]| v.iter().map(|n| n.chars().count()).sum::<usize>() <= room;
    let whole: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    if fits(&whole) {
        return whole;
    }
    let words: Vec<Vec<&str>> = names.iter().map(|n| n.split('-').collect()).collect();
    let shortest = words.iter().map(Vec::len).min().unwrap_or(0);
    let shared = |at: &dyn Fn(&Vec<&str>, usize) -> String| {
        (0..shortest)
            .take_while(|&k| words.iter().all(|w| at(w, k) == at(&words[0], k)))
            .count()
    };
    let lead = shared(&|w, k| w[k].to_string());
    let tail = shared(&|w, k| w[w.len() - 1 - k].to_string());
    let stripped: Vec<String> = words
        .iter()
        .map(|w| {
            let end = w.len().saturating_sub(tail).max(lead);
            let core = w[lead..end].join("-");
            if core.is_empty() {
                w.join("-")
            } else {
                core
            }
        })
        .collect();
    let distinct = |v: &[String]| {
        let mut seen = std::collections::HashSet::new();
        v.iter().all(|n| seen.insert(n.clone()))
    };
    if names.len() > 1 && distinct(&stripped) && fits(&stripped) {
        return stripped;
    }
    let base = if distinct(&stripped) { stripped } else { whole };
    let longest = base.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    for len in (3..longest).rev() {
        let cut: Vec<String> = base
            .iter()
            .map(|n| match n.chars().count() > len {
                true => format!("{}…", n.chars().take(len - 1).collect::<String>()),
                false => n.clone(),
            })
            .collect();
        if distinct(&cut) && fits(&cut) {
            return cut;
        }
    }
    (1..=names.len()).map(|i| format!("#{i}")).collect()
}

/// How a run's schedule changed: the batch sizes, the learning rates, or both.
fn schedule_text(t: &Theme, r: &RunState) -> String {
    let rows = r.stage_rows();
    let bs: Vec<String> = rows.iter().map(|s| s.plan.batch.to_string()).collect();
    let lrs: Vec<String> = rows.iter().map(|s| format::lr(s.plan.lr)).collect();
    let varies = |v: &[String]| v.windows(2).any(|w| w[0] != w[1]);
    let a = t.sym.arrow;
    match (varies(&bs), varies(&lrs)) {
        (true, false) | (false, false) => format!("B {}", bs.join(a)),
        (false, true) => format!(
            "B {} {} {}",
            bs.first().cloned().unwrap_or_default(),
            t.sym.lr,
            lrs.join(a)
        ),
        (true, true) => format!("B {} {} {}", bs.join(a), t.sym.lr, lrs.join(a)),
    }
}

#[cfg(test)]
mod tests {
    use super::legend_names;

    #[test]
    fn legend_names_are_whole_or_tell_the_runs_apart() {
        let names = ["paper-increase-batch-s0", "paper-decay-lr-s0"];
        assert_eq!(legend_names(&names, 100), names.map(String::from).to_vec());
        assert_eq!(legend_names(&names, 24), vec!["increase-batch", "decay-lr"]);
        let cut = legend_names(&names, 10);
        assert_ne!(cut[0], cut[1]);
        assert!(
            cut.iter().map(|n| n.chars().count()).sum::<usize>() <= 10,
            "{cut:?}"
        );
        assert_eq!(legend_names(&names, 2), vec!["#1", "#2"]);
        // Runs that differ only in their seed are told apart by it.
        let seeds = ["adaptive-s0", "adaptive-s1"];
        assert_eq!(legend_names(&seeds, 6), vec!["s0", "s1"]);
    }
}
