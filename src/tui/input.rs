//! Reading the terminal's keys ourselves: a thread that polls the tty (and a SIGWINCH pipe) and
//! turns its bytes into key events, and says once, as its last message, when the terminal is
//! gone (hang-up, end of input, a read error).
//!
//! Why not crossterm's reader: on a hung-up tty a read returns 0 bytes (or EIO) and crossterm's
//! event source retries that read in a loop that never returns, so a UI whose terminal went away
//! spun at 100% CPU and could not be joined. Here a dead terminal is an end, never retried.
//! Owns the tty's input side only; must never write to the terminal.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What the reader reports.
#[derive(Debug)]
pub enum Input {
    /// A key was pressed.
    Key(KeyEvent),
    /// The terminal changed size.
    Resize,
    /// The terminal is gone; nothing more will come.
    Lost(io::Error),
}

/// How long the reader sleeps in one poll, which bounds how long stopping it takes.
const POLL_MS: i32 = 100;
/// How long an escape byte waits for the rest of a sequence before it counts as the Esc key.
const ESC_WAIT_MS: i32 = 25;

/// The reader thread; stopped and joined when dropped (within one poll period).
pub struct InputReader {
    rx: Receiver<Input>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl InputReader {
    /// Starts reading the controlling terminal: standard input when it is a tty, else `/dev/tty`.
    pub fn spawn() -> io::Result<InputReader> {
        let tty = Tty::open()?;
        let (winch_rx, winch_tx) = UnixStream::pair()?;
        winch_rx.set_nonblocking(true)?;
        let winch = signal_hook::low_level::pipe::register(libc::SIGWINCH, winch_tx)?;
        let (tx, rx) = crossbeam_channel::bounded(256);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("tui-input".into())
            .spawn(move || {
                read_loop(&tty, &winch_rx, &tx, &flag);
                signal_hook::low_level::unregister(winch);
            })?;
        Ok(InputReader {
            rx,
            stop,
            handle: Some(handle),
        })
    }

    /// The reader's messages; `Lost` is the last one.
    pub fn receiver(&self) -> Receiver<Input> {
        self.rx.clone()
    }
}

impl Drop for InputReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The terminal's input file descriptor, closed on drop only when we opened it.
struct Tty {
    fd: RawFd,
    _owned: Option<std::fs::File>,
}

impl Tty {
    fn open() -> io::Result<Tty> {
        // SAFETY: isatty only inspects the descriptor.
        if unsafe { libc::isatty(libc::STDIN_FILENO) } == 1 {
            return Ok(Tty {
                fd: libc::STDIN_FILENO,
                _owned: None,
            });
        }
        let file = std::fs::File::open("/dev/tty")?;
        Ok(Tty {
            fd: file.as_raw_fd(),
            _owned: Some(file),
        })
    }
}

/// Polls until stopped or the terminal is gone; polling with a timeout (rather than a blocking
/// read) lets the thread end when the UI does, so it never steals input from what runs after.
fn read_loop(tty: &Tty, winch: &UnixStream, tx: &Sender<Input>, stop: &AtomicBool) {
    let mut decoder = KeyDecoder::default();
    let mut buf = [0u8; 1024];
    let send_keys = |keys: Vec<KeyEvent>| keys.into_iter().all(|k| tx.send(Input::Key(k)).is_ok());
    while !stop.load(Ordering::SeqCst) {
        let mut fds = [
            libc::pollfd {
                fd: tty.fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: winch.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let wait = if decoder.is_pending() {
            ESC_WAIT_MS
        } else {
            POLL_MS
        };
        // SAFETY: `fds` is a valid array of two pollfd structures for the duration of the call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait) };
        if ready < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            let _ = tx.send(Input::Lost(e));
            return;
        }
        if ready == 0 {
            if !send_keys(decoder.flush()) {
                return;
            }
            continue;
        }
        let tty_events = fds[0].revents;
        if tty_events & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            let _ = tx.send(Input::Lost(io::Error::other("the terminal hung up")));
            return;
        }
        if tty_events & libc::POLLIN != 0 {
            // SAFETY: reading into a buffer we own, at most its length.
            let n = unsafe { libc::read(tty.fd, buf.as_mut_ptr().cast(), buf.len()) };
            match n {
                0 => {
                    let _ = tx.send(Input::Lost(io::Error::from(io::ErrorKind::UnexpectedEof)));
                    return;
                }
                n if n < 0 => {
                    let e = io::Error::last_os_error();
                    if !matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                    ) {
                        let _ = tx.send(Input::Lost(e));
                        return;
                    }
                }
                n => {
                    if !send_keys(decoder.feed(&buf[..n as usize])) {
                        return;
                    }
                }
            }
        }
        if fds[1].revents & libc::POLLIN != 0 {
            let mut sink = [0u8; 64];
            while matches!((&*winch).read(&mut sink), Ok(n) if n > 0) {}
            if tx.send(Input::Resize).is_err() {
                return;
            }
        }
    }
}

/// Whether a failed write or read means the terminal is gone (hung up, closed, revoked) rather
/// than a passing fault.
pub fn is_terminal_gone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EIO | libc::ENXIO | libc::EPIPE | libc::EBADF | libc::ENOTTY)
    ) || matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::UnexpectedEof | io::ErrorKind::WriteZero
    )
}

/// Turns the bytes a terminal sends for keys (xterm conventions: C0 controls, UTF-8, `ESC [`
/// and `ESC O` sequences with modifier parameters, ESC before a key for Alt) into key events.
#[derive(Debug, Default)]
pub struct KeyDecoder {
    pending: Vec<u8>,
}

/// One step of decoding.
enum Step {
    /// A key, and how many bytes it took.
    Key(KeyEvent, usize),
    /// Bytes that are no key (an unknown or unrequested report), skipped.
    Skip(usize),
    /// The start of a sequence whose rest has not arrived.
    Incomplete,
}

/// Longest escape sequence waited for; a longer unfinished one is dropped.
const MAX_SEQUENCE: usize = 64;

impl KeyDecoder {
    /// Feeds bytes read from the terminal; returns the keys they complete. An escape sequence
    /// cut at the end waits for the next call, or for [`KeyDecoder::flush`].
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<KeyEvent> {
        self.pending.extend_from_slice(bytes);
        let mut keys = Vec::new();
        let mut at = 0;
        while at < self.pending.len() {
            match step(&self.pending[at..]) {
                Step::Key(k, n) => {
                    keys.push(k);
                    at += n;
                }
                Step::Skip(n) => at += n,
                Step::Incomplete if self.pending.len() - at > MAX_SEQUENCE => at += 1,
                Step::Incomplete => break,
            }
        }
        self.pending.drain(..at);
        keys
    }

    /// Whether bytes wait for the rest of a sequence.
    pub fn is_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Gives up waiting: a held escape byte is the Esc key (what followed it is decoded again),
    /// and a character cut short is dropped.
    pub fn flush(&mut self) -> Vec<KeyEvent> {
        let rest = std::mem::take(&mut self.pending);
        match rest.first() {
            Some(0x1b) => {
                let mut keys = vec![KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)];
                keys.extend(self.feed(&rest[1..]));
                keys
            }
            _ => Vec::new(),
        }
    }
}

fn key(code: KeyCode, mods: KeyModifiers, len: usize) -> Step {
    Step::Key(KeyEvent::new(code, mods), len)
}

/// Decodes the key at the start of `b` (never empty).
fn step(b: &[u8]) -> Step {
    match b[0] {
        0x1b => escape(b),
        _ => plain(b),
    }
}

/// A key that does not start with ESC.
fn plain(b: &[u8]) -> Step {
    let none = KeyModifiers::NONE;
    let ctrl = KeyModifiers::CONTROL;
    match b[0] {
        b'\r' | b'\n' => key(KeyCode::Enter, none, 1),
        b'\t' => key(KeyCode::Tab, none, 1),
        0x7f | 0x08 => key(KeyCode::Backspace, none, 1),
        0x00 => key(KeyCode::Char(' '), ctrl, 1),
        c @ 0x01..=0x1a => key(KeyCode::Char((b'a' + c - 1) as char), ctrl, 1),
        c @ 0x1c..=0x1f => key(KeyCode::Char((b'4' + c - 0x1c) as char), ctrl, 1),
        lead => {
            let width = match lead {
                0x00..=0x7f => 1,
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf7 => 4,
                _ => return Step::Skip(1),
            };
            if b.len() < width {
                return Step::Incomplete;
            }
            match std::str::from_utf8(&b[..width])
                .ok()
                .and_then(|s| s.chars().next())
            {
                Some(c) if c.is_uppercase() => key(KeyCode::Char(c), KeyModifiers::SHIFT, width),
                Some(c) => key(KeyCode::Char(c), none, width),
                None => Step::Skip(1),
            }
        }
    }
}

/// A sequence starting with ESC: CSI, SS3, Alt+key, or a lone Esc once nothing follows.
fn escape(b: &[u8]) -> Step {
    let Some(&second) = b.get(1) else {
        return Step::Incomplete;
    };
    match second {
        b'[' => csi(b),
        b'O' => match b.get(2) {
            None => Step::Incomplete,
            Some(&f) => match final_key(f, None) {
                Some(code) => key(code, KeyModifiers::NONE, 3),
                None if f == b'M' => key(KeyCode::Enter, KeyModifiers::NONE, 3),
                None => Step::Skip(3),
            },
        },
        0x1b => key(KeyCode::Esc, KeyModifiers::NONE, 1),
        _ => match plain(&b[1..]) {
            Step::Key(mut k, n) => {
                k.modifiers |= KeyModifiers::ALT;
                Step::Key(k, n + 1)
            }
            Step::Skip(n) => Step::Skip(n + 1),
            Step::Incomplete => Step::Incomplete,
        },
    }
}

/// The key of a sequence's final byte (arrows, Home/End, F1-F4), `first` being its first parameter.
fn final_key(f: u8, first: Option<u16>) -> Option<KeyCode> {
    Some(match f {
        b'A' => KeyCode::Up,
        b'B' => KeyCode::Down,
        b'C' => KeyCode::Right,
        b'D' => KeyCode::Left,
        b'H' => KeyCode::Home,
        b'F' => KeyCode::End,
        b'P' => KeyCode::F(1),
        b'Q' => KeyCode::F(2),
        // `ESC [ row ; col R` is a cursor report, which the UI never asks for; F3 has row 1.
        b'R' if first.is_none_or(|p| p == 1) => KeyCode::F(3),
        b'S' => KeyCode::F(4),
        _ => return None,
    })
}

/// `ESC [ params final`.
fn csi(b: &[u8]) -> Step {
    let body = &b[2..];
    let Some(end) = body.iter().position(|c| (0x40..=0x7e).contains(c)) else {
        return Step::Incomplete;
    };
    let len = 2 + end + 1;
    let f = body[end];
    let params: Vec<Option<u16>> = std::str::from_utf8(&body[..end])
        .unwrap_or("")
        .split(';')
        .map(|p| p.split(':').next().and_then(|v| v.parse().ok()))
        .collect();
    let first = params.first().copied().flatten();
    let mods = modifiers(params.get(1).copied().flatten());
    let code = match f {
        b'~' => match first {
            Some(1 | 7) => KeyCode::Home,
            Some(2) => KeyCode::Insert,
            Some(3) => KeyCode::Delete,
            Some(4 | 8) => KeyCode::End,
            Some(5) => KeyCode::PageUp,
            Some(6) => KeyCode::PageDown,
            Some(n @ 11..=15) => KeyCode::F((n - 10) as u8),
            Some(n @ 17..=21) => KeyCode::F((n - 11) as u8),
            Some(n @ 23..=24) => KeyCode::F((n - 12) as u8),
            _ => return Step::Skip(len),
        },
        b'Z' => return key(KeyCode::BackTab, KeyModifiers::SHIFT, len),
        b'u' => {
            let Some(c) = first.and_then(|p| char::from_u32(p.into())) else {
                return Step::Skip(len);
            };
            let code = match c {
                '\r' => KeyCode::Enter,
                '\t' => KeyCode::Tab,
                '\u{1b}' => KeyCode::Esc,
                '\u{7f}' => KeyCode::Backspace,
                c => KeyCode::Char(c),
            };
            return key(code, mods, len);
        }
        f => match final_key(f, first) {
            Some(code) => code,
            None => return Step::Skip(len),
        },
    };
    key(code, mods, len)
}

/// xterm's modifier parameter: 1 + (shift 1, alt 2, ctrl 4).
fn modifiers(p: Option<u16>) -> KeyModifiers {
    let bits = p.unwrap_or(1).saturating_sub(1);
    let mut m = KeyModifiers::NONE;
    if bits & 1 != 0 {
        m |= KeyModifiers::SHIFT;
    }
    if bits & 2 != 0 {
        m |= KeyModifiers::ALT;
    }
    if bits & 4 != 0 {
        m |= KeyModifiers::CONTROL;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn plain_keys_controls_and_utf8() {
        let mut d = KeyDecoder::default();
        let none = KeyModifiers::NONE;
        assert_eq!(
            d.feed(b"q\x03\r\t\x7fP"),
            vec![
                k(KeyCode::Char('q'), none),
                k(KeyCode::Char('c'), KeyModifiers::CONTROL),
                k(KeyCode::Enter, none),
                k(KeyCode::Tab, none),
                k(KeyCode::Backspace, none),
                k(KeyCode::Char('P'), KeyModifiers::SHIFT),
            ]
        );
        // A character split across two reads.
        assert!(d.feed(&"é".as_bytes()[..1]).is_empty());
        assert_eq!(
            d.feed(&"é".as_bytes()[1..]),
            vec![k(KeyCode::Char('é'), none)]
        );
        assert!(!d.is_pending());
    }

    #[test]
    fn escape_sequences_with_and_without_modifiers() {
        let mut d = KeyDecoder::default();
        let none = KeyModifiers::NONE;
        assert_eq!(
            d.feed(b"\x1b[A\x1bOB\x1b[1;5C\x1b[H\x1b[4~\x1b[5~\x1b[6~\x1bOP\x1b[24~\x1b[Z"),
            vec![
                k(KeyCode::Up, none),
                k(KeyCode::Down, none),
                k(KeyCode::Right, KeyModifiers::CONTROL),
                k(KeyCode::Home, none),
                k(KeyCode::End, none),
                k(KeyCode::PageUp, none),
                k(KeyCode::PageDown, none),
                k(KeyCode::F(1), none),
                k(KeyCode::F(12), none),
                k(KeyCode::BackTab, KeyModifiers::SHIFT),
            ]
        );
        // Reports the UI never asked for (mouse, focus) are skipped, not turned into keys.
        assert_eq!(
            d.feed(b"\x1b[I\x1b[<0;3;4Mx"),
            vec![k(KeyCode::Char('x'), none)]
        );
        // Alt as an ESC prefix.
        assert_eq!(
            d.feed(b"\x1bl"),
            vec![k(KeyCode::Char('l'), KeyModifiers::ALT)]
        );
    }

    #[test]
    fn a_lone_escape_waits_then_is_the_esc_key() {
        let mut d = KeyDecoder::default();
        assert!(d.feed(b"\x1b").is_empty());
        assert!(d.is_pending());
        // The rest of a sequence arriving in the next read completes it.
        assert_eq!(d.feed(b"[D"), vec![k(KeyCode::Left, KeyModifiers::NONE)]);
        assert!(d.feed(b"\x1b").is_empty());
        assert_eq!(d.flush(), vec![k(KeyCode::Esc, KeyModifiers::NONE)]);
        assert!(!d.is_pending());
        // An unfinished sequence given up: Esc, then what followed as keys.
        assert!(d.feed(b"\x1b[").is_empty());
        assert_eq!(
            d.flush(),
            vec![
                k(KeyCode::Esc, KeyModifiers::NONE),
                k(KeyCode::Char('['), KeyModifiers::NONE)
            ]
        );
    }

    #[test]
    fn write_errors_of_a_dead_terminal_are_told_apart() {
        assert!(is_terminal_gone(&io::Error::from_raw_os_error(libc::EIO)));
        assert!(is_terminal_gone(&io::Error::from_raw_os_error(libc::EPIPE)));
        assert!(!is_terminal_gone(&io::Error::from_raw_os_error(
            libc::ENOSPC
        )));
    }
}
