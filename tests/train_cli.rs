//! End to end: the `batchramp train` binary on generated data, headless.

use std::path::{Path, PathBuf};
use std::process::Output;

use batchramp::events::Event;

mod common;
use common::{bin, events, run_dir, values};

/// Floats to nine places: what two runs of one seed must share.
fn nine(v: f64) -> String {
    format!("{v:.9}")
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

#[test]
fn headless_run_learns_and_writes_the_run_directory() {
    let out = tempfile::tempdir().unwrap();
    let o = train(out.path(), &[]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dir = run_dir(out.path());
    for f in ["config.toml", "events.jsonl", "summary.json"] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    // One plain line per epoch at least.
    assert!(
        stdout.lines().filter(|l| l.contains("epoch")).count() >= 3,
        "{stdout}"
    );
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
    assert!(
        epochs[2].test_acc > 0.2,
        "above chance: {}",
        epochs[2].test_acc
    );
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
    assert_eq!(values(&ea, nine), values(&eb, nine));
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

/// Waits until the run under `out` has logged a step, up to a minute.
fn wait_for_step(out: &Path) -> PathBuf {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        if let Ok(mut entries) = std::fs::read_dir(out) {
            if let Some(Ok(e)) = entries.next() {
                let log = e.path().join("events.jsonl");
                if std::fs::read_to_string(&log).is_ok_and(|t| t.contains("\"kind\":\"step\"")) {
                    return e.path();
                }
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no step logged in time"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn sigterm_checkpoints_flushes_and_exits_143_then_resume_finishes() {
    let out = tempfile::tempdir().unwrap();
    let mut child = bin()
        .args(["train", "--data", "synthetic", "--no-tui", "--out"])
        .arg(out.path())
        .args(QUICK)
        .args([
            "--set",
            "schedule.epochs=6",
            "--set",
            "schedule.milestones=[2,4]",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let dir = wait_for_step(out.path());
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    let recs = events(&dir);
    let last = &recs.last().unwrap().event;
    let Event::Checkpoint(ck) = last else {
        panic!("last event should be the interrupt checkpoint, got {last:?}")
    };
    assert_eq!(ck.reason, "interrupt");
    assert!(Path::new(&ck.path).exists());

    // No --data: the checkpoint remembers the run's data source.
    let o = bin()
        .args(["train", "--no-tui", "--resume"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let recs = events(&dir);
    assert!(matches!(recs.last().unwrap().event, Event::Finished(_)));
    // Every update appears exactly once in the continued log.
    let updates: Vec<u64> = recs
        .iter()
        .filter_map(|r| match &r.event {
            Event::Step(s) => Some(s.update),
            _ => None,
        })
        .collect();
    let expected: Vec<u64> = (1..=updates.len() as u64).collect();
    assert_eq!(updates, expected);
}

#[test]
fn resume_refuses_a_corrupt_checkpoint_without_touching_the_run() {
    let out = tempfile::tempdir().unwrap();
    assert!(train(out.path(), &[]).status.success());
    let dir = run_dir(out.path());
    let before = std::fs::read(dir.join("events.jsonl")).unwrap();
    let ck = std::fs::read_dir(dir.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .unwrap();
    let bytes = std::fs::read(&ck).unwrap();
    std::fs::write(&ck, &bytes[..bytes.len() / 3]).unwrap();
    let o = bin()
        .args(["train", "--no-tui", "--data", "synthetic", "--resume"])
        .arg(&ck)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("corrupt or truncated"), "{err}");
    assert_eq!(std::fs::read(dir.join("events.jsonl")).unwrap(), before);
}

/// Started by a launcher as one of several processes, a build without MPI refuses once (rank 0
/// says why, the others leave quietly) instead of running several independent trainings.
#[cfg(not(feature = "mpi"))]
#[test]
fn a_build_without_mpi_refuses_to_be_one_of_several_processes() {
    let dir = tempfile::tempdir().unwrap();
    for (rank, speaks) in [("0", true), ("1", false)] {
        let out = bin()
            .args(["train", "--data", "synthetic", "--no-tui", "--out"])
            .arg(dir.path())
            .env("OMPI_COMM_WORLD_SIZE", "2")
            .env("OMPI_COMM_WORLD_RANK", rank)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.lines().count(),
            usize::from(speaks),
            "rank {rank}: {err}"
        );
        if speaks {
            assert!(
                err.contains("built without MPI") && err.contains("--features mpi"),
                "{err}"
            );
        }
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "no run directory"
    );
}
