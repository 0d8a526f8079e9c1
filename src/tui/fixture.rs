//! The demo runs the UI tests, screenshots and demo draw, and the edits that turn a whole log
//! into one UI state (warming up, paused, failed…). Generates nothing itself: the events come from
//! `runlog::sample::SampleRun`; must never be used to report real results.

use crate::events::{
    CheckpointEvent, Event, MessageEvent, ParallelStep, PauseEvent, Record, Worker,
};
use crate::runlog::sample::SampleRun;
use crate::tboard::{Logdir, LogdirReader, TagTable, TboardError};
use crate::tui::board::Board;

/// The dashboard of a TensorBoard logdir read whole (as `replay` shows it), with a fixed
/// two-GPU machine sample in place of this machine's, so frames of it are the same everywhere.
pub fn logdir_board(path: &std::path::Path) -> Result<Board, TboardError> {
    let reader = LogdirReader::spawn(Logdir::open(path)?, None);
    let mut board = Board::new(TagTable::default(), false);
    for u in reader.updates().iter() {
        board.apply(u);
    }
    board.feed_ended();
    board.machine = Some(crate::machine::fake::two_gpus());
    Ok(board)
}

/// The increase-batch demo run, finished: header, stages, steps, epochs, resources, noise scale,
/// checkpoints and an out-of-memory warning.
pub fn demo_records() -> Vec<Record> {
    SampleRun::demo().records()
}

/// The same run with a decaying learning rate and a fixed batch, for the compare view.
pub fn decay_lr_records() -> Vec<Record> {
    SampleRun {
        name: "demo-decay-lr".into(),
        increase_batch: false,
        seed: 2,
        ..SampleRun::demo()
    }
    .records()
}

/// The records up to and including the step of update `u` (all of them when the run is shorter).
pub fn cut_at_update(records: &[Record], u: u64) -> Vec<Record> {
    let end = records
        .iter()
        .position(|r| matches!(&r.event, Event::Step(s) if s.update >= u))
        .map_or(records.len(), |i| i + 1);
    records[..end].to_vec()
}

/// The records up to and including the result of epoch `n` (counted from 1) and what followed
/// it at once (its checkpoint, a resource sample): a log without steps cut mid-way.
pub fn cut_after_epoch(records: &[Record], n: usize) -> Vec<Record> {
    let Some(at) = records
        .iter()
        .position(|r| matches!(&r.event, Event::Epoch(e) if e.epoch >= n))
    else {
        return records.to_vec();
    };
    let rest = records[at + 1..]
        .iter()
        .take_while(|r| matches!(r.event, Event::Checkpoint(_) | Event::Resources(_)))
        .count();
    records[..at + 1 + rest].to_vec()
}

/// `records` with the user's pause at their last update appended.
pub fn paused(mut records: Vec<Record>) -> Vec<Record> {
    let state = crate::tui::state::RunState::from_records(&records);
    records.push(Record::new(
        state.progress.t,
        Event::Paused(PauseEvent {
            update: state.update(),
            reason: crate::events::PauseReason::Key,
        }),
    ));
    records
}

/// The records before the first step: header, first stage, maybe a resource sample.
pub fn warming_up(records: &[Record]) -> Vec<Record> {
    let end = records
        .iter()
        .position(|r| matches!(r.event, Event::Step(_)))
        .unwrap_or(records.len());
    records[..end].to_vec()
}

/// The records up to `n` updates after stage `index` began.
pub fn after_stage(records: &[Record], index: usize, n: u64) -> Vec<Record> {
    let start = records.iter().find_map(|r| match &r.event {
        Event::Stage(s) if s.index == index => Some(s.update),
        _ => None,
    });
    cut_at_update(records, start.unwrap_or(0) + n)
}

/// A run paused by the user at update `u`.
pub fn paused_at(records: &[Record], u: u64) -> Vec<Record> {
    let mut out = cut_at_update(records, u);
    let t = out.last().map_or(0.0, |r| r.t);
    out.push(Record::new(
        t,
        Event::Paused(PauseEvent {
            update: u,
            reason: crate::events::PauseReason::Key,
        }),
    ));
    out
}

/// A run that failed at update `u` on a non-finite loss.
pub fn failed_at(records: &[Record], u: u64) -> Vec<Record> {
    let mut out = cut_at_update(records, u);
    let t = out.last().map_or(0.0, |r| r.t);
    out.push(Record::new(
        t + 0.1,
        Event::Checkpoint(CheckpointEvent {
            path: format!("checkpoints/nan-{u}.safetensors"),
            epoch: 0,
            update: u,
            reason: crate::events::CheckpointReason::Nan,
        }),
    ));
    out.push(Record::new(
        t + 0.2,
        Event::Failed(MessageEvent {
            message: format!("loss became NaN at update {u}; lower the learning rate or resume from the last checkpoint"),
        }),
    ));
    out
}

/// The run as `workers` processes on two machines would log it: workers in the header, and every
/// update shared among min(workers, B / 128) of them, a tenth of its time spent combining.
pub fn data_parallel(records: &[Record], workers: usize) -> Vec<Record> {
    let mut out = records.to_vec();
    for r in &mut out {
        match &mut r.event {
            Event::RunStarted(h) => {
                h.workers = (0..workers)
                    .map(|rank| Worker {
                        rank,
                        host: format!("node-{}", rank % 2),
                        threads: 1,
                    })
                    .collect();
            }
            Event::Step(s) => {
                s.parallel = Some(ParallelStep {
                    busy: workers.min(s.batch.div_ceil(128)),
                    comm_seconds: 0.02,
                    wait_seconds: 0.005,
                    comm_bytes: 1 << 20,
                    step_seconds: 0.2,
                });
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_without_steps_is_cut_after_an_epoch_with_its_checkpoint() {
        let recs = SampleRun {
            steps: false,
            ..SampleRun::demo()
        }
        .records();
        let cut = cut_after_epoch(&recs, 5);
        let state = crate::tui::state::RunState::from_records(&cut);
        assert_eq!(state.progress.epochs.len(), 5);
        assert!(matches!(cut.last().unwrap().event, Event::Checkpoint(_)));
        let p = paused(cut);
        let state = crate::tui::state::RunState::from_records(&p);
        assert_eq!(
            state.progress.paused.as_ref().map(|p| p.update),
            Some(state.update())
        );
    }
}
