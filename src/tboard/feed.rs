//! A logdir read on a thread of its own, sent to the UI as changes: the UI never waits on a
//! file. The thread owns the [`Logdir`] (every point, for restarts); what it sends is only what
//! changed since the last poll, in chunks, over a bounded channel (a slow UI slows the reader,
//! never the other way round, and memory stays bounded by the channel).
//!
//! Owns polling (when, how often) and turning a poll into changes; must never draw or decide
//! what a tag means.

use std::collections::HashMap;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, select, Receiver, Sender};

use super::logdir::Logdir;
use super::run::HParamValue;
use crate::series::Point;

/// Points per [`ScalarUpdate::Points`] message at most, so one tag of a huge run never makes
/// one huge message, and the UI can draw between chunks.
pub const CHUNK: usize = 8192;

/// Messages in flight at most (about `CHUNK × 24` bytes each).
const IN_FLIGHT: usize = 64;

/// One change to a logdir's scalars, in the order the reader saw it.
#[derive(Clone, Debug, PartialEq)]
pub enum ScalarUpdate {
    /// A run seen for the first time (named by its path relative to the logdir).
    Run {
        /// Its name.
        run: String,
    },
    /// Points appended to a run's tag, in step order, after those sent before.
    Points {
        /// The run's name.
        run: String,
        /// The tag.
        tag: String,
        /// New points.
        points: Vec<Point>,
        /// Whether more points of this tag follow in the next message of the same poll.
        more: bool,
    },
    /// A tag restarted (a `SessionLog.START`, or its step went back): these are now all its
    /// points (the first chunk; further ones follow as [`ScalarUpdate::Points`]).
    Replaced {
        /// The run's name.
        run: String,
        /// The tag.
        tag: String,
        /// Its points from the first on.
        points: Vec<Point>,
    },
    /// What is known about a run besides its scalars, sent when it changes.
    Info {
        /// The run's name.
        run: String,
        /// Earliest wall time of any event (Unix seconds).
        start_time: Option<f64>,
        /// Hyperparameters (hparams plugin), in the writer's order.
        hparams: Vec<(String, HParamValue)>,
        /// Tags that are not scalars, with their plugin.
        other_tags: Vec<(String, String)>,
        /// Restarts seen and points they dropped.
        restarts: (usize, usize),
    },
    /// The problems found so far: how many records were skipped, and one line per thing a
    /// reader should know (damage, a torn last record still being written).
    Notes {
        /// Damaged records skipped so far, over all runs.
        skipped: usize,
        /// One-line notes, newest state.
        lines: Vec<String>,
    },
    /// A poll ended: everything the files held is sent. `polls` counts them from 1.
    Polled {
        /// Polls so far.
        polls: u64,
    },
}

/// The reading thread and its channel. Dropping it stops the thread.
pub struct LogdirReader {
    updates: Receiver<ScalarUpdate>,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl LogdirReader {
    /// Starts reading `logdir` on a thread: one poll, then (when `follow` is given) a poll every
    /// `follow` until stopped; without `follow` the channel disconnects after the first poll.
    pub fn spawn(logdir: Logdir, follow: Option<Duration>) -> LogdirReader {
        let (tx, rx) = bounded(IN_FLIGHT);
        let (stop_tx, stop_rx) = bounded::<()>(1);
        let thread = std::thread::Builder::new()
            .name("logdir-reader".into())
            .spawn(move || read_loop(logdir, follow, &tx, &stop_rx))
            .ok();
        LogdirReader {
            updates: rx,
            stop: Some(stop_tx),
            thread,
        }
    }

    /// The changes, in order; disconnected when the reader has stopped.
    pub fn updates(&self) -> Receiver<ScalarUpdate> {
        self.updates.clone()
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        // Closing the stop channel wakes the thread from its wait; draining lets a thread
        // blocked on a full channel see it.
        drop(self.stop.take());
        while self.updates.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            while !t.is_finished() {
                while self.updates.try_recv().is_ok() {}
                std::thread::sleep(Duration::from_millis(2));
            }
            let _ = t.join();
        }
    }
}

impl Drop for LogdirReader {
    fn drop(&mut self) {
        self.shut();
    }
}

/// What was sent of one tag: its length and version then.
#[derive(Clone, Copy, Debug)]
struct Sent {
    len: usize,
    version: u64,
}

/// What was sent of the whole logdir, so a poll sends only what changed.
#[derive(Default)]
struct Diff {
    runs: HashMap<String, RunSent>,
    notes: Vec<String>,
    skipped: usize,
}

#[derive(Default)]
struct RunSent {
    tags: HashMap<String, Sent>,
    info: Option<ScalarUpdate>,
}

/// Why sending stopped.
struct Closed;

fn read_loop(
    mut logdir: Logdir,
    follow: Option<Duration>,
    tx: &Sender<ScalarUpdate>,
    stop: &Receiver<()>,
) {
    let mut diff = Diff::default();
    let mut polls = 0u64;
    loop {
        logdir.poll();
        polls += 1;
        let sent = diff
            .send(&logdir, tx, stop)
            .and_then(|()| send(tx, stop, ScalarUpdate::Polled { polls }));
        let Some(every) = follow else { return };
        if sent.is_err() {
            return;
        }
        select! {
            recv(stop) -> _ => return,
            default(every) => {}
        }
    }
}

/// Sends `u` unless the UI asked to stop (or is gone).
fn send(tx: &Sender<ScalarUpdate>, stop: &Receiver<()>, u: ScalarUpdate) -> Result<(), Closed> {
    select! {
        send(tx, u) -> r => r.map_err(|_| Closed),
        recv(stop) -> _ => Err(Closed),
    }
}

impl Diff {
    fn send(
        &mut self,
        logdir: &Logdir,
        tx: &Sender<ScalarUpdate>,
        stop: &Receiver<()>,
    ) -> Result<(), Closed> {
        for run in logdir.runs() {
            let name = run.name();
            if !self.runs.contains_key(name) {
                send(tx, stop, ScalarUpdate::Run { run: name.into() })?;
            }
            let sent = self.runs.entry(name.to_string()).or_default();
            let info = ScalarUpdate::Info {
                run: name.into(),
                start_time: run.start_time(),
                hparams: run.hparams().to_vec(),
                other_tags: run
                    .other_tags()
                    .iter()
                    .map(|(t, p)| (t.clone(), p.clone()))
                    .collect(),
                restarts: run.restarts(),
            };
            if sent.info.as_ref() != Some(&info) {
                sent.info = Some(info.clone());
                send(tx, stop, info)?;
            }
            for (tag, series) in run.scalars().iter() {
                let before = sent.tags.get(tag).copied();
                let now = Sent {
                    len: series.len(),
                    version: series.version(),
                };
                let points = series.points();
                let from = match before {
                    Some(b) if b.version == now.version => continue,
                    // Only appends since: each push adds one to both the length and the version.
                    Some(b)
                        if now.len >= b.len
                            && now.version - b.version == (now.len - b.len) as u64 =>
                    {
                        b.len
                    }
                    None => 0,
                    Some(_) => {
                        let first = points.len().min(CHUNK);
                        send(
                            tx,
                            stop,
                            ScalarUpdate::Replaced {
                                run: name.into(),
                                tag: tag.into(),
                                points: points[..first].to_vec(),
                            },
                        )?;
                        first
                    }
                };
                let rest = &points[from..];
                let chunks = rest.len().div_ceil(CHUNK);
                for (i, chunk) in rest.chunks(CHUNK).enumerate() {
                    send(
                        tx,
                        stop,
                        ScalarUpdate::Points {
                            run: name.into(),
                            tag: tag.into(),
                            points: chunk.to_vec(),
                            more: i + 1 < chunks,
                        },
                    )?;
                }
                sent.tags.insert(tag.to_string(), now);
            }
        }
        let lines = logdir.notes();
        let skipped = logdir.problems().count()
            + logdir
                .runs()
                .iter()
                .map(|r| r.problems().count())
                .sum::<usize>();
        if lines != self.notes || skipped != self.skipped {
            self.notes.clone_from(&lines);
            self.skipped = skipped;
            send(tx, stop, ScalarUpdate::Notes { skipped, lines })?;
        }
        Ok(())
    }
}
