//! `train --detach`: the run goes on in the background, independent of the terminal that
//! started it, and the prompt comes back once the run directory exists.
//!
//! The same command is started again as a child in a new session (`setsid`: no controlling
//! terminal, so a closed SSH session or killed tmux pane sends it nothing), with stdin from
//! /dev/null. Everything is checked in the child before its run directory exists, exactly as in
//! the foreground; until the child names its run directory its errors reach this terminal with
//! its exit code. Then it sends its plain lines and messages to `<run_dir>/output.log`, and this
//! process prints where the run is and how to watch, stop and resume it. Owns the hand-over
//! between the two processes; must never train.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context;

use crate::error::BadInput;
use crate::parallel::collective::Launch;

/// Set in the child's environment: it is the detached run, not the process that starts one.
pub const CHILD_ENV: &str = "BATCHRAMP_DETACHED_CHILD";
/// The detached run's plain lines and messages, in its run directory.
pub const OUTPUT_LOG: &str = "output.log";
/// What the child writes before its run directory on the line that hands over.
const MARKER: &str = "batchramp detached run: ";

/// Whether this process is the detached child of `train --detach`.
pub fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// Starts this same command in the background and waits until it has its run directory (or
/// has failed, whose message and exit code become ours).
pub fn start() -> anyhow::Result<i32> {
    if Launch::from_env().is_some_and(|l| l.world > 1) {
        return Err(BadInput(
            "--detach: a data-parallel run is started by its launcher; put the launcher in the \
             background instead (setsid mpirun … batchramp train … > train.out 2>&1 < /dev/null &)"
                .into(),
        )
        .into());
    }
    let exe = std::env::current_exe().context("finding this program to start it again")?;
    let mut cmd = Command::new(exe);
    cmd.args(std::env::args_os().skip(1))
        .env(CHILD_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("starting the run in the background")?;
    let mut errors = child.stderr.take().context("the child's stderr")?;
    let relay = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = errors.read_to_string(&mut text);
        text
    });
    let stdout = child.stdout.take().context("the child's stdout")?;
    let run_dir = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix(MARKER).map(str::to_string));
    // The child's stderr ends when it turns to its output.log, or when it exits.
    let said = relay.join().unwrap_or_default();
    for line in said.lines() {
        super::say(line);
    }
    let Some(run_dir) = run_dir else {
        let status = child
            .wait()
            .context("waiting for the run that failed to start")?;
        return Ok(status.code().unwrap_or(1));
    };
    let pid = child.id();
    let mut out = std::io::stdout().lock();
    let _ = write!(
        out,
        "started in the background as pid {pid}; its lines go to {run_dir}/{OUTPUT_LOG}\n\
         run directory: {run_dir}\n\
         watch it:      batchramp watch {run_dir}\n\
         stop it:       kill {pid}   (checkpoint, then exit; resume with: batchramp train --resume {run_dir} --detach)\n"
    );
    let _ = out.flush();
    Ok(0)
}

/// In the detached child, once the run directory exists: names it to the waiting parent, then
/// sends standard output and error to `<run_dir>/output.log` (appended: a resumed run continues
/// it), so that nothing depends on the parent or a terminal any more.
pub fn hand_over(run_dir: &Path) -> anyhow::Result<()> {
    let path = run_dir.join(OUTPUT_LOG);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    {
        let mut out = std::io::stdout().lock();
        // A parent that is gone already (killed at the prompt) changes nothing for the run.
        let _ = writeln!(out, "{MARKER}{}", run_dir.display()).and_then(|()| out.flush());
    }
    for fd in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        // SAFETY: dup2 onto the standard descriptors, from a file we keep open until then.
        if unsafe { libc::dup2(log.as_raw_fd(), fd) } < 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("cannot send output to {}", path.display()));
        }
    }
    Ok(())
}
