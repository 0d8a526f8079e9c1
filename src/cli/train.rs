//! `batchramp train`: start the run ([`crate::train::session`]), show the live UI (or plain
//! lines without a terminal), and map signals to a checkpoint and a clean exit.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use crossbeam_channel::{bounded, Receiver, Sender};

use crate::error::{BadInput, Interrupted, Silent};
use crate::events::{Control, Record};
use crate::train::collective::{host_name, Launch};
use crate::train::session::{Interrupter, RunRequest, Session, SessionError};
use crate::train::{Faults, Outcome};

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
    /// Parent directory of run directories.
    #[arg(long, value_name = "DIR", default_value = "runs")]
    pub out: PathBuf,
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
}

/// Signal number → exit code, set by the signal thread before it asks the trainer to stop.
static SIGNAL_EXIT: AtomicI32 = AtomicI32::new(0);

/// Runs `batchramp train`; returns the process exit code.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let interactive =
        !args.no_tui && std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    let started = Session::start(RunRequest {
        config: args.config.clone(),
        resume: args.resume.clone(),
        overrides: args.set.clone(),
        data: args.data.clone(),
        device: args.device.clone(),
        out: args.out.clone(),
        interactive,
        faults: faults_from_env()?,
        ..RunRequest::new()
    });
    // Resuming a finished run is no failure: it says so and leaves the run as it is.
    if let Err(done @ SessionError::Finished { .. }) = &started {
        println!("{done}");
        return Ok(0);
    }
    let mut session = started.map_err(in_the_job)?;
    let run_dir = session.run_dir.clone();
    let (shutdown_tx, shutdown_rx) = bounded::<()>(1);
    let signals = install_signal_handler(session.interrupt(), shutdown_tx)?;
    let Some(events) = session.events.take() else {
        // A data-parallel worker other than rank 0: rank 0 shows and logs the run.
        let outcome = session.join().map_err(in_the_job);
        drop(signals);
        return match outcome? {
            // Rank 0 says it; the other workers leave quietly with the same code.
            Outcome::Stopped(_) if SIGNAL_EXIT.load(Ordering::SeqCst) != 0 => {
                Err(Silent(SIGNAL_EXIT.load(Ordering::SeqCst)).into())
            }
            Outcome::Diverged(_) => Err(Silent(1).into()),
            _ => Ok(0),
        };
    };

    let ui_result = if interactive {
        let feed = crate::tui::Feed::Live {
            events,
            control: session.control.clone(),
        };
        let opts = crate::tui::UiOptions {
            theme: args.theme.clone(),
            title: run_dir.display().to_string(),
        };
        crate::tui::run_with_shutdown(feed, opts, shutdown_rx)
            .map(Some)
            .map_err(anyhow::Error::from)
    } else {
        print_plain(&events);
        Ok(None)
    };
    if ui_result.is_err() {
        // The UI failed (it restored the terminal): stop the trainer cleanly, keeping a checkpoint.
        // On a normal quit the UI has already told the trainer how to stop.
        let _ = session.control.send(Control::Stop { checkpoint: true });
    }
    let outcome = session.join().map_err(in_the_job);
    drop(signals);
    ui_result?;
    let outcome = outcome?;

    let signal = SIGNAL_EXIT.load(Ordering::SeqCst);
    match outcome {
        Outcome::Finished(s) => {
            if !interactive {
                println!(
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
            if let Some(p) = &path {
                eprintln!(
                    "stopped; checkpoint {} (resume with --resume {})",
                    p.display(),
                    run_dir.display()
                );
            }
            if signal != 0 {
                return Err(Interrupted(signal).into());
            }
            Ok(0)
        }
        Outcome::Diverged(path) => Err(anyhow::anyhow!(
            "training diverged (non-finite loss){}",
            path.map(|p| format!("; last good state in {}", p.display()))
                .unwrap_or_default()
        )),
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
        SessionError::Disagree(_) => launch.rank != 0,
        _ => false,
    };
    if repeated {
        return Silent(if e.is_bad_input() { 2 } else { 1 }).into();
    }
    anyhow::Error::new(e).context(format!("rank {} on {}", launch.rank, host_name()))
}

/// `BATCHRAMP_FAULT_OOM_ABOVE=N`: micro-batches of more than N images fail as out of memory, so
/// the end-to-end tests can watch the recovery. Read here, at the binary's edge only.
fn faults_from_env() -> anyhow::Result<Faults> {
    let oom_above = match std::env::var("BATCHRAMP_FAULT_OOM_ABOVE") {
        Ok(v) => Some(v.trim().parse().map_err(|_| {
            BadInput(format!(
                "BATCHRAMP_FAULT_OOM_ABOVE={v}: expected a number of images (a test setting; unset it)"
            ))
        })?),
        Err(_) => None,
    };
    Ok(Faults { oom_above })
}

/// Prints the plain per-epoch lines until the trainer finishes.
fn print_plain(events: &Receiver<Record>) {
    let stdout = std::io::stdout();
    let mut lines = crate::report::lines::LineFormatter::new();
    for rec in events.iter() {
        if let Some(line) = lines.format(&rec) {
            let mut out = stdout.lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

/// SIGINT/SIGTERM/SIGHUP: the first asks the trainer to checkpoint and stop (and the UI, if up,
/// to leave once it has); a second SIGINT exits at once after giving the log writer its flush.
/// In the UI, Ctrl-C arrives as a key instead and the UI handles it the same way.
fn install_signal_handler(
    stop: Interrupter,
    ui_shutdown: Sender<()>,
) -> anyhow::Result<signal_hook::iterator::Handle> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .context("installing signal handlers")?;
    let handle = signals.handle();
    let seen = Arc::new(AtomicI32::new(0));
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                let code = 128 + sig;
                if seen.fetch_add(1, Ordering::SeqCst) > 0 && sig == SIGINT {
                    // Second Ctrl-C: the writer flushes within a second; give it that long.
                    std::thread::sleep(Duration::from_millis(1100));
                    std::process::exit(130);
                }
                SIGNAL_EXIT.store(code, Ordering::SeqCst);
                stop.stop();
                let _ = ui_shutdown.try_send(());
            }
        })
        .context("starting the signal thread")?;
    Ok(handle)
}
