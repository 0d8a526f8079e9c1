//! One chart per tag: every run holding the tag overlaid in its colour with a legend, the
//! smoothed curve over the raw one drawn faint, on the chosen x axis and y scale. Must never
//! change state.
//!
//! (Placeholder signature for the parallel work; the `charts` branch replaces this body.)

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::{Board, ChartOptions, XMode};
use crate::tui::theme::{Role, Theme};
use crate::tui::widgets::panel;

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
    let _ = (board, opts);
    let role = if focused { Role::Accent } else { Role::Muted };
    panel(
        theme,
        vec![ratatui::text::Span::styled(tag.to_string(), theme.fg(role))],
    )
    .render(area, buf);
}

/// Formats an x value for `mode`: a step count, a duration since the run's start, a clock time.
pub fn x_label(mode: XMode, v: f64) -> String {
    let _ = mode;
    format!("{v}")
}
