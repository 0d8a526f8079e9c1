//! The run summary computed from a run's events, one event at a time. The trainer feeds it the
//! events it emits (for the `finished` record and `summary.json`), the reports feed it a log
//! that never finished, and the UI feeds it what it is shown: one computation, so the three can
//! never disagree on the best epoch or a stage's throughput. Must never look at anything but
//! events.

use serde::{Deserialize, Serialize};

use super::{Event, StageSummary, Summary};

/// The summary so far, and what it needs to go on (saved in checkpoints).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SummaryBuilder {
    summary: Summary,
    /// Training images per epoch (from the header), for the stages' throughput.
    train_size: usize,
    /// Whether an epoch has been seen (the best is the first epoch's until one beats it).
    has_epoch: bool,
    /// Training seconds at the end of the last epoch seen.
    last_wall: f64,
    /// Per stage: images and training seconds of its finished epochs, and the update count
    /// when it began.
    stage_totals: Vec<StageTotals>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct StageTotals {
    images: f64,
    seconds: f64,
    first_update: u64,
}

impl SummaryBuilder {
    /// A builder for a run whose header it will not see (the trainer's own).
    pub fn for_run(name: &str, train_size: usize, baseline_updates: usize) -> SummaryBuilder {
        SummaryBuilder {
            summary: Summary {
                name: name.to_string(),
                baseline_updates,
                ..Summary::default()
            },
            train_size,
            ..SummaryBuilder::default()
        }
    }

    /// The summary of every event given so far.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> SummaryBuilder {
        let mut b = SummaryBuilder::default();
        for e in events {
            b.observe(e);
        }
        b
    }

    /// Takes one event into account (kinds that do not bear on the summary are ignored).
    pub fn observe(&mut self, event: &Event) {
        let s = &mut self.summary;
        match event {
            Event::RunStarted(h) => {
                s.name = h.name.clone();
                s.baseline_updates = h.baseline_updates;
                self.train_size = h.train_size;
            }
            Event::Stage(st) => {
                let entry = StageSummary {
                    index: st.index,
                    batch: st.batch,
                    lr: st.lr,
                    ..StageSummary::default()
                };
                let totals = StageTotals {
                    first_update: st.update,
                    ..StageTotals::default()
                };
                match s.stages.iter().position(|x| x.index == st.index) {
                    Some(i) => {
                        s.stages[i] = entry;
                        self.stage_totals[i] = totals;
                    }
                    None => {
                        s.stages.push(entry);
                        self.stage_totals.push(totals);
                    }
                }
            }
            Event::Step(st) => self.updates_reached(st.update),
            Event::Epoch(e) => {
                self.updates_reached(e.updates);
                let s = &mut self.summary;
                s.epochs = e.epoch;
                s.final_test_acc = e.test_acc;
                s.final_train_loss = e.train_loss;
                s.final_test_loss = e.test_loss;
                s.wall = e.wall;
                s.train_wall = e.train_wall;
                if !self.has_epoch || e.test_acc > s.best_test_acc {
                    s.best_test_acc = e.test_acc;
                    s.best_epoch = e.epoch;
                }
                self.has_epoch = true;
                // Throughput is of training time: evaluations are no part of it.
                let seconds = (e.train_seconds() - self.last_wall).max(0.0);
                self.last_wall = e.train_seconds();
                let images = match self.train_size {
                    0 => e.images_per_sec * seconds,
                    n => n as f64,
                };
                if let (Some(stage), Some(t)) = (s.stages.last_mut(), self.stage_totals.last_mut())
                {
                    stage.epochs += 1;
                    t.images += images;
                    t.seconds += seconds;
                    if t.seconds > 0.0 {
                        stage.images_per_sec = t.images / t.seconds;
                    }
                }
            }
            _ => {}
        }
    }

    fn updates_reached(&mut self, update: u64) {
        let s = &mut self.summary;
        s.updates = s.updates.max(update);
        if let (Some(stage), Some(t)) = (s.stages.last_mut(), self.stage_totals.last()) {
            stage.updates = stage.updates.max(update.saturating_sub(t.first_update));
        }
    }

    /// The summary as of now.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// The best test accuracy and its epoch, once an epoch has been seen.
    pub fn best(&self) -> Option<(f64, usize)> {
        self.has_epoch
            .then_some((self.summary.best_test_acc, self.summary.best_epoch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{EpochEvent, RunStarted, StageEvent, StepEvent};

    fn header() -> Event {
        Event::RunStarted(RunStarted {
            name: "r".into(),
            config: serde_json::Value::Null,
            train_size: 1000,
            test_size: 100,
            data: "synthetic".into(),
            device: "cpu".into(),
            model: "resnet8".into(),
            params: 1,
            epochs: 3,
            stages: vec![],
            planned_updates: 30,
            baseline_updates: 40,
            resumed_from: None,
            workers: Vec::new(),
        })
    }

    fn stage(index: usize, epoch: usize, update: u64, batch: usize) -> Event {
        Event::Stage(StageEvent {
            index,
            epoch,
            update,
            batch,
            micro_batch: batch,
            accumulation: 1,
            lr: 0.1,
            momentum: 0.9,
            noise_scale: 1.0,
            reason: None,
        })
    }

    fn epoch(epoch: usize, updates: u64, acc: f64, wall: f64) -> Event {
        Event::Epoch(EpochEvent {
            epoch,
            train_loss: 1.0 / epoch as f64,
            train_acc: 0.5,
            test_loss: 1.0,
            test_acc: acc,
            updates,
            wall,
            images_per_sec: 1000.0 / wall,
            eval_seconds: 0.0,
            train_wall: None,
        })
    }

    #[test]
    fn ties_go_to_the_first_epoch_and_stages_are_totals_over_seconds() {
        let events = [
            header(),
            stage(0, 1, 0, 100),
            epoch(1, 10, 0.6, 10.0),
            epoch(2, 20, 0.7, 15.0),
            stage(1, 3, 20, 500),
            Event::Step(StepEvent {
                update: 21,
                epoch: 3,
                epoch_progress: 0.5,
                loss: 1.0,
                acc: 0.5,
                lr: 0.1,
                batch: 500,
                images_per_sec: 1.0,
                parallel: None,
            }),
            epoch(3, 22, 0.7, 35.0),
        ];
        let s = SummaryBuilder::from_events(&events).summary().clone();
        assert_eq!(
            (s.best_test_acc, s.best_epoch),
            (0.7, 2),
            "a tie keeps the first"
        );
        assert_eq!((s.epochs, s.updates, s.baseline_updates), (3, 22, 40));
        // Stage 0: 2,000 images in 15 s, not the mean of 100 and 200 images/s.
        assert!((s.stages[0].images_per_sec - 2000.0 / 15.0).abs() < 1e-9);
        assert_eq!((s.stages[0].epochs, s.stages[0].updates), (2, 20));
        assert_eq!((s.stages[1].epochs, s.stages[1].updates), (1, 2));
        assert!((s.stages[1].images_per_sec - 1000.0 / 20.0).abs() < 1e-9);
    }

    #[test]
    fn the_first_epoch_is_the_best_until_beaten_even_at_zero() {
        let mut b = SummaryBuilder::default();
        assert_eq!(b.best(), None);
        b.observe(&epoch(1, 10, 0.0, 1.0));
        assert_eq!(b.best(), Some((0.0, 1)));
        b.observe(&epoch(2, 20, 0.1, 2.0));
        assert_eq!(b.best(), Some((0.1, 2)));
    }
}
