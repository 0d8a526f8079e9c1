//! What the events panel draws: the notable events as lines (in the wording of the plain lines,
//! [`crate::events::line`]), the warning count and the latest checkpoint. Owns applying those
//! events and the log's bound; must never word an event itself.

use std::collections::VecDeque;

use crate::events::line::{self as event_line, Paths};
use crate::events::{CheckpointEvent, Event, Record};

/// Lines kept in the notable-events log.
pub const LOG_LINES: usize = 200;

/// How a log line is coloured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Plain information (stage change, resume).
    Info,
    /// Something good (checkpoint written, finished).
    Good,
    /// A warning.
    Warn,
    /// A failure.
    Bad,
}

/// One line in the notable-events log.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    /// Run time of the event, seconds.
    pub t: f64,
    /// Colour class.
    pub level: Level,
    /// The text.
    pub text: String,
}

/// The notable events, newest last, at most [`LOG_LINES`].
#[derive(Clone, Debug)]
pub struct EventLog {
    lines: VecDeque<LogLine>,
    /// Warnings seen.
    pub warnings: usize,
    /// Latest checkpoint written.
    pub checkpoint: Option<CheckpointEvent>,
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog {
            lines: VecDeque::with_capacity(LOG_LINES),
            warnings: 0,
            checkpoint: None,
        }
    }
}

/// What a log line needs to know of the run before the event.
#[derive(Clone, Copy, Debug, Default)]
pub struct Before {
    /// Stages in the header's plan, once it arrived.
    pub planned_stages: Option<usize>,
    /// Stage events seen so far.
    pub stages_seen: usize,
}

impl EventLog {
    /// Applies one event.
    pub fn apply(&mut self, rec: &Record, before: Before) {
        let t = rec.t;
        match &rec.event {
            Event::RunStarted(r) => {
                if let Some(from) = &r.resumed_from {
                    self.push(t, Level::Info, event_line::resumed_from(from));
                }
            }
            // The first stage is the plan's start, not news.
            Event::Stage(s) if before.stages_seen > 0 || s.index > 0 => {
                self.push(t, Level::Info, event_line::stage(s, before.planned_stages));
            }
            Event::Checkpoint(c) => {
                self.push(t, Level::Good, event_line::checkpoint(c, Paths::FileName));
                self.checkpoint = Some(c.clone());
            }
            Event::Paused(p) => self.push(t, Level::Warn, event_line::paused(p)),
            Event::Resumed(p) => {
                self.push(t, Level::Info, event_line::resumed(p, Paths::FileName));
            }
            Event::Warning(m) => {
                self.warnings += 1;
                self.push(t, Level::Warn, event_line::warning(m));
            }
            Event::Finished(s) => self.push(t, Level::Good, event_line::finished(s)),
            Event::Failed(m) => self.push(t, Level::Bad, event_line::failed(m)),
            _ => {}
        }
    }

    /// Adds a line (also used for problems reading a log).
    pub fn push(&mut self, t: f64, level: Level, text: String) {
        if self.lines.len() == LOG_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(LogLine { t, level, text });
    }

    /// The lines, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &LogLine> {
        self.lines.iter()
    }

    /// The newest line.
    pub fn back(&self) -> Option<&LogLine> {
        self.lines.back()
    }

    /// How many lines are kept.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there is no line.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}
