//! The collective over MPI (the `mpi` crate). An MPI communicator may not cross threads, so one
//! thread of its own initialises MPI, owns the communicator and runs every operation; callers
//! hand it buffers over a channel and wait for them back, or for an interrupt.
//!
//! Every operation is an immediate (non-blocking) one, polled under the deadline of
//! [`crate::parallel::stall`], so a waiting worker sleeps instead of spinning inside MPI. Beside
//! it each worker sends every other a tiny "arrived" message, so that a wait can name the
//! workers that have not joined. An operation that gives up keeps its buffers and its thread
//! until the job is ended (MPI may still write into them). Must never run two operations at
//! once (MPI is initialised for serialized calls).

use std::cell::Cell;
use std::os::raw::c_int;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, unbounded, Receiver, RecvTimeoutError, Sender};
use mpi::collective::SystemOperation;
use mpi::datatype::Equivalence;
use mpi::environment::Threading;
use mpi::ffi;
use mpi::request::Scope;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use super::{Collective, CollectiveError, JobEnd, StallReport, StallWatch};
use crate::parallel::stall::{self, GaveUp, Named, RealClock, Stall, StallLimits, Watchdog};

/// The tag of the "arrived" messages (collectives use a context of their own, so only these
/// travel on it).
const ARRIVED: mpi::Tag = 0x5a11;

enum Request {
    SumF32(Vec<f32>),
    SumF64(Vec<f64>),
    Gather(Vec<u8>),
    Broadcast(Vec<u8>),
    Watch(StallLimits, Vec<String>),
}

/// Where waits are reported, shared with the handle: the handle empties it when it goes, since
/// the MPI thread may outlive it inside an operation that never completes, and the reporter
/// holds the run's event stream open.
type Reporter = Arc<Mutex<Option<ReportFn>>>;

/// A worker's stall reporter (see [`StallWatch::report`]).
type ReportFn = Box<dyn FnMut(StallReport) + Send>;

enum Reply {
    F32(Vec<f32>),
    F64(Vec<f64>),
    Gathered(Vec<Vec<u8>>),
    Broadcast(Vec<u8>),
    /// The operation gave up; the MPI thread now only waits to end the job.
    Stalled(Stall),
}

/// A handle to the MPI thread.
pub struct Mpi {
    rank: usize,
    world: usize,
    requests: Option<Sender<Request>>,
    replies: Receiver<Reply>,
    /// Asks the MPI thread to end the job (`MPI_Abort`), also while it waits in an operation.
    aborts: Sender<i32>,
    interrupt: Receiver<()>,
    report: Reporter,
    /// Set once a wait was interrupted or gave up: the MPI thread may still be inside that
    /// operation, so no further one can be started.
    broken: bool,
    thread: Option<JoinHandle<()>>,
}

impl Mpi {
    /// Starts the MPI thread and joins the launcher's world.
    pub fn start(interrupt: Receiver<()>) -> Result<Mpi, String> {
        let (req_tx, req_rx) = bounded::<Request>(1);
        let (rep_tx, rep_rx) = bounded::<Reply>(1);
        let (abort_tx, abort_rx) = unbounded::<i32>();
        let (ready_tx, ready_rx) = bounded::<Result<(usize, usize), String>>(1);
        let report: Reporter = Arc::default();
        let engine_report = report.clone();
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
                Engine::new(&world, rep_tx, abort_rx, engine_report).serve(req_rx);
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
            aborts: abort_tx,
            interrupt,
            report,
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
            recv(self.replies) -> r => match r {
                Ok(Reply::Stalled(stall)) => {
                    self.broken = true;
                    Err(CollectiveError::Stalled(stall))
                }
                Ok(reply) => Ok(reply),
                Err(_) => Err(CollectiveError::Failed("the MPI thread ended during an operation".into())),
            },
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
        self.job_end().end(code)
    }

    fn watch_stalls(&mut self, watch: StallWatch) {
        *lock(&self.report) = Some(watch.report);
        if let Some(requests) = &self.requests {
            let _ = requests.send(Request::Watch(watch.limits, watch.hosts));
        }
    }

    fn job_end(&self) -> JobEnd {
        let aborts = self.aborts.clone();
        JobEnd::new(move |code| {
            if aborts.send(code).is_ok() {
                // MPI_Abort ends this process too; should the MPI thread be gone, leaving with
                // an error makes the launcher end the job all the same.
                std::thread::sleep(Duration::from_secs(5));
            }
        })
    }
}

impl Drop for Mpi {
    fn drop(&mut self) {
        // Hanging up ends the MPI thread's loop; it finalises MPI. After an interrupt or a
        // stall it is inside an operation that may never complete, so it is left behind.
        self.requests = None;
        lock(&self.report).take();
        if let Some(t) = self.thread.take() {
            if !self.broken {
                let _ = t.join();
            }
        }
    }
}

/// The reporter, also after a panic while reporting (it is only ever replaced or emptied).
fn lock(r: &Reporter) -> std::sync::MutexGuard<'_, Option<ReportFn>> {
    r.lock().unwrap_or_else(|e| e.into_inner())
}

fn mismatched() -> CollectiveError {
    CollectiveError::Failed("the MPI thread answered another request".into())
}

/// An MPI request in flight, by its raw handle; completion sets it to the null request.
type Pending = Cell<ffi::MPI_Request>;

/// Takes over a request from the `mpi` crate, whose requests must complete before their scope
/// ends; ours are polled under a deadline instead.
fn pending<'a, D: ?Sized, S: Scope<'a>>(r: mpi::request::Request<'a, D, S>) -> Pending {
    // SAFETY: every caller keeps the request's buffers alive and in place until `done` says it
    // completed; an exchange that gives up never returns (`Engine::give_up`), so its buffers
    // outlive the process.
    Cell::new(unsafe { r.into_raw().0 })
}

/// Whether a request has completed (driving MPI's progress).
fn done(r: &Pending) -> bool {
    let mut raw = r.get();
    let mut flag: c_int = 0;
    // SAFETY: `raw` is a request from `pending` (or the null request, which tests complete).
    unsafe {
        ffi::MPI_Test(&mut raw, &mut flag, ffi::RSMPI_STATUS_IGNORE);
    }
    r.set(raw);
    flag != 0
}

/// One operation's "arrived" messages to and from every other worker.
struct Arrivals {
    /// This operation's number, sent to every other worker (boxed: MPI reads it in place).
    mine: Box<u64>,
    /// What each other worker sent, by rank.
    theirs: Vec<u64>,
    sends: Vec<Pending>,
    receives: Vec<(usize, Pending)>,
}

impl Arrivals {
    /// Announces operation `seq` to every other worker and listens for theirs.
    fn post(world: &SimpleCommunicator, seq: u64) -> Arrivals {
        let (me, size) = (world.rank() as usize, world.size() as usize);
        let mut a = Arrivals {
            mine: Box::new(seq),
            theirs: vec![0; size],
            sends: Vec::new(),
            receives: Vec::new(),
        };
        let others = (0..size).filter(|&r| r != me);
        for (rank, slot) in a.theirs.iter_mut().enumerate() {
            if rank == me {
                continue;
            }
            let from = world.process_at_rank(rank as i32);
            let r = mpi::request::scope(|s| {
                pending(from.immediate_receive_into_with_tag(s, slot, ARRIVED))
            });
            a.receives.push((rank, r));
        }
        for rank in others {
            let to = world.process_at_rank(rank as i32);
            let mine: &u64 = &a.mine;
            let r = mpi::request::scope(|s| pending(to.immediate_send_with_tag(s, mine, ARRIVED)));
            a.sends.push(r);
        }
        a
    }

    fn all_done(&self) -> bool {
        // Every request is tested each time, so all of them progress.
        let sent = self.sends.iter().filter(|r| !done(r)).count() == 0;
        let received = self.receives.iter().filter(|(_, r)| !done(r)).count() == 0;
        sent && received
    }

    /// The workers whose "arrived" has not come.
    fn missing(&self) -> Vec<usize> {
        self.receives
            .iter()
            .filter(|(_, r)| !done(r))
            .map(|(rank, _)| *rank)
            .collect()
    }

    /// Checks that every worker arrived at this operation, not another: they all run the same
    /// operations in the same order, so anything else is a bug worth stopping for.
    fn check(&self) {
        for (rank, _) in &self.receives {
            assert_eq!(
                self.theirs[*rank], *self.mine,
                "worker {rank} is at another exchange than this one"
            );
        }
    }
}

/// The MPI thread's state: the communicator, the deadline and where waits are reported.
struct Engine<'w> {
    world: &'w SimpleCommunicator,
    rank: usize,
    /// Operations run so far (the same count on every worker).
    seq: u64,
    limits: StallLimits,
    hosts: Vec<String>,
    report: Reporter,
    replies: Sender<Reply>,
    aborts: Receiver<i32>,
}

impl<'w> Engine<'w> {
    fn new(
        world: &'w SimpleCommunicator,
        replies: Sender<Reply>,
        aborts: Receiver<i32>,
        report: Reporter,
    ) -> Self {
        Engine {
            world,
            rank: world.rank() as usize,
            seq: 0,
            limits: StallLimits::default(),
            hosts: Vec::new(),
            report,
            replies,
            aborts,
        }
    }

    /// Runs requests until the handle hangs up; ends the job when asked to.
    fn serve(mut self, requests: Receiver<Request>) {
        loop {
            let req = select! {
                recv(requests) -> r => match r {
                    Ok(req) => req,
                    Err(_) => return,
                },
                recv(self.aborts) -> code => match code {
                    Ok(code) => self.world.abort(code),
                    // Cannot happen while the handle holds a sender; wait for requests alone.
                    Err(_) => match requests.recv() {
                        Ok(req) => req,
                        Err(_) => return,
                    },
                },
            };
            let reply = match req {
                Request::Watch(limits, hosts) => {
                    self.limits = limits;
                    self.hosts = hosts;
                    continue;
                }
                Request::SumF32(v) => Reply::F32(self.sum(v)),
                Request::SumF64(v) => Reply::F64(self.sum(v)),
                Request::Gather(mine) => Reply::Gathered(self.gather(mine)),
                Request::Broadcast(buf) => Reply::Broadcast(self.broadcast(buf)),
            };
            if self.replies.send(reply).is_err() {
                return;
            }
        }
    }

    fn sum<T: Equivalence + Copy + Default>(&mut self, v: Vec<T>) -> Vec<T> {
        let mut out = vec![T::default(); v.len()];
        let mut x = self.begin();
        let r = mpi::request::scope(|s| {
            pending(self.world.immediate_all_reduce_into(
                s,
                &v[..],
                &mut out[..],
                SystemOperation::sum(),
            ))
        });
        self.complete(&mut x, &[r]);
        out
    }

    fn gather(&mut self, mut mine: Vec<u8>) -> Vec<Vec<u8>> {
        let size = self.world.size() as usize;
        let mut x = self.begin();
        let len = Box::new(mine.len() as u64);
        let mut lens = vec![0u64; size];
        let r = mpi::request::scope(|s| {
            pending(
                self.world
                    .immediate_all_gather_into(s, &*len, &mut lens[..]),
            )
        });
        self.complete(&mut x, &[r]);
        let longest = lens.iter().copied().max().unwrap_or(0).max(1) as usize;
        mine.resize(longest, 0);
        let mut all = vec![0u8; longest * size];
        let r = mpi::request::scope(|s| {
            pending(
                self.world
                    .immediate_all_gather_into(s, &mine[..], &mut all[..]),
            )
        });
        self.complete(&mut x, &[r]);
        all.chunks(longest)
            .zip(&lens)
            .map(|(c, &l)| c[..l as usize].to_vec())
            .collect()
    }

    fn broadcast(&mut self, mut buf: Vec<u8>) -> Vec<u8> {
        let root = self.world.process_at_rank(0);
        let mut x = self.begin();
        let mut len = Box::new(buf.len() as u64);
        let r = mpi::request::scope(|s| pending(root.immediate_broadcast_into(s, &mut *len)));
        self.complete(&mut x, &[r]);
        buf.resize(*len as usize, 0);
        let r = mpi::request::scope(|s| pending(root.immediate_broadcast_into(s, &mut buf[..])));
        self.complete(&mut x, &[r]);
        buf
    }

    /// Starts an operation: its number, its "arrived" messages and its deadline.
    fn begin(&mut self) -> Exchange {
        self.seq += 1;
        Exchange {
            arrivals: Arrivals::post(self.world, self.seq),
            dog: Watchdog::new(self.limits, RealClock::start()),
            spoke: None,
        }
    }

    /// Waits for `data` (and the arrivals) to complete under the exchange's deadline: first
    /// for every worker to join, then, polling quickly again, for the data. Reports each
    /// warning this worker speaks for, and the end of a reported wait. Never returns if the
    /// deadline passes (see [`Engine::give_up`]).
    fn complete(&mut self, x: &mut Exchange, data: &[Pending]) {
        let me = self.rank;
        let aborts = &self.aborts;
        let world = self.world;
        let hosts = &self.hosts;
        let report = &self.report;
        let arrivals = &x.arrivals;
        let spoke = &mut x.spoke;
        let probe = |joined_only: bool| {
            if let Ok(code) = aborts.try_recv() {
                world.abort(code);
            }
            let data_done = data.iter().filter(|r| !done(r)).count() == 0;
            arrivals.all_done() && (joined_only || data_done)
        };
        let mut late = |waited: Duration| {
            let missing = arrivals.missing();
            let stall = named(hosts, waited, &missing);
            if stall::speaks(me, &missing) {
                if let Some(report) = lock(report).as_mut() {
                    report(StallReport::Waiting(stall.clone()));
                }
                *spoke = Some(stall);
            } else {
                *spoke = None;
            }
        };
        let mut result = x.dog.wait(|| probe(true), &mut late);
        if result.is_ok() {
            x.dog.hurry();
            result = x.dog.wait(|| probe(false), &mut late);
        }
        match result {
            Ok(()) => {
                arrivals.check();
                if let Some(stall) = spoke.take() {
                    if let Some(report) = lock(report).as_mut() {
                        report(StallReport::Answered(Stall {
                            waited: x.dog.waited(),
                            ..stall
                        }));
                    }
                }
            }
            Err(GaveUp(after)) => {
                let missing = arrivals.missing();
                let stall = named(hosts, after, &missing);
                self.give_up(stall, stall::speaks(me, &missing));
            }
        }
    }

    /// Tells the caller that the job must end, then waits for it to be ended. The worker that
    /// speaks for the job tells at once; the others give it as long again to end the job (rank 0
    /// writes its last record first) before they tell, in case it cannot.
    fn give_up(&mut self, stall: Stall, speaker: bool) -> ! {
        if !speaker {
            let grace = self.limits.give_up_after.unwrap_or(Duration::from_secs(60));
            let until = Instant::now() + grace;
            match self.aborts.recv_deadline(until) {
                Ok(code) => self.world.abort(code),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => park_forever(),
            }
        }
        let _ = self.replies.send(Reply::Stalled(stall));
        match self.aborts.recv() {
            Ok(code) => self.world.abort(code),
            Err(_) => park_forever(),
        }
    }
}

/// One operation in progress.
struct Exchange {
    arrivals: Arrivals,
    dog: Watchdog<RealClock>,
    /// The latest warning this worker gave about it.
    spoke: Option<Stall>,
}

/// The stall of a wait for the ranks `missing`, with their hosts where known.
fn named(hosts: &[String], waited: Duration, missing: &[usize]) -> Stall {
    Stall {
        waited,
        missing: missing
            .iter()
            .map(|&rank| Named {
                rank,
                host: hosts.get(rank).cloned(),
            })
            .collect(),
    }
}

/// The process is ending (its buffers may still be in MPI's hands): this thread waits for it.
fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}
