//! The progress panel: epoch bar, updates against the plan, throughput, elapsed and ETA,
//! updates saved and the latest metrics, every figure from event times. Must never change state.

use ratatui::text::{Line, Span};

use crate::format;
use crate::tui::state::{tags, RunState};
use crate::tui::theme::{Role, Theme};
use crate::tui::widgets::{bar, first_fitting, sparkline};

/// Progress lines: epoch bar, updates against the plan, throughput, elapsed and ETA, updates saved.
pub fn progress_lines(t: &Theme, run: &RunState, width: u16, compact: bool) -> Vec<Line<'static>> {
    let muted = t.fg(Role::Muted);
    let fg = t.fg(Role::Fg);
    let strong = t.bold(Role::Fg);
    let total = run.total_epochs();
    let pos = run.epoch_pos();
    let frac = if total > 0 { pos / total as f64 } else { 0.0 };
    let mut lines = Vec::new();

    let bar_w = if compact {
        14
    } else {
        usize::from(width).saturating_sub(30).clamp(8, 40)
    };
    let mut l1 = vec![
        Span::styled("epoch ", muted),
        Span::styled(format!("{pos:.1}"), strong),
        Span::styled(format!("/{total} "), muted),
    ];
    l1.extend(bar(t, frac, bar_w, Role::Accent));
    l1.push(Span::styled(format!(" {:>3.0}%", frac * 100.0), fg));
    let upd = vec![
        Span::styled("  update ", muted),
        Span::styled(format::count(run.update()), strong),
        Span::styled(format!("/{}", format::count(run.planned_updates())), muted),
    ];
    let ips = run.images_per_sec();
    let ips_text = ips.map_or("n/a".into(), format::si);
    // The full layout's line: the updates, three spaces, the rate; the trend takes what is
    // left, short of the panel's edge.
    let spark_w = if compact {
        8
    } else {
        let used: usize = upd.iter().map(Span::width).sum::<usize>() + 1 + ips_text.len() + 7;
        usize::from(width).saturating_sub(used + 1).min(16)
    };
    let ips_spans = vec![
        Span::styled(if compact { "  " } else { "" }, muted),
        Span::styled(ips_text, strong),
        Span::styled(" img/s ", muted),
        Span::styled(
            sparkline(
                t,
                &run.curves.track(tags::IMAGES_PER_SEC).tail(400),
                spark_w,
            ),
            t.fg(Role::Accent),
        ),
    ];
    if compact {
        l1.extend(upd);
        l1.extend(ips_spans);
        lines.push(Line::from(l1));
    } else {
        lines.push(Line::from(l1));
        let mut l2 = upd;
        l2.remove(0);
        l2.insert(0, Span::styled("update ", muted));
        l2.push(Span::styled("   ", muted));
        l2.extend(ips_spans);
        lines.push(Line::from(l2));
    }

    let mut time = Vec::new();
    match (&run.progress.finished, run.eta()) {
        (Some(s), _) => {
            time.push(Span::styled("took ", muted));
            time.push(Span::styled(format::duration(s.wall), strong));
        }
        (None, eta) => {
            time.push(Span::styled("elapsed ", muted));
            time.push(Span::styled(format::duration(run.progress.t), strong));
            time.push(Span::styled("  ETA ", muted));
            time.push(Span::styled(
                eta.map_or("n/a".into(), format::duration),
                strong,
            ));
            if let Some(e) = &run.progress.evaluating {
                let count = format!(
                    "{}/{}",
                    format::count(e.done as u64),
                    format::count(e.total as u64)
                );
                let with = |label: &'static str| {
                    let mut v = time.clone();
                    v.push(Span::styled(label, t.fg(Role::Accent)));
                    v.push(Span::styled(count.clone(), strong));
                    v
                };
                // In the compact layout the updates saved and the loss trend share the line.
                let room = if compact {
                    usize::from(width).saturating_sub(26)
                } else {
                    usize::from(width)
                };
                time = first_fitting(
                    vec![with("  evaluating "), with("  eval "), time.clone()],
                    room,
                );
            }
        }
    }
    if compact {
        time.push(Span::styled(format!("  {}  ", t.sym.sep), muted));
        let used: usize = time.iter().map(Span::width).sum();
        // The short wording: the loss trend may want the rest of the line.
        time.extend(saved_spans(
            t,
            run,
            usize::from(width).saturating_sub(used).min(26),
        ));
        // The loss trend, when there is room left on the line.
        let used: usize = time.iter().map(Span::width).sum();
        let spark_w = usize::from(width).saturating_sub(used + 14).min(16);
        if spark_w >= 6 && !run.curves.track(tags::LOSS_EMA).is_empty() {
            time.push(Span::styled(format!("  {}  loss ", t.sym.sep), muted));
            time.push(Span::styled(
                sparkline(t, &run.curves.track(tags::LOSS_EMA).tail(400), spark_w),
                t.fg(Role::Loss),
            ));
        }
        lines.push(Line::from(time));
    } else {
        lines.push(Line::from(time));
        lines.push(Line::from(saved_spans(t, run, usize::from(width))));
        lines.push(Line::from(plan_spans(t, run, usize::from(width))));
        lines.push(Line::from(metric_spans(t, run, usize::from(width))));
    }
    lines
}

/// Updates saved so far against the decay-LR baseline, in the longest wording that fits `width`
/// (never cut mid-sentence). The share is of the rounded count, so "0 updates" never reads "(1%)".
fn saved_spans(t: &Theme, run: &RunState, width: usize) -> Vec<Span<'static>> {
    let muted = t.fg(Role::Muted);
    let Some(base) = run.baseline_updates_now() else {
        return vec![Span::styled("updates saved: n/a", muted)];
    };
    let base = base.round().max(0.0) as u64;
    let saved = base.saturating_sub(run.update());
    let share = match (saved, base) {
        (0, _) | (_, 0) => "0%".to_string(),
        (s, b) if s * 100 < b => "<1%".to_string(),
        (s, b) if s < b && s * 100 >= b * 99 => ">99%".to_string(),
        (s, b) => format!("{:.0}%", s as f64 / b as f64 * 100.0),
    };
    let n = format::count(saved);
    let at = format::count(base);
    let wording = |lead: &'static str, rest: String| {
        vec![
            Span::styled(lead, muted),
            Span::styled(n.clone(), t.bold(Role::Good)),
            Span::styled(rest, muted),
        ]
    };
    first_fitting(
        vec![
            wording(
                "saved vs decay-LR ",
                format!(" updates ({share}), it would be at {at}"),
            ),
            wording("saved vs decay-LR ", format!(" updates ({share})")),
            wording("saved ", format!(" updates ({share})")),
            wording("saved ", format!(" ({share})")),
        ],
        width,
    )
}

/// The plan against decay-LR (what the run did, once it is done), in the longest wording that
/// fits `width`.
fn plan_spans(t: &Theme, run: &RunState, width: usize) -> Vec<Span<'static>> {
    let muted = t.fg(Role::Muted);
    let Some(r) = &run.progress.started else {
        return vec![Span::styled("plan: n/a", muted)];
    };
    // What the run did once it is done; until then the plan as the stages known now make it.
    let planned = run.planned_updates();
    let cut = if r.baseline_updates > 0 {
        100.0 * (1.0 - planned as f64 / r.baseline_updates as f64)
    } else {
        0.0
    };
    let lead = if run.progress.finished.is_some() {
        "took "
    } else {
        "plan "
    };
    // Decay-LR itself, or an adaptive run that has not planned its later stages yet.
    let verdict = if cut >= 0.5 {
        Span::styled(format!("(-{cut:.0}%)"), t.bold(Role::Good))
    } else {
        Span::styled("(the same)", muted)
    };
    let n = format::count(planned);
    let base = format::count(r.baseline_updates as u64);
    let wording = |updates: &'static str, vs: &'static str| {
        vec![
            Span::styled(lead, muted),
            Span::styled(n.clone(), t.fg(Role::Fg)),
            Span::styled(format!("{updates} vs "), muted),
            Span::styled(base.clone(), t.fg(Role::Fg)),
            Span::styled(vs, muted),
            verdict.clone(),
        ]
    };
    first_fitting(
        vec![
            wording(" updates", " for decay-LR "),
            wording("", " for decay-LR "),
            wording("", " "),
        ],
        width,
    )
}

/// The last epoch's loss and test accuracy and the best so far, in the longest wording that fits
/// `width`.
fn metric_spans(t: &Theme, run: &RunState, width: usize) -> Vec<Span<'static>> {
    let muted = t.fg(Role::Muted);
    let mut last = Vec::new();
    if let Some(e) = run.progress.epochs.last() {
        last.push(Span::styled(format!("epoch {}: loss ", e.epoch), muted));
        last.push(Span::styled(
            format!("{:.3}", e.train_loss),
            t.fg(Role::Loss),
        ));
        last.push(Span::styled(" test ", muted));
        last.push(Span::styled(format::pct(e.test_acc), t.bold(Role::TestAcc)));
    }
    let Some((best, ep)) = run.best_test_acc() else {
        return if last.is_empty() {
            vec![Span::styled("no epoch finished yet", muted)]
        } else {
            last
        };
    };
    let with = |tail: String| {
        let mut v = last.clone();
        v.push(Span::styled(tail, muted));
        v
    };
    first_fitting(
        vec![
            with(format!("  best {} (epoch {ep})", format::pct(best))),
            with(format!("  best {}", format::pct(best))),
            last.clone(),
        ],
        width,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::fixture;
    use crate::tui::theme::ColorMode;

    fn text(spans: &[Span<'_>]) -> String {
        spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn updates_saved_fit_their_width_and_agree_with_their_share() {
        let t = Theme::builtin("dark", ColorMode::TrueColor).unwrap();
        let all = fixture::demo_records();
        let late = RunState::from_records(&all);
        let wide = text(&saved_spans(&t, &late, 200));
        assert!(
            wide.starts_with("saved vs decay-LR ") && wide.contains(", it would be at "),
            "{wide}"
        );
        for width in [20, 30, 40, 50, 60] {
            let s = text(&saved_spans(&t, &late, width));
            assert!(s.chars().count() <= width, "{width}: {s}");
            assert!(
                s.ends_with("%)") || s.contains("it would be at"),
                "never cut: {s}"
            );
        }
        // Before any update is saved the share is 0%, whatever the rounding.
        let early = RunState::from_records(&fixture::cut_at_update(&all, 3));
        let s = text(&saved_spans(&t, &early, 200));
        assert!(s.contains(" 0 updates (0%)"), "{s}");
    }
}
