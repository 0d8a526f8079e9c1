//! What is known about one run, built only from its events, grouped by what each panel draws:
//! the header and progress ([`Progress`]), the charts' named series ([`Curves`]), the stage
//! timeline ([`Stages`]), the resources ([`Resources`]) and the notable-events log
//! ([`EventLog`]); each group applies the events it needs. Owns every figure the panels show
//! (progress, ETA, updates saved), computed across the groups; must never read a clock, a key
//! or a terminal, so replaying the same events always gives the same picture.

mod curves;
mod log;
mod progress;
mod resources;
mod stages;

pub use curves::{tags, Curves, EMA_WEIGHT};
pub use log::{EventLog, Level, LogLine, LOG_LINES};
pub use progress::Progress;
pub use resources::Resources;
pub use stages::Stages;

pub use crate::events::line::file_name;
use crate::events::{Record, StagePlan, StepEvent};

/// One stage of the schedule as the timeline shows it: the plan, refined by what happened.
#[derive(Clone, Debug, PartialEq)]
pub struct StageRow {
    /// Stage index.
    pub index: usize,
    /// Its epochs and values: the planned ones, or what the stage event said once it began.
    pub plan: StagePlan,
    /// Micro-batch and accumulation steps, once the stage has started.
    pub execution: Option<(usize, usize)>,
    /// Update count at which the stage started, once it has.
    pub start_update: Option<u64>,
}

/// Everything known about one run.
#[derive(Clone, Debug, Default)]
pub struct RunState {
    /// The header and progress panels' part.
    pub progress: Progress,
    /// The charts' named series.
    pub curves: Curves,
    /// The stage timeline's part.
    pub stages: Stages,
    /// The resources panel's part.
    pub resources: Resources,
    /// The notable-events log.
    pub log: EventLog,
}

impl RunState {
    /// State after applying `records` in order.
    pub fn from_records(records: &[Record]) -> Self {
        let mut s = RunState::default();
        for r in records {
            s.apply(r);
        }
        s
    }

    /// Applies one event to every group (each sees the others as they were before it).
    pub fn apply(&mut self, rec: &Record) {
        let before = log::Before {
            planned_stages: self.progress.started.as_ref().map(|r| r.stages.len()),
            stages_seen: self.stages.seen.len(),
        };
        self.log.apply(rec, before);
        self.curves.apply(rec, &self.progress, &self.stages);
        self.stages.apply(rec);
        self.resources.apply(rec);
        self.progress.apply(rec);
    }

    /// Adds a line to the notable-events log (problems reading a log).
    pub fn push_log(&mut self, t: f64, level: Level, text: String) {
        self.log.push(t, level, text);
    }

    /// True before the first step or epoch result.
    pub fn warming_up(&self) -> bool {
        self.progress.step.is_none() && self.progress.epochs.is_empty()
    }

    /// Training images per epoch (0 before the header).
    pub fn train_size(&self) -> usize {
        self.progress.started.as_ref().map_or(0, |r| r.train_size)
    }

    /// Planned epochs (0 before the header).
    pub fn total_epochs(&self) -> usize {
        self.progress.started.as_ref().map_or(0, |r| r.epochs)
    }

    /// Updates done.
    pub fn update(&self) -> u64 {
        let from_step = self.progress.step.as_ref().map_or(0, |s| s.update);
        let from_epoch = self.progress.epochs.last().map_or(0, |e| e.updates);
        from_step.max(from_epoch)
    }

    /// Position in epochs (completed epochs plus the fraction of the current one).
    pub fn epoch_pos(&self) -> f64 {
        let from_step = self
            .progress
            .step
            .as_ref()
            .map_or(0.0, StepEvent::epochs_done);
        let from_epoch = self.progress.epochs.last().map_or(0.0, |e| e.epoch as f64);
        from_step.max(from_epoch)
    }

    /// Current training throughput, images per second.
    pub fn images_per_sec(&self) -> Option<f64> {
        let v = self
            .progress
            .step
            .as_ref()
            .map(|s| s.images_per_sec)
            .or(self.progress.epochs.last().map(|e| e.images_per_sec))?;
        (v.is_finite() && v > 0.0).then_some(v)
    }

    /// Seconds left to reach epoch position `target`: training at the current throughput plus
    /// the evaluations at the ends of the epochs in between, each as long as the mean one so far.
    pub fn eta_to(&self, target: f64) -> Option<f64> {
        let ips = self.images_per_sec()?;
        let left = (target - self.epoch_pos()).max(0.0) * self.train_size() as f64;
        let evals_left = (target.ceil() as usize).saturating_sub(self.progress.epochs.len());
        // The evaluation under way is partly done.
        let under_way = self
            .progress
            .evaluating
            .as_ref()
            .filter(|_| evals_left > 0)
            .map_or(0.0, |e| e.done as f64 / e.total.max(1) as f64);
        (self.train_size() > 0).then(|| {
            left / ips + (evals_left as f64 - under_way).max(0.0) * self.mean_eval_seconds()
        })
    }

    /// Mean seconds of the evaluations logged so far (0 before the first, or for older logs).
    pub fn mean_eval_seconds(&self) -> f64 {
        let n = self.progress.epochs.len();
        if n == 0 {
            return 0.0;
        }
        self.progress
            .epochs
            .iter()
            .map(|e| e.eval_seconds)
            .sum::<f64>()
            / n as f64
    }

    /// Seconds of training left for the whole run (None once it ended).
    pub fn eta(&self) -> Option<f64> {
        if self.progress.finished.is_some() || self.progress.failed.is_some() {
            return None;
        }
        self.eta_to(self.total_epochs() as f64)
    }

    /// Where the decay-LR baseline (fixed initial batch) would be at the current epoch position.
    pub fn baseline_updates_now(&self) -> Option<f64> {
        let r = self.progress.started.as_ref()?;
        (r.epochs > 0).then(|| r.baseline_updates as f64 * self.epoch_pos() / r.epochs as f64)
    }

    /// The schedule as the timeline shows it: the plan, with what actually happened laid over it.
    pub fn stage_rows(&self) -> Vec<StageRow> {
        let mut rows: Vec<StageRow> = self
            .progress
            .started
            .iter()
            .flat_map(|r| r.stages.iter())
            .enumerate()
            .map(|(index, p)| StageRow {
                index,
                plan: p.clone(),
                execution: None,
                start_update: None,
            })
            .collect();
        for s in &self.stages.seen {
            let end = rows.get(s.index).map_or(s.epochs_done() + 1, |r| {
                r.plan.end_epoch.max(s.epochs_done() + 1)
            });
            let row = StageRow {
                index: s.index,
                plan: s.plan(end),
                execution: Some((s.micro_batch, s.accumulation)),
                start_update: Some(s.update),
            };
            match rows.get_mut(s.index) {
                Some(r) => *r = row,
                None => rows.push(row),
            }
        }
        rows.sort_by_key(|r| r.index);
        // An adaptive schedule learns its stages as it goes: each known stage ends where the next begins.
        for i in 1..rows.len() {
            rows[i - 1].plan.end_epoch = rows[i].plan.start_epoch.max(rows[i - 1].plan.start_epoch);
        }
        let total = self.total_epochs();
        if let Some(last) = rows.last_mut() {
            if total > last.plan.start_epoch {
                last.plan.end_epoch = total;
            }
        }
        rows
    }

    /// Updates the run takes as far as its events tell: the updates done once it finished, else
    /// ⌈N/B⌉ per epoch of the stages as now known. For a planned schedule that is the header's
    /// plan; an adaptive one plans its later stages as it goes, and this follows them.
    pub fn planned_updates(&self) -> u64 {
        if self.progress.finished.is_some() {
            return self.update();
        }
        let header = self
            .progress
            .started
            .as_ref()
            .map_or(0, |r| r.planned_updates as u64);
        let n = self.train_size();
        let rows = self.stage_rows();
        if n == 0 || rows.is_empty() {
            return header;
        }
        rows.iter()
            .map(|r| {
                (r.plan.end_epoch.saturating_sub(r.plan.start_epoch)) as u64
                    * n.div_ceil(r.plan.batch.max(1)) as u64
            })
            .sum()
    }

    /// Index into [`RunState::stage_rows`] of the stage in progress.
    pub fn current_stage(&self, rows: &[StageRow]) -> Option<usize> {
        if let Some(s) = self.stages.last() {
            return rows.iter().position(|r| r.index == s.index);
        }
        let pos = self.epoch_pos();
        rows.iter()
            .position(|r| (r.plan.start_epoch as f64) <= pos && pos < r.plan.end_epoch as f64)
    }

    /// Best test accuracy so far and its epoch (the run summary's, so the UI, the lines and
    /// `summary.json` agree).
    pub fn best_test_acc(&self) -> Option<(f64, usize)> {
        self.progress.summary.best()
    }

    /// Where each stage after the first began: (update, epoch, B).
    pub fn stage_changes(&self) -> Vec<(f64, f64, usize)> {
        self.stages.changes()
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;

    #[test]
    fn progress_figures_come_from_event_times_only() {
        let recs = fixture::demo_records();
        let mid = fixture::cut_at_update(&recs, 1000);
        let s = RunState::from_records(&mid);
        assert_eq!(s.update(), 1000);
        assert!(
            s.epoch_pos() > 2.0 && s.epoch_pos() < 3.0,
            "{}",
            s.epoch_pos()
        );
        let ips = s.images_per_sec().unwrap();
        let eta = s.eta().unwrap();
        let evals_left = s.total_epochs() - s.progress.epochs.len();
        assert!(s.mean_eval_seconds() > 0.0, "evaluations take time");
        let expect = (s.total_epochs() as f64 - s.epoch_pos()) * s.train_size() as f64 / ips
            + evals_left as f64 * s.mean_eval_seconds();
        assert!((eta - expect).abs() < 1e-6);
        let base = s.baseline_updates_now().unwrap();
        assert!(
            base > 1000.0 - 1.0,
            "before the first change the plan and the baseline agree: {base}"
        );
        let again = RunState::from_records(&mid);
        assert_eq!(
            (again.update(), again.epoch_pos(), again.progress.t),
            (s.update(), s.epoch_pos(), s.progress.t)
        );
        assert_eq!(
            again.curves.track(tags::LOSS_EMA).last(),
            s.curves.track(tags::LOSS_EMA).last(),
            "same events, same state"
        );
    }

    #[test]
    fn stages_follow_the_plan_and_the_events() {
        let recs = fixture::demo_records();
        let all = RunState::from_records(&recs);
        let rows = all.stage_rows();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows.iter().map(|r| r.plan.batch).collect::<Vec<_>>(),
            vec![128, 640, 3200]
        );
        assert!(rows.iter().all(|r| r.start_update.is_some()));
        assert_eq!(all.current_stage(&rows), Some(2));
        assert_eq!(all.stage_changes().len(), 2);
        assert!(all.progress.finished.is_some());
        assert!(all.eta().is_none());

        let early = RunState::from_records(&fixture::cut_at_update(&recs, 10));
        let rows = early.stage_rows();
        assert_eq!(early.current_stage(&rows), Some(0));
        assert_eq!(
            rows[1].start_update, None,
            "future stages come from the plan"
        );
    }

    #[test]
    fn log_is_bounded_and_records_notable_events() {
        let mut s = RunState::default();
        for i in 0..500 {
            s.apply(&Record::new(
                i as f64,
                crate::events::Event::Warning(crate::events::MessageEvent {
                    message: format!("w{i}"),
                }),
            ));
        }
        assert_eq!(s.log.len(), LOG_LINES);
        assert_eq!(s.log.warnings, 500);
        assert_eq!(s.log.back().unwrap().text, "warning: w499");
        assert_eq!(s.progress.t, 499.0);
    }
}
