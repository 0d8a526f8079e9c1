//! This machine's CPU and memory (sysinfo), and a few processes' size and CPU use, read from
//! `/proc/<pid>` directly: sysinfo lists every process and thread in `/proc` even when asked
//! for one, which costs milliseconds on a busy machine. Owns the readings that need a previous
//! one (CPU shares); must never list every process (the writers and GPU users come by pid).

use std::collections::HashMap;
use std::time::Instant;

use sysinfo::System;

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

/// The sysinfo handle and the previous readings, kept between samples.
pub(super) struct Host {
    system: System,
    /// Whether the machine's CPU times have been read once.
    cpu_primed: bool,
    /// Each process's CPU time (clock ticks) at the previous reading, and when.
    ticks: HashMap<u32, (u64, Instant)>,
    /// Command lines, read once per pid.
    cmdlines: HashMap<u32, String>,
    clock: Clock,
}

/// The kernel's units for `/proc/<pid>/stat`.
struct Clock {
    ticks_per_second: f64,
    page_bytes: u64,
    /// Seconds since the epoch at boot (`btime` in `/proc/stat`).
    boot_time: u64,
}

impl Clock {
    fn read() -> Clock {
        // SAFETY: sysconf only reads configuration values.
        let (tck, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        let boot_time = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("btime "))
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0);
        Clock {
            ticks_per_second: if tck > 0 { tck as f64 } else { 100.0 },
            page_bytes: if page > 0 { page as u64 } else { 4096 },
            boot_time,
        }
    }
}

/// The fields of `/proc/<pid>/stat` a sample needs.
#[derive(Debug, PartialEq)]
struct Stat {
    name: String,
    /// User and system time, clock ticks.
    cpu_ticks: u64,
    /// Clock ticks after boot.
    start_ticks: u64,
    rss_pages: u64,
}

/// Parses `/proc/<pid>/stat`; the name may hold spaces and parentheses, so fields are counted
/// from its last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text.get(open + 1..close)?.to_string();
    // Fields from 3 (state) on; utime is 14, stime 15, starttime 22, rss 24.
    let rest: Vec<&str> = text.get(close + 2..)?.split(' ').collect();
    let field = |n: usize| rest.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    Some(Stat {
        name,
        cpu_ticks: field(14)? + field(15)?,
        start_ticks: field(22)?,
        rss_pages: field(24)?,
    })
}

impl Host {
    /// A handle that has read nothing yet.
    pub fn new() -> Host {
        Host {
            system: System::new(),
            cpu_primed: false,
            ticks: HashMap::new(),
            cmdlines: HashMap::new(),
            clock: Clock::read(),
        }
    }

    /// Machine CPU use since the previous call and memory now.
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
        let now = Instant::now();
        let mut out = Vec::new();
        let mut ticks = HashMap::new();
        for &pid in pids {
            let Some(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|t| parse_stat(&t))
            else {
                continue;
            };
            let cpu_percent = self.ticks.get(&pid).and_then(|(before, at)| {
                let secs = now.duration_since(*at).as_secs_f64();
                (secs > 0.0 && stat.cpu_ticks >= *before).then(|| {
                    (stat.cpu_ticks - before) as f64 / self.clock.ticks_per_second / secs * 100.0
                })
            });
            ticks.insert(pid, (stat.cpu_ticks, now));
            let cmdline = self
                .cmdlines
                .entry(pid)
                .or_insert_with(|| read_cmdline(pid))
                .clone();
            out.push((
                pid,
                ProcessStats {
                    name: stat.name,
                    cmdline,
                    rss: stat.rss_pages * self.clock.page_bytes,
                    cpu_percent,
                    start_time: self.clock.boot_time
                        + (stat.start_ticks as f64 / self.clock.ticks_per_second) as u64,
                },
            ));
        }
        self.ticks = ticks;
        self.cmdlines.retain(|pid, _| self.ticks.contains_key(pid));
        out
    }
}

/// The command line, arguments joined by spaces, at most `CMDLINE_CHARS` characters; empty for
/// kernel threads and processes that cannot be read.
fn read_cmdline(pid: u32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    args.join(" ").chars().take(CMDLINE_CHARS).collect()
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
        assert!(!p.cmdline.is_empty());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(p.start_time <= now && p.start_time + 3600 > now);
        // Some work between the readings: the share is then a real one, and bounded.
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < std::time::Duration::from_millis(100) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let again = h.processes(&[me]);
        let cpu = again[0].1.cpu_percent.unwrap();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert!(cpu > 10.0 && cpu <= 100.0 * threads as f64 + 5.0, "{cpu}");
        assert!(again[0].1.rss > 1_000_000);
    }

    #[test]
    fn stat_lines_are_read_past_a_name_with_spaces_and_parentheses() {
        let line = "4242 (py thon) x) S 1 4242 4242 0 -1 4194304 100 0 0 0 \
                    1500 250 0 0 20 0 8 0 123456 9000000 2048 18446744073709551615";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                name: "py thon) x".into(),
                cpu_ticks: 1750,
                start_ticks: 123456,
                rss_pages: 2048,
            })
        );
        assert_eq!(parse_stat("4242 (cut"), None);
    }
}
