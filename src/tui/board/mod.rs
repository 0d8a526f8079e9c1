//! The scalars dashboard: any TensorBoard logdir (PyTorch, Lightning, Keras, JAX) drawn as
//! TensorBoard draws it — every scalar tag grouped by its prefix, a filterable tag list,
//! several charts of overlaid runs with a legend, smoothing, three x axes, log-y, an
//! outlier-proof y range, a last/min/max table, hparams, the stages a batch-size or
//! learning-rate tag shows, and this machine's GPUs.
//!
//! Files by job: `store` (what the reader thread sent: per run, per tag, a bounded track and
//! exact figures), `options` (how a chart is drawn: smoothing, x axis, y scale). Must never
//! read a file: the reader thread (`tboard::LogdirReader`) does, and sends
//! [`crate::tboard::ScalarUpdate`]s.

pub mod charts;
pub mod options;
pub mod store;

pub use options::{ChartOptions, XMode};
pub use store::{Board, BoardRun, BoardStatus, TagFigures, TagSeries};
