//! What went wrong while reading, kept as counted notes: damage is reported, never fatal.

use std::fmt;
use std::path::PathBuf;

/// Notes kept per run at most; the count goes on past it.
pub const MAX_KEPT: usize = 50;

/// One thing that could not be read.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// The event file (or directory) it is in.
    pub path: PathBuf,
    /// Byte offset in the file, where it applies.
    pub offset: u64,
    /// What it was.
    pub kind: ProblemKind,
}

/// The kinds of [`Problem`].
#[derive(Clone, Debug, PartialEq)]
pub enum ProblemKind {
    /// A record's length failed its checksum; the reader searched on to the next record.
    DamagedLength {
        /// Bytes skipped to reach the next record (0: none found yet).
        skipped: u64,
    },
    /// A record's data failed its checksum; the record was skipped.
    DamagedData,
    /// A record holds no valid event protobuf.
    BadEvent,
    /// A scalars-plugin tensor that is not one float (the tag named).
    NotAScalar(String),
    /// The file became shorter than what was read: it is read again from the start.
    Shrunk,
    /// The file or directory could not be read.
    Unreadable(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.kind {
            ProblemKind::DamagedLength { skipped: 0 } => write!(
                f,
                "{path}: damaged record at byte {}; no intact record after it yet",
                self.offset
            ),
            ProblemKind::DamagedLength { skipped } => write!(
                f,
                "{path}: damaged record at byte {}; skipped {skipped} bytes to the next record",
                self.offset
            ),
            ProblemKind::DamagedData => write!(
                f,
                "{path}: record at byte {} fails its checksum; skipped",
                self.offset
            ),
            ProblemKind::BadEvent => write!(
                f,
                "{path}: record at byte {} is not an event; skipped",
                self.offset
            ),
            ProblemKind::NotAScalar(tag) => write!(
                f,
                "{path}: tag {tag:?} at byte {} is a scalars-plugin tensor without one float value; skipped",
                self.offset
            ),
            ProblemKind::Shrunk => write!(f, "{path}: the file shrank; reading it again from the start"),
            ProblemKind::Unreadable(e) => write!(f, "{path}: cannot read: {e}"),
        }
    }
}

/// Problems counted, the first [`MAX_KEPT`] kept.
#[derive(Clone, Debug, Default)]
pub struct Problems {
    kept: Vec<Problem>,
    count: usize,
}

impl Problems {
    /// Counts one problem.
    pub fn push(&mut self, p: Problem) {
        self.count += 1;
        if self.kept.len() < MAX_KEPT {
            self.kept.push(p);
        }
    }

    /// How many problems there were.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The first problems, in the order they were met.
    pub fn kept(&self) -> &[Problem] {
        &self.kept
    }
}
