//! End to end: the `batchramp train` binary on generated data, headless.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use batchramp::events::{Event, Record};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_batchramp"))
}

/// Small, quick settings shared by the tests: 2 epochs of 512 synthetic images.
const QUICK: &[&str] = &[
    "--set",
    "data.synthetic_train=512",
    "--set",
    "data.synthetic_test=256",
    "--set",
    "schedule.epochs=3",
    "--set",
    "schedule.milestones=[1,2]",
    "--set",
    "schedule.batch=32",
    "--set",
    "model.ghost_batch=32",
    "--set",
    "hardware.max_micro_batch=64",
    "--set",
    "hardware.threads=2",
];

fn train(out: &Path, extra: &[&str]) -> Output {
    bin()
        .args(["train", "--data", "synthetic", "--no-tui", "--out"])
        .arg(out)
        .args(QUICK)
        .args(extra)
        .output()
        .expect("running batchramp")
}

fn run_dir(out: &Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.pop().expect("a run directory")
}

fn events(dir: &Path) -> Vec<Record> {
    std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Event values without wall-clock fields, for comparing runs.
fn values(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Step(s) => Some(format!(
                "step {} {} {:.9} {:.9} {}",
                s.update, s.epoch, s.loss, s.acc, s.batch
            )),
            Event::Epoch(e) => Some(format!(
                "epoch {} {:.9} {:.9} {:.9} {:.9} {}",
                e.epoch, e.train_loss, e.train_acc, e.test_loss, e.test_acc, e.updates
            )),
            Event::Stage(s) => Some(format!("stage {} {} {} {}", s.index, s.epoch, s.batch, s.lr)),
            _ => None,
        })
        .collect()
}

#[test]
fn headless_run_learns_and_writes_the_run_directory() {
    let out = tempfile::tempdir().unwrap();
    let o = train(out.path(), &[]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&o.stderr));
    let dir = run_dir(out.path());
    for f in ["config.toml", "events.jsonl", "summary.json"] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    // One plain line per epoch at least.
    assert!(stdout.lines().filter(|l| l.contains("epoch")).count() >= 3, "{stdout}");
    let recs = events(&dir);
    assert!(matches!(recs[0].event, Event::RunStarted(_)));
    let stages: Vec<usize> = recs
        .iter()
        .filter_map(|r| match &r.event {
            Event::Stage(s) => Some(s.batch),
            _ => None,
        })
        .collect();
    // ×5 at each milestone; 800 would exceed N = 512, so the last milestone decays ε instead.
    assert_eq!(stages, vec![32, 160, 160]);
    let epochs: Vec<_> = recs
        .iter()
        .filter_map(|r| match &r.event {
            Event::Epoch(e) => Some(e.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(epochs.len(), 3);
    assert!(
        epochs[2].train_loss < epochs[0].train_loss,
        "loss must fall: {:?}",
        epochs.iter().map(|e| e.train_loss).collect::<Vec<_>>()
    );
    assert!(epochs[2].test_acc > 0.2, "above chance: {}", epochs[2].test_acc);
    assert!(matches!(recs.last().unwrap().event, Event::Finished(_)));
    // Updates: ⌈512/32⌉ + ⌈512/160⌉ + ⌈512/160⌉ = 16 + 4 + 4.
    assert_eq!(epochs[2].updates, 24);
}

#[test]
fn same_seed_gives_identical_logs() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    assert!(train(a.path(), &[]).status.success());
    assert!(train(b.path(), &[]).status.success());
    let (ea, eb) = (events(&run_dir(a.path())), events(&run_dir(b.path())));
    assert_eq!(values(&ea), values(&eb));
}

#[test]
fn bad_config_is_one_line_and_exit_2() {
    let out = tempfile::tempdir().unwrap();
    let o = train(out.path(), &["--set", "schedule.epochz=3"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("epochz"), "{err}");

    let cfg = out.path().join("bad.toml");
    std::fs::write(&cfg, "[optim]\nlr = 0.1\nmomentum = 2\n").unwrap();
    let o = bin()
        .args(["train", "--data", "synthetic", "--no-tui", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("optim.momentum"));

    let o = bin()
        .args(["train", "--no-tui", "--data"])
        .arg(out.path().join("nowhere"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nowhere"));
}
