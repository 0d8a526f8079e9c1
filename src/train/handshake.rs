//! Before a data-parallel run trains, its workers agree: the same binary, the same config (but
//! for the keys each machine may set for itself, `hardware.*` and `checkpoint.*`), the same
//! data, and then the same initial parameters. A worker that differs is named with its host
//! and what differs, and every worker refuses to start. Must never change what it compares.

use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::data::Cifar;
use crate::events::Worker;
use crate::train::checkpoint::config_differences;
use crate::train::collective::{host_name, Collective};
use crate::train::session::SessionError;
use crate::train::{TrainError, Trainer};

/// What each worker says about itself.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Identity {
    host: String,
    threads: usize,
    binary: String,
    config: RunConfig,
    data: String,
}

/// Gathers every worker's identity and checks it against rank 0's; returns the workers.
pub fn agree(
    comm: &mut dyn Collective,
    cfg: &RunConfig,
    data: &Cifar,
) -> Result<Vec<Worker>, SessionError> {
    if comm.world() == 1 {
        return Ok(Vec::new());
    }
    let me = Identity {
        host: host_name(),
        threads: cfg.hardware.threads,
        binary: binary_fingerprint(),
        config: cfg.clone(),
        data: data_fingerprint(data),
    };
    let bytes = serde_json::to_vec(&me).map_err(|e| SessionError::Thread(e.to_string()))?;
    let all: Vec<Identity> = comm
        .gather_bytes(bytes)
        .map_err(|e| SessionError::Train(TrainError::Collective(e)))?
        .iter()
        .map(|b| serde_json::from_slice(b))
        .collect::<Result<_, _>>()
        .map_err(|e| {
            SessionError::Thread(format!("a worker's description arrived damaged: {e}"))
        })?;
    let first = &all[0];
    let mut problems = Vec::new();
    for (rank, other) in all.iter().enumerate().skip(1) {
        let who = format!("rank {rank} on {}", other.host);
        if other.binary != first.binary {
            problems.push(format!(
                "{who} runs another batchramp ({}; rank 0 on {}: {})",
                other.binary, first.host, first.binary
            ));
        }
        let keys = config_differences(&first.config, &other.config);
        if !keys.is_empty() {
            problems.push(format!(
                "{who} has another config (rank 0's value vs its own): {}",
                keys.join(", ")
            ));
        }
        if other.data != first.data {
            problems.push(format!(
                "{who} read other data ({}; rank 0 on {}: {})",
                other.data, first.host, first.data
            ));
        }
    }
    if !problems.is_empty() {
        return Err(SessionError::Disagree(format!(
            "the workers were not started alike: {}",
            problems.join("; ")
        )));
    }
    Ok(all
        .iter()
        .enumerate()
        .map(|(rank, id)| Worker {
            rank,
            host: id.host.clone(),
            threads: resolved_threads(id.threads),
        })
        .collect())
}

/// Checks that every worker's trainer starts from the same parameters.
pub fn same_parameters(trainer: &mut Trainer) -> Result<(), SessionError> {
    let sum = trainer.param_checksum()?;
    let all = trainer
        .collective()
        .gather_bytes(sum.to_le_bytes().to_vec())
        .map_err(|e| SessionError::Train(TrainError::Collective(e)))?;
    let differ: Vec<String> = all
        .iter()
        .enumerate()
        .filter(|(_, b)| b.as_slice() != all[0].as_slice())
        .map(|(rank, _)| format!("rank {rank}"))
        .collect();
    if differ.is_empty() {
        Ok(())
    } else {
        Err(SessionError::Disagree(format!(
            "the workers' initial parameters differ from rank 0's on {} (same seed and config, so the builds or machines compute differently)",
            differ.join(", ")
        )))
    }
}

/// The CPU threads a `hardware.threads` value means on this machine.
fn resolved_threads(threads: usize) -> usize {
    if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    }
}

/// Version and a checksum of the executable (two builds of one version can differ).
fn binary_fingerprint() -> String {
    let sum = std::env::current_exe()
        .and_then(std::fs::read)
        .map(|b| format!("{:08x}", crc32c::crc32c(&b)))
        .unwrap_or_else(|_| "unreadable".into());
    format!("{} build {sum}", env!("CARGO_PKG_VERSION"))
}

/// Sizes and a checksum of the training and test images and labels.
fn data_fingerprint(data: &Cifar) -> String {
    let mut crc = 0;
    for part in [
        &data.train.images,
        &data.train.labels,
        &data.test.images,
        &data.test.labels,
    ] {
        crc = crc32c::crc32c_append(crc, part);
    }
    format!(
        "{} train / {} test images, checksum {crc:08x}",
        data.train.len(),
        data.test.len()
    )
}
