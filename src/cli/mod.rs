//! One file per subcommand: argument structs (clap) and the code that wires library pieces
//! together. The binary edge: `anyhow` is used here and nowhere below.

pub mod bench;
pub mod board;
pub mod compare;
pub mod data;
pub mod detach;
pub mod export;
pub mod machine;
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

/// How often a quiet follow checks that its reader (`| head`, a closed SSH pipe) is still there.
pub(crate) const HANGUP_CHECK: std::time::Duration = std::time::Duration::from_millis(500);

/// True when standard output is a pipe or socket whose reader has gone: a follow with nothing
/// to write would otherwise wait forever, since only a write would fail.
pub(crate) fn stdout_closed() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: 0,
        revents: 0,
    };
    // SAFETY: one pollfd on our own stdout, no timeout; the kernel only writes `revents`.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    n > 0 && fd.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

/// The next item a plain follow prints, waiting as long as it takes; `None` once the channel
/// has ended or the reader of standard output has gone (checked every [`HANGUP_CHECK`] while
/// nothing comes).
pub(crate) fn next_while_read<T>(items: &crossbeam_channel::Receiver<T>) -> Option<T> {
    loop {
        match items.recv_timeout(HANGUP_CHECK) {
            Ok(item) => return Some(item),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) if stdout_closed() => return None,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return None,
        }
    }
}

/// A UI's way out as an exit code: 129 when the terminal went away, 130 after Ctrl-C, else 0.
pub fn ui_exit_code(exit: crate::tui::UiExit) -> i32 {
    match exit {
        crate::tui::UiExit::TerminalLost => 129,
        crate::tui::UiExit::Interrupted => 130,
        _ => 0,
    }
}

/// SIGINT, SIGTERM and SIGHUP while a read-only UI (`watch`, `replay`, `compare`) is up: the UI
/// is asked to leave, so that the terminal is given back before the exit, which then carries the
/// signal's code (128 + its number). A SIGHUP ignored at start (`nohup`) stays ignored.
pub struct UiSignals {
    rx: crossbeam_channel::Receiver<()>,
    code: std::sync::Arc<std::sync::atomic::AtomicI32>,
    handle: signal_hook::iterator::Handle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl UiSignals {
    /// Starts listening.
    pub fn install() -> anyhow::Result<UiSignals> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        use std::sync::atomic::Ordering;
        let mut wanted = vec![SIGINT, SIGTERM];
        if !inherited_ignored(SIGHUP) {
            wanted.push(SIGHUP);
        }
        let mut signals = signal_hook::iterator::Signals::new(&wanted)
            .map_err(|e| anyhow::anyhow!("installing signal handlers: {e}"))?;
        let handle = signals.handle();
        let (tx, rx) = crossbeam_channel::bounded(1);
        let code = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
        let seen = code.clone();
        let thread = std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    let _ = seen.compare_exchange(0, 128 + sig, Ordering::SeqCst, Ordering::SeqCst);
                    let _ = tx.try_send(());
                }
            })
            .map_err(|e| anyhow::anyhow!("starting the signal thread: {e}"))?;
        Ok(UiSignals {
            rx,
            code,
            handle,
            thread: Some(thread),
        })
    }

    /// What the UI listens on.
    pub fn receiver(&self) -> crossbeam_channel::Receiver<()> {
        self.rx.clone()
    }

    /// Stops listening; the exit code of the signal that came, if one did.
    pub fn finish(mut self) -> Option<i32> {
        self.handle.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        match self.code.load(std::sync::atomic::Ordering::SeqCst) {
            0 => None,
            c => Some(c),
        }
    }
}

/// Whether `sig` was set to be ignored when this process started (`nohup` does it for SIGHUP).
pub fn inherited_ignored(sig: i32) -> bool {
    // SAFETY: reads the current disposition only (a null new action changes nothing).
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
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
        // A session error answers for the whole chain below it.
        if let Some(bad) = crate::error::classify(cause) {
            if bad || cause.is::<crate::train::session::SessionError>() {
                return if bad { 2 } else { 1 };
            }
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
