//! Benchmarks of the run log: writing, and loading a 1,000,000-event log, whose budget is
//! under one second on a 2-core machine in release mode.
//!
//! Run with `cargo bench --bench runlog`. Plain `main` (harness = false): no bench framework
//! is needed for three timings, and the numbers print in the units the budget is stated in.

use std::time::{Duration, Instant};

use batchramp::events::Record;
use batchramp::runlog::{self, sample::SampleRun, LogWriter};

const EVENTS: usize = 1_000_000;
const BUDGET: Duration = Duration::from_secs(1);

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut records = SampleRun {
        name: "bench".into(),
        // 10,000 updates per epoch at B = 128: 100 epochs give a million step events.
        train_size: 1_280_000,
        epochs: 100,
        milestones: vec![],
        ..Default::default()
    }
    .records();
    records.truncate(EVENTS);
    assert_eq!(records.len(), EVENTS, "sample run too short");

    let started = Instant::now();
    let writer = LogWriter::create(dir.path()).expect("create log");
    let tx = writer.sender();
    for rec in records {
        tx.send(rec).expect("writer alive");
    }
    writer.close().expect("close log");
    let write = started.elapsed();
    let bytes = std::fs::metadata(dir.path().join(runlog::EVENTS_FILE))
        .expect("log written")
        .len();
    println!(
        "write {EVENTS} events ({:.0} MB): {:.3} s",
        bytes as f64 / 1e6,
        write.as_secs_f64()
    );

    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let log = runlog::read_log(dir.path()).expect("read log");
        times.push(started.elapsed());
        assert_eq!(log.records.len(), EVENTS);
        assert!(log.notes().is_empty(), "{:?}", log.notes());
    }
    times.sort();
    let (best, median) = (times[0], times[times.len() / 2]);
    println!(
        "read_log {EVENTS} events: best {:.3} s, median {:.3} s ({:.0} MB/s); budget {:.1} s: {}",
        best.as_secs_f64(),
        median.as_secs_f64(),
        bytes as f64 / 1e6 / median.as_secs_f64(),
        BUDGET.as_secs_f64(),
        if median < BUDGET { "ok" } else { "OVER" }
    );
    println!(
        "memory: {} bytes per Record, {:.0} MB for the loaded log",
        std::mem::size_of::<Record>(),
        (std::mem::size_of::<Record>() * EVENTS) as f64 / 1e6
    );
}
