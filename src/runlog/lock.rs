//! The run directory's writer lock (`<run_dir>/.lock`, an advisory `flock`), with its holder's
//! pid, host and process start time written inside it.
//!
//! Owns taking, probing and releasing the lock, and judging a lock left behind. The kernel drops
//! the lock when the writer's process dies, which is how a follower tells a crashed writer from a
//! quiet one; the holder line is what tells a lock left by a writer that is gone (killed, a crash,
//! a file system that keeps locks) from one a live writer holds. A holder on another host is never
//! judged dead: its pid means nothing here. The file is never deleted: deleting a lock file races
//! with a second writer that has just opened it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{RunLogError, LOCK_FILE};

/// Attempts before reporting the lock as held: a follower probes it with a brief shared lock,
/// and a writer starting at that instant must not fail because of it.
const ATTEMPTS: u32 = 10;
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// The writer lock of a run directory; released (its holder line cleared first) when dropped.
#[derive(Debug)]
pub(crate) struct WriterLock {
    file: File,
    took_over: Option<String>,
}

impl WriterLock {
    /// One line saying whose left-behind lock was taken over, if it was.
    pub(crate) fn took_over(&self) -> Option<&str> {
        self.took_over.as_deref()
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        // An empty lock file means "released cleanly"; the flock itself goes with the file.
        let _ = self.file.set_len(0);
    }
}

/// Who holds a lock, as its holder wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Holder {
    pid: u32,
    host: String,
    /// The process's start time (clock ticks since boot, Linux), so a reused pid is not taken
    /// for the holder.
    start: Option<u64>,
}

/// Whether the holder of a lock still runs.
#[derive(Debug, PartialEq, Eq)]
enum Liveness {
    Alive,
    Gone,
    /// On another host: its pid cannot be checked from here.
    Elsewhere,
}

impl Holder {
    fn me() -> Holder {
        let pid = std::process::id();
        Holder {
            pid,
            host: crate::parallel::collective::host_name(),
            start: start_time(pid),
        }
    }

    fn line(&self) -> String {
        let mut s = format!("pid={} host={}", self.pid, self.host);
        if let Some(t) = self.start {
            s.push_str(&format!(" start={t}"));
        }
        s.push('\n');
        s
    }

    fn parse(text: &str) -> Option<Holder> {
        let (mut pid, mut host, mut start) = (None, None, None);
        for field in text.split_whitespace() {
            match field.split_once('=') {
                Some(("pid", v)) => pid = v.parse().ok(),
                Some(("host", v)) => host = Some(v.to_string()),
                Some(("start", v)) => start = v.parse().ok(),
                _ => {}
            }
        }
        Some(Holder {
            pid: pid?,
            host: host?,
            start,
        })
    }

    fn describe(&self) -> String {
        format!("pid {} on {}", self.pid, self.host)
    }

    fn liveness(&self) -> Liveness {
        if self.host != crate::parallel::collective::host_name() {
            return Liveness::Elsewhere;
        }
        let Ok(pid) = libc::pid_t::try_from(self.pid) else {
            return Liveness::Gone;
        };
        // SAFETY: signal 0 only checks that the process exists and may be signalled.
        let exists = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !exists {
            return Liveness::Gone;
        }
        match (self.start, start_time(self.pid)) {
            (Some(then), Some(now)) if then != now => Liveness::Gone,
            _ => Liveness::Alive,
        }
    }
}

/// A process's start time from `/proc/<pid>/stat` (field 22), where there is a `/proc`.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields after its closing parenthesis start at 3.
    let after = stat.get(stat.rfind(')')? + 2..)?;
    after.split(' ').nth(22 - 3)?.parse().ok()
}

fn read_holder(file: &File) -> Option<Holder> {
    let mut text = String::new();
    (&*file).read_to_string(&mut text).ok()?;
    Holder::parse(&text)
}

fn write_holder(file: &File, path: &Path) -> Result<(), RunLogError> {
    file.set_len(0)
        .and_then(|()| file.write_all_at(Holder::me().line().as_bytes(), 0))
        .map_err(RunLogError::io("write", path))
}

/// Tries the exclusive lock a few times; false when someone else holds it.
fn try_lock(file: &File, path: &Path) -> Result<bool, RunLogError> {
    for attempt in 0..ATTEMPTS {
        match file.try_lock() {
            Ok(()) => return Ok(true),
            Err(TryLockError::WouldBlock) if attempt + 1 < ATTEMPTS => {
                std::thread::sleep(RETRY_PAUSE)
            }
            Err(TryLockError::WouldBlock) => break,
            Err(TryLockError::Error(e)) => return Err(RunLogError::io("lock", path)(e)),
        }
    }
    Ok(false)
}

/// Takes the exclusive writer lock of `run_dir`, or says who holds it. A lock whose holder is
/// gone is taken over, and the lock says so ([`WriterLock::took_over`]).
pub(crate) fn acquire(run_dir: &Path) -> Result<WriterLock, RunLogError> {
    let path = run_dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(RunLogError::io("create", &path))?;
    if try_lock(&file, &path)? {
        // A holder line left in a free lock: its writer ended without releasing (killed, crashed).
        let took_over = read_holder(&file).map(|h| {
            format!(
                "{}: took over the run's lock; its last writer ({}) stopped without releasing it",
                run_dir.display(),
                h.describe()
            )
        });
        write_holder(&file, &path)?;
        return Ok(WriterLock { file, took_over });
    }
    let holder = read_holder(&file);
    match holder.as_ref().map(Holder::liveness) {
        Some(Liveness::Gone) => {
            let gone = holder.map(|h| h.describe()).unwrap_or_default();
            take_over(run_dir, &path, &gone)
        }
        state => Err(RunLogError::Locked {
            dir: run_dir.to_path_buf(),
            holder: match (holder, state) {
                (Some(h), Some(Liveness::Elsewhere)) => format!(
                    "{}, on another host, so this one cannot tell whether it still runs",
                    h.describe()
                ),
                (Some(h), _) => h.describe(),
                (None, _) => "a process that did not write its pid".into(),
            },
        }),
    }
}

/// Replaces a lock still held although its holder is gone (a file system that keeps locks, a
/// leaked descriptor): a fresh file, locked and named, renamed over the old one.
fn take_over(run_dir: &Path, path: &Path, gone: &str) -> Result<WriterLock, RunLogError> {
    let fresh: PathBuf = run_dir.join(format!("{LOCK_FILE}.{}", std::process::id()));
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&fresh)
        .map_err(RunLogError::io("create", &fresh))?;
    let locked = try_lock(&file, &fresh);
    let placed = match locked {
        Ok(true) => write_holder(&file, &fresh)
            .and_then(|()| std::fs::rename(&fresh, path).map_err(RunLogError::io("rename", path))),
        Ok(false) => Err(RunLogError::Locked {
            dir: run_dir.to_path_buf(),
            holder: "another process taking it over at the same moment".into(),
        }),
        Err(e) => Err(e),
    };
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&fresh);
        return Err(e);
    }
    // Two takers renaming at once: only the one whose file ended up as the lock holds it.
    let ours = file.metadata().map(|m| (m.dev(), m.ino())).ok();
    let named = std::fs::metadata(path).map(|m| (m.dev(), m.ino())).ok();
    if ours.is_none() || ours != named {
        return Err(RunLogError::Locked {
            dir: run_dir.to_path_buf(),
            holder: "another process that took it over at the same moment".into(),
        });
    }
    Ok(WriterLock {
        file,
        took_over: Some(format!(
            "{}: took over the run's lock; its writer ({gone}) is gone although the lock was still held",
            run_dir.display()
        )),
    })
}

/// Whether a writer holds the lock of `run_dir` right now (false when there is no lock file).
pub(crate) fn is_held(run_dir: &Path) -> bool {
    let Ok(file) = File::open(run_dir.join(LOCK_FILE)) else {
        return false;
    };
    match file.try_lock_shared() {
        // Dropping `file` releases the shared lock at once.
        Ok(()) => false,
        Err(TryLockError::WouldBlock) => true,
        // Locks unsupported here (some network file systems): we cannot tell, so assume alive
        // and let the follower's idle rule decide.
        Err(TryLockError::Error(_)) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pid that has just ended (a child reaped at once).
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    fn write_lock_line(dir: &Path, line: &str) -> File {
        let f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .unwrap();
        f.write_all_at(line.as_bytes(), 0).unwrap();
        f
    }

    #[test]
    fn a_clean_release_leaves_nothing_to_take_over() {
        let dir = tempfile::tempdir().unwrap();
        let lock = acquire(dir.path()).unwrap();
        assert_eq!(lock.took_over(), None);
        let line = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(Holder::parse(&line), Some(Holder::me()), "{line}");
        assert!(is_held(dir.path()));
        assert!(matches!(
            acquire(dir.path()),
            Err(RunLogError::Locked { holder, .. }) if holder == Holder::me().describe()
        ));
        drop(lock);
        assert!(!is_held(dir.path()));
        assert_eq!(std::fs::read(dir.path().join(LOCK_FILE)).unwrap(), b"");
        assert_eq!(acquire(dir.path()).unwrap().took_over(), None);
    }

    #[test]
    fn a_free_lock_naming_a_killed_writer_is_taken_over_with_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let pid = dead_pid();
        drop(write_lock_line(
            dir.path(),
            &format!(
                "pid={pid} host={}\n",
                crate::parallel::collective::host_name()
            ),
        ));
        let lock = acquire(dir.path()).unwrap();
        let note = lock.took_over().unwrap();
        assert!(note.contains(&format!("pid {pid}")), "{note}");
        assert!(note.contains("took over"), "{note}");
    }

    #[test]
    fn a_held_lock_of_a_dead_holder_is_replaced_but_a_live_or_remote_one_is_not() {
        let host = crate::parallel::collective::host_name();
        // Held (by a second open file description of this process) but naming a dead pid.
        let dir = tempfile::tempdir().unwrap();
        let pid = dead_pid();
        let stale = write_lock_line(dir.path(), &format!("pid={pid} host={host}\n"));
        stale.try_lock().unwrap();
        let lock = acquire(dir.path()).unwrap();
        assert!(lock.took_over().unwrap().contains("is gone"));
        assert!(is_held(dir.path()), "the fresh lock file is held");
        let line = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(Holder::parse(&line), Some(Holder::me()));
        assert!(!dir
            .path()
            .join(format!("{LOCK_FILE}.{}", std::process::id()))
            .exists());
        drop(stale);

        // Held by a live process (this one, with its real start time): refused, naming it.
        let dir = tempfile::tempdir().unwrap();
        let live = write_lock_line(dir.path(), &Holder::me().line());
        live.try_lock().unwrap();
        let err = acquire(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(err.contains("another process is writing this run"), "{err}");

        // The same pid with another start time is a reused pid: the holder is gone.
        let dir = tempfile::tempdir().unwrap();
        let reused = write_lock_line(
            dir.path(),
            &format!("pid={} host={host} start=1\n", std::process::id()),
        );
        reused.try_lock().unwrap();
        assert!(acquire(dir.path()).is_ok());

        // On another host the pid says nothing here: refused.
        let dir = tempfile::tempdir().unwrap();
        let remote = write_lock_line(dir.path(), &format!("pid={pid} host=elsewhere-{host}\n"));
        remote.try_lock().unwrap();
        let err = acquire(dir.path()).unwrap_err().to_string();
        assert!(err.contains("on another host"), "{err}");
    }
}
