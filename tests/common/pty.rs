//! A child on a pseudo-terminal opened here (not with expectrl, whose drop kills the child), so
//! that closing its master is exactly what a dropped SSH connection or a killed tmux pane does:
//! the child is a session leader with the tty as its controlling terminal, so the kernel hangs
//! the tty up and sends it SIGHUP. The screen is kept by a terminal emulator (vt100).

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::open_pty;

/// A child on a pseudo-terminal of 120 × 40 whose screen is kept by a terminal emulator.
pub struct Pty {
    master: Option<Arc<OwnedFd>>,
    child: Child,
    screen: Arc<Mutex<vt100::Parser>>,
    stop_reading: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

impl Pty {
    /// Starts `cmd` as the session leader of a new pseudo-terminal; with `ignore_hup` it starts
    /// with SIGHUP ignored (as under `nohup`), so only the tty's own hang-up tells it.
    pub fn spawn(mut cmd: Command, ignore_hup: bool) -> Pty {
        // Opened close-on-exec: a child another test starts meanwhile never holds this
        // terminal's master, or closing ours would hang nothing up.
        let (master, slave) = open_pty(120, 40);
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave))
            .env("TERM", "xterm-256color")
            .env_remove("NO_COLOR");
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if ignore_hup {
                    libc::signal(libc::SIGHUP, libc::SIG_IGN);
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawning on the pty");
        drop(cmd); // the parent's copies of the slave
        let master = Arc::new(master);
        let screen = Arc::new(Mutex::new(vt100::Parser::new(40, 120, 0)));
        let stop_reading = Arc::new(AtomicBool::new(false));
        let reader = {
            let (master, screen, stop) = (master.clone(), screen.clone(), stop_reading.clone());
            std::thread::spawn(move || read_screen(&master, &screen, &stop))
        };
        Pty {
            master: Some(master),
            child,
            screen,
            stop_reading,
            reader: Some(reader),
        }
    }

    /// The emulated screen (its cells, modes, the alternate screen).
    pub fn screen(&self) -> std::sync::MutexGuard<'_, vt100::Parser> {
        self.screen.lock().unwrap()
    }

    pub fn text(&self) -> String {
        self.screen.lock().unwrap().screen().contents()
    }

    /// Waits until the screen shows `needle`.
    pub fn wait_for(&mut self, needle: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.text().contains(needle) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "exited ({status}) before showing {needle:?}:\n{}",
                    self.text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "screen never showed {needle:?}; it shows:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn keys(&self, bytes: &[u8]) {
        let fd = self.master.as_ref().unwrap().as_raw_fd();
        // SAFETY: writing a buffer we own to a descriptor we hold.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        assert_eq!(n, bytes.len() as isize);
    }

    /// Closes the master, as a dropped SSH connection or a killed tmux pane does.
    pub fn hang_up(&mut self) -> Instant {
        self.stop_reading.store(true, Ordering::SeqCst);
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        let master = self.master.take().unwrap();
        let at = Instant::now();
        drop(Arc::into_inner(master).expect("the only holder of the master"));
        at
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits for the exit; returns its status and how long after `since` it came.
    pub fn exit(&mut self, since: Instant, secs: u64) -> (ExitStatus, Duration) {
        let deadline = since + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, since.elapsed());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("still running {secs} s after the hang-up");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        self.stop_reading.store(true, Ordering::SeqCst);
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// Feeds the terminal emulator until asked to stop or the child's side is closed; polls with a
/// timeout so that stopping it never waits on a blocked read.
fn read_screen(master: &OwnedFd, screen: &Mutex<vt100::Parser>, stop: &AtomicBool) {
    let mut buf = [0u8; 65536];
    while !stop.load(Ordering::SeqCst) {
        let mut fds = [libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(fds.as_mut_ptr(), 1, 50) } <= 0 {
            continue;
        }
        // SAFETY: reading into a buffer we own.
        let n = unsafe { libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            // EIO once every slave descriptor is closed: keep polling slowly until told to stop.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        screen.lock().unwrap().process(&buf[..n as usize]);
    }
}
