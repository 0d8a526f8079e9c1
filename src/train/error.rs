//! How training fails. Owns the error type of the trainer and its engine; must never decide
//! what the user is told to do (the session and the binary's edge do).

use crate::parallel::collective::CollectiveError;
use crate::train::checkpoint;

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
    /// Out of memory even with micro-batches of one sample.
    #[error("out of memory with micro-batches of one image: {0}")]
    OutOfMemory(String),
    /// Combining the workers' shares failed.
    #[error("data-parallel training: {0}")]
    Collective(CollectiveError),
}
