//! End to end: `batchramp data fetch` from local files (never the network), and data errors
//! surfacing through `batchramp train` as one-line messages with exit code 2.

use std::path::Path;
use std::process::{Command, Output};

use batchramp::data::synthetic::generate;
use batchramp::data::{write_archive, write_binary_batches, SyntheticSpec, ARCHIVE_NAME};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_batchramp"));
    // Never fall through to the user's cache or a download.
    c.env_remove("BATCHRAMP_DATA")
        .env("BATCHRAMP_CACHE", "/nonexistent-batchramp-cache");
    c
}

fn small_archive(dir: &Path) -> std::path::PathBuf {
    let data = generate(&SyntheticSpec {
        train: 30,
        test: 10,
        seed: 2,
    });
    let path = dir.join("mirror-copy.tar.gz");
    write_archive(&path, &data).unwrap();
    path
}

fn stderr_line(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one-line error expected, got: {text}");
    lines[0].to_string()
}

#[test]
fn fetch_from_a_local_archive_stores_it_where_asked_and_in_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let src = small_archive(tmp.path());
    let to = tmp.path().join("data");
    let out = bin()
        .args(["data", "fetch", "--to"])
        .arg(&to)
        .arg("--from")
        .arg(&src)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("saved") && stdout.contains(ARCHIVE_NAME),
        "{stdout}"
    );
    assert!(
        stdout.contains("30 training and 10 test images"),
        "{stdout}"
    );
    // Stored outside the cache, the archive is found only by name.
    assert!(
        stdout.contains("pass --data") && stdout.contains("BATCHRAMP_DATA="),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read(to.join(ARCHIVE_NAME)).unwrap(),
        std::fs::read(&src).unwrap()
    );

    let cache = tmp.path().join("cache");
    let out = bin()
        .env("BATCHRAMP_CACHE", &cache)
        .args(["data", "fetch", "--from"])
        .arg(&src)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(cache.join(ARCHIVE_NAME).is_file());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("will now find it by itself"),
        "in the cache, train needs no --data: {stdout}"
    );
}

#[test]
fn fetch_of_a_corrupt_file_fails_with_exit_2_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = small_archive(tmp.path());
    let bytes = std::fs::read(&src).unwrap();
    let bad = tmp.path().join("half.tar.gz");
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let to = tmp.path().join("data");
    let out = bin()
        .args(["data", "fetch", "--to"])
        .arg(&to)
        .arg("--from")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let line = stderr_line(&out);
    assert!(
        line.contains("half.tar.gz") && line.contains("data fetch"),
        "{line}"
    );
    assert_eq!(
        std::fs::read_dir(&to).unwrap().count(),
        0,
        "no partial file left"
    );
}

#[test]
fn train_reports_bad_data_in_one_line_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let data = generate(&SyntheticSpec {
        train: 30,
        test: 10,
        seed: 2,
    });
    let dir = tmp.path().join("cifar");
    write_binary_batches(&dir, &data).unwrap();
    let test_file = dir.join("test_batch.bin");
    let mut bytes = std::fs::read(&test_file).unwrap();
    bytes[2 * 3073] = 200;
    std::fs::write(&test_file, &bytes).unwrap();

    let runs = tmp.path().join("runs");
    let out = bin()
        .args(["train", "--no-tui", "--out"])
        .arg(&runs)
        .arg("--data")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let line = stderr_line(&out);
    assert!(
        line.contains("test_batch.bin") && line.contains("record 2"),
        "{line}"
    );

    let out = bin()
        .env("BATCHRAMP_DATA", tmp.path().join("nowhere"))
        .args(["train", "--no-tui", "--out"])
        .arg(&runs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let line = stderr_line(&out);
    assert!(
        line.contains("nowhere") && line.contains("BATCHRAMP_DATA"),
        "{line}"
    );
}
