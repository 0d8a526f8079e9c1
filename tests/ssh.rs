//! End to end: a run outliving the SSH session. The terminal is taken away under a live `train`
//! and `watch` (the pseudo-terminal's master closed, or SIGHUP), in the running, paused and
//! finished states; Ctrl-C and SIGTERM in the UI; `train --detach`; a closed standard output; a
//! lock left by a killed run; a bad theme refused before anything is created.
//!
//! The pseudo-terminal is opened here (not with expectrl, whose drop kills the child) so that
//! closing its master is exactly what a dropped SSH connection or a killed tmux pane does: the
//! child is a session leader with the tty as its controlling terminal, so the kernel hangs the
//! tty up and sends it SIGHUP.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use batchramp::events::Event;

mod common;
use common::pty::Pty;
use common::{bin, events, run_dir, values};

/// Floats to their last bit: a resumed run must match the uninterrupted one exactly.
fn exact(v: f64) -> String {
    format!("{v:?}")
}

/// Small, quick settings: 6 epochs of 512 synthetic images, ×5 at epochs 2 and 4 (B 32 → 160),
/// long enough that a run is still going when the terminal is taken away.
const QUICK: &[&str] = &[
    "--data",
    "synthetic",
    "--set",
    "data.synthetic_train=512",
    "--set",
    "data.synthetic_test=256",
    "--set",
    "schedule.epochs=6",
    "--set",
    "schedule.milestones=[2,4]",
    "--set",
    "schedule.batch=32",
    "--set",
    "model.ghost_batch=32",
    "--set",
    "hardware.max_micro_batch=64",
    "--set",
    "hardware.threads=2",
];

/// The time a process may take from the hang-up to its exit (the requirement is 5 s).
const EXIT_BOUND: Duration = Duration::from_secs(5);

fn train_in_pty(out: &Path, extra: &[&str], ignore_hup: bool) -> Pty {
    let mut cmd = bin();
    cmd.args(["train", "--out"])
        .arg(out)
        .args(QUICK)
        .args(extra);
    Pty::spawn(cmd, ignore_hup)
}

/// Waits until the run under `out` has logged update `update`.
fn wait_for_update(out: &Path, update: u64) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(Ok(e)) = std::fs::read_dir(out).ok().and_then(|mut d| d.next()) {
            let dir = e.path();
            let reached = std::fs::read_to_string(dir.join("events.jsonl")).is_ok_and(|t| {
                t.lines().any(|l| {
                    l.contains("\"kind\":\"step\"") && l.contains(&format!("\"update\":{update},"))
                })
            });
            if reached {
                return dir;
            }
        }
        assert!(Instant::now() < deadline, "update {update} never logged");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The values of the same run never interrupted, computed once for every test of this file.
fn uninterrupted() -> &'static [String] {
    static VALUES: OnceLock<Vec<String>> = OnceLock::new();
    VALUES.get_or_init(|| {
        let out = tempfile::tempdir().unwrap();
        let o = bin()
            .args(["train", "--no-tui", "--out"])
            .arg(out.path())
            .args(QUICK)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        values(&events(&run_dir(out.path())), exact)
    })
}

/// The run's last record is its interrupt checkpoint, whose file exists; the lock is released.
fn assert_interrupt_checkpoint_and_free_lock(dir: &Path) {
    let recs = events(dir);
    let last = &recs.last().unwrap().event;
    let Event::Checkpoint(ck) = last else {
        panic!("last event should be the interrupt checkpoint, got {last:?}")
    };
    assert_eq!(ck.reason, "interrupt");
    assert!(Path::new(&ck.path).exists());
    let lock = std::fs::read_to_string(dir.join(".lock")).unwrap();
    assert_eq!(lock, "", "the lock names no holder once released");
}

/// `train --resume` headless to the end; the whole log then has exactly the values of a run
/// never interrupted.
fn assert_resume_is_bit_exact(dir: &Path) {
    let o = bin()
        .args(["train", "--no-tui", "--resume"])
        .arg(dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        !err.contains("took over"),
        "a clean exit leaves no lock behind: {err}"
    );
    assert_eq!(values(&events(dir), exact), uninterrupted());
}

fn assert_quick_exit(what: &str, took: Duration) {
    eprintln!(
        "{what}: gone {:.0} ms after the hang-up",
        took.as_secs_f64() * 1e3
    );
    assert!(took < EXIT_BOUND, "{what}: {took:?} after the hang-up");
}

#[test]
fn losing_the_terminal_while_training_checkpoints_exits_129_and_resumes_bit_exactly() {
    let out = tempfile::tempdir().unwrap();
    let mut pty = train_in_pty(out.path(), &[], false);
    pty.wait_for("running", 180);
    let dir = wait_for_update(out.path(), 5);
    let at = pty.hang_up();
    let (status, took) = pty.exit(at, 60);
    assert_eq!(status.code(), Some(129), "{status}");
    assert_quick_exit("running, master closed", took);
    assert_interrupt_checkpoint_and_free_lock(&dir);
    assert_resume_is_bit_exact(&dir);
}

#[test]
fn losing_the_terminal_while_paused_without_sighup_checkpoints_and_exits_129() {
    // SIGHUP ignored from the start: only the tty's hang-up (a read that ends) tells the UI.
    let out = tempfile::tempdir().unwrap();
    let mut pty = train_in_pty(out.path(), &[], true);
    pty.wait_for("running", 180);
    let dir = wait_for_update(out.path(), 3);
    pty.keys(b"p");
    pty.wait_for("paused", 60);
    let at = pty.hang_up();
    let (status, took) = pty.exit(at, 60);
    assert_eq!(status.code(), Some(129), "{status}");
    assert_quick_exit("paused, master closed, SIGHUP ignored", took);
    assert_interrupt_checkpoint_and_free_lock(&dir);
    assert_resume_is_bit_exact(&dir);
}

#[test]
fn sighup_under_the_ui_checkpoints_exits_129_and_gives_the_terminal_back() {
    let out = tempfile::tempdir().unwrap();
    let mut pty = train_in_pty(out.path(), &[], false);
    pty.wait_for("running", 180);
    let dir = wait_for_update(out.path(), 3);
    let at = Instant::now();
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(pty.pid(), libc::SIGHUP) };
    let (status, took) = pty.exit(at, 60);
    assert_eq!(status.code(), Some(129), "{status}");
    assert_quick_exit("running, SIGHUP", took);
    assert_interrupt_checkpoint_and_free_lock(&dir);
    // The terminal was still there: it is given back, and the last line says what happened.
    std::thread::sleep(Duration::from_millis(200));
    let screen = pty.screen();
    assert!(
        !screen.screen().alternate_screen(),
        "left the alternate screen"
    );
    let text = screen.screen().contents();
    assert!(text.contains("interrupted: checkpoint"), "{text}");
}

#[test]
fn losing_the_terminal_after_the_run_finished_exits_at_once_with_the_runs_code() {
    let out = tempfile::tempdir().unwrap();
    let mut pty = train_in_pty(
        out.path(),
        &[
            "--set",
            "schedule.epochs=1",
            "--set",
            "schedule.milestones=[]",
        ],
        false,
    );
    pty.wait_for("● finished", 180);
    let dir = run_dir(out.path());
    let at = pty.hang_up();
    let (status, took) = pty.exit(at, 60);
    // The training completed: its exit code says so, whatever happened to the screen after.
    assert_eq!(status.code(), Some(0), "{status}");
    assert_quick_exit("finished, master closed", took);
    assert!(matches!(
        events(&dir).last().unwrap().event,
        Event::Finished(_)
    ));
    assert_eq!(std::fs::read_to_string(dir.join(".lock")).unwrap(), "");
}

#[test]
fn watch_ends_when_its_terminal_goes_away() {
    let out = tempfile::tempdir().unwrap();
    let mut run = bin()
        .args(["train", "--no-tui", "--out"])
        .arg(out.path())
        .args(QUICK)
        .args(["--set", "schedule.epochs=40"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dir = wait_for_update(out.path(), 1);
    let mut cmd = bin();
    cmd.arg("watch").arg(&dir);
    let mut pty = Pty::spawn(cmd, false);
    pty.wait_for("running", 60);
    let at = pty.hang_up();
    let (status, took) = pty.exit(at, 30);
    assert_quick_exit("watch, master closed", took);
    assert_eq!(status.code(), Some(129), "{status}");
    // The watched run is not disturbed by its watcher leaving.
    assert!(run.try_wait().unwrap().is_none(), "the run goes on");
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(run.id() as i32, libc::SIGTERM) };
    assert_eq!(run.wait().unwrap().code(), Some(143));
}

#[test]
fn ctrl_c_asks_then_a_second_checkpoints_and_exits_130_and_sigterm_exits_143() {
    let out = tempfile::tempdir().unwrap();
    let mut pty = train_in_pty(out.path(), &[], false);
    pty.wait_for("running", 180);
    let dir = wait_for_update(out.path(), 3);
    pty.keys(b"\x03");
    pty.wait_for("Stop training?", 30);
    pty.keys(b"\x03");
    let (status, _) = pty.exit(Instant::now(), 60);
    assert_eq!(status.code(), Some(130), "{status}");
    assert_interrupt_checkpoint_and_free_lock(&dir);

    let out = tempfile::tempdir().unwrap();
    let mut pty = train_in_pty(out.path(), &[], false);
    pty.wait_for("running", 180);
    let dir = wait_for_update(out.path(), 3);
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(pty.pid(), libc::SIGTERM) };
    let (status, took) = pty.exit(Instant::now(), 60);
    assert_eq!(status.code(), Some(143), "{status}");
    eprintln!(
        "SIGTERM under the UI: gone after {:.0} ms",
        took.as_secs_f64() * 1e3
    );
    assert_interrupt_checkpoint_and_free_lock(&dir);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!pty.screen().screen().alternate_screen());
}

#[test]
fn a_closed_stdout_stops_the_training_with_a_checkpoint_and_exit_141() {
    let out = tempfile::tempdir().unwrap();
    let mut child = bin()
        .args(["train", "--no-tui", "--out"])
        .arg(out.path())
        .args(QUICK)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `| head -2`: two lines read, then the pipe is closed.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..2 {
        lines.next().unwrap().unwrap();
    }
    drop(lines);
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(141), "{status}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("interrupted: checkpoint") && err.contains("standard output closed"),
        "{err}"
    );
    let dir = run_dir(out.path());
    assert_interrupt_checkpoint_and_free_lock(&dir);
    assert_resume_is_bit_exact(&dir);
}

#[test]
fn commands_that_print_end_quietly_on_a_closed_pipe() {
    let runs = tempfile::tempdir().unwrap();
    let dir = runs.path().join("20240101-000000-sample");
    let writer = batchramp::runlog::LogWriter::create(&dir).unwrap();
    for r in batchramp::runlog::sample::SampleRun::default().records() {
        writer.sender().send(r).unwrap();
    }
    writer.close().unwrap();
    let dir = dir.to_str().unwrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["replay", "--no-tui", dir],
        vec!["compare", "--no-tui", dir, dir],
        vec!["watch", "--no-tui", dir],
        vec!["plan"],
    ];
    for args in commands {
        let mut child = bin()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader is gone before the first line is written.
        drop(child.stdout.take());
        let status = child.wait().unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
        assert_ne!(status.code(), Some(101), "{args:?}: {err}");
        assert!(
            status.success()
                || std::os::unix::process::ExitStatusExt::signal(&status) == Some(libc::SIGPIPE),
            "{args:?}: {status} {err}"
        );
    }
}

#[test]
fn detach_returns_at_once_and_the_run_lives_in_its_own_session() {
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let o = bin()
        .args(["train", "--detach", "--out"])
        .arg(out.path())
        .args(QUICK)
        .args([
            "--set",
            "schedule.epochs=2",
            "--set",
            "schedule.milestones=[1]",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!(
        "--detach returned after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let dir = run_dir(out.path());
    assert!(
        said.contains(&format!("run directory: {}", dir.display())),
        "{said}"
    );
    assert!(
        said.contains(&format!("batchramp watch {}", dir.display())),
        "{said}"
    );
    let pid: i32 = said
        .split("pid ")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no pid in: {said}"));
    // SAFETY: getsid(2) only reads.
    let sid = unsafe { libc::getsid(pid) };
    if sid >= 0 {
        assert_eq!(sid, pid, "the run leads a session of its own");
    }
    // The run goes on without the process that started it, to its end.
    let deadline = Instant::now() + Duration::from_secs(180);
    while unsafe { libc::kill(pid, 0) } == 0 {
        assert!(Instant::now() < deadline, "the detached run never ended");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(matches!(
        events(&dir).last().unwrap().event,
        Event::Finished(_)
    ));
    let lines = std::fs::read_to_string(dir.join("output.log")).unwrap();
    assert!(lines.contains("epoch 2/2"), "{lines}");
    assert!(lines.contains("run directory:"), "{lines}");
    assert!(dir.join("summary.json").exists());

    // Bad input still reaches the terminal that asked, with its exit code, and creates nothing.
    let out = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["train", "--detach", "--out"])
        .arg(out.path())
        .args(QUICK)
        .arg("--config")
        .arg(out.path().join("nowhere.toml"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("nowhere"), "{err}");
    assert!(std::fs::read_dir(out.path()).unwrap().next().is_none());
}

#[test]
fn a_lock_left_by_a_killed_run_never_blocks_its_resume() {
    let out = tempfile::tempdir().unwrap();
    let mut child = bin()
        .args(["train", "--no-tui", "--out"])
        .arg(out.path())
        .args(QUICK)
        .args(["--set", "checkpoint.every_epochs=1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dir = wait_for_update(out.path(), 20);
    child.kill().unwrap();
    child.wait().unwrap();
    let lock = std::fs::read_to_string(dir.join(".lock")).unwrap();
    assert!(lock.contains(&format!("pid={}", child.id())), "{lock}");
    let o = bin()
        .args(["train", "--no-tui", "--resume"])
        .arg(&dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let notes: Vec<&str> = err.lines().filter(|l| l.contains("took over")).collect();
    assert_eq!(notes.len(), 1, "{err}");
    assert!(notes[0].contains(&format!("pid {}", child.id())), "{err}");
    assert!(matches!(
        events(&dir).last().unwrap().event,
        Event::Finished(_)
    ));
}

#[test]
fn nohup_keeps_a_headless_run_going_through_sighup() {
    let out = tempfile::tempdir().unwrap();
    let mut cmd = bin();
    cmd.args(["train", "--no-tui", "--out"])
        .arg(out.path())
        .args(QUICK)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: one async-signal-safe call between fork and exec, as nohup makes.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    wait_for_update(out.path(), 2);
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP stopped a nohup'd run"
    );
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(143), "{err}");
    assert!(err.starts_with("interrupted: checkpoint"), "{err}");
    assert!(err.contains("SIGTERM") && !err.contains("error:"), "{err}");
}

#[test]
fn a_bad_theme_is_refused_before_anything_is_created() {
    for extra in [&["--no-tui"][..], &[][..], &["--detach"][..]] {
        let out = tempfile::tempdir().unwrap();
        let o = bin()
            .args(["train", "--theme", "nosuch", "--out"])
            .arg(out.path())
            .args(QUICK)
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("nosuch"), "{err}");
        assert!(
            std::fs::read_dir(out.path()).unwrap().next().is_none(),
            "{extra:?}: a run directory was created"
        );
    }
    for cmd in ["watch", "replay"] {
        let o = bin()
            .args([cmd, "--no-tui", "--theme", "nosuch", "nowhere"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("nosuch"),
            "{cmd}"
        );
    }
}

/// One update longer than the exit bound (4 micro-batches of 8 images, each made 2 s slower by
/// a test setting): losing the terminal in the middle of it still ends the run within the
/// bound, between two micro-batches, with the last whole update's checkpoint, and the resumed
/// run is bit-exact with one never interrupted.
#[test]
fn losing_the_terminal_during_an_update_longer_than_the_bound_still_exits_in_time() {
    const SLOW: &[&str] = &[
        "--set",
        "hardware.max_micro_batch=8",
        "--set",
        "model.ghost_batch=8",
        "--set",
        "schedule.epochs=2",
        "--set",
        "schedule.milestones=[1]",
    ];
    let reference = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["train", "--no-tui", "--out"])
        .arg(reference.path())
        .args(QUICK)
        .args(SLOW)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = values(&events(&run_dir(reference.path())), exact);

    let out = tempfile::tempdir().unwrap();
    let mut cmd = bin();
    cmd.args(["train", "--out"])
        .arg(out.path())
        .args(QUICK)
        .args(SLOW)
        .env("BATCHRAMP_FAULT_MICRO_BATCH_DELAY_MS", "2000");
    let mut pty = Pty::spawn(cmd, false);
    pty.wait_for("running", 180);
    let dir = wait_for_update(out.path(), 1);
    // A second into update 2, which needs 8 s.
    std::thread::sleep(Duration::from_secs(1));
    let at = pty.hang_up();
    let (status, took) = pty.exit(at, 60);
    assert_eq!(status.code(), Some(129), "{status}");
    assert_quick_exit("in an 8-second update, master closed", took);
    assert_interrupt_checkpoint_and_free_lock(&dir);
    let recs = events(&dir);
    let Event::Checkpoint(ck) = &recs.last().unwrap().event else {
        unreachable!("checked above")
    };
    assert_eq!(ck.update, 1, "the checkpoint holds the last whole update");

    let o = bin()
        .args(["train", "--no-tui", "--resume"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(values(&events(&dir), exact), want);
}
