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
        if let Some(t) = self.thread.take() {
            let updates = self.updates.clone();
            let drain = || while updates.try_recv().is_ok() {};
            if finished_within(&t, STOP_WAIT, drain) {
                let _ = t.join();
            }
            // Else the thread is stuck in a read (a hung sshfs or NFS mount): it is left to end
            // with the process rather than hang the user's exit on it.
        }
    }
}

/// How long stopping waits for the reader thread. A read on a hung network mount can block
/// for minutes; quitting must not.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// Waits until `t` has finished or `wait` has passed, calling `drain` meanwhile; true when it
/// finished.
fn finished_within(t: &JoinHandle<()>, wait: Duration, drain: impl Fn()) -> bool {
    let deadline = std::time::Instant::now() + wait;
    loop {
        drain();
        if t.is_finished() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::Path;
    use std::time::Instant;

    use crossbeam_channel::RecvTimeoutError;
    use prost::Message;

    use super::*;
    use crate::report::export::scalar_event;
    use crate::series::XAxis;
    use crate::tboard::proto;
    use crate::tboard::record::append_tfrecord;
    use crate::tboard::TagTable;
    use crate::tui::board::Board;

    /// Generous: a poll of these small logdirs takes milliseconds, but CI machines stall.
    const PATIENCE: Duration = Duration::from_secs(20);
    const EVERY: Option<Duration> = Some(Duration::from_millis(20));

    fn scalar(step: i64, tag: &str, value: f32) -> Vec<u8> {
        scalar_event(1.7e9 + step as f64, step, tag, value)
    }

    fn session_start(step: i64) -> Vec<u8> {
        proto::Event {
            wall_time: 1.8e9,
            step,
            what: Some(proto::event::What::SessionLog(proto::SessionLog {
                status: proto::SESSION_START,
                ..Default::default()
            })),
        }
        .encode_to_vec()
    }

    fn records(events: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for e in events {
            append_tfrecord(&mut out, e);
        }
        out
    }

    /// `steps` of every tag, the value of step `s` being `s × 0.5 + tag index` (exact in f32).
    fn steps(tags: &[&str], steps: std::ops::Range<i64>) -> Vec<Vec<u8>> {
        steps
            .flat_map(|s| {
                tags.iter()
                    .enumerate()
                    .map(move |(i, t)| scalar(s, t, s as f32 * 0.5 + i as f32))
            })
            .collect()
    }

    fn append(path: &Path, bytes: &[u8]) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(bytes).unwrap();
    }

    /// Writes a whole file at once (a rename), so no poll sees half of it.
    fn put(path: &Path, bytes: &[u8]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // Not an event file's name, so the reader never lists it.
        let tmp = path.with_file_name("being-written");
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }

    fn pairs(points: &[Point]) -> Vec<(i64, f64)> {
        points.iter().map(|p| (p.step, p.value)).collect()
    }

    /// Updates up to and including the next `Polled`.
    fn until_polled(rx: &Receiver<ScalarUpdate>) -> Vec<ScalarUpdate> {
        let mut out = Vec::new();
        loop {
            let u = rx
                .recv_timeout(PATIENCE)
                .expect("an update before the deadline");
            let done = matches!(u, ScalarUpdate::Polled { .. });
            out.push(u);
            if done {
                return out;
            }
        }
    }

    /// Updates of whole polls until one of them makes `done` true, with every one before.
    fn until(
        rx: &Receiver<ScalarUpdate>,
        mut done: impl FnMut(&[ScalarUpdate]) -> bool,
    ) -> Vec<ScalarUpdate> {
        let deadline = Instant::now() + PATIENCE;
        let mut out = Vec::new();
        while Instant::now() < deadline {
            out.extend(until_polled(rx));
            if done(&out) {
                return out;
            }
        }
        panic!("not seen before the deadline; got {out:?}");
    }

    /// The points of `run`'s `tag` sent as `Points`, in order.
    fn sent_points(updates: &[ScalarUpdate], run_: &str, tag_: &str) -> Vec<(i64, f64)> {
        updates
            .iter()
            .filter_map(|u| match u {
                ScalarUpdate::Points {
                    run, tag, points, ..
                } if run == run_ && tag == tag_ => Some(pairs(points)),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// A `Replaced` as (run, tag, its steps and values).
    type Replacement<'a> = (&'a str, &'a str, Vec<(i64, f64)>);

    fn replaced(updates: &[ScalarUpdate]) -> Vec<Replacement<'_>> {
        updates
            .iter()
            .filter_map(|u| match u {
                ScalarUpdate::Replaced { run, tag, points } => {
                    Some((run.as_str(), tag.as_str(), pairs(points)))
                }
                _ => None,
            })
            .collect()
    }

    /// Every point of every tag of `logdir`, against what `board` holds of it.
    fn assert_board_holds(board: &Board, logdir: &Logdir) {
        assert_eq!(board.runs().len(), logdir.runs().len());
        for run in logdir.runs() {
            let held = board
                .runs()
                .iter()
                .find(|r| r.name == run.name())
                .unwrap_or_else(|| panic!("run {} missing", run.name()));
            assert_eq!(held.tags.len(), run.scalars().len(), "{}", run.name());
            for (tag, series) in run.scalars().iter() {
                let t = held.tag(tag).unwrap_or_else(|| panic!("tag {tag} missing"));
                let drawn: Vec<(i64, f64)> = t
                    .track
                    .points_in(XAxis::Updates, f64::NEG_INFINITY, f64::INFINITY, 100_000)
                    .into_iter()
                    .map(|(x, y)| (x as i64, y))
                    .collect();
                assert_eq!(drawn, pairs(series.points()), "{} {tag}", run.name());
                let f = t.figures.expect("figures");
                assert_eq!(f.count, series.len() as u64, "{} {tag}", run.name());
                assert_eq!(Some(&f.last), series.last());
            }
        }
    }

    #[test]
    fn one_read_sends_every_run_and_tag_as_the_logdir_holds_them_then_disconnects() {
        let dir = tempfile::tempdir().unwrap();
        let tags = ["train/loss", "lr"];
        put(
            &dir.path().join("a/events.out.tfevents.1.h"),
            &records(&steps(&tags, 0..5)),
        );
        put(
            &dir.path().join("b/events.out.tfevents.1.h"),
            &records(&steps(&tags[..1], 3..6)),
        );
        let reader = LogdirReader::spawn(Logdir::open(dir.path()).unwrap(), None);
        let rx = reader.updates();
        let mut got = Vec::new();
        loop {
            match rx.recv_timeout(PATIENCE) {
                Ok(u) => got.push(u),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("no disconnect; got {got:?}"),
            }
        }
        let logdir = Logdir::load(dir.path()).unwrap();
        let mut want = Vec::new();
        for run in logdir.runs() {
            want.push(ScalarUpdate::Run {
                run: run.name().into(),
            });
            want.push(ScalarUpdate::Info {
                run: run.name().into(),
                start_time: run.start_time(),
                hparams: vec![],
                other_tags: vec![],
                restarts: (0, 0),
            });
            for (tag, series) in run.scalars().iter() {
                want.push(ScalarUpdate::Points {
                    run: run.name().into(),
                    tag: tag.into(),
                    points: series.points().to_vec(),
                    more: false,
                });
            }
        }
        want.push(ScalarUpdate::Polled { polls: 1 });
        assert_eq!(got, want);
        // What was written, not only what the logdir read.
        let v = |s: i64, i: usize| s as f64 * 0.5 + i as f64;
        assert_eq!(
            sent_points(&got, "a", "lr"),
            (0..5).map(|s| (s, v(s, 1))).collect::<Vec<_>>()
        );
        assert_eq!(
            sent_points(&got, "b", "train/loss"),
            (3..6).map(|s| (s, v(s, 0))).collect::<Vec<_>>()
        );
        let ScalarUpdate::Info { start_time, .. } = &got[1] else {
            panic!("no info second: {got:?}")
        };
        assert_eq!(*start_time, Some(1.7e9));
        reader.stop();
    }

    #[test]
    fn following_sends_only_the_points_appended_since() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("events.out.tfevents.1.h");
        let tags = ["train/loss", "lr"];
        put(&file, &records(&steps(&tags, 0..5)));
        let reader = LogdirReader::spawn(Logdir::open(dir.path()).unwrap(), EVERY);
        let rx = reader.updates();
        let first = until_polled(&rx);
        assert_eq!(sent_points(&first, ".", "lr").len(), 5);
        append(&file, &records(&steps(&tags, 5..8)));
        let later = until(&rx, |u| {
            sent_points(u, ".", "train/loss").len() == 3 && sent_points(u, ".", "lr").len() == 3
        });
        let v = |s: i64, i: usize| s as f64 * 0.5 + i as f64;
        for (i, tag) in tags.iter().enumerate() {
            assert_eq!(
                sent_points(&later, ".", tag),
                (5..8).map(|s| (s, v(s, i))).collect::<Vec<_>>(),
                "{tag}"
            );
        }
        assert!(replaced(&later).is_empty(), "{later:?}");
        assert!(
            !later.iter().any(|u| matches!(u, ScalarUpdate::Run { .. })),
            "the run is known: {later:?}"
        );
        let polls: Vec<u64> = first
            .iter()
            .chain(&later)
            .filter_map(|u| match u {
                ScalarUpdate::Polled { polls } => Some(*polls),
                _ => None,
            })
            .collect();
        assert_eq!(polls, (1..=polls.len() as u64).collect::<Vec<_>>());
        reader.stop();
    }

    #[test]
    fn a_restart_replaces_the_tags_it_cut_and_the_board_ends_as_the_logdir() {
        let dir = tempfile::tempdir().unwrap();
        let tags = ["a", "b"];
        put(
            &dir.path().join("events.out.tfevents.1.h"),
            &records(&steps(&tags, 0..10)),
        );
        let reader = LogdirReader::spawn(Logdir::open(dir.path()).unwrap(), EVERY);
        let rx = reader.updates();
        let mut board = Board::new(TagTable::default(), true);
        let mut apply = |us: &[ScalarUpdate]| us.iter().for_each(|u| board.apply(u.clone()));
        apply(&until_polled(&rx));

        // A second writer resuming from step 6 (PyTorch's purge_step), which writes only `a`.
        let mut second = vec![session_start(6)];
        second.extend((6..8).map(|s| scalar(s, "a", -(s as f32))));
        put(
            &dir.path().join("events.out.tfevents.2.h"),
            &records(&second),
        );
        let restart = until(&rx, |u| replaced(u).len() == 2);
        apply(&restart);
        let mut want_a: Vec<(i64, f64)> = (0..6).map(|s| (s, s as f64 * 0.5)).collect();
        want_a.extend((6..8).map(|s| (s, -(s as f64))));
        let want_b: Vec<(i64, f64)> = (0..6).map(|s| (s, s as f64 * 0.5 + 1.0)).collect();
        let mut got = replaced(&restart);
        got.sort_by_key(|r| r.1);
        assert_eq!(got, vec![(".", "a", want_a), (".", "b", want_b)]);
        assert!(sent_points(&restart, ".", "a").is_empty());
        assert!(restart.iter().any(|u| matches!(
            u,
            ScalarUpdate::Info {
                restarts: (1, 8),
                ..
            }
        )));

        // A step going back without a SessionLog: only that tag restarts.
        put(
            &dir.path().join("events.out.tfevents.3.h"),
            &records(&[scalar(2, "b", 9.0), scalar(3, "b", 9.5)]),
        );
        let back = until(&rx, |u| !replaced(u).is_empty());
        apply(&back);
        assert_eq!(
            replaced(&back),
            vec![(".", "b", vec![(0, 1.0), (1, 1.5), (2, 9.0), (3, 9.5)])]
        );
        let logdir = Logdir::load(dir.path()).unwrap();
        assert_board_holds(&board, &logdir);
        reader.stop();
    }

    #[test]
    fn a_run_appearing_while_following_is_sent_with_its_points() {
        let dir = tempfile::tempdir().unwrap();
        put(
            &dir.path().join("old/events.out.tfevents.1.h"),
            &records(&steps(&["loss"], 0..3)),
        );
        let reader = LogdirReader::spawn(Logdir::open(dir.path()).unwrap(), EVERY);
        let rx = reader.updates();
        let mut board = Board::new(TagTable::default(), true);
        until_polled(&rx).into_iter().for_each(|u| board.apply(u));
        put(
            &dir.path().join("new/events.out.tfevents.1.h"),
            &records(&steps(&["loss", "acc"], 0..4)),
        );
        let got = until(&rx, |u| {
            u.iter()
                .any(|u| matches!(u, ScalarUpdate::Run { run } if run == "new"))
        });
        let at = got
            .iter()
            .position(|u| matches!(u, ScalarUpdate::Run { run } if run == "new"))
            .unwrap();
        assert!(
            matches!(&got[at + 1], ScalarUpdate::Info { run, .. } if run == "new"),
            "{got:?}"
        );
        assert_eq!(sent_points(&got, "new", "loss").len(), 4);
        assert_eq!(
            sent_points(&got, "new", "acc"),
            (0..4)
                .map(|s| (s, s as f64 * 0.5 + 1.0))
                .collect::<Vec<_>>()
        );
        assert!(
            got.iter().all(|u| match u {
                ScalarUpdate::Points { run, .. } | ScalarUpdate::Info { run, .. } => run == "new",
                _ => true,
            }),
            "nothing again for the old run: {got:?}"
        );
        got.into_iter().for_each(|u| board.apply(u));
        assert_board_holds(&board, &Logdir::load(dir.path()).unwrap());
        reader.stop();
    }

    #[test]
    fn a_long_tag_arrives_in_chunks_also_when_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("events.out.tfevents.1.h");
        let n = 2 * CHUNK as i64 + 100;
        put(&file, &records(&steps(&["loss"], 0..n)));
        let reader = LogdirReader::spawn(Logdir::open(dir.path()).unwrap(), EVERY);
        let rx = reader.updates();
        let first = until_polled(&rx);
        let chunks: Vec<(usize, bool)> = first
            .iter()
            .filter_map(|u| match u {
                ScalarUpdate::Points { points, more, .. } => Some((points.len(), *more)),
                _ => None,
            })
            .collect();
        assert_eq!(chunks, vec![(CHUNK, true), (CHUNK, true), (100, false)]);
        let logdir = Logdir::load(dir.path()).unwrap();
        let series = logdir.runs()[0].scalars().get("loss").unwrap();
        assert_eq!(sent_points(&first, ".", "loss"), pairs(series.points()));

        // Writing the last step again restarts the tag from there: every point is sent again.
        append(&file, &records(&[scalar(n - 1, "loss", 7.0)]));
        let again = until(&rx, |u| !replaced(u).is_empty());
        let shape: Vec<(&str, usize, bool)> = again
            .iter()
            .filter_map(|u| match u {
                ScalarUpdate::Replaced { points, .. } => Some(("replaced", points.len(), true)),
                ScalarUpdate::Points { points, more, .. } => Some(("points", points.len(), *more)),
                _ => None,
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                ("replaced", CHUNK, true),
                ("points", CHUNK, true),
                ("points", 100, false)
            ]
        );
        let mut all = replaced(&again).remove(0).2;
        all.extend(sent_points(&again, ".", "loss"));
        let logdir = Logdir::load(dir.path()).unwrap();
        let series = logdir.runs()[0].scalars().get("loss").unwrap();
        assert_eq!(all, pairs(series.points()));
        assert_eq!(all.last(), Some(&(n - 1, 7.0)));
        reader.stop();
    }

    #[test]
    fn a_torn_last_record_is_sent_once_it_is_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("events.out.tfevents.1.h");
        let whole = records(&steps(&["loss"], 0..3));
        let last = records(&[scalar(3, "loss", 42.0)]);
        let cut = last.len() - 5;
        let mut bytes = whole.clone();
        bytes.extend_from_slice(&last[..cut]);
        put(&file, &bytes);
        let reader = LogdirReader::spawn(Logdir::open(dir.path()).unwrap(), EVERY);
        let rx = reader.updates();
        let first = until_polled(&rx);
        assert_eq!(
            sent_points(&first, ".", "loss"),
            vec![(0, 0.0), (1, 0.5), (2, 1.0)]
        );
        let notes = first.iter().find_map(|u| match u {
            ScalarUpdate::Notes { skipped, lines } => Some((*skipped, lines.clone())),
            _ => None,
        });
        let (skipped, lines) = notes.expect("a note on the torn record");
        assert_eq!(skipped, 0, "a torn record is no damage");
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains(&format!("last {cut} bytes")), "{lines:?}");
        // Polls go on and send nothing of it while it stays torn.
        let waiting = until(&rx, |u| {
            u.iter()
                .filter(|u| matches!(u, ScalarUpdate::Polled { .. }))
                .count()
                >= 3
        });
        assert!(
            waiting
                .iter()
                .all(|u| matches!(u, ScalarUpdate::Polled { .. })),
            "{waiting:?}"
        );
        append(&file, &last[cut..]);
        let done = until(&rx, |u| !sent_points(u, ".", "loss").is_empty());
        assert_eq!(sent_points(&done, ".", "loss"), vec![(3, 42.0)]);
        assert!(
            done.iter().any(|u| matches!(
                u,
                ScalarUpdate::Notes { skipped: 0, lines } if lines.is_empty()
            )),
            "the note goes once the record is whole: {done:?}"
        );
        reader.stop();
    }

    #[test]
    fn stop_is_prompt_while_the_reader_waits_on_a_full_channel() {
        let dir = tempfile::tempdir().unwrap();
        // One message per tag: far more than the channel holds.
        let tags: Vec<String> = (0..IN_FLIGHT * 4).map(|i| format!("tag{i}")).collect();
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        put(
            &dir.path().join("events.out.tfevents.1.h"),
            &records(&steps(&tags, 0..2)),
        );
        let reader = LogdirReader::spawn(Logdir::open(dir.path()).unwrap(), EVERY);
        let rx = reader.updates();
        let deadline = Instant::now() + PATIENCE;
        while !rx.is_full() {
            assert!(Instant::now() < deadline, "the channel never filled");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Still full a moment later: the reader is blocked on it, not finishing.
        std::thread::sleep(Duration::from_millis(100));
        assert!(rx.is_full());
        let t = Instant::now();
        reader.stop();
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }

    #[test]
    fn notes_count_the_damaged_records_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let events = steps(&["loss"], 0..6);
        let at = records(&events[..3]).len();
        let mut bytes = records(&events);
        // A data byte of step 3's record (past its 12-byte header).
        bytes[at + 14] ^= 0x10;
        put(&dir.path().join("data/events.out.tfevents.1.h"), &bytes);
        let mut bytes = records(&events);
        // A length byte of step 3's record.
        bytes[at + 1] ^= 0x10;
        put(&dir.path().join("length/events.out.tfevents.1.h"), &bytes);
        let reader = LogdirReader::spawn(Logdir::open(dir.path()).unwrap(), None);
        let got = until_polled(&reader.updates());
        let notes: Vec<(usize, Vec<String>)> = got
            .iter()
            .filter_map(|u| match u {
                ScalarUpdate::Notes { skipped, lines } => Some((*skipped, lines.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(notes.len(), 1, "{got:?}");
        let (skipped, lines) = &notes[0];
        assert_eq!(*skipped, 2);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("/data/events") && lines[0].contains("fails its checksum"));
        assert!(lines[1].contains("/length/events") && lines[1].contains("damaged record"));
        let kept: Vec<i64> = sent_points(&got, "data", "loss")
            .into_iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(kept, [0, 1, 2, 4, 5]);
        assert_eq!(sent_points(&got, "length", "loss").len(), 5);
        reader.stop();
    }

    #[test]
    fn a_reader_stuck_in_a_read_does_not_hold_up_quitting() {
        let stuck = std::thread::spawn(|| std::thread::sleep(Duration::from_secs(5)));
        let t = std::time::Instant::now();
        assert!(!finished_within(&stuck, Duration::from_millis(100), || {}));
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        let quick = std::thread::spawn(|| {});
        assert!(finished_within(&quick, Duration::from_secs(2), || {}));
    }
}
