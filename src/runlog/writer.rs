//! [`LogWriter`]: appends records to `events.jsonl` on its own thread.
//!
//! Owns durability: a record reaches the operating system within a second of being sent
//! (immediately for rare events such as epochs and checkpoints), checkpoints and the end of a
//! run are fsynced, and `summary.json` is written atomically when `finished` arrives. It must
//! never block or panic the trainer: sending is an unbounded channel push, and write errors
//! become a message the trainer can poll with [`LogWriter::error`].

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, unbounded, Receiver, Sender};

use super::parse::{parse_line, Parsed};
use super::{lock, RunLogError, EVENTS_FILE, SUMMARY_FILE};
use crate::events::{Event, Record, Summary};

/// Longest time a written record may sit in our buffer before reaching the OS.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Buffer size: a second of step events at a few thousand updates per second.
const BUFFER_BYTES: usize = 256 * 1024;

/// Appends records to `<run_dir>/events.jsonl` on its own thread; holds `<run_dir>/.lock`
/// (refuses a second writer with a clear error).
pub struct LogWriter {
    records: Sender<Record>,
    control: Sender<Control>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    lock: Option<lock::WriterLock>,
    path: PathBuf,
}

/// Requests from the owner to the writer thread.
enum Control {
    Flush,
    Close,
}

/// State both sides see: the first error and how many records it cost.
#[derive(Default)]
struct Shared {
    error: Mutex<Option<String>>,
    lost: AtomicU64,
}

impl Shared {
    fn set_error(&self, message: String) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(message);
    }

    fn message(&self) -> Option<String> {
        let slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        let lost = self.lost.load(Ordering::Relaxed);
        slot.as_ref().map(|m| match lost {
            0 => m.clone(),
            1 => format!("{m}; 1 record was not logged"),
            n => format!("{m}; {n} records were not logged"),
        })
    }
}

impl LogWriter {
    /// Starts a new log in `run_dir` (created if missing); fails if `events.jsonl` has records.
    pub fn create(run_dir: &Path) -> Result<LogWriter, RunLogError> {
        fs::create_dir_all(run_dir).map_err(RunLogError::io("create", run_dir))?;
        let lock = lock::acquire(run_dir)?;
        let path = run_dir.join(EVENTS_FILE);
        if fs::metadata(&path).map(|m| m.len() > 0).unwrap_or(false) {
            return Err(RunLogError::NotEmpty { path });
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(RunLogError::io("create", &path))?;
        Ok(Self::start(run_dir, path, file, lock))
    }

    /// Continues the log in `run_dir` (a resumed run); a torn last line left by a crash is cut.
    pub fn append(run_dir: &Path) -> Result<LogWriter, RunLogError> {
        if !run_dir.is_dir() {
            return Err(RunLogError::Missing {
                path: run_dir.to_path_buf(),
            });
        }
        let lock = lock::acquire(run_dir)?;
        let path = run_dir.join(EVENTS_FILE);
        repair_tail(&path).map_err(RunLogError::io("repair", &path))?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(RunLogError::io("open", &path))?;
        Ok(Self::start(run_dir, path, file, lock))
    }

    /// Continues the log of a run resumed from a checkpoint taken after line `lines`: the lines
    /// after it describe work the resumed run will redo, so they are cut (under the lock, so no
    /// other writer can be appending) before writing goes on.
    pub fn resume_after(run_dir: &Path, lines: u64) -> Result<LogWriter, RunLogError> {
        if !run_dir.is_dir() {
            return Err(RunLogError::Missing {
                path: run_dir.to_path_buf(),
            });
        }
        let lock = lock::acquire(run_dir)?;
        let path = run_dir.join(EVENTS_FILE);
        cut_after_line(&path, lines)?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(RunLogError::io("open", &path))?;
        Ok(Self::start(run_dir, path, file, lock))
    }

    fn start(run_dir: &Path, path: PathBuf, file: File, lock: lock::WriterLock) -> LogWriter {
        let (records, rx) = unbounded();
        let (control, ctl_rx) = unbounded();
        let shared = Arc::new(Shared::default());
        let sink = Sink {
            path: path.clone(),
            summary_path: run_dir.join(SUMMARY_FILE),
            out: BufWriter::with_capacity(BUFFER_BYTES, file),
            dirty_since: None,
            failed: false,
            shared: shared.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("runlog-writer".into())
            .spawn(move || sink.run(rx, ctl_rx))
            .ok();
        if thread.is_none() {
            shared.set_error("cannot start the log writer thread".into());
        }
        LogWriter {
            records,
            control,
            shared,
            thread,
            lock: Some(lock),
            path,
        }
    }

    /// A sender for records (unbounded; every record sent before `close` is written).
    pub fn sender(&self) -> Sender<Record> {
        self.records.clone()
    }

    /// Asks the thread to write everything sent so far to disk and fsync it (at a checkpoint).
    pub fn flush_now(&self) {
        let _ = self.control.send(Control::Flush);
    }

    /// The first write error so far, with the number of records it cost; `None` while healthy.
    pub fn error(&self) -> Option<String> {
        self.shared.message()
    }

    /// One line saying the run's lock was taken over from a writer that is gone, if it was.
    pub fn took_over_lock(&self) -> Option<&str> {
        self.lock.as_ref().and_then(|l| l.took_over())
    }

    /// Path of the log file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes what is pending, fsyncs, writes `summary.json` if a `finished` record was seen,
    /// releases the lock and joins the thread; returns the first write error, if any.
    pub fn close(mut self) -> Result<(), RunLogError> {
        self.shutdown();
        match self.shared.message() {
            None => Ok(()),
            Some(message) => Err(RunLogError::Write {
                path: self.path.clone(),
                message,
            }),
        }
    }

    fn shutdown(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.control.send(Control::Close);
            if thread.join().is_err() {
                self.shared
                    .set_error("the log writer thread panicked".into());
            }
        }
        // Dropping the file releases the lock, after everything is on disk.
        self.lock.take();
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The writer thread's side.
struct Sink {
    path: PathBuf,
    summary_path: PathBuf,
    out: BufWriter<File>,
    dirty_since: Option<Instant>,
    failed: bool,
    shared: Arc<Shared>,
}

impl Sink {
    fn run(mut self, rx: Receiver<Record>, control: Receiver<Control>) {
        loop {
            let wait = match self.dirty_since {
                Some(since) => FLUSH_EVERY.saturating_sub(since.elapsed()),
                None => Duration::from_secs(3600),
            };
            select! {
                recv(rx) -> msg => match msg {
                    Ok(rec) => self.write(&rec),
                    Err(_) => break,
                },
                recv(control) -> msg => {
                    // Records sent before the request are already queued: take them first.
                    self.drain(&rx);
                    match msg {
                        Ok(Control::Flush) => self.flush(true),
                        Ok(Control::Close) | Err(_) => break,
                    }
                }
                default(wait) => {}
            }
            if self.dirty_since.is_some_and(|s| s.elapsed() >= FLUSH_EVERY) {
                self.flush(false);
            }
        }
        self.flush(true);
    }

    fn drain(&mut self, rx: &Receiver<Record>) {
        while let Ok(rec) = rx.try_recv() {
            self.write(&rec);
        }
    }

    fn write(&mut self, rec: &Record) {
        if self.failed {
            self.shared.lost.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let result = serde_json::to_writer(&mut self.out, rec)
            .map_err(std::io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        if let Err(e) = result {
            self.fail(e);
            self.shared.lost.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.dirty_since.get_or_insert_with(Instant::now);
        match &rec.event {
            Event::Step(_) | Event::Resources(_) | Event::NoiseScale(_) => {}
            Event::Checkpoint(_) | Event::Failed(_) => self.flush(true),
            Event::Finished(summary) => {
                self.flush(true);
                self.write_summary(summary);
            }
            _ => self.flush(false),
        }
    }

    /// Hands buffered bytes to the OS; `sync` also waits for the disk.
    fn flush(&mut self, sync: bool) {
        if self.failed {
            return;
        }
        let result = self.out.flush().and_then(|()| match sync {
            true => self.out.get_ref().sync_data(),
            false => Ok(()),
        });
        match result {
            Ok(()) => self.dirty_since = None,
            Err(e) => self.fail(e),
        }
    }

    /// After the first error the log is left as it is: later writes would only tear lines.
    fn fail(&mut self, e: std::io::Error) {
        self.failed = true;
        self.shared
            .set_error(format!("cannot write {}: {e}", self.path.display()));
    }

    fn write_summary(&mut self, summary: &Summary) {
        if let Err(e) = write_atomically(&self.summary_path, summary) {
            self.shared
                .set_error(format!("cannot write {}: {e}", self.summary_path.display()));
        }
    }
}

/// Writes pretty JSON to a temporary file, fsyncs it and renames it over `path`, so readers
/// see either the old file or the whole new one.
fn write_atomically(path: &Path, summary: &Summary) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut file = File::create(&tmp)?;
    serde_json::to_writer_pretty(&mut file, summary)?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

/// Makes an existing log safe to append to: a torn last line (crash mid-write) is cut off; a
/// complete last line without its newline gets one. A missing file is left missing.
/// Keeps the first `lines` lines of the log at `path` (fsynced), or says why it cannot.
fn cut_after_line(path: &Path, lines: u64) -> Result<(), RunLogError> {
    let bytes = fs::read(path).map_err(RunLogError::io("read", path))?;
    let cut = if lines == 0 {
        Some(0)
    } else {
        memchr::memchr_iter(b'\n', &bytes)
            .nth(lines as usize - 1)
            .map(|i| i + 1)
    };
    let Some(cut) = cut else {
        return Err(RunLogError::ShorterThanCheckpoint {
            path: path.to_path_buf(),
            found: memchr::memchr_iter(b'\n', &bytes).count() as u64,
            wanted: lines,
        });
    };
    if cut < bytes.len() {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(RunLogError::io("open", path))?;
        file.set_len(cut as u64)
            .and_then(|()| file.sync_all())
            .map_err(RunLogError::io("truncate", path))?;
    }
    Ok(())
}

fn repair_tail(path: &Path) -> std::io::Result<()> {
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    // The header line (with the config) is the longest; a few MB covers any real line.
    let window = len.min(4 << 20);
    file.seek(SeekFrom::Start(len - window))?;
    let mut tail = Vec::with_capacity(window as usize);
    file.read_to_end(&mut tail)?;
    if tail.last() == Some(&b'\n') {
        return Ok(());
    }
    let start = tail.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    match parse_line(&tail[start..]) {
        Parsed::Bad(_) if start > 0 || window == len => {
            file.set_len(len - window + start as u64)?;
        }
        _ => {
            file.seek(SeekFrom::End(0))?;
            file.write_all(b"\n")?;
        }
    }
    file.sync_data()
}
