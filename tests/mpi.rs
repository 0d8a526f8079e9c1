//! End to end over MPI (the `mpi` feature; needs `mpirun`, e.g. Debian's openmpi-bin): one
//! training over 1, 2 and 3 processes gives the same numbers, a checkpoint of a 2-process run
//! resumes in one process, workers started unlike refuse to train, a worker that dies ends
//! the job with rank 0's checkpoint and log intact, and a stopped worker (SIGSTOP) is named
//! within the warning time and ends the job at the timeout, or, continued in time, changes
//! nothing.
//!
//! `cargo test --release --features mpi --test mpi`

#![cfg(feature = "mpi")]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use batchramp::events::{Event, Record};

/// Small settings: 3 epochs of 640 synthetic images, B 32 → 160 → 800 in micro-batches of 32.
const QUICK: &[&str] = &[
    "--set",
    "data.synthetic_train=640",
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
    "hardware.max_micro_batch=32",
    "--set",
    "hardware.threads=1",
    "--set",
    "data.eval_batch=64",
];

/// `mpirun -np N` as root too (CI runs as root), more processes than cores allowed.
fn mpirun(n: usize) -> Command {
    let mut c = Command::new("mpirun");
    c.args(["--oversubscribe", "-np", &n.to_string()])
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    c
}

fn train_args(out: &Path) -> Vec<String> {
    let mut a: Vec<String> = ["train", "--data", "synthetic", "--no-tui", "--out"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.push(out.display().to_string());
    a.extend(QUICK.iter().map(|s| s.to_string()));
    a
}

fn train_on(n: usize, out: &Path, extra: &[&str]) -> Output {
    mpirun(n)
        .arg(env!("CARGO_BIN_EXE_batchramp"))
        .args(train_args(out))
        .args(extra)
        .output()
        .expect("running mpirun (is openmpi-bin installed?)")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run_dir(out: &Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "only rank 0 makes a run directory: {dirs:?}");
    dirs.pop().unwrap()
}

fn events(dir: &Path) -> Vec<Record> {
    batchramp::runlog::read_log(dir).unwrap().records
}

/// The batch-norm running statistics of the run's latest checkpoint, by tensor name.
fn running_stats(dir: &Path) -> Vec<(String, Vec<f32>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    let last = files.pop().expect("a checkpoint");
    let mut stats: Vec<(String, Vec<f32>)> =
        candle_core::safetensors::load(&last, &candle_core::Device::Cpu)
            .unwrap()
            .into_iter()
            .filter(|(name, _)| name.contains("running_"))
            .map(|(name, t)| (name, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
            .collect();
    stats.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        !stats.is_empty(),
        "{}: no running statistics",
        last.display()
    );
    stats
}

/// (kind, update, values) of every step, epoch and noise-scale record.
fn figures(recs: &[Record]) -> Vec<(&'static str, u64, Vec<f64>)> {
    recs.iter()
        .filter_map(|r| match &r.event {
            Event::Step(s) => Some(("step", s.update, vec![s.loss, s.acc])),
            Event::Epoch(e) => Some((
                "epoch",
                e.updates,
                vec![e.train_loss, e.train_acc, e.test_loss, e.test_acc],
            )),
            Event::NoiseScale(n) => Some(("noise", n.update, vec![n.b_simple, n.grad_sq])),
            _ => None,
        })
        .collect()
}

/// The same figures up to float summation order (the all-reduce adds in another order): the
/// first 20 updates' losses within 1e-5 relative, everything else within 1e-4.
fn assert_close(a: &[Record], b: &[Record], what: &str) {
    let (fa, fb) = (figures(a), figures(b));
    assert_eq!(fa.len(), fb.len(), "{what}: record counts");
    for (x, y) in fa.iter().zip(&fb) {
        assert_eq!((x.0, x.1), (y.0, y.1), "{what}");
        let tol = if x.0 == "step" && x.1 <= 20 {
            1e-5
        } else {
            1e-4
        };
        for (u, v) in x.2.iter().zip(&y.2) {
            assert!(
                (u - v).abs() <= tol * u.abs().max(1.0),
                "{what}: {} at update {}: {u} vs {v}",
                x.0,
                x.1
            );
        }
    }
}

#[test]
fn the_world_size_does_not_change_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let mut logs = Vec::new();
    let mut stats = Vec::new();
    for n in [1, 2, 3] {
        let out = dir.path().join(format!("w{n}"));
        let o = train_on(n, &out, &[]);
        assert_eq!(o.status.code(), Some(0), "{n} workers: {}", text(&o.stderr));
        let recs = events(&run_dir(&out));
        if n > 1 {
            let Event::RunStarted(h) = &recs[0].event else {
                panic!("the log starts with its header")
            };
            assert_eq!(h.workers.len(), n);
            let busy: Vec<usize> = recs
                .iter()
                .filter_map(|r| match &r.event {
                    Event::Step(s) => s.parallel.map(|p| p.busy),
                    _ => None,
                })
                .collect();
            // B 32 is one micro-batch; B 800 is 25 of them, enough for every worker.
            assert_eq!(busy.first(), Some(&1));
            assert_eq!(busy.last(), Some(&n));
        }
        logs.push(recs);
        stats.push(running_stats(&run_dir(&out)));
    }
    assert_close(&logs[0], &logs[1], "1 vs 2 workers");
    assert_close(&logs[0], &logs[2], "1 vs 3 workers");
    // Batch-norm running statistics, folded in micro-batch order on every worker.
    for (n, other) in [(2, &stats[1]), (3, &stats[2])] {
        assert_eq!(other.len(), stats[0].len());
        for ((name, a), (_, b)) in stats[0].iter().zip(other.iter()) {
            for (u, v) in a.iter().zip(b) {
                assert!(
                    (u - v).abs() <= 1e-5 * u.abs().max(1.0),
                    "{name} with {n} workers: {u} vs {v}"
                );
            }
        }
    }
}

#[test]
fn a_checkpoint_of_two_workers_resumes_in_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("two");
    let o = train_on(2, &out, &["--set", "checkpoint.keep_last=0"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let full = run_dir(&out);
    let whole = events(&full);
    // Resume a copy from the end of epoch 1 in a single process.
    let copy = dir.path().join("copy");
    std::fs::create_dir_all(copy.join("checkpoints")).unwrap();
    let first = std::fs::read_dir(full.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .min()
        .unwrap();
    for ext in ["safetensors", "json"] {
        let from = first.with_extension(ext);
        std::fs::copy(
            &from,
            copy.join("checkpoints").join(from.file_name().unwrap()),
        )
        .unwrap();
    }
    // The resume cuts the log at the checkpoint's line.
    for f in ["events.jsonl", "config.toml"] {
        std::fs::copy(full.join(f), copy.join(f)).unwrap();
    }
    let o = Command::new(env!("CARGO_BIN_EXE_batchramp"))
        .args(["train", "--no-tui", "--resume"])
        .arg(&copy)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_close(&whole, &events(&copy), "2 workers vs resumed in 1");
}

#[test]
fn workers_started_unlike_refuse_saying_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("unlike.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then exec {bin} \"$@\" --set seed=5; fi\nexec {bin} \"$@\"\n",
            bin = env!("CARGO_BIN_EXE_batchramp")
        ),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    let out = dir.path().join("out");
    let o = mpirun(2)
        .arg(&script)
        .args(train_args(&out))
        .output()
        .unwrap();
    let err = text(&o.stderr);
    assert_ne!(o.status.code(), Some(0), "{err}");
    let ours: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(ours.len(), 1, "one line for the job: {err}");
    assert!(
        ours[0].contains("rank 1 on") && ours[0].contains("seed (0 vs 5)"),
        "{err}"
    );
    assert!(!out.exists(), "no run directory for a refused job");
}

#[test]
fn a_worker_that_dies_ends_the_job_and_rank_0_keeps_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dies");
    let mut child = mpirun(2)
        .arg(env!("CARGO_BIN_EXE_batchramp"))
        .args(train_args(&out))
        .args([
            "--set",
            "schedule.epochs=30",
            "--set",
            "schedule.milestones=[]",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for an epoch's checkpoint, then kill rank 1.
    let deadline = Instant::now() + Duration::from_secs(120);
    let ck_dir = loop {
        assert!(Instant::now() < deadline, "no checkpoint after two minutes");
        std::thread::sleep(Duration::from_millis(200));
        let Ok(mut entries) = std::fs::read_dir(&out) else {
            continue;
        };
        let Some(Ok(run)) = entries.next() else {
            continue;
        };
        let cks = run.path().join("checkpoints");
        if std::fs::read_dir(&cks).is_ok_and(|mut d| d.next().is_some()) {
            break cks;
        }
    };
    let rank1 = worker_pid(&out, 1);
    let killed = Instant::now();
    Command::new("kill").args(["-9", &rank1]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(
        killed.elapsed() < Duration::from_secs(30),
        "the job took {:?} to end",
        killed.elapsed()
    );
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("rank 1"),
        "the launcher names the worker: {err}"
    );
    // Rank 0's log is readable to its end, and its checkpoints load.
    let run = ck_dir.parent().unwrap();
    let recs = events(run);
    assert!(matches!(recs[0].event, Event::RunStarted(_)));
    let latest = batchramp::train::checkpoint::latest(run).unwrap();
    batchramp::train::checkpoint::load(&latest).unwrap();
}

/// The process id of the worker of `rank` in the job training into `out`: the one whose
/// launcher environment says so.
fn worker_pid(out: &Path, rank: usize) -> String {
    let pids = Command::new("pgrep")
        .args([
            "-f",
            &format!(
                "^{} train.*{}",
                env!("CARGO_BIN_EXE_batchramp"),
                out.display()
            ),
        ])
        .output()
        .unwrap();
    let pids: Vec<String> = text(&pids.stdout).lines().map(String::from).collect();
    assert_eq!(pids.len(), 2, "two workers: {pids:?}");
    let wanted = format!("OMPI_COMM_WORLD_RANK={rank}");
    pids.into_iter()
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == wanted.as_bytes()))
        })
        .unwrap_or_else(|| panic!("a worker of rank {rank}"))
}

/// Waits until the run under `out` has written its first checkpoint; returns the run directory.
fn first_checkpoint(out: &Path) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "no checkpoint after two minutes");
        std::thread::sleep(Duration::from_millis(50));
        let Ok(mut entries) = std::fs::read_dir(out) else {
            continue;
        };
        let Some(Ok(run)) = entries.next() else {
            continue;
        };
        let cks = run.path().join("checkpoints");
        if std::fs::read_dir(&cks).is_ok_and(|d| {
            d.flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "json"))
        }) {
            return run.path();
        }
    }
}

/// The job's plain lines as they arrive, each with when it arrived.
fn lines_of(child: &mut Child) -> mpsc::Receiver<(Instant, String)> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    rx
}

/// What an exchange with a stopped worker says while it waits, when that worker had not joined
/// it (the others name it) or had (nobody can tell which stopped).
enum Stall {
    Named(String),
    Inside,
}

/// How the exchange a stopped worker had joined is named.
const JOINED: &str = "an exchange that every worker joined";

impl Stall {
    fn waiting(&self, s: u64) -> String {
        match self {
            Stall::Named(who) => format!("warning: waiting {s} s for {who}"),
            Stall::Inside => format!(
                "warning: waiting {s} s for {JOINED} to complete (one may have stopped inside it)"
            ),
        }
    }

    fn timed_out(&self, s: u64) -> String {
        match self {
            Stall::Named(who) => format!("{who} has not answered for {s} s"),
            Stall::Inside => {
                format!("{JOINED} has not completed for {s} s (one may have stopped inside it)")
            }
        }
    }
}

/// Waits for a line `pred` accepts; returns when it arrived, and the line.
fn line_where(
    lines: &mpsc::Receiver<(Instant, String)>,
    pred: impl Fn(&str) -> bool,
    within: Duration,
) -> (Instant, String) {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok((at, line)) if pred(&line) => return (at, line),
            Ok((_, line)) => seen.push(line),
            Err(_) => panic!("no such line within {within:?}: {seen:#?}"),
        }
    }
}

/// Waits for a line containing `needle`; returns when it arrived.
fn line_with(lines: &mpsc::Receiver<(Instant, String)>, needle: &str, within: Duration) -> Instant {
    line_where(lines, |l| l.contains(needle), within).0
}

/// Five epochs of B 32 (two stages), long enough to stop a worker after the first checkpoint.
const LONGER: &[&str] = &[
    "--set",
    "schedule.epochs=5",
    "--set",
    "schedule.milestones=[3,4]",
];

fn spawn_train(out: &Path, extra: &[&str]) -> Child {
    mpirun(2)
        .arg(env!("CARGO_BIN_EXE_batchramp"))
        .args(train_args(out))
        .args(LONGER)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn stderr_of(child: &mut Child) -> String {
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    err
}

fn signal(pid: &str, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, pid])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

#[test]
fn a_stopped_worker_is_named_in_time_and_ends_the_job_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stalls");
    let mut child = spawn_train(
        &out,
        &[
            "--set",
            "schedule.epochs=40",
            "--set",
            "schedule.milestones=[]",
            "--set",
            "parallel.stall_warning_seconds=2",
            "--set",
            "parallel.stall_timeout_seconds=8",
        ],
    );
    let lines = lines_of(&mut child);
    let run = first_checkpoint(&out);
    let rank1 = worker_pid(&out, 1);
    let host = batchramp::parallel::collective::host_name();
    signal(&rank1, "-STOP");
    let stopped = Instant::now();
    // Rank 0 reaches the next exchange within an update, then waits 2 s. Stopped between
    // exchanges, worker 1 is named; stopped inside one it had joined, no worker can be told
    // from the others, and the exchange is: both are right, and the stop lands where it lands.
    let (warned, first) = line_where(
        &lines,
        |l| l.starts_with("warning: waiting 2 s for "),
        Duration::from_secs(15),
    );
    let named = format!("worker 1 on {host}");
    let stall = if first.contains(&named) {
        Stall::Named(named)
    } else {
        assert!(first.contains(JOINED), "{first}");
        Stall::Inside
    };
    line_with(&lines, &stall.waiting(4), Duration::from_secs(5));
    let status = child.wait().unwrap();
    let ended = stopped.elapsed();
    let err = stderr_of(&mut child);
    eprintln!(
        "stall timings: warning {:.1} s, job ended {:.1} s after SIGSTOP (warning 2 s, timeout 8 s)",
        (warned - stopped).as_secs_f64(),
        ended.as_secs_f64()
    );
    assert!(
        warned - stopped < Duration::from_secs(6),
        "warned after {:?}",
        warned - stopped
    );
    // Rank 0's deadline counts from when it joined the exchange, which may be a moment (less
    // than an update) before the stop.
    assert!(
        ended >= Duration::from_secs(7) && ended < Duration::from_secs(25),
        "ended after {ended:?}: {err}"
    );
    assert!(!status.success(), "{err}");
    let ours: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(ours.len(), 1, "one line for the job: {err}");
    assert!(
        ours[0].contains(&format!(
            "{}: ending the job; the last checkpoint is {}",
            stall.timed_out(8),
            run.join("checkpoints").display()
        )),
        "{err}"
    );
    // The stopped worker is gone too.
    let gone = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{rank1}")).exists() && Instant::now() < gone {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !Path::new(&format!("/proc/{rank1}")).exists(),
        "the stopped worker still exists"
    );
    // The log is whole: the warnings, then the failed record last; the checkpoint loads.
    let recs = events(&run);
    let warnings: Vec<&str> = recs
        .iter()
        .filter_map(|r| match &r.event {
            Event::Warning(m) => Some(m.message.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| format!("warning: {w}") == stall.waiting(6)),
        "{warnings:?}"
    );
    let Some(Event::Failed(f)) = recs.last().map(|r| &r.event) else {
        panic!("the log ends with its failed record: {:?}", recs.last())
    };
    assert!(
        f.message.starts_with(&format!(
            "{}: ending the job; the last checkpoint is ",
            stall.timed_out(8)
        )),
        "{}",
        f.message
    );
    let latest = batchramp::train::checkpoint::latest(&run).unwrap();
    assert!(
        f.message.ends_with(&latest.display().to_string()),
        "{}",
        f.message
    );
    batchramp::train::checkpoint::load(&latest).unwrap();
}

#[test]
fn a_stopped_worker_continued_in_time_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let calm = dir.path().join("calm");
    let mut child = spawn_train(&calm, &[]);
    let status = child.wait().unwrap();
    assert!(status.success(), "{}", stderr_of(&mut child));
    let undisturbed = events(&run_dir(&calm));

    let out = dir.path().join("paused");
    let mut child = spawn_train(
        &out,
        &[
            "--set",
            "parallel.stall_warning_seconds=2",
            "--set",
            "parallel.stall_timeout_seconds=60",
        ],
    );
    let lines = lines_of(&mut child);
    let run = first_checkpoint(&out);
    let rank1 = worker_pid(&out, 1);
    let host = batchramp::parallel::collective::host_name();
    signal(&rank1, "-STOP");
    line_with(
        &lines,
        &format!("warning: waiting 4 s for worker 1 on {host}"),
        Duration::from_secs(15),
    );
    signal(&rank1, "-CONT");
    let answered = line_with(
        &lines,
        &format!("worker 1 on {host} answered after"),
        Duration::from_secs(5),
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "{}", stderr_of(&mut child));
    assert!(answered.elapsed() < Duration::from_secs(120));
    let disturbed = events(&run);
    // Bit for bit the same figures: the stop changed when, never what, was computed.
    assert_eq!(figures(&undisturbed), figures(&disturbed));
    assert_eq!(running_stats(&run_dir(&calm)), running_stats(&run));
}
