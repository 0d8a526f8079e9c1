//! Plain text lines for a run: one per epoch and per stage change, plus start, checkpoint,
//! pause, warning and end lines. `train --no-tui`, `replay --no-tui` and `watch --no-tui` all
//! print through this file, so their output matches line for line.
//!
//! Owns the wording and layout of those lines. It must never print by itself or skip records
//! on its own initiative: callers decide where lines go.

use std::cell::RefCell;

use crate::events::line::{self as event_line, percent, Paths};
use crate::events::{Event, Record, RunStarted, StageEvent};
use crate::format::{count, counted, duration, lr};

/// Formats records as lines, remembering what an epoch line needs from earlier records
/// (planned epochs from the header, batch and learning rate from the current stage).
#[derive(Clone, Debug, Default)]
pub struct LineFormatter {
    epochs: Option<usize>,
    stages: Option<usize>,
    stage: Option<StageEvent>,
}

impl LineFormatter {
    /// A formatter that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The line for one record, or `None` for records that get no line (steps, resources,
    /// noise scale).
    pub fn format(&mut self, rec: &Record) -> Option<String> {
        match &rec.event {
            Event::RunStarted(h) => {
                *self = LineFormatter {
                    epochs: Some(h.epochs),
                    stages: Some(h.stages.len()),
                    stage: None,
                };
                Some(header_line(h))
            }
            Event::Stage(s) => {
                self.stage = Some(s.clone());
                Some(self.stage_line(s))
            }
            Event::Epoch(e) => {
                let mut line = match self.epochs {
                    Some(total) => format!("epoch {}/{total}", e.epoch),
                    None => format!("epoch {}", e.epoch),
                };
                if let Some(s) = &self.stage {
                    line += &format!("  B {}  lr {}", event_line::batch(s), lr(s.lr));
                }
                line += &format!(
                    "  updates {}  loss {}  train {}  test {}  {} img/s  {}",
                    count(e.updates),
                    loss(e.train_loss),
                    percent(e.train_acc),
                    percent(e.test_acc),
                    count(rounded(e.images_per_sec)),
                    duration(e.wall)
                );
                Some(line)
            }
            Event::Checkpoint(c) => Some(event_line::checkpoint(c, Paths::Full)),
            Event::Paused(p) => Some(event_line::paused(p)),
            Event::Resumed(p) => Some(event_line::resumed(p, Paths::Full)),
            Event::Warning(m) => Some(event_line::warning(m)),
            Event::Failed(m) => Some(event_line::failed(m)),
            Event::Finished(s) => Some(event_line::finished(s)),
            Event::Step(_) | Event::Evaluating(_) | Event::Resources(_) | Event::NoiseScale(_) => {
                None
            }
        }
    }

    fn stage_line(&self, s: &StageEvent) -> String {
        event_line::stage(s, self.stages)
    }
}

thread_local! {
    static FORMATTER: RefCell<LineFormatter> = RefCell::new(LineFormatter::new());
}

/// The line for one record, using a per-thread [`LineFormatter`] that remembers the header
/// and current stage of the run being printed on this thread (a `run_started` resets it).
/// Code that prints several runs at once should hold its own `LineFormatter` instead.
pub fn format_record(rec: &Record) -> Option<String> {
    FORMATTER.with(|f| f.borrow_mut().format(rec))
}

fn header_line(h: &RunStarted) -> String {
    let mut line = format!(
        "run {}: {} ({} params) on {}; {} train / {} test images from {}; {}, {}, {} planned ({} for decay-LR)",
        h.name,
        h.model,
        count(h.params as u64),
        h.device,
        count(h.train_size as u64),
        count(h.test_size as u64),
        h.data,
        counted(h.epochs as u64, "epoch"),
        counted(h.stages.len() as u64, "stage"),
        counted(h.planned_updates as u64, "update"),
        count(h.baseline_updates as u64),
    );
    if let Some(from) = &h.resumed_from {
        line += &format!("; {}", event_line::resumed_from(from));
    }
    line
}

fn loss(v: f64) -> String {
    match v.is_finite() {
        true => format!("{v:.3}"),
        false => "NaN".into(),
    }
}

fn rounded(v: f64) -> u64 {
    if v.is_finite() && v > 0.0 {
        v.round() as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::*;

    fn stage(index: usize, epoch: usize, batch: usize, micro: usize) -> Record {
        Record::new(
            1.0,
            Event::Stage(StageEvent {
                index,
                epoch,
                update: 100,
                batch,
                micro_batch: micro,
                accumulation: batch.div_ceil(micro),
                lr: 0.1,
                momentum: 0.9,
                noise_scale: 781.25,
                reason: None,
            }),
        )
    }

    fn epoch(epoch: usize) -> Record {
        Record::new(
            2.0,
            Event::Epoch(EpochEvent {
                epoch,
                train_loss: 1.2344,
                train_acc: 0.5512,
                test_loss: 1.4,
                test_acc: 0.523,
                updates: 1234,
                wall: 192.0,
                images_per_sec: 2345.4,
                eval_seconds: 4.0,
                train_wall: Some(188.0),
            }),
        )
    }

    #[test]
    fn epoch_line_carries_stage_and_totals() {
        let mut f = LineFormatter::new();
        let header = crate::runlog::sample::SampleRun {
            epochs: 40,
            ..Default::default()
        }
        .records()
        .remove(0);
        assert!(f
            .format(&header)
            .unwrap()
            .starts_with("run sample: resnet8 (78,042 params) on cpu"));
        assert_eq!(
            f.format(&stage(1, 21, 640, 128)).unwrap(),
            "stage 2/3 from epoch 21: B 640 (5×128)  lr 0.1  momentum 0.9  noise scale 781"
        );
        assert_eq!(
            f.format(&epoch(3)).unwrap(),
            "epoch 3/40  B 640 (5×128)  lr 0.1  updates 1,234  loss 1.234  train 55.1%  test 52.3%  2,345 img/s  3m12s"
        );
    }

    #[test]
    fn stage_lines_split_b_as_the_ui_does_and_say_why_b_is_capped() {
        let mut f = LineFormatter::new();
        let mut rec = stage(2, 13, 640, 256);
        if let Event::Stage(s) = &mut rec.event {
            s.noise_scale = 0.13;
            s.lr = 0.02;
            s.reason = Some("B stays 640: the training set has 2,000 images; ε ÷5 instead".into());
        }
        assert_eq!(
            f.format(&rec).unwrap(),
            "stage 3 from epoch 13: B 640 (256+256+128)  lr 0.02  momentum 0.9  noise scale 0.13  (B stays 640: the training set has 2,000 images; ε ÷5 instead)"
        );
        let Event::Stage(s) = &rec.event else {
            unreachable!()
        };
        // The UI's own wording of the same figures.
        assert_eq!(crate::format::noise_scale(s.noise_scale), "0.13");
        assert_eq!(
            crate::format::micro_batches(s.batch, s.micro_batch, "×").as_deref(),
            Some("256+256+128")
        );
    }

    #[test]
    fn lines_without_context_still_read() {
        let mut f = LineFormatter::new();
        assert_eq!(
            f.format(&epoch(1)).unwrap(),
            "epoch 1  updates 1,234  loss 1.234  train 55.1%  test 52.3%  2,345 img/s  3m12s"
        );
        f.format(&stage(0, 1, 128, 128));
        assert!(f
            .format(&epoch(1))
            .unwrap()
            .starts_with("epoch 1  B 128  lr 0.1  updates"));
    }

    #[test]
    fn frequent_records_get_no_line() {
        let recs = crate::runlog::sample::SampleRun::default().records();
        let mut f = LineFormatter::new();
        let lines: Vec<String> = recs.iter().filter_map(|r| f.format(r)).collect();
        let epochs = recs
            .iter()
            .filter(|r| matches!(r.event, Event::Epoch(_)))
            .count();
        let stages = recs
            .iter()
            .filter(|r| matches!(r.event, Event::Stage(_)))
            .count();
        let checkpoints = recs
            .iter()
            .filter(|r| matches!(r.event, Event::Checkpoint(_)))
            .count();
        assert_eq!(lines.len(), 1 + stages + epochs + checkpoints + 1);
        assert!(lines
            .last()
            .unwrap()
            .starts_with("finished sample: 12 epochs"));
    }

    #[test]
    fn thread_formatter_matches_an_explicit_one() {
        let recs = crate::runlog::sample::SampleRun::default().records();
        let mut f = LineFormatter::new();
        for r in &recs {
            assert_eq!(format_record(r), f.format(r));
        }
    }
}
