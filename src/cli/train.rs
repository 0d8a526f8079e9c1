//! `batchramp train`: start the run ([`crate::train::session`]), show the live UI (or plain
//! lines without a terminal), and map every way of being stopped to a checkpoint and an exit
//! code: Ctrl-C 130, SIGTERM 143, SIGHUP or the terminal gone 129, standard output closed 141.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use crossbeam_channel::{bounded, Receiver, Sender};

use crate::error::UserFixable;
use crate::error::{BadInput, Silent};
use crate::events::{Control, Record};
use crate::parallel::collective::{host_name, JobEnd, Launch};
use crate::parallel::handshake::HandshakeError;
use crate::train::session::{Interrupter, RunRequest, Session, SessionError};
use crate::train::{Faults, Outcome};
use crate::tui::UiExit;

use super::detach;

/// Arguments of `batchramp train`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Config file (TOML); defaults to the built-in defaults (see configs/default.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data: a directory with cifar-10-batches-bin/, the official .tar.gz, or `synthetic`.
    #[arg(long, value_name = "PATH|synthetic")]
    pub data: Option<String>,
    /// Device: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Parent directory of run directories [default: runs].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print one plain line per epoch and stage instead of the live UI.
    #[arg(long)]
    pub no_tui: bool,
    /// Continue from a checkpoint file, or from the latest checkpoint of a run directory.
    #[arg(long, value_name = "CHECKPOINT|RUN_DIR")]
    pub resume: Option<PathBuf>,
    /// Override a config key by its dotted path, e.g. --set schedule.epochs=2 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// UI theme: dark, light, mono, or a theme file.
    #[arg(long)]
    pub theme: Option<String>,
    /// Start headless in the background, detached from this terminal (a new session); print
    /// the run directory and the `watch` command, and return. The run's lines go to
    /// RUN_DIR/output.log.
    #[arg(long)]
    pub detach: bool,
}

/// The first reason the run was asked to stop, as an exit code (0: none yet): a signal's
/// 128 + number, set by the signal thread before it asks the trainer to stop, or what the output
/// side saw (the terminal gone, standard output closed).
static STOP_CAUSE: AtomicI32 = AtomicI32::new(0);

/// Exit code when standard output was closed under a headless run (128 + SIGPIPE).
const CLOSED_OUTPUT: i32 = 141;

/// Records why the run stops, unless an earlier reason already did.
fn stop_cause(code: i32) {
    let _ = STOP_CAUSE.compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
}

/// Runs `batchramp train`; returns the process exit code.
pub fn run(args: Args) -> anyhow::Result<i32> {
    // Everything that can be checked is, before a run directory exists.
    super::check_theme(args.theme.as_deref())?;
    if let (Some(run), Some(out)) = (&args.resume, &args.out) {
        return Err(BadInput(format!(
            "--out {}: a resumed run stays in its own directory ({}); drop --out",
            out.display(),
            run.display()
        ))
        .into());
    }
    let faults = faults_from_env()?;
    let detached = detach::is_child();
    if args.detach && !detached {
        return detach::start();
    }
    let interactive = !args.no_tui
        && !args.detach
        && std::io::stdout().is_terminal()
        && std::io::stdin().is_terminal();
    let started = Session::start(RunRequest {
        config: args.config.clone(),
        resume: args.resume.clone(),
        overrides: args.set.clone(),
        data: args.data.clone(),
        device: args.device.clone(),
        out: args.out.clone().unwrap_or_else(|| PathBuf::from("runs")),
        interactive,
        faults,
        ..RunRequest::new()
    });
    // Resuming a finished run is no failure: it says so and leaves the run as it is.
    if let Err(done @ SessionError::Finished { .. }) = &started {
        let _ = writeln!(std::io::stdout().lock(), "{done}");
        return Ok(0);
    }
    let mut session = started.map_err(in_the_job)?;
    for note in &session.notes {
        super::say(&format!("note: {note}"));
    }
    let run_dir = session.run_dir.clone();
    if detached && session.rank() == 0 {
        if let Err(e) = detach::hand_over(&run_dir) {
            let _ = session.control.send(Control::Stop { checkpoint: true });
            let _ = session.join();
            return Err(e);
        }
    }
    let (shutdown_tx, shutdown_rx) = bounded::<()>(1);
    let signals = install_signal_handler(session.interrupt(), shutdown_tx)?;
    let job_end = session.job_end();
    let Some(events) = session.events.take() else {
        // A data-parallel worker other than rank 0: rank 0 shows and logs the run.
        let outcome = end_if_stalled(session.join(), job_end).map_err(in_the_job);
        drop(signals);
        return match outcome? {
            // Rank 0 says it; the other workers leave quietly with the same code.
            Outcome::Stopped(_) if STOP_CAUSE.load(Ordering::SeqCst) != 0 => {
                Err(Silent(STOP_CAUSE.load(Ordering::SeqCst)).into())
            }
            Outcome::Diverged(_) => Err(Silent(1).into()),
            _ => Ok(0),
        };
    };

    let mut output_error = None;
    let ui_result = if interactive {
        let feed = crate::tui::Feed::Live {
            events,
            control: session.control.clone(),
        };
        let opts = crate::tui::UiOptions {
            theme: args.theme.clone(),
            title: run_dir.display().to_string(),
        };
        crate::tui::run_with_shutdown(feed, opts, shutdown_rx).map_err(anyhow::Error::from)
    } else {
        output_error = print_plain(&events, &session.interrupt());
        Ok(UiExit::FeedEnded)
    };
    match &ui_result {
        // The UI failed (it restored the terminal): stop the trainer cleanly, keeping a
        // checkpoint. On a normal quit the UI has already told the trainer how to stop.
        Err(_) => {
            let _ = session.control.send(Control::Stop { checkpoint: true });
        }
        Ok(exit) => match super::ui_exit_code(*exit) {
            0 => {}
            code => stop_cause(code),
        },
    }
    let outcome = end_if_stalled(session.join(), job_end).map_err(in_the_job);
    drop(signals);
    ui_result?;
    let outcome = outcome?;

    let cause = STOP_CAUSE.load(Ordering::SeqCst);
    match outcome {
        Outcome::Finished(s) => {
            if !interactive && output_error.is_none() {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(
                    out,
                    "run directory: {}  (best test accuracy {:.2}% at epoch {}, {} updates)",
                    run_dir.display(),
                    s.best_test_acc * 100.0,
                    s.best_epoch,
                    s.updates
                );
            }
            Ok(0)
        }
        Outcome::Stopped(path) => {
            let resume = format!(
                "resume with: batchramp train --resume {}",
                run_dir.display()
            );
            let checkpoint = path.map_or_else(
                || "no checkpoint".to_string(),
                |p| format!("checkpoint {}", p.display()),
            );
            if cause == 0 {
                super::say(&format!("stopped; {checkpoint}; {resume}"));
                return Ok(0);
            }
            let why = match (cause, &output_error) {
                (1, Some(e)) => format!("cannot write to standard output: {e}"),
                (CLOSED_OUTPUT, _) => "standard output closed".into(),
                (129, Some(_)) => "the terminal went away".into(),
                _ => signal_name(cause),
            };
            super::say(&format!("interrupted: {checkpoint} ({why}); {resume}"));
            Ok(cause)
        }
        Outcome::Diverged(path) => Err(anyhow::anyhow!(
            "training diverged (non-finite loss){}",
            path.map(|p| format!("; last good state in {}", p.display()))
                .unwrap_or_default()
        )),
    }
}

/// A stalled job ends on every worker at once: once this worker has said why (rank 0 after its
/// log is closed, with the failed record last), the collective ends the job, the stopped worker
/// too, which cannot end by itself.
fn end_if_stalled(
    outcome: Result<Outcome, SessionError>,
    job: JobEnd,
) -> Result<Outcome, SessionError> {
    match outcome {
        Err(e @ SessionError::Stalled { .. }) => {
            let code = if e.is_bad_input() { 2 } else { 1 };
            super::say(&format!("error: {}", super::one_line(&in_the_job(e))));
            job.end(code)
        }
        other => other,
    }
}

/// What stopped the run, for its last line.
fn signal_name(code: i32) -> String {
    match code {
        129 => "SIGHUP: the terminal or session went away".into(),
        130 => "Ctrl-C".into(),
        143 => "SIGTERM".into(),
        c => format!("signal {}", c - 128),
    }
}

/// A session error as this process of its job reports it: prefixed with the worker's rank and
/// host in a data-parallel run, and left to rank 0 when every worker hits the same refusal.
fn in_the_job(e: SessionError) -> anyhow::Error {
    let Some(launch) = Launch::from_env().filter(|l| l.world > 1) else {
        return e.into();
    };
    let repeated = match &e {
        SessionError::Join(j) => !j.speaks(),
        SessionError::Handshake(HandshakeError::Disagree(_)) => launch.rank != 0,
        _ => false,
    };
    if repeated {
        return Silent(if e.is_bad_input() { 2 } else { 1 }).into();
    }
    anyhow::Error::new(e).context(format!("rank {} on {}", launch.rank, host_name()))
}

/// Test settings read here, at the binary's edge only, so the end-to-end tests can watch the
/// recovery paths: `BATCHRAMP_FAULT_OOM_ABOVE=N` (micro-batches of more than N images fail as
/// out of memory) and `BATCHRAMP_FAULT_MICRO_BATCH_DELAY_MS=N` (every micro-batch takes N ms
/// longer, so one update can outlast a stop's deadline).
fn faults_from_env() -> anyhow::Result<Faults> {
    fn number(name: &str, what: &str) -> anyhow::Result<Option<u64>> {
        match std::env::var(name) {
            Ok(v) => Ok(Some(v.trim().parse().map_err(|_| {
                BadInput(format!(
                    "{name}={v}: expected {what} (a test setting; unset it)"
                ))
            })?)),
            Err(_) => Ok(None),
        }
    }
    Ok(Faults {
        oom_above: number("BATCHRAMP_FAULT_OOM_ABOVE", "a number of images")?.map(|n| n as usize),
        micro_batch_delay: number(
            "BATCHRAMP_FAULT_MICRO_BATCH_DELAY_MS",
            "a number of milliseconds",
        )?
        .map(std::time::Duration::from_millis),
    })
}

/// Prints the plain per-epoch lines until the trainer finishes. When they cannot be written
/// (standard output closed, as under `| head`; the terminal gone) the run is stopped with a
/// checkpoint, as a signal would stop it, and the stream is still drained to its end so that the
/// trainer is never held up; returns the write error then.
fn print_plain(events: &Receiver<Record>, stop: &Interrupter) -> Option<std::io::Error> {
    let stdout = std::io::stdout();
    let mut lines = crate::report::lines::LineFormatter::new();
    let mut failed = None;
    for rec in events.iter() {
        if failed.is_some() {
            continue;
        }
        if let Some(line) = lines.format(&rec) {
            let mut out = stdout.lock();
            if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
                stop_cause(if e.kind() == std::io::ErrorKind::BrokenPipe {
                    CLOSED_OUTPUT
                } else if crate::tui::input::is_terminal_gone(&e) {
                    129
                } else {
                    1
                });
                stop.stop();
                failed = Some(e);
            }
        }
    }
    failed
}

/// SIGINT/SIGTERM/SIGHUP: the first asks the trainer to checkpoint and stop (and the UI, if up,
/// to leave once it has); a second SIGINT exits at once after giving the log writer its flush.
/// In the UI, Ctrl-C arrives as a key instead (see `tui::app`). A SIGHUP that was ignored when
/// the process started (`nohup`) stays ignored: whoever started us asked the run to outlive the
/// terminal.
fn install_signal_handler(
    stop: Interrupter,
    ui_shutdown: Sender<()>,
) -> anyhow::Result<signal_hook::iterator::Handle> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut wanted = vec![SIGINT, SIGTERM];
    if !super::inherited_ignored(SIGHUP) {
        wanted.push(SIGHUP);
    }
    let mut signals =
        signal_hook::iterator::Signals::new(&wanted).context("installing signal handlers")?;
    let handle = signals.handle();
    let seen = Arc::new(AtomicI32::new(0));
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if seen.fetch_add(1, Ordering::SeqCst) > 0 && sig == SIGINT {
                    // Second Ctrl-C: the writer flushes within a second; give it that long.
                    std::thread::sleep(Duration::from_millis(1100));
                    crate::tui::terminal::restore();
                    std::process::exit(130);
                }
                stop_cause(128 + sig);
                stop.stop();
                let _ = ui_shutdown.try_send(());
            }
        })
        .context("starting the signal thread")?;
    Ok(handle)
}
