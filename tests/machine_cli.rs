//! `batchramp machine` through the built binary: this machine's CPU and memory, the GPUs or why
//! there are none, the processes writing a logdir (found by an open file and by an event file's
//! name), JSON, and a missing path refused with exit 2.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

mod common;
use common::{batchramp, text};

/// A shell that keeps `file` open for appending, then sleeps (the descriptor stays open).
fn holding_open(file: &Path) -> Child {
    let child = Command::new("sh")
        .arg("-c")
        .arg("exec 3>>\"$1\"; echo >&3; exec sleep 60")
        .arg("sh")
        .arg(file)
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn sh");
    // The file exists once the shell has opened it.
    while std::fs::metadata(file).map_or(true, |m| m.len() == 0) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child
}

fn end(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn one_sample_shows_cpu_memory_and_the_gpus_or_why_there_are_none() {
    let out = batchramp(&["machine"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].contains(" cores  CPU ") || lines[0].contains(" core  CPU "),
        "{stdout}"
    );
    assert!(
        lines[0].contains("% ") && lines[0].contains("memory "),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("no GPU on this machine ("))
            || lines.iter().any(|l| l.starts_with("GPU 0 ")),
        "{stdout}"
    );
    assert!(!stdout.contains("writing"), "no logdir was given: {stdout}");

    let out = batchramp(&["machine", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert!(v["cpu"]["cores"].as_u64().unwrap() >= 1);
    assert!(
        v["cpu"]["percent"].as_f64().is_some(),
        "two readings were taken: {v}"
    );
    assert!(v["memory"]["total"].as_u64().unwrap() > v["memory"]["used"].as_u64().unwrap());
    let gpus = v["gpus"].as_array().unwrap();
    assert_eq!(gpus.is_empty(), v["gpu_note"].is_string(), "{v}");
    assert!(v["writers"].as_array().unwrap().is_empty());
}

#[test]
fn a_logdir_shows_the_processes_writing_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run-a");
    std::fs::create_dir(&run).unwrap();
    let holder = holding_open(&run.join("events.jsonl"));
    // A PyTorch-style writer: it closes its file between flushes; its name gives its pid.
    let sleeper = Command::new("sleep").arg("60").spawn().unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let event_file = format!(
        "events.out.tfevents.{now}.{}.{}.0",
        host.trim(),
        sleeper.id()
    );
    std::fs::create_dir(dir.path().join("run-b")).unwrap();
    std::fs::write(dir.path().join("run-b").join(&event_file), b"").unwrap();

    let logdir = dir.path().to_str().unwrap();
    let out = batchramp(&["machine", logdir]);
    let json = batchramp(&["machine", logdir, "--json"]);
    let (holder_pid, sleeper_pid) = (holder.id(), sleeper.id());
    end(holder);
    end(sleeper);

    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("processes writing {logdir}:")),
        "{stdout}"
    );
    let line = |pid: u32| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("  pid {pid} ")))
            .unwrap_or_else(|| panic!("pid {pid} not in: {stdout}"))
            .to_string()
    };
    let h = line(holder_pid);
    assert!(
        h.contains("sleep 60")
            && h.contains("RSS ")
            && h.ends_with("holds run-a/events.jsonl open"),
        "{h}"
    );
    let s = line(sleeper_pid);
    assert!(s.ends_with(&format!("named in run-b/{event_file}")), "{s}");

    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let writers = v["writers"].as_array().unwrap();
    let pids: Vec<u64> = writers.iter().map(|w| w["pid"].as_u64().unwrap()).collect();
    assert!(
        pids.contains(&u64::from(holder_pid)) && pids.contains(&u64::from(sleeper_pid)),
        "{v}"
    );
    for w in writers {
        assert!(w["rss"].as_u64().unwrap() > 0, "{w}");
        assert!(
            w["found_by"]["by"].is_string() && w["found_by"]["path"].is_string(),
            "{w}"
        );
    }
}

#[test]
fn a_logdir_nobody_writes_says_so_and_a_missing_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let logdir = dir.path().to_str().unwrap();
    let out = batchramp(&["machine", logdir]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l == format!("no process on this machine is writing {logdir}")),
        "{stdout}"
    );

    let missing = dir.path().join("runs");
    let out = batchramp(&["machine", missing.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(out.stdout.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("{}: no such file or directory", missing.display())),
        "{err}"
    );
}

#[test]
fn the_help_lists_the_command_as_the_readme_does() {
    let help = text(&batchramp(&["--help"]).stdout);
    assert!(help.contains("machine"), "{help}");
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(readme.contains("batchramp machine [LOGDIR_OR_RUN_DIR] [--json]"));
    let usage = text(&batchramp(&["machine", "--help"]).stdout);
    assert!(
        usage.contains("Usage: batchramp machine [OPTIONS] [LOGDIR_OR_RUN_DIR]"),
        "{usage}"
    );
}
