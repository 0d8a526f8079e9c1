//! `batchramp export`: a run as TensorBoard event files and/or a tidy CSV.
//!
//! Owns where exports go: TensorBoard files into `DIR/<run directory name>/` (so TensorBoard
//! shows each exported run under its own name), the CSV to a file or `-` for standard output.

use std::path::{Path, PathBuf};

use crate::error::BadInput;
use crate::report::export::{run_start_time, write_csv, write_tensorboard};
use crate::runlog::{self, LogContents};
use crate::tboard::{self, Logdir};

/// Arguments of `batchramp export`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The run directory (or its events.jsonl), or a TensorBoard logdir or event file.
    #[arg(value_name = "RUN_DIR")]
    pub run: PathBuf,
    /// Write TensorBoard event files under DIR/RUN/ (view with `tensorboard --logdir DIR`).
    #[arg(long, value_name = "DIR")]
    pub tensorboard: Option<PathBuf>,
    /// Write a tidy CSV (run,kind,epoch,update,t,metric,value) to FILE, or `-` for stdout.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
}

/// Runs `batchramp export`; returns the exit code.
pub fn run(args: Args) -> anyhow::Result<i32> {
    if args.tensorboard.is_none() && args.csv.is_none() {
        return Err(BadInput(
            "nothing to write: give one of --tensorboard DIR or --csv FILE (or both)".into(),
        )
        .into());
    }
    if let Some(logdir) = tboard::open_input(&args.run).map_err(|e| BadInput(e.to_string()))? {
        return export_logdir(&args, &logdir);
    }
    let log = runlog::read_log(&args.run).map_err(|e| BadInput(e.to_string()))?;
    for note in log.notes() {
        eprintln!("note: {note}");
    }
    let run_dir = log.path.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = run_name(&run_dir, &log);
    if let Some(csv) = &args.csv {
        export_csv(&log, &name, csv)?;
    }
    if let Some(dir) = &args.tensorboard {
        let target = dir.join(&name);
        let replaced = remove_old_event_files(&target)?;
        let start = run_start_time(&run_dir, &log.path, log.records.last().map_or(0.0, |r| r.t));
        let path =
            write_tensorboard(&log.records, &target, start).map_err(|e| BadInput(e.to_string()))?;
        let note = if replaced > 0 {
            " (replacing the previous export)"
        } else {
            ""
        };
        eprintln!("wrote {}{note}", path.display());
    }
    Ok(0)
}

/// The run's directory name (unique per run), else the name in its header.
fn run_name(run_dir: &Path, log: &LogContents) -> String {
    run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .or_else(|| log.header().map(|h| h.name.clone()))
        .unwrap_or_else(|| "run".into())
}

fn export_csv(log: &LogContents, name: &str, csv: &Path) -> anyhow::Result<()> {
    let runs = [(name, log.records.as_slice())];
    if csv.as_os_str() == "-" {
        return match write_csv(&runs, std::io::stdout().lock()) {
            Ok(()) => Ok(()),
            Err(e) => super::replay::quiet_on_broken_pipe(e),
        };
    }
    let bad = |e: std::io::Error| BadInput(format!("cannot write {}: {e}", csv.display()));
    let file = std::fs::File::create(csv).map_err(bad)?;
    write_csv(&runs, file).map_err(bad)?;
    eprintln!("wrote {}", csv.display());
    Ok(())
}

/// Deletes event files an earlier export left in `dir`, so TensorBoard shows each point once.
/// Only files named like ours are touched.
fn remove_old_event_files(dir: &Path) -> anyhow::Result<usize> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("events.out.tfevents.") {
            std::fs::remove_file(entry.path())
                .map_err(|e| BadInput(format!("cannot replace {}: {e}", entry.path().display())))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// `export` of a TensorBoard logdir: its scalars as CSV (`run,tag,step,wall_time,value`).
fn export_logdir(args: &Args, logdir: &Logdir) -> anyhow::Result<i32> {
    if args.tensorboard.is_some() {
        return Err(BadInput(format!(
            "{}: already TensorBoard event files; --tensorboard exports batchramp runs (use --csv FILE)",
            args.run.display()
        ))
        .into());
    }
    for note in logdir.notes() {
        eprintln!("note: {note}");
    }
    let Some(csv) = &args.csv else {
        return Ok(0);
    };
    if csv.as_os_str() == "-" {
        return match tboard::write_csv(logdir, std::io::stdout().lock()) {
            Ok(_) => Ok(0),
            Err(e) => super::replay::quiet_on_broken_pipe(e).map(|()| 0),
        };
    }
    let bad = |e: std::io::Error| BadInput(format!("cannot write {}: {e}", csv.display()));
    let file = std::fs::File::create(csv).map_err(bad)?;
    let rows = tboard::write_csv(logdir, file).map_err(bad)?;
    eprintln!(
        "wrote {} ({} of {})",
        csv.display(),
        crate::format::counted(rows as u64, "scalar"),
        crate::format::counted(logdir.runs().len() as u64, "run")
    );
    Ok(0)
}
