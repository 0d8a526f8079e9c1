//! What is known about one run, built only from its events: the plan, the stages seen, bounded
//! curve histories, resources, checkpoints and the notable-events log. Owns every figure the
//! panels show (progress, ETA, updates saved); must never read a clock, a key or a terminal, so
//! replaying the same events always gives the same picture.

use std::collections::VecDeque;

use crate::events::{
    CheckpointEvent, EpochEvent, EvalProgress, Event, NoiseScaleEvent, ParallelTotals, PauseEvent,
    Record, ResourcesEvent, RunStarted, StageEvent, StagePlan, StepEvent, Summary, SummaryBuilder,
};

use super::history::{Ema, Point, Series};

/// Smoothing weight of the loss and accuracy EMA, per update.
pub const EMA_WEIGHT: f64 = 0.95;
/// Lines kept in the notable-events log.
const LOG_LINES: usize = 200;
/// Resource samples kept for sparklines.
const RESOURCE_SAMPLES: usize = 240;

/// How a log line is coloured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Plain information (stage change, resume).
    Info,
    /// Something good (checkpoint written, finished).
    Good,
    /// A warning.
    Warn,
    /// A failure.
    Bad,
}

/// One line in the notable-events log.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    /// Run time of the event, seconds.
    pub t: f64,
    /// Colour class.
    pub level: Level,
    /// The text.
    pub text: String,
}

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
#[derive(Clone, Debug)]
pub struct RunState {
    /// The header event.
    pub started: Option<RunStarted>,
    /// Stage events in arrival order.
    pub stages: Vec<StageEvent>,
    /// The latest step.
    pub step: Option<StepEvent>,
    /// Raw batch loss per update.
    pub loss: Series,
    /// Smoothed batch loss per update.
    pub loss_ema: Series,
    /// Smoothed batch accuracy per update.
    pub acc_ema: Series,
    /// Throughput per update.
    pub ips: Series,
    /// Measured gradient noise scale B_simple.
    pub noise: Series,
    /// Batch size per update (for the noise chart).
    pub batch: Series,
    /// Finished epochs with their evaluation.
    pub epochs: Vec<EpochEvent>,
    /// The evaluation in progress, until its epoch's result arrives.
    pub evaluating: Option<EvalProgress>,
    /// Latest noise-scale estimate.
    pub noise_last: Option<NoiseScaleEvent>,
    /// Latest resource sample.
    pub resources: Option<ResourcesEvent>,
    /// Recent CPU (or GPU, when known) utilisation samples, percent.
    pub util_hist: VecDeque<f64>,
    /// Sums over the data-parallel updates seen (all zero for one process).
    pub parallel: ParallelTotals,
    /// Latest checkpoint written.
    pub checkpoint: Option<CheckpointEvent>,
    /// Set while the trainer reports itself paused.
    pub paused: Option<PauseEvent>,
    /// Set when the run completed.
    pub finished: Option<Summary>,
    /// Set when the run failed, with the message.
    pub failed: Option<String>,
    /// Warnings seen.
    pub warnings: usize,
    /// Notable events, newest last.
    pub log: VecDeque<LogLine>,
    /// Time of the latest event, seconds since the run started.
    pub t: f64,
    /// Events applied.
    pub records: u64,
    /// The run's summary from the events shown (best epoch, per-stage figures).
    summary: SummaryBuilder,
    loss_avg: Ema,
    acc_avg: Ema,
}

impl Default for RunState {
    fn default() -> Self {
        RunState {
            started: None,
            stages: Vec::new(),
            step: None,
            loss: Series::default(),
            loss_ema: Series::default(),
            acc_ema: Series::default(),
            ips: Series::default(),
            noise: Series::new(256, 256),
            batch: Series::new(256, 256),
            epochs: Vec::new(),
            evaluating: None,
            noise_last: None,
            resources: None,
            util_hist: VecDeque::with_capacity(RESOURCE_SAMPLES),
            parallel: ParallelTotals::default(),
            checkpoint: None,
            paused: None,
            finished: None,
            failed: None,
            warnings: 0,
            log: VecDeque::with_capacity(LOG_LINES),
            t: 0.0,
            records: 0,
            summary: SummaryBuilder::default(),
            loss_avg: Ema::new(EMA_WEIGHT),
            acc_avg: Ema::new(EMA_WEIGHT),
        }
    }
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

    /// Applies one event.
    pub fn apply(&mut self, rec: &Record) {
        self.records += 1;
        if rec.t.is_finite() && rec.t > self.t {
            self.t = rec.t;
        }
        let t = rec.t;
        self.summary.observe(&rec.event);
        if !matches!(
            rec.event,
            Event::Evaluating(_) | Event::Resources(_) | Event::NoiseScale(_)
        ) {
            self.evaluating = None;
        }
        match &rec.event {
            Event::RunStarted(r) => {
                if let Some(from) = &r.resumed_from {
                    self.push_log(t, Level::Info, format!("resumed from {from}"));
                }
                self.started = Some(r.clone());
            }
            Event::Stage(s) => {
                if !self.stages.is_empty() || s.index > 0 {
                    let mut text = format!(
                        "stage {} at epoch {}: B {} lr {} m {}",
                        s.index + 1,
                        s.epoch,
                        s.batch,
                        crate::format::lr(s.lr),
                        s.momentum
                    );
                    if let Some(why) = &s.reason {
                        text += &format!(" ({why})");
                    }
                    self.push_log(t, Level::Info, text);
                }
                self.stages.push(s.clone());
            }
            Event::Step(s) => self.apply_step(s),
            Event::Evaluating(e) => self.evaluating = Some(e.clone()),
            Event::Epoch(e) => {
                self.epochs.push(e.clone());
            }
            Event::Resources(r) => {
                let util = r.gpu_util.or(r.cpu_percent);
                if let Some(u) = util.filter(|u| u.is_finite()) {
                    if self.util_hist.len() == RESOURCE_SAMPLES {
                        self.util_hist.pop_front();
                    }
                    self.util_hist.push_back(u);
                }
                self.resources = Some(r.clone());
            }
            Event::NoiseScale(n) => {
                let epoch = self.epoch_at_update(n.update);
                self.noise.push(Point {
                    update: n.update as f64,
                    epoch,
                    y: n.b_simple,
                });
                self.noise_last = Some(n.clone());
            }
            Event::Checkpoint(c) => {
                self.push_log(
                    t,
                    Level::Good,
                    format!("checkpoint ({}) {}", c.reason, file_name(&c.path)),
                );
                self.checkpoint = Some(c.clone());
            }
            Event::Paused(p) => {
                let why = if p.reason.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", p.reason)
                };
                self.push_log(
                    t,
                    Level::Warn,
                    format!("paused at update {}{why}", p.update),
                );
                self.paused = Some(p.clone());
            }
            Event::Resumed(p) => {
                self.push_log(t, Level::Info, resumed_text(p));
                self.paused = None;
            }
            Event::Warning(m) => {
                self.warnings += 1;
                self.push_log(t, Level::Warn, m.message.clone());
            }
            Event::Finished(s) => {
                self.push_log(
                    t,
                    Level::Good,
                    format!(
                        "finished: test acc {:.2}% after {} updates",
                        s.final_test_acc * 100.0,
                        crate::format::count(s.updates)
                    ),
                );
                self.paused = None;
                self.finished = Some(s.clone());
            }
            Event::Failed(m) => {
                self.push_log(t, Level::Bad, format!("failed: {}", m.message));
                self.paused = None;
                self.failed = Some(m.message.clone());
            }
        }
    }

    fn apply_step(&mut self, s: &StepEvent) {
        let p = |y: f64| Point {
            update: s.update as f64,
            epoch: s.epochs_done(),
            y,
        };
        self.loss.push(p(s.loss));
        if let Some(par) = &s.parallel {
            self.parallel.add(par);
        }
        if let Some(v) = self.loss_avg.push(s.loss) {
            self.loss_ema.push(p(v));
        }
        if let Some(v) = self.acc_avg.push(s.acc) {
            self.acc_ema.push(p(v));
        }
        self.ips.push(p(s.images_per_sec));
        // The stage's B, not the step's: the last batch of an epoch is often smaller.
        let nominal = self.stages.last().map_or(s.batch, |st| st.batch);
        self.batch.push(p(nominal as f64));
        self.step = Some(s.clone());
    }

    /// Adds a line to the notable-events log (also used for problems reading a log).
    pub fn push_log(&mut self, t: f64, level: Level, text: String) {
        if self.log.len() == LOG_LINES {
            self.log.pop_front();
        }
        self.log.push_back(LogLine { t, level, text });
    }

    /// True before the first step or epoch result.
    pub fn warming_up(&self) -> bool {
        self.step.is_none() && self.epochs.is_empty()
    }

    /// Training images per epoch (0 before the header).
    pub fn train_size(&self) -> usize {
        self.started.as_ref().map_or(0, |r| r.train_size)
    }

    /// Planned epochs (0 before the header).
    pub fn total_epochs(&self) -> usize {
        self.started.as_ref().map_or(0, |r| r.epochs)
    }

    /// Updates done.
    pub fn update(&self) -> u64 {
        let from_step = self.step.as_ref().map_or(0, |s| s.update);
        let from_epoch = self.epochs.last().map_or(0, |e| e.updates);
        from_step.max(from_epoch)
    }

    /// Position in epochs (completed epochs plus the fraction of the current one).
    pub fn epoch_pos(&self) -> f64 {
        let from_step = self.step.as_ref().map_or(0.0, StepEvent::epochs_done);
        let from_epoch = self.epochs.last().map_or(0.0, |e| e.epoch as f64);
        from_step.max(from_epoch)
    }

    /// The epoch reached at `update`, estimated from the latest step (for events without an epoch).
    fn epoch_at_update(&self, update: u64) -> f64 {
        match &self.step {
            Some(s) if s.update > 0 => s.epochs_done() * update as f64 / s.update as f64,
            _ => 0.0,
        }
    }

    /// Current training throughput, images per second.
    pub fn images_per_sec(&self) -> Option<f64> {
        let v = self
            .step
            .as_ref()
            .map(|s| s.images_per_sec)
            .or(self.epochs.last().map(|e| e.images_per_sec))?;
        (v.is_finite() && v > 0.0).then_some(v)
    }

    /// Seconds left to reach epoch position `target`: training at the current throughput plus
    /// the evaluations at the ends of the epochs in between, each as long as the mean one so far.
    pub fn eta_to(&self, target: f64) -> Option<f64> {
        let ips = self.images_per_sec()?;
        let left = (target - self.epoch_pos()).max(0.0) * self.train_size() as f64;
        let evals_left = (target.ceil() as usize).saturating_sub(self.epochs.len());
        // The evaluation under way is partly done.
        let under_way = self
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
        let n = self.epochs.len();
        if n == 0 {
            return 0.0;
        }
        self.epochs.iter().map(|e| e.eval_seconds).sum::<f64>() / n as f64
    }

    /// Seconds of training left for the whole run (None once it ended).
    pub fn eta(&self) -> Option<f64> {
        if self.finished.is_some() || self.failed.is_some() {
            return None;
        }
        self.eta_to(self.total_epochs() as f64)
    }

    /// Where the decay-LR baseline (fixed initial batch) would be at the current epoch position.
    pub fn baseline_updates_now(&self) -> Option<f64> {
        let r = self.started.as_ref()?;
        (r.epochs > 0).then(|| r.baseline_updates as f64 * self.epoch_pos() / r.epochs as f64)
    }

    /// The schedule as the timeline shows it: the plan, with what actually happened laid over it.
    pub fn stage_rows(&self) -> Vec<StageRow> {
        let mut rows: Vec<StageRow> = self
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
        for s in &self.stages {
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
        if self.finished.is_some() {
            return self.update();
        }
        let header = self
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
        self.summary.best()
    }

    /// Where each stage after the first began: (update, epoch).
    pub fn stage_changes(&self) -> Vec<(f64, f64, usize)> {
        self.stages
            .iter()
            .filter(|s| s.index > 0 || s.epochs_done() > 0)
            .map(|s| (s.update as f64, s.epochs_done() as f64, s.batch))
            .collect()
    }
}

/// The events panel's line for a `resumed` event: the checkpoint a resumed run started from (by
/// file name), or the end of a pause.
pub fn resumed_text(p: &PauseEvent) -> String {
    match p.reason.strip_prefix("resumed from ") {
        Some(from) => format!(
            "resumed from {} at update {}",
            file_name(from),
            crate::format::count(p.update)
        ),
        None => format!("resumed at update {}", crate::format::count(p.update)),
    }
}

/// The last part of a path as written in a log (`checkpoints/0003-000000048.safetensors` →
/// `0003-000000048.safetensors`): the part that tells checkpoints apart.
pub fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
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
        let evals_left = s.total_epochs() - s.epochs.len();
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
            (again.update(), again.epoch_pos(), again.t),
            (s.update(), s.epoch_pos(), s.t)
        );
        assert_eq!(
            again.loss_ema.last(),
            s.loss_ema.last(),
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
        assert!(all.finished.is_some());
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
                Event::Warning(crate::events::MessageEvent {
                    message: format!("w{i}"),
                }),
            ));
        }
        assert_eq!(s.log.len(), LOG_LINES);
        assert_eq!(s.warnings, 500);
        assert_eq!(s.log.back().unwrap().text, "w499");
        assert_eq!(s.t, 499.0);
    }
}
