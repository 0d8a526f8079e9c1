//! The run-log commands through the built binary: bad input gives exit code 2 and one clear
//! line; good input gives the plain output other tools and people read.

use std::fs;
use std::path::Path;

use batchramp::report::lines::LineFormatter;
use batchramp::runlog::sample::SampleRun;
use batchramp::runlog::LogWriter;

mod common;
use common::{assert_bad_input, batchramp, text};

/// A finished sample run in `<parent>/<dir_name>`.
fn make_run(parent: &Path, dir_name: &str, run: SampleRun) -> std::path::PathBuf {
    let dir = parent.join(dir_name);
    let writer = LogWriter::create(&dir).unwrap();
    for r in run.records() {
        writer.sender().send(r).unwrap();
    }
    writer.close().unwrap();
    dir
}

#[test]
fn bad_logs_are_refused_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    fs::write(p.join("empty.jsonl"), "").unwrap();
    fs::write(p.join("blob.bin"), [0u8, 1, 2, 3, 0, 255]).unwrap();
    fs::create_dir(p.join("not-a-run")).unwrap();
    let s = |name: &str| p.join(name).to_string_lossy().into_owned();

    for cmd in ["replay", "compare", "export", "plot", "watch"] {
        let missing = s("missing");
        let mut args = vec![cmd, missing.as_str(), "--no-tui"];
        match cmd {
            "export" => args = vec![cmd, missing.as_str(), "--csv", "-"],
            "plot" => args = vec![cmd, missing.as_str(), "--out", "/tmp/unused.png"],
            _ => {}
        }
        assert_bad_input(&batchramp(&args), &["missing", "no such file"]);
    }
    assert_bad_input(
        &batchramp(&["replay", &s("empty.jsonl"), "--no-tui"]),
        &["empty.jsonl", "empty"],
    );
    assert_bad_input(
        &batchramp(&["replay", &s("blob.bin"), "--no-tui"]),
        &["blob.bin", "binary"],
    );
    assert_bad_input(
        &batchramp(&["replay", &s("not-a-run"), "--no-tui"]),
        &["not-a-run", "no events.jsonl"],
    );
    assert_bad_input(
        &batchramp(&["watch", &s("blob.bin"), "--no-tui"]),
        &["blob.bin", "binary"],
    );
}

#[test]
fn bad_options_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let run = make_run(dir.path(), "20240101-000000-a", SampleRun::default());
    let run = run.to_string_lossy().into_owned();
    assert_eq!(
        batchramp(&["replay", &run, "--speed", "fast"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        batchramp(&["export", &run]).status.code(),
        Some(2),
        "needs --csv or --tensorboard"
    );
    let out = batchramp(&["plot", &run, "--out", "fig.jpg"]);
    assert_bad_input(&out, &["fig.jpg", ".png", ".svg"]);
    let out = batchramp(&["plot", &run, "--out", "/nonexistent-dir/fig.png"]);
    assert_bad_input(&out, &["/nonexistent-dir", "no such directory"]);
}

#[test]
fn replay_no_tui_prints_the_train_lines() {
    let dir = tempfile::tempdir().unwrap();
    let run = make_run(dir.path(), "20240101-000000-seed", SampleRun::default());
    let out = batchramp(&["replay", run.to_str().unwrap(), "--no-tui"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut f = LineFormatter::new();
    let want: String = SampleRun::default()
        .records()
        .iter()
        .filter_map(|r| f.format(r))
        .map(|l| l + "\n")
        .collect();
    assert_eq!(text(&out.stdout), want);
    assert!(want.contains("epoch 12/12  B 3200 (12×247+236)  lr 0.1  updates 270"));
}

#[test]
fn compare_no_tui_prints_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let a = make_run(
        dir.path(),
        "20240101-000000-ib",
        SampleRun {
            name: "ib".into(),
            ..Default::default()
        },
    );
    let b = make_run(
        dir.path(),
        "20240101-000001-dl",
        SampleRun {
            name: "dl".into(),
            increase_batch: false,
            finished: false,
            ..Default::default()
        },
    );
    let out = batchramp(&[
        "compare",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--no-tui",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("run") && lines[0].contains("best test"));
    assert!(
        lines[1].starts_with("ib ") && lines[1].contains("finished") && lines[1].contains("270")
    );
    assert!(lines[2].starts_with("dl ") && lines[2].contains("incomplete"));
}

#[test]
fn export_and_plot_write_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let run = make_run(dir.path(), "20240101-000000-seed", SampleRun::default());
    let run_s = run.to_str().unwrap();

    let out = batchramp(&["export", run_s, "--csv", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    assert!(csv.starts_with("run,kind,epoch,update,t,metric,value\n"));
    assert!(
        csv.contains("\n20240101-000000-seed,epoch,12,270,"),
        "the 12th epoch, counted from 1"
    );

    let tb = dir.path().join("tb");
    for _ in 0..2 {
        let out = batchramp(&["export", run_s, "--tensorboard", tb.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let files: Vec<_> = fs::read_dir(tb.join("20240101-000000-seed"))
        .unwrap()
        .collect();
    assert_eq!(files.len(), 1, "a second export replaces the first");

    let fig = dir.path().join("fig.svg");
    let out = batchramp(&[
        "plot",
        run_s,
        "--out",
        fig.to_str().unwrap(),
        "--metric",
        "test_acc",
        "--x",
        "update",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(fs::read_to_string(&fig)
        .unwrap()
        .contains("Test accuracy vs updates"));
}

#[test]
fn watch_no_tui_follows_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let done = make_run(dir.path(), "20240101-000000-done", SampleRun::default());
    let out = batchramp(&["watch", done.to_str().unwrap(), "--no-tui"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .starts_with("finished sample:"));

    // A run whose writer went away without finishing: exit 1 and say so.
    let stopped = make_run(
        dir.path(),
        "20240101-000000-stopped",
        SampleRun {
            finished: false,
            ..Default::default()
        },
    );
    let out = batchramp(&["watch", stopped.to_str().unwrap(), "--no-tui"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("writer stopped without a finished"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn watch_no_tui_of_a_quiet_run_ends_when_its_output_is_closed() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("20240101-000000-quiet");
    // A live run (its writer holds the lock) that has logged its start and then goes quiet.
    let writer = LogWriter::create(&run).unwrap();
    for r in SampleRun::default().records().into_iter().take(40) {
        writer.sender().send(r).unwrap();
    }
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_batchramp"))
        .args(["watch", run.to_str().unwrap(), "--no-tui"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(!first.is_empty());
    // Everything logged so far is printed (the writer flushes within a second); then the reader
    // goes away (`| head -1`) while nothing new is written, so no write can fail to tell it.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    drop(out);
    let status = common::exits_within(
        &mut child,
        std::time::Duration::from_secs(5),
        "still watching for a reader that is gone",
    );
    assert_eq!(status.code(), Some(0));
    writer.close().unwrap();
}
