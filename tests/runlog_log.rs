//! End-to-end tests of the run log: writer and reader round trip, crash leftovers, damaged and
//! newer logs, the writer lock, write errors, and following a growing log.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use batchramp::events::{Event, MessageEvent, Record, Summary};
use batchramp::runlog::sample::SampleRun;
use batchramp::runlog::{
    self, follow_with, read_log, FollowOptions, LogWriter, RunLogError, EVENTS_FILE, SUMMARY_FILE,
};

/// Writes `records` through a `LogWriter` into `dir`.
fn write_run(dir: &Path, records: &[Record]) {
    let writer = LogWriter::create(dir).expect("create log");
    let tx = writer.sender();
    for r in records {
        tx.send(r.clone()).expect("writer alive");
    }
    writer.close().expect("close log");
}

fn small_run() -> Vec<Record> {
    SampleRun::default().records()
}

fn append_raw(dir: &Path, text: &str) {
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(dir.join(EVENTS_FILE))
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

#[test]
fn round_trip_is_exact_and_writes_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let records = small_run();
    write_run(dir.path(), &records);

    let log = read_log(dir.path()).unwrap();
    assert_eq!(log.records, records, "every record, every float bit");
    assert!(log.notes().is_empty(), "{:?}", log.notes());
    assert_eq!(log.header().map(|h| h.name.as_str()), Some("sample"));

    let written: Summary =
        serde_json::from_str(&fs::read_to_string(dir.path().join(SUMMARY_FILE)).unwrap()).unwrap();
    assert_eq!(Some(&written), log.finished());
    assert!(
        fs::read_to_string(dir.path().join(SUMMARY_FILE))
            .unwrap()
            .contains("\n  \"name\": \"sample\""),
        "summary.json is pretty-printed"
    );
    // The log file path works as well as the directory.
    assert_eq!(
        read_log(&dir.path().join(EVENTS_FILE))
            .unwrap()
            .records
            .len(),
        records.len()
    );
}

#[test]
fn no_summary_without_finished() {
    let dir = tempfile::tempdir().unwrap();
    write_run(
        dir.path(),
        &SampleRun {
            finished: false,
            ..Default::default()
        }
        .records(),
    );
    assert!(!dir.path().join(SUMMARY_FILE).exists());
}

#[test]
fn reading_across_blocks_keeps_order_and_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    // ~40,000 step lines: several 4 MB blocks parsed in parallel.
    let records = SampleRun {
        train_size: 100_000,
        epochs: 60,
        milestones: vec![],
        ..Default::default()
    }
    .records();
    assert!(records.len() > 35_000);
    let mut text = String::new();
    let bad_at = [20_000usize, 30_001];
    for (i, r) in records.iter().enumerate() {
        if bad_at.contains(&(i + 1)) {
            text.push_str("{\"v\":1,\"t\":oops}\n");
        }
        text.push_str(&serde_json::to_string(r).unwrap());
        text.push('\n');
    }
    assert!(text.len() > 8 << 20, "must span several blocks");
    fs::write(dir.path().join(EVENTS_FILE), text).unwrap();
    let log = read_log(dir.path()).unwrap();
    assert_eq!(log.records, records);
    assert_eq!(log.bad_line_count, 2);
    // The bad line is inserted before record `k` (1-based), so it is line `k`, and the second
    // one comes after the first bad line: line `k + 1`.
    let lines: Vec<usize> = log.bad_lines.iter().map(|b| b.line).collect();
    assert_eq!(lines, vec![20_000, 30_002]);
}

#[test]
fn a_truncated_last_line_is_ignored_and_noted() {
    let dir = tempfile::tempdir().unwrap();
    let records = SampleRun {
        finished: false,
        ..Default::default()
    }
    .records();
    write_run(dir.path(), &records);
    append_raw(dir.path(), r#"{"v":1,"t":99.0,"kind":"step","update":12"#);
    let log = read_log(dir.path()).unwrap();
    assert_eq!(log.records, records);
    assert!(log.truncated_last_line);
    assert_eq!(log.bad_line_count, 0);
    assert!(log
        .notes()
        .iter()
        .any(|n| n.contains("incomplete last line")));
}

#[test]
fn append_cuts_a_torn_line_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let records = SampleRun {
        finished: false,
        ..Default::default()
    }
    .records();
    write_run(dir.path(), &records);
    append_raw(dir.path(), r#"{"v":1,"t":99.0,"kind":"ste"#);

    let writer = LogWriter::append(dir.path()).unwrap();
    let warning = Record::new(
        100.0,
        Event::Warning(MessageEvent {
            message: "resumed".into(),
        }),
    );
    writer.sender().send(warning.clone()).unwrap();
    writer.close().unwrap();

    let log = read_log(dir.path()).unwrap();
    assert!(log.notes().is_empty(), "{:?}", log.notes());
    assert_eq!(log.records.len(), records.len() + 1);
    assert_eq!(log.records.last(), Some(&warning));
}

#[test]
fn garbage_lines_are_counted_and_skipped_up_to_a_limit() {
    let dir = tempfile::tempdir().unwrap();
    let records = small_run();
    let mut lines: Vec<String> = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    lines.insert(5, "not json at all".into());
    lines.insert(
        9,
        r#"{"v":1,"t":1.0,"kind":"epoch","epoch":"three"}"#.into(),
    );
    lines.insert(12, String::new());
    fs::write(dir.path().join(EVENTS_FILE), lines.join("\n") + "\n").unwrap();

    let log = read_log(dir.path()).unwrap();
    assert_eq!(log.records, records);
    assert_eq!(log.bad_line_count, 2);
    assert_eq!(log.bad_lines[0].line, 6);
    assert_eq!(log.bad_lines[1].line, 10);
    assert!(
        log.bad_lines[1].error.contains("invalid type"),
        "{}",
        log.bad_lines[1].error
    );
    let notes = log.notes().join("\n");
    assert!(
        notes.contains("2 unreadable line(s), first at line 6"),
        "{notes}"
    );

    // A file that is mostly garbage is not a run log: stop with an error, not a partial run.
    let mut text = serde_json::to_string(&records[0]).unwrap() + "\n";
    for i in 0..runlog::MAX_BAD_LINES + 50 {
        text += &format!("garbage {i}\n");
    }
    fs::write(dir.path().join(EVENTS_FILE), text).unwrap();
    match read_log(dir.path()) {
        Err(e @ RunLogError::TooManyBadLines { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("first at line 2") && msg.contains("not a batchramp log"),
                "{msg}"
            );
        }
        other => panic!("expected TooManyBadLines, got {other:?}"),
    }
}

#[test]
fn unknown_kinds_are_skipped_and_newer_majors_refused() {
    let dir = tempfile::tempdir().unwrap();
    let records = small_run();
    write_run(dir.path(), &records);
    append_raw(
        dir.path(),
        "{\"v\":1,\"t\":50.0,\"kind\":\"weight_norms\",\"norms\":[1.0,2.0]}\n",
    );
    let log = read_log(dir.path()).unwrap();
    assert_eq!(log.records, records);
    assert_eq!(log.unknown_kinds.get("weight_norms"), Some(&1));
    assert!(log
        .notes()
        .iter()
        .any(|n| n.contains("unknown kind `weight_norms`")));

    let line = records.len() + 2;
    append_raw(
        dir.path(),
        "{\"v\":3,\"t\":51.0,\"kind\":\"epoch\",\"whatever\":1}\n",
    );
    match read_log(dir.path()) {
        Err(e @ RunLogError::NewerSchema { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(&format!("line {line}")), "{msg}");
            assert!(
                msg.contains("schema v3") && msg.contains("upgrade batchramp"),
                "{msg}"
            );
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
}

#[test]
fn bad_paths_get_one_clear_line_each() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let msg = |path: &Path| read_log(path).unwrap_err().to_string();

    let missing = msg(&p.join("nope"));
    assert!(
        missing.contains("nope") && missing.contains("no such file"),
        "{missing}"
    );

    fs::create_dir(p.join("empty-dir")).unwrap();
    let no_log = msg(&p.join("empty-dir"));
    assert!(no_log.contains("no events.jsonl"), "{no_log}");

    fs::write(p.join("empty.jsonl"), "").unwrap();
    assert!(msg(&p.join("empty.jsonl")).contains("empty"));

    fs::write(p.join("model.bin"), [0u8, 159, 146, 150, 0, 1, 2, 3]).unwrap();
    assert!(msg(&p.join("model.bin")).contains("binary data"));

    fs::write(p.join("notes.txt"), "hello\nworld\n").unwrap();
    assert!(msg(&p.join("notes.txt")).contains("not a batchramp run log"));

    fs::write(p.join("torn.jsonl"), r#"{"v":1,"t":0.0,"kind":"run_st"#).unwrap();
    assert!(msg(&p.join("torn.jsonl")).contains("no complete record"));

    for m in [missing, no_log] {
        assert_eq!(m.lines().count(), 1, "{m}");
    }
}

#[test]
fn the_lock_refuses_a_second_writer() {
    let dir = tempfile::tempdir().unwrap();
    let first = LogWriter::create(dir.path()).unwrap();
    match LogWriter::append(dir.path()) {
        Err(e @ RunLogError::Locked { .. }) => {
            assert!(
                e.to_string()
                    .contains("another process is writing this run"),
                "{e}"
            )
        }
        Err(e) => panic!("expected Locked, got {e}"),
        Ok(_) => panic!("a second writer got the lock"),
    }
    first.close().unwrap();
    // Released on close: a resumed run may write again.
    LogWriter::append(dir.path()).unwrap().close().unwrap();
}

#[test]
fn create_refuses_a_log_with_records() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), &small_run());
    match LogWriter::create(dir.path()) {
        Err(RunLogError::NotEmpty { .. }) => {}
        Err(e) => panic!("expected NotEmpty, got {e}"),
        Ok(_) => panic!("create overwrote a log"),
    }
}

#[test]
fn records_reach_the_file_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let writer = LogWriter::create(dir.path()).unwrap();
    // Step records are not flushed one by one; the periodic flush must get them out.
    let steps: Vec<Record> = small_run()
        .into_iter()
        .filter(|r| matches!(r.event, Event::Step(_)))
        .take(50)
        .collect();
    let tx = writer.sender();
    for s in &steps {
        tx.send(s.clone()).unwrap();
    }
    std::thread::sleep(Duration::from_millis(1500));
    let text = fs::read_to_string(dir.path().join(EVENTS_FILE)).unwrap();
    assert_eq!(text.lines().count(), steps.len(), "not flushed after 1.5 s");
    writer.close().unwrap();
}

#[cfg(target_os = "linux")]
#[test]
fn write_errors_are_reported_not_panicked() {
    let dir = tempfile::tempdir().unwrap();
    // /dev/full accepts opens and fails every write with ENOSPC: a full disk on demand.
    std::os::unix::fs::symlink("/dev/full", dir.path().join(EVENTS_FILE)).unwrap();
    let writer = LogWriter::create(dir.path()).unwrap();
    let tx = writer.sender();
    for r in small_run().into_iter().take(20) {
        tx.send(r).unwrap();
    }
    writer.flush_now();
    let mut error = None;
    for _ in 0..100 {
        error = writer.error();
        if error.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let error = error.expect("error() reports the failure");
    assert!(error.contains("No space left"), "{error}");
    match writer.close() {
        Err(e @ RunLogError::Write { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("records were not logged"), "{msg}");
        }
        other => panic!("expected a write error, got {other:?}"),
    }
}

#[test]
fn follow_reads_a_log_written_in_pieces_until_it_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let records = SampleRun {
        train_size: 2_000,
        epochs: 4,
        milestones: vec![2],
        ..Default::default()
    }
    .records();
    let text: String = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    fs::write(dir.path().join(EVENTS_FILE), "").unwrap();
    let follower = follow_with(
        dir.path(),
        FollowOptions {
            poll: Duration::from_millis(10),
            idle_grace: Duration::from_secs(5),
        },
    );
    let rx = follower.receiver();

    // Another thread appends in odd-sized pieces, cutting lines (and UTF-8 text) anywhere.
    let path = dir.path().join(EVENTS_FILE);
    let writer = std::thread::spawn(move || {
        let mut f = fs::OpenOptions::new().append(true).open(path).unwrap();
        let bytes = text.as_bytes();
        let mut at = 0;
        let mut piece = 1;
        while at < bytes.len() {
            let end = (at + piece).min(bytes.len());
            f.write_all(&bytes[at..end]).unwrap();
            f.flush().unwrap();
            at = end;
            piece = piece * 7 % 4093 + 1;
            std::thread::sleep(Duration::from_micros(200));
        }
    });

    let mut got = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(rec)) => got.push(rec),
            Ok(Err(notice)) => panic!("unexpected notice: {notice}"),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            Err(e) => panic!("follower stalled after {} records: {e}", got.len()),
        }
    }
    writer.join().unwrap();
    assert_eq!(got, records, "all records, in order, then the end");
}

#[test]
fn follow_tells_a_quiet_writer_from_a_stopped_one() {
    let dir = tempfile::tempdir().unwrap();
    let records = SampleRun {
        finished: false,
        ..Default::default()
    }
    .records();
    let writer = LogWriter::create(dir.path()).unwrap();
    for r in &records {
        writer.sender().send(r.clone()).unwrap();
    }
    writer.flush_now();
    let grace = Duration::from_millis(300);
    let follower = follow_with(
        dir.path(),
        FollowOptions {
            poll: Duration::from_millis(20),
            idle_grace: grace,
        },
    );
    let rx = follower.receiver();
    let mut n = 0;
    while n < records.len() {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(_)) => n += 1,
            other => panic!("after {n} records: {other:?}"),
        }
    }
    // The writer holds its lock: silence is not the end.
    assert!(matches!(
        rx.recv_timeout(grace * 4),
        Err(crossbeam_channel::RecvTimeoutError::Timeout)
    ));
    // Closing without a finished record: the follower says the writer stopped, then ends.
    writer.close().unwrap();
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Err(msg)) => assert!(msg.contains("writer stopped without a finished"), "{msg}"),
        other => panic!("expected a notice, got {other:?}"),
    }
    assert!(matches!(
        rx.recv_timeout(Duration::from_secs(5)),
        Err(crossbeam_channel::RecvTimeoutError::Disconnected)
    ));
}

#[test]
fn follow_reports_bad_lines_and_keeps_going() {
    let dir = tempfile::tempdir().unwrap();
    let records = small_run();
    let mut text = String::new();
    for (i, r) in records.iter().enumerate() {
        if i == 3 {
            text.push_str("{broken\n");
        }
        text.push_str(&(serde_json::to_string(r).unwrap() + "\n"));
    }
    fs::write(dir.path().join(EVENTS_FILE), text).unwrap();
    let follower = follow_with(
        dir.path(),
        FollowOptions {
            poll: Duration::from_millis(10),
            idle_grace: Duration::from_millis(200),
        },
    );
    let items: Vec<_> = follower.receiver().iter().collect();
    let notices: Vec<&String> = items.iter().filter_map(|i| i.as_ref().err()).collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].contains("line 4: unreadable"), "{}", notices[0]);
    let got: Vec<Record> = items.into_iter().filter_map(Result::ok).collect();
    assert_eq!(got, records);
}

#[test]
fn probe_accepts_a_just_started_log_and_refuses_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let writer = LogWriter::create(dir.path()).unwrap();
    // Empty but being written: fine to watch.
    assert_eq!(
        runlog::probe_log(dir.path()).unwrap(),
        dir.path().join(EVENTS_FILE)
    );
    writer.close().unwrap();
    fs::write(dir.path().join("a.csv"), "run,kind\nx,y\n").unwrap();
    let err = runlog::probe_log(&dir.path().join("a.csv"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a batchramp run log"), "{err}");
}
