//! What sampling this machine costs: one sample without a logdir, with a logdir of 20 runs
//! (the writers found before, as between searches), and with the search for writers (`/proc`
//! and the logdir's names) in every sample, the worst case. At one sample a second the share of
//! one core is the per-sample time over a second; the UI's budget for following 20 runs is 2%.
//!
//! Run with `cargo bench --bench machine`. Plain `main` (harness = false).

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use batchramp::machine::MachineSampler;

const SAMPLES: usize = 200;

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let host = sysinfo::System::host_name().unwrap_or_else(|| "localhost".into());
    for i in 0..20 {
        let run = dir.path().join(format!("run{i:02}/train"));
        std::fs::create_dir_all(&run).expect("run directory");
        File::create(run.join(format!(
            "events.out.tfevents.1796305444.{host}.{}.0",
            100 + i
        )))
        .expect("event file");
    }
    // One writer holding a file open, as batchramp's trainer or TensorFlow's writer does.
    let held = dir.path().join("run00/train/events.jsonl");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("exec 3>>\"$1\"; exec sleep 600")
        .arg("sh")
        .arg(&held)
        .stdin(Stdio::null())
        .spawn()
        .expect("a writer process");
    std::thread::sleep(Duration::from_millis(200));

    let processes = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
                .count()
        })
        .unwrap_or(0);
    println!("machine sample cost ({SAMPLES} samples each, {processes} processes in /proc)");
    println!(
        "{:<44} {:>10} {:>10} {:>12}",
        "case", "median", "p90", "core at 1 Hz"
    );
    let cases: [(&str, Option<&std::path::Path>, Duration); 3] = [
        ("no logdir", None, Duration::from_secs(3600)),
        (
            "logdir of 20 runs, between searches",
            Some(dir.path()),
            Duration::from_secs(3600),
        ),
        (
            "logdir of 20 runs, searching every sample",
            Some(dir.path()),
            Duration::ZERO,
        ),
    ];
    for (name, logdir, rescan) in cases {
        let mut sampler = MachineSampler::new(logdir).rescan_every(rescan);
        let first = sampler.sample();
        if logdir.is_some() {
            assert_eq!(
                first.writers.len(),
                1,
                "the held file's writer: {:?}",
                first.writers
            );
        }
        let mut times: Vec<Duration> = (0..SAMPLES)
            .map(|_| {
                std::thread::sleep(Duration::from_millis(5));
                let t = Instant::now();
                std::hint::black_box(sampler.sample());
                t.elapsed()
            })
            .collect();
        times.sort();
        let median = times[SAMPLES / 2];
        let p90 = times[SAMPLES * 9 / 10];
        println!(
            "{name:<44} {:>8.0}µs {:>8.0}µs {:>11.3}%",
            median.as_secs_f64() * 1e6,
            p90.as_secs_f64() * 1e6,
            median.as_secs_f64() * 100.0
        );
    }
    let real = std::fs::canonicalize(dir.path()).expect("logdir");
    let mut times: Vec<Duration> = (0..SAMPLES / 4)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(batchramp::machine::writers::open_for_writing(
                std::path::Path::new("/proc"),
                &real,
                None,
            ))
            .expect("/proc readable");
            t.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "{:<44} {:>8.0}µs {:>8.0}µs",
        "of which the open files in /proc",
        times[times.len() / 2].as_secs_f64() * 1e6,
        times[times.len() * 9 / 10].as_secs_f64() * 1e6
    );
    println!(
        "a search runs every {}s at least, later when slow (0.5% of a core at most)",
        batchramp::machine::DEFAULT_RESCAN.as_secs()
    );
    let _ = child.kill();
    let _ = child.wait();
}
