//! `batchramp bench`: times the full training step (forward, backward, optimizer update) of each
//! network and batch size on random data: warm-up, then the median of several steps. Reports
//! images/s, step time and achieved GFLOP/s (training ≈ 3× the forward pass's FLOPs as a direct
//! convolution counts them: where the Winograd kernels take a layer, fewer multiplications do the
//! same work, so the figure is a direct-convolution equivalent, above what the FMA units run);
//! `--both` times our kernels and stock candle back to back and prints the ratio.

use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use crate::config::{Arch, ModelConfig, OptimConfig, RunConfig};
use crate::model::{ParamStore, ResNet};
use crate::ops::Kernels;
use crate::train::micro::MicroBatching;
use crate::train::optim::Optimizer;
use crate::train::step::batch_gradient;

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

/// One timed configuration.
#[derive(Debug, Clone, Serialize)]
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
}

/// Runs the benchmark; returns the exit code.
pub fn run(args: Args) -> anyhow::Result<i32> {
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
    if !args.json {
        println!("device: {device_name}");
        println!(
            "{:<9} {:>6} {:>7} {:>10} {:>10} {:>9}",
            "net", "batch", "kernels", "step ms", "images/s", "GFLOP/s"
        );
    }
    for &arch in &nets {
        for &batch in &batches {
            let mut row = Vec::new();
            for &k in &kernels {
                let r = time_step(arch, batch, k, &cfg, &device, &args)
                    .with_context(|| format!("timing {arch} at batch {batch}"))?;
                let r = BenchResult {
                    device: device_name.clone(),
                    ..r
                };
                if !args.json {
                    println!(
                        "{:<9} {:>6} {:>7} {:>10.1} {:>10.1} {:>9.1}",
                        r.net, r.batch, r.kernels, r.step_ms, r.images_per_sec, r.gflops
                    );
                }
                row.push(r.clone());
                results.push(r);
            }
            if row.len() == 2 && !args.json {
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
    if args.json {
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
) -> anyhow::Result<BenchResult> {
    let model_cfg = ModelConfig {
        arch,
        ..cfg.model.clone()
    };
    let mut store = ParamStore::new(device, 0);
    let model = ResNet::new(&mut store, &model_cfg, kernels, 10)?;
    let params: Vec<_> = store.trainable().iter().map(|(_, v)| v.clone()).collect();
    let mut optim = Optimizer::new(
        &OptimConfig {
            lr: 0.01,
            ..OptimConfig::default()
        },
        params.clone(),
    );
    // Deterministic pseudo-images: the kernels' speed does not depend on the values.
    let images: Vec<f32> = (0..batch * 3072)
        .map(|i| ((i.wrapping_mul(2654435761) >> 7) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let labels: Vec<u32> = (0..batch).map(|i| (i % 10) as u32).collect();
    let micro = MicroBatching::new(
        cfg.hardware.max_micro_batch.max(batch),
        model_cfg.ghost_batch,
    );
    let mut times = Vec::with_capacity(args.steps);
    for i in 0..args.warmup + args.steps {
        let t = Instant::now();
        let g = batch_gradient(&model, &params, &images, &labels, &micro, device, false)?;
        optim.step(&g.grads)?;
        // Make sure queued device work is finished before the clock stops.
        device.synchronize()?;
        if i >= args.warmup {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let flops = 3.0 * model.flops_per_image() * batch as f64;
    Ok(BenchResult {
        net: arch.to_string(),
        batch,
        kernels: format!("{kernels:?}").to_lowercase(),
        step_ms: median * 1e3,
        images_per_sec: batch as f64 / median,
        gflops: flops / median / 1e9,
        device: String::new(),
    })
}
