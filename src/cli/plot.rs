//! `batchramp plot`: publication-quality figures of one or more runs, as PNG or SVG.
//!
//! Owns the command line of plotting; the figures themselves are `report::plot`'s.

use std::path::PathBuf;

use crate::error::BadInput;
use crate::report::plot::{plot_runs, plot_tensorboard, Metric, PlotError, PlotOptions, XAxis};
use crate::report::summary::load_runs;
use crate::tboard::{self, Logdir, TagTable};

/// Arguments of `batchramp plot`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run directories (or events.jsonl files) to draw, one colour each; or TensorBoard
    /// logdirs (or event files).
    #[arg(value_name = "RUN_DIR", required = true, num_args = 1..)]
    pub runs: Vec<PathBuf>,
    /// Output image: FILE.png or FILE.svg.
    #[arg(long, value_name = "FILE.png|FILE.svg")]
    pub out: PathBuf,
    /// Horizontal axis. Default: epochs and updates side by side.
    #[arg(long, value_enum)]
    pub x: Option<XAxis>,
    /// Quantity to draw. Default: test accuracy and training loss (the paper's Figure 2).
    #[arg(long, value_enum)]
    pub metric: Option<Metric>,
    /// Title over the figure.
    #[arg(long)]
    pub title: Option<String>,
}

/// Runs `batchramp plot`; returns the exit code.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let ext = args
        .out
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    if !matches!(ext.as_deref(), Some("png" | "svg")) {
        return Err(BadInput(PlotError::Format(args.out).to_string()).into());
    }
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(BadInput(format!(
                "{}: no such directory for the figure; create it or pick another --out",
                parent.display()
            ))
            .into());
        }
    }
    if let Some(logdirs) = tensorboard_inputs(&args.runs)? {
        return plot_logdirs(&args, &logdirs);
    }
    let runs = load_runs(&args.runs).map_err(|e| BadInput(e.to_string()))?;
    for run in &runs {
        for note in run.log.notes() {
            eprintln!("note: {note}");
        }
    }
    let data: Vec<(&str, &[crate::events::Record])> = runs
        .iter()
        .map(|r| (r.label.as_str(), r.records()))
        .collect();
    let opts = PlotOptions {
        x: args.x,
        metric: args.metric,
        title: args.title,
    };
    match plot_runs(&data, &args.out, &opts) {
        Ok(()) => {}
        Err(e @ (PlotError::Format(_) | PlotError::NoData { .. } | PlotError::Unsupported(_))) => {
            return Err(BadInput(e.to_string()).into())
        }
        Err(e) => return Err(e.into()),
    }
    println!("wrote {}", args.out.display());
    Ok(0)
}

/// The inputs as TensorBoard logdirs when every one is; `None` when none is (batchramp runs).
fn tensorboard_inputs(paths: &[PathBuf]) -> anyhow::Result<Option<Vec<(PathBuf, Logdir)>>> {
    let mut logdirs = Vec::new();
    for path in paths {
        if let Some(l) = tboard::open_input(path).map_err(|e| BadInput(e.to_string()))? {
            logdirs.push((path.clone(), l));
        }
    }
    match logdirs.len() {
        0 => Ok(None),
        n if n == paths.len() => Ok(Some(logdirs)),
        _ => Err(BadInput(
            "plot draws either batchramp runs or TensorBoard logdirs, not both in one figure"
                .into(),
        )
        .into()),
    }
}

/// `plot` of TensorBoard logdirs: the tags the tag table recognises, one curve per run and tag.
fn plot_logdirs(args: &Args, logdirs: &[(PathBuf, Logdir)]) -> anyhow::Result<i32> {
    let mut runs = Vec::new();
    for (path, logdir) in logdirs {
        for note in logdir.notes() {
            eprintln!("note: {note}");
        }
        let base = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        for run in logdir.runs() {
            let label = match run.name() {
                "." => base.clone(),
                name if logdirs.len() > 1 => format!("{base}/{name}"),
                name => name.to_string(),
            };
            runs.push((label, run));
        }
    }
    let data: Vec<(&str, &tboard::Run)> = runs.iter().map(|(l, r)| (l.as_str(), *r)).collect();
    let opts = PlotOptions {
        x: args.x,
        metric: args.metric,
        title: args.title.clone(),
    };
    match plot_tensorboard(&data, &TagTable::default(), &args.out, &opts) {
        Ok(()) => {}
        Err(e @ (PlotError::Format(_) | PlotError::NoData { .. } | PlotError::Unsupported(_))) => {
            return Err(BadInput(e.to_string()).into())
        }
        Err(e) => return Err(e.into()),
    }
    println!("wrote {}", args.out.display());
    Ok(0)
}
