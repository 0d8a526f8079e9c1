//! The header: program, run title, what the source says about the run, and its status on the
//! right. Draws from its [`Header`] view; must never change state.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use crate::format;
use crate::tui::mode::{Mode, Playback, Status};
use crate::tui::state::RunState;
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
            // The dashboard draws its own header (`tui::board::draw`); this is its short form.
            Mode::Logdir(m) => (
                vec![(0, format!("{} runs", m.board().runs().len()), muted)],
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
