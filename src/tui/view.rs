//! How the curves are drawn, whatever the source: axis, log scale, smoothing, the chart in
//! focus, the layout, and the pan/zoom window over the history. Owns what the view keys change;
//! must never know where the events come from, nor draw.

use super::keys::Action;
use crate::series::XAxis;

/// Deepest zoom: 1/2^12 of the history.
const MAX_ZOOM: u32 = 12;

/// The chart shown in the compact layout (and the second chart in the full one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Panel {
    /// Train loss.
    #[default]
    Loss,
    /// Test and train accuracy.
    Accuracy,
    /// Batch size against the measured noise scale.
    Noise,
}

/// The layout the user asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LayoutChoice {
    /// Full when the terminal is large enough, compact otherwise.
    #[default]
    Auto,
    /// One chart and one-line panels.
    Compact,
    /// Every panel.
    Full,
}

/// How the curves are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewOptions {
    /// Horizontal axis.
    pub x: XAxis,
    /// Log scale for the loss.
    pub log_loss: bool,
    /// EMA on top of a faint raw curve (off: raw only).
    pub smooth: bool,
    /// Chart in focus.
    pub panel: Panel,
    /// Layout choice.
    pub layout: LayoutChoice,
    /// Zoom level: the window shows 1/2^zoom of the history.
    pub zoom: u32,
    /// Right edge of the window as a fraction of the history; `None` follows the newest point.
    pub pan: Option<f64>,
}

impl Default for ViewOptions {
    fn default() -> Self {
        ViewOptions {
            x: XAxis::Updates,
            log_loss: false,
            smooth: true,
            panel: Panel::Loss,
            layout: LayoutChoice::Auto,
            zoom: 0,
            pan: None,
        }
    }
}

impl ViewOptions {
    /// The visible part of `[lo, hi]`.
    pub fn window(&self, lo: f64, hi: f64) -> (f64, f64) {
        let span = (hi - lo).max(0.0);
        let frac = 0.5f64.powi(self.zoom as i32);
        let right = lo + span * self.pan.unwrap_or(1.0).clamp(frac, 1.0);
        let left = right - span * frac;
        if span == 0.0 {
            return (lo, lo + 1.0);
        }
        (left, right)
    }

    /// Carries out a view action; the other actions (quit, help, the source's own) leave the
    /// view as it is.
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::XAxis => self.x = self.x.toggled(),
            Action::LogScale => self.log_loss = !self.log_loss,
            Action::Smooth => self.smooth = !self.smooth,
            Action::NextPanel => {
                self.panel = match self.panel {
                    Panel::Loss => Panel::Accuracy,
                    Panel::Accuracy => Panel::Noise,
                    Panel::Noise => Panel::Loss,
                }
            }
            Action::Layout => {
                self.layout = match self.layout {
                    LayoutChoice::Auto => LayoutChoice::Compact,
                    LayoutChoice::Compact => LayoutChoice::Full,
                    LayoutChoice::Full => LayoutChoice::Auto,
                }
            }
            Action::PanLeft => {
                let w = 0.5f64.powi(self.zoom as i32);
                self.pan = Some((self.pan.unwrap_or(1.0) - w / 4.0).max(w));
            }
            Action::PanRight => {
                let w = 0.5f64.powi(self.zoom as i32);
                let right = self.pan.unwrap_or(1.0) + w / 4.0;
                self.pan = (right < 1.0).then_some(right);
            }
            Action::ZoomIn => self.zoom = (self.zoom + 1).min(MAX_ZOOM),
            Action::ZoomOut => {
                self.zoom = self.zoom.saturating_sub(1);
                let w = 0.5f64.powi(self.zoom as i32);
                let zoomed = self.zoom > 0;
                self.pan = self.pan.map(|p| p.max(w)).filter(|_| zoomed);
            }
            Action::ResetView => {
                self.zoom = 0;
                self.pan = None;
            }
            Action::Quit
            | Action::Pause
            | Action::Checkpoint
            | Action::Help
            | Action::SeekStart
            | Action::SeekEnd
            | Action::Faster
            | Action::Slower => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pan_and_zoom_stay_in_range() {
        let mut v = ViewOptions::default();
        v.apply(Action::ZoomIn);
        v.apply(Action::ZoomIn);
        assert_eq!(v.window(0.0, 100.0), (75.0, 100.0));
        for _ in 0..20 {
            v.apply(Action::PanLeft);
        }
        assert_eq!(v.window(0.0, 100.0), (0.0, 25.0));
        for _ in 0..20 {
            v.apply(Action::PanRight);
        }
        assert_eq!(
            v.pan, None,
            "panning back to the end follows new points again"
        );
        for _ in 0..3 {
            v.apply(Action::ZoomOut);
        }
        assert_eq!(v.window(0.0, 100.0), (0.0, 100.0));
        for _ in 0..20 {
            v.apply(Action::ZoomIn);
        }
        assert_eq!(v.zoom, MAX_ZOOM);
        v.apply(Action::ResetView);
        assert_eq!(v, ViewOptions::default());
    }

    #[test]
    fn cycling_keys_come_back_round() {
        let mut v = ViewOptions::default();
        for _ in 0..3 {
            v.apply(Action::NextPanel);
            v.apply(Action::Layout);
        }
        v.apply(Action::Quit);
        assert_eq!(v, ViewOptions::default());
    }
}
