//! Training: starting a run (`session`: the run directory, the log, the threads, a resume), the
//! loop on its own thread (`trainer`: stages, batches, evaluation, control, checkpoints,
//! events), one update (`engine`: the network, optimizer, micro-batching and collective behind
//! one call, used alike by `train`, `bench` and `plan`; under it `step`: micro-batched
//! forward/backward, `micro`: how a batch is cut, `combine`: the workers' shares made one
//! gradient), the optimizers (`optim`), the noise-scale meter (`noise`), checkpoints, errors
//! and the event sink. The plan of B, ε and m is `crate::schedule`'s;
//! the transport between workers is `crate::parallel`'s. Must never touch the terminal.

pub mod checkpoint;
pub mod combine;
pub mod engine;
pub mod error;
pub mod micro;
pub mod noise;
pub mod optim;
pub mod progress;
pub mod session;
pub mod sink;
pub mod step;
pub mod timing;
pub mod trainer;

pub use engine::{Engine, Faults};
pub use error::TrainError;
pub use sink::EventSink;
pub use trainer::{Outcome, TrainSetup, Trainer};
