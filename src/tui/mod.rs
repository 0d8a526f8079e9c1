//! The terminal UI: curves, schedule, progress, resources and status of a run, live or from a
//! log. Owns the terminal while it runs and always restores it; must never train, write run
//! files, or print anything outside its own frames. It knows a run only through its events
//! (`crate::events`) and talks back only through [`Control`] messages.
//!
//! Layout of this module, following the data flow:
//! `state` (one run from its events) → `mode` (the source, each with its own state: a live run
//! with its pending requests, a followed log, a replay with its playback, a comparison, a
//! TensorBoard logdir whose scalars `board` holds and draws) → `app`
//! (keys → effects, with `view` for how the curves are drawn) → `ui` + `widgets` (drawing, each
//! widget from a small view) → `runner` (the select loop) with `input` (our own tty reader: keys,
//! resizes, and the terminal's loss as an end) and `terminal` (raw mode guard) →
//! `outcome` (how the user left, or why the UI could not run);
//! `state` groups what a run's events say by panel (curves as bounded `series::Track`s), `theme` (colours, glyphs, theme files) and `keys` (bindings)
//! are two separate things loaded from the same `themes/*.toml`, `screenshot` renders frames to
//! SVG, `fixture` turns `runlog::sample` runs into UI states for tests and demos.

#![warn(missing_docs)]

pub mod app;
pub mod board;
pub mod fixture;

pub mod input;
pub mod keys;
pub mod mode;
mod outcome;
mod runner;
pub mod screenshot;
pub mod state;
pub mod terminal;
pub mod theme;
pub mod ui;
pub mod view;
pub mod widgets;

#[cfg(test)]
mod snapshot_tests;

use crossbeam_channel::{Receiver, Sender};

use crate::events::{Control, Record};

pub use keys::KeyMap;
pub use outcome::{TuiError, UiExit};
pub use screenshot::{
    render_board_screenshot, render_compare_screenshot, render_screenshot, render_text, Shot,
};
pub use theme::{ColorMode, Theme};

/// Where the UI's events come from; the UI never knows more than this.
pub enum Feed {
    /// A live run: events from the trainer (bounded channel, may drop step events), control back to it.
    ///
    /// The UI leaves after a stop request once `events` disconnects, so the trainer should drop
    /// its sender when it has sent its last event. `control` is sent to with a short timeout and
    /// never blocks the UI; an unbounded channel is simplest.
    Live {
        /// Events from the trainer.
        events: Receiver<Record>,
        /// Commands to the trainer.
        control: Sender<Control>,
    },
    /// Following a log written by another process: events as they are appended; `Err(String)` items are reader problems to show.
    Follow {
        /// Records, or one-line descriptions of problems reading the log.
        events: Receiver<Result<Record, String>>,
    },
    /// Replaying a finished log at `speed` × real time (None = as fast as possible); the UI owns playback (pause with p, seek with Home/End).
    Replay {
        /// The whole log.
        records: Vec<Record>,
        /// Playback speed factor; `None` = as fast as possible.
        speed: Option<f64>,
    },
    /// Several runs overlaid with a legend (name, records).
    Compare {
        /// Each run's name and records.
        runs: Vec<(String, Vec<Record>)>,
    },
    /// A TensorBoard logdir in the scalars dashboard: the changes its reader thread sends
    /// ([`crate::tboard::LogdirReader`]; the channel disconnects when it stops) and this
    /// machine's samples ([`crate::machine::spawn_sampler`]; `never()` for none).
    Logdir {
        /// Changes from the reader.
        updates: Receiver<crate::tboard::ScalarUpdate>,
        /// Which tags are a loss, an accuracy, a learning rate, a batch size.
        table: crate::tboard::TagTable,
        /// Watched live (the reader polls until stopped) rather than read once.
        following: bool,
        /// This machine's samples for the machine panel.
        machine: Receiver<crate::machine::MachineSample>,
    },
}

/// How the UI looks.
#[derive(Clone, Debug, Default)]
pub struct UiOptions {
    /// Theme name (`dark`, `light`, `mono`) or path of a theme TOML file; `None` = `dark`.
    pub theme: Option<String>,
    /// Title in the header (e.g. the run directory name).
    pub title: String,
}

/// Takes over the terminal (alternate screen, raw mode), always restores it (drop guard + panic hook), returns on quit.
pub fn run(feed: Feed, opts: UiOptions) -> Result<UiExit, TuiError> {
    run_with_shutdown(feed, opts, crossbeam_channel::never())
}

/// Runs the UI drawing into `writer` as a terminal of `size` (columns, rows) that the caller
/// owns and has prepared (a pseudo-terminal it serves, a socket); this process's own terminal is
/// left alone and no keys are read.
///
/// The loop runs exactly as in [`run`] (same thread priority, frame cap and redraw rules), which is
/// what `cargo bench --bench ui_overhead` relies on to time the UI's cost to training. Without
/// keys, the UI leaves when a message arrives on `shutdown` (see [`run_with_shutdown`]): once
/// the feed has ended it returns [`UiExit::FeedEnded`] at once. The footer's hints name the
/// default key bindings, since none are read.
pub fn run_on_writer<W: std::io::Write + Send>(
    feed: Feed,
    theme: Theme,
    title: String,
    writer: W,
    size: (u16, u16),
    shutdown: Receiver<()>,
) -> Result<UiExit, TuiError> {
    runner::run_writer(feed, theme, title, writer, size, shutdown)
}

/// Like [`run`], plus a way for a signal handler to ask the UI to quit.
///
/// A message (or nothing: only `Ok(())` counts) on `shutdown` stops without asking: in a live
/// run the UI sends `Control::Stop { checkpoint: true }` and returns [`UiExit::QuitWithCheckpoint`]
/// once the trainer's channel disconnects; in other feeds it returns at once. Dropping the sender
/// does nothing. When the terminal goes away (hang-up, end of input, a failed read or write) the
/// UI does the same without drawing again and returns [`UiExit::TerminalLost`]. Typical use: `let (tx, rx) = crossbeam_channel::bounded(1);` with `tx.try_send(())`
/// in the SIGTERM/SIGHUP handler thread.
pub fn run_with_shutdown(
    feed: Feed,
    opts: UiOptions,
    shutdown: Receiver<()>,
) -> Result<UiExit, TuiError> {
    runner::run_terminal(feed, opts, shutdown)
}

/// Load a theme by name (`dark`, `light`, `mono`) or TOML path; honours NO_COLOR; truecolor only when COLORTERM says so.
///
/// The file is accepted or refused whole: a bad `[keys]` table or `[[tags]]` entry is an error
/// here too, so a caller that checks `--theme` before a run starts hears about it then, although
/// the key map and the tag table are built apart from the theme (see [`theme::ThemeFile::keys`],
/// [`theme::ThemeFile::tag_table`]).
pub fn load_theme(name: Option<&str>) -> Result<Theme, TuiError> {
    let file = theme::ThemeFile::load(name)?;
    let theme = file.theme(ColorMode::from_env())?;
    file.keys()?;
    file.tag_table()?;
    Ok(theme)
}
