//! One training over several processes: the few collective operations the trainer needs
//! (sum a flat buffer over every worker, gather or broadcast a few bytes), behind one trait so
//! the trainer never knows the engine. [`Local`] is the world of one process; `mpi` (the `mpi`
//! feature) runs the operations over MPI, each under the deadline of [`crate::parallel::stall`].
//! Owns how a process learns its rank and the world size from its launcher; must never decide
//! what is summed.

#[cfg(feature = "mpi")]
mod mpi;

use crossbeam_channel::Receiver;

use crate::parallel::stall::{Stall, StallLimits};

/// Why a collective operation did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CollectiveError {
    /// The run was asked to stop while this process waited for the others (a signal, or the
    /// launcher ending the job after another worker failed).
    #[error("interrupted while waiting for the other workers")]
    Interrupted,
    /// The engine failed.
    #[error("{0}")]
    Failed(String),
    /// Other workers did not answer within `parallel.stall_timeout_seconds`: the job must end
    /// (see [`Collective::job_end`]); no further operation can run.
    #[error("{0}")]
    Stalled(Stall),
}

/// What the worker that speaks for the job says about a wait (see
/// [`crate::parallel::stall::speaks`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StallReport {
    /// An exchange has waited past another multiple of the warning time.
    Waiting(Stall),
    /// An exchange that was reported as waiting has completed.
    Answered(Stall),
}

/// How this worker's exchanges wait, and to whom it reports.
pub struct StallWatch {
    /// The deadline of every exchange.
    pub limits: StallLimits,
    /// Every worker's host by rank (from the handshake), for naming them.
    pub hosts: Vec<String>,
    /// Told of every wait this worker speaks for.
    pub report: Box<dyn FnMut(StallReport) + Send>,
}

/// Ends the whole job from any thread, also the workers that cannot end by themselves (a
/// stopped process): the last thing a worker does after it has said why and rank 0 has written
/// its last record.
pub struct JobEnd(Box<dyn FnOnce(i32) + Send>);

impl JobEnd {
    /// Ends this process only (the world of one).
    pub fn this_process() -> JobEnd {
        JobEnd(Box::new(|_| {}))
    }

    /// Ends the job by `end`, then this process if it is still there.
    pub fn new(end: impl FnOnce(i32) + Send + 'static) -> JobEnd {
        JobEnd(Box::new(end))
    }

    /// Ends the job with exit code `code`.
    pub fn end(self, code: i32) -> ! {
        (self.0)(code);
        std::process::exit(code)
    }
}

/// Where this process stands in the world of workers, and how it reaches the others.
pub trait Collective: Send {
    /// This worker's rank, 0 to `world() - 1`; rank 0 owns the run directory and the UI.
    fn rank(&self) -> usize;
    /// Workers in all.
    fn world(&self) -> usize;
    /// Replaces `buf` by its element-wise sum over every worker.
    fn sum_f32(&mut self, buf: &mut Vec<f32>) -> Result<(), CollectiveError>;
    /// Replaces `buf` by its element-wise sum over every worker (small, exact bookkeeping).
    fn sum_f64(&mut self, buf: &mut Vec<f64>) -> Result<(), CollectiveError>;
    /// Every worker's `mine`, in rank order.
    fn gather_bytes(&mut self, mine: Vec<u8>) -> Result<Vec<Vec<u8>>, CollectiveError>;
    /// Rank 0's `buf` on every worker (the others' `buf` is replaced).
    fn broadcast_bytes(&mut self, buf: &mut Vec<u8>) -> Result<(), CollectiveError>;
    /// Ends every worker of the job at once, after a fatal error on this one.
    fn abort(&mut self, code: i32) -> !;
    /// This worker is leaving on an error while others may wait for it: do not wait for them
    /// when closing (the launcher ends the job once this process exits with an error).
    fn abandon(&mut self) {}
    /// Sets the deadline of every later exchange, the workers' hosts and where waits are
    /// reported (the world of one never waits).
    fn watch_stalls(&mut self, _watch: StallWatch) {}
    /// A handle that ends every worker of the job, usable after this collective is gone.
    fn job_end(&self) -> JobEnd {
        JobEnd::this_process()
    }
}

/// The world of one process: every operation is the identity.
#[derive(Clone, Copy, Debug, Default)]
pub struct Local;

impl Collective for Local {
    fn rank(&self) -> usize {
        0
    }
    fn world(&self) -> usize {
        1
    }
    fn sum_f32(&mut self, _: &mut Vec<f32>) -> Result<(), CollectiveError> {
        Ok(())
    }
    fn sum_f64(&mut self, _: &mut Vec<f64>) -> Result<(), CollectiveError> {
        Ok(())
    }
    fn gather_bytes(&mut self, mine: Vec<u8>) -> Result<Vec<Vec<u8>>, CollectiveError> {
        Ok(vec![mine])
    }
    fn broadcast_bytes(&mut self, _: &mut Vec<u8>) -> Result<(), CollectiveError> {
        Ok(())
    }
    fn abort(&mut self, code: i32) -> ! {
        std::process::exit(code)
    }
}

/// What the launcher (mpirun, srun, …) told this process through its environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Launch {
    /// Rank of this process.
    pub rank: usize,
    /// Processes started.
    pub world: usize,
}

impl Launch {
    /// Reads Open MPI's, MPICH/PMI's or Slurm's variables; `None` when no launcher started us.
    pub fn from_env() -> Option<Launch> {
        Launch::from_vars(|k| std::env::var(k).ok())
    }

    /// As [`Launch::from_env`], over any variable source (tests).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Option<Launch> {
        const PAIRS: [(&str, &str); 4] = [
            ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
            ("PMIX_RANK", "PMIX_SIZE"),
            ("PMI_RANK", "PMI_SIZE"),
            ("SLURM_PROCID", "SLURM_NTASKS"),
        ];
        PAIRS.iter().find_map(|(rank, size)| {
            let world: usize = get(size)?.trim().parse().ok()?;
            let rank: usize = get(rank).and_then(|r| r.trim().parse().ok()).unwrap_or(0);
            (world >= 1).then_some(Launch { rank, world })
        })
    }
}

/// Why this process cannot join its launcher's world.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// Started as one of several processes by a launcher, but built without an engine.
    #[error("started as one of {world} processes (by mpirun or a scheduler), but this batchramp was built without MPI: rebuild with `cargo build --release --features mpi` (needs libopenmpi-dev), or run it without mpirun")]
    NotBuiltWithMpi {
        /// Processes the launcher started.
        world: usize,
    },
    /// The engine could not be started.
    #[error("cannot start MPI: {0}")]
    Engine(String),
}

impl JoinError {
    /// Whether this process should say so: one line for the job, not one per process.
    pub fn speaks(&self) -> bool {
        match self {
            JoinError::NotBuiltWithMpi { .. } => Launch::from_env().is_none_or(|l| l.rank == 0),
            JoinError::Engine(_) => true,
        }
    }
}

/// Joins the world the launcher started this process in: MPI when built with it and started by
/// a launcher, else the world of one. `interrupt` ends a wait for the other workers (the signal
/// handler sends to it).
pub fn join(interrupt: Receiver<()>) -> Result<Box<dyn Collective>, JoinError> {
    let launch = Launch::from_env();
    #[cfg(feature = "mpi")]
    if launch.is_some() {
        return mpi::Mpi::start(interrupt)
            .map(|m| Box::new(m) as Box<dyn Collective>)
            .map_err(JoinError::Engine);
    }
    #[cfg(not(feature = "mpi"))]
    if let Some(l) = launch.filter(|l| l.world > 1) {
        return Err(JoinError::NotBuiltWithMpi { world: l.world });
    }
    let _ = interrupt;
    Ok(Box::new(Local))
}

/// This machine's name, for telling workers apart in messages.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launchers_are_recognised_by_their_variables() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Launch::from_vars(vars(&[])), None);
        assert_eq!(
            Launch::from_vars(vars(&[
                ("OMPI_COMM_WORLD_SIZE", "4"),
                ("OMPI_COMM_WORLD_RANK", "2")
            ])),
            Some(Launch { rank: 2, world: 4 })
        );
        assert_eq!(
            Launch::from_vars(vars(&[("PMI_SIZE", "2"), ("PMI_RANK", "1")])),
            Some(Launch { rank: 1, world: 2 })
        );
        assert_eq!(Launch::from_vars(vars(&[("PMI_SIZE", "many")])), None);
    }

    #[test]
    fn the_local_world_is_the_identity() {
        let mut l = Local;
        let mut v = vec![1.5f32, -2.0];
        l.sum_f32(&mut v).unwrap();
        assert_eq!(v, vec![1.5, -2.0]);
        assert_eq!(
            l.gather_bytes(b"ab".to_vec()).unwrap(),
            vec![b"ab".to_vec()]
        );
        assert_eq!((l.rank(), l.world()), (0, 1));
    }
}
