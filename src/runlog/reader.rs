//! [`read_log`]: loads a whole run log, tolerating what crashes and newer versions leave behind.
//!
//! Owns the reading policy. A torn last line is what a crash (or a live writer) leaves, so it is
//! ignored and noted. Records of a kind this build does not know come from a newer minor schema
//! and are skipped and counted. A newer major `v` is refused: its meaning may have changed.
//! Unreadable lines in the middle are counted and skipped, because a crash followed by a resume
//! legitimately leaves one; after [`MAX_BAD_LINES`] of them the file is clearly not a run log
//! (or is badly damaged) and reading stops with an error rather than producing a misleading run.
//! It must never hold the raw text: lines are parsed from one reused byte buffer.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use rayon::prelude::*;
use std::path::{Path, PathBuf};

use super::parse::{parse_line, parse_text, Parsed};
use super::{RunLogError, EVENTS_FILE};
use crate::events::{Event, Record, RunStarted, Summary, SCHEMA_VERSION};

/// Unreadable lines tolerated before `read_log` gives up on a file.
pub const MAX_BAD_LINES: usize = 100;
/// Bad lines whose details are kept for notes.
const KEEP_BAD: usize = 5;

/// One unreadable line: where and why.
#[derive(Clone, Debug, PartialEq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    /// What the parser said.
    pub error: String,
}

/// Everything read from a log, plus what had to be skipped.
#[derive(Clone, Debug, Default)]
pub struct LogContents {
    /// The `events.jsonl` that was read.
    pub path: PathBuf,
    /// Records in file order.
    pub records: Vec<Record>,
    /// Records of kinds this build does not know, by kind (from a newer minor schema).
    pub unknown_kinds: BTreeMap<String, usize>,
    /// Number of unreadable lines skipped.
    pub bad_line_count: usize,
    /// The first few unreadable lines.
    pub bad_lines: Vec<BadLine>,
    /// The last line was incomplete and was ignored (a crash, or the writer is still at it).
    pub truncated_last_line: bool,
}

impl LogContents {
    /// The `run_started` header, when the first record is one.
    pub fn header(&self) -> Option<&RunStarted> {
        match self.records.first().map(|r| &r.event) {
            Some(Event::RunStarted(h)) => Some(h),
            _ => None,
        }
    }

    /// The summary of a `finished` record, if the run finished.
    pub fn finished(&self) -> Option<&Summary> {
        self.records.iter().rev().find_map(|r| match &r.event {
            Event::Finished(s) => Some(s),
            _ => None,
        })
    }

    /// One line per thing that was skipped or looks wrong, for the user (empty when clean).
    pub fn notes(&self) -> Vec<String> {
        let name = self.path.display();
        let mut notes = Vec::new();
        if self.header().is_none() {
            notes.push(format!(
                "{name}: the first record is not run_started; the run's settings are unknown"
            ));
        }
        for (kind, n) in &self.unknown_kinds {
            notes.push(format!(
                "{name}: skipped {n} record(s) of unknown kind `{kind}` (written by a newer batchramp)"
            ));
        }
        if let Some(first) = self.bad_lines.first() {
            notes.push(format!(
                "{name}: skipped {} unreadable line(s), first at line {}: {}",
                self.bad_line_count, first.line, first.error
            ));
        }
        if self.truncated_last_line {
            notes.push(format!(
                "{name}: ignored an incomplete last line (the run crashed or is still writing)"
            ));
        }
        notes
    }
}

/// The `events.jsonl` a path names: the file itself or the log inside a run directory.
pub fn resolve_log_path(path: &Path) -> Result<PathBuf, RunLogError> {
    if path.is_dir() {
        let file = path.join(EVENTS_FILE);
        if file.is_file() {
            Ok(file)
        } else {
            Err(RunLogError::NoLog {
                dir: path.to_path_buf(),
            })
        }
    } else if path.exists() {
        Ok(path.to_path_buf())
    } else {
        Err(RunLogError::Missing {
            path: path.to_path_buf(),
        })
    }
}

/// Checks, without reading it all, that a path names a run log (which may still be empty,
/// as when a run has just started): resolves it and looks at its first line.
pub fn probe_log(path: &Path) -> Result<PathBuf, RunLogError> {
    let path = resolve_log_path(path)?;
    let mut file = File::open(&path).map_err(RunLogError::io("read", &path))?;
    let mut head = Vec::with_capacity(64 * 1024);
    file.by_ref()
        .take(64 * 1024)
        .read_to_end(&mut head)
        .map_err(RunLogError::io("read", &path))?;
    if head[..head.len().min(4096)].contains(&0) {
        return Err(RunLogError::Binary { path });
    }
    if let Some(end) = memchr::memchr(b'\n', &head) {
        if let Outcome::Bad { error, .. } = classify(&head[..end]) {
            return Err(RunLogError::NotALog {
                path,
                detail: error,
            });
        }
    }
    Ok(path)
}

/// Reads a whole log from a run directory or an `events.jsonl` file.
///
/// Parses in parallel: blocks of whole lines are cut from the stream and parsed on all cores,
/// then merged in file order, where the reading policy is applied line by line. Memory holds
/// the records plus a few blocks of raw bytes, never the whole text.
pub fn read_log(path: &Path) -> Result<LogContents, RunLogError> {
    let path = resolve_log_path(path)?;
    let mut file = File::open(&path).map_err(RunLogError::io("read", &path))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    sniff(&mut file, &path)?;
    let mut out = LogContents {
        path,
        ..Default::default()
    };
    let mut tally = LineTally::default();
    let batch = rayon::current_num_threads().max(1) * 2;
    let (mut carry, mut consumed) = (Vec::new(), 0u64);
    let (mut at_end, mut reserved) = (false, false);
    while !at_end {
        let mut blocks = Vec::with_capacity(batch);
        while blocks.len() < batch && !at_end {
            let (block, end) =
                next_block(&mut file, &mut carry).map_err(RunLogError::io("read", &out.path))?;
            at_end = end;
            consumed += block.len() as u64;
            if !block.is_empty() {
                blocks.push(block);
            }
        }
        let parsed: Vec<Block> = blocks.par_iter().map(|b| parse_block(b)).collect();
        for block in parsed {
            tally.merge(block, &mut out)?;
        }
        // Once the first blocks show what a line costs, reserve for the whole file: growing a
        // Vec of a million records by doubling would copy it several times.
        if !reserved && consumed > 0 && consumed < size {
            reserved = true;
            let expected = (out.records.len() as u64 * size / consumed) as usize;
            out.records
                .reserve(expected.saturating_sub(out.records.len()) + 1024);
        }
    }
    if out.records.is_empty() && out.unknown_kinds.is_empty() {
        return Err(match out.bad_lines.first() {
            Some(bad) => RunLogError::NotALog {
                path: out.path,
                detail: bad.error.clone(),
            },
            None => RunLogError::NoRecords { path: out.path },
        });
    }
    Ok(out)
}

/// Refuses empty and binary files from their first bytes, then rewinds.
fn sniff(file: &mut File, path: &Path) -> Result<(), RunLogError> {
    let mut head = Vec::with_capacity(4096);
    file.by_ref()
        .take(4096)
        .read_to_end(&mut head)
        .map_err(RunLogError::io("read", path))?;
    if head.is_empty() {
        return Err(RunLogError::Empty {
            path: path.to_path_buf(),
        });
    }
    if head.contains(&0) {
        return Err(RunLogError::Binary {
            path: path.to_path_buf(),
        });
    }
    file.seek(SeekFrom::Start(0))
        .map_err(RunLogError::io("read", path))?;
    Ok(())
}

/// Bytes per block handed to one core.
const BLOCK: usize = 4 << 20;

/// Reads about [`BLOCK`] bytes ending at a newline, straight from the file (a buffered reader
/// would only add a copy); the part after that newline waits in `carry` for the next block.
/// Returns the block and whether the file is exhausted (the last block may then end without a
/// newline: a torn last line).
fn next_block(reader: &mut impl Read, carry: &mut Vec<u8>) -> std::io::Result<(Vec<u8>, bool)> {
    let mut block = std::mem::take(carry);
    let target = block.len() + BLOCK;
    block.reserve(BLOCK);
    let mut eof = false;
    while block.len() < target {
        let want = (target - block.len()) as u64;
        let n = reader.by_ref().take(want).read_to_end(&mut block)?;
        if n == 0 {
            eof = true;
            break;
        }
    }
    if !eof {
        match memchr::memrchr(b'\n', &block) {
            Some(i) => carry.extend_from_slice(&block[i + 1..]),
            // A line longer than a block: keep reading into the same block.
            None => {
                *carry = block;
                return Ok((Vec::new(), false));
            }
        }
        let keep = block.len() - carry.len();
        block.truncate(keep);
    }
    Ok((block, eof))
}

/// One line's classification, made in parallel; policy is applied later in file order.
// The record is the common case (a million times per log); boxing it would cost an
// allocation per line.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Outcome {
    /// An empty or whitespace-only line.
    Blank,
    /// A record this build understands.
    Record(Record),
    /// A record of an unknown kind.
    Unknown { v: u32, kind: String },
    /// Not a record: the parser's message and whether the line at least looked like JSON.
    Bad { error: String, object: bool },
}

/// Classifies one raw line (newline included or not).
pub(crate) fn classify(raw: &[u8]) -> Outcome {
    let line = raw.trim_ascii();
    if line.is_empty() {
        return Outcome::Blank;
    }
    outcome(parse_line(line), line)
}

/// [`classify`] for a line already known to be UTF-8.
fn classify_text(raw: &str) -> Outcome {
    let line = raw.trim_ascii();
    if line.is_empty() {
        return Outcome::Blank;
    }
    outcome(parse_text(line), line.as_bytes())
}

fn outcome(parsed: Parsed, line: &[u8]) -> Outcome {
    match parsed {
        Parsed::Record(rec) => Outcome::Record(rec),
        Parsed::Unknown { v, kind } => Outcome::Unknown { v, kind },
        Parsed::Bad(error) => Outcome::Bad {
            error,
            object: line.starts_with(b"{"),
        },
    }
}

/// A parsed block: plain records, plus the few lines that need the policy, in order.
struct Block {
    records: Vec<Record>,
    /// (line index in the block, records before it in the block, outcome, line complete).
    special: Vec<(usize, usize, Outcome, bool)>,
    lines: usize,
}

fn parse_block(bytes: &[u8]) -> Block {
    let mut block = Block {
        records: Vec::with_capacity(bytes.len() / 200),
        special: Vec::new(),
        lines: 0,
    };
    // Validating the block once lets each line skip serde_json's per-string UTF-8 checks;
    // cutting valid UTF-8 at a newline byte always leaves valid UTF-8.
    let text = std::str::from_utf8(bytes).ok();
    let mut start = 0;
    for (i, raw) in lines(bytes).enumerate() {
        block.lines = i + 1;
        let outcome = match text {
            Some(text) => classify_text(&text[start..start + raw.len()]),
            None => classify(raw),
        };
        start += raw.len();
        match outcome {
            Outcome::Record(rec) if rec.v <= SCHEMA_VERSION => block.records.push(rec),
            Outcome::Blank => {}
            other => {
                let complete = raw.last() == Some(&b'\n');
                block
                    .special
                    .push((i, block.records.len(), other, complete));
            }
        }
    }
    block
}

/// Splits bytes into lines, each with its newline except perhaps the last (memchr: a plain
/// byte loop costs a tenth of the load time).
pub(crate) fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        let (line, tail) = rest.split_at(end);
        rest = tail;
        Some(line)
    })
}

/// Line bookkeeping and the reading policy, shared by the reader and the follower.
#[derive(Default)]
pub(crate) struct LineTally {
    /// Lines seen so far (the 1-based number of the last one).
    pub(crate) line: usize,
    seen_record: bool,
}

impl LineTally {
    /// Merges a parsed block, applying the policy to its special lines in file order.
    fn merge(&mut self, block: Block, out: &mut LogContents) -> Result<(), RunLogError> {
        let first_line = self.line;
        let mut records = block.records.into_iter();
        let mut taken = 0;
        for (index, before, outcome, complete) in block.special {
            if before > taken {
                self.seen_record = true;
                out.records.extend(records.by_ref().take(before - taken));
                taken = before;
            }
            self.line = first_line + index;
            self.apply(outcome, complete, out)?;
        }
        if records.len() > 0 {
            self.seen_record = true;
            out.records.extend(records);
        }
        self.line = first_line + block.lines;
        Ok(())
    }

    /// Classifies and applies one raw line (the follower's path).
    pub(crate) fn feed(
        &mut self,
        raw: &[u8],
        complete: bool,
        out: &mut LogContents,
    ) -> Result<(), RunLogError> {
        self.apply(classify(raw), complete, out)
    }

    /// Applies the policy to the next line's outcome; errors stop reading.
    fn apply(
        &mut self,
        outcome: Outcome,
        complete: bool,
        out: &mut LogContents,
    ) -> Result<(), RunLogError> {
        self.line += 1;
        match outcome {
            Outcome::Blank => Ok(()),
            Outcome::Record(rec) => {
                self.check_version(rec.v, out)?;
                self.seen_record = true;
                out.records.push(rec);
                Ok(())
            }
            Outcome::Unknown { v, kind } => {
                self.check_version(v, out)?;
                self.seen_record = true;
                *out.unknown_kinds.entry(kind).or_default() += 1;
                Ok(())
            }
            Outcome::Bad { error, object } => self.bad_line(error, object, complete, out),
        }
    }

    fn bad_line(
        &mut self,
        error: String,
        object: bool,
        complete: bool,
        out: &mut LogContents,
    ) -> Result<(), RunLogError> {
        if !complete {
            out.truncated_last_line = true;
            return Ok(());
        }
        if !self.seen_record && !object {
            return Err(RunLogError::NotALog {
                path: out.path.clone(),
                detail: error,
            });
        }
        out.bad_line_count += 1;
        if out.bad_lines.len() < KEEP_BAD {
            out.bad_lines.push(BadLine {
                line: self.line,
                error,
            });
        }
        if out.bad_line_count >= MAX_BAD_LINES {
            let first = &out.bad_lines[0];
            return Err(RunLogError::TooManyBadLines {
                path: out.path.clone(),
                count: out.bad_line_count,
                first: first.line,
                first_error: first.error.clone(),
            });
        }
        Ok(())
    }

    fn check_version(&self, v: u32, out: &LogContents) -> Result<(), RunLogError> {
        if v > SCHEMA_VERSION {
            return Err(RunLogError::NewerSchema {
                path: out.path.clone(),
                line: self.line,
                found: v,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(())
    }
}
