//! A log another process is writing, followed as it grows: the run so far, the reader's
//! problems shown among its events, and whether the log is still followed. Owns nothing but
//! that; must never talk back to the writer, which it cannot reach.

use crate::events::Record;
use crate::tui::state::{Level, RunState};

use super::Status;

/// A followed log.
#[derive(Clone, Debug, Default)]
pub struct Follow {
    run: RunState,
    ended: bool,
}

impl Follow {
    /// A followed log before its first record.
    pub fn new() -> Follow {
        Follow::default()
    }

    /// The run so far.
    pub fn run(&self) -> &RunState {
        &self.run
    }

    /// True when nothing more will be read, or the run finished or failed.
    pub fn over(&self) -> bool {
        self.ended || self.run.progress.finished.is_some() || self.run.progress.failed.is_some()
    }

    /// The status for the header.
    pub fn status(&self) -> Status {
        let own = Status::of(&self.run);
        if self.ended && !own.is_final() {
            Status::Ended
        } else {
            own
        }
    }

    /// Applies a record read from the log.
    pub fn apply(&mut self, rec: &Record) {
        self.run.apply(rec);
    }

    /// Shows a problem the reader had (a line cut short, not JSON) among the run's events.
    pub fn reader_problem(&mut self, msg: String) {
        let t = self.run.progress.t;
        self.run.push_log(t, Level::Warn, msg);
    }

    /// The reader stopped: the writer is gone or the log was closed.
    pub fn feed_closed(&mut self) {
        self.ended = true;
    }
}
