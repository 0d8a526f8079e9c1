//! Reading TensorBoard logdirs written by any framework (PyTorch's SummaryWriter,
//! tensorboardX, Lightning, Keras / `tf.summary`, JAX via tensorboardX or clu), and the
//! TFRecord framing the TensorBoard export writes with.
//!
//! Files by job: `record` (TFRecord framing and its two masked CRC-32C checks), `proto` (the
//! protobuf messages, prost structs), `wire` (the zero-copy hot path over the same messages),
//! `file` (one event file read incrementally), `run` (what a run's events mean: scalars,
//! restarts, hparams), `logdir` (finding runs, polling), `tags` (which tags are a loss, an
//! accuracy, a learning rate, a batch size), `csv` (the tidy export), `problem` (damage,
//! counted), `feed` (a logdir read on its own thread, sent to the UI as changes).
//!
//! Scalars land in [`crate::series`], the store the UI draws. This module must never draw,
//! and never fail on damage in a file: damage is skipped and counted in [`Problems`].
//! TensorBoard's data server (`tensorboard/data/server`) is the reference for what is read
//! and how files are polled; docs/tensorboard.md says what is read and what is not yet.

mod csv;
mod feed;
mod file;
mod logdir;
mod problem;
pub mod proto;
pub mod record;
mod run;
pub mod tags;
pub mod wire;

use std::path::PathBuf;

pub use csv::{value_text, write_csv};
pub use feed::{LogdirReader, ScalarUpdate, CHUNK};
pub use file::EventFile;
pub use logdir::{
    is_event_file_name, is_tensorboard_source, open_input, open_input_unread, Logdir, PollReport,
};
pub use problem::{Problem, ProblemKind, Problems};
pub use run::{HParamValue, Run};
pub use tags::{Role, TagRule, TagTable};

/// Why a logdir could not be opened. Damage inside files is no error (see [`Problems`]).
#[derive(Debug, thiserror::Error)]
pub enum TboardError {
    /// The path does not exist.
    #[error("{}: no such file or directory; pass a TensorBoard logdir or an events.out.tfevents.* file", .path.display())]
    Missing {
        /// The path as given.
        path: PathBuf,
    },
    /// A directory with no event file at any depth.
    #[error("{}: no TensorBoard event files (events.out.tfevents.*) in this directory or below", .path.display())]
    NoEventFiles {
        /// The directory.
        path: PathBuf,
    },
    /// A directory that is neither a batchramp run nor a TensorBoard logdir.
    #[error("{}: neither a batchramp run (no events.jsonl) nor a TensorBoard logdir (no events.out.tfevents.* files at any depth); pass a run directory, a logdir or an event file", .path.display())]
    Neither {
        /// The directory.
        path: PathBuf,
    },
    /// A file whose name is not an event file's.
    #[error("{}: not a TensorBoard event file (its name has no \"tfevents\")", .path.display())]
    NotAnEventFile {
        /// The file.
        path: PathBuf,
    },
    /// The path could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}
