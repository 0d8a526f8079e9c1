//! How the dashboard's charts are drawn: smoothing weight, x axis, y scale and range. Owns the
//! choices and their labels; must never draw.

use crate::series::XAxis;

/// TensorBoard's default smoothing weight.
pub const DEFAULT_SMOOTHING: f64 = 0.6;

/// The horizontal axis of the dashboard's charts (TensorBoard's three).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum XMode {
    /// The writer's step.
    #[default]
    Step,
    /// Seconds since the run's first event.
    Relative,
    /// Wall-clock time.
    Wall,
}

impl XMode {
    /// The next mode, in the order the key cycles.
    pub fn next(self) -> Self {
        match self {
            XMode::Step => XMode::Relative,
            XMode::Relative => XMode::Wall,
            XMode::Wall => XMode::Step,
        }
    }

    /// Lower-case name shown in titles and hints.
    pub fn label(self) -> &'static str {
        match self {
            XMode::Step => "step",
            XMode::Relative => "relative",
            XMode::Wall => "wall",
        }
    }

    /// The track coordinate this mode reads (relative time is wall time minus the run's start).
    pub fn axis(self) -> XAxis {
        match self {
            XMode::Step => XAxis::Updates,
            XMode::Relative | XMode::Wall => XAxis::Wall,
        }
    }
}

/// Everything that decides how a chart is drawn, apart from what it shows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChartOptions {
    /// TensorBoard's debiased EMA weight in [0, 1); 0 draws the raw points only.
    pub smoothing: f64,
    /// The x axis.
    pub x: XMode,
    /// Logarithmic y (values ≤ 0 are not drawn).
    pub log_y: bool,
    /// Scale y to the bulk of the values, ignoring outliers (as TensorBoard's option does).
    pub ignore_outliers: bool,
}

impl Default for ChartOptions {
    fn default() -> Self {
        ChartOptions {
            smoothing: DEFAULT_SMOOTHING,
            x: XMode::Step,
            log_y: false,
            ignore_outliers: false,
        }
    }
}
