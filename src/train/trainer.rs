//! The training loop: stages from the schedule, batches from the loader, micro-batched updates,
//! evaluation after every epoch, checkpoints, and control (pause, checkpoint, stop) at update
//! boundaries. Runs on its own thread and talks only through events and the control channel;
//! must never touch the terminal.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use candle_core::{Device, Tensor, Var};
use crossbeam_channel::{Receiver, TryRecvError};

use crate::config::RunConfig;
use crate::data::loader::{Loader, Normalization};
use crate::data::Cifar;
use crate::events::{
    CheckpointEvent, Control, EpochEvent, Event, MessageEvent, NoiseScaleEvent, PauseEvent,
    RunStarted, StageEvent, StepEvent, Summary,
};
use crate::model::{ParamStore, ResNet};
use crate::optim::{OptimState, Optimizer};
use crate::schedule::Schedule;
use crate::train::checkpoint::{self, Checkpoint, CheckpointMeta, CHECKPOINT_FORMAT};
use crate::train::noise::NoiseScale;
use crate::train::progress::Progress;
use crate::train::sink::EventSink;
use crate::train::step::{
    batch_gradient, evaluate, micro_size, squared_norm, squared_norm_of_mean,
};

/// Failures of the training thread.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A tensor operation failed (device error, out of memory that could not be recovered).
    #[error("training step failed: {0}")]
    Tensor(#[from] candle_core::Error),
    /// A checkpoint could not be written or read.
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
    /// A checkpoint does not fit this run.
    #[error("checkpoint {path} does not match this run: {message}")]
    Mismatch {
        /// The checkpoint.
        path: String,
        /// What differs.
        message: String,
    },
}

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
    /// Where the data came from, for the header.
    pub data_label: String,
    /// The device to train on.
    pub device: Device,
    /// Its description.
    pub device_name: String,
    /// The run directory (checkpoints go under it).
    pub run_dir: PathBuf,
    /// Pause instead of stopping on a non-finite loss (interactive runs).
    pub pause_on_non_finite: bool,
}

/// The training engine for one run.
pub struct Trainer {
    cfg: RunConfig,
    device: Device,
    device_name: String,
    data_label: String,
    run_dir: PathBuf,
    pause_on_non_finite: bool,
    store: ParamStore,
    model: ResNet,
    params: Vec<Var>,
    optim: Optimizer,
    schedule: Schedule,
    loader: Loader,
    test: Vec<(Vec<f32>, Vec<u32>)>,
    train_size: usize,
    test_size: usize,
    micro: usize,
    progress: Progress,
    noise: NoiseScale,
    /// Previous update's gradient, paired with the current one for the noise scale when a batch
    /// fits in one micro-batch.
    prev_grads: Option<Vec<Tensor>>,
    resumed_from: Option<String>,
    last_checkpoint: Option<PathBuf>,
    /// Fault injection for tests: micro-batches above this size fail as out of memory.
    fault_oom_above: Option<usize>,
    /// Whether the first event has been emitted.
    announced: bool,
}

impl Trainer {
    /// Builds the model, optimizer, schedule and loader for a fresh run.
    pub fn new(setup: TrainSetup) -> Result<Trainer, TrainError> {
        let cfg = setup.config;
        let classes = setup.data.classes.len().max(10);
        let mut store = ParamStore::new(&setup.device, cfg.seed);
        let model = ResNet::new(&mut store, &cfg.model, cfg.hardware.kernels, classes)?;
        let params: Vec<Var> = store.trainable().iter().map(|(_, v)| v.clone()).collect();
        let optim = Optimizer::new(&cfg.optim, params.clone());
        let train = Arc::new(setup.data.train);
        let norm = Normalization::from_dataset(&train);
        let schedule = Schedule::new(&cfg, train.len());
        let loader = Loader::new(train.clone(), norm.clone(), cfg.seed, cfg.data.augment);
        let test: Vec<(Vec<f32>, Vec<u32>)> =
            crate::data::loader::test_batches(&setup.data.test, &norm, cfg.data.eval_batch)
                .map(|b| (b.images, b.labels))
                .collect();
        let micro = micro_size(cfg.hardware.max_micro_batch, cfg.model.ghost_batch);
        let noise = NoiseScale::new(cfg.noise.ema);
        Ok(Trainer {
            train_size: train.len(),
            test_size: setup.data.test.len(),
            device: setup.device,
            device_name: setup.device_name,
            data_label: setup.data_label,
            run_dir: setup.run_dir,
            pause_on_non_finite: setup.pause_on_non_finite,
            store,
            model,
            params,
            optim,
            schedule,
            loader,
            test,
            micro,
            progress: Progress::default(),
            noise,
            prev_grads: None,
            resumed_from: None,
            last_checkpoint: None,
            announced: false,
            fault_oom_above: std::env::var("BATCHRAMP_FAULT_OOM_ABOVE")
                .ok()
                .and_then(|v| v.parse().ok()),
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
        let diffs = checkpoint::config_differences(&ck.meta.config, &self.cfg);
        if !diffs.is_empty() {
            return Err(mismatch(format!(
                "config keys differ: {}",
                diffs.join(", ")
            )));
        }
        let mut model_tensors = HashMap::new();
        let mut optim_tensors = Vec::new();
        let mut prev = Vec::new();
        for (name, t) in ck.tensors {
            if let Some(n) = name.strip_prefix("model.") {
                model_tensors.insert(n.to_string(), t);
            } else if let Some(n) = name.strip_prefix("optim.") {
                optim_tensors.push((n.to_string(), t));
            } else if let Some(i) = name.strip_prefix("noise.prev.") {
                let i: usize = i
                    .parse()
                    .map_err(|_| mismatch(format!("unexpected tensor {name}")))?;
                prev.push((i, t));
            } else {
                return Err(mismatch(format!("unexpected tensor {name}")));
            }
        }
        self.store.load(&model_tensors).map_err(mismatch)?;
        self.optim
            .load_state(OptimState {
                step: ck.meta.optim_step,
                tensors: optim_tensors,
            })
            .map_err(|e| mismatch(e.to_string()))?;
        prev.sort_by_key(|(i, _)| *i);
        self.prev_grads = if prev.is_empty() {
            None
        } else {
            Some(
                prev.into_iter()
                    .map(|(_, t)| t.to_device(&self.device))
                    .collect::<Result<_, _>>()?,
            )
        };
        self.schedule.restore(ck.meta.stages, ck.meta.adaptive);
        self.loader.seek(ck.meta.cursor);
        self.progress = ck.meta.progress;
        self.noise = ck.meta.noise;
        self.resumed_from = Some(path);
        self.last_checkpoint = Some(ck.path);
        Ok(())
    }

    /// Number of trainable parameters.
    pub fn param_count(&self) -> usize {
        self.store.param_count()
    }

    /// The schedule in force.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The header event of this run.
    pub fn header(&self) -> RunStarted {
        RunStarted {
            name: self.cfg.name.clone(),
            config: serde_json::to_value(&self.cfg).unwrap_or_default(),
            train_size: self.train_size,
            test_size: self.test_size,
            data: self.data_label.clone(),
            device: self.device_name.clone(),
            model: self.cfg.model.arch.to_string(),
            params: self.param_count(),
            epochs: self.schedule.epochs(),
            stages: self.schedule.stages().to_vec(),
            planned_updates: self.schedule.updates() as usize,
            baseline_updates: self.schedule.baseline_updates() as usize,
            resumed_from: self.resumed_from.clone(),
        }
    }

    /// Emits the run's first event (the header, or `resumed` for a resumed run) once. Callers
    /// that start other event sources (the resource sampler) call it first, so the header is
    /// always the log's first line; [`Self::run`] calls it otherwise.
    pub fn announce(&mut self, sink: &EventSink) {
        if self.announced {
            return;
        }
        self.announced = true;
        if self.resumed_from.is_none() {
            sink.emit(Event::RunStarted(self.header()));
        } else {
            sink.emit(Event::Resumed(PauseEvent {
                update: self.progress.update,
                reason: format!(
                    "resumed from {}",
                    self.resumed_from.clone().unwrap_or_default()
                ),
            }));
        }
    }

    /// Trains until the last epoch, a stop request, or a non-finite loss. Emits the header
    /// first unless the run was resumed (its log already has one).
    pub fn run(
        &mut self,
        sink: &EventSink,
        control: &Receiver<Control>,
    ) -> Result<Outcome, TrainError> {
        self.announce(sink);
        let mut ips = Throughput::default();
        while self.progress.epoch < self.schedule.epochs() {
            let epoch = self.progress.epoch;
            self.announce_stage(sink);
            let stage = self.schedule.stage(epoch).clone();
            loop {
                if let Some(outcome) = self.handle_control(sink, control, false)? {
                    return Ok(outcome);
                }
                let started = Instant::now();
                let batch = self.loader.next_batch(stage.batch);
                let measure = self.cfg.noise.enabled
                    && self.progress.update.is_multiple_of(self.cfg.noise.every);
                // The forward pass moves batch-norm running statistics; keep the last good ones.
                let saved_buffers = self.store.snapshot_buffers()?;
                let g = self.gradient_within_memory(sink, &batch, measure, &saved_buffers)?;
                let loss = g.loss_sum / g.count.max(1) as f64;
                if !loss.is_finite() || !g.grad_sq.is_finite() {
                    self.store.restore_buffers(&saved_buffers)?;
                    // Roll the sampler back so the batch is retried after a pause, and keep the
                    // weights of the last good update.
                    self.loader.seek(crate::data::loader::LoaderCursor {
                        epoch: batch.epoch,
                        position: batch.first_position,
                    });
                    if let Some(outcome) = self.non_finite(sink, control, loss)? {
                        return Ok(outcome);
                    }
                    continue;
                }
                if measure {
                    self.measure_noise(sink, &g, stage.batch)?;
                }
                self.optim.step(&g.grads)?;
                let seconds = started.elapsed().as_secs_f64();
                self.progress
                    .record_step(g.loss_sum, g.correct, g.count, seconds);
                sink.emit(Event::Step(StepEvent {
                    update: self.progress.update,
                    epoch,
                    epoch_progress: (batch.first_position + batch.len) as f64
                        / self.train_size as f64,
                    loss,
                    acc: g.correct as f64 / g.count.max(1) as f64,
                    lr: stage.lr,
                    batch: g.count,
                    images_per_sec: ips.add(g.count, seconds),
                }));
                if batch.last_in_epoch {
                    break;
                }
            }
            self.finish_epoch(sink)?;
        }
        let summary = self
            .progress
            .summary(&self.cfg.name, self.schedule.baseline_updates() as usize);
        if self.cfg.checkpoint.every_epochs > 0 || self.cfg.checkpoint.at_stage_change {
            self.checkpoint(sink, "final")?;
        }
        sink.emit(Event::Finished(summary.clone()));
        Ok(Outcome::Finished(summary))
    }

    /// The batch's gradient; on out-of-memory the micro-batch is halved (accumulation raised)
    /// and the same update retried, with a warning, until it fits or a micro-batch is one image.
    fn gradient_within_memory(
        &mut self,
        sink: &EventSink,
        batch: &crate::data::Batch,
        measure: bool,
        saved_buffers: &[Tensor],
    ) -> Result<crate::train::step::BatchGradient, TrainError> {
        loop {
            let result = if self
                .fault_oom_above
                .is_some_and(|limit| self.micro.min(batch.len) > limit)
            {
                Err(candle_core::Error::Msg(
                    "out of memory (injected by BATCHRAMP_FAULT_OOM_ABOVE)".into(),
                ))
            } else {
                batch_gradient(
                    &self.model,
                    &self.params,
                    &batch.images,
                    &batch.labels,
                    self.micro,
                    &self.device,
                    measure,
                )
            };
            match result {
                Ok(g) => return Ok(g),
                Err(e) if is_out_of_memory(&e) && self.micro > 1 => {
                    // The failed pass may have moved running statistics: undo before retrying.
                    self.store.restore_buffers(saved_buffers)?;
                    let old = self.micro.min(batch.len);
                    self.micro = shrink_micro(old, self.cfg.model.ghost_batch);
                    let ghost = self.cfg.model.ghost_batch;
                    let note = if ghost > 0 && self.micro < ghost {
                        format!("; below the ghost batch {ghost}, batch-norm statistics now use {} samples", self.micro)
                    } else {
                        String::new()
                    };
                    sink.emit(Event::Warning(MessageEvent {
                        message: format!(
                            "out of memory with micro-batches of {old}: retrying update {} with micro-batches of {} ({} per update){note}",
                            self.progress.update + 1,
                            self.micro,
                            batch.len.div_ceil(self.micro)
                        ),
                    }));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn announce_stage(&mut self, sink: &EventSink) {
        let epoch = self.progress.epoch;
        let index = self.schedule.stage_index(epoch);
        if self.progress.stage_index == Some(index) {
            return;
        }
        let stage = self.schedule.stage(epoch).clone();
        self.optim.set_lr(stage.lr);
        self.optim.set_momentum(stage.momentum);
        self.progress.begin_stage(index, stage.batch, stage.lr);
        let micro = self.micro.min(stage.batch);
        sink.emit(Event::Stage(StageEvent {
            index,
            epoch,
            update: self.progress.update,
            batch: stage.batch,
            micro_batch: micro,
            accumulation: stage.batch.div_ceil(micro),
            lr: stage.lr,
            momentum: stage.momentum,
            noise_scale: stage.noise_scale,
            reason: stage.reason.clone(),
        }));
    }

    /// Keeps lr and momentum in step with the stage after a resume (the stage event is in the log already).
    fn sync_stage_hyperparameters(&mut self) {
        let stage = self.schedule.stage(self.progress.epoch).clone();
        self.optim.set_lr(stage.lr);
        self.optim.set_momentum(stage.momentum);
    }

    fn finish_epoch(&mut self, sink: &EventSink) -> Result<(), TrainError> {
        let eval_started = std::time::Instant::now();
        let (test_loss, test_acc) = evaluate(
            &self.model,
            self.test.iter().map(|(i, l)| (i.as_slice(), l.as_slice())),
            &self.device,
        )?;
        let ev: EpochEvent = self.progress.end_epoch(
            test_loss,
            test_acc,
            self.progress.train_seconds,
            eval_started.elapsed().as_secs_f64(),
        );
        let finished_epoch = ev.epoch;
        let train_loss = ev.train_loss;
        sink.emit(Event::Epoch(ev));
        self.schedule
            .observe_epoch(finished_epoch, train_loss, self.noise.b_simple());
        let next = self.progress.epoch;
        if next >= self.schedule.epochs() {
            return Ok(());
        }
        let stage_change =
            self.schedule.stage_index(next) != self.schedule.stage_index(finished_epoch);
        let every = self.cfg.checkpoint.every_epochs;
        if stage_change && self.cfg.checkpoint.at_stage_change {
            self.checkpoint(sink, "stage")?;
        } else if every > 0 && next.is_multiple_of(every) {
            self.checkpoint(sink, "epoch")?;
        }
        Ok(())
    }

    fn measure_noise(
        &mut self,
        sink: &EventSink,
        g: &crate::train::step::BatchGradient,
        batch: usize,
    ) -> Result<(), TrainError> {
        match &g.norms {
            Some(n) if n.smalls >= 2 || g.count > n.b_small => {
                self.noise
                    .observe(n.b_small as f64, n.small_sq, g.count as f64, g.grad_sq);
                self.prev_grads = None;
            }
            Some(n) => {
                // One micro-batch per update: pair this gradient with the previous update's
                // (same size) as the big batch; parameters moved one small step in between.
                if let Some(prev) = self.prev_grads.take().filter(|p| p.len() == g.grads.len()) {
                    let prev_sq = squared_norm(&prev)?;
                    let cur_sq = n.small_sq;
                    let big_sq = squared_norm_of_mean(&prev, &g.grads)?;
                    self.noise.observe(
                        n.b_small as f64,
                        (prev_sq + cur_sq) / 2.0,
                        2.0 * n.b_small as f64,
                        big_sq,
                    );
                } else {
                    self.prev_grads = Some(g.grads.clone());
                }
            }
            None => return Ok(()),
        }
        if let (Some(b), Some(gs), Some(tr)) = (
            self.noise.b_simple(),
            self.noise.grad_sq(),
            self.noise.trace(),
        ) {
            sink.emit(Event::NoiseScale(NoiseScaleEvent {
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
        sink: &EventSink,
        control: &Receiver<Control>,
        mut paused: bool,
    ) -> Result<Option<Outcome>, TrainError> {
        loop {
            let cmd = if paused {
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
                    paused = true;
                    sink.emit(Event::Paused(PauseEvent {
                        update: self.progress.update,
                        reason: "key".into(),
                    }));
                }
                Control::Resume if paused => {
                    sink.emit(Event::Resumed(PauseEvent {
                        update: self.progress.update,
                        reason: "key".into(),
                    }));
                    self.sync_stage_hyperparameters();
                    return Ok(None);
                }
                Control::Pause | Control::Resume => {}
                Control::Checkpoint => {
                    self.checkpoint(sink, "key")?;
                }
                Control::Stop { checkpoint } => {
                    let path = if checkpoint {
                        Some(self.checkpoint(sink, "interrupt")?)
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
        sink: &EventSink,
        control: &Receiver<Control>,
        loss: f64,
    ) -> Result<Option<Outcome>, TrainError> {
        let message = format!(
            "non-finite loss or gradient (loss {loss}) at update {}: the update was not applied; lower optim.lr or check the data",
            self.progress.update + 1
        );
        sink.emit(Event::Warning(MessageEvent {
            message: message.clone(),
        }));
        let path = self.checkpoint(sink, "nan")?;
        if self.pause_on_non_finite {
            sink.emit(Event::Paused(PauseEvent {
                update: self.progress.update,
                reason: "non-finite loss".into(),
            }));
            return self.handle_control(sink, control, true);
        }
        sink.emit(Event::Failed(MessageEvent {
            message: format!("{message}; last good state saved to {}", path.display()),
        }));
        Ok(Some(Outcome::Diverged(Some(path))))
    }

    /// Writes a checkpoint of the current state and reports it.
    pub fn checkpoint(&mut self, sink: &EventSink, reason: &str) -> Result<PathBuf, TrainError> {
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        for (name, t) in self.store.named_tensors() {
            tensors.insert(format!("model.{name}"), t);
        }
        for (name, t) in self.optim.state().tensors {
            tensors.insert(format!("optim.{name}"), t);
        }
        if let Some(prev) = &self.prev_grads {
            for (i, t) in prev.iter().enumerate() {
                tensors.insert(format!("noise.prev.{i}"), t.clone());
            }
        }
        let meta = CheckpointMeta {
            format: CHECKPOINT_FORMAT,
            config: self.cfg.clone(),
            progress: self.progress.clone(),
            cursor: self.loader.cursor(),
            stages: self.schedule.stages().to_vec(),
            adaptive: self.schedule.adaptive_state().clone(),
            noise: self.noise.clone(),
            optim_step: self.optim.steps(),
            // +1: the checkpoint event that follows belongs to the kept part of the log.
            log_lines: sink.emitted() + 1,
            t: sink.elapsed(),
            reason: reason.to_string(),
            data: self.data_label.clone(),
        };
        let dir = self.run_dir.join("checkpoints");
        match checkpoint::save(&dir, &meta, &tensors, self.cfg.checkpoint.keep_last) {
            Ok(path) => {
                sink.emit(Event::Checkpoint(CheckpointEvent {
                    path: path.display().to_string(),
                    epoch: self.progress.epoch,
                    update: self.progress.update,
                    reason: reason.to_string(),
                }));
                self.last_checkpoint = Some(path.clone());
                Ok(path)
            }
            Err(e) => {
                // A failed write is reported and training goes on; the previous file is intact.
                sink.emit(Event::Warning(MessageEvent {
                    message: e.to_string(),
                }));
                match &self.last_checkpoint {
                    Some(p) if reason != "interrupt" && reason != "nan" => Ok(p.clone()),
                    _ => Err(e.into()),
                }
            }
        }
    }
}

/// Whether a tensor error is an allocation failure (CUDA reports it by name; candle passes it on).
fn is_out_of_memory(e: &candle_core::Error) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    text.contains("out of memory") || text.contains("out_of_memory") || text.contains("alloc")
}

/// Half the micro-batch, kept a multiple of the ghost batch while it can be, so ghost chunks
/// still line up and the update is unchanged.
fn shrink_micro(micro: usize, ghost: usize) -> usize {
    let half = (micro / 2).max(1);
    if ghost > 0 && half >= ghost {
        half / ghost * ghost
    } else {
        half
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

    fn trainer(dir: &std::path::Path) -> Trainer {
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
            device_name: "cpu".into(),
            run_dir: dir.to_path_buf(),
            pause_on_non_finite: false,
        })
        .unwrap()
    }

    /// Runs to the end (or until `stop_at` updates were seen), returning every event.
    fn run(t: &mut Trainer, stop_at: Option<u64>) -> (Outcome, Vec<Event>) {
        let (log_tx, log_rx) = unbounded();
        let (ctl_tx, ctl_rx) = unbounded();
        let sink = EventSink::new(0.0, Some(log_tx), None);
        let watcher = {
            let log_rx = log_rx.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                for rec in log_rx.iter() {
                    if let (Some(n), Event::Step(s)) = (stop_at, &rec.event) {
                        if s.update == n {
                            let _ = ctl_tx.send(Control::Stop { checkpoint: true });
                        }
                    }
                    seen.push(rec.event);
                }
                seen
            })
        };
        let outcome = t.run(&sink, &ctl_rx).unwrap();
        drop(sink);
        (outcome, watcher.join().unwrap())
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
        let (outcome, full) = run(&mut trainer(full_dir.path()), None);
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
        let (outcome, first) = run(&mut trainer(dir.path()), Some(3));
        let Outcome::Stopped(Some(path)) = outcome else {
            panic!("expected a stop with checkpoint, got {outcome:?}")
        };
        let ck = checkpoint::load(&path).unwrap();
        let at = ck.meta.progress.update;
        assert!((3..8).contains(&at), "stopped mid-epoch, at update {at}");
        assert_eq!(
            values_after(&first, 0)[..at as usize],
            values_after(&full, 0)[..at as usize]
        );
        let mut resumed = trainer(dir.path());
        resumed.restore(ck).unwrap();
        let (outcome, rest) = run(&mut resumed, None);
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
        assert_eq!(ck.meta.reason, "stage");
        let mut resumed = trainer(dir.path());
        resumed.restore(ck).unwrap();
        let (_, rest) = run(&mut resumed, None);
        assert_eq!(values_after(&rest, 8), values_after(&full, 8));
    }

    #[test]
    fn out_of_memory_halves_the_micro_batch_and_keeps_the_update() {
        let dir = tempfile::tempdir().unwrap();
        let mut reference = trainer(dir.path());
        let (_, expected) = run(&mut reference, None);
        let mut t = trainer(dir.path());
        // Micro-batches of 64 "run out of memory" when stage 2 (B = 160) needs them; halving
        // gives 32, the ghost batch, so the update must stay the same.
        t.micro = 64;
        t.fault_oom_above = Some(32);
        let (outcome, events) = run(&mut t, None);
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
        let (_, expected) = run(&mut trainer(dir.path()), None);
        let mut t = trainer(dir.path());
        let (log_tx, log_rx) = unbounded();
        let (ctl_tx, ctl_rx) = unbounded();
        let sink = EventSink::new(0.0, Some(log_tx), None);
        let watcher = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for rec in log_rx.iter() {
                match &rec.event {
                    Event::Step(s) if s.update == 3 => {
                        ctl_tx.send(Control::Pause).unwrap();
                    }
                    Event::Paused(_) => {
                        ctl_tx.send(Control::Checkpoint).unwrap();
                        ctl_tx.send(Control::Resume).unwrap();
                    }
                    _ => {}
                }
                seen.push(rec.event);
            }
            seen
        });
        let outcome = t.run(&sink, &ctl_rx).unwrap();
        drop(sink);
        let events = watcher.join().unwrap();
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
        let (_, _) = run(&mut trainer(dir.path()), Some(1));
        let path = checkpoint::latest(dir.path()).unwrap();
        let mut ck = checkpoint::load(&path).unwrap();
        ck.meta.config.schedule.batch = 64;
        let err = trainer(dir.path()).restore(ck).err().unwrap().to_string();
        assert!(err.contains("schedule.batch"), "{err}");
    }

    #[test]
    fn non_finite_loss_stops_with_last_good_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = trainer(dir.path());
        // A huge learning rate makes the weights explode within a few updates.
        t.optim.set_lr(1e30);
        t.schedule = {
            let mut cfg = config();
            cfg.optim.lr = 1e30;
            Schedule::new(&cfg, 256)
        };
        let (outcome, events) = run(&mut t, None);
        let Outcome::Diverged(Some(path)) = outcome else {
            panic!("expected divergence, got {outcome:?}")
        };
        assert!(events.iter().any(|e| matches!(e, Event::Failed(_))));
        let ck = checkpoint::load(&path).unwrap();
        assert_eq!(ck.meta.reason, "nan");
        // The checkpointed weights are finite.
        for (name, t) in &ck.tensors {
            let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
            assert!(v.iter().all(|x| x.is_finite()), "{name} not finite");
        }
    }
}
