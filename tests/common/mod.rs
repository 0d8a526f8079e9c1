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

/// Waits for `child` to exit by itself within `within`; fails the test saying `what` if not.
pub fn exits_within(
    child: &mut std::process::Child,
    within: std::time::Duration,
    what: &str,
) -> std::process::ExitStatus {
    let started = std::time::Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(started.elapsed() < within, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A new pseudo-terminal of `cols` × `rows`: (master, slave), both close-on-exec from the
/// start. `openpty` opens them inheritable, and a child that another test thread spawns in the
/// moment before they are marked keeps this terminal's master open: closing ours then hangs
/// nothing up until that child exits (a watch took 5 s to see its hang-up so in CI).
pub fn open_pty(cols: u16, rows: u16) -> (OwnedFd, OwnedFd) {
    let last = || std::io::Error::last_os_error();
    // SAFETY: plain system calls; every descriptor is checked and owned once opened.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(master >= 0, "posix_openpt: {}", last());
        let master = OwnedFd::from_raw_fd(master);
        use std::os::fd::AsRawFd;
        assert_eq!(libc::grantpt(master.as_raw_fd()), 0, "grantpt: {}", last());
        assert_eq!(
            libc::unlockpt(master.as_raw_fd()),
            0,
            "unlockpt: {}",
            last()
        );
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(
            libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()),
            0,
            "ptsname_r: {}",
            last()
        );
        let slave = libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        assert!(slave >= 0, "opening the pty's slave: {}", last());
        let slave = OwnedFd::from_raw_fd(slave);
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        assert_eq!(
            libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &size),
            0,
            "TIOCSWINSZ: {}",
            last()
        );
        (master, slave)
    }
}
