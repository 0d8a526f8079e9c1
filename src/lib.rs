//! batchramp: train CIFAR classifiers by growing the batch size instead of decaying the learning rate.
//!
//! The folder tree follows the data flow: `data` → `train` (the loop, one update, the
//! optimizers, checkpoints; with `model` and its `ops`, the plan of B, ε and m from `schedule`
//! and the transport between workers from `parallel`) → `events` → `runlog`, `report` and `tui`. `tboard` reads
//! TensorBoard logdirs into `series`, the named-series store. `cli` holds one file per
//! subcommand; `config`, `device` and `error` serve them all; `machine` samples this machine's
//! GPUs, CPU and the processes writing a logdir for the resources panel.

pub mod cli;
pub mod config;
pub mod data;
pub mod device;
pub mod error;
pub mod events;
pub mod format;
pub mod machine;
pub mod model;
pub mod ops;
pub mod parallel;
pub mod report;
pub mod runlog;
pub mod schedule;
pub mod series;
pub mod tboard;
pub mod train;
pub mod tui;

pub use error::BadInput;
