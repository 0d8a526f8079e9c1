//! One file per subcommand: argument structs (clap) and the code that wires library pieces
//! together. The binary edge: `anyhow` is used here and nowhere below.

pub mod bench;
pub mod compare;
pub mod data;
pub mod detach;
pub mod export;
pub mod plan;
pub mod plot;
pub mod replay;
pub mod train;
pub mod watch;

use std::io::Write;

use crate::error::{BadInput, Interrupted};

/// Writes one line to standard error, never failing: `eprintln!` panics when stderr is a
/// terminal that has gone away (EIO), and a message nobody can read is no reason to crash.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// A UI's way out as an exit code: 129 when the terminal went away, 130 after Ctrl-C, else 0.
pub fn ui_exit_code(exit: crate::tui::UiExit) -> i32 {
    match exit {
        crate::tui::UiExit::TerminalLost => 129,
        crate::tui::UiExit::Interrupted => 130,
        _ => 0,
    }
}

/// Checks `--theme` before anything else happens, with or without a terminal: a bad theme is
/// input to fix (exit 2), not something to discover once a run is under way.
pub fn check_theme(theme: Option<&str>) -> anyhow::Result<()> {
    crate::tui::load_theme(theme).map_err(|e| BadInput(e.to_string()))?;
    Ok(())
}

/// The exit code for an error: 2 for input the user must fix, the signal code for interrupts,
/// 1 for everything else.
pub fn exit_code(e: &anyhow::Error) -> i32 {
    for cause in e.chain() {
        if let Some(Interrupted(code)) = cause.downcast_ref::<Interrupted>() {
            return *code;
        }
        if let Some(crate::error::Silent(code)) = cause.downcast_ref::<crate::error::Silent>() {
            return *code;
        }
        if let Some(e) = cause.downcast_ref::<crate::train::session::SessionError>() {
            return if e.is_bad_input() { 2 } else { 1 };
        }
        if cause.is::<BadInput>()
            || cause.is::<crate::config::ConfigError>()
            || matches!(
                cause.downcast_ref::<crate::data::DataError>(),
                // A failed download is the network's fault, not the user's input.
                Some(e) if !matches!(e, crate::data::DataError::Download { .. })
            )
            || cause.is::<crate::device::DeviceError>()
            || matches!(
                cause.downcast_ref::<crate::train::checkpoint::CheckpointError>(),
                Some(crate::train::checkpoint::CheckpointError::Invalid { .. })
            )
            || matches!(
                cause.downcast_ref::<crate::train::TrainError>(),
                Some(crate::train::TrainError::Mismatch { .. })
                    | Some(crate::train::TrainError::Checkpoint(
                        crate::train::checkpoint::CheckpointError::Invalid { .. }
                    ))
            )
        {
            return 2;
        }
    }
    1
}

/// The error and its causes on one line, without repeating a cause the message already quotes.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out.push_str(": ");
            out.push_str(&c);
        }
    }
    out.replace('\n', " ")
}
