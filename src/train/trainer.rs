//! The training loop: stages from the schedule, batches from the loader, micro-batched updates,
//! evaluation after every epoch, checkpoints, and control (pause, checkpoint, stop) at update
//! boundaries. Runs on its own thread and talks only through its event sink and the control
//! channel; must never touch the terminal, and never describes the run (the caller writes the
//! header: [`crate::train::session`]).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use candle_core::{Device, Tensor};
use crossbeam_channel::{Receiver, TryRecvError};

use crate::config::RunConfig;
use crate::data::loader::{Loader, LoaderCursor, Normalization};
use crate::data::Cifar;
use crate::events::{
    epoch, CheckpointEvent, Control, EpochEvent, EvalProgress, Event, MessageEvent,
    NoiseScaleEvent, PauseEvent, PauseReason, StageEvent, StepEvent, Summary,
};
use crate::parallel::collective::{Collective, CollectiveError};
use crate::schedule::Schedule;
use crate::train::checkpoint::{
    Checkpoint, CheckpointMeta, CheckpointReason, Checkpoints, TrainState, Written,
    CHECKPOINT_FORMAT,
};
use crate::train::engine::{Engine, Faults, Oversight, Shrink, Update};
use crate::train::error::TrainError;
use crate::train::noise::NoiseMeter;
use crate::train::progress::Progress;
use crate::train::sink::EventSink;
use crate::train::step::BatchGradient;

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// All epochs done.
    Finished(Summary),
    /// Stopped on request; the final checkpoint, when one was asked for and written.
    Stopped(Option<PathBuf>),
    /// The loss became non-finite; the last good state was checkpointed.
    Diverged(Option<PathBuf>),
}

/// What the trainer is given besides the config.
pub struct TrainSetup {
    /// The resolved config.
    pub config: RunConfig,
    /// The loaded data set (already limited to the configured subsets).
    pub data: Cifar,
    /// Where the data came from, kept in checkpoints so a resume finds it again.
    pub data_label: String,
    /// The device to train on.
    pub device: Device,
    /// The run directory, where checkpoints go; `None` on the workers that do not own the run.
    pub run_dir: Option<PathBuf>,
    /// The workers this run is shared with ([`crate::parallel::collective::Local`] for one).
    pub comm: Box<dyn Collective>,
    /// Where events go.
    pub events: EventSink,
    /// Pause instead of stopping on a non-finite loss (interactive runs).
    pub pause_on_non_finite: bool,
    /// Injected failures (tests).
    pub faults: Faults,
}

/// The training loop for one run: the engine that makes updates, and everything around them.
pub struct Trainer {
    cfg: RunConfig,
    events: EventSink,
    pause_on_non_finite: bool,
    engine: Engine,
    schedule: Schedule,
    loader: Loader,
    test: Vec<(Vec<f32>, Vec<u32>)>,
    progress: Progress,
    noise: NoiseMeter,
    checkpoints: Option<Checkpoints>,
    data_label: String,
    /// A stop asked for (with a checkpoint when true), to be agreed with the other workers at
    /// the next update, or heard while an update was under way.
    stopping: Option<bool>,
    /// Commands heard while an update was under way, obeyed at the next update boundary.
    deferred: VecDeque<Control>,
    /// When the pause in progress began.
    paused_since: Option<Instant>,
}

/// What the engine hears from the trainer during an update: whether to stop (a stop command
/// on the control channel; the others wait for the update boundary), and where its warnings go.
struct Watch<'a> {
    control: &'a Receiver<Control>,
    deferred: &'a mut VecDeque<Control>,
    stopping: &'a mut Option<bool>,
    events: &'a EventSink,
    progress: &'a mut Progress,
}

impl Oversight for Watch<'_> {
    fn stop_requested(&mut self) -> bool {
        while self.stopping.is_none() {
            match self.control.try_recv() {
                Ok(Control::Stop { checkpoint }) => *self.stopping = Some(checkpoint),
                Ok(other) => self.deferred.push_back(other),
                Err(_) => break,
            }
        }
        self.stopping.is_some()
    }

    fn shrunk(&mut self, shrink: &Shrink) {
        let event = Event::Warning(MessageEvent {
            message: shrink.message(self.progress.update + 1),
        });
        self.progress.observe(&event);
        self.events.emit(event);
    }
}

impl Trainer {
    /// Builds the model, optimizer, schedule and loader for a fresh run.
    pub fn new(setup: TrainSetup) -> Result<Trainer, TrainError> {
        let cfg = setup.config;
        let classes = setup.data.classes.len().max(10);
        let engine = Engine::new(&cfg, classes, setup.device, setup.comm, setup.faults)?;
        let train = Arc::new(setup.data.train);
        let norm = Normalization::from_dataset(&train);
        let schedule = Schedule::new(&cfg, train.len());
        let progress =
            Progress::start(&cfg.name, train.len(), schedule.baseline_updates() as usize);
        let loader = Loader::new(train, norm.clone(), cfg.seed, cfg.data.augment);
        let test: Vec<(Vec<f32>, Vec<u32>)> =
            crate::data::loader::test_batches(&setup.data.test, &norm, cfg.data.eval_batch)
                .map(|b| (b.images, b.labels))
                .collect();
        Ok(Trainer {
            events: setup.events,
            pause_on_non_finite: setup.pause_on_non_finite,
            engine,
            schedule,
            loader,
            test,
            progress,
            noise: NoiseMeter::new(cfg.noise.ema),
            checkpoints: setup
                .run_dir
                .map(|dir| Checkpoints::new(&dir, cfg.checkpoint.keep_last)),
            data_label: setup.data_label,
            stopping: None,
            deferred: VecDeque::new(),
            paused_since: None,
            cfg,
        })
    }

    /// Restores weights, optimizer, schedule, sampler and totals from `ck`, so the run continues
    /// exactly where the checkpoint was taken.
    pub fn restore(&mut self, ck: Checkpoint) -> Result<(), TrainError> {
        let path = ck.path.display().to_string();
        let mismatch = |message: String| TrainError::Mismatch {
            path: path.clone(),
            message,
        };
        let state = ck.state;
        let diffs = crate::config::differences(&state.meta.config, &self.cfg);
        if !diffs.is_empty() {
            return Err(mismatch(format!(
                "config keys differ: {}",
                diffs.join(", ")
            )));
        }
        self.engine
            .load(&state.model, state.optim)
            .map_err(mismatch)?;
        let prev = match state.noise_prev {
            Some(p) => Some(
                p.into_iter()
                    .map(|t| t.to_device(self.engine.device()))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        let meta = state.meta;
        self.noise = NoiseMeter::restored(meta.noise, prev);
        self.schedule.restore(meta.stages, meta.adaptive);
        self.loader.seek(meta.cursor);
        self.progress = meta.progress;
        if let Some(c) = &mut self.checkpoints {
            c.resumed_from(ck.path);
        }
        Ok(())
    }

    /// The workers this run is shared with.
    pub fn collective(&mut self) -> &mut dyn Collective {
        self.engine.collective()
    }

    /// A checksum of the parameters and batch-norm buffers, equal on workers that start alike.
    pub fn param_checksum(&self) -> Result<u32, TrainError> {
        self.engine.param_checksum()
    }

    /// Number of trainable parameters.
    pub fn param_count(&self) -> usize {
        self.engine.param_count()
    }

    /// The schedule in force.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Where the run stands.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Trains until the last epoch, a stop request, or a non-finite loss.
    pub fn run(&mut self, control: &Receiver<Control>) -> Result<Outcome, TrainError> {
        match self.train(control) {
            // Interrupted waiting for the other workers: the state is that of the last update
            // applied (a checkpoint, if it must be written, comes from there).
            Err(TrainError::Collective(CollectiveError::Interrupted)) => {
                self.warn(format!(
                    "interrupted while waiting for the other workers (a signal, or another worker ended): stopping after update {}",
                    self.progress.update
                ));
                let path = self.checkpoint(CheckpointReason::Interrupt)?;
                Ok(Outcome::Stopped(path))
            }
            other => other,
        }
    }

    fn train(&mut self, control: &Receiver<Control>) -> Result<Outcome, TrainError> {
        let mut ips = Throughput::default();
        while self.progress.epoch < self.schedule.epochs() {
            let epoch = self.progress.epoch;
            self.announce_stage();
            let stage = self.schedule.stage(epoch).clone();
            loop {
                if let Some(outcome) = self.handle_control(control, false)? {
                    return Ok(outcome);
                }
                let started = Instant::now();
                let batch = self.loader.next_batch(stage.batch);
                let rewind = LoaderCursor {
                    epoch: batch.epoch,
                    position: batch.first_position,
                };
                let measure = self.cfg.noise.enabled
                    && self.progress.update.is_multiple_of(self.cfg.noise.every);
                let mut watch = Watch {
                    control,
                    deferred: &mut self.deferred,
                    stopping: &mut self.stopping,
                    events: &self.events,
                    progress: &mut self.progress,
                };
                let applied =
                    match self
                        .engine
                        .update(&batch.images, &batch.labels, measure, &mut watch)
                    {
                        Ok(Update::Applied(applied)) => applied,
                        Ok(Update::Stopped) => {
                            // Every worker stops here, before this batch, with the state of the
                            // last whole update.
                            self.loader.seek(rewind);
                            let path = match self.stopping.take() {
                                Some(false) => None,
                                _ => self.checkpoint(CheckpointReason::Interrupt)?,
                            };
                            return Ok(Outcome::Stopped(path));
                        }
                        Ok(Update::NonFinite { loss }) => {
                            // Roll the sampler back so the batch is retried after a pause; the
                            // weights and batch-norm statistics are the last good update's.
                            self.loader.seek(rewind);
                            if let Some(outcome) = self.non_finite(control, loss)? {
                                return Ok(outcome);
                            }
                            continue;
                        }
                        Err(e) => {
                            if matches!(e, TrainError::Collective(CollectiveError::Interrupted)) {
                                self.loader.seek(rewind);
                            }
                            return Err(e);
                        }
                    };
                if measure {
                    self.measure_noise(&applied.gradient, stage.batch)?;
                }
                let g = &applied.gradient;
                let seconds = started.elapsed().as_secs_f64();
                self.progress
                    .record_step(g.loss_sum, g.correct, g.count, seconds);
                self.emit(Event::Step(StepEvent {
                    update: self.progress.update,
                    epoch: epoch::number(epoch),
                    epoch_progress: (batch.first_position + batch.len) as f64
                        / self.loader.len() as f64,
                    loss: applied.loss(),
                    acc: applied.accuracy(),
                    lr: stage.lr,
                    batch: g.count,
                    images_per_sec: ips.add(g.count, seconds),
                    parallel: applied.parallel,
                }));
                if batch.last_in_epoch {
                    break;
                }
            }
            self.finish_epoch()?;
        }
        if self.cfg.checkpoint.every_epochs > 0 || self.cfg.checkpoint.at_stage_change {
            self.checkpoint(CheckpointReason::Final)?;
        }
        // The whole run's time, its last evaluation and checkpoint included.
        let summary = Summary {
            wall: self.wall(),
            ..self.progress.summary()
        };
        self.emit(Event::Finished(summary.clone()));
        Ok(Outcome::Finished(summary))
    }

    fn announce_stage(&mut self) {
        let epoch = self.progress.epoch;
        let index = self.schedule.stage_index(epoch);
        if self.progress.stage_index == Some(index) {
            return;
        }
        let stage = self.schedule.stage(epoch).clone();
        self.engine.set_hyperparameters(stage.lr, stage.momentum);
        self.progress.stage_index = Some(index);
        self.emit(Event::Stage(StageEvent {
            index,
            epoch: epoch::number(epoch),
            update: self.progress.update,
            batch: stage.batch,
            micro_batch: self.engine.micro().size(stage.batch),
            accumulation: self.engine.micro().accumulation(stage.batch),
            lr: stage.lr,
            momentum: stage.momentum,
            noise_scale: stage.noise_scale,
            reason: stage.reason.clone(),
        }));
    }

    /// Keeps lr and momentum in step with the stage after a resume (the stage event is in the log already).
    fn sync_stage_hyperparameters(&mut self) {
        let stage = self.schedule.stage(self.progress.epoch).clone();
        self.engine.set_hyperparameters(stage.lr, stage.momentum);
    }

    /// Seconds the run has taken so far, pauses excluded: what `wall` reports.
    fn wall(&self) -> f64 {
        (self.events.elapsed() - self.paused_seconds()).max(0.0)
    }

    fn finish_epoch(&mut self) -> Result<(), TrainError> {
        let eval_started = std::time::Instant::now();
        let total: usize = self.test.iter().map(|(_, l)| l.len()).sum();
        let mut report = EvalReport::new(
            self.events.clone(),
            epoch::number(self.progress.epoch),
            total,
        );
        // Each worker evaluates its share of the test batches; the sums make the whole.
        let sums = self.engine.evaluate(&self.test, |done| report.at(done))?;
        let (test_loss, test_acc) = sums.mean();
        let wall = self.wall();
        let ev: EpochEvent = self.progress.end_epoch(
            test_loss,
            test_acc,
            eval_started.elapsed().as_secs_f64(),
            wall,
        );
        // The schedule counts epochs done.
        let finished_epoch = epoch::done_before(ev.epoch);
        let train_loss = ev.train_loss;
        self.emit(Event::Epoch(ev));
        self.schedule
            .observe_epoch(finished_epoch, train_loss, self.noise.scale().b_simple());
        let next = self.progress.epoch;
        if next >= self.schedule.epochs() {
            return Ok(());
        }
        let stage_change =
            self.schedule.stage_index(next) != self.schedule.stage_index(finished_epoch);
        let every = self.cfg.checkpoint.every_epochs;
        if stage_change && self.cfg.checkpoint.at_stage_change {
            self.checkpoint(CheckpointReason::Stage)?;
        } else if every > 0 && next.is_multiple_of(every) {
            self.checkpoint(CheckpointReason::Epoch)?;
        }
        Ok(())
    }

    fn measure_noise(&mut self, g: &BatchGradient, batch: usize) -> Result<(), TrainError> {
        if g.norms.is_none() {
            return Ok(());
        }
        self.noise.observe(g)?;
        let scale = self.noise.scale();
        if let (Some(b), Some(gs), Some(tr)) = (scale.b_simple(), scale.grad_sq(), scale.trace()) {
            self.emit(Event::NoiseScale(NoiseScaleEvent {
                update: self.progress.update + 1,
                b_simple: b,
                grad_sq: gs,
                trace: tr,
                batch,
            }));
        }
        Ok(())
    }

    /// Applies pending control commands at an update boundary. While paused it blocks on the
    /// channel (holding nothing the UI needs). Returns an outcome when the run must end.
    fn handle_control(
        &mut self,
        control: &Receiver<Control>,
        paused: bool,
    ) -> Result<Option<Outcome>, TrainError> {
        if paused {
            self.paused_since = Some(Instant::now());
        }
        let outcome = self.obey_controls(control);
        self.end_pause();
        outcome
    }

    /// Counts the pause in progress, if any, as paused time: no part of the run's wall time.
    fn end_pause(&mut self) {
        if let Some(since) = self.paused_since.take() {
            self.progress.paused_seconds += since.elapsed().as_secs_f64();
        }
    }

    /// Seconds paused so far, the pause in progress included.
    fn paused_seconds(&self) -> f64 {
        self.progress.paused_seconds
            + self
                .paused_since
                .map_or(0.0, |since| since.elapsed().as_secs_f64())
    }

    fn obey_controls(
        &mut self,
        control: &Receiver<Control>,
    ) -> Result<Option<Outcome>, TrainError> {
        loop {
            let paused = self.paused_since.is_some();
            let cmd = if let Some(c) = self.deferred.pop_front() {
                c
            } else if paused {
                match control.recv() {
                    Ok(c) => c,
                    // Nobody can resume us any more: stop with a checkpoint rather than hang.
                    Err(_) => Control::Stop { checkpoint: true },
                }
            } else {
                match control.try_recv() {
                    Ok(c) => c,
                    Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => return Ok(None),
                }
            };
            match cmd {
                Control::Pause if !paused => {
                    self.paused_since = Some(Instant::now());
                    self.emit(Event::Paused(PauseEvent {
                        update: self.progress.update,
                        reason: PauseReason::Key,
                    }));
                }
                Control::Resume if paused => {
                    self.end_pause();
                    self.emit(Event::Resumed(PauseEvent {
                        update: self.progress.update,
                        reason: PauseReason::Key,
                    }));
                    self.sync_stage_hyperparameters();
                    return Ok(None);
                }
                Control::Pause | Control::Resume => {}
                Control::Checkpoint => {
                    self.checkpoint(CheckpointReason::Key)?;
                }
                // The other workers must stop at the same update: the next one carries the
                // request to them.
                Control::Stop { checkpoint } if self.engine.collective().world() > 1 => {
                    self.stopping = Some(checkpoint);
                    return Ok(None);
                }
                Control::Stop { checkpoint } => {
                    let path = if checkpoint {
                        self.checkpoint(CheckpointReason::Interrupt)?
                    } else {
                        None
                    };
                    return Ok(Some(Outcome::Stopped(path)));
                }
            }
        }
    }

    fn non_finite(
        &mut self,
        control: &Receiver<Control>,
        loss: f64,
    ) -> Result<Option<Outcome>, TrainError> {
        let message = format!(
            "non-finite loss or gradient (loss {loss}) at update {}: the update was not applied; lower optim.lr or check the data",
            self.progress.update + 1
        );
        self.emit(Event::Warning(MessageEvent {
            message: message.clone(),
        }));
        let path = self.checkpoint(CheckpointReason::Nan)?;
        let saved = path
            .as_ref()
            .map_or("this worker keeps no checkpoints".to_string(), |p| {
                format!("last good state saved to {}", p.display())
            });
        if self.pause_on_non_finite {
            self.emit(Event::Paused(PauseEvent {
                update: self.progress.update,
                reason: PauseReason::NonFiniteLoss,
            }));
            return self.handle_control(control, true);
        }
        self.emit(Event::Failed(MessageEvent {
            message: format!("{message}; {saved}"),
        }));
        Ok(Some(Outcome::Diverged(path)))
    }

    /// The run's state as a checkpoint holds it.
    fn state(&self, reason: CheckpointReason) -> TrainState {
        TrainState {
            meta: CheckpointMeta {
                format: CHECKPOINT_FORMAT,
                config: self.cfg.clone(),
                progress: Progress {
                    paused_seconds: self.paused_seconds(),
                    ..self.progress.clone()
                },
                cursor: self.loader.cursor(),
                stages: self.schedule.stages().to_vec(),
                adaptive: self.schedule.adaptive_state().clone(),
                noise: self.noise.scale().clone(),
                optim_step: self.engine.optim_steps(),
                // +1: the checkpoint event that follows belongs to the kept part of the log.
                log_lines: self.events.emitted() + 1,
                t: self.events.elapsed(),
                reason,
                data: self.data_label.clone(),
            },
            model: self.engine.named_tensors().into_iter().collect(),
            optim: self.engine.optim_state(),
            noise_prev: self.noise.kept_gradient().map(<[Tensor]>::to_vec),
        }
    }

    /// Writes a checkpoint of the current state and reports it (on the worker that owns the
    /// run; the others keep none). A failed write is reported and training goes on from the
    /// last good checkpoint, unless the run ends with this one.
    pub fn checkpoint(&mut self, reason: CheckpointReason) -> Result<Option<PathBuf>, TrainError> {
        let state = self.state(reason);
        let Some(checkpoints) = self.checkpoints.as_mut() else {
            return Ok(None);
        };
        match checkpoints.write(&state) {
            Ok(Written::Saved(path)) => {
                self.emit(Event::Checkpoint(CheckpointEvent {
                    path: path.display().to_string(),
                    epoch: self.progress.checkpoint_epoch(),
                    update: self.progress.update,
                    reason,
                }));
                Ok(Some(path))
            }
            Ok(Written::KeptLast { error, path }) => {
                self.warn(error.to_string());
                Ok(Some(path))
            }
            Err(e) => {
                self.warn(e.to_string());
                Err(e.into())
            }
        }
    }

    fn warn(&mut self, message: String) {
        self.emit(Event::Warning(MessageEvent { message }));
    }

    /// Sends an event out, and into the run's summary.
    fn emit(&mut self, event: Event) {
        self.progress.observe(&event);
        self.events.emit(event);
    }
}

/// Tells how far an evaluation has got: at its start, then at most once a second.
struct EvalReport {
    events: EventSink,
    epoch: usize,
    total: usize,
    last: Option<Instant>,
}

impl EvalReport {
    fn new(events: EventSink, epoch: usize, total: usize) -> EvalReport {
        EvalReport {
            events,
            epoch,
            total,
            last: None,
        }
    }

    /// `done` test images are evaluated.
    fn at(&mut self, done: usize) {
        if self.last.is_some_and(|t| t.elapsed().as_secs_f64() < 1.0) {
            return;
        }
        self.last = Some(Instant::now());
        self.events.emit(Event::Evaluating(EvalProgress {
            epoch: self.epoch,
            done: done.min(self.total),
            total: self.total,
        }));
    }
}

/// Images per second over a sliding window of recent updates.
#[derive(Default)]
struct Throughput {
    window: std::collections::VecDeque<(usize, f64)>,
    images: usize,
    seconds: f64,
}

impl Throughput {
    fn add(&mut self, images: usize, seconds: f64) -> f64 {
        self.window.push_back((images, seconds));
        self.images += images;
        self.seconds += seconds;
        while self.window.len() > 20 {
            let (i, s) = self.window.pop_front().unwrap_or_default();
            self.images -= i;
            self.seconds -= s;
        }
        self.images as f64 / self.seconds.max(1e-9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{synthetic, SyntheticSpec};
    use crate::train::checkpoint;
    use crossbeam_channel::unbounded;

    fn config() -> RunConfig {
        RunConfig::from_toml_str(
            "",
            "test",
            &[
                "schedule.epochs=2".into(),
                "schedule.milestones=[1]".into(),
                "schedule.batch=32".into(),
                "model.ghost_batch=32".into(),
                "hardware.max_micro_batch=32".into(),
                "data.eval_batch=64".into(),
                "checkpoint.every_epochs=0".into(),
            ],
        )
        .unwrap()
    }

    fn trainer(dir: &std::path::Path, events: EventSink) -> Trainer {
        let data = synthetic::generate(&SyntheticSpec {
            train: 256,
            test: 64,
            seed: 0,
        });
        Trainer::new(TrainSetup {
            config: config(),
            data,
            data_label: "synthetic".into(),
            device: Device::Cpu,
            run_dir: Some(dir.to_path_buf()),
            comm: Box::new(crate::parallel::collective::Local),
            events,
            pause_on_non_finite: false,
            faults: Faults::default(),
        })
        .unwrap()
    }

    /// Runs the trainer `build` makes (given its sink) while `react` sees every event and may
    /// send controls; returns the outcome and every event.
    fn run_reacting(
        build: impl FnOnce(EventSink) -> Trainer,
        react: impl Fn(&Event, &crossbeam_channel::Sender<Control>) + Send + 'static,
    ) -> (Outcome, Vec<Event>) {
        let (log_tx, log_rx) = unbounded();
        let (ctl_tx, ctl_rx) = unbounded();
        let mut t = build(EventSink::new(0.0, Some(log_tx), None));
        let watcher = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for rec in log_rx.iter() {
                react(&rec.event, &ctl_tx);
                seen.push(rec.event);
            }
            seen
        });
        let outcome = t.run(&ctl_rx).unwrap();
        // The trainer holds the sink: dropping it ends the watcher's feed.
        drop(t);
        (outcome, watcher.join().unwrap())
    }

    /// Runs to the end (or until `stop_at` updates were seen), returning every event.
    fn run(
        build: impl FnOnce(EventSink) -> Trainer,
        stop_at: Option<u64>,
    ) -> (Outcome, Vec<Event>) {
        run_reacting(build, move |event, control| {
            if let (Some(n), Event::Step(s)) = (stop_at, event) {
                if s.update == n {
                    let _ = control.send(Control::Stop { checkpoint: true });
                }
            }
        })
    }

    /// Step and epoch values (no times or throughput) after update `from`.
    fn values_after(events: &[Event], from: u64) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Step(s) if s.update > from => Some(format!(
                    "s{} {} {:?} {:?} {}",
                    s.update, s.epoch, s.loss, s.acc, s.batch
                )),
                Event::Epoch(e) if e.updates > from => Some(format!(
                    "e{} {:?} {:?} {:?} {:?} {}",
                    e.epoch, e.train_loss, e.train_acc, e.test_loss, e.test_acc, e.updates
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn resume_mid_epoch_and_at_stage_boundary_is_bit_exact() {
        let full_dir = tempfile::tempdir().unwrap();
        let (outcome, full) = run(|s| trainer(full_dir.path(), s), None);
        assert!(matches!(outcome, Outcome::Finished(_)));
        // 8 updates of 32 in epoch 0, then 2 of 160 (×5) in epoch 1.
        assert_eq!(
            values_after(&full, 0)
                .iter()
                .filter(|v| v.starts_with('s'))
                .count(),
            10
        );

        // Interrupted mid-epoch: stop requested after update 3.
        let dir = tempfile::tempdir().unwrap();
        let (outcome, first) = run(|s| trainer(dir.path(), s), Some(3));
        let Outcome::Stopped(Some(path)) = outcome else {
            panic!("expected a stop with checkpoint, got {outcome:?}")
        };
        let ck = checkpoint::load(&path).unwrap();
        let at = ck.state.meta.progress.update;
        assert!((3..8).contains(&at), "stopped mid-epoch, at update {at}");
        assert_eq!(
            values_after(&first, 0)[..at as usize],
            values_after(&full, 0)[..at as usize]
        );
        let resumed = |s| {
            let mut t = trainer(dir.path(), s);
            t.restore(ck).unwrap();
            t
        };
        let (outcome, rest) = run(resumed, None);
        assert!(matches!(outcome, Outcome::Finished(_)));
        assert_eq!(values_after(&rest, at), values_after(&full, at));

        // The stage-change checkpoint written at the end of epoch 0 of the full run.
        let stage_ck = std::fs::read_dir(full_dir.path().join("checkpoints"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("0001-000000008.safetensors")
            })
            .expect("a checkpoint at the stage boundary");
        let ck = checkpoint::load(&stage_ck).unwrap();
        assert_eq!(ck.state.meta.reason, CheckpointReason::Stage);
        let resumed = |s| {
            let mut t = trainer(dir.path(), s);
            t.restore(ck).unwrap();
            t
        };
        let (_, rest) = run(resumed, None);
        assert_eq!(values_after(&rest, 8), values_after(&full, 8));
    }

    /// A stop asked for while a long update runs ends the run between two micro-batches, with
    /// the state of the last whole update, and the resumed run is the uninterrupted one.
    #[test]
    fn a_stop_during_a_long_update_does_not_wait_for_it_and_resumes_bit_exact() {
        let full_dir = tempfile::tempdir().unwrap();
        let (_, full) = run(|s| trainer(full_dir.path(), s), None);
        let dir = tempfile::tempdir().unwrap();
        // Stage 2 (B = 160) is 5 micro-batches of 32, each 600 ms slower: an update takes > 3 s.
        let delay = std::time::Duration::from_millis(600);
        let slow = |s| {
            let mut t = trainer(dir.path(), s);
            t.engine.force_micro(
                crate::train::micro::MicroBatching::new(32, 32),
                Faults {
                    micro_batch_delay: Some(delay),
                    ..Faults::default()
                },
            );
            t
        };
        let sent = std::sync::Arc::new(std::sync::Mutex::new(None::<Instant>));
        let sent_by_watcher = sent.clone();
        let (outcome, first) = run_reacting(slow, move |event, control| {
            // Update 9 is stage 2's first; stop 300 ms into update 10.
            if matches!(event, Event::Step(s) if s.update == 9) {
                let control = control.clone();
                let sent = sent_by_watcher.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(std::time::Duration::from_millis(300));
                    *sent.lock().unwrap() = Some(Instant::now());
                    control.send(Control::Stop { checkpoint: true }).unwrap();
                });
            }
        });
        let waited = sent.lock().unwrap().expect("the stop was sent").elapsed();
        let Outcome::Stopped(Some(path)) = outcome else {
            panic!("expected a stop with checkpoint, got {outcome:?}")
        };
        // The rest of update 10 (at least 4 more micro-batches of 600 ms) was not waited for;
        // the margin is for a loaded machine's compute and the checkpoint.
        assert!(
            waited < 4 * delay,
            "the stop took {waited:?}, as long as the update"
        );
        assert!(
            !first
                .iter()
                .any(|e| matches!(e, Event::Step(s) if s.update > 9)),
            "update 10 must not be applied"
        );
        let ck = checkpoint::load(&path).unwrap();
        assert_eq!(ck.state.meta.progress.update, 9);
        let resumed = |s| {
            let mut t = trainer(dir.path(), s);
            t.restore(ck).unwrap();
            t
        };
        let (outcome, rest) = run(resumed, None);
        assert!(matches!(outcome, Outcome::Finished(_)));
        assert_eq!(values_after(&rest, 9), values_after(&full, 9));
        let before = values_after(&first, 0);
        assert_eq!(before[..], values_after(&full, 0)[..before.len()]);
    }

    #[test]
    fn out_of_memory_halves_the_micro_batch_and_keeps_the_update() {
        let dir = tempfile::tempdir().unwrap();
        let (_, expected) = run(|s| trainer(dir.path(), s), None);
        // Micro-batches of 64 "run out of memory" when stage 2 (B = 160) needs them; halving
        // gives 32, the ghost batch, so the update must stay the same.
        let faulty = |s| {
            let mut t = trainer(dir.path(), s);
            t.engine.force_micro(
                crate::train::micro::MicroBatching::new(64, 32),
                Faults {
                    oom_above: Some(32),
                    ..Faults::default()
                },
            );
            t
        };
        let (outcome, events) = run(faulty, None);
        assert!(matches!(outcome, Outcome::Finished(_)));
        let warnings: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::Warning(w) => Some(w.message.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("micro-batches of 32"), "{warnings:?}");
        // Same updates; the losses agree up to summation order.
        let losses = |ev: &[Event]| -> Vec<f64> {
            ev.iter()
                .filter_map(|e| match e {
                    Event::Step(s) => Some(s.loss),
                    _ => None,
                })
                .collect()
        };
        let (a, b) = (losses(&expected), losses(&events));
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5 * x.abs().max(1.0), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn pause_and_checkpoint_requests_do_not_change_results() {
        let dir = tempfile::tempdir().unwrap();
        let (_, expected) = run(|s| trainer(dir.path(), s), None);
        let (outcome, events) = run_reacting(
            |s| trainer(dir.path(), s),
            |event, control| match event {
                Event::Step(s) if s.update == 3 => control.send(Control::Pause).unwrap(),
                Event::Paused(_) => {
                    control.send(Control::Checkpoint).unwrap();
                    control.send(Control::Resume).unwrap();
                }
                _ => {}
            },
        );
        assert!(matches!(outcome, Outcome::Finished(_)));
        let kinds: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                Event::Paused(_) => Some("paused"),
                Event::Resumed(_) => Some("resumed"),
                Event::Checkpoint(c) if c.reason == "key" => Some("checkpoint"),
                _ => None,
            })
            .collect();
        assert_eq!(kinds, vec!["paused", "checkpoint", "resumed"]);
        assert_eq!(values_after(&events, 0), values_after(&expected, 0));
    }

    #[test]
    fn checkpoint_from_another_config_is_refused_with_the_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (_, _) = run(|s| trainer(dir.path(), s), Some(1));
        let path = checkpoint::latest(dir.path()).unwrap();
        let mut ck = checkpoint::load(&path).unwrap();
        ck.state.meta.config.schedule.batch = 64;
        let err = trainer(dir.path(), EventSink::discard())
            .restore(ck)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("schedule.batch"), "{err}");
    }

    #[test]
    fn non_finite_loss_stops_with_last_good_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let exploding = |s| {
            let mut t = trainer(dir.path(), s);
            // A huge learning rate makes the weights explode within a few updates.
            t.engine.set_lr(1e30);
            t.schedule = {
                let mut cfg = config();
                cfg.optim.lr = 1e30;
                Schedule::new(&cfg, 256)
            };
            t
        };
        let (outcome, events) = run(exploding, None);
        let Outcome::Diverged(Some(path)) = outcome else {
            panic!("expected divergence, got {outcome:?}")
        };
        assert!(events.iter().any(|e| matches!(e, Event::Failed(_))));
        let ck = checkpoint::load(&path).unwrap();
        assert_eq!(ck.state.meta.reason, CheckpointReason::Nan);
        // The checkpointed weights are finite.
        for (name, t) in &ck.state.model {
            let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
            assert!(v.iter().all(|x| x.is_finite()), "{name} not finite");
        }
    }
}
