//! Taking samples: [`MachineSampler`] keeps NVML, sysinfo and the writers found between samples,
//! and [`spawn_sampler`] runs one on its own thread. Owns when things are read (the logdir and
//! `/proc` are searched for writers every few seconds, the figures every sample); must never
//! block the thread that reads the samples.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::gpu::Gpus;
use super::host::Host;
use super::sample::{GpuSample, MachineSample, WriterProcess};
use super::writers::{self, Found};

/// How often the logdir and `/proc` are searched for writers by default: a new training shows
/// up within this, and the search's cost is spread over several samples.
pub const DEFAULT_RESCAN: Duration = Duration::from_secs(5);

/// The share of one core the searches may take: on a machine with thousands of processes a
/// search takes longer, and the next one waits that much longer (200 × its time at 0.5%).
const SEARCH_SHARE: f64 = 0.005;

/// Samples this machine; keeps its handles between samples.
pub struct MachineSampler {
    gpus: Gpus,
    host: Host,
    host_name: Option<String>,
    logdir: Option<PathBuf>,
    proc_root: PathBuf,
    rescan: Duration,
    found: Found,
    /// When the next search is due (`None`: at the next sample).
    next_scan: Option<Instant>,
}

impl MachineSampler {
    /// A sampler that also looks for the processes writing `logdir` (a directory or an event
    /// file). Loads NVML, which takes a moment on a machine with GPUs: call it off the UI thread.
    pub fn new(logdir: Option<&Path>) -> MachineSampler {
        MachineSampler {
            gpus: Gpus::open(),
            host: Host::new(),
            host_name: sysinfo::System::host_name(),
            logdir: logdir.map(Path::to_path_buf),
            proc_root: PathBuf::from("/proc"),
            rescan: DEFAULT_RESCAN,
            found: Found::default(),
            next_scan: None,
        }
    }

    /// Searches for writers at most this often (the first sample always searches; zero: every
    /// sample, whatever it costs). A slow search waits longer, to keep within half a percent of
    /// a core.
    pub fn rescan_every(mut self, every: Duration) -> MachineSampler {
        self.rescan = every;
        self
    }

    /// Reads everything now.
    pub fn sample(&mut self) -> MachineSample {
        let started = Instant::now();
        let round = self.gpus.sample();
        let (cpu, memory) = self.host.cpu_and_memory();
        if let Some(dir) = &self.logdir {
            if self.next_scan.is_none_or(|t| Instant::now() >= t) {
                let searching = Instant::now();
                self.found = writers::find(
                    dir,
                    &self.proc_root,
                    self.host_name.as_deref(),
                    Some(std::process::id()),
                );
                self.keep_live_writers();
                let took = searching.elapsed();
                let wait = if self.rescan.is_zero() {
                    Duration::ZERO
                } else {
                    self.rescan.max(took.div_f64(SEARCH_SHARE))
                };
                self.next_scan = Some(Instant::now() + wait);
            }
        }
        let mut sample = MachineSample {
            host: self.host_name.clone(),
            unix_time: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            gpus: round.gpus,
            gpu_note: round.note,
            driver: round.driver,
            cpu,
            memory,
            logdir: self.logdir.clone(),
            other_hosts: self.found.other_hosts.clone(),
            ..MachineSample::default()
        };
        self.fill_processes(&mut sample);
        sample.cost_us = started.elapsed().as_micros() as u64;
        sample
    }

    /// Drops the candidates that are no writer now, once per search rather than every sample:
    /// pids named by old event files whose process is gone, or was started after the file (the
    /// pid was given again).
    fn keep_live_writers(&mut self) {
        let pids: Vec<u32> = self.found.candidates.iter().map(|c| c.pid).collect();
        let stats = self.host.processes(&pids);
        self.found.candidates.retain(|c| {
            stats
                .iter()
                .find(|(p, _)| *p == c.pid)
                .is_some_and(|(_, s)| is_the_writer(c, s.start_time))
        });
    }

    /// Reads the writers' and GPU users' processes (one sysinfo call for all) into `sample`.
    fn fill_processes(&mut self, sample: &mut MachineSample) {
        let mut pids: Vec<u32> = self.found.candidates.iter().map(|c| c.pid).collect();
        for g in &sample.gpus {
            pids.extend(g.processes.iter().map(|p| p.pid));
        }
        pids.sort_unstable();
        pids.dedup();
        let stats = self.host.processes(&pids);
        let stat = |pid: u32| stats.iter().find(|(p, _)| *p == pid).map(|(_, s)| s);
        for g in &mut sample.gpus {
            for p in &mut g.processes {
                p.name = stat(p.pid).map(|s| s.name.clone());
            }
        }
        for c in &self.found.candidates {
            let Some(s) = stat(c.pid) else { continue };
            if !is_the_writer(c, s.start_time) {
                continue;
            }
            sample.writers.push(WriterProcess {
                pid: c.pid,
                name: s.name.clone(),
                cmdline: s.cmdline.clone(),
                rss: Some(s.rss),
                cpu_percent: s.cpu_percent,
                gpu_memory: gpu_memory_of(&sample.gpus, c.pid),
                found_by: c.found_by.clone(),
            });
        }
        sample.writers_note = self.writers_note(sample);
    }

    fn writers_note(&self, sample: &MachineSample) -> Option<String> {
        let dir = self.logdir.as_ref()?;
        let mut notes = self.found.notes.clone();
        if sample.writers.is_empty() && self.found.notes.is_empty() {
            notes.push(format!(
                "no process on this machine is writing {}",
                dir.display()
            ));
        }
        (!notes.is_empty()).then(|| notes.join("; "))
    }
}

/// Whether a process that started at `start_time` (seconds since the epoch) can be the writer
/// `c` names: a pid read from a file name that started after the file is a later process.
fn is_the_writer(c: &writers::Candidate, start_time: u64) -> bool {
    c.started_by.is_none_or(|t| start_time <= t + 1)
}

/// Device memory `pid` holds on all GPUs together, when any GPU lists it with a figure.
fn gpu_memory_of(gpus: &[GpuSample], pid: u32) -> Option<u64> {
    gpus.iter()
        .flat_map(|g| g.processes.iter())
        .filter(|p| p.pid == pid)
        .filter_map(|p| p.memory)
        .reduce(|a, b| a + b)
}

/// Starts a thread that samples this machine every `every` (and the writers of `logdir`, if
/// given) and sends each sample; returns at once. A sample the reader has not taken yet is not
/// queued behind (the channel holds one): the reader always gets a recent one. The thread ends
/// at its next sample after the receiver is dropped.
pub fn spawn_sampler(logdir: Option<PathBuf>, every: Duration) -> Receiver<MachineSample> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let spawned = std::thread::Builder::new()
        .name("machine".into())
        .spawn(move || run_sampler(MachineSampler::new(logdir.as_deref()), every, tx));
    // Without a thread the receiver simply never gets a sample; the panel says "no sample yet".
    drop(spawned);
    rx
}

/// The sampling loop [`spawn_sampler`] runs: samples, offers the sample without waiting, and
/// sleeps out the rest of `every`; returns when `tx`'s receiver is gone.
pub fn run_sampler(mut sampler: MachineSampler, every: Duration, tx: Sender<MachineSample>) {
    loop {
        let started = Instant::now();
        match tx.try_send(sampler.sample()) {
            Ok(()) | Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Disconnected(_)) => return,
        }
        std::thread::sleep(every.saturating_sub(started.elapsed()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::sample::{FoundBy, GpuProcess};
    use std::fs::File;

    #[test]
    fn a_sample_without_a_logdir_has_cpu_memory_and_says_why_gpus_are_missing() {
        let mut s = MachineSampler::new(None);
        let first = s.sample();
        assert!(first.cpu.cores >= 1);
        assert!(first.cpu.percent.is_none() && first.cpu.note.is_some());
        assert!(first.memory.total.unwrap() > 0);
        assert!(first.gpus.is_empty() == first.gpu_note.is_some());
        assert!(first.writers.is_empty() && first.writers_note.is_none());
        assert!(first.logdir.is_none());
        assert!(first.unix_time > 1.6e9);
        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
        assert!(s.sample().cpu.percent.is_some());
    }

    #[test]
    fn this_process_writing_a_logdir_is_not_its_own_writer_but_a_child_is() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        let _mine = File::create(real.join("events.jsonl")).unwrap();
        let mut s = MachineSampler::new(Some(&real)).rescan_every(Duration::ZERO);
        let sample = s.sample();
        assert!(sample.writers.is_empty(), "{:?}", sample.writers);
        let note = sample.writers_note.unwrap();
        assert!(
            note.starts_with("no process on this machine is writing "),
            "{note}"
        );

        let log = real.join("child.log");
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg("exec 3>>\"$1\"; exec sleep 30")
            .arg("sh")
            .arg(&log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut sample = s.sample();
        while sample.writers.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            sample = s.sample();
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(sample.writers.len(), 1, "{:?}", sample.writers);
        let w = &sample.writers[0];
        assert_eq!(w.pid, child.id());
        assert_eq!(w.found_by, FoundBy::OpenFile("child.log".into()));
        assert!(w.rss.unwrap() > 0);
        assert_eq!(sample.writers_note, None);
    }

    #[test]
    fn a_pid_named_by_a_file_older_than_its_process_is_not_taken() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        let host = sysinfo::System::host_name().unwrap_or_default();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        // The child's pid, in a file "created" an hour before it started, and one just now.
        let old = real.join("old");
        std::fs::create_dir(&old).unwrap();
        let pid = child.id();
        File::create(old.join(format!("events.out.tfevents.{}.{host}.{pid}.0", now - 3600)))
            .unwrap();
        let mut s = MachineSampler::new(Some(&real)).rescan_every(Duration::ZERO);
        let stale = s.sample();
        let new_file = format!("events.out.tfevents.{}.{host}.{pid}.1", now + 1);
        File::create(real.join(&new_file)).unwrap();
        let fresh = s.sample();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(stale.writers.is_empty(), "{:?}", stale.writers);
        assert_eq!(fresh.writers.len(), 1, "{:?}", fresh.writers);
        assert_eq!(fresh.writers[0].pid, pid);
        assert_eq!(
            fresh.writers[0].found_by,
            FoundBy::EventFileName(new_file.into())
        );
        assert_eq!(fresh.writers[0].name, "sleep");
    }

    #[test]
    fn a_writers_gpu_memory_adds_up_over_gpus() {
        let gpu = |procs: Vec<(u32, Option<u64>)>| GpuSample {
            processes: procs
                .into_iter()
                .map(|(pid, memory)| GpuProcess {
                    pid,
                    name: None,
                    memory,
                })
                .collect(),
            ..GpuSample::default()
        };
        let gpus = vec![
            gpu(vec![(7, Some(100)), (8, Some(1))]),
            gpu(vec![(7, Some(50)), (9, None)]),
        ];
        assert_eq!(gpu_memory_of(&gpus, 7), Some(150));
        assert_eq!(gpu_memory_of(&gpus, 9), None);
        assert_eq!(gpu_memory_of(&gpus, 10), None);
    }

    #[test]
    fn the_thread_sends_samples_and_ends_when_the_receiver_goes() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let sampler = MachineSampler::new(None);
        let t = std::thread::spawn(move || run_sampler(sampler, Duration::from_millis(10), tx));
        let a = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let b = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(b.unix_time >= a.unix_time);
        drop(rx);
        t.join().unwrap();
        let rx = spawn_sampler(None, Duration::from_millis(10));
        assert!(rx.recv_timeout(Duration::from_secs(10)).is_ok());
    }
}
