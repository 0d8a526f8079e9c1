//! Header (run, status), footer (key hints), progress, resources and the notable-events log.
//! Every figure is computed from event times, never from a clock. Each draws from the theme and
//! its own part of the state ([`Header`] and [`Footer`] are those views). Must never change state.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::{bar, ellipsize, first_fitting, panel, put_line, sparkline, wrap};
use crate::format;
use crate::series::XAxis;
use crate::tui::keys::{Action, KeyMap};
use crate::tui::mode::{Controls, Mode, Playback, Status};
use crate::tui::state::{file_name, tags, Level, RunState};
use crate::tui::theme::{Role, Theme};

/// The colour of a status.
pub fn status_style(theme: &Theme, s: Status) -> Style {
    let role = match s {
        Status::WarmingUp | Status::Ended => Role::Muted,
        Status::Running | Status::Finished => Role::Good,
        Status::Pausing | Status::Paused | Status::Resuming | Status::Stopping => Role::Warn,
        Status::Checkpointing => Role::Accent,
        Status::Failed => Role::Bad,
    };
    theme.bold(role)
}

/// Spans laid out with `left` at the start and `right` flush right in `width` cells.
pub fn spread<'a>(left: Vec<Span<'a>>, right: Vec<Span<'a>>, width: u16) -> Line<'a> {
    let lw: usize = left.iter().map(Span::width).sum();
    let rw: usize = right.iter().map(Span::width).sum();
    let mut spans = left;
    if lw + rw < usize::from(width) {
        spans.push(Span::raw(" ".repeat(usize::from(width) - lw - rw)));
        spans.extend(right);
    } else if rw < usize::from(width) {
        // Not enough room for both: the status (right) wins, the left side is cut.
        let keep = usize::from(width) - rw - 1;
        let mut out = Vec::new();
        let mut used = 0;
        for s in spans {
            if used >= keep {
                break;
            }
            let text: String = s.content.chars().take(keep - used).collect();
            used += text.chars().count();
            out.push(Span::styled(text, s.style));
        }
        out.push(Span::raw(" ".repeat(usize::from(width) - used - rw)));
        out.extend(right);
        spans = out;
    }
    Line::from(spans)
}

/// The header's view: program, title, what the source says about the run (or the runs), the
/// status on the right. Details that do not fit are left out, least useful first.
pub struct Header<'a> {
    /// Colours and glyphs.
    pub theme: &'a Theme,
    /// The UI's title.
    pub title: &'a str,
    /// The source and its state.
    pub mode: &'a Mode,
    /// Ticker periods seen, for the spinner.
    pub tick: u64,
}

impl Header<'_> {
    /// Details about one run, with priorities: lower numbers are kept longer.
    fn run_details(&self, run: &RunState) -> Vec<(u8, String, Style)> {
        let t = self.theme;
        let muted = t.fg(Role::Muted);
        let mut details = Vec::new();
        if let Some(r) = &run.progress.started {
            if r.name != self.title {
                details.push((0, r.name.clone(), t.fg(Role::Fg)));
            }
            details.push((
                1,
                format!("{} ({} params)", r.model, format::si(r.params as f64)),
                muted,
            ));
            details.push((2, r.device.clone(), muted));
            if r.workers.len() > 1 {
                let mut hosts: Vec<&str> = r.workers.iter().map(|w| w.host.as_str()).collect();
                hosts.sort_unstable();
                hosts.dedup();
                details.push((
                    2,
                    format!(
                        "{} workers on {}",
                        r.workers.len(),
                        format::counted(hosts.len() as u64, "machine")
                    ),
                    muted,
                ));
            }
            details.push((3, format!("data {}", r.data), muted));
        }
        details
    }

    fn playback_span(&self, p: &Playback) -> Span<'static> {
        let t = self.theme;
        let speed = p.speed().map_or("max".to_string(), |s| {
            format!("{}{}", t.sym.times, format::si(s))
        });
        let state = if p.paused() {
            "replay paused"
        } else {
            "replay"
        };
        Span::styled(
            format!("{state} {speed} {:.0}%  ", p.progress() * 100.0),
            t.fg(Role::Accent),
        )
    }

    fn status_span(&self, status: Status) -> Span<'static> {
        let t = self.theme;
        let dot = if status == Status::WarmingUp {
            t.sym.spinner_frame(self.tick)
        } else {
            t.sym.dot
        };
        Span::styled(
            format!("{dot} {} ", status.label()),
            status_style(t, status),
        )
    }
}

impl Widget for Header<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let t = self.theme;
        let muted = t.fg(Role::Muted);
        let left = vec![
            Span::styled(
                " batchramp ",
                t.bold(Role::Accent).add_modifier(Modifier::REVERSED),
            ),
            Span::raw(" "),
            Span::styled(self.title.to_string(), t.bold(Role::Fg)),
        ];
        // (priority, text, style): lower priority numbers are kept longer.
        let (details, right) = match self.mode {
            Mode::Compare(m) => (
                vec![(0, format!("{} runs", m.runs().len()), muted)],
                Vec::new(),
            ),
            Mode::Live(m) => (
                self.run_details(m.run()),
                vec![self.status_span(m.status())],
            ),
            Mode::Follow(m) => (
                self.run_details(m.run()),
                vec![
                    Span::styled("following log  ", t.fg(Role::Accent)),
                    self.status_span(m.status()),
                ],
            ),
            Mode::Replay(m) => (
                self.run_details(m.run()),
                vec![
                    self.playback_span(m.playback()),
                    self.status_span(m.status()),
                ],
            ),
        };
        let sep_w = t.sym.sep.chars().count() + 2;
        let used: usize = left
            .iter()
            .chain(right.iter())
            .map(Span::width)
            .sum::<usize>()
            + 1;
        let mut room = usize::from(area.width).saturating_sub(used);
        let mut keep = vec![false; details.len()];
        let mut order: Vec<usize> = (0..details.len()).collect();
        order.sort_by_key(|&i| details[i].0);
        for i in order {
            let w = details[i].1.chars().count() + sep_w;
            // Strict priority: a detail never shows when a more useful one did not fit.
            if w > room {
                break;
            }
            keep[i] = true;
            room -= w;
        }
        let mut spans = left;
        for (i, (_, text, style)) in details.into_iter().enumerate() {
            if keep[i] {
                spans.push(Span::styled(format!(" {} ", t.sym.sep), muted));
                spans.push(Span::styled(text, style));
            }
        }
        spread(spans, right, area.width)
            .style(t.base())
            .render(area, buf);
    }
}

/// The footer's view: key hints for what the keys control here, or the latest message.
pub struct Footer<'a> {
    /// Colours and glyphs.
    pub theme: &'a Theme,
    /// The bindings the hints name.
    pub keys: &'a KeyMap,
    /// What the keys act on besides the view.
    pub controls: Controls,
    /// The trainer or the playback is paused: the pause key resumes.
    pub paused: bool,
    /// The one-line message, shown first.
    pub flash: Option<&'a str>,
    /// The current x axis (the hint names the other one).
    pub x: XAxis,
}

impl Widget for Footer<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let t = self.theme;
        let key = |s: String| Span::styled(s, t.bold(Role::Accent));
        let txt = |s: &str| Span::styled(format!(" {s}  "), t.fg(Role::Muted));
        let mut spans = Vec::new();
        if let Some(msg) = self.flash {
            spans.push(Span::styled(format!(" {msg}  "), t.bold(Role::Warn)));
        }
        let mut hint = |a: Action, s: &str| {
            spans.push(key(self.keys.hint(a)));
            spans.push(txt(s));
        };
        match self.controls {
            Controls::Trainer => {
                hint(Action::Pause, if self.paused { "resume" } else { "pause" });
                hint(Action::Checkpoint, "checkpoint");
            }
            Controls::Playback => {
                hint(Action::Pause, if self.paused { "play" } else { "pause" });
                hint(Action::SeekStart, "start");
                hint(Action::SeekEnd, "end");
            }
            Controls::ReadOnly => {}
        }
        hint(Action::Quit, "quit");
        hint(
            Action::XAxis,
            if self.x == XAxis::Updates {
                "epochs"
            } else {
                "updates"
            },
        );
        hint(Action::LogScale, "log");
        hint(Action::Smooth, "smooth");
        hint(Action::NextPanel, "chart");
        hint(Action::Help, "help");
        Line::from(spans).style(t.base()).render(area, buf);
    }
}

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

fn level_style(t: &Theme, l: Level) -> Style {
    match l {
        Level::Info => t.fg(Role::Fg),
        Level::Good => t.fg(Role::Good),
        Level::Warn => t.fg(Role::Warn),
        Level::Bad => t.bold(Role::Bad),
    }
}

/// The latest notable event whole, wrapped into at most `rows` lines of `width` (the compact
/// layout gives it the resources' line once the run is over, so why it ended is never cut).
pub fn latest_event_lines(
    t: &Theme,
    run: &RunState,
    width: u16,
    rows: usize,
) -> Vec<Line<'static>> {
    let Some(l) = run.log.back() else {
        return vec![latest_event_line(t, run, width)];
    };
    let clock = format!("{} ", format::clock(l.t));
    let room = usize::from(width).saturating_sub(clock.chars().count());
    let mut parts = wrap(&l.text, room);
    if parts.len() > rows {
        let rest = parts.split_off(rows - 1).join(" ");
        parts.push(ellipsize(t, &rest, room, false));
    }
    parts
        .into_iter()
        .enumerate()
        .map(|(k, part)| {
            let lead = if k == 0 {
                clock.clone()
            } else {
                " ".repeat(clock.chars().count())
            };
            Line::from(vec![
                Span::styled(lead, t.fg(Role::Muted)),
                Span::styled(part, level_style(t, l.level)),
            ])
        })
        .collect()
}

/// One line for the compact layout: the failure, else the latest notable event, else the checkpoint.
pub fn latest_event_line(t: &Theme, run: &RunState, width: u16) -> Line<'static> {
    let muted = t.fg(Role::Muted);
    if let Some(msg) = &run.progress.failed {
        return Line::from(vec![
            Span::styled("failed: ", t.bold(Role::Bad)),
            Span::styled(msg.clone(), t.fg(Role::Bad)),
        ]);
    }
    let Some(l) = run.log.back() else {
        return Line::styled("no warnings, no checkpoint yet", muted);
    };
    let room = usize::from(width).saturating_sub(8);
    Line::from(vec![
        Span::styled(format!("{} ", format::clock(l.t)), muted),
        Span::styled(ellipsize(t, &l.text, room, false), level_style(t, l.level)),
    ])
}

/// The events panel: last checkpoint, warning count, then the newest log lines.
pub fn events(t: &Theme, run: &RunState, area: Rect, buf: &mut Buffer) {
    let mut head = vec![Span::styled("Events", t.bold(Role::Title))];
    if run.log.warnings > 0 {
        head.push(Span::styled(
            format!(
                "  {} warning{}",
                run.log.warnings,
                if run.log.warnings == 1 { "" } else { "s" }
            ),
            t.bold(Role::Warn),
        ));
    }
    let block = panel(t, head);
    let inner = block.inner(area);
    block.render(area, buf);
    let w = usize::from(inner.width);
    let mut row = 0;
    let ck = match &run.log.checkpoint {
        Some(c) => Line::from(vec![
            Span::styled("checkpoint ", t.fg(Role::Muted)),
            Span::styled(
                ellipsize(t, file_name(&c.path), w.saturating_sub(11), true),
                t.fg(Role::Good),
            ),
        ]),
        None => Line::styled("checkpoint: none yet", t.fg(Role::Muted)),
    };
    put_line(buf, inner, row, &ck);
    row += 1;
    // Every line whole (a failure is among them), wrapped under its time; the newest that fit.
    let room = usize::from(inner.height.saturating_sub(row));
    let mut log_rows: Vec<Line<'static>> = Vec::new();
    for l in run.log.iter().rev() {
        if log_rows.len() >= room {
            break;
        }
        let parts = wrap(&l.text, w.saturating_sub(6));
        let mut lines: Vec<Line<'static>> = parts
            .into_iter()
            .enumerate()
            .map(|(k, part)| {
                let lead = if k == 0 {
                    Span::styled(format!("{} ", format::clock(l.t)), t.fg(Role::Muted))
                } else {
                    Span::raw("      ")
                };
                Line::from(vec![lead, Span::styled(part, level_style(t, l.level))])
            })
            .collect();
        lines.extend(log_rows);
        log_rows = lines;
    }
    // The oldest rows give way first.
    let skip = log_rows.len().saturating_sub(room);
    for line in log_rows.into_iter().skip(skip) {
        put_line(buf, inner, row, &line);
        row += 1;
    }
    if run.log.is_empty() && run.progress.failed.is_none() {
        put_line(
            buf,
            inner,
            row,
            &Line::styled("nothing notable yet", t.fg(Role::Muted)),
        );
    }
}

/// A bordered panel with `lines`.
pub fn lines_panel(
    theme: &Theme,
    title: &str,
    lines: &[Line<'static>],
    area: Rect,
    buf: &mut Buffer,
) {
    let block = panel(
        theme,
        vec![Span::styled(title.to_string(), theme.bold(Role::Title))],
    );
    let inner = block.inner(area);
    block.render(area, buf);
    for (i, l) in lines.iter().enumerate() {
        put_line(buf, inner, i as u16, l);
    }
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
