//! Training: starting a run (`session`: the run directory, the log, the threads, a resume), the
//! loop on its own thread (`trainer`: stages, batches, evaluation, control, checkpoints,
//! events), one update (`step`: micro-batched forward/backward; `micro`: how a batch is cut;
//! `parallel`: combining the workers' shares), the optimizers (`optim`), the noise-scale meter
//! (`noise`), checkpoints and the event sink. The plan of B, ε and m is `crate::schedule`'s;
//! the transport between workers is `crate::parallel`'s. Must never touch the terminal.

pub mod checkpoint;
pub mod micro;
pub mod noise;
pub mod optim;
pub mod parallel;
pub mod progress;
pub mod session;
pub mod sink;
pub mod step;
pub mod trainer;

pub use sink::EventSink;
pub use trainer::{Faults, Outcome, TrainError, TrainSetup, Trainer};
