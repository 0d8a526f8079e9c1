//! A TensorBoard logdir as a source: the board the reader thread fills, the user's view of it,
//! and whether it is followed live. Read-only: nothing goes back to a writer.

use crate::machine::MachineSample;
use crate::tboard::{ScalarUpdate, TagTable};
use crate::tui::board::{Board, BoardStatus, BoardView};

/// A logdir read once (replay, compare) or followed (watch).
#[derive(Clone, Debug)]
pub struct Logdir {
    board: Board,
    /// What the user chose to see.
    pub view: BoardView,
}

impl Logdir {
    /// An empty board; `following` when the logdir is watched live.
    pub fn new(table: TagTable, following: bool) -> Self {
        Logdir {
            board: Board::new(table, following),
            view: BoardView::default(),
        }
    }

    /// What the reader sent so far.
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// The view to change and the board it shows, together.
    pub fn view_and_board(&mut self) -> (&mut BoardView, &Board) {
        (&mut self.view, &self.board)
    }

    /// Applies one change from the reader.
    pub fn apply(&mut self, u: ScalarUpdate) {
        self.board.apply(u);
    }

    /// This machine's latest sample.
    pub fn machine(&mut self, sample: MachineSample) {
        self.board.machine = Some(sample);
    }

    /// The reader stopped.
    pub fn feed_closed(&mut self) {
        self.board.feed_ended();
    }

    /// Nothing more will come: read once and done, or the reader stopped.
    pub fn over(&self) -> bool {
        matches!(
            self.board.status(),
            BoardStatus::Loaded | BoardStatus::Ended
        )
    }
}
