//! Taking over the terminal and always giving it back: raw mode, alternate screen, hidden cursor;
//! restored by a drop guard on every return path and by a panic hook if anything panics while
//! the UI is up (and by the signal thread before a forced exit). Once the terminal is known to be
//! gone nothing is written to it. Owns terminal modes only; must never draw.

use std::io::{stdout, IsTerminal};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use ratatui::crossterm::cursor::{Hide, Show};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};

use super::outcome::TuiError;

/// True while the terminal is in the UI's modes.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

/// Holds the terminal in raw mode on the alternate screen; restores it when dropped.
#[derive(Debug)]
pub struct TerminalGuard {
    _private: (),
}

impl TerminalGuard {
    /// Enters raw mode and the alternate screen (fails cleanly when stdout is not a terminal).
    pub fn enter() -> Result<TerminalGuard, TuiError> {
        if !stdout().is_terminal() {
            return Err(TuiError::NotATerminal);
        }
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        });
        enable_raw_mode().map_err(TuiError::Terminal)?;
        ACTIVE.store(true, Ordering::SeqCst);
        let guard = TerminalGuard { _private: () };
        // On failure the guard's drop undoes raw mode.
        execute!(stdout(), EnterAlternateScreen, Hide).map_err(TuiError::Terminal)?;
        Ok(guard)
    }
}

impl TerminalGuard {
    /// The terminal is gone: dropping the guard writes nothing (no restoring sequences to a
    /// terminal that cannot show them, and no write that could wait on a stalled one).
    pub fn forget_gone_terminal(&self) {
        ACTIVE.store(false, Ordering::SeqCst);
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves the alternate screen and raw mode if the UI holds them; safe to call any number of times.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        // Best effort: the terminal may already be gone (closed SSH session).
        let _ = execute!(stdout(), Show, LeaveAlternateScreen);
        let _ = disable_raw_mode();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_without_enter_is_a_no_op_and_enter_refuses_a_pipe() {
        restore();
        restore();
        assert!(!ACTIVE.load(Ordering::SeqCst));
        // Under `cargo test` stdout is captured or piped, never a terminal.
        if !stdout().is_terminal() {
            let err = TerminalGuard::enter().unwrap_err().to_string();
            assert!(err.contains("not a terminal"), "{err}");
            assert!(!ACTIVE.load(Ordering::SeqCst));
        }
    }
}
