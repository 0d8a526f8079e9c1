//! Builds `screenshots/*.svg` from the fixed synthetic run (or from a run log).
//!
//! ```text
//! cargo run --example screenshots                      # synthetic run → screenshots/
//! cargo run --example screenshots -- runs/X/events.jsonl [OUT_DIR [OTHER_LOG...]] [--at-epoch N]
//! ```
//! With other logs, the compare pictures overlay them on the first (the synthetic pair otherwise).
//! The pictures of a run in progress show the first log cut after epoch N (`--at-epoch`), or
//! two fifths of the way through it.
//! The pictures are deterministic: the same events always give the same files.

use std::path::PathBuf;

use batchramp::events::Record;
use batchramp::series::XAxis;
use batchramp::tui::fixture;
use batchramp::tui::view::{LayoutChoice, Panel, ViewOptions};
use batchramp::tui::{render_compare_screenshot, render_screenshot, ColorMode, Shot, Theme};

/// The run's name from its header (the log's first record).
fn run_name(records: &[Record]) -> String {
    match records.first().map(|r| &r.event) {
        Some(batchramp::events::Event::RunStarted(h)) => h.name.clone(),
        _ => "run".into(),
    }
}

/// The log's records, with the header's data source shown by its file name alone: a picture
/// should not carry the directories of the machine it was made on.
fn read_log(path: &str) -> Result<Vec<Record>, String> {
    let mut records = batchramp::runlog::read_log(path.as_ref())
        .map(|log| log.records)
        .map_err(|e| e.to_string())?;
    for r in &mut records {
        if let batchramp::events::Event::RunStarted(h) = &mut r.event {
            if let Some(name) = std::path::Path::new(&h.data).file_name() {
                h.data = name.to_string_lossy().into_owned();
            }
        }
    }
    Ok(records)
}

/// The scalars dashboard: `tensorboard.svg` from the PyTorch SummaryWriter fixture
/// (tests/fixtures/tensorboard/pytorch), and `tensorboard-runs.svg` from `runs` written as a
/// TensorBoard logdir by batchramp's own export and read back, one run per directory. The
/// machine panel shows the fixtures' made-up two-GPU sample, the same on every machine.
fn board_shots(out: &std::path::Path, runs: &[(String, Vec<Record>)]) -> Result<(), String> {
    use batchramp::tui::board::BoardView;
    let dark = theme("dark");
    let fixture_dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tensorboard/pytorch");
    let board = fixture::logdir_board(&fixture_dir).map_err(|e| e.to_string())?;
    let shot = batchramp::tui::render_board_screenshot(
        &board,
        &BoardView::default(),
        "watch: runs/pytorch",
        160,
        48,
        &dark,
    );
    let path = out.join("tensorboard.svg");
    std::fs::write(&path, shot).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("{}", path.display());
    let logdir = tempfile_dir()?;
    for (name, recs) in runs {
        batchramp::report::export::write_tensorboard(recs, &logdir.join(name), 1.7e9)
            .map_err(|e| e.to_string())?;
    }
    let board = fixture::logdir_board(&logdir).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&logdir);
    let mut view = BoardView::default();
    view.filter = "epoch acc".into();
    let shot =
        batchramp::tui::render_board_screenshot(&board, &view, "compare: tb/", 160, 48, &dark);
    let path = out.join("tensorboard-runs.svg");
    std::fs::write(&path, shot).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("{}", path.display());
    Ok(())
}

/// A fresh directory under the system's temporary one.
fn tempfile_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("batchramp-screenshots-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Name, events, width, height, theme, view changes.
type Case = (&'static str, Vec<Record>, u16, u16, Theme, Shot);

fn theme(name: &str) -> Theme {
    Theme::builtin(name, ColorMode::TrueColor).expect("built-in themes always load")
}

fn main() -> Result<(), String> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let at_epoch = match args.iter().position(|a| a == "--at-epoch") {
        Some(i) => {
            let n = args
                .get(i + 1)
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|&n| n > 0)
                .ok_or("--at-epoch takes an epoch number ≥ 1")?;
            args.drain(i..i + 2);
            Some(n)
        }
        None => None,
    };
    let (records, out, others) = match args.as_slice() {
        [] => (
            fixture::demo_records(),
            PathBuf::from("screenshots"),
            &[][..],
        ),
        [log] => (read_log(log)?, PathBuf::from("screenshots"), &[][..]),
        [log, out, others @ ..] => (read_log(log)?, PathBuf::from(out), others),
    };
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let updates = records
        .iter()
        .filter_map(|r| match &r.event {
            batchramp::events::Event::Step(s) => Some(s.update),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let epochs = records
        .iter()
        .filter(|r| matches!(r.event, batchramp::events::Event::Epoch(_)))
        .count();
    let mid = match at_epoch {
        Some(n) => fixture::cut_after_epoch(&records, n),
        None if updates > 0 => fixture::cut_at_update(&records, updates * 2 / 5),
        // A log without steps (the study's copies): two fifths of its epochs.
        None => fixture::cut_after_epoch(&records, (epochs * 2 / 5).max(1)),
    };
    let dark = theme("dark");
    let shots: Vec<Case> = vec![
        (
            "full-running",
            mid.clone(),
            160,
            48,
            dark.clone(),
            Shot::default(),
        ),
        (
            "full-paused",
            fixture::paused(mid.clone()),
            160,
            48,
            dark.clone(),
            Shot::default(),
        ),
        (
            "replay",
            records.clone(),
            160,
            48,
            dark.clone(),
            Shot {
                replay: true,
                ..Shot::default()
            },
        ),
        (
            "full-finished",
            records.clone(),
            160,
            48,
            dark.clone(),
            Shot::default(),
        ),
        (
            "full-epochs-log",
            records.clone(),
            160,
            48,
            dark.clone(),
            Shot {
                view: ViewOptions {
                    x: XAxis::Epochs,
                    log_loss: true,
                    ..ViewOptions::default()
                },
                ..Shot::default()
            },
        ),
        (
            "compact-running",
            mid.clone(),
            80,
            24,
            dark.clone(),
            Shot::default(),
        ),
        (
            "compact-noise",
            records.clone(),
            80,
            24,
            dark.clone(),
            Shot {
                view: ViewOptions {
                    panel: Panel::Noise,
                    ..ViewOptions::default()
                },
                ..Shot::default()
            },
        ),
        (
            "help",
            mid.clone(),
            100,
            30,
            dark.clone(),
            Shot {
                help: true,
                ..Shot::default()
            },
        ),
        (
            "quit",
            mid.clone(),
            100,
            30,
            dark.clone(),
            Shot {
                confirm_quit: true,
                ..Shot::default()
            },
        ),
        (
            "light",
            mid.clone(),
            140,
            40,
            theme("light"),
            Shot::default(),
        ),
        (
            "mono",
            mid.clone(),
            100,
            30,
            Theme::builtin("mono", ColorMode::Ansi16).expect("built-in"),
            Shot {
                view: ViewOptions {
                    layout: LayoutChoice::Full,
                    ..ViewOptions::default()
                },
                ..Shot::default()
            },
        ),
    ];
    for (name, recs, w, h, theme, shot) in shots {
        let path = out.join(format!("{name}.svg"));
        std::fs::write(&path, render_screenshot(&recs, w, h, &theme, &shot))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("{}", path.display());
    }
    let runs = if args.is_empty() {
        vec![
            ("increase-batch".to_string(), fixture::demo_records()),
            ("decay-lr".to_string(), fixture::decay_lr_records()),
        ]
    } else {
        let mut runs = vec![(run_name(&records), records.clone())];
        for log in others {
            let recs = read_log(log)?;
            runs.push((run_name(&recs), recs));
        }
        runs
    };
    board_shots(&out, &runs)?;
    if runs.len() > 1 {
        for (name, x) in [
            ("compare-updates", XAxis::Updates),
            ("compare-epochs", XAxis::Epochs),
        ] {
            let shot = Shot {
                view: ViewOptions {
                    x,
                    ..ViewOptions::default()
                },
                ..Shot::default()
            };
            let path = out.join(format!("{name}.svg"));
            std::fs::write(
                &path,
                render_compare_screenshot(runs.clone(), 160, 40, &dark, &shot),
            )
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            println!("{}", path.display());
        }
    }
    Ok(())
}
