//! The machine panel: this machine's GPUs as nvitop-style rows (index, name, memory bar,
//! utilisation, temperature, power, the processes on each), CPU and memory bars, and the
//! processes writing the watched logdir, from one [`MachineSample`]. Narrow panels move figures
//! to the next line or pick shorter wordings rather than cut a word; a short panel drops
//! details first. Owns the panel's layout; must never sample, nor word a figure itself (that is
//! [`crate::machine::text`], shared with the plain lines).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::{bar, panel, put_line, wrap};
use crate::format;
use crate::machine::text;
use crate::machine::{GpuSample, MachineSample, WriterProcess};
use crate::tui::theme::{Role, Theme};

/// Columns between two figures on a row.
const GAP: usize = 2;
/// Indent of a row's continuation lines and of the lines under a row.
const INDENT: usize = 2;
/// GPU processes listed under a GPU before "+N more".
const PROCESSES_PER_GPU: usize = 3;

/// Draws `sample` (or "no sample yet") in a bordered panel filling `area`.
pub fn machine_panel(t: &Theme, sample: Option<&MachineSample>, area: Rect, buf: &mut Buffer) {
    let title = match sample.and_then(|s| s.host.clone()) {
        Some(host) => vec![
            Span::styled("machine ", t.bold(Role::Title)),
            Span::styled(host, t.fg(Role::Muted)),
        ],
        None => vec![Span::styled("machine", t.bold(Role::Title))],
    };
    let block = panel(t, title);
    let inner = block.inner(area);
    block.render(area, buf);
    let lines = machine_lines(t, sample, inner.width, inner.height);
    for (row, line) in lines.iter().enumerate() {
        put_line(buf, inner, row as u16, line);
    }
}

/// The panel's lines for an area `width` × `height` (at most `height` lines): everything when it
/// fits, else without the details under each row, else the first lines and how many are left.
pub fn machine_lines(
    t: &Theme,
    sample: Option<&MachineSample>,
    width: u16,
    height: u16,
) -> Vec<Line<'static>> {
    let (width, height) = (usize::from(width.max(1)), usize::from(height));
    let Some(s) = sample else {
        return vec![Line::from(Span::styled(
            "no sample of this machine yet",
            t.fg(Role::Muted),
        ))];
    };
    let full = Layout { t, width }.lines(s, true);
    if full.len() <= height {
        return full;
    }
    let mut lines = Layout { t, width }.lines(s, false);
    if lines.len() > height && height > 0 {
        let left = lines.len() - (height - 1);
        lines.truncate(height - 1);
        lines.push(Line::from(Span::styled(
            format!("+{left} more lines"),
            t.fg(Role::Muted),
        )));
    }
    lines.truncate(height);
    lines
}

/// One row's figure: its wordings, longest first, each spans that stay together on a line.
type Piece = Vec<Vec<Span<'static>>>;

struct Layout<'a> {
    t: &'a Theme,
    width: usize,
}

impl Layout<'_> {
    fn lines(&self, s: &MachineSample, details: bool) -> Vec<Line<'static>> {
        let mut out = Vec::new();
        if s.gpus.is_empty() {
            out.extend(self.no_gpu(s));
        }
        for g in &s.gpus {
            out.extend(self.flow(self.gpu_row(g), 0));
            if details {
                out.extend(self.gpu_details(g));
            }
        }
        out.extend(self.flow(self.cpu_memory(s), 0));
        if let Some(dir) = &s.logdir {
            if !s.writers.is_empty() {
                let head = format!("writing {}", dir.display());
                out.push(Line::from(Span::styled(
                    first_fitting_text(
                        vec![head, "writing the logdir".into(), "writers".into()],
                        self.width,
                    ),
                    self.t.fg(Role::Muted),
                )));
            }
            for w in &s.writers {
                out.extend(self.flow(self.writer_row(w), INDENT));
                if details {
                    out.extend(self.found_by(w));
                }
            }
        }
        if details {
            if let Some(n) = &s.writers_note {
                out.extend(self.note(n, 0));
            }
            if !s.other_hosts.is_empty() {
                out.extend(self.note(&text::other_hosts(s), 0));
            }
        }
        out
    }

    fn muted(&self, s: impl Into<String>) -> Span<'static> {
        Span::styled(s.into(), self.t.fg(Role::Muted))
    }

    fn strong(&self, s: impl Into<String>) -> Span<'static> {
        Span::styled(s.into(), self.t.bold(Role::Fg))
    }

    fn no_gpu(&self, s: &MachineSample) -> Vec<Line<'static>> {
        let lead = "no GPU on this machine";
        let why = text::no_gpu(s);
        let mut lines = Vec::new();
        for (i, l) in wrap(&why, self.width).into_iter().enumerate() {
            // The lead keeps its weight on the first line; the reason is secondary.
            match l.strip_prefix(lead).filter(|_| i == 0) {
                Some(rest) => lines.push(Line::from(vec![
                    self.strong(lead),
                    self.muted(rest.to_string()),
                ])),
                None => lines.push(Line::from(self.muted(l))),
            }
        }
        lines
    }

    /// `0 NVIDIA H200  mem ━━━━━──── 132 GiB / 141 GiB  util  97%  71°C  655 / 700 W`.
    fn gpu_row(&self, g: &GpuSample) -> Vec<Piece> {
        let t = self.t;
        let name = g.name.clone().unwrap_or_else(|| "GPU".into());
        let short = text::short_gpu_name(&name).to_string();
        let index = format!("{} ", g.index);
        let mut pieces = vec![vec![
            vec![self.strong(index.clone()), self.strong(name)],
            vec![self.strong(index), self.strong(short)],
        ]];
        if let Some(m) = text::memory(g.memory_used, g.memory_total) {
            let w = self.width.saturating_sub(58).clamp(6, 24);
            pieces.push(self.with_bar("mem ", g.memory_fraction(), w, m));
        }
        if let Some(u) = g.util_percent {
            pieces.push(vec![vec![
                self.muted("util "),
                self.strong(format!("{:>4}", text::percent(u))),
            ]]);
        }
        if let Some(c) = g.temperature_c {
            let role = if c >= 85.0 { Role::Warn } else { Role::Fg };
            pieces.push(vec![vec![Span::styled(
                text::temperature(c, t.ascii),
                t.bold(role),
            )]]);
        }
        if let Some(p) = text::power(g.power_w, g.power_limit_w) {
            pieces.push(vec![vec![self.strong(p)]]);
        }
        pieces
    }

    fn gpu_details(&self, g: &GpuSample) -> Vec<Line<'static>> {
        let mut out = Vec::new();
        for p in g.processes.iter().take(PROCESSES_PER_GPU) {
            let name = p
                .name
                .clone()
                .unwrap_or_else(|| "(not visible here)".into());
            let mem = p.memory.map(format::bytes).unwrap_or_else(|| "n/a".into());
            let pieces = vec![
                vec![vec![self.muted(format!("pid {}", p.pid))]],
                vec![vec![Span::styled(name, self.t.fg(Role::Fg))]],
                vec![vec![self.strong(mem)]],
            ];
            out.extend(self.flow(pieces, INDENT));
        }
        if g.processes.len() > PROCESSES_PER_GPU {
            let more = g.processes.len() - PROCESSES_PER_GPU;
            out.extend(self.note(&format!("+{more} more processes"), INDENT));
        }
        if let Some(n) = &g.note {
            out.extend(self.note(&format!("n/a: {n}"), INDENT));
        }
        out
    }

    /// `CPU ━━━──── 12% of 16 cores  mem ━━━━───── 41.0 GiB / 128 GiB`.
    fn cpu_memory(&self, s: &MachineSample) -> Vec<Piece> {
        let t = self.t;
        // Both bars on one line with their figures (about 46 columns) where there is room.
        let w = (self.width.saturating_sub(46) / 2).clamp(6, 20);
        let cores = format::counted(s.cpu.cores as u64, "core");
        let cpu = match s.cpu.percent {
            Some(p) => {
                let figure = |with_bar: bool| {
                    let mut v = vec![self.muted("CPU ")];
                    if with_bar {
                        v.extend(bar(t, p / 100.0, w, Role::Accent));
                        v.push(Span::raw(" "));
                    }
                    v.push(self.strong(text::percent(p)));
                    v.push(self.muted(format!(" of {cores}")));
                    v
                };
                vec![figure(true), figure(false)]
            }
            None => vec![vec![
                self.muted("CPU "),
                self.strong("n/a"),
                self.muted(format!(" {cores}")),
            ]],
        };
        let mut pieces = vec![cpu];
        if let Some(m) = text::memory(s.memory.used, s.memory.total) {
            pieces.push(self.with_bar("mem ", s.memory.fraction(), w, m));
        }
        pieces
    }

    /// `mem ━━━━───── 41.0 GiB / 128 GiB`, and without the bar for narrow panels; the bar warns
    /// past 90%.
    fn with_bar(&self, label: &str, frac: Option<f64>, width: usize, figure: String) -> Piece {
        let plain = vec![self.muted(label.to_string()), self.strong(figure.clone())];
        let Some(f) = frac else {
            return vec![plain];
        };
        let mut v = vec![self.muted(label.to_string())];
        v.extend(bar(
            self.t,
            f,
            width,
            if f > 0.9 { Role::Warn } else { Role::Accent },
        ));
        v.push(Span::raw(" "));
        v.push(self.strong(figure));
        vec![v, plain]
    }

    /// `pid 4242 python3 train.py --model…  RSS 5.2 GiB  CPU 101%  GPU 131 GiB`.
    fn writer_row(&self, w: &WriterProcess) -> Vec<Piece> {
        let room = self.width.saturating_sub(INDENT);
        let pid = format!("pid {} ", w.pid);
        let command = words_fitting(
            text::command(w),
            room.saturating_sub(pid.chars().count()).min(48),
            self.t.sym.ellipsis,
        )
        .unwrap_or_else(|| w.name.clone());
        let mut pieces = vec![vec![vec![
            self.muted(pid),
            Span::styled(command, self.t.fg(Role::Fg)),
        ]]];
        for f in text::writer_figures(w) {
            // "RSS 5.2 GiB": the label muted, the figure strong.
            match f.split_once(' ') {
                Some((label, value)) => pieces.push(vec![vec![
                    self.muted(format!("{label} ")),
                    self.strong(value.to_string()),
                ]]),
                None => pieces.push(vec![vec![self.strong(f)]]),
            }
        }
        pieces
    }

    fn found_by(&self, w: &WriterProcess) -> Vec<Line<'static>> {
        let full = text::found_by(&w.found_by);
        let short = match &w.found_by {
            crate::machine::FoundBy::OpenFile(_) => "holds a file there open",
            crate::machine::FoundBy::EventFileName(_) => "named in an event file",
        };
        let room = self.width.saturating_sub(2 * INDENT);
        let text = first_fitting_text(vec![full, short.into()], room);
        if text.chars().count() > room {
            return Vec::new();
        }
        vec![Line::from(vec![
            Span::raw(" ".repeat(2 * INDENT)),
            self.muted(text),
        ])]
    }

    fn note(&self, note: &str, indent: usize) -> Vec<Line<'static>> {
        wrap(note, self.width.saturating_sub(indent).max(1))
            .into_iter()
            .map(|l| Line::from(vec![Span::raw(" ".repeat(indent)), self.muted(l)]))
            .collect()
    }

    /// Lays `pieces` out left to right, `GAP` apart, each in the longest wording that fits,
    /// starting a new line (indented by `INDENT` past `indent`) where none does; a piece never
    /// breaks.
    fn flow(&self, pieces: Vec<Piece>, indent: usize) -> Vec<Line<'static>> {
        let width_of = |w: &Vec<Span<'static>>| w.iter().map(Span::width).sum::<usize>();
        let mut lines: Vec<Vec<Span<'static>>> = Vec::new();
        let mut line: Vec<Span<'static>> = vec![Span::raw(" ".repeat(indent))];
        let mut used = indent;
        let mut starts_line = true;
        for wordings in pieces {
            let gap = if starts_line { 0 } else { GAP };
            let fits = |w: &Vec<Span<'static>>, used: usize, gap: usize| {
                used + gap + width_of(w) <= self.width
            };
            let mut choice = wordings.iter().position(|w| fits(w, used, gap));
            if choice.is_none() && !starts_line {
                lines.push(std::mem::take(&mut line));
                let next = indent + INDENT;
                line.push(Span::raw(" ".repeat(next)));
                used = next;
                starts_line = true;
                choice = wordings.iter().position(|w| fits(w, used, 0));
            }
            // Not even the tersest wording fits a line of its own: left out rather than cut.
            let Some(piece) = choice.and_then(|i| wordings.into_iter().nth(i)) else {
                continue;
            };
            if !starts_line {
                line.push(Span::raw(" ".repeat(GAP)));
                used += GAP;
            }
            used += width_of(&piece);
            line.extend(piece);
            starts_line = false;
        }
        lines.push(line);
        lines.into_iter().map(Line::from).collect()
    }
}

/// The first of `wordings` that fits `width` characters, else the last.
fn first_fitting_text(wordings: Vec<String>, width: usize) -> String {
    let last = wordings.len().saturating_sub(1);
    wordings
        .into_iter()
        .enumerate()
        .find(|(i, w)| *i == last || w.chars().count() <= width)
        .map(|(_, w)| w)
        .unwrap_or_default()
}

/// The leading words of `s` that fit `max` characters with `ellipsis` after them when some are
/// left out; `None` when not even the first word fits.
fn words_fitting(s: &str, max: usize, ellipsis: &str) -> Option<String> {
    if s.chars().count() <= max {
        return Some(s.to_string());
    }
    let room = max.checked_sub(ellipsis.chars().count())?;
    let mut out = String::new();
    for word in s.split(' ') {
        let extra = usize::from(!out.is_empty()) + word.chars().count();
        if out.chars().count() + extra > room {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    (!out.is_empty()).then(|| format!("{out}{ellipsis}"))
}

/// Width a line takes (for tests and callers sizing the panel).
pub fn line_width(line: &Line<'_>) -> usize {
    line.spans.iter().map(Span::width).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::fake;
    use crate::tui::theme::ColorMode;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn draw(t: &Theme, sample: Option<&MachineSample>, w: u16, h: u16) -> String {
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        term.draw(|f| machine_panel(t, sample, f.area(), f.buffer_mut()))
            .unwrap();
        let buf = term.backend().buffer();
        (0..h)
            .map(|y| {
                let row: String = (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect();
                row.trim_end().to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn snap(name: &str, text: &str) {
        insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(name, text);
        });
    }

    fn dark() -> Theme {
        Theme::builtin("dark", ColorMode::TrueColor).unwrap()
    }

    #[test]
    fn two_gpus_wide_and_narrow() {
        let s = fake::two_gpus();
        snap("machine_two_gpus_100x14", &draw(&dark(), Some(&s), 100, 14));
        snap("machine_two_gpus_40x20", &draw(&dark(), Some(&s), 40, 20));
    }

    #[test]
    fn no_gpu_in_colour_and_in_mono_narrow() {
        let s = fake::no_gpu();
        snap("machine_no_gpu_80x10", &draw(&dark(), Some(&s), 80, 10));
        let mono = Theme::builtin("mono", ColorMode::None).unwrap();
        let text = draw(&mono, Some(&s), 34, 16);
        assert!(text.is_ascii(), "{text}");
        snap("machine_no_gpu_mono_34x16", &text);
    }

    #[test]
    fn a_short_panel_drops_details_then_counts_what_is_left() {
        let s = fake::two_gpus();
        snap("machine_two_gpus_100x6", &draw(&dark(), Some(&s), 100, 6));
        snap("machine_no_sample_40x4", &draw(&dark(), None, 40, 4));
    }

    /// The words of `text`, without bar glyphs, a trailing ellipsis or punctuation.
    fn tokens(t: &Theme, text: &str) -> Vec<String> {
        text.split_whitespace()
            .map(|w| {
                w.trim_end_matches(t.sym.ellipsis)
                    .trim_matches(|c| matches!(c, '(' | ')' | ',' | ':'))
                    .to_string()
            })
            .filter(|w| !w.is_empty())
            .filter(|w| {
                !w.chars()
                    .all(|c| t.sym.bar_full.contains(c) || t.sym.bar_empty.contains(c))
            })
            .collect()
    }

    #[test]
    fn no_line_is_wider_than_the_panel_and_no_word_is_cut() {
        let t = dark();
        // The panel's own wordings besides the sample's words (those of its plain lines).
        let panel_words = "no sample of this machine yet more lines writing the logdir writers \
                           holds a file there open named in an event mem util processes";
        for s in [fake::two_gpus(), fake::no_gpu()] {
            let mut known = tokens(&t, &text::lines(&s, false).join(" "));
            known.extend(tokens(&t, panel_words));
            known.extend(s.writers.iter().map(|w| w.name.clone()));
            for width in [24u16, 30, 40, 57, 80, 120] {
                for l in machine_lines(&t, Some(&s), width, 100) {
                    let drawn: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
                    assert!(line_width(&l) <= usize::from(width), "{width}: {drawn:?}");
                    for w in tokens(&t, &drawn) {
                        let count = w.starts_with('+') && w[1..].parse::<u32>().is_ok();
                        assert!(count || known.contains(&w), "{width}: {w:?} in {drawn:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_full_gpu_memory_bar_warns() {
        let s = fake::two_gpus();
        let t = dark();
        let lines = machine_lines(&t, Some(&s), 100, 20);
        let bar_span = lines[0]
            .spans
            .iter()
            .find(|sp| sp.content.contains(t.sym.bar_full))
            .unwrap();
        assert_eq!(
            bar_span.style.fg,
            Some(t.color(Role::Warn)),
            "GPU 0 is 94% full"
        );
        let second = lines
            .iter()
            .find(|l| l.spans.iter().any(|sp| sp.content == "1 "))
            .unwrap();
        let bar_span = second
            .spans
            .iter()
            .find(|sp| sp.content.contains(t.sym.bar_empty))
            .unwrap();
        assert_eq!(bar_span.style.fg, Some(t.color(Role::Faint)));
    }

    #[test]
    fn leading_words_fit_with_an_ellipsis() {
        assert_eq!(
            words_fitting("python3 train.py --lr 0.1", 40, "…").unwrap(),
            "python3 train.py --lr 0.1"
        );
        assert_eq!(
            words_fitting("python3 train.py --lr 0.1", 18, "…").unwrap(),
            "python3 train.py…"
        );
        assert_eq!(words_fitting("python3 train.py", 5, "…"), None);
    }
}
