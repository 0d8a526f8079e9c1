//! Where the UI's events come from, as one enum whose variants carry the state only that source
//! has: a live run with the requests sent to its trainer, a followed log, a replay with its
//! playback, a comparison of finished runs, a TensorBoard logdir (read once or followed). Owns what each source lets the UI know and do, so a
//! state no source can produce (a replay with pending trainer requests, a comparison with a
//! playback) cannot be built; must never read keys, a clock or the terminal.

mod compare;
mod follow;
mod live;
mod logdir;
mod replay;

pub use compare::Compare;
pub use follow::Follow;
pub use live::{Answer, Live, Pending};
pub use logdir::Logdir;
pub use replay::{Playback, Replay};

use super::outcome::UiExit;
use super::state::RunState;
use crate::events::Record;

/// The source of the events, with the state that belongs to it.
#[derive(Clone, Debug)]
pub enum Mode {
    /// A run in this process; commands go back to its trainer.
    Live(Live),
    /// A log another process is writing.
    Follow(Follow),
    /// A finished log played back.
    Replay(Replay),
    /// Several finished runs overlaid.
    Compare(Compare),
    /// A TensorBoard logdir: the scalars dashboard.
    Logdir(Logdir),
}

/// What the keys can act on besides the view, which decides the hints and the key list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Controls {
    /// The trainer: pause, checkpoint, stop.
    Trainer,
    /// The playback: pause, seek, speed.
    Playback,
    /// Nothing: the view is read-only.
    ReadOnly,
}

/// What the panels show.
#[derive(Clone, Copy, Debug)]
pub enum Shown<'a> {
    /// One run.
    Run(&'a RunState),
    /// Several runs with their names.
    Runs(&'a [(String, RunState)]),
    /// A TensorBoard logdir's scalars.
    Board(&'a Logdir),
}

/// A run's state as the header shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Before the first metric.
    WarmingUp,
    /// Training.
    Running,
    /// Pause requested.
    Pausing,
    /// Paused.
    Paused,
    /// Resume requested.
    Resuming,
    /// Checkpoint requested.
    Checkpointing,
    /// Stop requested; waiting for the trainer's last events.
    Stopping,
    /// Completed.
    Finished,
    /// Stopped on an error.
    Failed,
    /// The feed ended without a finish (trainer gone, log no longer written).
    Ended,
}

impl Status {
    /// Lower-case label.
    pub fn label(self) -> &'static str {
        match self {
            Status::WarmingUp => "warming up",
            Status::Running => "running",
            Status::Pausing => "pausing…",
            Status::Paused => "paused",
            Status::Resuming => "resuming…",
            Status::Checkpointing => "checkpointing…",
            Status::Stopping => "stopping…",
            Status::Finished => "finished",
            Status::Failed => "failed",
            Status::Ended => "ended",
        }
    }

    /// What the run's own events say, before any request or the feed's end is taken into account.
    pub fn of(run: &RunState) -> Status {
        if run.progress.failed.is_some() {
            Status::Failed
        } else if run.progress.finished.is_some() {
            Status::Finished
        } else if run.progress.paused.is_some() {
            Status::Paused
        } else if run.warming_up() {
            Status::WarmingUp
        } else {
            Status::Running
        }
    }

    /// True for the states no later event changes.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Finished | Status::Failed)
    }
}

impl Mode {
    /// What the keys act on in this mode.
    pub fn controls(&self) -> Controls {
        match self {
            Mode::Live(_) => Controls::Trainer,
            Mode::Replay(_) => Controls::Playback,
            Mode::Follow(_) | Mode::Compare(_) | Mode::Logdir(_) => Controls::ReadOnly,
        }
    }

    /// The run or runs the panels draw.
    pub fn shown(&self) -> Shown<'_> {
        match self {
            Mode::Live(m) => Shown::Run(m.run()),
            Mode::Follow(m) => Shown::Run(m.run()),
            Mode::Replay(m) => Shown::Run(m.run()),
            Mode::Compare(m) => Shown::Runs(m.runs()),
            Mode::Logdir(m) => Shown::Board(m),
        }
    }

    /// The one run shown, unless several are.
    pub fn run(&self) -> Option<&RunState> {
        match self.shown() {
            Shown::Run(run) => Some(run),
            Shown::Runs(_) | Shown::Board(_) => None,
        }
    }

    /// The header's status of the one run shown; a comparison and a logdir have none (the
    /// dashboard says how reading stands).
    pub fn status(&self) -> Option<Status> {
        match self {
            Mode::Live(m) => Some(m.status()),
            Mode::Follow(m) => Some(m.status()),
            Mode::Replay(m) => Some(m.status()),
            Mode::Compare(_) | Mode::Logdir(_) => None,
        }
    }

    /// True when nothing more will happen: the feed has ended, or the run finished or failed.
    pub fn over(&self) -> bool {
        match self {
            Mode::Live(m) => m.over(),
            Mode::Follow(m) => m.over(),
            Mode::Replay(m) => m.over(),
            Mode::Compare(_) => true,
            Mode::Logdir(m) => m.over(),
        }
    }

    /// How leaving now ends the UI.
    pub fn exit(&self) -> UiExit {
        if self.over() {
            UiExit::FeedEnded
        } else {
            UiExit::Quit
        }
    }

    /// Applies an event from a live or followed feed; a replay or a comparison has no feed, so
    /// there is nothing for it to change.
    pub fn apply(&mut self, rec: &Record) {
        match self {
            Mode::Live(m) => m.apply(rec),
            Mode::Follow(m) => m.apply(rec),
            Mode::Replay(_) | Mode::Compare(_) | Mode::Logdir(_) => {}
        }
    }

    /// Records a problem the log reader reported; only a followed log has a reader.
    pub fn reader_problem(&mut self, msg: String) {
        if let Mode::Follow(m) = self {
            m.reader_problem(msg);
        }
    }

    /// The feed closed; returns the exit to take when the user was waiting for it.
    pub fn feed_closed(&mut self) -> Option<UiExit> {
        match self {
            Mode::Live(m) => m.feed_closed(),
            Mode::Follow(m) => {
                m.feed_closed();
                None
            }
            Mode::Logdir(m) => {
                m.feed_closed();
                None
            }
            Mode::Replay(_) | Mode::Compare(_) => None,
        }
    }

    /// Moves a replay on by `dt` seconds of real time; true when records were applied.
    pub fn advance(&mut self, dt: f64) -> bool {
        match self {
            Mode::Replay(m) => m.advance(dt),
            Mode::Live(_) | Mode::Follow(_) | Mode::Compare(_) | Mode::Logdir(_) => false,
        }
    }
}
