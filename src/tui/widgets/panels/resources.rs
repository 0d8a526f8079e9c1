//! The resources panel: device memory, GPU, CPU and RSS, and a data-parallel run's workers, as
//! the run's resource events describe them. Must never sample anything or change state.

use ratatui::text::{Line, Span};

use crate::format;
use crate::tui::state::RunState;
use crate::tui::theme::{Role, Theme};
use crate::tui::widgets::{bar, first_fitting, sparkline};

/// Resource lines: device memory, GPU util/temp/power, CPU and RSS; "n/a" with the reason otherwise.
pub fn resource_lines(t: &Theme, run: &RunState, width: u16, compact: bool) -> Vec<Line<'static>> {
    let muted = t.fg(Role::Muted);
    let strong = t.bold(Role::Fg);
    let Some(r) = &run.resources.last else {
        return vec![Line::from(vec![
            Span::styled("resources ", muted),
            Span::styled("n/a", strong),
            Span::styled(format!(" {} no sample yet", t.sym.sep), muted),
        ])];
    };
    let mut lines = Vec::new();
    if let (Some(used), Some(total)) = (r.device_used, r.device_total) {
        let mut l = vec![Span::styled("GPU mem ", muted)];
        let frac = if total > 0 {
            used as f64 / total as f64
        } else {
            0.0
        };
        let role = if frac > 0.9 { Role::Warn } else { Role::Accent };
        l.extend(bar(
            t,
            frac,
            if compact {
                8
            } else {
                usize::from(width).saturating_sub(32).clamp(6, 20)
            },
            role,
        ));
        l.push(Span::styled(
            format!(" {} / {}", format::bytes(used), format::bytes(total)),
            strong,
        ));
        lines.push(l);
    } else if let Some(used) = r.device_used {
        lines.push(vec![
            Span::styled("GPU mem ", muted),
            Span::styled(format::bytes(used), strong),
        ]);
    }
    let mut gpu = Vec::new();
    if let Some(u) = r.gpu_util {
        gpu.push(Span::styled("util ", muted));
        gpu.push(Span::styled(format!("{u:.0}%"), strong));
    }
    if let Some(c) = r.gpu_temp {
        gpu.push(Span::styled(" temp ", muted));
        gpu.push(Span::styled(
            format!("{c:.0}°C").replace('°', if t.ascii { "" } else { "°" }),
            strong,
        ));
    }
    if let Some(w) = r.gpu_power {
        gpu.push(Span::styled(" power ", muted));
        gpu.push(Span::styled(format!("{w:.0} W"), strong));
    }
    if !gpu.is_empty() {
        gpu.insert(0, Span::styled("GPU ", muted));
        lines.push(gpu);
    }
    let mut cpu = Vec::new();
    if let Some(c) = r.cpu_percent {
        cpu.push(Span::styled("CPU ", muted));
        cpu.push(Span::styled(format!("{c:.0}%"), strong));
    }
    if let Some(rss) = r.rss {
        cpu.push(Span::styled(" RSS ", muted));
        cpu.push(Span::styled(format::bytes(rss), strong));
    }
    if !cpu.is_empty() {
        if !run.resources.util.is_empty() {
            let vals: Vec<f64> = run.resources.util.iter().copied().collect();
            cpu.push(Span::raw(" "));
            cpu.push(Span::styled(
                sparkline(t, &vals, if compact { 8 } else { 16 }),
                t.fg(Role::Accent),
            ));
        }
        lines.push(cpu);
    }
    if lines.is_empty() {
        let why = r
            .note
            .clone()
            .unwrap_or_else(|| "the trainer reported no figures".into());
        return vec![Line::from(vec![
            Span::styled("resources ", muted),
            Span::styled("n/a", strong),
            Span::styled(format!(" {} {why}", t.sym.sep), muted),
        ])];
    }
    if let Some(note) = &r.note {
        lines.push(vec![Span::styled(note.clone(), muted)]);
    }
    // In the compact layout the line is shared: the short wording.
    let room = if compact { 28 } else { usize::from(width) };
    lines.extend(workers_spans(t, run, room));
    if compact {
        // One line: join with separators.
        let mut joined = Vec::new();
        for (i, l) in lines.into_iter().enumerate() {
            if i > 0 {
                joined.push(Span::styled(format!(" {} ", t.sym.sep), muted));
            }
            joined.extend(l);
        }
        return vec![Line::from(joined)];
    }
    lines.into_iter().map(Line::from).collect()
}

/// A data-parallel run's workers: how many, how many had micro-batches in the latest update
/// (min(workers, micro-batches)), and the share of update time spent combining their work; the
/// longest wording that fits `width`.
fn workers_spans(t: &Theme, run: &RunState, width: usize) -> Option<Vec<Span<'static>>> {
    let muted = t.fg(Role::Muted);
    let strong = t.bold(Role::Fg);
    let world = run.progress.started.as_ref().map_or(0, |r| r.workers.len());
    if world < 2 {
        return None;
    }
    let busy = run
        .progress
        .step
        .as_ref()
        .and_then(|s| s.parallel)
        .map(|p| p.busy)
        .filter(|&b| b < world)
        .map_or(String::new(), |b| format!(" ({b} busy)"));
    let share = run.resources.parallel.comm_share();
    let wording = |tail: &'static str| {
        let mut w = vec![
            Span::styled("workers ", muted),
            Span::styled(world.to_string(), strong),
        ];
        if !busy.is_empty() {
            w.push(Span::styled(busy.clone(), muted));
        }
        if let Some(share) = share {
            w.push(Span::styled(" comm ", muted));
            w.push(Span::styled(format!("{:.0}%", 100.0 * share), strong));
            if !tail.is_empty() {
                w.push(Span::styled(tail, muted));
            }
        }
        w
    };
    Some(first_fitting(
        vec![wording(" of update time"), wording("")],
        width,
    ))
}
