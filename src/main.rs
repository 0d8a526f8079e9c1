//! The `batchramp` binary: parses the command line and hands each subcommand to `batchramp::cli`.
//! The only place that turns errors into exit codes (0 done, 1 failure, 2 bad input, 130/143/129
//! interrupted).

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
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            if e.downcast_ref::<batchramp::error::Silent>().is_none() {
                eprintln!("error: {}", cli::one_line(&e));
            }
            std::process::exit(cli::exit_code(&e));
        }
    }
}
