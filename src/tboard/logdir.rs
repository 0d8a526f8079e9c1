//! A TensorBoard logdir: finding its runs (every directory at any depth holding event files,
//! named by its path relative to the logdir, `.` for the logdir itself — TensorBoard's naming)
//! or a single event file, and polling them all for new runs, new files and new bytes.
//!
//! Owns discovery and the order of runs (by name). It must never interpret events.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::problem::{Problem, ProblemKind, Problems};
use super::run::Run;
use super::TboardError;

/// Whether a file name is an event file's: TensorBoard reads every file whose name holds
/// `tfevents` (`events.out.tfevents.<time>.<host>…`, and suffixed ones such as
/// `.profile-empty` or `.v2`).
pub fn is_event_file_name(name: &str) -> bool {
    name.contains("tfevents")
}

/// A logdir (or one event file) and its runs.
#[derive(Debug)]
pub struct Logdir {
    root: PathBuf,
    /// Set when a single event file was given: only it is read.
    single: Option<PathBuf>,
    runs: Vec<Run>,
    /// Directories that could not be listed.
    problems: Problems,
}

/// What one poll found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Runs seen for the first time, by name.
    pub new_runs: Vec<String>,
    /// Event files seen for the first time.
    pub new_files: usize,
    /// Records read.
    pub records: usize,
}

impl Logdir {
    /// Opens `path`, a logdir or an event file, without reading events yet ([`Logdir::poll`]
    /// does). Fails when it is missing or holds no event file.
    pub fn open(path: &Path) -> Result<Logdir, TboardError> {
        let logdir = Logdir::open_to_follow(path)?;
        if logdir.runs.is_empty() {
            return Err(TboardError::NoEventFiles {
                path: path.to_path_buf(),
            });
        }
        Ok(logdir)
    }

    /// Like [`Logdir::open`], but a directory without event files yet is a logdir with no runs
    /// yet, for following one a training is about to write.
    pub fn open_to_follow(path: &Path) -> Result<Logdir, TboardError> {
        let meta = std::fs::metadata(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => TboardError::Missing {
                path: path.to_path_buf(),
            },
            _ => TboardError::Io {
                path: path.to_path_buf(),
                source,
            },
        })?;
        let mut logdir = if meta.is_file() {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if !name.as_deref().is_some_and(is_event_file_name) {
                return Err(TboardError::NotAnEventFile {
                    path: path.to_path_buf(),
                });
            }
            Logdir {
                root: path.parent().map(Path::to_path_buf).unwrap_or_default(),
                single: Some(path.to_path_buf()),
                runs: Vec::new(),
                problems: Problems::default(),
            }
        } else {
            Logdir {
                root: path.to_path_buf(),
                single: None,
                runs: Vec::new(),
                problems: Problems::default(),
            }
        };
        logdir.discover();
        Ok(logdir)
    }

    /// Opens `path` and reads everything it holds now.
    pub fn load(path: &Path) -> Result<Logdir, TboardError> {
        let mut logdir = Logdir::open(path)?;
        logdir.poll();
        Ok(logdir)
    }

    /// The logdir (for a single file, its directory).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The runs, by name.
    pub fn runs(&self) -> &[Run] {
        &self.runs
    }

    /// One run by name.
    pub fn run(&self, name: &str) -> Option<&Run> {
        self.runs.iter().find(|r| r.name() == name)
    }

    /// Directories that could not be listed.
    pub fn problems(&self) -> &Problems {
        &self.problems
    }

    /// One line per thing a reader should know: damage skipped (counted), records still
    /// incomplete at the end of a file, directories that could not be listed.
    pub fn notes(&self) -> Vec<String> {
        let mut out: Vec<String> = self.problems.kept().iter().map(|p| p.to_string()).collect();
        for run in &self.runs {
            let problems = run.problems();
            out.extend(problems.kept().iter().map(|p| p.to_string()));
            if problems.count() > problems.kept().len() {
                out.push(format!(
                    "run {}: {} more damaged records skipped",
                    run.name(),
                    problems.count() - problems.kept().len()
                ));
            }
            for f in run.files().filter(|f| f.pending() > 0) {
                out.push(format!(
                    "{}: the last {} bytes are an incomplete record (still being written?); read up to there",
                    f.path().display(),
                    f.pending()
                ));
            }
        }
        out
    }

    /// Looks for new runs and files, then reads what every file gained.
    pub fn poll(&mut self) -> PollReport {
        let before: HashSet<String> = self.runs.iter().map(|r| r.name().to_string()).collect();
        let new_files = self.discover();
        let new_runs = self
            .runs
            .iter()
            .map(|r| r.name())
            .filter(|n| !before.contains(*n))
            .map(str::to_string)
            .collect();
        let records = self.runs.iter_mut().map(Run::poll).sum();
        PollReport {
            new_runs,
            new_files,
            records,
        }
    }

    /// Adds the runs and files present now; returns how many files are new.
    fn discover(&mut self) -> usize {
        let mut found: Vec<(String, PathBuf, Vec<PathBuf>)> = Vec::new();
        if let Some(file) = &self.single {
            found.push((".".into(), self.root.clone(), vec![file.clone()]));
        } else {
            let mut seen = HashSet::new();
            walk(&self.root, "", &mut seen, &mut found, &mut self.problems);
        }
        let mut new_files = 0;
        for (name, dir, files) in found {
            let i = match self.runs.binary_search_by(|r| r.name().cmp(&name)) {
                Ok(i) => i,
                Err(i) => {
                    self.runs.insert(i, Run::new(name, dir));
                    i
                }
            };
            for f in files {
                new_files += usize::from(self.runs[i].add_file(f));
            }
        }
        new_files
    }
}

/// Collects `(run name, directory, event files)` under `dir`, depth first. Symbolic links are
/// followed (TensorBoard does), each real directory once.
fn walk(
    dir: &Path,
    rel: &str,
    seen: &mut HashSet<PathBuf>,
    out: &mut Vec<(String, PathBuf, Vec<PathBuf>)>,
    problems: &mut Problems,
) {
    if let Ok(real) = std::fs::canonicalize(dir) {
        if !seen.insert(real) {
            return;
        }
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(Problem {
                path: dir.to_path_buf(),
                offset: 0,
                kind: ProblemKind::Unreadable(e.to_string()),
            });
            return;
        }
    };
    let mut files = Vec::new();
    let mut subdirs = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        // metadata() follows links; file_type() would not.
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => subdirs.push((name, path)),
            Ok(m) if m.is_file() && is_event_file_name(&name) => files.push(path),
            _ => {}
        }
    }
    if !files.is_empty() {
        let name = if rel.is_empty() { "." } else { rel };
        out.push((name.to_string(), dir.to_path_buf(), files));
    }
    subdirs.sort();
    for (name, path) in subdirs {
        let rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        walk(&path, &rel, seen, out, problems);
    }
}

/// Whether `path` is a TensorBoard source: an event file, or a directory with event files at
/// any depth.
pub fn is_tensorboard_source(path: &Path) -> bool {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => path
            .file_name()
            .is_some_and(|n| is_event_file_name(&n.to_string_lossy())),
        Ok(m) if m.is_dir() => {
            let mut found = Vec::new();
            walk(
                path,
                "",
                &mut HashSet::new(),
                &mut found,
                &mut Problems::default(),
            );
            !found.is_empty()
        }
        _ => false,
    }
}

/// Opens `path` as TensorBoard input where a command also takes batchramp runs, and reads it.
/// `None`: a batchramp run (a directory with `events.jsonl`, or any file that is not an event
/// file), left to the run-log reader; a directory with neither is an error naming it.
pub fn open_input(path: &Path) -> Result<Option<Logdir>, TboardError> {
    let mut logdir = open_input_unread(path)?;
    if let Some(l) = &mut logdir {
        l.poll();
    }
    Ok(logdir)
}

/// [`open_input`] without reading events yet, for a reader thread to poll.
pub fn open_input_unread(path: &Path) -> Result<Option<Logdir>, TboardError> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(None);
    };
    if meta.is_dir() && path.join(crate::runlog::EVENTS_FILE).exists() {
        return Ok(None);
    }
    if meta.is_file()
        && !path
            .file_name()
            .is_some_and(|n| is_event_file_name(&n.to_string_lossy()))
    {
        return Ok(None);
    }
    match Logdir::open(path) {
        Ok(l) => Ok(Some(l)),
        Err(TboardError::NoEventFiles { path }) => Err(TboardError::Neither { path }),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tboard::record::tfrecord;

    #[test]
    fn runs_are_directories_with_event_files_named_relative_to_the_logdir() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["", "a/train", "a/eval", "b/c"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
            std::fs::write(
                dir.path().join(sub).join("events.out.tfevents.1.h"),
                tfrecord(b""),
            )
            .unwrap();
        }
        std::fs::create_dir_all(dir.path().join("empty/deeper")).unwrap();
        std::fs::write(dir.path().join("a/notes.txt"), b"x").unwrap();
        let logdir = Logdir::load(dir.path()).unwrap();
        let names: Vec<&str> = logdir.runs().iter().map(Run::name).collect();
        assert_eq!(names, vec![".", "a/eval", "a/train", "b/c"]);
        assert!(is_tensorboard_source(dir.path()));
        assert!(!is_tensorboard_source(&dir.path().join("empty")));
    }

    #[test]
    fn a_logdir_can_be_polled_on_another_thread() {
        fn sendable<T: Send + 'static>() {}
        sendable::<Logdir>();
    }

    #[test]
    fn new_runs_and_files_appear_on_the_next_poll() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("events.out.tfevents.1.h"), tfrecord(b"")).unwrap();
        let mut logdir = Logdir::load(dir.path()).unwrap();
        assert_eq!(logdir.poll(), PollReport::default());
        std::fs::create_dir(dir.path().join("late")).unwrap();
        std::fs::write(
            dir.path().join("late/events.out.tfevents.2.h"),
            tfrecord(b""),
        )
        .unwrap();
        std::fs::write(dir.path().join("events.out.tfevents.3.h"), tfrecord(b"")).unwrap();
        let report = logdir.poll();
        assert_eq!(report.new_runs, vec!["late".to_string()]);
        assert_eq!((report.new_files, report.records), (2, 2));
    }

    #[test]
    fn input_is_a_run_log_a_logdir_or_neither() {
        let dir = tempfile::tempdir().unwrap();
        let e = open_input(dir.path()).unwrap_err();
        assert!(matches!(e, TboardError::Neither { .. }));
        assert!(e.to_string().contains("events.jsonl") && e.to_string().contains("tfevents"));
        std::fs::write(dir.path().join("events.out.tfevents.1.h"), tfrecord(b"")).unwrap();
        assert!(open_input(dir.path()).unwrap().is_some());
        std::fs::write(dir.path().join("events.jsonl"), b"{}").unwrap();
        assert!(
            open_input(dir.path()).unwrap().is_none(),
            "a run log comes first"
        );
        assert!(open_input(&dir.path().join("events.jsonl"))
            .unwrap()
            .is_none());
        assert!(open_input(&dir.path().join("missing")).unwrap().is_none());
    }

    #[test]
    fn nothing_to_read_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let e = Logdir::open(dir.path()).unwrap_err();
        assert!(matches!(e, TboardError::NoEventFiles { .. }));
        assert!(e.to_string().contains(&dir.path().display().to_string()));
        let other = dir.path().join("x.bin");
        std::fs::write(&other, b"x").unwrap();
        assert!(matches!(
            Logdir::open(&other),
            Err(TboardError::NotAnEventFile { .. })
        ));
        assert!(matches!(
            Logdir::open(&dir.path().join("nope")),
            Err(TboardError::Missing { .. })
        ));
    }
}
