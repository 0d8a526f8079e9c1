//! Helpers shared by the end-to-end tests (and `benches/ui_overhead.rs`): running the built
//! binary, reading a run directory's log back, comparing runs by their values, opening a
//! pseudo-terminal. Owns nothing a test asserts beyond what each helper says; must never start
//! a process a test does not ask for.

// Each test binary compiles this module and uses only some of it.
#![allow(dead_code)]

pub mod pty;

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use batchramp::events::{Event, Record};

/// The built `batchramp` binary, to be given arguments.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_batchramp"))
}

/// Runs the binary with `args` and no standard input, to its end.
pub fn batchramp(args: &[&str]) -> Output {
    bin()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run the batchramp binary")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit code 2 and exactly one line on stderr that contains every `needle`; returns stderr.
pub fn assert_bad_input(out: &Output, needles: &[&str]) -> String {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
    err
}

/// The run directories under `out`, by name.
pub fn run_dirs(out: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// The latest run directory under `out`.
pub fn run_dir(out: &Path) -> PathBuf {
    run_dirs(out).pop().expect("a run directory")
}

/// Every record of a run directory's `events.jsonl`.
pub fn events(dir: &Path) -> Vec<Record> {
    std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Event values without wall-clock fields, for comparing runs; `float` writes each loss and
/// accuracy (to the precision the comparison needs).
pub fn values(records: &[Record], float: fn(f64) -> String) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Step(s) => Some(format!(
                "step {} {} {} {} {}",
                s.update,
                s.epoch,
                float(s.loss),
                float(s.acc),
                s.batch
            )),
            Event::Epoch(e) => Some(format!(
                "epoch {} {} {} {} {} {}",
                e.epoch,
                float(e.train_loss),
                float(e.train_acc),
                float(e.test_loss),
                float(e.test_acc),
                e.updates
            )),
            Event::Stage(s) => Some(format!(
                "stage {} {} {} {}",
                s.index, s.epoch, s.batch, s.lr
            )),
            _ => None,
        })
        .collect()
}

/// A new pseudo-terminal of `cols` × `rows`: (master, slave).
pub fn open_pty(cols: u16, rows: u16) -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: valid out-pointers for the two descriptors and a valid winsize; no name buffer.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned by nothing else.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}
