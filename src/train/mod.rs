//! Training: the loop on its own thread, micro-batched updates, the noise-scale estimate,
//! checkpoints and the event sink. Must never touch the terminal.

pub mod checkpoint;
pub mod noise;
pub mod progress;
pub mod sink;
pub mod step;
pub mod trainer;

pub use sink::EventSink;
pub use trainer::{Outcome, TrainError, TrainSetup, Trainer};
