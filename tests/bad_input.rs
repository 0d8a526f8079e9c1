//! Bad input through the built binary, for the commands around training: `--set` and config
//! errors name what the user wrote, `plan`, `export` and `plot` refuse what cannot apply with
//! one line and exit 2, and every committed run's config loads again.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use batchramp::cli::bench::BenchResult;
use batchramp::events::{Event, ParallelStep};
use batchramp::runlog::sample::SampleRun;
use batchramp::runlog::LogWriter;

mod common;
use common::{batchramp, text};

/// Exit code 2, nothing on stdout, and exactly one line on stderr that contains every `needle`.
fn assert_bad_input(out: &Output, needles: &[&str]) -> String {
    assert!(out.stdout.is_empty(), "stdout: {}", text(&out.stdout));
    common::assert_bad_input(out, needles)
}

/// A `bench --json` file saying ResNet-8 trains 1,000 images/s at every batch (rows of
/// bench's own result type, as `bench --json` writes them).
fn bench_file(dir: &Path) -> PathBuf {
    let path = dir.join("bench.json");
    let rows: Vec<BenchResult> = [64, 128, 256]
        .iter()
        .map(|&batch| BenchResult {
            net: "resnet8".into(),
            batch,
            kernels: "fast".into(),
            step_ms: batch as f64,
            images_per_sec: 1000.0,
            gflops: 1.0,
            device: "cpu (2 threads)".into(),
            workers: 1,
            comm_ms: 0.0,
            wait_ms: 0.0,
        })
        .collect();
    fs::write(&path, serde_json::to_string(&rows).unwrap()).unwrap();
    path
}

/// A finished sample run; `parallel` gives its updates the data-parallel measurements.
fn sample_run(parent: &Path, name: &str, parallel: bool) -> PathBuf {
    let dir = parent.join(name);
    let writer = LogWriter::create(&dir).unwrap();
    for mut r in SampleRun::demo().records() {
        if let (Event::Step(s), true) = (&mut r.event, parallel) {
            s.parallel = Some(ParallelStep {
                busy: 2,
                comm_seconds: 0.001,
                wait_seconds: 0.0,
                comm_bytes: 300_000,
                step_seconds: 0.1,
            });
        }
        writer.sender().send(r).unwrap();
    }
    writer.close().unwrap();
    dir
}

#[test]
fn set_errors_name_the_override_never_the_built_in_file() {
    for (item, want) in [
        (
            "schedule.epochs=-2",
            "--set schedule.epochs=-2: expected a whole number ≥ 1",
        ),
        (
            "schedule.kind=foo",
            "--set schedule.kind=foo: unknown variant `foo`",
        ),
        ("optim.lr=abc", "--set optim.lr=abc: expected a number"),
        (
            "schedul.epochs=3",
            "--set schedul.epochs=3: unknown field `schedul`",
        ),
    ] {
        let out = batchramp(&["plan", "--set", item, "--images", "1000"]);
        let err = assert_bad_input(&out, &[want]);
        assert!(!err.contains("built in"), "{err}");
    }
}

#[test]
fn an_unknown_table_in_a_config_file_gets_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("c.toml");
    fs::write(&file, "name = \"x\"\n\n[schedul]\nepochs = 3\n").unwrap();
    let out = batchramp(&["plan", "--config", file.to_str().unwrap()]);
    assert_bad_input(&out, &["c.toml:3: unknown field `schedul`"]);
}

#[test]
fn plan_refuses_options_that_make_no_plan_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    let bench = bench_file(tmp.path());
    let bench = bench.to_str().unwrap();
    assert_bad_input(&batchramp(&["plan", "--workers", "0"]), &["--workers 0"]);
    assert_bad_input(&batchramp(&["plan", "--images", "0"]), &["--images 0"]);
    assert_bad_input(
        &batchramp(&["plan", "--bandwidth", "0"]),
        &["--bandwidth 0"],
    );
    let missing = tmp.path().join("nope.json");
    assert_bad_input(
        &batchramp(&["plan", "--bench", missing.to_str().unwrap()]),
        &["--bench", "nope.json", "batchramp bench --json"],
    );
    // A run that was not data-parallel is refused before anything is printed.
    let run = sample_run(tmp.path(), "single", false);
    assert_bad_input(
        &batchramp(&[
            "plan",
            "--bench",
            bench,
            "--from-run",
            run.to_str().unwrap(),
        ]),
        &["single", "was not data-parallel"],
    );
}

#[test]
fn plan_of_decay_lr_prints_one_table() {
    let tmp = tempfile::tempdir().unwrap();
    let bench = bench_file(tmp.path());
    let preset = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/paper-decay-lr.toml");
    let out = batchramp(&[
        "plan",
        "--config",
        preset,
        "--bench",
        bench.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.matches("total:").count(), 1, "{stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("decay-lr")).count(),
        2,
        "the projection's title and one scaling row: {stdout}"
    );
    // Any other schedule is set beside decay-LR.
    let out = batchramp(&["plan", "--bench", bench.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(stdout.matches("total:").count(), 2, "{stdout}");
}

#[test]
fn plan_from_a_run_plans_that_runs_own_schedule() {
    let tmp = tempfile::tempdir().unwrap();
    let bench = bench_file(tmp.path());
    let run = sample_run(tmp.path(), "parallel", true);
    let cfg = batchramp::config::RunConfig::from_toml_str(
        "[schedule]\nkind = \"hybrid\"\nepochs = 4\nmilestones = [1, 2, 3]\n",
        "x",
        &[],
    )
    .unwrap();
    fs::write(run.join("config.toml"), cfg.to_toml()).unwrap();
    let out = batchramp(&[
        "plan",
        "--bench",
        bench.to_str().unwrap(),
        "--from-run",
        run.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("\nhybrid\n"), "{stdout}");
    assert!(stdout.contains("4 epochs"), "{stdout}");
    assert!(stdout.contains("measured in"), "{stdout}");
}

#[test]
fn export_without_an_output_says_which_to_give() {
    let tmp = tempfile::tempdir().unwrap();
    let run = sample_run(tmp.path(), "r", false);
    assert_bad_input(
        &batchramp(&["export", run.to_str().unwrap()]),
        &["one of --tensorboard DIR or --csv FILE"],
    );
}

#[test]
fn plot_of_step_loss_without_steps_points_at_the_epoch_losses() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("epochs-only");
    let writer = LogWriter::create(&dir).unwrap();
    let run = SampleRun {
        steps: false,
        ..SampleRun::demo()
    };
    for r in run.records() {
        writer.sender().send(r).unwrap();
    }
    writer.close().unwrap();
    let png = tmp.path().join("f.png");
    let out = batchramp(&[
        "plot",
        dir.to_str().unwrap(),
        "--metric",
        "step_loss",
        "--out",
        png.to_str().unwrap(),
    ]);
    assert_bad_input(
        &out,
        &["no run has per-step loss (the log has epoch losses: --metric train_loss)"],
    );
    assert!(!png.exists());
}

#[test]
fn a_committed_run_config_trains_again_with_a_note() {
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/replication/runs/paper-increase-batch-s0/config.toml"
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_batchramp"))
        .args([
            "train",
            "--no-tui",
            "--data",
            "synthetic",
            "--config",
            config,
        ])
        .args([
            "--set",
            "schedule.epochs=1",
            "--set",
            "data.synthetic_train=64",
        ])
        .args([
            "--set",
            "data.synthetic_test=32",
            "--set",
            "schedule.batch=32",
        ])
        .args([
            "--set",
            "data.train_subset=0",
            "--set",
            "data.test_subset=0",
        ])
        .arg("--out")
        .arg(tmp.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all = text(&out.stdout) + &text(&out.stderr);
    assert!(
        all.contains("schedule.adaptive_margin = 1.0 is no longer read"),
        "{all}"
    );
}

#[test]
fn a_subset_larger_than_the_data_set_is_refused_before_a_run_exists() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_batchramp"))
        .args(["train", "--no-tui", "--data", "synthetic"])
        .args([
            "--set",
            "data.synthetic_train=100",
            "--set",
            "data.train_subset=200",
        ])
        .arg("--out")
        .arg(tmp.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_bad_input(
        &out,
        &["data.train_subset = 200", "the training set has 100 images"],
    );
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "no run directory"
    );
}

#[test]
fn a_resume_refuses_options_it_cannot_apply() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_batchramp"))
        .args(["train", "--no-tui", "--data", "synthetic"])
        .args([
            "--set",
            "schedule.epochs=1",
            "--set",
            "data.synthetic_train=64",
        ])
        .args([
            "--set",
            "data.synthetic_test=32",
            "--set",
            "schedule.batch=32",
        ])
        .arg("--out")
        .arg(tmp.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let run = fs::read_dir(tmp.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let before = fs::read(run.join("events.jsonl")).unwrap();
    let run_s = run.to_str().unwrap();
    let elsewhere = tmp.path().join("elsewhere");
    assert_bad_input(
        &batchramp(&[
            "train",
            "--no-tui",
            "--resume",
            run_s,
            "--out",
            elsewhere.to_str().unwrap(),
        ]),
        &[
            "--out",
            "a resumed run stays in its own directory",
            "drop --out",
        ],
    );
    assert!(!elsewhere.exists());
    let other_data = tmp.path().to_str().unwrap();
    assert_bad_input(
        &batchramp(&["train", "--no-tui", "--resume", run_s, "--data", other_data]),
        &["--data", "keeps the data it was started on (synthetic)"],
    );
    // The same data again is no change, so the finished run just says it is finished.
    let same = batchramp(&[
        "train",
        "--no-tui",
        "--resume",
        run_s,
        "--data",
        "synthetic",
    ]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same.stderr));
    assert_eq!(fs::read(run.join("events.jsonl")).unwrap(), before);
}
