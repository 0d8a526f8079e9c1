//! Error kinds that decide the process exit code at the binary edge, and the one table of
//! which library errors are the user's to fix ([`UserFixable`]): the exit code and the
//! session both ask it, so the two can never disagree.

use crate::data::DataError;
use crate::parallel::collective::JoinError;
use crate::parallel::handshake::HandshakeError;
use crate::train::checkpoint::CheckpointError;
use crate::train::session::SessionError;
use crate::train::TrainError;

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

/// Whether an error is input the user must fix (a config, a file, a value, a checkpoint: exit
/// code 2), as opposed to a failure of the machine or the run (exit code 1).
pub trait UserFixable {
    /// `true` for input to fix.
    fn is_bad_input(&self) -> bool;
}

impl UserFixable for DataError {
    fn is_bad_input(&self) -> bool {
        // A failed download is the network's fault, not the user's input.
        !matches!(self, DataError::Download { .. })
    }
}

impl UserFixable for CheckpointError {
    fn is_bad_input(&self) -> bool {
        matches!(self, CheckpointError::Invalid { .. })
    }
}

impl UserFixable for TrainError {
    fn is_bad_input(&self) -> bool {
        match self {
            TrainError::Mismatch { .. } => true,
            TrainError::Checkpoint(e) => e.is_bad_input(),
            TrainError::Tensor(_) | TrainError::OutOfMemory(_) | TrainError::Collective(_) => false,
        }
    }
}

impl UserFixable for HandshakeError {
    fn is_bad_input(&self) -> bool {
        matches!(self, HandshakeError::Disagree(_))
    }
}

impl UserFixable for JoinError {
    fn is_bad_input(&self) -> bool {
        matches!(self, JoinError::NotBuiltWithMpi { .. })
    }
}

impl UserFixable for SessionError {
    fn is_bad_input(&self) -> bool {
        match self {
            SessionError::Config(_)
            | SessionError::Device(_)
            | SessionError::Log(_)
            | SessionError::NotInRunDir(_)
            | SessionError::CannotApplyOnResume(_) => true,
            SessionError::Data(e) => e.is_bad_input(),
            SessionError::Checkpoint(e) => e.is_bad_input(),
            SessionError::Train(e) => e.is_bad_input(),
            SessionError::Handshake(e) => e.is_bad_input(),
            SessionError::Join(e) => e.is_bad_input(),
            SessionError::RunDir { .. }
            | SessionError::Thread(_)
            | SessionError::Stalled { .. }
            | SessionError::Finished { .. } => false,
        }
    }
}

/// What the table says of one error of any type: `Some(true)` for input to fix, `Some(false)`
/// for a failure, `None` for a type the table does not know.
pub fn classify(e: &(dyn std::error::Error + 'static)) -> Option<bool> {
    if e.is::<BadInput>()
        || e.is::<crate::config::ConfigError>()
        || e.is::<crate::device::DeviceError>()
    {
        return Some(true);
    }
    fn ask<T: UserFixable + std::error::Error + 'static>(
        e: &(dyn std::error::Error + 'static),
    ) -> Option<bool> {
        e.downcast_ref::<T>().map(UserFixable::is_bad_input)
    }
    ask::<SessionError>(e)
        .or_else(|| ask::<DataError>(e))
        .or_else(|| ask::<CheckpointError>(e))
        .or_else(|| ask::<TrainError>(e))
        .or_else(|| ask::<HandshakeError>(e))
        .or_else(|| ask::<JoinError>(e))
}
