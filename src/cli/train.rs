//! `batchramp train`: resolve config, data and device, prepare the run directory, start the
//! trainer thread, the log writer and the resource sampler, then show the live UI (or plain
//! lines without a terminal), and map signals to a checkpoint and a clean exit.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use crossbeam_channel::{bounded, unbounded, Receiver, Sender};

use crate::config::RunConfig;
use crate::data::{self, SyntheticSpec};
use crate::error::{BadInput, Interrupted};
use crate::events::{Control, Event, Record};
use crate::runlog::LogWriter;
use crate::train::{checkpoint, EventSink, Outcome, TrainSetup, Trainer};

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
    let resume = match &args.resume {
        Some(p) => Some(checkpoint::load(p)?),
        None => None,
    };
    let cfg = match (&resume, &args.config) {
        // A resumed run keeps its own config; --set may still change free keys (hardware.*).
        (Some(ck), None) => {
            let text =
                toml::to_string(&ck.meta.config).context("serialising the checkpoint's config")?;
            RunConfig::from_toml_str(&text, &ck.path.display().to_string(), &args.set)?
        }
        _ => RunConfig::load(args.config.as_deref(), &args.set)?,
    };
    crate::device::set_cpu_threads(cfg.hardware.threads);

    // A resumed run reads the data it was started on unless told otherwise.
    let data_arg = args.data.clone().or_else(|| {
        resume
            .as_ref()
            .map(|ck| ck.meta.data.clone())
            .filter(|d| !d.is_empty())
    });
    let source = data::resolve_source(data_arg.as_deref())?;
    let synth = SyntheticSpec {
        train: cfg.data.synthetic_train,
        test: cfg.data.synthetic_test,
        seed: cfg.seed,
    };
    let mut cifar = data::load(&source, &synth)?;
    if cfg.data.train_subset > 0 {
        cifar.train = cifar.train.subset(cfg.data.train_subset);
    }
    if cfg.data.test_subset > 0 {
        cifar.test = cifar.test.subset(cfg.data.test_subset);
    }
    let (device, device_name) = crate::device::select(&args.device, cfg.hardware.threads)?;

    let (run_dir, log) = match &resume {
        Some(ck) => {
            let run_dir = ck
                .path
                .parent()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
                .ok_or_else(|| {
                    BadInput(format!(
                        "{}: not inside a run directory's checkpoints/",
                        ck.path.display()
                    ))
                })?;
            cut_log(&run_dir, ck.meta.log_lines)?;
            (
                run_dir.clone(),
                LogWriter::append(&run_dir).map_err(|e| BadInput(e.to_string()))?,
            )
        }
        None => {
            let run_dir = new_run_dir(&args.out, &cfg.name)?;
            std::fs::write(run_dir.join("config.toml"), cfg.to_toml())
                .with_context(|| format!("writing {}", run_dir.join("config.toml").display()))?;
            let log = LogWriter::create(&run_dir).map_err(|e| BadInput(e.to_string()))?;
            (run_dir, log)
        }
    };

    let interactive =
        !args.no_tui && std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    let mut trainer = Trainer::new(TrainSetup {
        config: cfg.clone(),
        data: cifar,
        data_label: match &source {
            // Absolute, so a resume from another directory finds the same files.
            data::DataSource::Dir(p) | data::DataSource::Archive(p) => std::fs::canonicalize(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string(),
            data::DataSource::Synthetic => "synthetic".into(),
        },
        device: device.clone(),
        device_name,
        run_dir: run_dir.clone(),
        pause_on_non_finite: interactive,
    })?;
    let (t0, lines) = match resume {
        Some(ck) => {
            let t = ck.meta.t;
            let lines = ck.meta.log_lines;
            trainer.restore(ck)?;
            (t, lines)
        }
        None => (0.0, 0),
    };

    let (ui_tx, ui_rx) = bounded::<Record>(4096);
    let (control_tx, control_rx) = unbounded::<Control>();
    let sink = EventSink::new(t0, Some(log.sender()), Some(ui_tx)).with_emitted(lines);

    let (shutdown_tx, shutdown_rx) = bounded::<()>(1);
    let signals = install_signal_handler(control_tx.clone(), shutdown_tx)?;

    // The header must be the log's first line, before the sampler's first sample.
    trainer.announce(&sink);
    let (stop_sampler, sampler_stop_rx) = bounded::<()>(1);
    let sampler_sink = sink.clone();
    let sampler =
        crate::device::spawn_sampler(device, Duration::from_secs(1), sampler_stop_rx, move |r| {
            sampler_sink.emit(Event::Resources(r))
        });

    let trainer_thread = std::thread::Builder::new()
        .name("trainer".into())
        .spawn(move || {
            let result = trainer.run(&sink, &control_rx);
            if let Err(e) = &result {
                sink.emit(Event::Failed(crate::events::MessageEvent {
                    message: e.to_string(),
                }));
            }
            // Dropping the sink (and stopping the sampler) ends the UI's feed.
            drop(sink);
            let _ = stop_sampler.send(());
            result
        })
        .context("starting the training thread")?;

    let ui_result = if interactive {
        let feed = crate::tui::Feed::Live {
            events: ui_rx,
            control: control_tx.clone(),
        };
        let opts = crate::tui::UiOptions {
            theme: args.theme.clone(),
            title: run_dir.display().to_string(),
        };
        crate::tui::run_with_shutdown(feed, opts, shutdown_rx)
            .map(Some)
            .map_err(anyhow::Error::from)
    } else {
        print_plain(&ui_rx);
        Ok(None)
    };
    if ui_result.is_err() {
        // The UI failed (it restored the terminal): stop the trainer cleanly, keeping a checkpoint.
        // On a normal quit the UI has already told the trainer how to stop.
        let _ = control_tx.send(Control::Stop { checkpoint: true });
    }
    drop(control_tx);
    let outcome = trainer_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the training thread panicked"))?;
    let _ = sampler.join();
    drop(signals);
    let log_result = log.close();
    ui_result?;
    let outcome = outcome?;
    log_result.map_err(|e| anyhow::anyhow!("{e}"))?;

    let signal = SIGNAL_EXIT.load(Ordering::SeqCst);
    match outcome {
        Outcome::Finished(s) => {
            if !interactive {
                println!(
                    "run directory: {}  (best test accuracy {:.2}% at epoch {}, {} updates)",
                    run_dir.display(),
                    s.best_test_acc * 100.0,
                    s.best_epoch + 1,
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

/// `<out>/<YYYYmmdd-HHMMSS>-<name>`, with a numeric suffix if two runs start in the same second.
fn new_run_dir(out: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for i in 0..100 {
        let dir = if i == 0 {
            out.join(format!("{stamp}-{safe}"))
        } else {
            out.join(format!("{stamp}-{safe}-{i}"))
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    anyhow::bail!(
        "could not create a fresh run directory under {}",
        out.display()
    )
}

/// Keeps the first `lines` lines of the run's log: events after a checkpoint describe work the
/// resumed run will redo.
fn cut_log(run_dir: &Path, lines: u64) -> anyhow::Result<()> {
    let path = run_dir.join(crate::runlog::EVENTS_FILE);
    let bytes = std::fs::read(&path).map_err(|e| {
        BadInput(format!(
            "{}: cannot read the run's log ({e}); is this the run the checkpoint came from?",
            path.display()
        ))
    })?;
    let mut seen = 0u64;
    let mut cut = None;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\n' {
            seen += 1;
            if seen == lines {
                cut = Some(i + 1);
                break;
            }
        }
    }
    let cut = cut.ok_or_else(|| {
        BadInput(format!(
            "{}: has {seen} lines but the checkpoint was taken after line {lines}; the log does not belong to this checkpoint",
            path.display()
        ))
    })?;
    if cut < bytes.len() {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        f.set_len(cut as u64)
            .with_context(|| format!("truncating {}", path.display()))?;
        f.sync_all()?;
    }
    Ok(())
}

/// SIGINT/SIGTERM/SIGHUP: the first asks the trainer to checkpoint and stop (and the UI, if up,
/// to leave once it has); a second SIGINT exits at once after giving the log writer its flush.
/// In the UI, Ctrl-C arrives as a key instead and the UI handles it the same way.
fn install_signal_handler(
    control: Sender<Control>,
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
                let _ = control.send(Control::Stop { checkpoint: true });
                let _ = ui_shutdown.try_send(());
            }
        })
        .context("starting the signal thread")?;
    Ok(handle)
}
