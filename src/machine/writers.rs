//! Finding the processes on this machine that write a logdir, two ways: a file under it held
//! open for writing (`/proc/<pid>/fd` and `fdinfo`, Linux), and the host and pid that
//! TensorBoard's writers put in every event file's name (`events.out.tfevents.<time>.<host>.
//! <pid>.<n>`), which finds PyTorch's `SummaryWriter` too: without TensorFlow it opens and closes
//! its file at every flush. Owns reading `/proc` and the logdir's file names; must never read
//! a file's contents or a process's memory.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use super::sample::FoundBy;

/// Directories and files visited at most per walk of the logdir, so a logdir full of
/// checkpoints cannot make a sample slow.
const WALK_LIMIT: usize = 20_000;

/// A process that may write the logdir, before its stats are read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Process id.
    pub pid: u32,
    /// How it was found.
    pub found_by: FoundBy,
    /// For a pid read from a file name: the file's creation time (seconds since the epoch); a
    /// process started later is another one that got the pid again.
    pub started_by: Option<u64>,
}

/// The writers found in one look at the logdir and `/proc`.
#[derive(Debug, Default)]
pub struct Found {
    /// Candidates, one per pid, open files first.
    pub candidates: Vec<Candidate>,
    /// Hosts other than this one that event files name.
    pub other_hosts: Vec<String>,
    /// What could not be looked at.
    pub notes: Vec<String>,
}

/// Looks for the writers of `logdir` (a directory or one file): processes in `proc_root` other
/// than `skip` holding a file under it open for writing, and pids on `host` named by its event
/// files.
pub fn find(logdir: &Path, proc_root: &Path, host: Option<&str>, skip: Option<u32>) -> Found {
    let mut found = Found::default();
    let real = match std::fs::canonicalize(logdir) {
        Ok(p) => p,
        Err(e) => {
            found
                .notes
                .push(format!("{}: {}", logdir.display(), short_io(&e)));
            return found;
        }
    };
    match open_for_writing(proc_root, &real, skip) {
        Ok(open) => {
            for (pid, path) in open {
                found.candidates.push(Candidate {
                    pid,
                    found_by: FoundBy::OpenFile(relative(&real, &path)),
                    started_by: None,
                });
            }
        }
        Err(e) => found.notes.push(format!(
            "open files not checked ({}: {})",
            proc_root.display(),
            short_io(&e)
        )),
    }
    let (files, complete) = event_files(&real);
    if !complete {
        found.notes.push(format!(
            "more than {WALK_LIMIT} entries under the logdir: event file names not all read"
        ));
    }
    let mut named: Vec<(u64, u32, PathBuf)> = Vec::new();
    let mut others: Vec<String> = Vec::new();
    for path in files {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(w) = parse_event_file_name(name) else {
            continue;
        };
        if host.is_some_and(|h| same_host(h, &w.host)) {
            named.push((w.time, w.pid, path));
        } else if !others.contains(&w.host) {
            others.push(w.host);
        }
    }
    // The newest file of each pid names it: that is the one it writes now.
    named.sort_by_key(|n| std::cmp::Reverse(n.0));
    for (time, pid, path) in named {
        if Some(pid) == skip || found.candidates.iter().any(|c| c.pid == pid) {
            continue;
        }
        found.candidates.push(Candidate {
            pid,
            found_by: FoundBy::EventFileName(relative(&real, &path)),
            started_by: Some(time),
        });
    }
    others.sort();
    found.other_hosts = others;
    found
}

/// Processes holding a file at or under `dir` (a canonical path) open for writing, with the
/// first such file of each; `skip` (this process, which reads the logdir) is left out.
pub fn open_for_writing(
    proc_root: &Path,
    dir: &Path,
    skip: Option<u32>,
) -> io::Result<Vec<(u32, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(proc_root)?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if Some(pid) == skip {
            continue;
        }
        // Another user's descriptors cannot be listed (EACCES), and a process may end meanwhile.
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let mut best: Option<(u8, PathBuf)> = None;
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            if !target.starts_with(dir) || !opened_for_writing(&entry.path(), &fd.file_name()) {
                continue;
            }
            let rank = telling(&target);
            if best.as_ref().is_none_or(|(r, _)| rank > *r) {
                best = Some((rank, target));
            }
        }
        if let Some((_, target)) = best {
            out.push((pid, target));
        }
    }
    out.sort_by_key(|(pid, _)| *pid);
    Ok(out)
}

/// How well a file tells what a process writes, to name the best one: a log (event file,
/// `events.jsonl`) over other files over hidden ones (a run's `.lock`).
fn telling(path: &Path) -> u8 {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    if name.contains("tfevents") || name.ends_with(".jsonl") {
        2
    } else if name.starts_with('.') {
        0
    } else {
        1
    }
}

/// Whether descriptor `fd` of the process at `proc_dir` was opened write-only or read-write
/// (the `flags:` line of its fdinfo, octal), so readers such as TensorBoard are not writers.
fn opened_for_writing(proc_dir: &Path, fd: &std::ffi::OsStr) -> bool {
    let Ok(info) = std::fs::read_to_string(proc_dir.join("fdinfo").join(fd)) else {
        return false;
    };
    info.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        .is_some_and(|flags| flags & libc::O_ACCMODE as u32 != libc::O_RDONLY as u32)
}

/// What an event file's name says of its writer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedWriter {
    /// Seconds since the epoch when the file was created.
    pub time: u64,
    /// The writer's host name.
    pub host: String,
    /// The writer's pid.
    pub pid: u32,
}

/// Reads `events.out.tfevents.<time>.<host>.<pid>.<n>[suffix]` (TensorBoard's, PyTorch's and
/// TensorFlow's writers; the host may hold dots, the suffix is anything such as `.v2`). Names
/// without a pid (TensorFlow 1's `…<time>.<host>`) give nothing.
pub fn parse_event_file_name(name: &str) -> Option<NamedWriter> {
    let rest = name.split_once("tfevents.")?.1;
    let parts: Vec<&str> = rest.split('.').collect();
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let time: u64 = parts.first()?.parse().ok()?;
    // The pid and counter are the last two numbers in a row after a host of one label at least.
    let at = (2..parts.len().saturating_sub(1))
        .rev()
        .find(|&i| number(parts[i]) && number(parts[i + 1]))?;
    let host = parts[1..at].join(".");
    if host.is_empty() {
        return None;
    }
    Some(NamedWriter {
        time,
        host,
        pid: parts[at].parse().ok()?,
    })
}

/// Host names match when equal or when one is the other's first label (`node7` and
/// `node7.cluster.example`).
fn same_host(a: &str, b: &str) -> bool {
    let short = |s: &str| s.split('.').next().unwrap_or(s).to_ascii_lowercase();
    a.eq_ignore_ascii_case(b) || short(a) == short(b)
}

/// Event files at any depth under `root` (or `root` itself), and whether the walk saw all.
fn event_files(root: &Path) -> (Vec<PathBuf>, bool) {
    if root.is_file() {
        return (vec![root.to_path_buf()], true);
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut stack = vec![root.to_path_buf()];
    let mut visited = 0;
    while let Some(dir) = stack.pop() {
        if !seen.insert(std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone())) {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            visited += 1;
            if visited > WALK_LIMIT {
                return (out, false);
            }
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() => stack.push(path),
                Ok(m) if m.is_file() && name.contains("tfevents") => out.push(path),
                _ => {}
            }
        }
    }
    (out, true)
}

/// `path` under `root`, as the panel names it; a logdir that is one file gives its name.
fn relative(root: &Path, path: &Path) -> PathBuf {
    match path.strip_prefix(root) {
        Ok(r) if !r.as_os_str().is_empty() => r.to_path_buf(),
        _ => path
            .file_name()
            .map_or_else(|| path.to_path_buf(), PathBuf::from),
    }
}

/// An I/O error without the "(os error 2)" tail.
fn short_io(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{File, OpenOptions};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    fn proc_root() -> &'static Path {
        Path::new("/proc")
    }

    #[test]
    fn a_file_open_for_writing_names_its_process() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        let sub = real.join("run").join("train");
        std::fs::create_dir_all(&sub).unwrap();
        let path = sub.join("events.jsonl");
        let me = std::process::id();
        // The run's lock is open too, and first: the log names the process better.
        let _lock = File::create(sub.join(".lock")).unwrap();
        let _w = File::create(&path).unwrap();
        let _other = File::create(sub.join("output.log")).unwrap();
        let found = open_for_writing(proc_root(), &real, None).unwrap();
        assert!(found.contains(&(me, path.clone())), "{found:?}");
        // This process is the reader when it watches: left out when asked.
        let found = open_for_writing(proc_root(), &real, Some(me)).unwrap();
        assert!(found.iter().all(|(pid, _)| *pid != me), "{found:?}");
        // A file under another directory does not count.
        let other = tempfile::tempdir().unwrap();
        let other = std::fs::canonicalize(other.path()).unwrap();
        let found = open_for_writing(proc_root(), &other, None).unwrap();
        assert!(found.iter().all(|(pid, _)| *pid != me), "{found:?}");
    }

    #[test]
    fn a_file_open_only_for_reading_is_no_writer() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        let path = real.join("events.out.tfevents.1.h.2.3");
        std::fs::write(&path, b"x").unwrap();
        let _r = OpenOptions::new().read(true).open(&path).unwrap();
        let found = open_for_writing(proc_root(), &real, None).unwrap();
        assert!(
            found.iter().all(|(pid, _)| *pid != std::process::id()),
            "{found:?}"
        );
        let _rw = OpenOptions::new().append(true).open(&path).unwrap();
        let found = open_for_writing(proc_root(), &real, None).unwrap();
        assert!(found.contains(&(std::process::id(), path)), "{found:?}");
    }

    #[test]
    fn another_process_writing_is_found_by_its_pid() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        let log = real.join("log.txt");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("exec 3>>\"$1\"; echo ready >&3; exec sleep 30")
            .arg("sh")
            .arg(&log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut found = Vec::new();
        while Instant::now() < deadline {
            found = open_for_writing(proc_root(), &real, Some(std::process::id())).unwrap();
            if !found.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(found, vec![(child.id(), log)]);
    }

    #[test]
    fn event_file_names_give_time_host_and_pid() {
        let w = |time, host: &str, pid| {
            Some(NamedWriter {
                time,
                host: host.into(),
                pid,
            })
        };
        // PyTorch / tensorboard's writer, TensorFlow 2's (.v2), a host with dots, a suffix.
        assert_eq!(
            parse_event_file_name("events.out.tfevents.1796305444.fixture-host.11899.0"),
            w(1796305444, "fixture-host", 11899)
        );
        assert_eq!(
            parse_event_file_name("events.out.tfevents.1600000000.gpu7.example.org.4242.1.v2"),
            w(1600000000, "gpu7.example.org", 4242)
        );
        assert_eq!(
            parse_event_file_name("events.out.tfevents.1600000000.10.0.0.5.77.3.profile-empty"),
            w(1600000000, "10.0.0.5", 77)
        );
        assert_eq!(
            parse_event_file_name("events.out.tfevents.1600000000.host"),
            None
        );
        assert_eq!(parse_event_file_name("events.jsonl"), None);
        assert_eq!(
            parse_event_file_name("events.out.tfevents.x.host.1.2"),
            None
        );
    }

    #[test]
    fn host_names_match_by_their_first_label() {
        assert!(same_host("node7", "node7.cluster.example"));
        assert!(same_host("Node7.a", "node7.b"));
        assert!(!same_host("node7", "node8"));
    }

    #[test]
    fn a_logdir_names_the_pids_of_this_host_and_the_other_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(real.join("a/train")).unwrap();
        std::fs::create_dir_all(real.join("b")).unwrap();
        let me = std::process::id();
        for name in [
            format!("a/train/events.out.tfevents.1000.here.{me}.0"),
            format!("a/train/events.out.tfevents.2000.here.{me}.1"),
            "a/events.out.tfevents.1500.here.4000000.0.v2".to_string(),
            "b/events.out.tfevents.1000.elsewhere.55.0".to_string(),
            "b/notes.txt".to_string(),
        ] {
            std::fs::write(real.join(name), b"").unwrap();
        }
        let found = find(&real, proc_root(), Some("here"), None);
        let got: Vec<(u32, Option<u64>)> = found
            .candidates
            .iter()
            .map(|c| (c.pid, c.started_by))
            .collect();
        assert_eq!(got, vec![(me, Some(2000)), (4_000_000, Some(1500))]);
        assert_eq!(
            found.candidates[0].found_by,
            FoundBy::EventFileName(format!("a/train/events.out.tfevents.2000.here.{me}.1").into())
        );
        assert_eq!(found.other_hosts, vec!["elsewhere".to_string()]);
        assert!(found.notes.is_empty(), "{:?}", found.notes);
    }

    #[test]
    fn an_open_file_wins_over_the_name_and_a_missing_logdir_is_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        let me = std::process::id();
        let name = format!("events.out.tfevents.1000.here.{me}.0");
        let _w = File::create(real.join(&name)).unwrap();
        let found = find(&real, proc_root(), Some("here"), None);
        assert_eq!(
            found.candidates,
            vec![Candidate {
                pid: me,
                found_by: FoundBy::OpenFile(name.into()),
                started_by: None,
            }]
        );
        let gone = find(&real.join("nope"), proc_root(), Some("here"), None);
        assert!(gone.candidates.is_empty());
        assert_eq!(gone.notes.len(), 1);
        assert!(
            gone.notes[0].ends_with("nope: No such file or directory"),
            "{:?}",
            gone.notes
        );
    }
}
