//! Figures of one or more runs as PNG or SVG (`batchramp plot`), drawn with plotters.
//!
//! Owns which series a metric means, how runs are coloured and laid out, and the default
//! figure: the paper's Figure 2 layout (test accuracy and training loss against epochs and
//! against parameter updates, stage changes marked). It must never read files itself: callers
//! pass loaded runs, so the same code draws logs from disk, tests and demos.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::events::{Event, Record};
use crate::format::si;
use crate::series::{value_changes, Point as SeriesPoint};
use crate::tboard::tags::{phase as phase_of, Phase};
use crate::tboard::{Role, Run, TagTable};

/// DejaVu Sans, cut down to the characters figures use (see assets/fonts/README.md); plotters'
/// `ab_glyph` backend loads no system fonts, and embedding makes figures identical everywhere.
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-subset.ttf");
const FAMILY: &str = "sans-serif";

/// Colour-blind-safe palette (Okabe & Ito), in the order runs get them.
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
];

/// Points per curve at most: step events are averaged in buckets beyond this.
const MAX_POINTS: usize = 2000;

/// What the horizontal axis counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum XAxis {
    /// Epochs completed.
    Epoch,
    /// Parameter updates.
    Update,
    /// Wall-clock time since the run started.
    Time,
}

/// A quantity to plot against the horizontal axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Metric {
    /// Test accuracy after each epoch (%).
    TestAcc,
    /// Test loss after each epoch.
    TestLoss,
    /// Training accuracy over each epoch (%).
    TrainAcc,
    /// Training loss over each epoch.
    TrainLoss,
    /// Loss of each batch (noisy; averaged to at most 2,000 points).
    StepLoss,
    /// Accuracy of each batch (%).
    StepAcc,
    /// Learning rate of the schedule.
    Lr,
    /// Batch size of the schedule.
    Batch,
    /// SGD noise scale g = ε·N/(B·(1−m)) of the schedule.
    NoiseScale,
    /// Measured gradient noise scale B_simple.
    BSimple,
    /// Training throughput of each update.
    ImagesPerSec,
}

impl Metric {
    /// Axis title.
    fn label(self) -> &'static str {
        match self {
            Metric::TestAcc => "test accuracy (%)",
            Metric::TestLoss => "test loss",
            Metric::TrainAcc => "training accuracy (%)",
            Metric::TrainLoss => "training loss",
            Metric::StepLoss => "batch loss",
            Metric::StepAcc => "batch accuracy (%)",
            Metric::Lr => "learning rate",
            Metric::Batch => "batch size",
            Metric::NoiseScale => "noise scale g",
            Metric::BSimple => "gradient noise scale B_simple",
            Metric::ImagesPerSec => "images / s",
        }
    }

    /// Short name for captions.
    fn caption(self) -> &'static str {
        match self {
            Metric::TestAcc => "Test accuracy",
            Metric::TestLoss => "Test loss",
            Metric::TrainAcc => "Training accuracy",
            Metric::TrainLoss => "Training loss",
            Metric::StepLoss => "Batch loss",
            Metric::StepAcc => "Batch accuracy",
            Metric::Lr => "Learning rate",
            Metric::Batch => "Batch size",
            Metric::NoiseScale => "Noise scale",
            Metric::BSimple => "Gradient noise scale",
            Metric::ImagesPerSec => "Throughput",
        }
    }

    /// Whether the y-axis is logarithmic: quantities that change by factors (a schedule's
    /// steps, a ratio estimate whose denominator can approach zero).
    fn log_scale(self) -> bool {
        matches!(
            self,
            Metric::BSimple | Metric::NoiseScale | Metric::Lr | Metric::Batch
        )
    }

    /// Whether the curve mostly rises (the legend then goes bottom right, else top right).
    fn rises(self) -> bool {
        matches!(
            self,
            Metric::TestAcc
                | Metric::TrainAcc
                | Metric::StepAcc
                | Metric::Batch
                | Metric::ImagesPerSec
        )
    }
}

impl Metric {
    /// The metric's name on the command line.
    fn option(self) -> String {
        clap::ValueEnum::to_possible_value(&self)
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }

    /// The same quantity per epoch, for a per-step metric.
    fn per_epoch(self) -> Option<(Metric, &'static str)> {
        match self {
            Metric::StepLoss => Some((Metric::TrainLoss, "epoch losses")),
            Metric::StepAcc => Some((Metric::TrainAcc, "epoch accuracies")),
            _ => None,
        }
    }

    /// What a run lacks when it has none of this, in words.
    fn missing(self) -> String {
        match self {
            Metric::StepLoss => "per-step loss".into(),
            Metric::StepAcc => "per-step accuracy".into(),
            m => m.caption().to_lowercase(),
        }
    }
}

/// Why nothing could be drawn: the missing metrics named once each, and where a log has the
/// same quantity per epoch, the option that draws it.
fn no_data(runs: &[RunRecords], grid: &[(Metric, XAxis)]) -> PlotError {
    let mut metrics: Vec<Metric> = Vec::new();
    for (m, _) in grid {
        if !metrics.contains(m) {
            metrics.push(*m);
        }
    }
    let what = metrics
        .iter()
        .map(|m| m.missing())
        .collect::<Vec<_>>()
        .join(" or ");
    let instead = metrics.iter().find_map(|m| {
        let (epoch_metric, words) = m.per_epoch()?;
        let has = !Panel::build(runs, epoch_metric, XAxis::Epoch)
            .curves
            .is_empty();
        has.then(|| format!("the log has {words}: --metric {}", epoch_metric.option()))
    });
    PlotError::NoData {
        what,
        hint: instead.unwrap_or_else(|| "finished epochs or the events behind it".into()),
    }
}

impl XAxis {
    fn caption(self) -> &'static str {
        match self {
            XAxis::Epoch => "epochs",
            XAxis::Update => "updates",
            XAxis::Time => "time",
        }
    }
}

/// What to draw.
#[derive(Clone, Debug, Default)]
pub struct PlotOptions {
    /// Horizontal axis; `None`: both epochs and updates, side by side.
    pub x: Option<XAxis>,
    /// Quantity; `None`: test accuracy and training loss, one row each.
    pub metric: Option<Metric>,
    /// Title over the whole figure.
    pub title: Option<String>,
}

/// Why a figure could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The output name ends in neither `.png` nor `.svg`.
    #[error("{}: unknown image format; name the output FILE.png or FILE.svg", .0.display())]
    Format(PathBuf),
    /// No run has the asked-for data.
    #[error("nothing to plot: no run has {what} ({hint})")]
    NoData {
        /// The metrics that are missing.
        what: String,
        /// What the runs do have, or what is needed.
        hint: String,
    },
    /// The options ask for something the input cannot have.
    #[error("{0}")]
    Unsupported(String),
    /// Drawing or saving failed.
    #[error("cannot write {}: {message}", .path.display())]
    Draw {
        /// The output file.
        path: PathBuf,
        /// What plotters reported.
        message: String,
    },
}

/// One run to draw: its legend label and records.
pub type RunRecords<'a> = (&'a str, &'a [Record]);

/// Draws `runs` into `out` (PNG or SVG, by extension).
pub fn plot_runs(runs: &[RunRecords], out: &Path, opts: &PlotOptions) -> Result<(), PlotError> {
    let png = is_png(out)?;
    let (rows, cols, grid) = layout(opts);
    let panels: Vec<Panel> = grid
        .iter()
        .map(|&(metric, x)| Panel::build(runs, metric, x))
        .collect();
    if panels.iter().all(|p| p.curves.is_empty()) {
        return Err(no_data(runs, &grid));
    }
    render(&panels, rows, cols, out, png, opts.title.as_deref())
}

/// Whether `out` names a PNG (else an SVG); an error for any other extension.
fn is_png(out: &Path) -> Result<bool, PlotError> {
    let ext = out
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("png") => Ok(true),
        Some("svg") => Ok(false),
        _ => Err(PlotError::Format(out.to_path_buf())),
    }
}

/// Draws the panels in a `rows × cols` grid into `out`.
fn render(
    panels: &[Panel],
    rows: usize,
    cols: usize,
    out: &Path,
    png: bool,
    title: Option<&str>,
) -> Result<(), PlotError> {
    FONT_ONCE.call_once(|| {
        // The font is compiled in and checked by the tests; a failure here only loses text.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
    let base = match (rows, cols) {
        (1, 1) => (800u32, 560u32),
        (1, _) => (1200, 480),
        _ => (1200, 900),
    };
    let draw_err = |message: String| PlotError::Draw {
        path: out.to_path_buf(),
        message,
    };
    if png {
        // Bitmaps at 1.5× so lines and text stay crisp in print; SVG scales by itself.
        let scale = 1.5;
        let size = (
            (base.0 as f64 * scale) as u32,
            (base.1 as f64 * scale) as u32,
        );
        let root = BitMapBackend::new(out, size).into_drawing_area();
        draw(&root, panels, rows, cols, scale, title).map_err(draw_err)?;
        root.present().map_err(|e| draw_err(e.to_string()))?;
    } else {
        let root = SVGBackend::new(out, base).into_drawing_area();
        draw(&root, panels, rows, cols, 1.0, title).map_err(draw_err)?;
        root.present().map_err(|e| draw_err(e.to_string()))?;
    }
    Ok(())
}

static FONT_ONCE: Once = Once::new();

/// One TensorBoard run to draw: its legend label and the run.
pub type TagRun<'a> = (&'a str, &'a Run);

/// Draws the tags of TensorBoard runs that `table` recognises: accuracy and loss against the
/// writer's step (or wall time since each run's start), or the one quantity `opts.metric`
/// names; dashed marks where a batch-size tag changes value, as stage changes are marked for
/// batchramp runs.
pub fn plot_tensorboard(
    runs: &[TagRun],
    table: &TagTable,
    out: &Path,
    opts: &PlotOptions,
) -> Result<(), PlotError> {
    let png = is_png(out)?;
    let x = match opts.x {
        None | Some(XAxis::Update) => XAxis::Update,
        Some(XAxis::Time) => XAxis::Time,
        Some(XAxis::Epoch) => {
            return Err(PlotError::Unsupported(
                "--x epoch: TensorBoard logs count steps, not epochs; use --x update (the step) or --x time".into(),
            ))
        }
    };
    let wanted: Vec<(Role, Option<Phase>)> = match opts.metric {
        None => vec![(Role::Accuracy, None), (Role::Loss, None)],
        Some(m) => vec![tag_role(m)?],
    };
    let panels: Vec<Panel> = wanted
        .iter()
        .map(|&(role, phase)| tag_panel(runs, table, role, phase, x))
        .filter(|p| !p.curves.is_empty())
        .collect();
    if panels.is_empty() {
        let what = wanted
            .iter()
            .map(|(r, _)| format!("{} tag", r.label()))
            .collect::<Vec<_>>()
            .join(" or ");
        return Err(PlotError::NoData {
            what,
            hint: "see docs/tensorboard.md for the tag names each role matches".into(),
        });
    }
    render(&panels, 1, panels.len(), out, png, opts.title.as_deref())
}

/// The tag role (and phase) a `--metric` means for TensorBoard runs.
fn tag_role(m: Metric) -> Result<(Role, Option<Phase>), PlotError> {
    Ok(match m {
        Metric::TestAcc => (Role::Accuracy, Some(Phase::Eval)),
        Metric::TrainAcc => (Role::Accuracy, Some(Phase::Train)),
        Metric::StepAcc => (Role::Accuracy, None),
        Metric::TestLoss => (Role::Loss, Some(Phase::Eval)),
        Metric::TrainLoss => (Role::Loss, Some(Phase::Train)),
        Metric::StepLoss => (Role::Loss, None),
        Metric::Lr => (Role::LearningRate, None),
        Metric::Batch => (Role::BatchSize, None),
        Metric::NoiseScale | Metric::BSimple | Metric::ImagesPerSec => {
            return Err(PlotError::Unsupported(format!(
                "--metric {}: batchramp's own measurement, not in TensorBoard logs; use loss, accuracy, lr or batch metrics",
                m.caption().to_lowercase()
            )))
        }
    })
}

/// One panel of every tag of `role` (and `phase`: train also takes tags that name no phase).
fn tag_panel(
    runs: &[TagRun],
    table: &TagTable,
    role: Role,
    phase: Option<Phase>,
    x: XAxis,
) -> Panel {
    let mut curves = Vec::new();
    let mut marks = Vec::new();
    for (i, (label, run)) in runs.iter().enumerate() {
        let start = run.start_time().unwrap_or(0.0);
        let xv = |p: &SeriesPoint| match x {
            XAxis::Time => p.wall_time - start,
            _ => p.step as f64,
        };
        for (tag, series) in run.scalars().iter() {
            let tag_phase = phase_of(tag);
            if table.role(tag) == Some(Role::BatchSize) {
                let changes = value_changes(series.points());
                marks.extend(changes.map(|p| (PALETTE[i % PALETTE.len()], xv(p))));
            }
            let phase_fits = match phase {
                None => true,
                Some(Phase::Train) => tag_phase != Some(Phase::Eval),
                Some(p) => tag_phase == Some(p),
            };
            if table.role(tag) != Some(role) || !phase_fits {
                continue;
            }
            let points: Vec<(f64, f64)> = series
                .points()
                .iter()
                .map(|p| (xv(p), p.value))
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .collect();
            if points.is_empty() {
                continue;
            }
            curves.push(Curve {
                label: if runs.len() > 1 {
                    format!("{label}: {tag}")
                } else {
                    tag.to_string()
                },
                colour: PALETTE[curves.len() % PALETTE.len()],
                points: downsample(points, MAX_POINTS),
            });
        }
    }
    Panel::finish(Quantity::Tag(role), x, true, curves, marks)
}

/// Rows, columns and the (metric, x) of each panel, row by row.
fn layout(opts: &PlotOptions) -> (usize, usize, Vec<(Metric, XAxis)>) {
    match (opts.metric, opts.x) {
        (Some(m), Some(x)) => (1, 1, vec![(m, x)]),
        (Some(m), None) => (1, 2, vec![(m, XAxis::Epoch), (m, XAxis::Update)]),
        (None, Some(x)) => (1, 2, vec![(Metric::TestAcc, x), (Metric::TrainLoss, x)]),
        (None, None) => (
            2,
            2,
            vec![
                (Metric::TestAcc, XAxis::Epoch),
                (Metric::TestAcc, XAxis::Update),
                (Metric::TrainLoss, XAxis::Epoch),
                (Metric::TrainLoss, XAxis::Update),
            ],
        ),
    }
}

/// One run's line in a panel.
struct Curve {
    label: String,
    colour: RGBColor,
    points: Vec<(f64, f64)>,
}

/// What a panel's y axis shows: a quantity of batchramp's log, or TensorBoard tags of a role.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Quantity {
    Run(Metric),
    Tag(Role),
}

impl Quantity {
    fn caption(self) -> &'static str {
        match self {
            Quantity::Run(m) => m.caption(),
            Quantity::Tag(Role::Loss) => "Loss",
            Quantity::Tag(Role::Accuracy) => "Accuracy",
            Quantity::Tag(Role::LearningRate) => "Learning rate",
            Quantity::Tag(Role::BatchSize) => "Batch size",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Quantity::Run(m) => m.label(),
            Quantity::Tag(r) => r.label(),
        }
    }

    fn log_scale(self) -> bool {
        match self {
            Quantity::Run(m) => m.log_scale(),
            Quantity::Tag(r) => matches!(r, Role::LearningRate | Role::BatchSize),
        }
    }

    fn rises(self) -> bool {
        match self {
            Quantity::Run(m) => m.rises(),
            Quantity::Tag(r) => matches!(r, Role::Accuracy | Role::BatchSize),
        }
    }

    /// Percentages, kept within 0–100.
    fn percent(self) -> bool {
        matches!(
            self,
            Quantity::Run(Metric::TestAcc | Metric::TrainAcc | Metric::StepAcc)
        )
    }
}

/// One panel's data, ready to draw.
struct Panel {
    metric: Quantity,
    x: XAxis,
    /// The x axis counts a TensorBoard writer's steps (not batchramp's updates).
    steps: bool,
    /// Divisor and unit for the time axis.
    time_unit: (f64, &'static str),
    curves: Vec<Curve>,
    marks: Vec<(RGBColor, f64)>,
}

impl Panel {
    fn build(runs: &[RunRecords], metric: Metric, x: XAxis) -> Panel {
        let mut curves = Vec::new();
        let mut marks = Vec::new();
        for (i, (label, records)) in runs.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let points = series(records, metric, x);
            if points.is_empty() {
                continue;
            }
            marks.extend(stage_marks(records, x).into_iter().map(|m| (colour, m)));
            curves.push(Curve {
                label: label.to_string(),
                colour,
                points,
            });
        }
        Panel::finish(Quantity::Run(metric), x, false, curves, marks)
    }

    /// Picks the time unit and puts the curves on the panel's scales.
    fn finish(
        metric: Quantity,
        x: XAxis,
        steps: bool,
        mut curves: Vec<Curve>,
        mut marks: Vec<(RGBColor, f64)>,
    ) -> Panel {
        let max_x = curves
            .iter()
            .flat_map(|c| c.points.iter().map(|p| p.0))
            .fold(0.0, f64::max);
        let time_unit = match max_x {
            t if t < 180.0 => (1.0, "s"),
            t if t < 3.0 * 3600.0 => (60.0, "min"),
            _ => (3600.0, "h"),
        };
        if metric.log_scale() {
            // Plotted as log10; the tick labels undo it. Non-positive values have no logarithm:
            // the unbiased B_simple estimate can dip below zero when |G|² is tiny.
            for c in &mut curves {
                c.points.retain(|p| p.1 > 0.0);
                c.points.iter_mut().for_each(|p| p.1 = p.1.log10());
            }
            curves.retain(|c| !c.points.is_empty());
        }
        if x == XAxis::Time {
            for c in &mut curves {
                c.points.iter_mut().for_each(|p| p.0 /= time_unit.0);
            }
            marks.iter_mut().for_each(|m| m.1 /= time_unit.0);
        }
        Panel {
            metric,
            x,
            steps,
            time_unit,
            curves,
            marks,
        }
    }

    fn x_label(&self) -> String {
        match self.x {
            XAxis::Epoch => "epoch".into(),
            XAxis::Update if self.steps => "step".into(),
            XAxis::Update => "parameter updates".into(),
            XAxis::Time => format!("wall time ({})", self.time_unit.1),
        }
    }

    fn x_caption(&self) -> &'static str {
        match self.x {
            XAxis::Update if self.steps => "step",
            x => x.caption(),
        }
    }

    /// Data ranges, padded so curves do not touch the frame.
    fn ranges(&self) -> ((f64, f64), (f64, f64)) {
        let points = || self.curves.iter().flat_map(|c| c.points.iter());
        let x1 = points().map(|p| p.0).fold(f64::MIN, f64::max).max(1e-9);
        let (mut y0, mut y1) = points().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
        if y0 > y1 {
            (y0, y1) = (0.0, 1.0);
        }
        let span = y1 - y0;
        let pad = if span > 0.0 {
            span * 0.05
        } else {
            y0.abs().max(1.0) * 0.5
        };
        (y0, y1) = (y0 - pad, y1 + pad);
        if self.metric.percent() {
            (y0, y1) = (y0.max(0.0), y1.min(100.0));
        } else if y0 < 0.0 && points().all(|p| p.1 >= 0.0) && !self.metric.log_scale() {
            y0 = 0.0;
        }
        ((0.0, x1), (y0, y1))
    }
}

/// Draws the panels in a grid; errors come back as plotters' message.
fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    panels: &[Panel],
    rows: usize,
    cols: usize,
    s: f64,
    title: Option<&str>,
) -> Result<(), String> {
    let px = |v: f64| (v * s).round() as i32;
    let stroke = px(2.0).max(1) as u32;
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let area = match title {
        Some(t) => root
            .titled(t, (FAMILY, px(22.0)))
            .map_err(|e| e.to_string())?,
        None => root.clone(),
    };
    let cells = area.split_evenly((rows, cols));
    for (panel, cell) in panels.iter().zip(cells.iter()) {
        let ((x0, x1), (y0, y1)) = panel.ranges();
        let caption = format!("{} vs {}", panel.metric.caption(), panel.x_caption());
        let mut chart = ChartBuilder::on(cell)
            .caption(caption, (FAMILY, px(18.0)))
            .margin(px(12.0))
            .x_label_area_size(px(44.0))
            .y_label_area_size(px(64.0))
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| e.to_string())?;
        let x_fmt = |v: &f64| match panel.x {
            XAxis::Update => si(*v),
            _ => decimals(*v, x1 - x0),
        };
        let y_fmt = |v: &f64| {
            if panel.metric.log_scale() {
                let value = 10f64.powf(*v);
                if value < 1.0 {
                    format!("{value:.1e}")
                } else {
                    si(value)
                }
            } else {
                decimals(*v, y1 - y0)
            }
        };
        chart
            .configure_mesh()
            .x_desc(panel.x_label())
            .y_desc(if panel.metric.log_scale() {
                format!("{} (log scale)", panel.metric.label())
            } else {
                panel.metric.label().to_string()
            })
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_labels(7)
            .y_labels(6)
            .label_style((FAMILY, px(13.0)))
            .axis_desc_style((FAMILY, px(14.0)))
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(225, 225, 225))
            .draw()
            .map_err(|e| e.to_string())?;
        for &(colour, x) in &panel.marks {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x, y0), (x, y1)],
                    px(6.0),
                    px(5.0),
                    colour.mix(0.55).stroke_width(stroke.div_ceil(2)),
                ))
                .map_err(|e| e.to_string())?;
        }
        for Curve {
            label,
            colour,
            points,
        } in &panel.curves
        {
            let style = colour.stroke_width(stroke);
            let legend = style;
            chart
                .draw_series(LineSeries::new(points.iter().copied(), style))
                .map_err(|e| e.to_string())?
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + px(20.0), y)], legend));
        }
        let position = if panel.metric.rises() {
            SeriesLabelPosition::LowerRight
        } else {
            SeriesLabelPosition::UpperRight
        };
        chart
            .configure_series_labels()
            .position(position)
            .margin(px(10.0))
            .legend_area_size(px(28.0))
            .label_font((FAMILY, px(13.0)))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A tick label with as many decimals as the axis span needs.
fn decimals(v: f64, span: f64) -> String {
    let d = match span {
        s if s >= 20.0 => 0,
        s if s >= 2.0 => 1,
        s if s >= 0.2 => 2,
        s if s >= 0.02 => 3,
        _ => 4,
    };
    format!("{v:.d$}")
}

/// The points of `metric` against `x` for one run, non-finite values left out.
pub fn series(records: &[Record], metric: Metric, x: XAxis) -> Vec<(f64, f64)> {
    let pct = |v: f64| v * 100.0;
    let mut points: Vec<(f64, f64)> = match metric {
        Metric::TestAcc | Metric::TestLoss | Metric::TrainAcc | Metric::TrainLoss => records
            .iter()
            .filter_map(|r| match &r.event {
                Event::Epoch(e) => {
                    let xv = match x {
                        XAxis::Epoch => e.epoch as f64,
                        XAxis::Update => e.updates as f64,
                        XAxis::Time => r.t,
                    };
                    let y = match metric {
                        Metric::TestAcc => pct(e.test_acc),
                        Metric::TestLoss => e.test_loss,
                        Metric::TrainAcc => pct(e.train_acc),
                        _ => e.train_loss,
                    };
                    Some((xv, y))
                }
                _ => None,
            })
            .collect(),
        Metric::StepLoss | Metric::StepAcc | Metric::ImagesPerSec => {
            let points: Vec<(f64, f64)> = records
                .iter()
                .filter_map(|r| match &r.event {
                    Event::Step(s) => {
                        let xv = match x {
                            XAxis::Epoch => s.epochs_done(),
                            XAxis::Update => s.update as f64,
                            XAxis::Time => r.t,
                        };
                        let y = match metric {
                            Metric::StepLoss => s.loss,
                            Metric::StepAcc => pct(s.acc),
                            _ => s.images_per_sec,
                        };
                        Some((xv, y))
                    }
                    _ => None,
                })
                .filter(|p| p.1.is_finite())
                .collect();
            downsample(points, MAX_POINTS)
        }
        Metric::Lr | Metric::Batch | Metric::NoiseScale => schedule_steps(records, metric, x),
        Metric::BSimple => {
            let epochs = EpochOfUpdate::new(records);
            records
                .iter()
                .filter_map(|r| match &r.event {
                    Event::NoiseScale(n) => {
                        let xv = match x {
                            XAxis::Epoch => epochs.at(n.update),
                            XAxis::Update => n.update as f64,
                            XAxis::Time => r.t,
                        };
                        Some((xv, n.b_simple))
                    }
                    _ => None,
                })
                .collect()
        }
    };
    points.retain(|p| p.0.is_finite() && p.1.is_finite());
    points
}

/// Where the schedule changed stage (stages after the first), on the `x` axis.
pub fn stage_marks(records: &[Record], x: XAxis) -> Vec<f64> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Stage(s) if s.index > 0 => Some(match x {
                XAxis::Epoch => s.epochs_done() as f64,
                XAxis::Update => s.update as f64,
                XAxis::Time => r.t,
            }),
            _ => None,
        })
        .collect()
}

/// A schedule value as a step function from stage to stage, to the run's last point.
fn schedule_steps(records: &[Record], metric: Metric, x: XAxis) -> Vec<(f64, f64)> {
    let mut points = Vec::new();
    let mut last = None;
    for r in records {
        if let Event::Stage(s) = &r.event {
            let xv = match x {
                XAxis::Epoch => s.epochs_done() as f64,
                XAxis::Update => s.update as f64,
                XAxis::Time => r.t,
            };
            let y = match metric {
                Metric::Lr => s.lr,
                Metric::Batch => s.batch as f64,
                _ => s.noise_scale,
            };
            if let Some(prev) = last {
                points.push((xv, prev));
            }
            points.push((xv, y));
            last = Some(y);
        }
    }
    let end = records.iter().rev().find_map(|r| match &r.event {
        Event::Epoch(e) => Some(match x {
            XAxis::Epoch => e.epoch as f64,
            XAxis::Update => e.updates as f64,
            XAxis::Time => r.t,
        }),
        Event::Step(s) => Some(match x {
            XAxis::Epoch => s.epochs_done(),
            XAxis::Update => s.update as f64,
            XAxis::Time => r.t,
        }),
        _ => None,
    });
    if let (Some(end), Some(y)) = (end, last) {
        points.push((end, y));
    }
    points
}

/// Maps an update count to fractional epochs, from the epoch records.
struct EpochOfUpdate(Vec<(f64, f64)>);

impl EpochOfUpdate {
    fn new(records: &[Record]) -> Self {
        let mut knots = vec![(0.0, 0.0)];
        knots.extend(records.iter().filter_map(|r| match &r.event {
            Event::Epoch(e) => Some((e.updates as f64, e.epoch as f64)),
            _ => None,
        }));
        EpochOfUpdate(knots)
    }

    /// Fractional epochs at `update`; past the last epoch, at the last epoch's pace.
    fn at(&self, update: u64) -> f64 {
        let (u, k) = (update as f64, &self.0);
        if k.len() < 2 {
            return f64::NAN;
        }
        let i = k.partition_point(|p| p.0 < u).clamp(1, k.len() - 1);
        let (a, b) = (k[i - 1], k[i]);
        if b.0 > a.0 {
            a.1 + (u - a.0) / (b.0 - a.0) * (b.1 - a.1)
        } else {
            b.1
        }
    }
}

/// Averages consecutive points in equal buckets so at most `max` remain.
fn downsample(points: Vec<(f64, f64)>, max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max {
        return points;
    }
    let per = points.len().div_ceil(max);
    points
        .chunks(per)
        .map(|c| {
            let n = c.len() as f64;
            let (sx, sy) = c.iter().fold((0.0, 0.0), |a, p| (a.0 + p.0, a.1 + p.1));
            (sx / n, sy / n)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runlog::sample::SampleRun;

    #[test]
    fn the_embedded_font_loads() {
        assert!(plotters::style::register_font("batchramp-test", FontStyle::Normal, FONT).is_ok());
    }

    #[test]
    fn epoch_series_use_completed_epochs_and_percent() {
        let recs = SampleRun::default().records();
        let pts = series(&recs, Metric::TestAcc, XAxis::Epoch);
        assert_eq!(pts.len(), 12);
        assert_eq!(pts[0].0, 1.0);
        assert!(pts.iter().all(|p| p.1 > 1.0 && p.1 <= 100.0));
        let by_update = series(&recs, Metric::TrainLoss, XAxis::Update);
        assert!(by_update.windows(2).all(|w| w[1].0 > w[0].0));
    }

    #[test]
    fn stage_marks_sit_at_milestones() {
        let recs = SampleRun::default().records();
        assert_eq!(stage_marks(&recs, XAxis::Epoch), vec![6.0, 9.0]);
    }

    #[test]
    fn schedule_is_a_step_function_to_the_end() {
        let recs = SampleRun::default().records();
        let b = series(&recs, Metric::Batch, XAxis::Epoch);
        assert_eq!(b.first(), Some(&(0.0, 128.0)));
        assert_eq!(b.last(), Some(&(12.0, 3200.0)));
        assert!(b.contains(&(6.0, 128.0)) && b.contains(&(6.0, 640.0)));
    }

    #[test]
    fn step_series_are_bounded() {
        let recs = SampleRun {
            train_size: 60_000,
            epochs: 10,
            ..Default::default()
        }
        .records();
        let pts = series(&recs, Metric::StepLoss, XAxis::Update);
        assert!(
            pts.len() <= MAX_POINTS && pts.len() > MAX_POINTS / 2,
            "{}",
            pts.len()
        );
    }

    #[test]
    fn epoch_of_update_interpolates() {
        let recs = SampleRun::default().records();
        let map = EpochOfUpdate::new(&recs);
        let first_epoch_updates = match recs.iter().find_map(|r| match &r.event {
            Event::Epoch(e) => Some(e.updates),
            _ => None,
        }) {
            Some(u) => u,
            None => panic!("no epoch"),
        };
        assert_eq!(map.at(first_epoch_updates), 1.0);
        assert!((map.at(first_epoch_updates / 2) - 0.5).abs() < 0.1);
    }
}
