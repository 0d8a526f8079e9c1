//! Before a data-parallel run trains, its workers agree: the same binary, the same config (but
//! for the keys each machine may set for itself, `hardware.*` and `checkpoint.*`), the same
//! data, and then the same initial parameters. A worker that differs is named with its host
//! and what differs, and every worker refuses to start. Must never change what it compares.

use serde::{Deserialize, Serialize};

use crate::config::worker_differences;
use crate::config::RunConfig;
use crate::data::Cifar;
use crate::events::Worker;
use crate::parallel::collective::{host_name, Collective, CollectiveError};

/// Why the workers could not agree to start.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// Exchanging the descriptions failed.
    #[error("data-parallel training: {0}")]
    Collective(#[from] CollectiveError),
    /// Something sent between the workers could not be decoded.
    #[error("{what} arrived damaged: {source}")]
    Damaged {
        /// What was sent.
        what: &'static str,
        /// The decoding error.
        source: serde_json::Error,
    },
    /// The workers were not started alike: which differ, and how.
    #[error("{0}")]
    Disagree(String),
}

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
) -> Result<Vec<Worker>, HandshakeError> {
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
    let bytes = serde_json::to_vec(&me).map_err(|source| HandshakeError::Damaged {
        what: "this worker's description",
        source,
    })?;
    let all: Vec<Identity> = comm
        .gather_bytes(bytes)?
        .iter()
        .map(|b| serde_json::from_slice(b))
        .collect::<Result<_, _>>()
        .map_err(|source| HandshakeError::Damaged {
            what: "a worker's description",
            source,
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
        let keys = worker_differences(&first.config, &other.config);
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
        return Err(HandshakeError::Disagree(format!(
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
            threads: crate::device::resolved_threads(id.threads),
        })
        .collect())
}

/// Checks that every worker starts from the same parameters, given this worker's `checksum` of
/// them.
pub fn same_parameters(comm: &mut dyn Collective, checksum: u32) -> Result<(), HandshakeError> {
    let all = comm.gather_bytes(checksum.to_le_bytes().to_vec())?;
    let differ: Vec<String> = all
        .iter()
        .enumerate()
        .filter(|(_, b)| b.as_slice() != all[0].as_slice())
        .map(|(rank, _)| format!("rank {rank}"))
        .collect();
    if differ.is_empty() {
        Ok(())
    } else {
        Err(HandshakeError::Disagree(format!(
            "the workers' initial parameters differ from rank 0's on {} (same seed and config, so the builds or machines compute differently)",
            differ.join(", ")
        )))
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
