//! Benchmark of loading a TensorBoard logdir: 1,000,000 scalars (4 tags × 250,000 steps), whose
//! budget is 0.5 s on this 2-core machine in release mode. Compares the load with reading the
//! bytes alone, and the zero-copy event path with decoding every event through prost.
//!
//! `cargo bench --bench tboard -- DIR` loads DIR (scripts/tboard-bench.sh makes one with
//! PyTorch's SummaryWriter and times TensorBoard's own loader beside this); without DIR it
//! writes the same shape of logdir with batchramp's own TensorBoard writer into a temporary
//! directory. The last line is `load_s=<median seconds>` for the script.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use batchramp::report::export::scalar_event;
use batchramp::tboard::proto::{self, event::What, summary_value::Value};
use batchramp::tboard::record::{append_tfrecord, frame_at, Framed};
use batchramp::tboard::wire::{for_each_value, EventBody, EventView, ValueKind};
use batchramp::tboard::{Logdir, LogdirReader, TagTable};
use batchramp::tui::board::Board;
use prost::Message;

const TAGS: [&str; 4] = ["train/loss", "train/accuracy", "lr-SGD", "batch_size"];
const STEPS: i64 = 250_000;
const BUDGET: Duration = Duration::from_millis(500);

fn main() {
    let arg = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let tmp = tempfile::tempdir().expect("temporary directory");
    let dir = match arg {
        Some(d) => PathBuf::from(d),
        None => {
            write_logdir(tmp.path());
            tmp.path().to_path_buf()
        }
    };
    let files = event_files(&dir);
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    println!(
        "logdir {} ({:.1} MB in {} files)",
        dir.display(),
        bytes as f64 / 1e6,
        files.len()
    );

    if std::env::args().any(|a| a == "--load-only") {
        // For profiling: `perf record … tboard-* DIR --load-only`.
        for _ in 0..10 {
            std::hint::black_box(Logdir::load(&dir).expect("load"));
        }
        return;
    }
    let read = median_of(5, || {
        for f in &files {
            std::hint::black_box(std::fs::read(f).expect("read"));
        }
    });
    let mut scalars = 0;
    let load = median_of(5, || {
        let logdir = Logdir::load(&dir).expect("load");
        scalars = logdir
            .runs()
            .iter()
            .map(|r| r.scalars().point_count())
            .sum();
    });
    // What `replay LOGDIR` waits for before its dashboard is complete: the reader thread's
    // load, its changes sent in chunks, every point pushed into the board's bounded tracks.
    let mut shown = 0;
    let dashboard = median_of(5, || {
        let reader = LogdirReader::spawn(Logdir::open(&dir).expect("open"), None);
        let mut board = Board::new(TagTable::default(), false);
        for u in reader.updates().iter() {
            board.apply(u);
        }
        shown = board.point_count();
    });
    assert_eq!(shown as usize, scalars, "the board holds every point read");
    let data = std::fs::read(&files[0]).expect("read");
    let mut wire_sum = 0.0;
    let wire = median_of(5, || wire_sum = decode_wire(&data));
    let mut prost_sum = 0.0;
    let prost = median_of(3, || prost_sum = decode_prost(&data));
    assert_eq!(
        wire_sum.to_bits(),
        prost_sum.to_bits(),
        "both paths read the same values"
    );

    let row = |what: &str, t: Duration| {
        println!(
            "{what:<44} {:>8.3} s {:>8.0} MB/s",
            t.as_secs_f64(),
            bytes as f64 / 1e6 / t.as_secs_f64()
        )
    };
    row("read the bytes (std::fs::read)", read);
    row(&format!("Logdir::load ({scalars} scalars)"), load);
    row("dashboard complete (reader thread → board)", dashboard);
    println!("first file alone, framing + decoding:");
    row("  zero-copy wire path (what load uses)", wire);
    row("  prost::Message::decode of every Event", prost);
    println!(
        "budget {:.1} s: {}",
        BUDGET.as_secs_f64(),
        if load <= BUDGET { "met" } else { "MISSED" }
    );
    println!("load_s={:.4}", load.as_secs_f64());
}

fn median_of(n: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[n / 2]
}

fn event_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("list logdir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if e.file_name().to_string_lossy().contains("tfevents") {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no event files in {}", dir.display());
    out
}

/// Sum of every simple value, the way `Logdir::load` reads them.
fn decode_wire(data: &[u8]) -> f64 {
    let mut sum = 0.0;
    each_record(data, |rec| {
        if let Ok(EventView {
            body: EventBody::Summary(s),
            ..
        }) = EventView::parse(rec)
        {
            let _ = for_each_value(s, |v| {
                if let ValueKind::Simple(x) = v.kind {
                    sum += f64::from(x);
                }
            });
        }
    });
    sum
}

/// The same sum through prost's decoder.
fn decode_prost(data: &[u8]) -> f64 {
    let mut sum = 0.0;
    each_record(data, |rec| {
        if let Ok(proto::Event {
            what: Some(What::Summary(s)),
            ..
        }) = proto::Event::decode(rec)
        {
            for v in s.value {
                if let Some(Value::SimpleValue(x)) = v.value {
                    sum += f64::from(x);
                }
            }
        }
    });
    sum
}

fn each_record(data: &[u8], mut f: impl FnMut(&[u8])) {
    let mut at = 0;
    while let Framed::Record { data: (a, b), next } = frame_at(data, at) {
        f(&data[a..b]);
        at = next;
    }
}

/// A logdir of the benchmark's shape written by batchramp's own exporter's messages.
fn write_logdir(dir: &Path) {
    let mut buf = Vec::with_capacity(60 << 20);
    for step in 0..STEPS {
        for (i, tag) in TAGS.iter().enumerate() {
            let v = (step as f32 * 1e-4).sin() + i as f32;
            append_tfrecord(
                &mut buf,
                &scalar_event(1.7e9 + step as f64 * 0.01, step, tag, v),
            );
        }
    }
    std::fs::write(dir.join("events.out.tfevents.1700000000.bench"), buf).expect("write");
}
