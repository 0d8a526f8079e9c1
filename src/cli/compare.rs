//! `batchramp compare`: several runs overlaid in the UI, or a comparison table.
//!
//! Owns choosing between the UI and the table. It must never write to the run directories.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use crate::error::BadInput;
use crate::report::summary::{comparison_table, load_runs};
use crate::tboard;

use super::replay::{quiet_on_broken_pipe, show};

/// Arguments of `batchramp compare`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run directories (or events.jsonl files) to compare, or one TensorBoard logdir (its runs
    /// overlaid; put several logdirs under one directory to compare them).
    #[arg(value_name = "RUN_DIR|LOGDIR", required = true, num_args = 1..)]
    pub runs: Vec<PathBuf>,
    /// Print a table (final and best test accuracy, updates, wall time) instead of the UI.
    #[arg(long)]
    pub no_tui: bool,
    /// UI theme: dark, light, mono, or a theme file.
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
}

/// Runs `batchramp compare`; returns the exit code.
pub fn run(args: Args) -> anyhow::Result<i32> {
    super::check_theme(args.theme.as_deref())?;
    if let Some(i) = args
        .runs
        .iter()
        .position(|p| tboard::is_tensorboard_source(p))
    {
        let path = &args.runs[i];
        if args.runs.len() > 1 {
            return Err(BadInput(format!(
                "{}: compare takes batchramp run directories, or one TensorBoard logdir; to compare several logdirs, put them under one directory and pass it",
                path.display()
            ))
            .into());
        }
        if let Some(logdir) = super::board::open(path)? {
            let title = format!("compare: {}", super::watch::display_name(path));
            return super::board::run(logdir, false, args.no_tui, args.theme, title);
        }
    }
    let runs = load_runs(&args.runs).map_err(|e| BadInput(e.to_string()))?;
    for run in &runs {
        for note in run.log.notes() {
            super::say(&format!("note: {note}"));
        }
    }
    if args.no_tui || !std::io::stdout().is_terminal() {
        let table = comparison_table(&runs);
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(table.as_bytes()).and_then(|()| out.flush()) {
            quiet_on_broken_pipe(e)?;
        }
        return Ok(0);
    }
    // The header adds the count ("compare · 2 runs").
    let title = "compare".to_string();
    let feed = crate::tui::Feed::Compare {
        runs: runs.into_iter().map(|r| (r.label, r.log.records)).collect(),
    };
    show(feed, args.theme, title)
}
