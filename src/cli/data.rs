//! `batchramp data fetch`: put the CIFAR-10 archive where `train` will find it.
//!
//! Owns the arguments and the user-facing report; the work is `data::fetch_archive`. Must never
//! read or write anything beyond the archive it fetches.

use std::path::PathBuf;

use crate::data;

/// Arguments of `batchramp data`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands of `batchramp data`.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Download (or copy) cifar-10-binary.tar.gz, check it and store it atomically.
    Fetch(FetchArgs),
}

/// Arguments of `batchramp data fetch`.
#[derive(clap::Args, Debug)]
pub struct FetchArgs {
    /// Directory to store the archive in [default: $BATCHRAMP_CACHE, else the user's cache
    /// directory, where `train` looks by itself].
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
    /// Where to get it: an https:// URL or a local .tar.gz [default: the official CIFAR-10 URL].
    #[arg(long, value_name = "URL_OR_FILE")]
    pub from: Option<String>,
}

/// Runs `batchramp data …`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Fetch(a) => {
            let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let fetched = data::fetch_archive(a.to.as_deref(), a.from.as_deref(), progress)?;
            println!("{}", fetched.describe());
            println!("{}", fetched.how_train_finds_it());
            Ok(())
        }
    }
}
