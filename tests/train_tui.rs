//! End to end: `batchramp train` in a pseudo-terminal, driven by keys like a person would:
//! pause, checkpoint, quit with checkpoint; the screen is read through a terminal emulator.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use expectrl::Session;

/// The child's screen as a terminal would show it.
struct Screen {
    session: Session,
    parser: vt100::Parser,
    raw: Vec<u8>,
}

impl Screen {
    fn pump(&mut self) {
        let mut buf = [0u8; 65536];
        while let Ok(n) = self.session.try_read(&mut buf) {
            if n == 0 {
                break;
            }
            self.parser.process(&buf[..n]);
            self.raw.extend_from_slice(&buf[..n]);
        }
    }

    fn text(&self) -> String {
        self.parser.screen().contents()
    }

    /// Waits until the screen shows `needle`, up to `secs` seconds.
    fn wait_for(&mut self, needle: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            self.pump();
            if self.text().contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "screen never showed {needle:?}; it shows:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn key(&mut self, k: &str) {
        self.session.send(k).unwrap();
    }
}

fn checkpoints(out: &Path) -> Vec<String> {
    let Some(run) = std::fs::read_dir(out).unwrap().next() else {
        return Vec::new();
    };
    std::fs::read_dir(run.unwrap().path().join("checkpoints"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.ends_with(".safetensors"))
                .collect()
        })
        .unwrap_or_default()
}

/// Each named thread of process `pid` with its nice value (the 19th field of its `stat`).
#[cfg(target_os = "linux")]
fn thread_nice(pid: u32) -> std::collections::BTreeMap<String, i64> {
    let mut out = std::collections::BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let dir = task.unwrap().path();
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(dir.join("comm")),
            std::fs::read_to_string(dir.join("stat")),
        ) else {
            continue; // the thread ended meanwhile
        };
        // The command name may hold spaces; fields after its closing parenthesis start at 3.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let nice = after.split(' ').nth(19 - 3).unwrap().parse().unwrap();
        out.insert(comm.trim().to_string(), nice);
    }
    out
}

#[test]
fn pause_checkpoint_and_quit_keys_work_and_the_terminal_is_restored() {
    let out = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_batchramp"));
    cmd.args(["train", "--data", "synthetic", "--out"])
        .arg(out.path())
        .args([
            "--set",
            "data.synthetic_train=512",
            "--set",
            "data.synthetic_test=128",
            "--set",
            "schedule.epochs=50",
            "--set",
            "schedule.milestones=[10,20,30]",
            "--set",
            "schedule.batch=32",
            "--set",
            "model.ghost_batch=32",
            "--set",
            "checkpoint.every_epochs=0",
            "--set",
            "checkpoint.at_stage_change=false",
        ])
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR");
    let mut session = Session::spawn(cmd).expect("spawning in a pty");
    session.get_process_mut().set_window_size(120, 40).unwrap();
    let mut screen = Screen {
        session,
        parser: vt100::Parser::new(40, 120, 0),
        raw: Vec::new(),
    };
    screen.wait_for("running", 120);
    #[cfg(target_os = "linux")]
    {
        let pid = screen.session.get_process().pid().as_raw() as u32;
        let nice = thread_nice(pid);
        assert_eq!(nice.get("tui"), Some(&19), "UI thread yields: {nice:?}");
        assert_eq!(
            nice.get("tui-input"),
            Some(&19),
            "input thread yields: {nice:?}"
        );
        assert_eq!(
            nice.get("trainer"),
            nice.get("batchramp"),
            "training keeps the process's priority: {nice:?}"
        );
    }

    screen.key("p");
    screen.wait_for("paused", 60);
    assert!(
        checkpoints(out.path()).is_empty(),
        "no checkpoint before asking"
    );

    screen.key("c");
    let deadline = Instant::now() + Duration::from_secs(60);
    while checkpoints(out.path()).is_empty() {
        screen.pump();
        assert!(Instant::now() < deadline, "checkpoint never written");
        std::thread::sleep(Duration::from_millis(100));
    }
    screen.wait_for("checkpoint", 30);

    screen.key("q");
    screen.wait_for("checkpoint", 10);
    // The quit dialog: c = checkpoint and quit.
    screen.key("c");
    let deadline = Instant::now() + Duration::from_secs(60);
    // Poll without reaping twice: the first non-StillAlive status is the exit status.
    let status = loop {
        screen.pump();
        match screen.session.get_process().status().unwrap() {
            expectrl::WaitStatus::StillAlive => {}
            other => break other,
        }
        assert!(Instant::now() < deadline, "did not exit after quit");
        std::thread::sleep(Duration::from_millis(100));
    };
    screen.pump();
    assert!(
        matches!(status, expectrl::WaitStatus::Exited(_, 0)),
        "exit status {status:?}"
    );
    // Both checkpoints (on `c`, then on quit) are logged; paused, they share one update.
    let run = std::fs::read_dir(out.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let log = std::fs::read_to_string(run.join("events.jsonl")).unwrap();
    let reasons: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"kind\":\"checkpoint\""))
        .filter_map(|l| l.split("\"reason\":\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(reasons, vec!["key", "interrupt"]);
    assert!(!checkpoints(out.path()).is_empty());
    // Terminal restored: alternate screen left, cursor shown again.
    assert!(
        !screen.parser.screen().alternate_screen(),
        "still in the alternate screen"
    );
    assert!(!screen.parser.screen().hide_cursor(), "cursor still hidden");
    let raw = String::from_utf8_lossy(&screen.raw);
    assert!(
        raw.contains("\u{1b}[?1049l"),
        "never left the alternate screen"
    );
}
