//! Drives the real terminal UI with made-up events, to try it by hand (or under tmux).
//!
//! ```text
//! cargo run --example ui_demo                 # live run at 20× speed; p, c, q, Ctrl-C all work
//! cargo run --example ui_demo -- live 5       # live at 5×
//! cargo run --example ui_demo -- replay 10    # replay the synthetic log at 10×
//! cargo run --example ui_demo -- follow       # follow a "log" that grows, with a reader problem
//! cargo run --example ui_demo -- compare      # two runs overlaid
//! BATCHRAMP_THEME=mono cargo run --example ui_demo
//! ```

use std::time::Duration;

use batchramp::events::{
    CheckpointEvent, CheckpointReason, Control, Event, PauseEvent, PauseReason, Record,
};
use batchramp::tui::{self, fixture, Feed, UiOptions};
use crossbeam_channel::{bounded, unbounded, Receiver, Sender};

/// A pretend trainer: sends the synthetic run paced at `speed`× its own times and obeys controls.
fn fake_trainer(events: Sender<Record>, control: Receiver<Control>, speed: f64) {
    let recs = fixture::demo_records();
    let mut last_t = 0.0;
    let mut update = 0;
    for rec in recs {
        let wait = ((rec.t - last_t) / speed).max(0.0);
        last_t = rec.t;
        // Wait, but answer controls while waiting.
        let deadline = std::time::Instant::now() + Duration::from_secs_f64(wait);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match control.recv_timeout(left) {
                Ok(c) => {
                    if !obey(c, &events, &control, last_t, update) {
                        return;
                    }
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => break,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
            }
        }
        if let Event::Step(s) = &rec.event {
            update = s.update;
        }
        // Like the real trainer: step events may be dropped when the UI lags, others never.
        match rec.event {
            Event::Step(_) => {
                let _ = events.try_send(rec);
            }
            _ => {
                if events.send(rec).is_err() {
                    return;
                }
            }
        }
    }
}

/// Carries out one control; false when the trainer should stop.
fn obey(
    c: Control,
    events: &Sender<Record>,
    control: &Receiver<Control>,
    t: f64,
    update: u64,
) -> bool {
    let checkpoint = |reason: CheckpointReason| {
        Record::new(
            t,
            Event::Checkpoint(CheckpointEvent {
                path: format!("runs/demo/checkpoints/x-{update}.safetensors"),
                epoch: 0,
                update,
                reason,
            }),
        )
    };
    match c {
        Control::Pause => {
            std::thread::sleep(Duration::from_millis(300));
            let _ = events.send(Record::new(
                t,
                Event::Paused(PauseEvent {
                    update,
                    reason: PauseReason::Key,
                }),
            ));
            loop {
                match control.recv() {
                    Ok(Control::Resume) => break,
                    Ok(Control::Stop { checkpoint: ck }) => {
                        if ck {
                            let _ = events.send(checkpoint(CheckpointReason::Interrupt));
                        }
                        return false;
                    }
                    Ok(Control::Checkpoint) => {
                        let _ = events.send(checkpoint(CheckpointReason::Key));
                    }
                    Ok(Control::Pause) => {}
                    Err(_) => return false,
                }
            }
            let _ = events.send(Record::new(
                t,
                Event::Resumed(PauseEvent {
                    update,
                    reason: PauseReason::Key,
                }),
            ));
            true
        }
        Control::Resume => true,
        Control::Checkpoint => {
            std::thread::sleep(Duration::from_millis(500));
            let _ = events.send(checkpoint(CheckpointReason::Key));
            true
        }
        Control::Stop { checkpoint: ck } => {
            std::thread::sleep(Duration::from_millis(700));
            if ck {
                let _ = events.send(checkpoint(CheckpointReason::Interrupt));
            }
            false
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("live");
    let speed: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20.0);
    let opts = UiOptions {
        theme: std::env::var("BATCHRAMP_THEME").ok(),
        title: format!("ui demo ({mode})"),
    };
    let feed = match mode {
        "replay" => Feed::Replay {
            records: fixture::demo_records(),
            speed: Some(speed),
        },
        "compare" => Feed::Compare {
            runs: vec![
                ("increase-batch".into(), fixture::demo_records()),
                ("decay-lr".into(), fixture::decay_lr_records()),
            ],
        },
        "follow" => {
            let (tx, rx) = unbounded();
            std::thread::spawn(move || {
                for (i, r) in fixture::demo_records().into_iter().enumerate() {
                    if i == 500 {
                        let _ = tx.send(Err(
                            "events.jsonl line 501: cut short (still being written?)".into(),
                        ));
                    }
                    if i % 50 == 0 {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    if tx.send(Ok(r)).is_err() {
                        return;
                    }
                }
            });
            Feed::Follow { events: rx }
        }
        _ => {
            let (etx, erx) = bounded(1024);
            let (ctx, crx) = unbounded();
            std::thread::spawn(move || fake_trainer(etx, crx, speed));
            Feed::Live {
                events: erx,
                control: ctx,
            }
        }
    };
    match tui::run(feed, opts) {
        Ok(exit) => println!("ui ended: {exit:?}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
