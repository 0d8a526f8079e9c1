//! Training: starting a run (`session`), the loop on its own thread (`trainer`), the plan of
//! batch sizes and learning rates (`schedule`), the optimizers (`optim`), micro-batched updates
//! (`micro`, `step`), the noise-scale estimate, checkpoints and the event sink. Must never touch
//! the terminal.

pub mod checkpoint;
pub mod collective;
pub mod handshake;
pub mod micro;
pub mod noise;
pub mod optim;
pub mod parallel;
pub mod plan;
pub mod progress;
pub mod schedule;
pub mod session;
pub mod sink;
pub mod step;
pub mod trainer;

pub use sink::EventSink;
pub use trainer::{Faults, Outcome, TrainError, TrainSetup, Trainer};
