//! Where the trainer's events go: every event to the run log, and a bounded, never-blocking
//! copy to the UI (or the plain line printer). Owns time stamping; must never wait on a consumer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Sender, TrySendError};

use crate::events::{Event, Record};

/// Stamps events with the run time and fans them out to the log and the UI.
#[derive(Clone)]
pub struct EventSink {
    start: Instant,
    offset: f64,
    log: Option<Sender<Record>>,
    ui: Option<Sender<Record>>,
    /// Records handed to the log so far (on resume: counted from the kept part of the log).
    emitted: Arc<AtomicU64>,
}

impl EventSink {
    /// A sink whose clock starts now at `offset` seconds (non-zero when a run is resumed).
    pub fn new(offset: f64, log: Option<Sender<Record>>, ui: Option<Sender<Record>>) -> Self {
        EventSink {
            start: Instant::now(),
            offset,
            log,
            ui,
            emitted: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Starts the record count at `lines` (the lines a resumed log already holds).
    pub fn with_emitted(self, lines: u64) -> Self {
        self.emitted.store(lines, Ordering::Relaxed);
        self
    }

    /// Records sent to the log so far; a checkpoint stores it so a resume can cut the log there.
    pub fn emitted(&self) -> u64 {
        self.emitted.load(Ordering::Relaxed)
    }

    /// A sink that drops everything (benchmarks, tests).
    pub fn discard() -> Self {
        EventSink::new(0.0, None, None)
    }

    /// Seconds since the run started.
    pub fn elapsed(&self) -> f64 {
        self.offset + self.start.elapsed().as_secs_f64()
    }

    /// Sends `event` to the log (always) and to the UI. Step events are dropped when the UI is
    /// behind; other events are rare and small, so they wait only if the UI queue is full.
    pub fn emit(&self, event: Event) {
        let rec = Record::new(self.elapsed(), event);
        if let Some(ui) = &self.ui {
            match ui.try_send(rec.clone()) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                Err(TrySendError::Full(r)) => {
                    if !matches!(r.event, Event::Step(_) | Event::Resources(_)) {
                        // Bounded wait: a hung UI must not stall training for long.
                        let _ = ui.send_timeout(r, std::time::Duration::from_millis(200));
                    }
                }
            }
        }
        if let Some(log) = &self.log {
            if log.send(rec).is_ok() {
                self.emitted.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
