//! `batchramp plan`: projects a config's schedule, and its decay-LR equivalent, onto a cluster
//! of workers (`parallel::planner`), from the time one micro-batch takes on this machine (measured
//! here, or read from `batchramp bench --json`) and a link's bandwidth and latency; with
//! `--from-run`, sets a data-parallel run's measured all-reduces beside the model's.

use std::path::PathBuf;

use crate::cli::bench::BenchResult;
use crate::config::{RunConfig, ScheduleKind};
use crate::events::{Event, ParallelStep, ParallelTotals};
use crate::format::{count, duration};
use crate::parallel::collective::Local;
use crate::parallel::planner::{project, Cluster, Projection};
use crate::schedule::Schedule;
use crate::train::micro::MicroBatching;
use crate::train::timing::time_updates;
use crate::train::{Engine, Faults};
use crate::BadInput;

/// Arguments of `batchramp plan`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Config file (TOML); defaults to the built-in default preset.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override a config key, e.g. --set schedule.epochs=200 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Workers in the cluster.
    #[arg(long, default_value_t = 8)]
    pub workers: usize,
    /// Link bandwidth in Gbit/s.
    #[arg(long, value_name = "GBIT/S", default_value_t = 10.0)]
    pub bandwidth: f64,
    /// Fixed cost of one all-reduce in microseconds.
    #[arg(long, value_name = "US", default_value_t = 50.0)]
    pub latency_us: f64,
    /// Training images per epoch (default: CIFAR-10's 50,000, or the config's subset).
    #[arg(long)]
    pub images: Option<usize>,
    /// Use this `batchramp bench --json` output for the time of a micro-batch instead of
    /// measuring it here.
    #[arg(long, value_name = "FILE")]
    pub bench: Option<PathBuf>,
    /// A data-parallel run whose measured all-reduces to show beside the model's.
    #[arg(long, value_name = "RUN_DIR")]
    pub from_run: Option<PathBuf>,
}

/// Runs `batchramp plan`; returns the exit code.
pub fn run(args: Args) -> anyhow::Result<i32> {
    check_args(&args)?;
    // A run's own measurements come first: a run that cannot be compared is refused before a
    // table is printed.
    let measured = match &args.from_run {
        Some(dir) => Some(measured_in_run(dir)?),
        None => None,
    };
    let config_file = match (&args.config, &args.from_run) {
        (Some(file), _) => Some(file.clone()),
        // Plan the schedule the run trained with.
        (None, Some(run)) => Some(run_config_file(run)?),
        (None, None) => None,
    };
    let loaded = RunConfig::load_with_notes(config_file.as_deref(), &args.set)?;
    for note in &loaded.notes {
        eprintln!("note: {note}");
    }
    let cfg = loaded.config;
    crate::device::set_cpu_threads(cfg.hardware.threads);
    let images = args.images.unwrap_or(match cfg.data.train_subset {
        0 => 50_000,
        n => n.min(50_000),
    });
    let micro = MicroBatching::new(cfg.hardware.max_micro_batch, cfg.model.ghost_batch);
    let micro_size = micro.size(usize::MAX);
    let (per_image, source) = match &args.bench {
        Some(path) => from_bench(path, &cfg, micro_size)?,
        None => measure(&cfg, micro_size)?,
    };
    let (params, bn_values) = model_sizes(&cfg, micro_size)?;
    let cluster = |workers| Cluster {
        workers,
        bandwidth: args.bandwidth * 1e9 / 8.0,
        latency: args.latency_us * 1e-6,
        seconds_per_image: per_image,
        // The gradient, the batch-norm statistics of the update's micro-batches, six f64 sums.
        bytes_per_update: 4.0 * (params as f64 + bn_values) + 48.0,
    };
    let planned = Schedule::new(&cfg, images);
    let baseline = {
        let mut c = cfg.clone();
        c.schedule.kind = ScheduleKind::DecayLr;
        Schedule::new(&c, images)
    };

    println!(
        "plan: {} ({} params), {} images per epoch, {} epochs; {} workers, {} Gbit/s, {} µs per all-reduce",
        cfg.model.arch,
        count(params as u64),
        count(images as u64),
        cfg.schedule.epochs,
        args.workers,
        args.bandwidth,
        args.latency_us
    );
    println!(
        "a micro-batch of {micro_size} images takes {:.1} ms ({source}); {:.2} MB are all-reduced per update",
        per_image * micro_size as f64 * 1e3,
        cluster(args.workers).bytes_per_update / 1e6
    );
    if cfg.schedule.kind == ScheduleKind::Adaptive {
        println!("(the adaptive schedule decides its stages while training: only its first stage is known here)");
    }
    // A decay-LR config is its own baseline: one table, not two identical ones.
    let is_baseline = cfg.schedule.kind == ScheduleKind::DecayLr;
    let ours = project(&planned, images, &micro, &cluster(args.workers));
    print_projection(&format!("{}", cfg.schedule.kind), &ours, args.workers);
    if !is_baseline {
        let theirs = project(&baseline, images, &micro, &cluster(args.workers));
        print_projection(
            &format!("decay-lr (same epochs, B {})", baseline.stages()[0].batch),
            &theirs,
            args.workers,
        );
    }

    // Scaling: where each schedule stops gaining from more workers.
    let mut ws: Vec<usize> = std::iter::successors(Some(1usize), |w| Some(w * 2))
        .take_while(|&w| w < args.workers)
        .collect();
    ws.push(args.workers);
    println!();
    print!("{:<16}", "workers");
    for w in &ws {
        print!("{w:>10}");
    }
    println!();
    let rows = [
        (cfg.schedule.kind.to_string(), &planned),
        ("decay-lr".into(), &baseline),
    ];
    for (name, sched) in &rows[..if is_baseline { 1 } else { 2 }] {
        print!("{name:<16}");
        for &w in &ws {
            print!(
                "{:>10}",
                duration(project(sched, images, &micro, &cluster(w)).seconds())
            );
        }
        println!();
    }
    if let (Some(dir), Some(m)) = (&args.from_run, &measured) {
        print_measured(dir, m, &cluster);
    }
    Ok(0)
}

/// Refuses options that make no plan, naming the option.
fn check_args(args: &Args) -> Result<(), BadInput> {
    if args.workers == 0 {
        return Err(BadInput(
            "--workers 0: a cluster has at least 1 worker".into(),
        ));
    }
    if args.images == Some(0) {
        return Err(BadInput(
            "--images 0: an epoch has at least 1 training image (leave it out for CIFAR-10's 50,000)".into(),
        ));
    }
    if !(args.bandwidth.is_finite() && args.bandwidth > 0.0) {
        return Err(BadInput(format!(
            "--bandwidth {}: expected a link speed above 0 Gbit/s",
            args.bandwidth
        )));
    }
    if !(args.latency_us.is_finite() && args.latency_us >= 0.0) {
        return Err(BadInput(format!(
            "--latency-us {}: expected a time of at least 0 µs",
            args.latency_us
        )));
    }
    Ok(())
}

/// The `config.toml` of the run `--from-run` names (its directory or its events.jsonl).
fn run_config_file(run: &std::path::Path) -> Result<PathBuf, BadInput> {
    let dir = if run.is_file() {
        run.parent().unwrap_or(std::path::Path::new("."))
    } else {
        run
    };
    let file = dir.join("config.toml");
    if file.is_file() {
        Ok(file)
    } else {
        Err(BadInput(format!(
            "{}: no config.toml beside the run's log; give the run's schedule with --config FILE",
            dir.display()
        )))
    }
}

fn print_projection(title: &str, p: &Projection, workers: usize) {
    println!();
    println!("{title}");
    println!(
        "  {:<6} {:>7} {:>6} {:>8} {:>9} {:>7} {:>10}",
        "stage", "epochs", "B", "busy", "img/s", "comm", "wall"
    );
    for (i, s) in p.stages.iter().enumerate() {
        println!(
            "  {:<6} {:>7} {:>6} {:>8} {:>9} {:>6.1}% {:>10}",
            i + 1,
            format!("{}-{}", s.epochs.0 + 1, s.epochs.1),
            s.batch,
            format!("{}/{workers}", s.busy),
            count(s.images_per_sec.round() as u64),
            100.0 * s.comm_share,
            duration(s.seconds)
        );
    }
    println!(
        "  total: {} updates, {:.1}% communication, {}",
        count(p.updates()),
        100.0 * p.comm_share(),
        duration(p.seconds())
    );
}

/// Seconds per training image, timed here on one micro-batch with the engine training uses
/// (warm-up, then the median of three updates).
fn measure(cfg: &RunConfig, micro_size: usize) -> anyhow::Result<(f64, String)> {
    let mut one = cfg.clone();
    one.hardware.max_micro_batch = micro_size;
    let mut engine = Engine::new(
        &one,
        10,
        candle_core::Device::Cpu,
        Box::new(Local),
        Faults::default(),
    )?;
    let times = time_updates(&mut engine, micro_size, 1, 3)?;
    let threads = crate::device::resolved_threads(cfg.hardware.threads);
    Ok((
        times.step / micro_size as f64,
        format!(
            "measured here, {threads} thread{}",
            if threads == 1 { "" } else { "s" }
        ),
    ))
}

/// Seconds per training image from `bench --json` output: the row of this network at the
/// micro-batch size (else the nearest batch).
fn from_bench(path: &PathBuf, cfg: &RunConfig, micro_size: usize) -> anyhow::Result<(f64, String)> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        BadInput(format!(
            "--bench {}: cannot read it ({e}); make one with `batchramp bench --json > FILE`",
            path.display()
        ))
    })?;
    let rows: Vec<BenchResult> = serde_json::from_str(&text).map_err(|e| {
        BadInput(format!(
            "{}: not the output of `batchramp bench --json` ({e})",
            path.display()
        ))
    })?;
    let net = cfg.model.arch.to_string();
    let best = rows
        .iter()
        .filter(|r| r.net == net)
        .map(|r| (r.batch, r.images_per_sec))
        .min_by_key(|(b, _)| b.abs_diff(micro_size))
        .ok_or_else(|| {
            BadInput(format!(
                "{}: no {net} row; run `batchramp bench --net {net} --batch {micro_size} --json`",
                path.display()
            ))
        })?;
    Ok((
        1.0 / best.1,
        format!("from {} at batch {}", path.display(), best.0),
    ))
}

/// Parameters, and batch-norm statistics values per update of a micro-batch.
fn model_sizes(cfg: &RunConfig, micro_size: usize) -> anyhow::Result<(usize, f64)> {
    let engine = Engine::new(
        cfg,
        10,
        candle_core::Device::Cpu,
        Box::new(Local),
        Faults::default(),
    )?;
    Ok((
        engine.param_count(),
        engine.model().pass_stats_len(micro_size) as f64,
    ))
}

/// What a data-parallel run measured of its all-reduces.
struct Measured {
    world: usize,
    /// Median all-reduce of an update: seconds and bytes.
    seconds: f64,
    bytes: u64,
    /// Share of the update time spent combining the workers' work.
    share: f64,
}

/// Reads a data-parallel run's measured all-reduces; refuses a run that was not data-parallel.
fn measured_in_run(dir: &std::path::Path) -> anyhow::Result<Measured> {
    let log = crate::runlog::read_log(dir)?;
    let world = log.header().map_or(1, |h| h.workers.len().max(1));
    let mut comm: Vec<ParallelStep> = log
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Step(s) => s.parallel,
            _ => None,
        })
        .collect();
    if comm.is_empty() {
        return Err(BadInput(format!(
            "{}: this run was not data-parallel (no all-reduces to compare); --from-run needs a run started with mpirun -np N",
            dir.display()
        ))
        .into());
    }
    comm.sort_by(|a, b| a.comm_seconds.total_cmp(&b.comm_seconds));
    let median = comm[comm.len() / 2];
    let mut totals = ParallelTotals::default();
    comm.iter().for_each(|p| totals.add(p));
    Ok(Measured {
        world,
        seconds: median.comm_seconds,
        bytes: median.comm_bytes,
        share: totals.comm_share().unwrap_or(0.0),
    })
}

/// The run's measured all-reduce time per update beside the model's for its world size.
fn print_measured(dir: &std::path::Path, m: &Measured, cluster: &dyn Fn(usize) -> Cluster) {
    println!();
    println!(
        "measured in {} ({} workers): median all-reduce {:.2} ms for {:.2} MB, {:.0}% of the update time; the model says {:.2} ms",
        dir.display(),
        m.world,
        m.seconds * 1e3,
        m.bytes as f64 / 1e6,
        100.0 * m.share,
        cluster(m.world).allreduce_seconds() * 1e3
    );
}
