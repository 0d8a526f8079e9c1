//! This machine's CPU and memory, and a few processes' size and CPU use, through sysinfo. Owns
//! the sysinfo handle and the readings that need a previous one (CPU shares); must never list
//! every process (the writers and GPU users are named by pid).

use std::collections::HashSet;

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

use super::sample::{CpuSample, MemorySample};

/// Longest command line kept, in characters: enough to tell `python train.py --lr 0.1` apart.
const CMDLINE_CHARS: usize = 200;

/// A process as sysinfo sees it.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ProcessStats {
    pub name: String,
    pub cmdline: String,
    pub rss: u64,
    /// `None` the first time the process is seen: a share needs two readings.
    pub cpu_percent: Option<f64>,
    /// Seconds since the epoch.
    pub start_time: u64,
}

/// The sysinfo handle, kept between samples.
pub(super) struct Host {
    system: System,
    /// Whether the machine's CPU times have been read once.
    cpu_primed: bool,
    /// Pids read before: their CPU share is a real one.
    seen: HashSet<u32>,
}

impl Host {
    /// A handle that has read nothing yet.
    pub fn new() -> Host {
        Host {
            system: System::new(),
            cpu_primed: false,
            seen: HashSet::new(),
        }
    }

    /// Machine CPU use since the previous call and memory now. Must run before
    /// [`Host::processes`] in a sample: both share one reading of the CPU times.
    pub fn cpu_and_memory(&mut self) -> (CpuSample, MemorySample) {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        let cores = self.system.cpus().len();
        let cpu = if self.cpu_primed {
            CpuSample {
                cores,
                percent: Some(f64::from(self.system.global_cpu_usage())),
                note: None,
            }
        } else {
            CpuSample {
                cores,
                percent: None,
                note: Some("CPU use needs a second reading".into()),
            }
        };
        self.cpu_primed = true;
        let total = self.system.total_memory();
        let memory = if total > 0 {
            MemorySample {
                used: Some(self.system.used_memory()),
                total: Some(total),
            }
        } else {
            MemorySample::default()
        };
        (cpu, memory)
    }

    /// The processes of `pids` that exist, read now; forgets pids no longer asked about.
    pub fn processes(&mut self, pids: &[u32]) -> Vec<(u32, ProcessStats)> {
        let wanted: Vec<Pid> = pids.iter().map(|p| Pid::from_u32(*p)).collect();
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&wanted),
            true,
            ProcessRefreshKind::nothing()
                .with_memory()
                .with_cpu()
                .with_cmd(UpdateKind::OnlyIfNotSet),
        );
        let mut out = Vec::new();
        for &pid in pids {
            let Some(p) = self.system.process(Pid::from_u32(pid)) else {
                continue;
            };
            let cmd: Vec<String> = p
                .cmd()
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            let seen_before = self.seen.contains(&pid);
            out.push((
                pid,
                ProcessStats {
                    name: p.name().to_string_lossy().into_owned(),
                    cmdline: cmd.join(" ").chars().take(CMDLINE_CHARS).collect(),
                    rss: p.memory(),
                    cpu_percent: seen_before.then(|| f64::from(p.cpu_usage())),
                    start_time: p.start_time(),
                },
            ));
        }
        self.seen = out.iter().map(|(pid, _)| *pid).collect();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_share_comes_with_the_second_reading() {
        let mut h = Host::new();
        let (cpu, mem) = h.cpu_and_memory();
        assert!(cpu.cores >= 1);
        assert_eq!(cpu.percent, None);
        assert!(cpu.note.unwrap().contains("second reading"));
        let (used, total) = (mem.used.unwrap(), mem.total.unwrap());
        assert!(used > 0 && used <= total, "{used} / {total}");
        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
        let (cpu, _) = h.cpu_and_memory();
        let p = cpu.percent.unwrap();
        assert!((0.0..=100.0).contains(&p), "{p}");
        assert_eq!(cpu.note, None);
    }

    #[test]
    fn this_process_is_read_and_a_missing_one_left_out() {
        let mut h = Host::new();
        let me = std::process::id();
        let got = h.processes(&[me, u32::MAX - 1]);
        assert_eq!(got.len(), 1);
        let (pid, p) = &got[0];
        assert_eq!(*pid, me);
        assert!(p.rss > 1_000_000, "{}", p.rss);
        assert_eq!(p.cpu_percent, None, "first sight");
        assert!(!p.name.is_empty());
        assert!(p.cmdline.contains(&p.name) || !p.cmdline.is_empty());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(p.start_time <= now && p.start_time + 3600 > now);
        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
        let _ = h.cpu_and_memory();
        let again = h.processes(&[me]);
        assert!(again[0].1.cpu_percent.is_some());
    }
}
