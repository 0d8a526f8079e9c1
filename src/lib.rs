//! batchramp: train CIFAR classifiers by growing the batch size instead of decaying the learning rate.
//!
//! The folder tree follows the data flow: `data` → `train` (with `model`, `ops`, `optim`,
//! `schedule`) → `events` → `runlog` and `tui`. `cli` holds one file per subcommand.

pub mod cli;
pub mod config;
pub mod data;
pub mod device;
pub mod error;
pub mod events;
pub mod model;
pub mod ops;
pub mod optim;
pub mod report;
pub mod runlog;
pub mod schedule;
pub mod train;
pub mod tui;

pub use error::BadInput;
