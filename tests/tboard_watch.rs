//! End to end on a pseudo-terminal: `batchramp watch LOGDIR` follows a file that a writer is
//! still appending to (bytes of a real PyTorch SummaryWriter file, cut inside a record), shows
//! each new step in its last-value table, picks up a run that appears, leaves on `q` with the
//! terminal given back, and exits by itself when the terminal is taken away.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;
use common::bin;
use common::pty::Pty;

fn pytorch_file() -> (PathBuf, Vec<u8>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tensorboard/pytorch");
    let file = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_file())
        .unwrap();
    let bytes = std::fs::read(&file).unwrap();
    (file, bytes)
}

/// The last-value table's row of `tag` on the screen, as its cells.
fn table_row(screen: &str, tag: &str) -> Option<Vec<String>> {
    screen
        .lines()
        .map(|l| {
            l.split(['│', '▸'])
                .rfind(|c| !c.trim().is_empty())
                .unwrap_or("")
                .to_string()
        })
        .find(|row| row.trim_start().starts_with(tag) && row.split_whitespace().count() == 6)
        .map(|row| row.split_whitespace().map(str::to_string).collect())
}

fn watch(logdir: &Path) -> Pty {
    let mut cmd = bin();
    cmd.arg("watch").arg(logdir);
    Pty::spawn(cmd, false)
}

#[test]
fn watching_a_logdir_while_a_writer_appends_shows_each_new_step() {
    let (_, bytes) = pytorch_file();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("resnet");
    std::fs::create_dir(&run).unwrap();
    let file = run.join("events.out.tfevents.1796305444.host.1.0");
    // A writer mid-record: the torn tail waits for the rest.
    std::fs::write(&file, &bytes[..3000]).unwrap();
    let mut pty = watch(dir.path());
    pty.wait_for("following", 20);
    pty.wait_for("train/accuracy", 10);
    let before = table_row(&pty.text(), "train/accuracy").expect("a row for train/accuracy");
    let step_before: i64 = before[2].parse().unwrap();
    assert!(step_before < 29, "{before:?}");
    // The writer goes on in pieces; each new step shows in the table within a poll or two.
    let cuts = [4000, 5000, 6000, bytes.len()];
    let mut from = 3000;
    let mut last = step_before;
    for cut in cuts {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap();
        f.write_all(&bytes[from..cut]).unwrap();
        drop(f);
        from = cut;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let step: i64 = table_row(&pty.text(), "train/accuracy")
                .and_then(|r| r[2].parse().ok())
                .unwrap_or(last);
            if step > last {
                last = step;
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the table never moved past step {last}:\n{}",
                pty.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert_eq!(last, 29, "every step of the file");
    let row = table_row(&pty.text(), "train/accuracy").unwrap();
    assert_eq!(row[1..], ["0.9", "29", "0.1", "0.9", "30"], "{row:?}");
    // A second run appears in the logdir.
    let other = dir.path().join("resnet-b");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("events.out.tfevents.1.host.2.0"), &bytes).unwrap();
    pty.wait_for("resnet-b", 10);
    pty.wait_for("2 runs", 10);
    pty.keys(b"q");
    let (status, _) = pty.exit(Instant::now(), 10);
    assert!(status.success(), "{status}");
}

#[test]
fn a_watch_whose_terminal_goes_away_exits_by_itself() {
    let (_, bytes) = pytorch_file();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("events.out.tfevents.1.host.1.0"), &bytes).unwrap();
    let mut pty = watch(dir.path());
    pty.wait_for("following", 20);
    let at = pty.hang_up();
    let (status, took) = pty.exit(at, 10);
    eprintln!("exit {took:?} after the hang-up");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(status.code(), Some(129), "{status}");
}
