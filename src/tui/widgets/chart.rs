//! A line chart with y labels, x labels, vertical markers and several curves drawn in layers.
//! Written here rather than using ratatui's `Chart` because we need stage markers with labels,
//! faint-under-bold layering, log-scale labels and ASCII output, and lines clipped at the window
//! edges. Must never pick data or colours itself: callers pass both in.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::canvas::{Canvas, Line as Seg, Points};
use ratatui::widgets::{Block, Widget};

use crate::tui::theme::{Role, Theme};

/// How a curve is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Draw {
    /// Connected line.
    Line,
    /// Points only.
    Dots,
}

/// One curve: points in chart coordinates (already log-transformed when the axis is log).
#[derive(Clone, Debug)]
pub struct Curve {
    /// The points, in x order.
    pub points: Vec<(f64, f64)>,
    /// Its colour and modifiers.
    pub style: Style,
    /// Line or dots.
    pub draw: Draw,
    /// Character used in ASCII mode.
    pub ascii: char,
}

/// A vertical line across the plot with a short label at the top.
#[derive(Clone, Debug)]
pub struct Marker {
    /// Where, in chart coordinates.
    pub x: f64,
    /// Label written beside it at the top.
    pub label: String,
}

/// The chart widget.
pub struct CurveChart<'a> {
    /// Surrounding panel.
    pub block: Block<'a>,
    /// Curves, drawn in order (later ones on top).
    pub curves: Vec<Curve>,
    /// Visible x range.
    pub x: (f64, f64),
    /// Visible y range.
    pub y: (f64, f64),
    /// Formats an x value for the labels.
    pub x_fmt: &'a dyn Fn(f64) -> String,
    /// Formats a y value for the labels.
    pub y_fmt: &'a dyn Fn(f64) -> String,
    /// Stage markers.
    pub markers: Vec<Marker>,
    /// Shown in the middle when there are no points.
    pub empty: String,
    /// Theme (colours for axes and markers, ASCII mode).
    pub theme: &'a Theme,
}

impl Widget for CurveChart<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let inner = self.block.inner(area);
        (&self.block).render(area, buf);
        if inner.width < 12 || inner.height < 3 {
            return;
        }
        let t = self.theme;
        let axis = t.fg(Role::Faint);
        let label = t.fg(Role::Muted);
        let rows = inner.height - 1;
        let y_ticks: Vec<(u16, f64)> = if rows >= 5 {
            vec![
                (0, self.y.1),
                (rows / 2, (self.y.0 + self.y.1) / 2.0),
                (rows - 1, self.y.0),
            ]
        } else {
            vec![(0, self.y.1), (rows - 1, self.y.0)]
        };
        let has_points = self.curves.iter().any(|c| !c.points.is_empty());
        let y_labels: Vec<(u16, String)> = if has_points {
            y_ticks
                .iter()
                .map(|(r, v)| (*r, (self.y_fmt)(*v)))
                .collect()
        } else {
            Vec::new()
        };
        let lw = y_labels
            .iter()
            .map(|(_, s)| s.chars().count())
            .max()
            .unwrap_or(0) as u16;
        let lw = lw.min(inner.width / 3);
        let plot = Rect {
            x: inner.x + lw + 1,
            y: inner.y,
            width: inner.width - lw - 1,
            height: rows,
        };
        // Axis with labelled ticks.
        for r in 0..rows {
            let tick = y_labels.iter().find(|(row, _)| *row == r);
            let sym = match (tick.is_some(), t.ascii) {
                (true, false) => "┤",
                (false, false) => "│",
                (true, true) => "+",
                (false, true) => "|",
            };
            buf[(inner.x + lw, inner.y + r)]
                .set_symbol(sym)
                .set_style(axis);
            if let Some((_, s)) = tick {
                let s: String = s.chars().take(lw as usize).collect();
                let pad = lw as usize - s.chars().count();
                buf.set_string(inner.x + pad as u16, inner.y + r, s, label);
            }
        }
        let base_y = inner.y + rows;
        buf[(inner.x + lw, base_y)]
            .set_symbol(if t.ascii { "+" } else { "└" })
            .set_style(axis);
        if has_points {
            self.x_labels(plot, base_y, buf, label);
        } else {
            let msg: String = self.empty.chars().take(plot.width as usize).collect();
            let x = plot.x + (plot.width - msg.chars().count() as u16) / 2;
            buf.set_string(x, plot.y + plot.height / 2, msg, t.fg(Role::Muted));
            return;
        }
        self.draw_markers(plot, buf);
        self.draw_curves(plot, buf);
    }
}

impl CurveChart<'_> {
    fn x_labels(&self, plot: Rect, y: u16, buf: &mut Buffer, style: Style) {
        let left = (self.x_fmt)(self.x.0);
        let mid = (self.x_fmt)((self.x.0 + self.x.1) / 2.0);
        let right = (self.x_fmt)(self.x.1);
        let w = plot.width as usize;
        buf.set_stringn(plot.x, y, &left, w, style);
        let rl = right.chars().count();
        if rl + left.chars().count() + 2 <= w {
            buf.set_string(plot.x + (w - rl) as u16, y, &right, style);
        }
        let ml = mid.chars().count();
        let mx = w / 2 - ml / 2;
        if w >= 30 && mx > left.chars().count() + 2 && mx + ml + 2 < w - rl {
            buf.set_string(plot.x + mx as u16, y, &mid, style);
        }
    }

    fn col_of(&self, plot: Rect, x: f64) -> Option<u16> {
        let span = self.x.1 - self.x.0;
        if span.is_nan() || span <= 0.0 || x < self.x.0 || x > self.x.1 {
            return None;
        }
        Some(plot.x + (((x - self.x.0) / span) * f64::from(plot.width - 1)).round() as u16)
    }

    fn draw_markers(&self, plot: Rect, buf: &mut Buffer) {
        let style = self.theme.fg(Role::Marker);
        let mut last_label_end = 0u16;
        for m in &self.markers {
            let Some(col) = self.col_of(plot, m.x) else {
                continue;
            };
            for r in 0..plot.height {
                buf[(col, plot.y + r)]
                    .set_symbol(self.theme.sym.marker)
                    .set_style(style);
            }
            // Label to the right of the line, or to its left near the right edge.
            let len = m.label.chars().count() as u16;
            if col + 1 + len <= plot.right() && col + 1 >= last_label_end {
                buf.set_string(col + 1, plot.y, &m.label, style);
                last_label_end = col + 2 + len;
            } else if col >= plot.x + len && col - len > last_label_end {
                buf.set_string(col - len, plot.y, &m.label, style);
                last_label_end = col + 1;
            }
        }
    }

    fn draw_curves(&self, plot: Rect, buf: &mut Buffer) {
        let (x0, x1) = self.x;
        let (y0, y1) = self.y;
        let segments: Vec<Vec<(f64, f64, f64, f64)>> = self
            .curves
            .iter()
            .map(|c| match c.draw {
                Draw::Line => c
                    .points
                    .windows(2)
                    .filter_map(|w| clip(w[0], w[1], (x0, x1), (y0, y1)))
                    .collect(),
                Draw::Dots => Vec::new(),
            })
            .collect();
        let dots: Vec<Vec<(f64, f64)>> = self
            .curves
            .iter()
            .map(|c| {
                let single = c.points.len() == 1;
                if c.draw == Draw::Dots || single {
                    c.points
                        .iter()
                        .copied()
                        .filter(|&(x, y)| x >= x0 && x <= x1 && y >= y0 && y <= y1)
                        .collect()
                } else {
                    Vec::new()
                }
            })
            .collect();
        // Each curve gets its own layer with a sentinel colour, mapped back to its style below.
        let canvas = Canvas::default()
            .marker(self.theme.sym.canvas)
            .x_bounds([x0, x1])
            .y_bounds([y0, y1])
            .paint(|ctx| {
                for (i, (segs, pts)) in segments.iter().zip(&dots).enumerate() {
                    let color = Color::Indexed(i as u8);
                    for &(ax, ay, bx, by) in segs {
                        ctx.draw(&Seg::new(ax, ay, bx, by, color));
                    }
                    if !pts.is_empty() {
                        ctx.draw(&Points { coords: pts, color });
                    }
                    ctx.layer();
                }
            });
        let colourless = self.theme.colourless();
        let local = Rect::new(0, 0, plot.width, plot.height);
        let mut scratch = Buffer::empty(local);
        canvas.render(local, &mut scratch);
        for y in 0..plot.height {
            for x in 0..plot.width {
                let cell = &scratch[(x, y)];
                let Color::Indexed(i) = cell.fg else { continue };
                if cell.symbol() == " " {
                    continue;
                }
                let Some(curve) = self.curves.get(i as usize) else {
                    continue;
                };
                let dst = &mut buf[(plot.x + x, plot.y + y)];
                // Without colours, points carry their curve's mark so curves are told apart.
                if self.theme.ascii || (colourless && curve.draw == Draw::Dots) {
                    dst.set_char(curve.ascii);
                } else {
                    dst.set_symbol(cell.symbol());
                }
                dst.set_style(curve.style);
            }
        }
    }
}

/// Clips the segment a–b to the box (Liang–Barsky); the canvas drops segments that leave it.
fn clip(
    a: (f64, f64),
    b: (f64, f64),
    xr: (f64, f64),
    yr: (f64, f64),
) -> Option<(f64, f64, f64, f64)> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let mut t0: f64 = 0.0;
    let mut t1: f64 = 1.0;
    for (p, q) in [
        (-dx, a.0 - xr.0),
        (dx, xr.1 - a.0),
        (-dy, a.1 - yr.0),
        (dy, yr.1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    (t0 <= t1).then_some((a.0 + t0 * dx, a.1 + t0 * dy, a.0 + t1 * dx, a.1 + t1 * dy))
}

/// A legend entry for a panel title: a coloured sample and a name.
pub fn legend<'a>(theme: &Theme, style: Style, ascii: char, name: &str) -> Vec<Span<'a>> {
    let sample = if theme.ascii {
        ascii.to_string()
    } else {
        "━".to_string()
    };
    vec![
        Span::styled(sample, style),
        Span::styled(format!(" {name} "), theme.fg(Role::Muted)),
    ]
}

/// A run's sample in a legend: a line in its colour, with its mark where there are no colours
/// (the points' marks then tell the runs apart), the mark alone in ASCII.
pub fn run_sample(theme: &Theme, mark: char) -> String {
    if theme.ascii {
        mark.to_string()
    } else if theme.colourless() {
        format!("━{mark}")
    } else {
        "━".to_string()
    }
}

/// "Nice" y bounds around `[lo, hi]`: a little headroom, never an empty range.
pub fn pad_range(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    if span <= f64::EPSILON * hi.abs().max(1.0) {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        return (lo - d, hi + d);
    }
    (lo - span * 0.05, hi + span * 0.05)
}

/// A line of text spans, for titles.
pub fn title<'a>(theme: &Theme, name: &str, extra: Vec<Span<'a>>) -> Vec<Span<'a>> {
    let mut v = vec![
        Span::styled(name.to_string(), theme.bold(Role::Title)),
        Span::raw("  "),
    ];
    v.extend(extra);
    v
}

/// Renders a one-line hint in the chart's bottom-right corner of `area` (inside the border).
pub fn corner_hint(buf: &mut Buffer, area: Rect, text: &str, style: Style) {
    let len = text.chars().count() as u16;
    if area.width > len + 4 && area.height > 1 {
        buf.set_line(
            area.right() - len - 2,
            area.bottom() - 1,
            &Line::styled(text.to_string(), style),
            len,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_keeps_the_inside_part() {
        assert_eq!(
            clip((0.0, 0.0), (2.0, 2.0), (0.0, 1.0), (0.0, 1.0)),
            Some((0.0, 0.0, 1.0, 1.0))
        );
        assert_eq!(
            clip((-1.0, 0.5), (0.5, 0.5), (0.0, 1.0), (0.0, 1.0)),
            Some((0.0, 0.5, 0.5, 0.5))
        );
        assert_eq!(clip((0.0, 2.0), (1.0, 3.0), (0.0, 1.0), (0.0, 1.0)), None);
    }

    #[test]
    fn padded_ranges_are_never_empty() {
        assert_eq!(pad_range(1.0, 1.0), (0.9, 1.1));
        assert_eq!(pad_range(0.0, 0.0), (-1.0, 1.0));
        assert_eq!(pad_range(0.0, 10.0), (-0.5, 10.5));
        assert_eq!(pad_range(f64::NAN, 1.0), (0.0, 1.0));
    }
}
