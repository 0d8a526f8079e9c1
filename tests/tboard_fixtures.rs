//! The TensorBoard reader against files written by real writers (PyTorch's SummaryWriter,
//! TF2-style tensor summaries), checked point by point against what TensorBoard's own loader
//! (EventAccumulator) reported for the same files: tests/fixtures/tensorboard/expected.json,
//! made by scripts/tboard-fixtures.py.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use batchramp::tboard::{HParamValue, Logdir, ProblemKind};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tensorboard")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Checks every run, tag, step, wall time and value of `logdir` against `want`
/// (run → tag → [[step, wall_time, "value"]]).
fn assert_same(logdir: &Logdir, want: &Value, fixture: &str) {
    let want = want.as_object().unwrap();
    let runs: BTreeSet<&str> = logdir.runs().iter().map(|r| r.name()).collect();
    let want_runs: BTreeSet<&str> = want.keys().map(String::as_str).collect();
    assert_eq!(runs, want_runs, "{fixture}: runs");
    for (run_name, tags) in want {
        let run = logdir.run(run_name).unwrap();
        let tags = tags.as_object().unwrap();
        let have: BTreeSet<&str> = run.scalars().tags().collect();
        let want_tags: BTreeSet<&str> = tags.keys().map(String::as_str).collect();
        assert_eq!(have, want_tags, "{fixture}/{run_name}: tags");
        for (tag, points) in tags {
            let points = points.as_array().unwrap();
            let series = run.scalars().get(tag).unwrap().points();
            assert_eq!(
                series.len(),
                points.len(),
                "{fixture}/{run_name}/{tag}: points"
            );
            for (p, w) in series.iter().zip(points) {
                let step = w[0].as_i64().unwrap();
                let wall = w[1].as_f64().unwrap();
                let value: f64 = w[2].as_str().unwrap().parse().unwrap();
                let at = format!("{fixture}/{run_name}/{tag} step {step}");
                assert_eq!(p.step, step, "{at}");
                assert_eq!(p.wall_time.to_bits(), wall.to_bits(), "{at}: wall time");
                assert!(
                    p.value.to_bits() == value.to_bits() || (p.value.is_nan() && value.is_nan()),
                    "{at}: {} vs {value}",
                    p.value
                );
            }
        }
    }
}

fn load(name: &str) -> Logdir {
    Logdir::load(&fixtures().join(name)).unwrap()
}

#[test]
fn every_fixture_reads_as_tensorboard_reads_it() {
    let all = expected();
    for (name, want) in all.as_object().unwrap() {
        assert_same(&load(name), &want["runs"], name);
    }
}

#[test]
fn pytorch_writer_scalars_other_plugins_and_hparams() {
    let logdir = load("pytorch");
    let root = logdir.run(".").unwrap();
    assert_eq!(root.problems().count(), 0);
    let others: Vec<(&str, &str)> = root
        .other_tags()
        .iter()
        .map(|(t, p)| (t.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        others,
        vec![
            ("notes/text_summary", "text"),
            ("samples", "images"),
            ("weights/conv1", "histograms")
        ]
    );
    let nan = root.scalars().get("train/loss").unwrap().last().unwrap();
    assert!(nan.value.is_nan() && nan.step == 30);
    // The hparams run: as EventAccumulator decoded it (PyTorch writes ints and bools as numbers).
    let hp = logdir.run("hparams").unwrap().hparams();
    let want = &expected()["pytorch"]["hparams"]["hparams"];
    assert_eq!(hp.len(), want.as_object().unwrap().len());
    for (k, v) in hp {
        match (v, &want[k]) {
            (HParamValue::Number(n), Value::Number(w)) => assert_eq!(Some(*n), w.as_f64(), "{k}"),
            (HParamValue::Text(s), Value::String(w)) => assert_eq!(s, w, "{k}"),
            (v, w) => panic!("{k}: {v:?} vs {w}"),
        }
    }
    assert!(logdir.run(".").unwrap().hparams().is_empty());
}

#[test]
fn purge_step_restart_drops_the_first_files_later_steps() {
    let logdir = load("restart");
    let run = logdir.run(".").unwrap();
    assert_eq!(run.files().count(), 2);
    assert_eq!(run.restarts(), (1, 20), "steps 10..=19 of two tags");
    let loss = run.scalars().get("loss").unwrap().points();
    assert_eq!(loss.len(), 25);
    assert!(loss.windows(2).all(|w| w[0].step + 1 == w[1].step));
    assert!(
        loss[10].wall_time > loss[9].wall_time + 50.0,
        "step 10 from the second file"
    );
}

#[test]
fn tf2_tensor_scalars_in_float_double_half_and_raw_content() {
    let logdir = load("tf2");
    for run in logdir.runs() {
        let tags: Vec<&str> = run.scalars().tags().collect();
        assert_eq!(
            tags,
            vec![
                "epoch_loss",
                "epoch_accuracy",
                "epoch_learning_rate",
                "raw/content"
            ],
            "{}",
            run.name()
        );
        assert_eq!(
            run.other_tags().get("weights").map(String::as_str),
            Some("histograms")
        );
        assert_eq!(run.problems().count(), 0);
    }
    let lr = logdir
        .run("train")
        .unwrap()
        .scalars()
        .get("epoch_learning_rate")
        .unwrap();
    // Half precision: 0.1 is 0.0999755859375 as a float16.
    assert_eq!(lr.points()[0].value, 0.0999755859375);
}

#[test]
fn nested_runs_are_named_by_their_relative_path() {
    let names: Vec<String> = load("nested")
        .runs()
        .iter()
        .map(|r| r.name().to_string())
        .collect();
    assert_eq!(names, vec![".", "a/eval", "a/train", "b/c/d"]);
}

#[test]
fn a_torn_last_record_is_not_yet_and_no_problem() {
    let logdir = load("torn");
    let run = logdir.run(".").unwrap();
    assert_eq!(run.problems().count(), 0);
    assert!(run.pending_bytes() > 0, "the torn record waits");
    assert_eq!(run.scalars().get("loss").unwrap().len(), 11);
}

#[test]
fn damaged_middle_records_are_skipped_counted_and_reading_goes_on() {
    let all = expected();
    for (name, kind) in [
        ("corrupt-data", ProblemKind::DamagedData),
        ("corrupt-length", ProblemKind::DamagedLength { skipped: 0 }),
    ] {
        let logdir = load(name);
        let run = logdir.run(".").unwrap();
        assert_eq!(run.problems().count(), 1, "{name}");
        let problem = &run.problems().kept()[0];
        match (&problem.kind, &kind) {
            (ProblemKind::DamagedLength { skipped }, ProblemKind::DamagedLength { .. }) => {
                assert!(*skipped > 0, "{name}: resynced on the next record")
            }
            (a, b) => assert_eq!(a, b, "{name}"),
        }
        assert!(
            problem.to_string().contains("damaged") || problem.to_string().contains("checksum")
        );
        // TensorBoard's loader stops at the damage; we read on past it.
        let stops = &all[name]["tensorboard_stops_at_damage"]["."]["loss"];
        let ours = run.scalars().get("loss").unwrap().len();
        assert!(ours > stops.as_array().unwrap().len(), "{name}");
    }
}

#[test]
fn a_file_appended_in_small_pieces_reads_the_same_as_whole() {
    let src = fixtures().join("pytorch");
    let file = std::fs::read_dir(&src)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .contains("tfevents")
        })
        .unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join(file.file_name().unwrap());
    std::fs::write(&dst, &bytes[..5]).unwrap();
    let mut live = Logdir::open(dir.path()).unwrap();
    let mut out = std::fs::OpenOptions::new().append(true).open(&dst).unwrap();
    let mut at = 5;
    let mut step = 1;
    while at < bytes.len() {
        let end = (at + step).min(bytes.len());
        std::io::Write::write_all(&mut out, &bytes[at..end]).unwrap();
        live.poll();
        at = end;
        step = step % 97 + 13;
    }
    live.poll();
    let whole = Logdir::load(&file).unwrap();
    let (a, b) = (live.run(".").unwrap(), whole.run(".").unwrap());
    assert_eq!(a.problems().count(), 0);
    assert_eq!(a.pending_bytes(), 0);
    for (tag, s) in b.scalars().iter() {
        let live_points = a.scalars().get(tag).unwrap().points();
        assert_eq!(live_points.len(), s.len(), "{tag}");
        for (x, y) in live_points.iter().zip(s.points()) {
            assert!(
                x.step == y.step && (x.value == y.value || x.value.is_nan()),
                "{tag}"
            );
        }
    }
    assert_eq!(a.other_tags(), b.other_tags());
}

#[test]
fn a_single_event_file_is_a_run_of_its_own() {
    let dir = fixtures().join("restart");
    let first = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .min()
        .unwrap();
    let logdir = Logdir::load(&first).unwrap();
    assert_eq!(logdir.runs().len(), 1);
    let run = logdir.run(".").unwrap();
    assert_eq!(run.files().count(), 1, "only the file given");
    assert_eq!(run.scalars().get("loss").unwrap().len(), 20);
}

/// What the dashboard shows (through the reader thread and the board, as `replay` of a logdir
/// does) against TensorBoard's reading: per run and tag, the points counted, the last point's
/// step and value, and the finite minimum and maximum.
#[test]
fn the_dashboards_figures_are_tensorboards_points() {
    let expected = expected();
    let mut checked = 0;
    for (fixture, data) in expected.as_object().unwrap() {
        let board = batchramp::tui::fixture::logdir_board(&fixtures().join(fixture)).unwrap();
        for (run_name, tags) in data["runs"].as_object().unwrap() {
            let run = board
                .runs()
                .iter()
                .find(|r| &r.name == run_name)
                .unwrap_or_else(|| panic!("{fixture}: run {run_name} missing"));
            for (tag, points) in tags.as_object().unwrap() {
                let points = points.as_array().unwrap();
                let values: Vec<f64> = points
                    .iter()
                    .map(|p| p[2].as_str().unwrap().parse().unwrap())
                    .collect();
                let f = run.tag(tag).unwrap().figures.unwrap();
                let at = format!("{fixture}/{run_name}/{tag}");
                assert_eq!(f.count, points.len() as u64, "{at}: points");
                let last = points.last().unwrap();
                assert_eq!(f.last.step, last[0].as_i64().unwrap(), "{at}: last step");
                let want = *values.last().unwrap();
                assert!(
                    f.last.value.to_bits() == want.to_bits()
                        || (want.is_nan() && f.last.value.is_nan()),
                    "{at}: last {} vs {want}",
                    f.last.value
                );
                let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
                let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
                let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                assert_eq!((f.min, f.max), (min, max), "{at}: min, max");
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "{checked} tags checked");
}
