//! How the UI ends: the way the user left, or why it could not run. Its own module so that the
//! parts that produce an outcome (`app`, `mode`, `runner`, `terminal`, `theme`) import it from
//! beside them rather than from the module that assembles them.

/// What the user ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UiExit {
    /// Left without a checkpoint (q → y in a live run, q elsewhere, a second Ctrl-C).
    Quit,
    /// Asked the trainer to checkpoint and stop, and it did (q → c, Ctrl-C, a shutdown request).
    QuitWithCheckpoint,
    /// The feed had ended (run finished or failed, log closed, replay done) and the user closed the UI.
    FeedEnded,
    /// A stop begun with Ctrl-C (Ctrl-C twice, or Ctrl-C then an answer to the quit question);
    /// the trainer has stopped as asked. The process exits 130.
    Interrupted,
    /// The terminal went away (hang-up, a failed read or write); a live run was asked to
    /// checkpoint and stop, and did. Nothing more was drawn. The process exits 129.
    TerminalLost,
}

/// Errors of the terminal UI.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// A theme could not be loaded; the message names the file or value and what to do.
    #[error("theme: {0}")]
    Theme(String),
    /// Standard output is not a terminal.
    #[error("stdout is not a terminal: run with --no-tui, or in a terminal")]
    NotATerminal,
    /// Reading from or writing to the terminal failed.
    #[error("terminal: {0}")]
    Terminal(#[source] std::io::Error),
}
