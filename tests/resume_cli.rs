//! End to end: `batchramp train --resume` of runs that are done, as a user types it.

use std::path::{Path, PathBuf};

mod common;
use common::{bin, run_dirs};

/// Two epochs of 256 synthetic images, checkpoints at every epoch.
const TINY: &[&str] = &[
    "--set",
    "data.synthetic_train=256",
    "--set",
    "data.synthetic_test=64",
    "--set",
    "schedule.epochs=2",
    "--set",
    "schedule.milestones=[1]",
    "--set",
    "schedule.batch=32",
    "--set",
    "model.ghost_batch=32",
    "--set",
    "hardware.max_micro_batch=64",
    "--set",
    "hardware.threads=1",
    "--set",
    "checkpoint.every_epochs=1",
];

fn only_run(out: &Path) -> PathBuf {
    let mut dirs = run_dirs(out);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().unwrap()
}

#[test]
fn resuming_a_finished_run_says_so_exits_zero_and_changes_nothing() {
    let out = tempfile::tempdir().unwrap();
    let done = bin()
        .args(["train", "--data", "synthetic", "--no-tui", "--out"])
        .arg(out.path())
        .args(TINY)
        .output()
        .unwrap();
    assert!(done.status.success(), "{done:?}");
    let run = only_run(out.path());
    let files = |dir: &Path| {
        let mut names: Vec<(String, Vec<u8>)> = walk(dir);
        names.sort();
        names
    };
    let before = files(&run);
    for target in [
        run.clone(),
        run.join("checkpoints/0001-000000008.safetensors"),
    ] {
        let again = bin()
            .args(["train", "--no-tui", "--resume"])
            .arg(&target)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&again.stdout);
        assert_eq!(again.status.code(), Some(0), "{again:?}");
        assert!(
            stdout.contains("the run finished already (2 epochs"),
            "{stdout}"
        );
        assert_eq!(files(&run), before, "nothing in the run directory changed");
    }
}

/// Every file under `dir` with its bytes.
fn walk(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    out
}
