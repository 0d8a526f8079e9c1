//! Everything made from a finished (or running) run log for people and other tools: plain
//! text lines, comparison tables, figures, TensorBoard and CSV exports.
//!
//! Owns presentation outside the terminal UI. It must never write to a run directory: reports
//! are derived from `events.jsonl` and can always be made again.

pub mod export;
pub mod lines;
pub mod plot;
pub mod summary;
