//! One event as one line of text: the single wording that the plain lines (`report::lines`)
//! and the UI's notable-events log both print, so the two never drift. Owns that wording; must
//! never decide which events get a line or where a line goes.

use super::{CheckpointEvent, MessageEvent, PauseEvent, StageEvent, Summary};
use crate::format::{count, counted, duration, lr, micro_batches, noise_scale};

/// How a line names a file: whole (the plain lines, to copy into a command) or by its file name
/// (the UI's narrow panels, where the name is what tells checkpoints apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paths {
    /// The path as logged.
    Full,
    /// Its last part.
    FileName,
}

impl Paths {
    /// `path` as this shows it.
    pub fn show(self, path: &str) -> &str {
        match self {
            Paths::Full => path,
            Paths::FileName => file_name(path),
        }
    }
}

/// The last part of a path as written in a log (`checkpoints/0003-000000048.safetensors` →
/// `0003-000000048.safetensors`).
pub fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// `stage 2/3 from epoch 21: B 640 (5×128)  lr 0.1  momentum 0.9  noise scale 781  (why)`;
/// `planned` is the number of stages in the header's plan (the `/3` is left out for a stage
/// beyond it, as an adaptive schedule adds them).
pub fn stage(s: &StageEvent, planned: Option<usize>) -> String {
    let of = match planned {
        Some(n) if n > s.index => format!("/{n}"),
        _ => String::new(),
    };
    let mut line = format!(
        "stage {}{of} from epoch {}: B {}  lr {}  momentum {}  noise scale {}",
        s.index + 1,
        s.epoch,
        batch(s),
        lr(s.lr),
        s.momentum,
        noise_scale(s.noise_scale)
    );
    if let Some(reason) = &s.reason {
        line += &format!("  ({reason})");
    }
    line
}

/// A stage's B: `640 (5×128)` when accumulated from micro-batches, else `640`.
pub fn batch(s: &StageEvent) -> String {
    match micro_batches(s.batch, s.micro_batch, "×") {
        Some(split) => format!("{} ({split})", s.batch),
        None => s.batch.to_string(),
    }
}

/// `checkpoint PATH (key, after update 1,234)`.
pub fn checkpoint(c: &CheckpointEvent, paths: Paths) -> String {
    format!(
        "checkpoint {} ({}, after update {})",
        paths.show(&c.path),
        c.reason,
        count(c.update)
    )
}

/// `paused at update 1,234 (key)`.
pub fn paused(p: &PauseEvent) -> String {
    match p.reason.is_unspecified() {
        true => format!("paused at update {}", count(p.update)),
        false => format!("paused at update {} ({})", count(p.update), p.reason),
    }
}

/// `resumed from PATH at update 1,234` for a run resumed from a checkpoint, else
/// `resumed at update 1,234` (the end of a pause).
pub fn resumed(p: &PauseEvent, paths: Paths) -> String {
    match p.reason.checkpoint() {
        Some(from) => format!(
            "resumed from {} at update {}",
            paths.show(from),
            count(p.update)
        ),
        None => format!("resumed at update {}", count(p.update)),
    }
}

/// `resumed from PATH`: a run header that says which run it continues.
pub fn resumed_from(from: &str) -> String {
    format!("resumed from {from}")
}

/// `warning: …`.
pub fn warning(m: &MessageEvent) -> String {
    format!("warning: {}", m.message)
}

/// `failed: …`.
pub fn failed(m: &MessageEvent) -> String {
    format!("failed: {}", m.message)
}

/// `finished NAME: 12 epochs, 1,234 updates (5,000 for decay-LR), test 91.2% (best 91.5% at
/// epoch 11), 3m12s`.
pub fn finished(s: &Summary) -> String {
    format!(
        "finished {}: {}, {} ({} for decay-LR), test {} (best {} at epoch {}), {}",
        s.name,
        counted(s.epochs as u64, "epoch"),
        counted(s.updates, "update"),
        count(s.baseline_updates as u64),
        percent(s.final_test_acc),
        percent(s.best_test_acc),
        s.best_epoch,
        duration(s.wall)
    )
}

/// A fraction as the lines show it: `55.1%`, or `n/a`.
pub fn percent(v: f64) -> String {
    match v.is_finite() {
        true => format!("{:.1}%", v * 100.0),
        false => "n/a".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{CheckpointReason, PauseReason};

    #[test]
    fn paths_show_whole_or_by_file_name() {
        let c = CheckpointEvent {
            path: "runs/a/checkpoints/0003-000000048.safetensors".into(),
            epoch: 3,
            update: 1234,
            reason: CheckpointReason::Key,
        };
        assert_eq!(
            checkpoint(&c, Paths::Full),
            "checkpoint runs/a/checkpoints/0003-000000048.safetensors (key, after update 1,234)"
        );
        assert_eq!(
            checkpoint(&c, Paths::FileName),
            "checkpoint 0003-000000048.safetensors (key, after update 1,234)"
        );
        let r = PauseEvent {
            update: 48,
            reason: PauseReason::Checkpoint(c.path.clone()),
        };
        assert_eq!(
            resumed(&r, Paths::FileName),
            "resumed from 0003-000000048.safetensors at update 48"
        );
        let p = PauseEvent {
            update: 1234,
            reason: PauseReason::Unspecified,
        };
        assert_eq!(paused(&p), "paused at update 1,234");
        assert_eq!(resumed(&p, Paths::Full), "resumed at update 1,234");
    }
}
