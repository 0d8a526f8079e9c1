//! `batchramp watch`: follows a live run's log (e.g. over SSH) in the UI or as plain lines,
//! and says when the run finishes or its writer stops.
//!
//! Owns the exit code of a watch: with plain lines 0 when the run finished, 1 when it failed or
//! its writer stopped without finishing (a TensorBoard logdir is followed until interrupted); in the UI 0 when the user left, 129 when the terminal
//! went away, 128 + n for signal n. It must never take the run's lock or write to its directory.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use crate::error::BadInput;
use crate::events::Event;
use crate::report::lines::LineFormatter;
use crate::runlog;

use super::replay::{quiet_on_broken_pipe, show};

/// Arguments of `batchramp watch`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The run directory of a run in progress (runs/DATE-NAME), or a TensorBoard logdir or
    /// event file (followed live: growing files, new files, new runs).
    #[arg(value_name = "RUN_DIR|LOGDIR")]
    pub run_dir: PathBuf,
    /// Print plain lines as they arrive instead of the UI.
    #[arg(long)]
    pub no_tui: bool,
    /// UI theme: dark, light, mono, or a theme file.
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
}

/// Runs `batchramp watch`; returns the exit code.
pub fn run(args: Args) -> anyhow::Result<i32> {
    super::check_theme(args.theme.as_deref())?;
    let title = format!("watch: {}", display_name(&args.run_dir));
    match crate::tboard::open_input_unread(&args.run_dir) {
        Ok(Some(logdir)) => return super::board::run(logdir, true, args.no_tui, args.theme, title),
        // A directory that is no run and has no event files yet: a logdir a training is about
        // to write, followed until its first runs appear.
        Err(crate::tboard::TboardError::Neither { path }) => {
            let logdir = crate::tboard::Logdir::open_to_follow(&path)
                .map_err(|e| BadInput(e.to_string()))?;
            super::say(&format!(
                "note: {}: no TensorBoard event files yet; waiting for them",
                path.display()
            ));
            return super::board::run(logdir, true, args.no_tui, args.theme, title);
        }
        Err(e) => return Err(BadInput(e.to_string()).into()),
        Ok(None) => {}
    }
    runlog::probe_log(&args.run_dir).map_err(|e| BadInput(e.to_string()))?;
    let follower = runlog::follow(&args.run_dir);
    if args.no_tui || !std::io::stdout().is_terminal() {
        return print_lines(follower.receiver());
    }
    let feed = crate::tui::Feed::Follow {
        events: follower.receiver(),
    };
    let code = show(feed, args.theme, title)?;
    follower.stop();
    Ok(code)
}

/// The last part of `path`, or all of it when it has none (`.`, `/`).
pub(crate) fn display_name(path: &std::path::Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Prints lines until the follower ends; the exit code says how the run ended.
fn print_lines(
    events: crossbeam_channel::Receiver<Result<crate::events::Record, String>>,
) -> anyhow::Result<i32> {
    let mut formatter = LineFormatter::new();
    let stdout = std::io::stdout();
    let mut code = 1;
    // A quiet run (paused, evaluating) writes nothing for a while: the closed pipe of a reader
    // that went away must still end the watch.
    while let Some(item) = super::next_while_read(&events) {
        match item {
            Ok(rec) => {
                code = match rec.event {
                    Event::Finished(_) => 0,
                    _ => 1,
                };
                if let Some(line) = formatter.format(&rec) {
                    let mut out = stdout.lock();
                    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
                        return quiet_on_broken_pipe(e).map(|()| 0);
                    }
                }
            }
            Err(message) => super::say(&message),
        }
    }
    // A reader that went away ends the watch as a closed pipe does: quietly.
    if super::stdout_closed() {
        return Ok(0);
    }
    Ok(code)
}
