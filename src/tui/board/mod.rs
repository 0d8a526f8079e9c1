//! The scalars dashboard: any TensorBoard logdir (PyTorch, Lightning, Keras, JAX) drawn as
//! TensorBoard draws it — every scalar tag grouped by its prefix, a filterable tag list,
//! several charts of overlaid runs with a legend, smoothing, three x axes, log-y, an
//! outlier-proof y range, a last/min/max table, hparams, the stages a batch-size or
//! learning-rate tag shows, and this machine's GPUs.
//!
//! Files by job: `store` (what the reader thread sent: per run, per tag, a bounded track and
//! exact figures, stages), `options` (how a chart is drawn: smoothing, x axis, y scale), `view`
//! (filter, cursor, table; what each dashboard key does), `charts` (one tag's chart),
//! `draw` (the frame: header, tag list, machine, runs, charts, table, key list). Must never
//! read a file: the reader thread (`tboard::LogdirReader`) does, and sends
//! [`crate::tboard::ScalarUpdate`]s.

pub mod charts;
pub mod draw;
pub mod options;
pub mod store;
pub mod view;

pub use draw::{charts_per_page, draw, table_value, Dashboard};
pub use options::{ChartOptions, XMode};
pub use store::{Board, BoardRun, BoardStage, BoardStatus, TagFigures, TagSeries};
pub use view::{BoardKey, BoardView};
