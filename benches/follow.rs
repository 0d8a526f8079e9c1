//! What following live TensorBoard runs costs the UI process: 20 runs × 4 tags, one step of
//! every run written every 100 ms for 12 s, polled every second (`watch`'s rate) by the real
//! reader thread, every update applied to the dashboard's store, and a 160×48 dashboard frame
//! drawn every 250 ms (the UI's data frame rate). The budget is 2% of one core.
//!
//! The writer is this binary run again as a child process, so its CPU time is not the UI's:
//! `getrusage(RUSAGE_SELF)` counts this process's threads only (the reader's included). The
//! window opens when the first poll (the runs' history) has been applied, and closes when every
//! point written has arrived. The same is measured once more without drawing, so the reader's
//! and the store's share is visible.
//!
//! Drawing into a buffer leaves out what a terminal adds (diffing against the last frame and
//! writing the changed cells): `ui_overhead` measures that part. Frames are drawn on every
//! tick here, changed or not, where the UI draws only after a change: an upper bound.
//!
//! ```text
//! cargo bench --bench follow
//! ```

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use batchramp::report::export::scalar_event;
use batchramp::tboard::record::append_tfrecord;
use batchramp::tboard::{Logdir, LogdirReader, ScalarUpdate, TagTable};
use batchramp::tui::board::{draw, Board, BoardView};
use batchramp::tui::{ColorMode, Theme};
use crossbeam_channel::RecvTimeoutError;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

const RUNS: usize = 20;
const TAGS: [&str; 4] = ["train/loss", "train/acc", "lr", "batch_size"];
/// Steps each run holds before following starts, so the charts have a history to draw.
const HISTORY: i64 = 1000;
const WRITE_EVERY: Duration = Duration::from_millis(100);
/// Steps the writer adds to every run (12 s at `WRITE_EVERY`).
const WRITES: i64 = 120;
/// `watch`'s poll interval (`cli::board::POLL`).
const POLL: Duration = Duration::from_secs(1);
/// The UI's data frame rate (`tui::runner::DATA_FRAME`).
const FRAME: Duration = Duration::from_millis(250);
const SIZE: (u16, u16) = (160, 48);
const BUDGET_PERCENT: f64 = 2.0;
/// Set in the writer child's environment to the logdir it writes.
const WRITER_ENV: &str = "BATCHRAMP_FOLLOW_BENCH_WRITER";

fn main() {
    if let Some(dir) = std::env::var_os(WRITER_ENV) {
        write_steps(Path::new(&dir));
        return;
    }
    let theme = Theme::builtin("dark", ColorMode::TrueColor).expect("the dark theme");
    println!(
        "following {RUNS} runs × {} tags, one step each every {} ms for {:.0} s, polled every {} s",
        TAGS.len(),
        WRITE_EVERY.as_millis(),
        (WRITE_EVERY * WRITES as u32).as_secs_f64(),
        POLL.as_secs()
    );
    let rows = [
        (
            format!(
                "reader + store + {}×{} frame every {} ms",
                SIZE.0,
                SIZE.1,
                FRAME.as_millis()
            ),
            Some(&theme),
        ),
        ("reader + store, no frame drawn".to_string(), None),
    ];
    let mut results = Vec::new();
    for (what, theme) in rows {
        results.push((what, follow(theme)));
    }
    println!(
        "\n{:<44} {:>6} {:>6} {:>9} {:>6} {:>7} {:>7} {:>10}",
        "", "wall s", "CPU s", "% of core", "polls", "points", "frames", "writer CPU"
    );
    for (what, m) in &results {
        println!(
            "{what:<44} {:>6.2} {:>6.3} {:>8.2}% {:>6} {:>7} {:>7} {:>9.3}s",
            m.wall,
            m.cpu,
            m.percent(),
            m.polls,
            m.points,
            m.frames,
            m.writer_cpu
        );
    }
    let drawn = &results[0].1;
    println!(
        "\ndrawing: {:.2} ms of CPU per {}×{} frame",
        1e3 * (drawn.cpu - results[1].1.cpu) / drawn.frames.max(1) as f64,
        SIZE.0,
        SIZE.1
    );
    println!(
        "budget {BUDGET_PERCENT}% of one core (with frames): {}",
        if drawn.percent() < BUDGET_PERCENT {
            "PASS"
        } else {
            "OVER BUDGET"
        }
    );
}

/// One measured window.
struct Measured {
    wall: f64,
    cpu: f64,
    polls: u64,
    points: usize,
    frames: usize,
    writer_cpu: f64,
}

impl Measured {
    fn percent(&self) -> f64 {
        100.0 * self.cpu / self.wall
    }
}

/// Follows a fresh logdir while the child writes to it; draws when a theme is given.
fn follow(theme: Option<&Theme>) -> Measured {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let dir = tmp.path();
    write_history(dir);
    let reader = LogdirReader::spawn(Logdir::open(dir).expect("open the logdir"), Some(POLL));
    let updates = reader.updates();
    let mut board = Board::new(TagTable::default(), true);
    let view = BoardView::default();
    let area = Rect::new(0, 0, SIZE.0, SIZE.1);
    let mut buf = Buffer::empty(area);
    let mut frame = |board: &Board| {
        if let Some(theme) = theme {
            buf.reset();
            draw(theme, board, &view, "follow bench", area, &mut buf);
            std::hint::black_box(&buf);
        }
    };

    loop {
        let u = updates
            .recv_timeout(Duration::from_secs(60))
            .expect("the first poll");
        let first = matches!(u, ScalarUpdate::Polled { .. });
        board.apply(u);
        if first {
            break;
        }
    }
    let history = (RUNS * TAGS.len()) as u64 * HISTORY as u64;
    assert_eq!(board.point_count(), history, "the history is read whole");
    frame(&board);

    let start = (Instant::now(), cpu_seconds(), board.polls());
    let children_before = children_cpu_seconds();
    let mut writer = spawn_writer(dir);
    let written = RUNS * TAGS.len() * WRITES as usize;
    let mut points = 0;
    let mut frames = 0;
    let mut writer_done = false;
    let mut next_frame = Instant::now() + FRAME;
    let give_up = Instant::now() + WRITE_EVERY * WRITES as u32 + Duration::from_secs(30);
    while !(writer_done && points >= written) {
        assert!(
            Instant::now() < give_up,
            "{points} of {written} points arrived"
        );
        let wait = next_frame.saturating_duration_since(Instant::now());
        match updates.recv_timeout(wait) {
            Ok(u) => {
                for u in std::iter::once(u).chain(updates.try_iter()) {
                    points += match &u {
                        ScalarUpdate::Points { points, .. } => points.len(),
                        ScalarUpdate::Replaced { .. } => panic!("nothing restarts here: {u:?}"),
                        _ => 0,
                    };
                    board.apply(u);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => panic!("the reader stopped"),
        }
        if Instant::now() >= next_frame {
            frame(&board);
            frames += usize::from(theme.is_some());
            next_frame += FRAME;
            writer_done = writer_done || writer.try_wait().expect("the writer's state").is_some();
        }
    }
    let wall = start.0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - start.1;
    let polls = board.polls() - start.2;
    reader.stop();
    let status = writer.wait().expect("the writer's status");
    assert!(status.success(), "the writer failed: {status}");
    assert_eq!(points, written, "every point written arrived once");
    assert_eq!(board.point_count(), history + written as u64);
    Measured {
        wall,
        cpu,
        polls,
        points,
        frames,
        writer_cpu: children_cpu_seconds() - children_before,
    }
}

fn run_dir(root: &Path, run: usize) -> PathBuf {
    root.join(format!("run{run:02}"))
}

fn event_file(root: &Path, run: usize) -> PathBuf {
    run_dir(root, run).join("events.out.tfevents.1700000000.bench")
}

/// The four tags' events of one step, framed.
fn step_records(run: usize, step: i64, out: &mut Vec<u8>) {
    let s = step as f64;
    let values = [
        (2.0 * (-s / 400.0).exp() + 0.01 * run as f64) as f32,
        (1.0 - (-s / 300.0).exp()) as f32,
        (0.1 * 0.5f64.powi((step / 500) as i32)) as f32,
        (128 << (step / 400).min(3)) as f32,
    ];
    for (tag, v) in TAGS.iter().zip(values) {
        append_tfrecord(out, &scalar_event(1.7e9 + s * 0.1, step, tag, v));
    }
}

fn write_history(root: &Path) {
    for run in 0..RUNS {
        std::fs::create_dir_all(run_dir(root, run)).expect("run directory");
        let mut bytes = Vec::new();
        for step in 0..HISTORY {
            step_records(run, step, &mut bytes);
        }
        std::fs::write(event_file(root, run), bytes).expect("write the history");
    }
}

fn spawn_writer(root: &Path) -> Child {
    Command::new(std::env::current_exe().expect("this binary"))
        .env(WRITER_ENV, root)
        .spawn()
        .expect("start the writer")
}

/// The child: one step appended to every run every `WRITE_EVERY`, `WRITES` times.
fn write_steps(root: &Path) {
    let mut files: Vec<_> = (0..RUNS)
        .map(|run| {
            OpenOptions::new()
                .append(true)
                .open(event_file(root, run))
                .expect("open an event file")
        })
        .collect();
    let start = Instant::now();
    let mut bytes = Vec::new();
    for i in 0..WRITES {
        // On a schedule, not a sleep after each write, so the rate holds on a busy machine.
        let at = start + WRITE_EVERY * i as u32;
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        for (run, f) in files.iter_mut().enumerate() {
            bytes.clear();
            step_records(run, HISTORY + i, &mut bytes);
            // One write per step, as a writer's flush makes them; a poll that lands inside one
            // leaves the torn record for the next.
            f.write_all(&bytes).expect("append a step");
        }
    }
}

fn cpu_seconds() -> f64 {
    rusage_seconds(libc::RUSAGE_SELF)
}

fn children_cpu_seconds() -> f64 {
    rusage_seconds(libc::RUSAGE_CHILDREN)
}

/// User plus system time of `who`.
fn rusage_seconds(who: libc::c_int) -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(who, &mut ru), 0, "getrusage");
        ru
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}
