//! [`follow`]: reads a log as it grows, like `tail -f`, and says when and how it ends.
//!
//! Owns the live-reading policy: only complete lines are parsed (the writer may be in the middle
//! of one), the end of a run is its `finished` or `failed` record, and a writer that died is
//! recognised by its released lock plus a quiet file. It must never take the writer's lock for
//! more than an instant (probing uses a shared lock that is dropped at once).

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};

use super::reader::{lines, LineTally, LogContents};
use super::{lock, EVENTS_FILE};
use crate::events::{Event, Record};

/// How a follower polls and when it gives up on a silent writer.
#[derive(Clone, Debug)]
pub struct FollowOptions {
    /// Pause between looks at the file.
    pub poll: Duration,
    /// How long the file must stay unchanged, with no writer holding the lock, before the
    /// writer is declared stopped.
    pub idle_grace: Duration,
}

impl Default for FollowOptions {
    fn default() -> Self {
        FollowOptions {
            poll: Duration::from_millis(200),
            idle_grace: Duration::from_secs(2),
        }
    }
}

/// A running follower: a receiver of records plus a handle that stops the reading thread.
///
/// The receiver yields `Ok(record)` in file order and `Err(message)` for one-line notices
/// (a skipped line, or why following ended). It disconnects when following ends: after a
/// `finished` or `failed` record, or after an `Err` that says why (writer stopped, file
/// replaced, newer schema). Dropping the `Follower` stops the thread.
pub struct Follower {
    rx: Receiver<Result<Record, String>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Follower {
    /// A receiver of the records and notices (cheap to clone; all clones share one queue).
    pub fn receiver(&self) -> Receiver<Result<Record, String>> {
        self.rx.clone()
    }

    /// Stops the reading thread and waits for it (at most one poll interval).
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Follows the log of a run directory (or an `events.jsonl`) with default options.
pub fn follow(path: &Path) -> Follower {
    follow_with(path, FollowOptions::default())
}

/// Follows a log with explicit polling options.
pub fn follow_with(path: &Path, options: FollowOptions) -> Follower {
    let (tx, rx) = unbounded();
    let stop = Arc::new(AtomicBool::new(false));
    let (file, dir) = if path.is_dir() {
        (path.join(EVENTS_FILE), path.to_path_buf())
    } else {
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        (path.to_path_buf(), dir)
    };
    let tail = Tail {
        path: file,
        dir,
        options,
        tx,
        stop: stop.clone(),
        tally: LineTally::default(),
        scratch: LogContents::default(),
        reported_unknown: 0,
        reported_bad: 0,
    };
    let thread = std::thread::Builder::new()
        .name("runlog-follow".into())
        .spawn(move || tail.run());
    let thread = match thread {
        Ok(t) => Some(t),
        Err(e) => {
            // No thread: the receiver gets nothing and disconnects at once. Say why first.
            let (tx, rx2) = unbounded();
            let _ = tx.send(Err(format!("cannot start the log follower: {e}")));
            return Follower {
                rx: rx2,
                stop,
                thread: None,
            };
        }
    };
    Follower { rx, stop, thread }
}

/// Why following ended.
enum End {
    /// The run's last record arrived (or the consumer went away / asked to stop).
    Done,
    /// A message for the user.
    Notice(String),
}

/// The follower thread's state.
struct Tail {
    path: PathBuf,
    dir: PathBuf,
    options: FollowOptions,
    tx: Sender<Result<Record, String>>,
    stop: Arc<AtomicBool>,
    tally: LineTally,
    scratch: LogContents,
    reported_unknown: usize,
    reported_bad: usize,
}

impl Tail {
    fn run(mut self) {
        self.scratch.path = self.path.clone();
        if let End::Notice(message) = self.follow() {
            let _ = self.tx.send(Err(message));
        }
    }

    fn follow(&mut self) -> End {
        let name = self.path.display().to_string();
        let mut file = match self.open() {
            Ok(f) => f,
            Err(end) => return end,
        };
        let mut pos = 0u64;
        let mut pending = Vec::new();
        let mut chunk = vec![0u8; 1 << 20];
        let mut last_growth = Instant::now();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return End::Done;
            }
            let len = match file.metadata() {
                Ok(m) => m.len(),
                Err(e) => return End::Notice(format!("cannot read {name}: {e}")),
            };
            if len < pos {
                return End::Notice(format!(
                    "{name}: the log shrank from {pos} to {len} bytes (replaced or truncated); stopped following"
                ));
            }
            let mut grew = false;
            loop {
                if self.stop.load(Ordering::Relaxed) {
                    return End::Done;
                }
                match file.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => {
                        grew = true;
                        pos += n as u64;
                        pending.extend_from_slice(&chunk[..n]);
                        if let Some(end) = self.take_lines(&mut pending) {
                            return end;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return End::Notice(format!("cannot read {name}: {e}")),
                }
            }
            if grew {
                last_growth = Instant::now();
            } else if last_growth.elapsed() >= self.options.idle_grace && !lock::is_held(&self.dir)
            {
                let torn = if pending.trim_ascii().is_empty() {
                    ""
                } else {
                    " (its last line is incomplete)"
                };
                return End::Notice(format!(
                    "{name}: the writer stopped without a finished or failed record{torn}: no process holds the run's lock and the log has not grown for {:.1} s; the run crashed or was killed",
                    self.options.idle_grace.as_secs_f64()
                ));
            }
            std::thread::sleep(self.options.poll);
        }
    }

    /// Opens the log, waiting while a writer holds the lock but has not created the file yet.
    fn open(&self) -> Result<File, End> {
        let started = Instant::now();
        loop {
            match File::open(&self.path) {
                Ok(f) => return Ok(f),
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    let waiting = lock::is_held(&self.dir)
                        || started.elapsed() < self.options.idle_grace.min(Duration::from_secs(1));
                    if !waiting {
                        return Err(End::Notice(format!(
                            "{}: no such file and no run is writing there; pass a run directory (runs/<date>-<name>)",
                            self.path.display()
                        )));
                    }
                }
                Err(e) => {
                    return Err(End::Notice(format!(
                        "cannot read {}: {e}",
                        self.path.display()
                    )))
                }
            }
            if self.stop.load(Ordering::Relaxed) {
                return Err(End::Done);
            }
            std::thread::sleep(self.options.poll);
        }
    }

    /// Parses and sends every complete line in `pending`, keeping a partial last line.
    fn take_lines(&mut self, pending: &mut Vec<u8>) -> Option<End> {
        let last_newline = memchr::memrchr(b'\n', pending)?;
        let mut end = None;
        for raw in lines(&pending[..=last_newline]) {
            if let Err(e) = self.tally.feed(raw, true, &mut self.scratch) {
                end = Some(End::Notice(e.to_string()));
                break;
            }
            if let Some(stop) = self.send_news() {
                end = Some(stop);
                break;
            }
        }
        pending.drain(..=last_newline);
        end
    }

    /// Forwards what the last line produced: a record, or a notice about a skipped line.
    fn send_news(&mut self) -> Option<End> {
        let name = self.path.display();
        let mut messages = Vec::new();
        let unknown: usize = self.scratch.unknown_kinds.values().sum();
        if unknown > self.reported_unknown {
            self.reported_unknown = unknown;
            if unknown == 1 || unknown.is_power_of_two() {
                let kinds: Vec<&str> = self
                    .scratch
                    .unknown_kinds
                    .keys()
                    .map(|k| k.as_str())
                    .collect();
                messages.push(format!(
                    "{name}: skipped {unknown} record(s) of unknown kind ({}), written by a newer batchramp",
                    kinds.join(", ")
                ));
            }
        }
        if self.scratch.bad_line_count > self.reported_bad {
            self.reported_bad = self.scratch.bad_line_count;
            let bad = self.scratch.bad_lines.last();
            messages.push(match bad {
                Some(b) if self.scratch.bad_lines.len() == self.reported_bad => {
                    format!("{name}: line {}: unreadable, skipped ({})", b.line, b.error)
                }
                _ => format!("{name}: line {}: unreadable, skipped", self.tally.line),
            });
        }
        for m in messages {
            if self.tx.send(Err(m)).is_err() {
                return Some(End::Done);
            }
        }
        for rec in self.scratch.records.drain(..) {
            let last = matches!(rec.event, Event::Finished(_) | Event::Failed(_));
            if self.tx.send(Ok(rec)).is_err() || last {
                return Some(End::Done);
            }
        }
        None
    }
}
