//! Training: starting a run (`session`), the loop on its own thread (`trainer`), micro-batched
//! updates (`micro`, `step`), the noise-scale estimate, checkpoints and the event sink. Must
//! never touch the terminal.

pub mod checkpoint;
pub mod micro;
pub mod noise;
pub mod progress;
pub mod session;
pub mod sink;
pub mod step;
pub mod trainer;

pub use sink::EventSink;
pub use trainer::{Faults, Outcome, TrainError, TrainSetup, Trainer};
