//! Runs loaded for reporting: a label per run, its status, a summary computed from the log
//! when the run never finished, and the comparison table of `compare --no-tui`.
//!
//! Owns the reading of several runs side by side. It must never write `summary.json`: that is
//! the log writer's job at the end of a run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::events::{Event, Record, Summary, SummaryBuilder};
use crate::format::{count, duration};
use crate::runlog::{read_log, LogContents, RunLogError};

/// One run read for a report.
#[derive(Clone, Debug)]
pub struct LoadedRun {
    /// Short unique name for legends and tables.
    pub label: String,
    /// The run directory (the log's folder when a file was given).
    pub dir: PathBuf,
    /// What was read.
    pub log: LogContents,
}

/// How a run ended, as far as its log says.
#[derive(Clone, Debug, PartialEq)]
pub enum RunStatus {
    /// A `finished` record.
    Finished,
    /// A `failed` record, with its message.
    Failed(String),
    /// Neither: still running, stopped, or crashed.
    Incomplete,
}

impl LoadedRun {
    /// Records in file order.
    pub fn records(&self) -> &[Record] {
        &self.log.records
    }

    /// How the run ended.
    pub fn status(&self) -> RunStatus {
        status(&self.log.records)
    }

    /// The run's summary: the `finished` record's, or one computed from its epochs.
    pub fn summary(&self) -> Summary {
        match self.log.finished() {
            Some(s) => s.clone(),
            None => summarize(&self.log.records),
        }
    }
}

/// Reads several runs and gives them short unique labels (the run name from the header when
/// unique, else the directory name).
pub fn load_runs(paths: &[PathBuf]) -> Result<Vec<LoadedRun>, RunLogError> {
    let mut runs = Vec::with_capacity(paths.len());
    for path in paths {
        let log = read_log(path)?;
        let dir = log.path.parent().map(Path::to_path_buf).unwrap_or_default();
        runs.push(LoadedRun {
            label: String::new(),
            dir,
            log,
        });
    }
    let names: Vec<String> = runs
        .iter()
        .map(|r| r.log.header().map(|h| h.name.clone()).unwrap_or_default())
        .collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for n in &names {
        *seen.entry(n.as_str()).or_default() += 1;
    }
    for (run, name) in runs.iter_mut().zip(&names) {
        let dir_name = run
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| run.log.path.display().to_string());
        run.label = match seen[name.as_str()] {
            1 if !name.is_empty() => name.clone(),
            _ => dir_name,
        };
    }
    // Still equal (same directory given twice, or same name in different parents): number them.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for run in &mut runs {
        let n = counts.entry(run.label.clone()).or_default();
        *n += 1;
        if *n > 1 {
            run.label = format!("{} ({})", run.label, n);
        }
    }
    Ok(runs)
}

/// How a run ended, from its records.
pub fn status(records: &[Record]) -> RunStatus {
    for rec in records.iter().rev() {
        match &rec.event {
            Event::Finished(_) => return RunStatus::Finished,
            Event::Failed(m) => return RunStatus::Failed(m.message.clone()),
            _ => {}
        }
    }
    RunStatus::Incomplete
}

/// A summary computed from the records, for runs that never wrote `finished` (the same
/// computation the trainer and the UI use).
pub fn summarize(records: &[Record]) -> Summary {
    SummaryBuilder::from_events(records.iter().map(|r| &r.event))
        .summary()
        .clone()
}

/// The table `compare --no-tui` prints: one row per run, columns aligned.
pub fn comparison_table(runs: &[LoadedRun]) -> String {
    let header = [
        "run",
        "status",
        "epochs",
        "final test",
        "best test",
        "updates",
        "wall",
    ];
    let mut rows = vec![header.map(String::from).to_vec()];
    for run in runs {
        let s = run.summary();
        let status = match run.status() {
            RunStatus::Finished => "finished".to_string(),
            RunStatus::Failed(_) => "failed".to_string(),
            RunStatus::Incomplete => "incomplete".to_string(),
        };
        let has_epochs = s.epochs > 0;
        rows.push(vec![
            run.label.clone(),
            status,
            s.epochs.to_string(),
            if has_epochs {
                pct(s.final_test_acc)
            } else {
                "-".into()
            },
            if has_epochs {
                format!("{} (ep {})", pct(s.best_test_acc), s.best_epoch)
            } else {
                "-".into()
            },
            count(s.updates),
            duration(s.wall),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, w))| match c {
                // Text left, numbers right.
                0 | 1 => format!("{cell:<w$}"),
                _ => format!("{cell:>w$}"),
            })
            .collect();
        out += cells.join("  ").trim_end();
        out.push('\n');
    }
    out
}

fn pct(v: f64) -> String {
    match v.is_finite() {
        true => format!("{:.2}%", v * 100.0),
        false => "n/a".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runlog::sample::SampleRun;

    #[test]
    fn computed_summary_matches_the_finished_one() {
        let recs = SampleRun::default().records();
        let Some(Event::Finished(written)) = recs.last().map(|r| r.event.clone()) else {
            panic!("sample run must finish")
        };
        let computed = summarize(&recs);
        assert_eq!(computed.name, written.name);
        assert_eq!(computed.epochs, written.epochs);
        assert_eq!(computed.updates, written.updates);
        assert_eq!(computed.best_epoch, written.best_epoch);
        assert_eq!(computed.best_test_acc, written.best_test_acc);
        assert_eq!(computed.final_test_acc, written.final_test_acc);
        assert_eq!(computed.stages.len(), written.stages.len());
        for (c, w) in computed.stages.iter().zip(&written.stages) {
            assert_eq!(
                (c.batch, c.epochs, c.updates),
                (w.batch, w.epochs, w.updates)
            );
        }
    }

    #[test]
    fn status_reads_the_last_word() {
        let mut recs = SampleRun {
            finished: false,
            ..Default::default()
        }
        .records();
        assert_eq!(status(&recs), RunStatus::Incomplete);
        recs.push(Record::new(
            9.0,
            Event::Failed(crate::events::MessageEvent {
                message: "oom".into(),
            }),
        ));
        assert_eq!(status(&recs), RunStatus::Failed("oom".into()));
    }
}
