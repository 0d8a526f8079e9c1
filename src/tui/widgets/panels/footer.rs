//! The footer: key hints for what the keys control here, or the latest message. Draws from its
//! [`Footer`] view; must never change state.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use crate::series::XAxis;
use crate::tui::keys::{Action, KeyMap};
use crate::tui::mode::Controls;
use crate::tui::theme::{Role, Theme};

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
