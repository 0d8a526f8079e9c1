//! The run directory's writer lock (`<run_dir>/.lock`, an advisory `flock`).
//!
//! Owns taking, probing and releasing the lock. The kernel drops the lock when the writer's
//! process dies, which is how a follower tells a crashed writer from a quiet one. The file is
//! never deleted: deleting a lock file races with a second writer that has just opened it.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::Duration;

use super::{RunLogError, LOCK_FILE};

/// Attempts before reporting the lock as held: a follower probes it with a brief shared lock,
/// and a writer starting at that instant must not fail because of it.
const ATTEMPTS: u32 = 10;
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// Takes the exclusive writer lock of `run_dir`, or says who holds it.
pub(crate) fn acquire(run_dir: &Path) -> Result<File, RunLogError> {
    let path = run_dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(RunLogError::io("create", &path))?;
    for attempt in 0..ATTEMPTS {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if attempt + 1 < ATTEMPTS => {
                std::thread::sleep(RETRY_PAUSE)
            }
            Err(TryLockError::WouldBlock) => break,
            Err(TryLockError::Error(e)) => return Err(RunLogError::io("lock", &path)(e)),
        }
    }
    Err(RunLogError::Locked {
        dir: run_dir.to_path_buf(),
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
