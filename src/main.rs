//! The `batchramp` binary: parses the command line and hands each subcommand to `batchramp::cli`.
//! The only place that turns errors into exit codes (0 done, 1 failure, 2 bad input, 130/143/129
//! interrupted, 141 standard output closed).

use clap::{Parser, Subcommand};

use batchramp::cli;

#[derive(Parser, Debug)]
#[command(
    name = "batchramp",
    version,
    about = "Train CIFAR classifiers by increasing the batch size instead of decaying the learning rate"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a network (live UI in a terminal, plain lines otherwise).
    Train(cli::train::Args),
    /// Play a finished run's log in the UI (or as plain lines).
    Replay(cli::replay::Args),
    /// Follow a live run's log from another terminal or SSH session.
    Watch(cli::watch::Args),
    /// Overlay several runs' curves.
    Compare(cli::compare::Args),
    /// Render test accuracy and training loss of runs to PNG or SVG.
    Plot(cli::plot::Args),
    /// Export a run to TensorBoard event files or CSV.
    Export(cli::export::Args),
    /// Fetch CIFAR-10 into the cache.
    Data(cli::data::Args),
    /// Time the full training step (forward, backward, update) per network and batch size.
    Bench(cli::bench::Args),
    /// Project a schedule's wall time onto a cluster of workers, beside decay-LR's.
    Plan(cli::plan::Args),
    /// Show this machine's GPUs, CPU and memory, and the processes writing a logdir.
    Machine(cli::machine::Args),
}

fn main() {
    batchramp::ops::tune_cpu_allocator();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    if prints_only(&cli.command) {
        end_quietly_on_a_closed_pipe();
    }
    let result = match cli.command {
        Command::Train(a) => cli::train::run(a),
        Command::Replay(a) => cli::replay::run(a),
        Command::Watch(a) => cli::watch::run(a),
        Command::Compare(a) => cli::compare::run(a),
        Command::Plot(a) => cli::plot::run(a),
        Command::Export(a) => cli::export::run(a),
        Command::Data(a) => cli::data::run(a).map(|()| 0),
        Command::Bench(a) => cli::bench::run(a),
        Command::Plan(a) => cli::plan::run(a),
        Command::Machine(a) => cli::machine::run(a),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            if e.downcast_ref::<batchramp::error::Silent>().is_none() {
                cli::say(&format!("error: {}", cli::one_line(&e)));
            }
            std::process::exit(cli::exit_code(&e));
        }
    }
}

/// Commands whose output is all there is to them (no run is written, nothing to checkpoint):
/// when their reader goes away (`| head`) they may simply end. `train`, `watch`, `replay` and
/// `compare` handle a closed pipe themselves (a training stops with a checkpoint).
fn prints_only(command: &Command) -> bool {
    match command {
        Command::Plot(_)
        | Command::Export(_)
        | Command::Plan(_)
        | Command::Data(_)
        | Command::Machine(_) => true,
        // Under a launcher the MPI library owns the process's signals.
        Command::Bench(_) => {
            batchramp::parallel::collective::Launch::from_env().is_none_or(|l| l.world <= 1)
        }
        Command::Train(_) | Command::Replay(_) | Command::Watch(_) | Command::Compare(_) => false,
    }
}

/// Ends the process on a write to a closed pipe as Unix tools do (killed by SIGPIPE, which the
/// shell reports as 141), rather than `println!` panicking with "failed printing to stdout:
/// Broken pipe" and exit 101. Rust starts every program with SIGPIPE ignored.
fn end_quietly_on_a_closed_pipe() {
    // SAFETY: restores the default disposition of one signal before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
