//! `batchramp bench`: times the full training step (forward, backward, optimizer update) of each
//! network and batch size on random data: warm-up, then the median of several steps. Reports
//! images/s, step time and achieved GFLOP/s (training ≈ 3× the forward pass's FLOPs as a direct
//! convolution counts them: where the Winograd kernels take a layer, fewer multiplications do the
//! same work, so the figure is a direct-convolution equivalent, above what the FMA units run);
//! `--both` times our kernels and stock candle back to back and prints the ratio. Under
//! `mpirun -np N` (the `mpi` feature) it times the data-parallel step: every worker computes
//! its share of the micro-batches, then the shares are combined; rank 0 prints, with the
//! all-reduce time.

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::config::{Arch, OptimConfig, RunConfig};
use crate::error::Silent;
use crate::ops::Kernels;
use crate::parallel::collective::{self, Collective};
use crate::train::timing::time_updates;
use crate::train::{Engine, Faults};

/// Arguments of `batchramp bench`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Networks to time (repeatable; default: all three).
    #[arg(long = "net", value_enum)]
    pub nets: Vec<NetArg>,
    /// Batch sizes to time (repeatable; default: 32 and 128).
    #[arg(long = "batch")]
    pub batches: Vec<usize>,
    /// Timed steps per configuration (after warm-up).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Warm-up steps per configuration.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Device: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Time both our kernels and stock candle, back to back.
    #[arg(long)]
    pub both: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Config overrides, e.g. --set hardware.kernels=candle --set hardware.threads=2.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// A network name on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum NetArg {
    /// ResNet-8.
    Resnet8,
    /// ResNet-20.
    Resnet20,
    /// CIFAR ResNet-18.
    Resnet18,
}

impl From<NetArg> for Arch {
    fn from(n: NetArg) -> Arch {
        match n {
            NetArg::Resnet8 => Arch::Resnet8,
            NetArg::Resnet20 => Arch::Resnet20,
            NetArg::Resnet18 => Arch::Resnet18,
        }
    }
}

/// One timed configuration: a row of `bench --json`, read back by `plan --bench` (the
/// collective figures default to 0 for files from before they were measured).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchResult {
    /// Network.
    pub net: String,
    /// Batch size.
    pub batch: usize,
    /// `fast` or `candle`.
    pub kernels: String,
    /// Median step time in milliseconds.
    pub step_ms: f64,
    /// Images per second at the median step time.
    pub images_per_sec: f64,
    /// Achieved GFLOP/s (3 × forward FLOPs per image, counted as a direct convolution would).
    pub gflops: f64,
    /// Device description.
    pub device: String,
    /// Workers the step was shared among.
    #[serde(default)]
    pub workers: usize,
    /// Median milliseconds of combining the workers' shares (0 for one worker).
    #[serde(default)]
    pub comm_ms: f64,
    /// Median milliseconds of that spent waiting for the slowest worker's share; the rest is
    /// the all-reduce proper.
    #[serde(default)]
    pub wait_ms: f64,
}

/// Runs the benchmark; returns the exit code.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let (_interrupt, interrupt_rx) = crossbeam_channel::bounded::<()>(1);
    let mut comm = collective::join(interrupt_rx).map_err(|e| match e.speaks() {
        true => anyhow::Error::new(e),
        false => Silent(2).into(),
    })?;
    let speak = comm.rank() == 0;
    let cfg = RunConfig::load(None, &args.set)?;
    crate::device::set_cpu_threads(cfg.hardware.threads);
    let (device, device_name) = crate::device::select(&args.device, cfg.hardware.threads)?;
    let nets: Vec<Arch> = if args.nets.is_empty() {
        vec![Arch::Resnet8, Arch::Resnet20, Arch::Resnet18]
    } else {
        args.nets.iter().map(|&n| n.into()).collect()
    };
    let batches = if args.batches.is_empty() {
        vec![32, 128]
    } else {
        args.batches.clone()
    };
    if batches.contains(&0) || args.steps == 0 {
        return Err(crate::BadInput("--batch and --steps must be at least 1".into()).into());
    }
    let kernels: Vec<Kernels> = if args.both {
        vec![Kernels::Fast, Kernels::Candle]
    } else {
        vec![cfg.hardware.kernels]
    };
    let mut results = Vec::new();
    let world = comm.world();
    if !args.json && speak {
        if world > 1 {
            println!(
                "device: {device_name} × {world} workers (micro-batches of at most {}; each step shared among them)",
                cfg.hardware.max_micro_batch
            );
        } else {
            println!("device: {device_name}");
        }
        println!(
            "{:<9} {:>6} {:>7} {:>10} {:>10} {:>9}",
            "net", "batch", "kernels", "step ms", "images/s", "GFLOP/s"
        );
    }
    for &arch in &nets {
        for &batch in &batches {
            let mut row = Vec::new();
            for &k in &kernels {
                let (r, back) = time_step(arch, batch, k, &cfg, &device, &args, comm)
                    .with_context(|| format!("timing {arch} at batch {batch}"))?;
                comm = back;
                let r = BenchResult {
                    device: device_name.clone(),
                    ..r
                };
                if !args.json && speak {
                    print!(
                        "{:<9} {:>6} {:>7} {:>10.1} {:>10.1} {:>9.1}",
                        r.net, r.batch, r.kernels, r.step_ms, r.images_per_sec, r.gflops
                    );
                    if world > 1 {
                        print!(
                            "   comm {:.1} ms ({:.0}%), of which waiting for the slowest {:.1} ms",
                            r.comm_ms,
                            100.0 * r.comm_ms / r.step_ms,
                            r.wait_ms
                        );
                    }
                    println!();
                }
                row.push(r.clone());
                results.push(r);
            }
            if row.len() == 2 && !args.json && speak {
                println!(
                    "{:<9} {:>6} {:>7} speed-up ×{:.2}",
                    "",
                    "",
                    "",
                    row[0].images_per_sec / row[1].images_per_sec
                );
            }
        }
    }
    if args.json && speak {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    Ok(0)
}

fn time_step(
    arch: Arch,
    batch: usize,
    kernels: Kernels,
    cfg: &RunConfig,
    device: &candle_core::Device,
    args: &Args,
    comm: Box<dyn Collective>,
) -> anyhow::Result<(BenchResult, Box<dyn Collective>)> {
    // The network `train` would build, with the micro-batches it would run (at most
    // `hardware.max_micro_batch`, whole ghost batches), whatever the world size: one worker
    // accumulates them all, several share them.
    let mut timed = cfg.clone();
    timed.model.arch = arch;
    timed.hardware.kernels = kernels;
    timed.seed = 0;
    timed.optim = OptimConfig {
        lr: 0.01,
        ..OptimConfig::default()
    };
    let world = comm.world();
    let mut engine = Engine::new(&timed, 10, device.clone(), comm, Faults::default())?;
    let times = time_updates(&mut engine, batch, args.warmup, args.steps)?;
    let flops = 3.0 * engine.model().flops_per_image() * batch as f64;
    let result = BenchResult {
        net: arch.to_string(),
        batch,
        kernels: format!("{kernels:?}").to_lowercase(),
        step_ms: times.step * 1e3,
        images_per_sec: batch as f64 / times.step,
        gflops: flops / times.step / 1e9,
        device: String::new(),
        workers: world,
        comm_ms: times.comm * 1e3,
        wait_ms: times.wait * 1e3,
    };
    Ok((result, engine.into_collective()))
}
