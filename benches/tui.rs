//! What the live UI costs the machine it trains on: CPU time per frame (applying the events of one
//! frame period, laying out and drawing every widget, diffing, and encoding the escape sequences
//! a real terminal would receive), and bytes sent to the terminal per frame.
//!
//! Run with `cargo bench --bench tui`. Measured as thread CPU time, not wall time, so the figure
//! holds on a busy machine; the share of training time follows from the frame rate (at most four
//! redraws a second from a run's events, `tui::runner::DATA_FRAME`) and the cores the trainer uses.
//! `cargo bench --bench ui_overhead` measures the wall-clock cost to a real training run.

use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

use batchramp::events::{Event, Record};
use batchramp::runlog::sample::SampleRun;
use batchramp::tui::app::App;
use batchramp::tui::{ColorMode, KeyMap, Theme};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

/// Frames timed per terminal size.
const FRAMES: usize = 600;
/// A live run's frame period: its events cause at most four redraws a second
/// (`tui::runner::DATA_FRAME`).
const FRAME_SECONDS: f64 = 0.25;
/// Training cores the share is computed against (this machine's trainer uses both).
const TRAIN_CORES: f64 = 2.0;

/// A `Write` that counts bytes and keeps none, standing in for the terminal.
#[derive(Clone, Default)]
struct CountingSink {
    bytes: Rc<Cell<usize>>,
}

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes.set(self.bytes.get() + buf.len());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn measure(records: &[Record], width: u16, height: u16, theme: &Theme) {
    // Start mid-run with a long history, as a user looking at a run that has gone on for hours.
    let start = records.len() / 2;
    let mut app = App::live("bench".into(), theme.clone(), KeyMap::default());
    for rec in &records[..start] {
        app.apply(rec);
    }
    let sink = CountingSink::default();
    let backend = CrosstermBackend::new(sink.clone());
    let mut terminal = Terminal::with_options(
        backend,
        ratatui::TerminalOptions {
            viewport: ratatui::Viewport::Fixed(ratatui::layout::Rect::new(0, 0, width, height)),
        },
    )
    .expect("terminal");
    let mut cursor = start;
    let mut frame_end = records[start].t;
    let mut cpu = Vec::with_capacity(FRAMES);
    let mut events = 0usize;
    let bytes_before = sink.bytes.get();
    for _ in 0..FRAMES {
        frame_end += FRAME_SECONDS;
        let began = thread_cpu();
        while cursor < records.len() && records[cursor].t <= frame_end {
            app.apply(&records[cursor]);
            cursor += 1;
            events += 1;
        }
        terminal
            .draw(|f| batchramp::tui::ui::draw(f, &app))
            .expect("draw");
        cpu.push(thread_cpu() - began);
        if cursor == records.len() {
            break;
        }
    }
    let frames = cpu.len();
    let bytes = sink.bytes.get() - bytes_before;
    cpu.sort();
    let median = cpu[frames / 2];
    let mean = cpu.iter().sum::<Duration>() / frames as u32;
    let share = mean.as_secs_f64() / FRAME_SECONDS;
    println!(
        "{width:>3}x{height:<3} {frames:>4} frames  {:>6.0} events  cpu/frame median {:>6.3} ms mean {:>6.3} ms  \
         {:>6.0} bytes/frame  at 4 Hz: {:.2}% of one core = {:.2}% of {} training cores",
        events,
        median.as_secs_f64() * 1e3,
        mean.as_secs_f64() * 1e3,
        bytes as f64 / frames as f64,
        share * 100.0,
        share * 100.0 / TRAIN_CORES,
        TRAIN_CORES,
    );
}

fn main() {
    // The demo run at real pace: its event times are those of a believable CPU run.
    let records = SampleRun::demo().records();
    let steps = records
        .iter()
        .filter(|r| matches!(r.event, Event::Step(_)))
        .count();
    println!(
        "UI frame cost over the demo run ({} events, {steps} updates), theme dark, truecolor",
        records.len()
    );
    let theme = Theme::builtin("dark", ColorMode::TrueColor).expect("dark theme");
    for (w, h) in [(80, 24), (160, 48), (240, 64)] {
        measure(&records, w, h, &theme);
    }
}
