//! Error kinds that decide the process exit code at the binary edge.

/// An error caused by the user's input (a config, a file, a value): the process exits with code 2.
///
/// Library modules keep their own `thiserror` enums; the command layer wraps those that are
/// the user's to fix in this type so `main` can pick the exit code without knowing every enum.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// The run was interrupted by a signal after a clean shutdown; carries the exit code (130, 143, 129).
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted(pub i32);

/// An error another process of the same job reports: exit with this code without a message (a
/// data-parallel run prints a refusal once, from rank 0, not once per worker).
#[derive(Debug, thiserror::Error)]
#[error("reported by another worker")]
pub struct Silent(pub i32);
