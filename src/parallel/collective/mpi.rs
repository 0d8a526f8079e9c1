//! The collective over MPI (the `mpi` crate). An MPI communicator may not cross threads, so one
//! thread of its own initialises MPI, owns the communicator and runs every operation; callers
//! hand it buffers over a channel and wait for them back, or for an interrupt. Must never run
//! two operations at once (MPI is initialised for serialized calls).

use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, select, Receiver, Sender};
use mpi::collective::SystemOperation;
use mpi::environment::Threading;
use mpi::traits::*;

use super::{Collective, CollectiveError};

enum Request {
    SumF32(Vec<f32>),
    SumF64(Vec<f64>),
    Gather(Vec<u8>),
    Broadcast(Vec<u8>),
    Abort(i32),
}

enum Reply {
    F32(Vec<f32>),
    F64(Vec<f64>),
    Gathered(Vec<Vec<u8>>),
    Broadcast(Vec<u8>),
}

/// A handle to the MPI thread.
pub struct Mpi {
    rank: usize,
    world: usize,
    requests: Option<Sender<Request>>,
    replies: Receiver<Reply>,
    interrupt: Receiver<()>,
    /// Set once a wait was interrupted: the MPI thread may still be inside that operation, so
    /// no further one can be started.
    broken: bool,
    thread: Option<JoinHandle<()>>,
}

impl Mpi {
    /// Starts the MPI thread and joins the launcher's world.
    pub fn start(interrupt: Receiver<()>) -> Result<Mpi, String> {
        let (req_tx, req_rx) = bounded::<Request>(1);
        let (rep_tx, rep_rx) = bounded::<Reply>(1);
        let (ready_tx, ready_rx) = bounded::<Result<(usize, usize), String>>(1);
        let thread = std::thread::Builder::new()
            .name("mpi".into())
            .spawn(move || {
                let Some((universe, level)) = mpi::initialize_with_threading(Threading::Serialized)
                else {
                    let _ = ready_tx.send(Err("MPI was initialised already".into()));
                    return;
                };
                // Funneled is enough: this thread, the one that initialised MPI, makes every call.
                if level < Threading::Funneled {
                    let _ = ready_tx.send(Err(format!(
                        "the MPI library offers only thread level {level:?}; batchramp makes its MPI calls from one thread beside others and needs at least Funneled"
                    )));
                    return;
                }
                let world = universe.world();
                let _ = ready_tx.send(Ok((world.rank() as usize, world.size() as usize)));
                serve(&world, req_rx, rep_tx);
                // Dropping the universe finalises MPI, which every worker does at the same point.
            })
            .map_err(|e| format!("cannot start the MPI thread: {e}"))?;
        let (rank, world) = ready_rx
            .recv()
            .map_err(|_| "the MPI thread ended while starting".to_string())??;
        Ok(Mpi {
            rank,
            world,
            requests: Some(req_tx),
            replies: rep_rx,
            interrupt,
            broken: false,
            thread: Some(thread),
        })
    }

    fn call(&mut self, req: Request) -> Result<Reply, CollectiveError> {
        if self.broken {
            return Err(CollectiveError::Interrupted);
        }
        let requests = self
            .requests
            .as_ref()
            .ok_or_else(|| CollectiveError::Failed("the MPI thread has ended".into()))?;
        requests
            .send(req)
            .map_err(|_| CollectiveError::Failed("the MPI thread has ended".into()))?;
        select! {
            recv(self.replies) -> r => {
                r.map_err(|_| CollectiveError::Failed("the MPI thread ended during an operation".into()))
            }
            recv(self.interrupt) -> _ => {
                self.broken = true;
                Err(CollectiveError::Interrupted)
            }
        }
    }
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.rank
    }

    fn world(&self) -> usize {
        self.world
    }

    fn sum_f32(&mut self, buf: &mut Vec<f32>) -> Result<(), CollectiveError> {
        match self.call(Request::SumF32(std::mem::take(buf)))? {
            Reply::F32(v) => {
                *buf = v;
                Ok(())
            }
            _ => Err(mismatched()),
        }
    }

    fn sum_f64(&mut self, buf: &mut Vec<f64>) -> Result<(), CollectiveError> {
        match self.call(Request::SumF64(std::mem::take(buf)))? {
            Reply::F64(v) => {
                *buf = v;
                Ok(())
            }
            _ => Err(mismatched()),
        }
    }

    fn gather_bytes(&mut self, mine: Vec<u8>) -> Result<Vec<Vec<u8>>, CollectiveError> {
        match self.call(Request::Gather(mine))? {
            Reply::Gathered(all) => Ok(all),
            _ => Err(mismatched()),
        }
    }

    fn broadcast_bytes(&mut self, buf: &mut Vec<u8>) -> Result<(), CollectiveError> {
        match self.call(Request::Broadcast(std::mem::take(buf)))? {
            Reply::Broadcast(v) => {
                *buf = v;
                Ok(())
            }
            _ => Err(mismatched()),
        }
    }

    fn abandon(&mut self) {
        self.broken = true;
    }

    fn abort(&mut self, code: i32) -> ! {
        if let Some(requests) = &self.requests {
            let _ = requests.send_timeout(Request::Abort(code), Duration::from_secs(1));
        }
        // The MPI thread may be stuck in an operation: leaving with an error makes the
        // launcher end the job all the same.
        std::thread::sleep(Duration::from_secs(2));
        std::process::exit(code)
    }
}

impl Drop for Mpi {
    fn drop(&mut self) {
        // Hanging up ends the MPI thread's loop; it finalises MPI. After an interrupt it is
        // stuck in an operation that will never complete, so it is left behind.
        self.requests = None;
        if let Some(t) = self.thread.take() {
            if !self.broken {
                let _ = t.join();
            }
        }
    }
}

fn mismatched() -> CollectiveError {
    CollectiveError::Failed("the MPI thread answered another request".into())
}

/// Runs requests until the handle hangs up.
fn serve(
    world: &mpi::topology::SimpleCommunicator,
    requests: Receiver<Request>,
    replies: Sender<Reply>,
) {
    let size = world.size() as usize;
    for req in requests {
        let reply = match req {
            Request::SumF32(v) => {
                let mut out = vec![0f32; v.len()];
                world.all_reduce_into(&v[..], &mut out[..], SystemOperation::sum());
                Reply::F32(out)
            }
            Request::SumF64(v) => {
                let mut out = vec![0f64; v.len()];
                world.all_reduce_into(&v[..], &mut out[..], SystemOperation::sum());
                Reply::F64(out)
            }
            Request::Gather(mut mine) => {
                let len = mine.len() as u64;
                let mut lens = vec![0u64; size];
                world.all_gather_into(&len, &mut lens[..]);
                let longest = lens.iter().copied().max().unwrap_or(0).max(1) as usize;
                mine.resize(longest, 0);
                let mut all = vec![0u8; longest * size];
                world.all_gather_into(&mine[..], &mut all[..]);
                Reply::Gathered(
                    all.chunks(longest)
                        .zip(&lens)
                        .map(|(c, &l)| c[..l as usize].to_vec())
                        .collect(),
                )
            }
            Request::Broadcast(mut buf) => {
                let root = world.process_at_rank(0);
                let mut len = buf.len() as u64;
                root.broadcast_into(&mut len);
                buf.resize(len as usize, 0);
                root.broadcast_into(&mut buf[..]);
                Reply::Broadcast(buf)
            }
            Request::Abort(code) => world.abort(code),
        };
        if replies.send(reply).is_err() {
            return;
        }
    }
}
