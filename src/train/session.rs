//! Starting a run: resolve the config (from the checkpoint on resume), load and subset the
//! data, pick the device, create or continue the run directory and its log, write the run's
//! first record, and start the trainer and resource-sampler threads. Hands back the run's event
//! stream, its control sender and a handle to wait on. Used by `batchramp train`, the benches
//! and the tests alike; must never touch the terminal or decide an exit code (but for one line
//! on standard error from a data-parallel worker other than rank 0 that speaks for a stalled
//! job while rank 0 cannot).

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};

use crate::config::{ConfigError, Loaded, RunConfig};
use crate::data::{self, DataError, DataSource, SyntheticSpec};
use crate::device::DeviceError;
use crate::events::{Control, Event, MessageEvent, PauseEvent, Record, RunStarted, Worker};
use crate::parallel::collective::{
    self, Collective, CollectiveError, JobEnd, JoinError, StallReport, StallWatch,
};
use crate::parallel::handshake::{self, HandshakeError};
use crate::parallel::stall::{Stall, StallLimits};
use crate::runlog::{LogWriter, RunLogError};
use crate::train::checkpoint::{self, Checkpoint, CheckpointError};
use crate::train::{EventSink, Faults, Outcome, TrainError, TrainSetup, Trainer};

/// What to start.
#[derive(Clone, Debug)]
pub struct RunRequest {
    /// Config file; `None` = the built-in default preset (or, on resume, the checkpoint's).
    pub config: Option<PathBuf>,
    /// A checkpoint file or run directory to continue from.
    pub resume: Option<PathBuf>,
    /// `--set KEY=VALUE` overrides, applied in order.
    pub overrides: Vec<String>,
    /// `--data`; `None` = the checkpoint's data on resume, else `$BATCHRAMP_DATA`, the cache or
    /// a download.
    pub data: Option<String>,
    /// `--device` (auto, cpu, cuda, cuda:N).
    pub device: String,
    /// Parent of new run directories.
    pub out: PathBuf,
    /// Someone is watching live: a non-finite loss pauses the run instead of stopping it.
    pub interactive: bool,
    /// Capacity of the live event stream ([`Session::events`]); 0 = no stream.
    pub stream_capacity: usize,
    /// How often the resource sampler runs; `None` = no `resources` events.
    pub sample_every: Option<Duration>,
    /// Injected failures (tests).
    pub faults: Faults,
}

impl RunRequest {
    /// A request with the defaults of `batchramp train`: default preset, auto device, `runs/`,
    /// headless, a live stream of 4,096 records and a resource sample every second.
    pub fn new() -> RunRequest {
        RunRequest {
            config: None,
            resume: None,
            overrides: Vec::new(),
            data: None,
            device: "auto".into(),
            out: PathBuf::from("runs"),
            interactive: false,
            stream_capacity: 4096,
            sample_every: Some(Duration::from_secs(1)),
            faults: Faults::default(),
        }
    }
}

impl Default for RunRequest {
    fn default() -> Self {
        RunRequest::new()
    }
}

/// Why a run could not be started or wound up.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The config file or an override is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data cannot be found, read or downloaded.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The device cannot be used.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The checkpoint to resume from is unreadable.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The trainer could not be built or restored, or training failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// The run's log cannot be written.
    #[error(transparent)]
    Log(#[from] RunLogError),
    /// A checkpoint outside a run directory's `checkpoints/`.
    #[error("{}: not inside a run directory's checkpoints/; resume from the run directory or one of its checkpoints", .0.display())]
    NotInRunDir(PathBuf),
    /// The run directory or its config could not be written.
    #[error("cannot {action} {}: {source}", .path.display())]
    RunDir {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A thread could not be started, or one panicked.
    #[error("{0}")]
    Thread(String),
    /// This process cannot join the world its launcher started it in.
    #[error(transparent)]
    Join(#[from] JoinError),
    /// The workers of a data-parallel run could not agree to start.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// An option that a resumed run cannot apply (it keeps its data and its directory).
    #[error("{0}")]
    CannotApplyOnResume(String),
    /// Other workers of a data-parallel run did not answer within
    /// `parallel.stall_timeout_seconds`: the job ends (see [`Session::job_end`]).
    #[error("{stall}; {last}")]
    Stalled {
        /// Whom the job waited for, and how long.
        stall: Stall,
        /// Where the run can resume from ("the last checkpoint is …").
        last: String,
    },
    /// The run to resume has finished: nothing was started and nothing written.
    #[error("{}: the run finished already ({}, {}, test accuracy {}); nothing to resume (look at it with `batchramp replay {}`)",
        .run_dir.display(),
        crate::format::counted(.summary.epochs as u64, "epoch"),
        crate::format::counted(.summary.updates, "update"),
        crate::format::pct(.summary.final_test_acc),
        .run_dir.display())]
    Finished {
        /// The run directory.
        run_dir: PathBuf,
        /// Its summary, from its log.
        summary: Box<crate::events::Summary>,
    },
}

/// A started run.
pub struct Session {
    /// The run directory.
    pub run_dir: PathBuf,
    /// The resolved config.
    pub config: RunConfig,
    /// Every record as the trainer emits it (bounded: step and resource records are dropped
    /// when the reader falls behind); disconnects when the run's last record is out. A resumed
    /// run's stream starts with the records its log kept (all but old resource samples), so a
    /// reader sees the whole run, then its `resumed` record. `None` when the request asked for
    /// no stream.
    pub events: Option<Receiver<Record>>,
    /// Commands to the trainer, obeyed at update boundaries.
    pub control: Sender<Control>,
    /// Things to tell the user about how the run was started (a left-behind lock taken over).
    pub notes: Vec<String>,
    interrupt: Sender<()>,
    rank: usize,
    world: usize,
    job_end: Option<JobEnd>,
    trainer: JoinHandle<Result<Outcome, SessionError>>,
    sampler: Option<JoinHandle<()>>,
    log: Option<LogWriter>,
}

/// Stops a run from another thread (a signal handler): a stop with a checkpoint at the next
/// update, or at once when the trainer is waiting for the other workers.
#[derive(Clone)]
pub struct Interrupter {
    control: Sender<Control>,
    interrupt: Sender<()>,
}

impl Interrupter {
    /// Asks for the stop.
    pub fn stop(&self) {
        let _ = self.control.send(Control::Stop { checkpoint: true });
        let _ = self.interrupt.try_send(());
    }
}

/// A run whose config, data, device and run directory are settled, before its trainer starts.
struct Prepared {
    req: RunRequest,
    cfg: RunConfig,
    /// What reading the config had to say (keys upgraded from an older version).
    config_notes: Vec<String>,
    resume: Option<Checkpoint>,
    cifar: crate::data::Cifar,
    source: DataSource,
    device: candle_core::Device,
    device_name: String,
    workers: Vec<Worker>,
    /// Rank 0's: the run directory, its log, the run time and log lines to continue from.
    owned: Option<(PathBuf, LogWriter, f64, u64)>,
    run_dir: PathBuf,
    /// Rank 0's, on resume: the records the log kept, for the stream.
    history: Vec<Record>,
}

/// Resource samples of a resumed run's past that its stream carries (the UI's sparklines hold
/// no more); older ones are left in the log.
const HISTORY_RESOURCES: usize = 256;

impl Session {
    /// Starts the run `req` describes, as one worker of the launcher's world (of one process,
    /// without a launcher). The log's first record (the header, or `resumed`) is written before
    /// this returns. On a data-parallel run every worker must call it with the same request;
    /// rank 0 owns the run directory, the log and the stream.
    pub fn start(req: RunRequest) -> Result<Session, SessionError> {
        let (interrupt_tx, interrupt_rx) = bounded::<()>(1);
        let mut comm = collective::join(interrupt_rx)?;
        let world = comm.world();
        match start_in(req, comm.as_mut()) {
            Ok(prepared) => prepared.launch(comm, interrupt_tx),
            Err(e) => {
                if world > 1 {
                    comm.abandon();
                }
                Err(e)
            }
        }
    }

    /// This worker's rank (0 owns the run).
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Workers in the run.
    pub fn world(&self) -> usize {
        self.world
    }

    /// Ends every worker of the job (MPI_Abort), for after a [`SessionError::Stalled`] has been
    /// told: a stopped worker cannot end by itself. Taken once; the world of one just exits.
    pub fn job_end(&mut self) -> JobEnd {
        self.job_end.take().unwrap_or_else(JobEnd::this_process)
    }

    /// Asks the run to stop with a checkpoint, also when this worker is waiting for the others
    /// (what a signal means).
    pub fn interrupt(&self) -> Interrupter {
        Interrupter {
            control: self.control.clone(),
            interrupt: self.interrupt.clone(),
        }
    }

    /// Waits for the run to end, then for its log to be on disk: the trainer's outcome, or the
    /// first error (training before logging).
    pub fn join(self) -> Result<Outcome, SessionError> {
        let Session {
            trainer,
            sampler,
            log,
            control,
            events,
            interrupt,
            ..
        } = self;
        drop(interrupt);
        // Nobody will send more commands or read the stream: a paused trainer stops instead
        // of waiting forever, and a full stream never holds it up.
        drop(control);
        drop(events);
        let outcome = trainer
            .join()
            .map_err(|_| SessionError::Thread("the training thread panicked".into()));
        if let Some(s) = sampler {
            let _ = s.join();
        }
        let logged = log.map_or(Ok(()), LogWriter::close);
        let outcome = outcome??;
        logged?;
        Ok(outcome)
    }
}

/// Everything up to the trainer: config, data, device, the workers' agreement, and (rank 0)
/// the run directory and log.
fn start_in(req: RunRequest, comm: &mut dyn Collective) -> Result<Prepared, SessionError> {
    let rank = comm.rank();
    let resume = load_resume(&req, comm)?;
    if let (Some(ck), Some(given)) = (&resume, &req.data) {
        refuse_other_data(ck, given)?;
    }
    if let (0, Some(ck)) = (rank, &resume) {
        refuse_finished(ck)?;
    }
    let Loaded {
        config: cfg,
        notes: config_notes,
    } = resolve_config(&req, resume.as_ref())?;
    crate::device::set_cpu_threads(cfg.hardware.threads);

    // A resumed run reads the data it was started on, or where it now is when it moved.
    let data_arg = req.data.clone().or_else(|| {
        resume
            .as_ref()
            .map(|ck| ck.state.meta.data.clone())
            .filter(|d| !d.is_empty())
    });
    let source = data::resolve_source(data_arg.as_deref())?;
    let mut cifar = data::load(
        &source,
        &SyntheticSpec {
            train: cfg.data.synthetic_train,
            test: cfg.data.synthetic_test,
            seed: cfg.seed,
        },
    )?;
    for (key, asked, set, which) in [
        (
            "data.train_subset",
            cfg.data.train_subset,
            &mut cifar.train,
            "training",
        ),
        (
            "data.test_subset",
            cfg.data.test_subset,
            &mut cifar.test,
            "test",
        ),
    ] {
        if asked > set.len() {
            // Asking for more than there is would silently train on less than the config says.
            return Err(ConfigError::Invalid {
                key: key.into(),
                value: asked.to_string(),
                reason: format!(
                    "the {which} set has {} images; ask for at most that many (0 = all)",
                    crate::format::count(set.len() as u64)
                ),
            }
            .into());
        }
        if asked > 0 {
            *set = set.subset(asked);
        }
    }
    let (device, device_name) = crate::device::select(&req.device, cfg.hardware.threads)?;
    let workers = handshake::agree(comm, &cfg, &cifar)?;

    let mut history = Vec::new();
    let owned = if rank == 0 {
        Some(match &resume {
            Some(ck) => {
                let run_dir = run_dir_of(ck)?;
                let lines = ck.state.meta.log_lines;
                let log = LogWriter::resume_after(&run_dir, lines)?;
                history = stream_history(crate::runlog::read_log(&run_dir)?.records);
                (run_dir, log, ck.state.meta.t, lines)
            }
            None => {
                let run_dir = new_run_dir(&req.out, &cfg.name)?;
                let config_file = run_dir.join("config.toml");
                std::fs::write(&config_file, cfg.to_toml()).map_err(|source| {
                    SessionError::RunDir {
                        action: "write",
                        path: config_file,
                        source,
                    }
                })?;
                let log = LogWriter::create(&run_dir)?;
                (run_dir, log, 0.0, 0)
            }
        })
    } else {
        None
    };
    // Every worker learns where the run lives, for its messages.
    let mut dir = owned
        .as_ref()
        .map(|o| o.0.display().to_string().into_bytes())
        .unwrap_or_default();
    comm.broadcast_bytes(&mut dir).map_err(collective_failed)?;
    Ok(Prepared {
        run_dir: PathBuf::from(String::from_utf8_lossy(&dir).into_owned()),
        req,
        cfg,
        config_notes,
        resume,
        cifar,
        source,
        device,
        device_name,
        workers,
        owned,
        history,
    })
}

/// Refuses to resume a run whose log says it finished: its log and summary stay as they are.
fn refuse_finished(ck: &Checkpoint) -> Result<(), SessionError> {
    let run_dir = run_dir_of(ck)?;
    // An unreadable log is the log writer's to report.
    let Ok(log) = crate::runlog::read_log(&run_dir) else {
        return Ok(());
    };
    match log.finished() {
        Some(summary) => Err(SessionError::Finished {
            run_dir,
            summary: Box::new(summary.clone()),
        }),
        None => Ok(()),
    }
}

/// The kept records of a resumed run's log as its stream replays them: every one but the
/// resource samples older than the last [`HISTORY_RESOURCES`].
fn stream_history(records: Vec<Record>) -> Vec<Record> {
    let samples = records
        .iter()
        .filter(|r| matches!(r.event, Event::Resources(_)))
        .count();
    let mut skip = samples.saturating_sub(HISTORY_RESOURCES);
    records
        .into_iter()
        .filter(|r| {
            let old_sample = matches!(r.event, Event::Resources(_)) && skip > 0;
            skip -= usize::from(old_sample);
            !old_sample
        })
        .collect()
}

/// `--data` on a resume may only say where the run's own data now is: while the recorded data
/// is still there, another source would silently train the rest of the run on other images.
fn refuse_other_data(ck: &Checkpoint, given: &str) -> Result<(), SessionError> {
    let recorded = ck.state.meta.data.as_str();
    let same = |a: &str, b: &str| {
        a == b
            || matches!(
                (std::fs::canonicalize(a), std::fs::canonicalize(b)),
                (Ok(x), Ok(y)) if x == y
            )
    };
    let still_there = recorded == "synthetic" || Path::new(recorded).exists();
    if recorded.is_empty() || !still_there || same(given, recorded) {
        return Ok(());
    }
    Err(SessionError::CannotApplyOnResume(format!(
        "--data {given}: a resumed run keeps the data it was started on ({recorded}); drop --data \
         (it is only for pointing at that data after it moved)"
    )))
}

/// The checkpoint to resume from: rank 0 reads its files and sends them to the other workers,
/// which need not see its disk.
fn load_resume(
    req: &RunRequest,
    comm: &mut dyn Collective,
) -> Result<Option<Checkpoint>, SessionError> {
    let Some(path) = &req.resume else {
        return Ok(None);
    };
    if comm.world() == 1 {
        return Ok(Some(checkpoint::load(path)?));
    }
    let mut bytes = if comm.rank() == 0 {
        let files = checkpoint::read_files(path)?;
        // Refuse a bad checkpoint before sending it anywhere.
        checkpoint::decode(&files)?;
        serde_json::to_vec(&files).map_err(|source| HandshakeError::Damaged {
            what: "the checkpoint to resume from",
            source,
        })?
    } else {
        Vec::new()
    };
    comm.broadcast_bytes(&mut bytes)
        .map_err(collective_failed)?;
    let files: checkpoint::CheckpointFiles =
        serde_json::from_slice(&bytes).map_err(|source| HandshakeError::Damaged {
            what: "the checkpoint from rank 0",
            source,
        })?;
    Ok(Some(checkpoint::decode(&files)?))
}

fn collective_failed(e: CollectiveError) -> SessionError {
    SessionError::Train(TrainError::Collective(e))
}

impl Prepared {
    /// Builds the trainer, checks every worker starts from the same parameters, writes the
    /// run's first record and starts the threads.
    fn launch(
        self,
        comm: Box<dyn Collective>,
        interrupt: Sender<()>,
    ) -> Result<Session, SessionError> {
        let Prepared {
            req,
            cfg,
            config_notes,
            resume,
            cifar,
            source,
            device,
            device_name,
            workers,
            owned,
            run_dir,
            history,
        } = self;
        let (rank, world) = (comm.rank(), comm.world());
        let mut comm = comm;
        let notes: Vec<String> = owned
            .as_ref()
            .and_then(|(_, log, ..)| log.took_over_lock())
            .map(String::from)
            .into_iter()
            .collect();
        let (stream_tx, stream_rx) = match (req.stream_capacity, &owned) {
            (0, _) | (_, None) => (None, None),
            (n, Some(_)) => {
                // Room for the past on top of the live capacity: it is all in before the trainer
                // starts, and the trainer's own records still find the room they always had.
                let (tx, rx) = bounded::<Record>(n + history.len());
                for rec in history {
                    let _ = tx.try_send(rec);
                }
                (Some(tx), Some(rx))
            }
        };
        let (sink, log) = match owned {
            Some((_, log, t0, lines)) => (
                EventSink::new(t0, Some(log.sender()), stream_tx).with_emitted(lines),
                Some(log),
            ),
            // The other workers write nothing: their figures are rank 0's.
            None => (EventSink::discard(), None),
        };
        if world > 1 {
            comm.watch_stalls(StallWatch {
                limits: StallLimits::from_config(&cfg.parallel),
                hosts: workers.iter().map(|w| w.host.clone()).collect(),
                report: stall_reporter(rank, &workers, &sink),
            });
        }
        let job_end = comm.job_end();
        let (control_tx, control_rx) = unbounded::<Control>();
        let (train_size, test_size) = (cifar.train.len(), cifar.test.len());
        let data_label = data_label(&source);
        let mut trainer = Trainer::new(TrainSetup {
            config: cfg.clone(),
            data: cifar,
            data_label: data_label.clone(),
            device: device.clone(),
            run_dir: log.is_some().then(|| run_dir.clone()),
            comm,
            events: sink.clone(),
            pause_on_non_finite: req.interactive,
            faults: req.faults,
        })?;
        let first = match resume {
            Some(ck) => {
                let from = ck.path.display().to_string();
                trainer.restore(ck)?;
                Event::Resumed(PauseEvent {
                    update: trainer.progress().update,
                    reason: crate::events::PauseReason::Checkpoint(from),
                })
            }
            None => Event::RunStarted(RunStarted {
                workers: if world > 1 { workers } else { Vec::new() },
                ..header(
                    &cfg,
                    &trainer,
                    train_size,
                    test_size,
                    data_label,
                    device_name,
                )
            }),
        };
        if world > 1 {
            let checksum = trainer.param_checksum()?;
            if let Err(e) = handshake::same_parameters(trainer.collective(), checksum) {
                trainer.collective().abandon();
                return Err(e.into());
            }
        }
        // The first record must precede the sampler's first sample.
        sink.emit(first);
        for message in config_notes {
            sink.emit(Event::Warning(MessageEvent { message }));
        }

        let (stop_sampler, sampler_stop_rx) = bounded::<()>(1);
        let sampler = req.sample_every.filter(|_| log.is_some()).map(|every| {
            let sampler_sink = sink.clone();
            crate::device::spawn_sampler(device, every, sampler_stop_rx, move |r| {
                sampler_sink.emit(Event::Resources(r))
            })
        });
        let checkpoints = run_dir.clone();
        let trainer = std::thread::Builder::new()
            .name("trainer".into())
            .spawn(move || {
                let result = trainer
                    .run(&control_rx)
                    .map_err(|e| stalled_or(e, &checkpoints));
                if let Err(e) = &result {
                    sink.emit(Event::Failed(MessageEvent {
                        message: e.to_string(),
                    }));
                    // The other workers may be waiting for this one: leave without them.
                    trainer.collective().abandon();
                }
                // The stream ends once the trainer, its sink and the sampler are gone.
                drop(trainer);
                drop(sink);
                let _ = stop_sampler.send(());
                result
            })
            .map_err(|e| SessionError::Thread(format!("cannot start the training thread: {e}")))?;
        Ok(Session {
            run_dir,
            config: cfg,
            events: stream_rx,
            control: control_tx,
            notes,
            interrupt,
            rank,
            world,
            job_end: Some(job_end),
            trainer,
            sampler,
            log,
        })
    }
}

/// Where a stalled worker's waits are told: rank 0 as warnings in the log (and so the UI and
/// the plain lines); another worker, speaking while rank 0 cannot, on standard error.
fn stall_reporter(
    rank: usize,
    workers: &[Worker],
    sink: &EventSink,
) -> Box<dyn FnMut(StallReport) + Send> {
    let line = |r: StallReport| match r {
        StallReport::Waiting(s) => s.waiting_line(),
        StallReport::Answered(s) => s.answered_line(),
    };
    if rank == 0 {
        let sink = sink.clone();
        return Box::new(move |r| sink.emit(Event::Warning(MessageEvent { message: line(r) })));
    }
    let host = workers
        .get(rank)
        .map_or_else(collective::host_name, |w| w.host.clone());
    Box::new(move |r| eprintln!("warning: rank {rank} on {host}: {}", line(r)))
}

/// A training error as the session reports it: a stall says where the run can resume from.
fn stalled_or(e: TrainError, run_dir: &Path) -> SessionError {
    match e {
        TrainError::Collective(CollectiveError::Stalled(stall)) => {
            let last = match checkpoint::latest(run_dir) {
                Ok(p) => format!("the last checkpoint is {}", p.display()),
                Err(_) => format!("no checkpoint in {}", run_dir.join("checkpoints").display()),
            };
            SessionError::Stalled { stall, last }
        }
        e => SessionError::Train(e),
    }
}

/// The config of the run: the checkpoint's own on resume (overrides may still change the keys a
/// resume allows), else the file's or the built-in preset's.
fn resolve_config(req: &RunRequest, resume: Option<&Checkpoint>) -> Result<Loaded, SessionError> {
    match (resume, &req.config) {
        (Some(ck), None) => {
            let text = toml::to_string(&ck.state.meta.config).map_err(|e| ConfigError::Parse {
                origin: ck.path.display().to_string(),
                line: 0,
                message: e.to_string(),
            })?;
            Ok(RunConfig::parse_with_notes(
                &text,
                &ck.path.display().to_string(),
                &req.overrides,
            )?)
        }
        _ => Ok(RunConfig::load_with_notes(
            req.config.as_deref(),
            &req.overrides,
        )?),
    }
}

/// The run's first record: what is trained, on what, with which plan.
fn header(
    cfg: &RunConfig,
    trainer: &Trainer,
    train_size: usize,
    test_size: usize,
    data: String,
    device: String,
) -> RunStarted {
    let plan = trainer.schedule();
    RunStarted {
        name: cfg.name.clone(),
        config: serde_json::to_value(cfg).unwrap_or_default(),
        train_size,
        test_size,
        data,
        device,
        model: cfg.model.arch.to_string(),
        params: trainer.param_count(),
        epochs: plan.epochs(),
        stages: plan.stages().to_vec(),
        planned_updates: plan.updates() as usize,
        baseline_updates: plan.baseline_updates() as usize,
        resumed_from: None,
        workers: Vec::new(),
    }
}

/// Where the data came from, absolute so that a resume from another directory finds it.
fn data_label(source: &DataSource) -> String {
    match source {
        DataSource::Dir(p) | DataSource::Archive(p) => std::fs::canonicalize(p)
            .unwrap_or_else(|_| p.clone())
            .display()
            .to_string(),
        DataSource::Synthetic => "synthetic".into(),
    }
}

/// The run directory holding a checkpoint (`<run>/checkpoints/<file>`).
fn run_dir_of(ck: &Checkpoint) -> Result<PathBuf, SessionError> {
    ck.path
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .ok_or_else(|| SessionError::NotInRunDir(ck.path.clone()))
}

/// `<out>/<YYYYmmdd-HHMMSS>-<name>`, with a numeric suffix if two runs start in the same second.
fn new_run_dir(out: &Path, name: &str) -> Result<PathBuf, SessionError> {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let failed = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| SessionError::RunDir {
            action,
            path,
            source,
        }
    };
    std::fs::create_dir_all(out).map_err(failed("create", out))?;
    for i in 0..100 {
        let dir = if i == 0 {
            out.join(format!("{stamp}-{safe}"))
        } else {
            out.join(format!("{stamp}-{safe}-{i}"))
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(failed("create", &dir)(e)),
        }
    }
    Err(SessionError::RunDir {
        action: "find a fresh run directory under",
        path: out.to_path_buf(),
        source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::UserFixable;
    use crate::events::Event;

    fn request(out: &Path) -> RunRequest {
        RunRequest {
            data: Some("synthetic".into()),
            device: "cpu".into(),
            out: out.to_path_buf(),
            sample_every: None,
            overrides: [
                "data.synthetic_train=256",
                "data.synthetic_test=64",
                "schedule.epochs=2",
                "schedule.milestones=[1]",
                "schedule.batch=32",
                "model.ghost_batch=32",
                "hardware.max_micro_batch=32",
                "hardware.threads=1",
                "checkpoint.every_epochs=1",
            ]
            .map(String::from)
            .to_vec(),
            ..RunRequest::new()
        }
    }

    #[test]
    fn a_session_streams_the_run_and_resumes_it_in_the_same_log() {
        let out = tempfile::tempdir().unwrap();
        let mut session = Session::start(request(out.path())).unwrap();
        let events = session.events.take().unwrap();
        let mut seen = Vec::new();
        for rec in events.iter() {
            if let Event::Step(s) = &rec.event {
                if s.update == 3 {
                    session
                        .control
                        .send(Control::Stop { checkpoint: true })
                        .unwrap();
                }
            }
            seen.push(rec.event);
        }
        let run_dir = session.run_dir.clone();
        assert!(
            matches!(seen[0], Event::RunStarted(_)),
            "the header comes first"
        );
        let Outcome::Stopped(Some(_)) = session.join().unwrap() else {
            panic!("expected a stop with a checkpoint")
        };
        assert!(run_dir.join("config.toml").is_file());

        let resumed = Session::start(RunRequest {
            resume: Some(run_dir.clone()),
            data: None,
            ..request(out.path())
        })
        .unwrap();
        assert_eq!(resumed.run_dir, run_dir);
        let Outcome::Finished(summary) = resumed.join().unwrap() else {
            panic!("the resumed run finishes")
        };
        assert_eq!(summary.epochs, 2);
        let log = crate::runlog::read_log(&run_dir).unwrap();
        let kinds: Vec<&str> = log.records.iter().map(|r| r.event.kind()).collect();
        assert_eq!(kinds.iter().filter(|k| **k == "run_started").count(), 1);
        assert_eq!(kinds.iter().filter(|k| **k == "resumed").count(), 1);
        assert_eq!(kinds.last(), Some(&"finished"));
    }

    /// Every record of `session`'s stream; stops the run (with a checkpoint) after update
    /// `stop_at`, when given.
    fn stream(mut session: Session, stop_at: Option<u64>) -> (Vec<Record>, Outcome) {
        let events = session.events.take().unwrap();
        let mut seen = Vec::new();
        for rec in events.iter() {
            if let (Event::Step(s), Some(n)) = (&rec.event, stop_at) {
                if s.update == n {
                    let _ = session.control.send(Control::Stop { checkpoint: true });
                }
            }
            seen.push(rec);
        }
        (seen, session.join().unwrap())
    }

    /// What a person sees of a run, without the times and rates that differ between two runs.
    fn shown(s: &crate::tui::state::RunState) -> String {
        let epochs: Vec<String> = s
            .progress
            .epochs
            .iter()
            .map(|e| {
                format!(
                    "{} {:?} {:?} {:?} {:?} {}",
                    e.epoch, e.train_loss, e.train_acc, e.test_loss, e.test_acc, e.updates
                )
            })
            .collect();
        let loss: Vec<String> = s
            .curves
            .track(crate::tui::state::tags::LOSS)
            .points_in(crate::series::XAxis::Updates, 0.0, 1e9, 1000)
            .iter()
            .map(|p| format!("{:?}", p))
            .collect();
        format!(
            "header {:?}\nstages {:?}\nrows {:?}\nat {} {} of {}\nepochs {epochs:?}\nloss {loss:?}\nema {:?}\nbest {:?}\nfinished {:?}",
            s.progress.started,
            s.stages.seen,
            s.stage_rows(),
            s.update(),
            s.epoch_pos(),
            s.planned_updates(),
            s.curves.track(crate::tui::state::tags::LOSS_EMA).last(),
            s.best_test_acc(),
            s.progress.finished.as_ref().map(|f| (f.epochs, f.updates, f.best_epoch))
        )
    }

    #[test]
    fn a_resumed_run_shows_everything_an_uninterrupted_one_shows() {
        use crate::tui::state::RunState;
        let out = tempfile::tempdir().unwrap();
        let (full, _) = stream(Session::start(request(out.path())).unwrap(), None);

        let first = Session::start(request(out.path())).unwrap();
        let run_dir = first.run_dir.clone();
        let (_, outcome) = stream(first, Some(3));
        assert!(matches!(outcome, Outcome::Stopped(Some(_))), "{outcome:?}");
        let resumed = Session::start(RunRequest {
            resume: Some(run_dir.clone()),
            data: None,
            ..request(out.path())
        })
        .unwrap();
        let (again, outcome) = stream(resumed, None);
        assert!(matches!(outcome, Outcome::Finished(_)), "{outcome:?}");

        // Right after the resume the stream has shown the run up to its checkpoint.
        let at = again
            .iter()
            .position(|r| matches!(&r.event, Event::Resumed(p) if p.reason.checkpoint().is_some()))
            .expect("a resumed record");
        let Event::Resumed(p) = &again[at].event else {
            unreachable!()
        };
        let before = RunState::from_records(&again[..=at]);
        let cut = crate::tui::fixture::cut_at_update(&full, p.update);
        let uninterrupted = RunState::from_records(&cut);
        assert_eq!(before.update(), p.update);
        assert_eq!(shown(&before), shown(&uninterrupted));
        assert!(before.progress.started.is_some() && before.total_epochs() == 2);

        // At the end the two are alike, but for one line in the events log.
        let (a, b) = (
            RunState::from_records(&full),
            RunState::from_records(&again),
        );
        assert_eq!(shown(&a), shown(&b));
        let resumed_lines: Vec<&str> = b
            .log
            .iter()
            .map(|l| l.text.as_str())
            .filter(|l| l.starts_with("resumed from"))
            .collect();
        assert_eq!(resumed_lines.len(), 1, "{:?}", b.log);
        assert!(resumed_lines[0].contains(".safetensors at update"));

        // The plain lines of the resumed process keep the epoch count, B and lr.
        let mut f = crate::report::lines::LineFormatter::new();
        let lines: Vec<String> = again.iter().filter_map(|r| f.format(r)).collect();
        let tail = &lines[lines
            .iter()
            .position(|l| l.starts_with("resumed from"))
            .unwrap()..];
        assert!(
            tail.iter()
                .any(|l| l.starts_with("epoch 2/2  B 160 (5×32)  lr 0.1")),
            "{lines:#?}"
        );
    }

    #[test]
    fn resuming_a_finished_run_changes_nothing() {
        let out = tempfile::tempdir().unwrap();
        let session = Session::start(request(out.path())).unwrap();
        let run_dir = session.run_dir.clone();
        let (_, outcome) = stream(session, None);
        assert!(matches!(outcome, Outcome::Finished(_)));
        let files = |dir: &Path| {
            ["events.jsonl", "summary.json"].map(|f| std::fs::read(dir.join(f)).unwrap())
        };
        let before = files(&run_dir);
        let checkpoints = std::fs::read_dir(run_dir.join("checkpoints"))
            .unwrap()
            .count();
        let e = Session::start(RunRequest {
            resume: Some(run_dir.clone()),
            data: None,
            ..request(out.path())
        })
        .err()
        .unwrap();
        assert!(matches!(e, SessionError::Finished { .. }), "{e}");
        assert!(!e.is_bad_input());
        let text = e.to_string();
        assert!(text.contains("finished already (2 epochs"), "{text}");
        assert_eq!(files(&run_dir), before, "the log and summary are untouched");
        assert_eq!(
            std::fs::read_dir(run_dir.join("checkpoints"))
                .unwrap()
                .count(),
            checkpoints
        );
        // `compare` still finds the run finished.
        assert!(crate::runlog::read_log(&run_dir)
            .unwrap()
            .finished()
            .is_some());
    }

    #[test]
    fn wall_time_counts_evaluation_and_evaluation_reports_its_progress() {
        let out = tempfile::tempdir().unwrap();
        let (records, outcome) = stream(Session::start(request(out.path())).unwrap(), None);
        let Outcome::Finished(summary) = outcome else {
            panic!("finished")
        };
        let evals: f64 = records
            .iter()
            .filter_map(|r| match &r.event {
                Event::Epoch(e) => Some(e.eval_seconds),
                _ => None,
            })
            .sum();
        let train = summary.train_wall.expect("a train-only time");
        assert!(summary.wall >= train + evals, "{summary:?}");
        let end = records.last().unwrap().t;
        assert!(summary.wall <= end + 1e-9, "{} > {end}", summary.wall);
        // Each epoch's evaluation announces itself before its result.
        for (i, r) in records.iter().enumerate() {
            if let Event::Epoch(e) = &r.event {
                let announced = records[..i].iter().rev().find_map(|r| match &r.event {
                    Event::Evaluating(p) => Some(p.clone()),
                    Event::Step(_) => Some(crate::events::EvalProgress {
                        epoch: 0,
                        done: 0,
                        total: 0,
                    }),
                    _ => None,
                });
                let p = announced.unwrap();
                assert_eq!((p.epoch, p.total), (e.epoch, 64), "{p:?}");
            }
        }
    }

    #[test]
    fn bad_input_is_told_apart_from_failures() {
        let out = tempfile::tempdir().unwrap();
        let mut req = request(out.path());
        req.overrides.push("schedule.epochs=0".into());
        let e = Session::start(req).err().unwrap();
        assert!(e.is_bad_input(), "{e}");
        assert!(e.to_string().contains("schedule.epochs"), "{e}");
        let e = Session::start(RunRequest {
            resume: Some(out.path().join("nowhere")),
            ..request(out.path())
        })
        .err()
        .unwrap();
        assert!(e.is_bad_input(), "{e}");
        let e = SessionError::Thread("x".into());
        assert!(!e.is_bad_input());
    }
}
