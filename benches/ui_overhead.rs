//! What the live UI adds to training time, measured as a wall-clock ratio within one run.
//!
//! Timing the same run with and without the UI in two processes cannot resolve 1% on a shared
//! machine: identical runs differ by up to 30% back to back (docs/performance.md). Here one
//! training run (the real trainer, event sink, run log and resource sampler) feeds the real UI loop,
//! which draws into a pseudo-terminal at the lowest priority exactly as `batchramp train` does
//! (a thread here reads the other end, as sshd would). The UI is switched on and off every
//! `--window` updates: off, its events are held back, so it has nothing to draw (it still wakes
//! for its 10 Hz ticker); on, it first gets the held events, then every event as it comes. Each
//! window of the UI drawing is compared with the mean of the windows on either side of it, so
//! drift slower than a few seconds cancels.
//!
//! ```text
//! cargo bench --bench ui_overhead                       # ResNet-8, 160x48, ~4 minutes
//! cargo bench --bench ui_overhead -- --size 80x24 --epochs 20 --window 12
//! cargo bench --bench ui_overhead -- --set model.arch=resnet20
//! ```

use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use batchramp::events::{Event, Record};
use batchramp::train::session::{RunRequest, Session};
use batchramp::train::Outcome;
use batchramp::tui::{ColorMode, Feed, Theme, UiExit};
use crossbeam_channel::{bounded, unbounded, Receiver, Sender};

#[path = "../tests/common/mod.rs"]
mod common;

/// Command-line options (after `--`).
struct Options {
    size: (u16, u16),
    epochs: usize,
    window: u64,
    sets: Vec<String>,
}

fn parse_options() -> Options {
    let mut o = Options {
        size: (160, 48),
        epochs: 30,
        window: 16,
        sets: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| panic!("{name} needs a value"))
        };
        match a.as_str() {
            "--size" => {
                let v = value("--size");
                let (c, r) = v.split_once('x').expect("--size COLSxROWS, e.g. 160x48");
                o.size = (
                    c.parse().expect("--size columns"),
                    r.parse().expect("--size rows"),
                );
            }
            "--epochs" => o.epochs = value("--epochs").parse().expect("--epochs N"),
            "--window" => o.window = value("--window").parse().expect("--window N"),
            "--set" => o.sets.push(value("--set")),
            // `cargo bench` passes --bench to every bench binary.
            "--bench" => {}
            other => panic!("unknown option {other}: use --size, --epochs, --window, --set"),
        }
    }
    assert!(o.window >= 4, "--window must be at least 4 updates");
    o
}

/// A pseudo-terminal of `size` in raw mode: (the UI's side, the reader's side).
fn open_pty((cols, rows): (u16, u16)) -> (File, File) {
    let (master, slave) = common::open_pty(cols, rows);
    // SAFETY: `slave` is an open terminal descriptor; `t` is fully written by tcgetattr first.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(slave.as_raw_fd(), &mut t), 0);
        libc::cfmakeraw(&mut t);
        assert_eq!(libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &t), 0);
    }
    (File::from(slave), File::from(master))
}

/// Reads and discards everything the UI writes; returns the byte count when the UI side closes.
fn drain(mut master: File) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        // Reading the master fails with EIO once the slave side is closed.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        total
    })
}

/// One finished update as the forwarder saw it.
#[derive(Clone, Copy)]
struct StepSeen {
    update: u64,
    epoch: usize,
    t: f64,
}

/// Passes the trainer's events to the UI in "on" windows and holds them back in "off" windows.
/// After update `u`, the UI is on for the next update when `(u / window)` is odd.
fn forward(from: Receiver<Record>, to: Sender<Record>, window: u64) -> Vec<StepSeen> {
    let mut held = Vec::new();
    let mut steps = Vec::new();
    let mut on = false;
    for rec in from {
        if let Event::Step(s) = &rec.event {
            steps.push(StepSeen {
                update: s.update,
                epoch: s.epoch,
                t: rec.t,
            });
            on = (s.update / window) % 2 == 1;
        }
        held.push(rec);
        if on {
            for r in held.drain(..) {
                // The UI only leaves after the feed ends, so this cannot fail before then.
                let _ = to.send(r);
            }
        }
    }
    for r in held {
        let _ = to.send(r);
    }
    steps
}

/// CPU seconds of this process's threads named `tui*`, and of the whole process.
fn ui_and_process_cpu() -> (f64, f64) {
    // SAFETY: sysconf has no preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu_of = |stat: &str| {
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap_or(0) + 2..]
            .split_whitespace()
            .collect();
        let field = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
        (field(11).unwrap_or(0.0) + field(12).unwrap_or(0.0)) / tick
    };
    let total = std::fs::read_to_string("/proc/self/stat")
        .map(|s| cpu_of(&s))
        .unwrap_or(0.0);
    let mut ui = 0.0;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if name.trim().starts_with("tui") {
                ui += std::fs::read_to_string(task.path().join("stat"))
                    .map(|s| cpu_of(&s))
                    .unwrap_or(0.0);
            }
        }
    }
    (ui, total)
}

/// Mean update time of each window (updates `k·window+1 ..= (k+1)·window`), leaving out the first
/// update after a switch and every update that waited for an evaluation (crossed an epoch).
fn window_means(steps: &[StepSeen], window: u64) -> Vec<Option<f64>> {
    let windows = steps.last().map_or(0, |s| s.update / window + 1) as usize;
    let mut sums = vec![(0.0, 0usize); windows];
    for pair in steps.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if b.update != a.update + 1 || b.epoch != a.epoch || a.update % window == 0 {
            continue;
        }
        let w = (a.update / window) as usize;
        sums[w].0 += b.t - a.t;
        sums[w].1 += 1;
    }
    sums.into_iter()
        .map(|(s, n)| (n * 2 >= window as usize).then(|| s / n as f64))
        .collect()
}

/// Removes the run's scratch directory however the benchmark ends.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() -> anyhow::Result<()> {
    let opts = parse_options();
    let mut sets = vec![
        "data.synthetic_train=8000".to_string(),
        "data.synthetic_test=1000".into(),
        format!("schedule.epochs={}", opts.epochs),
        "schedule.batch=64".into(),
        "model.ghost_batch=64".into(),
        "schedule.milestones=[]".into(),
        "checkpoint.every_epochs=0".into(),
        "checkpoint.at_stage_change=false".into(),
        "name=ui-overhead".into(),
    ];
    sets.extend(opts.sets.iter().cloned());
    let out: PathBuf =
        std::env::temp_dir().join(format!("batchramp-ui-overhead-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(out.clone());
    // The same start as `batchramp train`: trainer, event sink, run log and resource sampler.
    let mut session = Session::start(RunRequest {
        overrides: sets,
        data: Some("synthetic".into()),
        device: "cpu".into(),
        out,
        ..RunRequest::new()
    })?;
    let cfg = session.config.clone();
    println!(
        "UI overhead within one run: {} batch {} on cpu, {} epochs, UI {}x{} switched every {} updates",
        cfg.model.arch, cfg.schedule.batch, opts.epochs, opts.size.0, opts.size.1, opts.window
    );

    let trainer_rx = session
        .events
        .take()
        .expect("the session streams its events");
    let (ui_tx, ui_rx) = unbounded::<Record>();
    let (shutdown_tx, shutdown_rx) = bounded::<()>(1);
    let (ui_side, reader_side) = open_pty(opts.size);
    let bytes = drain(reader_side);
    let window = opts.window;
    let forwarder = std::thread::spawn(move || forward(trainer_rx, ui_tx, window));
    let theme = Theme::builtin("dark", ColorMode::TrueColor).expect("built-in dark theme");
    let size = opts.size;
    let control = session.control.clone();
    let ui = std::thread::spawn(move || {
        let feed = Feed::Live {
            events: ui_rx,
            control,
        };
        batchramp::tui::run_on_writer(
            feed,
            theme,
            "ui-overhead".into(),
            ui_side,
            size,
            shutdown_rx,
        )
    });

    let outcome = session.join()?;
    let steps = forwarder.join().expect("forwarder thread");
    let (ui_cpu, process_cpu) = ui_and_process_cpu();
    let _ = shutdown_tx.send(());
    let exit = ui.join().expect("UI thread")?;
    let written = bytes.join().expect("pty reader");
    anyhow::ensure!(
        matches!(outcome, Outcome::Finished(_)),
        "the run did not finish"
    );
    anyhow::ensure!(exit == UiExit::FeedEnded, "the UI left early: {exit:?}");

    let means = window_means(&steps, window);
    // Window 0 (off) and 1 (on) are the warm-up: first allocations, the UI's first full frame.
    let mut ratios = Vec::new();
    for w in (3..means.len().saturating_sub(1)).step_by(2) {
        if let (Some(before), Some(on), Some(after)) = (means[w - 1], means[w], means[w + 1]) {
            ratios.push(on / ((before + after) / 2.0) - 1.0);
        }
    }
    anyhow::ensure!(ratios.len() >= 5, "too few windows: run more --epochs");
    let n = ratios.len() as f64;
    let mean = ratios.iter().sum::<f64>() / n;
    let sd = (ratios.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let half = 1.96 * sd / n.sqrt();
    let mut sorted = ratios.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let train_seconds = steps.last().map_or(0.0, |s| s.t);
    println!(
        "{} updates in {train_seconds:.0} s; {} on-windows compared with their neighbours",
        steps.len(),
        ratios.len()
    );
    println!(
        "UI on vs off, update time: mean {:+.2}% (95% CI {:+.2}% .. {:+.2}%), median {:+.2}%",
        mean * 100.0,
        (mean - half) * 100.0,
        (mean + half) * 100.0,
        median * 100.0
    );
    println!(
        "UI threads: {ui_cpu:.2} of {process_cpu:.2} CPU s ({:.2}% of the process), {:.1} kB written to the terminal",
        100.0 * ui_cpu / process_cpu.max(1e-9),
        written as f64 / 1e3
    );
    Ok(())
}
