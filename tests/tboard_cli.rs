//! The binary on TensorBoard logdirs: `export --csv` writes every scalar exactly as
//! TensorBoard's own loader reads it, `plot` draws the tags it recognises, and bad input is a
//! one-line error with exit code 2.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod common;

fn batchramp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_batchramp"))
        .args(args)
        .output()
        .expect("run batchramp")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tensorboard")
}

/// `watch DIR` with its output piped, once it has printed the header of its table (the first
/// poll is read then).
fn watch_plain(
    dir: &Path,
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStdout>,
) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_batchramp"))
        .args(["watch", dir.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut head = String::new();
    out.read_line(&mut head).unwrap();
    assert!(head.starts_with("run"), "the table's header first: {head}");
    (child, out)
}

/// The PyTorch fixture's root event file (its sub-runs' files are in subdirectories).
fn pytorch_event_file() -> PathBuf {
    std::fs::read_dir(fixtures().join("pytorch"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_file())
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn assert_bad_input(out: &Output, needles: &[&str]) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in {err}");
    }
}

#[test]
fn export_csv_of_a_logdir_is_every_scalar_as_tensorboard_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("all.csv");
    let out = batchramp(&[
        "export",
        fixtures().to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let body = std::fs::read_to_string(&csv).unwrap();
    let mut lines = body.lines();
    assert_eq!(lines.next(), Some("run,tag,step,wall_time,value"));
    // (run, tag, step) → (wall_time, value text) from the CSV; the logdir is the fixtures
    // folder, so runs are named <fixture>/<run> (the fixture itself for its root run).
    let mut rows: HashMap<(String, String, i64), (String, String)> = HashMap::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 5, "{line}");
        let key = (f[0].to_string(), f[1].to_string(), f[2].parse().unwrap());
        assert!(
            rows.insert(key, (f[3].into(), f[4].into())).is_none(),
            "one row per point: {line}"
        );
    }
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap())
            .unwrap();
    let mut checked = 0;
    for (fixture, data) in expected.as_object().unwrap() {
        for (run, tags) in data["runs"].as_object().unwrap() {
            let run_name = if run == "." {
                fixture.clone()
            } else {
                format!("{fixture}/{run}")
            };
            for (tag, points) in tags.as_object().unwrap() {
                for p in points.as_array().unwrap() {
                    let key = (run_name.clone(), tag.clone(), p[0].as_i64().unwrap());
                    let (wall, value) = rows.get(&key).unwrap_or_else(|| panic!("{key:?} missing"));
                    assert_eq!(
                        wall.parse::<f64>().unwrap(),
                        p[1].as_f64().unwrap(),
                        "{key:?}"
                    );
                    let want: f64 = p[2].as_str().unwrap().parse().unwrap();
                    let got: f64 = value.parse().unwrap();
                    if want.is_nan() {
                        assert!(got.is_nan(), "{key:?}");
                        continue;
                    }
                    // Printed as the shortest float32 text: it reads back to the same float32,
                    // and to the same double as TensorBoard's for values that are float32s.
                    assert_eq!(
                        value.parse::<f32>().unwrap(),
                        want as f32,
                        "{key:?}: {value}"
                    );
                    if f64::from(want as f32) == want {
                        assert_eq!(f64::from(value.parse::<f32>().unwrap()), want, "{key:?}");
                    } else {
                        assert_eq!(got, want, "{key:?}: a double keeps its digits");
                    }
                    checked += 1;
                }
            }
        }
    }
    let nan_rows = rows.values().filter(|(_, v)| v == "NaN").count();
    assert_eq!(
        rows.len(),
        checked + nan_rows,
        "no row TensorBoard does not have"
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("fails its checksum") && err.contains("incomplete record"),
        "{err}"
    );
}

#[test]
fn export_csv_to_stdout_and_of_one_event_file() {
    let file = std::fs::read_dir(fixtures().join("nested/a/train"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let out = batchramp(&["export", file.to_str().unwrap(), "--csv", "-"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let body = text(&out.stdout);
    assert_eq!(body.lines().count(), 6, "{body}");
    assert!(
        body.lines()
            .nth(1)
            .unwrap()
            .starts_with(".,value,0,1700000000.0,1.0"),
        "{body}"
    );
}

#[test]
fn a_directory_with_neither_log_nor_event_files_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let p = dir.path().to_str().unwrap();
    let csv = dir.path().join("x.csv");
    assert_bad_input(
        &batchramp(&["export", p, "--csv", csv.to_str().unwrap()]),
        &[p, "events.jsonl", "tfevents"],
    );
    assert!(!csv.exists(), "nothing written");
    let png = dir.path().join("x.png");
    assert_bad_input(
        &batchramp(&["plot", p, "--out", png.to_str().unwrap()]),
        &[p, "events.jsonl", "tfevents"],
    );
}

#[test]
fn plot_draws_a_logdirs_loss_and_accuracy_tags() {
    let dir = tempfile::tempdir().unwrap();
    let variants: [(&str, &[&str]); 2] = [("a.png", &[]), ("b.svg", &["--x", "time"])];
    for (name, extra) in variants {
        let out_file = dir.path().join(name);
        let mut args: Vec<String> = vec![
            "plot".into(),
            fixtures().join("pytorch").to_str().unwrap().into(),
            fixtures().join("tf2").to_str().unwrap().into(),
            "--out".into(),
            out_file.to_str().unwrap().into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = batchramp(&refs);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(std::fs::metadata(&out_file).unwrap().len() > 1000);
    }
    let svg = std::fs::read_to_string(dir.path().join("b.svg")).unwrap();
    for label in [
        "tf2/train: epoch_accuracy",
        "pytorch: train/loss",
        "wall time",
    ] {
        assert!(svg.contains(label), "{label} not in the figure");
    }
}

#[test]
fn plot_and_export_refuse_what_a_logdir_cannot_give() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("x.png");
    let logdir = fixtures().join("pytorch");
    let l = logdir.to_str().unwrap();
    assert_bad_input(
        &batchramp(&["plot", l, "--x", "epoch", "--out", png.to_str().unwrap()]),
        &["--x epoch", "steps"],
    );
    assert_bad_input(
        &batchramp(&[
            "plot",
            l,
            "--metric",
            "b_simple",
            "--out",
            png.to_str().unwrap(),
        ]),
        &["not in TensorBoard logs"],
    );
    assert_bad_input(
        &batchramp(&[
            "plot",
            fixtures().join("nested").to_str().unwrap(),
            "--out",
            png.to_str().unwrap(),
        ]),
        &["nothing to plot", "loss tag"],
    );
    let tb = dir.path().join("tb");
    assert_bad_input(
        &batchramp(&["export", l, "--tensorboard", tb.to_str().unwrap()]),
        &["already TensorBoard", "--csv"],
    );
}

#[test]
fn replay_and_compare_of_a_logdir_without_a_terminal_print_the_last_value_table() {
    let out = batchramp(&["replay", fixtures().join("pytorch").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let mut lines = table.lines();
    let head: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(head, ["run", "tag", "last", "step", "min", "max", "points"]);
    let row = |run: &str, tag: &str| -> Vec<String> {
        table
            .lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .find(|c| c[0] == run && c[1] == tag)
            .unwrap_or_else(|| panic!("{run} {tag} not in\n{table}"))
    };
    assert_eq!(
        row(".", "batch_size")[2..],
        ["640", "29", "128", "640", "30"]
    );
    // The loss ends with a NaN, shown as TensorBoard shows it; its min and max are finite.
    assert_eq!(row(".", "train/loss")[2..4], ["NaN", "30"]);
    assert_eq!(row("hparams", "hparam/test_acc")[2], "0.875");
    let out = batchramp(&[
        "compare",
        fixtures().join("nested").to_str().unwrap(),
        "--no-tui",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let runs: Vec<String> = text(&out.stdout)
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(runs, [".", "a/eval", "a/train", "b/c/d"]);
    // Damage is said on stderr, and the rest is read.
    let out = batchramp(&[
        "replay",
        fixtures().join("corrupt-data").to_str().unwrap(),
        "--no-tui",
    ]);
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains("fails its checksum"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("loss"));
}

#[test]
fn compare_takes_one_logdir_and_says_how_to_compare_several() {
    let a = fixtures().join("nested");
    let b = fixtures().join("tf2");
    let out = batchramp(&["compare", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_bad_input(
        &out,
        &["nested", "one TensorBoard logdir", "under one directory"],
    );
}

#[test]
fn watch_of_a_logdir_without_a_terminal_follows_and_stops_when_the_reader_of_its_output_goes() {
    use std::io::{BufRead, Write};
    let dir = tempfile::tempdir().unwrap();
    let src = pytorch_event_file();
    let bytes = std::fs::read(&src).unwrap();
    let file = dir.path().join("events.out.tfevents.1.host");
    // Cut inside a record: the torn part is "not yet", not damage.
    std::fs::write(&file, &bytes[..3000]).unwrap();
    let (mut child, mut out) = watch_plain(dir.path());
    let mut line = String::new();
    // The header is written with the whole table once the first poll has read the file; what is
    // appended after it arrives as one line per new point.
    let mut seen = Vec::new();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    f.write_all(&bytes[3000..]).unwrap();
    drop(f);
    while !seen
        .iter()
        .any(|l: &String| l.contains(".  train/loss  30  NaN"))
    {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "ended early: {seen:?}"
        );
        seen.push(line.clone());
    }
    // The reader of its output goes away: the watch ends by itself, quietly.
    drop(out);
    let status = common::exits_within(
        &mut child,
        std::time::Duration::from_secs(5),
        "still following a closed pipe",
    );
    assert!(status.success(), "{status}");
}

#[test]
fn watch_of_an_empty_directory_waits_for_the_first_event_files() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, mut out) = watch_plain(dir.path());
    let mut line = String::new();
    // A training starts writing.
    let run = dir.path().join("resnet");
    std::fs::create_dir(&run).unwrap();
    let src = pytorch_event_file();
    std::fs::copy(&src, run.join("events.out.tfevents.1.host")).unwrap();
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l.starts_with("resnet  train/accuracy  29  0.9"))
    {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "ended early: {seen:?}"
        );
        seen.push(line.trim_end().to_string());
    }
    assert_eq!(seen[0], "new run: resnet");
    child.kill().unwrap();
    let _ = child.wait();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("no TensorBoard event files yet; waiting"),
        "{err}"
    );
}
