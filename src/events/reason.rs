//! Why a checkpoint was written and why a run paused or resumed, as types. Owns their spelling
//! in the log (the same strings older logs hold, so every log reads as it did); must never
//! decide when a checkpoint or pause happens.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a checkpoint was written; the log and the checkpoint's JSON spell it as its lower-case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckpointReason {
    /// Every `checkpoint.every_epochs`.
    Epoch,
    /// At a stage change.
    Stage,
    /// Asked for with the `c` key.
    Key,
    /// The run is stopping (quit, Ctrl-C, a signal).
    Interrupt,
    /// The loss became non-finite: the last good state.
    Nan,
    /// The run finished.
    Final,
}

impl CheckpointReason {
    /// The name used in the log and the checkpoint's JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckpointReason::Epoch => "epoch",
            CheckpointReason::Stage => "stage",
            CheckpointReason::Key => "key",
            CheckpointReason::Interrupt => "interrupt",
            CheckpointReason::Nan => "nan",
            CheckpointReason::Final => "final",
        }
    }

    /// Whether the run ends right after this checkpoint, so an older one cannot stand in for it
    /// when the write fails.
    pub fn ends_the_run(self) -> bool {
        matches!(self, CheckpointReason::Interrupt | CheckpointReason::Nan)
    }
}

impl fmt::Display for CheckpointReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reason equals its name in the log (so `reason == "key"` reads as the log does).
impl PartialEq<&str> for CheckpointReason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Why a run paused, or how it resumed. The log holds it as a string (`"key"`,
/// `"non-finite loss"`, `"resumed from PATH"`, or empty); any other string a writer put there
/// is kept as it was.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum PauseReason {
    /// No reason given (older logs).
    #[default]
    Unspecified,
    /// The `p` key (or the resume that ends such a pause).
    Key,
    /// The loss became non-finite and the run waits for the user.
    NonFiniteLoss,
    /// A resumed run went on from this checkpoint file.
    Checkpoint(String),
    /// A reason this build does not know, kept as written.
    Other(String),
}

const RESUMED_FROM: &str = "resumed from ";

impl PauseReason {
    /// The checkpoint a resumed run started from, if that is what this says.
    pub fn checkpoint(&self) -> Option<&str> {
        match self {
            PauseReason::Checkpoint(path) => Some(path),
            _ => None,
        }
    }

    /// Whether no reason was given.
    pub fn is_unspecified(&self) -> bool {
        *self == PauseReason::Unspecified
    }
}

impl From<String> for PauseReason {
    fn from(s: String) -> Self {
        match s.as_str() {
            "" => PauseReason::Unspecified,
            "key" => PauseReason::Key,
            "non-finite loss" => PauseReason::NonFiniteLoss,
            _ => match s.strip_prefix(RESUMED_FROM) {
                Some(path) => PauseReason::Checkpoint(path.to_string()),
                None => PauseReason::Other(s),
            },
        }
    }
}

impl From<PauseReason> for String {
    fn from(r: PauseReason) -> Self {
        r.to_string()
    }
}

impl fmt::Display for PauseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PauseReason::Unspecified => Ok(()),
            PauseReason::Key => f.write_str("key"),
            PauseReason::NonFiniteLoss => f.write_str("non-finite loss"),
            PauseReason::Checkpoint(path) => write!(f, "{RESUMED_FROM}{path}"),
            PauseReason::Other(s) => f.write_str(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_reasons_keep_the_strings_of_the_log() {
        for (s, r) in [
            ("", PauseReason::Unspecified),
            ("key", PauseReason::Key),
            ("non-finite loss", PauseReason::NonFiniteLoss),
            (
                "resumed from runs/a/checkpoints/0003-000000048.safetensors",
                PauseReason::Checkpoint("runs/a/checkpoints/0003-000000048.safetensors".into()),
            ),
            (
                "operator asked",
                PauseReason::Other("operator asked".into()),
            ),
        ] {
            assert_eq!(PauseReason::from(s.to_string()), r, "{s}");
            assert_eq!(String::from(r.clone()), s);
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, serde_json::to_string(s).unwrap());
            assert_eq!(serde_json::from_str::<PauseReason>(&json).unwrap(), r);
        }
    }

    #[test]
    fn checkpoint_reasons_are_their_lower_case_names() {
        for r in [
            CheckpointReason::Epoch,
            CheckpointReason::Stage,
            CheckpointReason::Key,
            CheckpointReason::Interrupt,
            CheckpointReason::Nan,
            CheckpointReason::Final,
        ] {
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.as_str())
            );
        }
    }
}
