//! One parameter update, the same for `train`, `bench` and `plan`: the network, its optimizer,
//! the micro-batching and the collective in one place, behind one call ([`Engine::update`]).
//! The batch-norm statistics of the passes travel with the gradient ([`BatchGradient::bn`])
//! and are folded only when the update is applied. Every update goes through the collective
//! (the world of one is a collective that skips what it need not do), the only out-of-memory
//! retry is here (halve the micro-batch, on every worker alike, and redo the update), and a
//! stop asked for while a long update runs is honoured between micro-batches. Must never know
//! about epochs, events, checkpoints or control channels: the trainer does, through
//! [`Oversight`].

use std::time::{Duration, Instant};

use candle_core::{Device, Tensor, Var};

use crate::config::RunConfig;
use crate::events::ParallelStep;
use crate::model::{ParamStore, ResNet};
use crate::parallel::collective::Collective;
use crate::parallel::exchange::sum_over;
use crate::parallel::share::Share;
use crate::train::combine::{combine, Combined, CommCost, Contribution};
use crate::train::error::TrainError;
use crate::train::micro::MicroBatching;
use crate::train::optim::{OptimState, Optimizer};
use crate::train::step::{evaluate, local_gradient, BatchGradient, EvalSums, LocalGradient};

/// Failures a test can provoke on purpose; given in the setup, never read from the environment
/// here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Micro-batches of more than this many samples fail as if the device ran out of memory.
    pub oom_above: Option<usize>,
    /// Every micro-batch takes this much longer (a slow device, to test stopping mid-update).
    pub micro_batch_delay: Option<Duration>,
}

/// What the engine asks of whoever runs it while an update is under way.
pub trait Oversight {
    /// Whether the run must stop now (asked before every micro-batch; the update in progress is
    /// then dropped and nothing it computed is applied).
    fn stop_requested(&mut self) -> bool;
    /// The micro-batch was halved after running out of memory; the update is being redone.
    fn shrunk(&mut self, shrink: &Shrink);
}

/// Runs updates with nobody watching: never stops early, shrinks silently (benchmarks).
pub struct Unwatched;

impl Oversight for Unwatched {
    fn stop_requested(&mut self) -> bool {
        false
    }
    fn shrunk(&mut self, _: &Shrink) {}
}

/// A micro-batch halved after running out of memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shrink {
    /// Micro-batch size that failed.
    pub from: usize,
    /// Micro-batch size now.
    pub to: usize,
    /// Micro-batches per update now.
    pub accumulation: usize,
    /// The configured ghost batch (0: none).
    pub ghost_batch: usize,
}

impl Shrink {
    /// The warning, for the update about to be retried (counted from 1).
    pub fn message(&self, update: u64) -> String {
        let note = if self.ghost_batch > 0 && self.to < self.ghost_batch {
            format!(
                "; below the ghost batch {}, batch-norm statistics now use {} samples",
                self.ghost_batch, self.to
            )
        } else {
            String::new()
        };
        format!(
            "out of memory with micro-batches of {}: retrying update {update} with micro-batches of {} ({} per update){note}",
            self.from, self.to, self.accumulation
        )
    }
}

/// How an update came out.
pub enum Update {
    /// The gradient was applied: the parameters, batch-norm statistics and optimizer moved.
    Applied(Applied),
    /// The loss or gradient was not finite: nothing was changed.
    NonFinite {
        /// The batch's mean loss.
        loss: f64,
    },
    /// A stop was asked for (on some worker) before the update was complete: nothing was
    /// changed, on any worker.
    Stopped,
}

/// An applied update: the whole batch's gradient and, over several workers, what sharing it cost.
pub struct Applied {
    /// The gradient and what the batch scored.
    pub gradient: Box<BatchGradient>,
    /// Workers busy, collective time and volume, the update's time (several workers only).
    pub parallel: Option<ParallelStep>,
}

impl Applied {
    /// The batch's mean loss.
    pub fn loss(&self) -> f64 {
        self.gradient.loss_sum / self.gradient.count.max(1) as f64
    }

    /// The batch's accuracy.
    pub fn accuracy(&self) -> f64 {
        self.gradient.correct as f64 / self.gradient.count.max(1) as f64
    }
}

/// Why one attempt at a worker's share failed.
enum Failure {
    /// The device ran out of memory; a smaller micro-batch may fit.
    OutOfMemory(String),
    /// Anything else.
    Tensor(candle_core::Error),
}

impl From<candle_core::Error> for Failure {
    fn from(e: candle_core::Error) -> Self {
        if crate::device::is_out_of_memory(&e) {
            Failure::OutOfMemory(e.to_string())
        } else {
            Failure::Tensor(e)
        }
    }
}

/// The network, its optimizer, the micro-batching in force and the workers it is shared with.
pub struct Engine {
    store: ParamStore,
    model: ResNet,
    params: Vec<Var>,
    optim: Optimizer,
    micro: MicroBatching,
    ghost_batch: usize,
    comm: Box<dyn Collective>,
    device: Device,
    faults: Faults,
}

impl Engine {
    /// The network of `cfg.model` for `classes` classes, initialised from `cfg.seed`, with
    /// `cfg.optim`'s optimizer and micro-batches of at most `cfg.hardware.max_micro_batch`.
    pub fn new(
        cfg: &RunConfig,
        classes: usize,
        device: Device,
        comm: Box<dyn Collective>,
        faults: Faults,
    ) -> Result<Engine, TrainError> {
        let mut store = ParamStore::new(&device, cfg.seed);
        let model = ResNet::new(&mut store, &cfg.model, cfg.hardware.kernels, classes)?;
        let params: Vec<Var> = store.trainable().iter().map(|(_, v)| v.clone()).collect();
        let optim = Optimizer::new(&cfg.optim, params.clone());
        Ok(Engine {
            store,
            model,
            params,
            optim,
            micro: MicroBatching::new(cfg.hardware.max_micro_batch, cfg.model.ghost_batch),
            ghost_batch: cfg.model.ghost_batch,
            comm,
            device,
            faults,
        })
    }

    /// One update of the batch `images` (N×3×32×32, normalised) with `labels`: every worker's
    /// share of the micro-batches, combined, and applied when finite. `want_norms` measures the
    /// micro-batch gradient norms the noise scale needs.
    pub fn update(
        &mut self,
        images: &[f32],
        labels: &[u32],
        want_norms: bool,
        oversight: &mut dyn Oversight,
    ) -> Result<Update, TrainError> {
        let started = Instant::now();
        let n = labels.len();
        let share = self.share();
        loop {
            let contribution = match self.share_of((images, labels), share, want_norms, oversight) {
                Ok(Some(local)) => Contribution::Computed(local),
                Ok(None) => Contribution::Stop,
                Err(Failure::OutOfMemory(reason)) => Contribution::OutOfMemory(reason),
                Err(Failure::Tensor(e)) => return Err(e.into()),
            };
            let combined = combine(
                self.comm.as_mut(),
                &self.model,
                &self.params,
                contribution,
                (n, &self.micro),
                want_norms,
            )
            .map_err(TrainError::Collective)?;
            match combined {
                Combined::Gradient(g, cost) => return self.apply(g, cost, n, started),
                // The abandoned passes' batch statistics were returned with them and are
                // dropped: they belong to no update.
                Combined::Stop => return Ok(Update::Stopped),
                // Every worker shrinks alike, so the micro-batches stay the same on all.
                Combined::OutOfMemory(reason) => self.shrink(n, reason, oversight)?,
            }
        }
    }

    /// This worker's share of an update, or `None` when a stop was asked for on the way.
    fn share_of(
        &self,
        batch: (&[f32], &[u32]),
        share: Share,
        want_norms: bool,
        oversight: &mut dyn Oversight,
    ) -> Result<Option<LocalGradient>, Failure> {
        // Asked once before anything, so that a worker with no micro-batch of its own still
        // carries a stop to the others.
        if oversight.stop_requested() {
            return Ok(None);
        }
        if self
            .faults
            .oom_above
            .is_some_and(|limit| self.micro.size(batch.1.len()) > limit)
        {
            return Err(Failure::OutOfMemory("injected by the test setup".into()));
        }
        let delay = self.faults.micro_batch_delay;
        let mut keep_going = || {
            if let Some(d) = delay {
                std::thread::sleep(d);
            }
            !oversight.stop_requested()
        };
        local_gradient(
            &self.model,
            &self.params,
            batch,
            (&self.micro, share),
            &self.device,
            want_norms,
            &mut keep_going,
        )
        .map_err(Failure::from)
    }

    /// Halves the micro-batch after running out of memory (`reason`: this worker's error, or
    /// none when another worker's), or fails when a micro-batch is one image already.
    fn shrink(
        &mut self,
        batch: usize,
        reason: Option<String>,
        oversight: &mut dyn Oversight,
    ) -> Result<(), TrainError> {
        let reason = reason.unwrap_or_else(|| "a worker ran out of memory".into());
        let Some((from, to)) = self.micro.shrink(batch) else {
            return Err(TrainError::OutOfMemory(reason));
        };
        oversight.shrunk(&Shrink {
            from,
            to,
            accumulation: self.micro.accumulation(batch),
            ghost_batch: self.ghost_batch,
        });
        Ok(())
    }

    /// Applies a finite gradient: folds its batch statistics and steps the optimizer.
    fn apply(
        &mut self,
        gradient: Box<BatchGradient>,
        cost: CommCost,
        n: usize,
        started: Instant,
    ) -> Result<Update, TrainError> {
        let loss = gradient.loss_sum / gradient.count.max(1) as f64;
        if !loss.is_finite() || !gradient.grad_sq.is_finite() {
            return Ok(Update::NonFinite { loss });
        }
        self.model.fold_running_stats(&gradient.bn)?;
        self.optim.step(&gradient.grads)?;
        let world = self.comm.world();
        let parallel = (world > 1).then(|| ParallelStep {
            busy: Share::busy(world, self.micro.split(n).count()),
            comm_seconds: cost.seconds,
            wait_seconds: cost.wait_seconds,
            comm_bytes: cost.bytes,
            step_seconds: started.elapsed().as_secs_f64(),
        });
        Ok(Update::Applied(Applied { gradient, parallel }))
    }

    /// Loss and accuracy sums over the test batches, every worker evaluating its share;
    /// `progress` hears the images done so far (this worker's share scaled to the world).
    pub fn evaluate(
        &mut self,
        batches: &[(Vec<f32>, Vec<u32>)],
        mut progress: impl FnMut(usize),
    ) -> Result<EvalSums, TrainError> {
        let share = self.share();
        let mine = &batches[share.range(batches.len())];
        progress(0);
        let mut done = 0;
        let sums = evaluate(
            &self.model,
            mine.iter().map(|(i, l)| {
                // Rank 0's share stands for every worker's: they evaluate alike-sized shares at once.
                progress(done * share.world);
                done += l.len();
                (i.as_slice(), l.as_slice())
            }),
            &self.device,
        )?;
        sum_over(self.comm.as_mut(), &sums).map_err(TrainError::Collective)
    }

    fn share(&self) -> Share {
        Share {
            rank: self.comm.rank(),
            world: self.comm.world(),
        }
    }

    /// Sets the stage's learning rate and momentum.
    pub fn set_hyperparameters(&mut self, lr: f64, momentum: f64) {
        self.optim.set_lr(lr);
        self.optim.set_momentum(momentum);
    }

    /// Loads checkpointed weights and optimizer state.
    pub fn load(
        &mut self,
        model: &std::collections::HashMap<String, Tensor>,
        optim: OptimState,
    ) -> Result<(), String> {
        self.store.load(model)?;
        self.optim.load_state(optim).map_err(|e| e.to_string())
    }

    /// Every parameter and buffer by name (what a checkpoint keeps).
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        self.store.named_tensors()
    }

    /// The optimizer's state (what a checkpoint keeps).
    pub fn optim_state(&self) -> OptimState {
        self.optim.state()
    }

    /// Optimizer steps taken.
    pub fn optim_steps(&self) -> u64 {
        self.optim.steps()
    }

    /// A checksum of the parameters and batch-norm buffers, equal on workers that start alike.
    pub fn param_checksum(&self) -> Result<u32, TrainError> {
        let mut crc = 0u32;
        for (_, t) in self.store.named_tensors() {
            let v = t.flatten_all()?.to_vec1::<f32>()?;
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            crc = crc32c::crc32c_append(crc, &bytes);
        }
        Ok(crc)
    }

    /// Number of trainable parameters.
    pub fn param_count(&self) -> usize {
        self.store.param_count()
    }

    /// The network.
    pub fn model(&self) -> &ResNet {
        &self.model
    }

    /// The device it runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The micro-batching in force (it shrinks after running out of memory).
    pub fn micro(&self) -> MicroBatching {
        self.micro
    }

    /// The workers this engine is shared with.
    pub fn collective(&mut self) -> &mut dyn Collective {
        self.comm.as_mut()
    }

    /// Gives the collective back (a benchmark times several engines over one world).
    pub fn into_collective(self) -> Box<dyn Collective> {
        self.comm
    }

    #[cfg(test)]
    pub(crate) fn force_micro(&mut self, micro: MicroBatching, faults: Faults) {
        self.micro = micro;
        self.faults = faults;
    }

    #[cfg(test)]
    pub(crate) fn set_lr(&mut self, lr: f64) {
        self.optim.set_lr(lr);
    }
}

/// Deterministic pseudo-images and labels for timing a step: the kernels' speed does not depend
/// on the values (what `bench` and `plan` feed the engine).
pub fn timing_batch(n: usize) -> (Vec<f32>, Vec<u32>) {
    let images = (0..n * 3072)
        .map(|i| ((i.wrapping_mul(2654435761) >> 7) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let labels = (0..n).map(|i| (i % 10) as u32).collect();
    (images, labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::collective::{CollectiveError, Local};
    use std::sync::{Arc, Barrier, Mutex};

    fn config() -> RunConfig {
        RunConfig::from_toml_str(
            "",
            "test",
            &[
                "model.arch=\"resnet8\"".into(),
                "model.ghost_batch=16".into(),
                "hardware.max_micro_batch=16".into(),
            ],
        )
        .unwrap()
    }

    /// An in-process world of threads: every sum waits for all and adds their buffers.
    struct Threads {
        rank: usize,
        world: usize,
        barrier: Arc<Barrier>,
        slots: Arc<Mutex<Vec<Vec<f64>>>>,
    }

    impl Threads {
        fn world(n: usize) -> Vec<Threads> {
            let barrier = Arc::new(Barrier::new(n));
            let slots = Arc::new(Mutex::new(vec![Vec::new(); n]));
            (0..n)
                .map(|rank| Threads {
                    rank,
                    world: n,
                    barrier: barrier.clone(),
                    slots: slots.clone(),
                })
                .collect()
        }

        fn sum(&mut self, buf: &mut [f64]) {
            self.slots.lock().unwrap()[self.rank] = buf.to_vec();
            self.barrier.wait();
            let total: Vec<f64> = {
                let slots = self.slots.lock().unwrap();
                (0..buf.len())
                    .map(|i| slots.iter().map(|s| s[i]).sum())
                    .collect()
            };
            self.barrier.wait();
            buf.copy_from_slice(&total);
        }
    }

    impl Collective for Threads {
        fn rank(&self) -> usize {
            self.rank
        }
        fn world(&self) -> usize {
            self.world
        }
        fn sum_f32(&mut self, buf: &mut Vec<f32>) -> Result<(), CollectiveError> {
            let mut wide: Vec<f64> = buf.iter().map(|&x| x as f64).collect();
            self.sum(&mut wide);
            *buf = wide.into_iter().map(|x| x as f32).collect();
            Ok(())
        }
        fn sum_f64(&mut self, buf: &mut Vec<f64>) -> Result<(), CollectiveError> {
            self.sum(buf);
            Ok(())
        }
        fn gather_bytes(&mut self, mine: Vec<u8>) -> Result<Vec<Vec<u8>>, CollectiveError> {
            Ok(vec![mine])
        }
        fn broadcast_bytes(&mut self, _: &mut Vec<u8>) -> Result<(), CollectiveError> {
            Ok(())
        }
        fn abort(&mut self, code: i32) -> ! {
            std::process::exit(code)
        }
    }

    fn flat(engine: &Engine) -> Vec<f32> {
        engine
            .named_tensors()
            .iter()
            .flat_map(|(_, t)| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
            .collect()
    }

    fn engine(comm: Box<dyn Collective>) -> Engine {
        Engine::new(&config(), 10, Device::Cpu, comm, Faults::default()).unwrap()
    }

    /// The world of one and a world of two threads give the same update: the same loss sums,
    /// and parameters and batch-norm statistics equal up to the order of the gradient sums.
    #[test]
    fn one_worker_and_two_give_the_same_update() {
        let (images, labels) = timing_batch(64);
        let mut alone = engine(Box::new(Local));
        let Update::Applied(a) = alone
            .update(&images, &labels, true, &mut Unwatched)
            .unwrap()
        else {
            panic!("the update was not applied")
        };
        let handles: Vec<_> = Threads::world(2)
            .into_iter()
            .map(|t| {
                let (images, labels) = (images.clone(), labels.clone());
                std::thread::spawn(move || {
                    let mut e = engine(Box::new(t));
                    let Update::Applied(u) =
                        e.update(&images, &labels, true, &mut Unwatched).unwrap()
                    else {
                        panic!("the update was not applied")
                    };
                    (
                        flat(&e),
                        u.gradient.loss_sum,
                        u.gradient.correct,
                        u.parallel,
                    )
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let want = flat(&alone);
        for (params, loss_sum, correct, parallel) in &results {
            assert!((loss_sum - a.gradient.loss_sum).abs() < 1e-9 * loss_sum.abs());
            assert_eq!(*correct, a.gradient.correct);
            let worst = params
                .iter()
                .zip(&want)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-6, "parameters differ by {worst}");
            let p = parallel.expect("two workers report their collective");
            assert_eq!(p.busy, 2, "4 micro-batches over 2 workers");
            assert!(p.step_seconds >= p.comm_seconds && p.step_seconds > 0.0);
        }
        assert_eq!(
            results[0].0, results[1].0,
            "both workers hold the same parameters"
        );
        assert!(a.parallel.is_none());
    }

    /// A stop asked for between micro-batches drops the update: nothing is applied.
    #[test]
    fn a_stop_between_micro_batches_changes_nothing() {
        struct StopAfter(usize);
        impl Oversight for StopAfter {
            fn stop_requested(&mut self) -> bool {
                if self.0 == 0 {
                    return true;
                }
                self.0 -= 1;
                false
            }
            fn shrunk(&mut self, _: &Shrink) {}
        }
        let (images, labels) = timing_batch(64);
        let mut e = engine(Box::new(Local));
        let before = flat(&e);
        // Asked before anything, then before micro-batches 1 and 2: the third sees the stop.
        let u = e
            .update(&images, &labels, false, &mut StopAfter(3))
            .unwrap();
        assert!(matches!(u, Update::Stopped));
        assert_eq!(flat(&e), before);
        assert_eq!(e.optim_steps(), 0);
        // And the next update is the one an undisturbed engine makes.
        let mut fresh = engine(Box::new(Local));
        fresh
            .update(&images, &labels, false, &mut Unwatched)
            .unwrap();
        e.update(&images, &labels, false, &mut Unwatched).unwrap();
        assert_eq!(flat(&e), flat(&fresh));
    }

    #[test]
    fn running_out_of_memory_shrinks_once_and_says_so() {
        struct Heard(Vec<Shrink>);
        impl Oversight for Heard {
            fn stop_requested(&mut self) -> bool {
                false
            }
            fn shrunk(&mut self, s: &Shrink) {
                self.0.push(s.clone());
            }
        }
        let (images, labels) = timing_batch(64);
        let mut e = engine(Box::new(Local));
        e.force_micro(
            MicroBatching::new(32, 16),
            Faults {
                oom_above: Some(16),
                ..Faults::default()
            },
        );
        let mut heard = Heard(Vec::new());
        let u = e.update(&images, &labels, false, &mut heard).unwrap();
        assert!(matches!(u, Update::Applied(_)));
        assert_eq!(
            heard.0,
            vec![Shrink {
                from: 32,
                to: 16,
                accumulation: 4,
                ghost_batch: 16
            }]
        );
        assert_eq!(
            heard.0[0].message(7),
            "out of memory with micro-batches of 32: retrying update 7 with micro-batches of 16 (4 per update)"
        );
        e.force_micro(
            MicroBatching::new(1, 0),
            Faults {
                oom_above: Some(0),
                ..Faults::default()
            },
        );
        let err = e.update(&images, &labels, false, &mut heard).err().unwrap();
        assert!(matches!(err, TrainError::OutOfMemory(_)), "{err}");
    }
}
