//! `batchramp machine`: one sample of this machine as the resources panel sees it (GPUs through
//! NVML, CPU, memory, and the processes writing a logdir when one is given), as plain lines or
//! JSON.
//!
//! Owns the command line and the output; the figures are `machine`'s. Must never write a file.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::BadInput;
use crate::machine::{text, MachineSampler};

/// Arguments of `batchramp machine`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A logdir, run directory or event file: also show the processes on this machine writing it.
    #[arg(value_name = "LOGDIR_OR_RUN_DIR")]
    pub path: Option<PathBuf>,
    /// Print the sample as one JSON object instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// Runs `batchramp machine`; returns the exit code.
pub fn run(args: Args) -> anyhow::Result<i32> {
    if let Some(p) = &args.path {
        if !p.exists() {
            return Err(BadInput(format!(
                "{}: no such file or directory; give a logdir, a run directory or an event file",
                p.display()
            ))
            .into());
        }
    }
    let mut sampler = MachineSampler::new(args.path.as_deref());
    // CPU shares need two readings; the first is only their starting point.
    sampler.sample();
    std::thread::sleep(Duration::from_millis(250));
    let sample = sampler.sample();
    if args.json {
        println!("{}", serde_json::to_string(&sample)?);
    } else {
        for line in text::lines(&sample, true) {
            println!("{line}");
        }
    }
    Ok(0)
}
