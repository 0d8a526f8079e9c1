//! The run log: `events.jsonl` in a run directory, one [`Record`](crate::events::Record) per line.
//!
//! Owns writing the log (on its own thread, flushed at least once a second, with a lock file so
//! two writers never interleave), reading it back tolerantly (truncated last line, damaged lines,
//! records from a newer minor schema) and following a live log like `tail -f`.
//! It must never interpret the training itself: formatting and figures live in `report`.

mod follow;
mod lock;
mod parse;
mod reader;
pub mod sample;
mod writer;

use std::path::PathBuf;

pub use follow::{follow, follow_with, FollowOptions, Follower};
pub use reader::{probe_log, read_log, resolve_log_path, BadLine, LogContents, MAX_BAD_LINES};
pub use writer::LogWriter;

/// File name of the log inside a run directory.
pub const EVENTS_FILE: &str = "events.jsonl";
/// File name of the summary written when a run finishes.
pub const SUMMARY_FILE: &str = "summary.json";
/// File name of the writer's lock inside a run directory.
pub const LOCK_FILE: &str = ".lock";

/// Everything that can go wrong while writing, reading or following a run log.
///
/// Every message is one line that names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum RunLogError {
    /// The path given does not exist.
    #[error("{}: no such file or directory; pass a run directory (runs/<date>-<name>) or its events.jsonl", .path.display())]
    Missing {
        /// The path as given.
        path: PathBuf,
    },
    /// A directory without `events.jsonl`.
    #[error("{}: no events.jsonl in this directory; pass a run directory (runs/<date>-<name>) or an events.jsonl file", .dir.display())]
    NoLog {
        /// The directory given.
        dir: PathBuf,
    },
    /// The log file has no bytes at all.
    #[error("{}: the log is empty (the run has not written anything yet)", .path.display())]
    Empty {
        /// The log file.
        path: PathBuf,
    },
    /// The log holds only an incomplete first line.
    #[error("{}: the log holds no complete record yet (the run may have just started)", .path.display())]
    NoRecords {
        /// The log file.
        path: PathBuf,
    },
    /// The file holds binary data.
    #[error("{}: binary data, not a batchramp run log (expected events.jsonl, JSON lines)", .path.display())]
    Binary {
        /// The file.
        path: PathBuf,
    },
    /// The first line is not an event record.
    #[error("{}: not a batchramp run log: line 1 is not an event record ({detail})", .path.display())]
    NotALog {
        /// The file.
        path: PathBuf,
        /// What the parser said about line 1.
        detail: String,
    },
    /// A record's major schema version is newer than this build understands.
    #[error("{}: line {line} uses log schema v{found} but this batchramp reads up to v{supported}; upgrade batchramp to read this run", .path.display())]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Version found in the file.
        found: u32,
        /// [`SCHEMA_VERSION`](crate::events::SCHEMA_VERSION) of this build.
        supported: u32,
    },
    /// So many lines are unreadable that the file is not (or no longer) a run log.
    #[error("{}: stopped after {count} unreadable lines (first at line {first}: {first_error}); the file is not a batchramp log or is badly damaged", .path.display())]
    TooManyBadLines {
        /// The file.
        path: PathBuf,
        /// Number of bad lines seen before stopping.
        count: usize,
        /// Line number of the first bad line.
        first: usize,
        /// Parser message for the first bad line.
        first_error: String,
    },
    /// An I/O error on a named file.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// What was being done: `read`, `open`, `create`, `write`, `lock`, `truncate`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Another writer holds the run directory's lock.
    #[error("{}: another process is writing this run ({holder} holds its lock {LOCK_FILE}); wait for it to stop or use another run directory", .dir.display())]
    Locked {
        /// The run directory.
        dir: PathBuf,
        /// Who holds the lock, as its holder wrote it.
        holder: String,
    },
    /// `LogWriter::create` on a directory whose log already has records.
    #[error("{}: the log already has records; resume with LogWriter::append or start a new run directory", .path.display())]
    NotEmpty {
        /// The log file.
        path: PathBuf,
    },
    /// A resumed run's log has fewer lines than its checkpoint says it had.
    #[error("{}: has {found} lines but the checkpoint was taken after line {wanted}; the log does not belong to this checkpoint", .path.display())]
    ShorterThanCheckpoint {
        /// The log file.
        path: PathBuf,
        /// Complete lines in the file.
        found: u64,
        /// Lines the checkpoint counted.
        wanted: u64,
    },
    /// The writer thread could not write some records.
    #[error("cannot write {}: {message}", .path.display())]
    Write {
        /// The log file (or summary).
        path: PathBuf,
        /// What failed and how many records were lost.
        message: String,
    },
}

impl RunLogError {
    /// Wraps an I/O error with the action and file it concerns.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| RunLogError::Io {
            action,
            path,
            source,
        }
    }
}
