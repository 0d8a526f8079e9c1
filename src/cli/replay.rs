//! `batchramp replay`: plays a recorded run in the UI, or prints its plain lines.
//!
//! Owns choosing between the UI and plain lines and the playback speed. It must never write
//! to the run directory.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::BadInput;
use crate::events::Record;
use crate::report::lines::LineFormatter;
use crate::runlog;

/// Playback speed in the UI when `--speed` is not given: a minute of training per second.
const DEFAULT_UI_SPEED: f64 = 60.0;

/// Arguments of `batchramp replay`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A run directory (runs/DATE-NAME) or its events.jsonl, or a TensorBoard logdir or event
    /// file (shown whole in the scalars dashboard).
    #[arg(value_name = "LOG_OR_RUN_DIR|LOGDIR")]
    pub path: PathBuf,
    /// Playback speed: a factor of real time (e.g. 10) or `max`. Default: 60 in the UI,
    /// max with --no-tui.
    #[arg(long, value_name = "FACTOR|max", value_parser = parse_speed)]
    pub speed: Option<Speed>,
    /// Print the plain per-epoch lines (as `train --no-tui` does) instead of the UI.
    #[arg(long)]
    pub no_tui: bool,
    /// UI theme: dark, light, mono, or a theme file.
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
}

/// How fast to play a log back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// A multiple of real time.
    Factor(f64),
    /// As fast as possible.
    Max,
}

/// Parses `--speed`: `max` or a positive finite number.
pub fn parse_speed(s: &str) -> Result<Speed, String> {
    if s.eq_ignore_ascii_case("max") {
        return Ok(Speed::Max);
    }
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Factor(f)),
        _ => Err(format!(
            "`{s}` is not a speed; give a positive factor of real time such as 10, or max"
        )),
    }
}

/// Runs `batchramp replay`; returns the exit code.
pub fn run(args: Args) -> anyhow::Result<i32> {
    super::check_theme(args.theme.as_deref())?;
    if let Some(logdir) = super::board::open(&args.path)? {
        if args.speed.is_some() {
            super::say(
                "note: --speed paces a batchramp run's log; a TensorBoard logdir is shown whole",
            );
        }
        let title = format!("replay: {}", super::watch::display_name(&args.path));
        return super::board::run(logdir, false, args.no_tui, args.theme, title);
    }
    let log = runlog::read_log(&args.path).map_err(|e| BadInput(e.to_string()))?;
    for note in log.notes() {
        super::say(&format!("note: {note}"));
    }
    if args.no_tui || !std::io::stdout().is_terminal() {
        print_lines(&log.records, args.speed.unwrap_or(Speed::Max))?;
        return Ok(0);
    }
    let title = match log.header() {
        Some(h) => format!("replay: {}", h.name),
        None => format!("replay: {}", args.path.display()),
    };
    let speed = match args.speed {
        Some(Speed::Max) => None,
        Some(Speed::Factor(f)) => Some(f),
        None => Some(DEFAULT_UI_SPEED),
    };
    let feed = crate::tui::Feed::Replay {
        records: log.records,
        speed,
    };
    show(feed, args.theme, title)
}

/// Runs the UI on a feed; returns the exit code of how it ended: 129 when the terminal went
/// away, 128 + the signal's number when SIGINT, SIGTERM or SIGHUP ended it (the terminal is
/// given back first), else 0. A bad theme is the user's to fix (exit 2).
pub(crate) fn show(
    feed: crate::tui::Feed,
    theme: Option<String>,
    title: String,
) -> anyhow::Result<i32> {
    let opts = crate::tui::UiOptions { theme, title };
    let signals = super::UiSignals::install()?;
    let result = crate::tui::run_with_shutdown(feed, opts, signals.receiver());
    let signalled = signals.finish();
    match result {
        Ok(exit) => Ok(signalled.unwrap_or_else(|| super::ui_exit_code(exit))),
        Err(e @ crate::tui::TuiError::Theme(_)) => Err(BadInput(e.to_string()).into()),
        Err(e) => Err(e.into()),
    }
}

/// Prints the plain lines, paced by the records' times when a speed factor is given.
fn print_lines(records: &[Record], speed: Speed) -> anyhow::Result<()> {
    let mut formatter = LineFormatter::new();
    let start = Instant::now();
    let t0 = records.first().map_or(0.0, |r| r.t);
    let stdout = std::io::stdout();
    for rec in records {
        let Some(line) = formatter.format(rec) else {
            continue;
        };
        if let Speed::Factor(f) = speed {
            let due = Duration::from_secs_f64(((rec.t - t0) / f).max(0.0));
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let mut out = stdout.lock();
        if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
            return quiet_on_broken_pipe(e);
        }
    }
    Ok(())
}

/// A closed pipe (`| head`) ends the output quietly; other write errors are reported.
pub(crate) fn quiet_on_broken_pipe(e: std::io::Error) -> anyhow::Result<()> {
    match e.kind() {
        std::io::ErrorKind::BrokenPipe => Ok(()),
        _ => Err(anyhow::anyhow!("cannot write to standard output: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_parses_factors_and_max() {
        assert_eq!(parse_speed("max"), Ok(Speed::Max));
        assert_eq!(parse_speed("MAX"), Ok(Speed::Max));
        assert_eq!(parse_speed("2.5"), Ok(Speed::Factor(2.5)));
        for bad in ["0", "-1", "fast", "inf", "NaN"] {
            assert!(parse_speed(bad).is_err(), "{bad}");
        }
    }
}
