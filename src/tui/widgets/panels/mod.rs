//! The panels around the charts, one file each: the header (run, status), the footer (key
//! hints), progress, resources and the notable-events log. Every figure is computed from event
//! times, never from a clock. Each draws from the theme and its own part of the state
//! ([`Header`] and [`Footer`] are those views). Must never change state.

mod events;
mod footer;
mod header;
mod progress;
mod resources;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

pub use events::{events, latest_event_line, latest_event_lines};
pub use footer::Footer;
pub use header::{spread, status_style, Header};
pub use progress::progress_lines;
pub use resources::resource_lines;

use super::{panel, put_line};
use crate::tui::theme::{Role, Theme};

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
