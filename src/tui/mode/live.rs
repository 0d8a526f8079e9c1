//! A live run: its state, the requests sent to its trainer that no event has answered yet, and
//! whether its event channel has closed. Owns the rules for asking the trainer (never twice for
//! the same thing, nothing once the run is over); must never send anything itself: it hands the
//! command back for the loop to send.

use crate::events::{Control, Event, Record};
use crate::tui::outcome::UiExit;
use crate::tui::state::RunState;

use super::Status;

/// What a live run makes of a key: a command for the trainer, nothing (the same request is
/// already on its way), or why the key does nothing here.
pub type Answer = Result<Option<Control>, &'static str>;

/// Said when a key asks the trainer for something after the run has ended.
const ENDED: &str = "the run has ended";

/// Requests sent to the trainer and not yet answered by an event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pending {
    /// Pause sent, `paused` not yet seen.
    pub pausing: bool,
    /// Resume sent, `resumed` not yet seen.
    pub resuming: bool,
    /// Checkpoint sent, `checkpoint` not yet seen.
    pub checkpointing: bool,
    /// Stop sent (with checkpoint when true); the UI leaves when the trainer's channel closes.
    pub stopping: Option<bool>,
}

/// A run in this process, with its unanswered requests.
#[derive(Clone, Debug, Default)]
pub struct Live {
    run: RunState,
    pending: Pending,
    ended: bool,
}

impl Live {
    /// A live run before its first event.
    pub fn new() -> Live {
        Live::default()
    }

    /// The run so far.
    pub fn run(&self) -> &RunState {
        &self.run
    }

    /// The requests still waiting for an answer.
    pub fn pending(&self) -> Pending {
        self.pending
    }

    /// True when the trainer will send nothing more, or the run finished or failed.
    pub fn over(&self) -> bool {
        self.ended || self.run.progress.finished.is_some() || self.run.progress.failed.is_some()
    }

    /// The status for the header: the run's own, or the request it waits on.
    pub fn status(&self) -> Status {
        let own = Status::of(&self.run);
        let p = &self.pending;
        if own.is_final() {
            own
        } else if p.stopping.is_some() && !self.ended {
            Status::Stopping
        } else if self.ended {
            Status::Ended
        } else if p.checkpointing {
            Status::Checkpointing
        } else if own == Status::Paused {
            if p.resuming {
                Status::Resuming
            } else {
                Status::Paused
            }
        } else if p.pausing {
            Status::Pausing
        } else {
            own
        }
    }

    /// Applies an event from the trainer and clears the requests it answers.
    pub fn apply(&mut self, rec: &Record) {
        match &rec.event {
            Event::Paused(_) => self.pending.pausing = false,
            Event::Resumed(_) => self.pending.resuming = false,
            Event::Checkpoint(_) => self.pending.checkpointing = false,
            Event::Finished(_) | Event::Failed(_) => self.forget_requests(),
            _ => {}
        }
        self.run.apply(rec);
    }

    /// The trainer's channel closed; returns the exit to take when a stop was waiting for it.
    pub fn feed_closed(&mut self) -> Option<UiExit> {
        self.ended = true;
        self.forget_requests();
        self.stop_exit()
    }

    /// The pause key: pause, or resume when paused.
    pub fn pause(&mut self) -> Answer {
        if self.over() {
            return Err(ENDED);
        }
        if self.pending.stopping.is_some() {
            return Ok(None);
        }
        if self.run.progress.paused.is_some() && !self.pending.resuming {
            self.pending.resuming = true;
            Ok(Some(Control::Resume))
        } else if self.run.progress.paused.is_none() && !self.pending.pausing {
            self.pending.pausing = true;
            Ok(Some(Control::Pause))
        } else {
            Ok(None)
        }
    }

    /// The checkpoint key.
    pub fn checkpoint(&mut self) -> Answer {
        if self.over() || self.pending.stopping.is_some() {
            return Err(ENDED);
        }
        if self.pending.checkpointing {
            return Ok(None);
        }
        self.pending.checkpointing = true;
        Ok(Some(Control::Checkpoint))
    }

    /// Asks the trainer to stop, with a checkpoint first when `checkpoint`.
    pub fn stop(&mut self, checkpoint: bool) -> Control {
        self.pending.stopping = Some(checkpoint);
        Control::Stop { checkpoint }
    }

    /// How the UI leaves once the stop it asked for is done; `None` while no stop was asked.
    pub fn stop_exit(&self) -> Option<UiExit> {
        self.pending.stopping.map(|checkpoint| {
            if checkpoint {
                UiExit::QuitWithCheckpoint
            } else {
                UiExit::Quit
            }
        })
    }

    /// A finished or silent trainer answers nothing more; a stop stays, since the UI waits on it.
    fn forget_requests(&mut self) {
        self.pending = Pending {
            stopping: self.pending.stopping,
            ..Pending::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{CheckpointEvent, PauseEvent};
    use crate::tui::fixture;

    fn running() -> Live {
        let mut live = Live::new();
        for r in fixture::cut_at_update(&fixture::demo_records(), 50) {
            live.apply(&r);
        }
        live
    }

    #[test]
    fn an_answer_clears_only_its_own_request() {
        let mut live = running();
        assert_eq!(live.pause(), Ok(Some(Control::Pause)));
        assert_eq!(live.checkpoint(), Ok(Some(Control::Checkpoint)));
        live.apply(&Record::new(
            9.0,
            Event::Paused(PauseEvent {
                update: 50,
                reason: crate::events::PauseReason::Key,
            }),
        ));
        assert_eq!(
            live.pending(),
            Pending {
                checkpointing: true,
                ..Pending::default()
            }
        );
        assert_eq!(live.status(), Status::Checkpointing);
        live.apply(&Record::new(
            9.5,
            Event::Checkpoint(CheckpointEvent {
                path: "ck".into(),
                epoch: 0,
                update: 50,
                reason: crate::events::CheckpointReason::Key,
            }),
        ));
        assert_eq!(live.pending(), Pending::default());
        assert_eq!(live.status(), Status::Paused);
    }

    #[test]
    fn a_closed_channel_forgets_requests_but_not_a_stop() {
        let mut live = running();
        live.pause().unwrap();
        live.stop(false);
        assert_eq!(live.status(), Status::Stopping);
        assert_eq!(
            live.pause(),
            Ok(None),
            "nothing more is asked while stopping"
        );
        assert_eq!(live.checkpoint(), Err(ENDED));
        assert_eq!(live.feed_closed(), Some(UiExit::Quit));
        assert!(live.over());
        assert_eq!(
            live.pending(),
            Pending {
                stopping: Some(false),
                ..Pending::default()
            }
        );
        assert_eq!(live.status(), Status::Ended);
        assert_eq!(live.pause(), Err(ENDED));
    }
}
