//! One event file read incrementally: where reading stopped, and what is still incomplete.
//!
//! Owns the offset and the framing loop (whole records to the run's decoder, a torn last
//! record left for the next poll, damaged records skipped and counted). It must never decide
//! what an event means.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::problem::{Problem, ProblemKind, Problems};
use super::record::{frame_at, resync, Framed};

/// An event file and how far it has been read.
#[derive(Debug)]
pub struct EventFile {
    path: PathBuf,
    /// Bytes consumed: every record before it has been handed on.
    offset: u64,
    /// Bytes after `offset` that hold no complete record yet.
    pending: u64,
    /// A damaged length met at this offset has been counted already (the search for the next
    /// record goes on there once more bytes arrive).
    damaged_at: Option<u64>,
    /// Read buffer, kept between polls so polling allocates nothing.
    buf: Vec<u8>,
}

impl EventFile {
    /// A file to read from its start.
    pub fn new(path: PathBuf) -> Self {
        EventFile {
            path,
            offset: 0,
            pending: 0,
            damaged_at: None,
            buf: Vec::new(),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes read and handed on.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes at the end that do not yet make a whole record (a writer mid-record).
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// Reads what was added since the last poll and hands each whole record's data (with its
    /// offset) to `each`. Returns how many records were handed on.
    pub fn poll(&mut self, problems: &mut Problems, mut each: impl FnMut(&[u8], u64)) -> usize {
        let size = match std::fs::metadata(&self.path) {
            Ok(m) => m.len(),
            Err(e) => {
                // Gone between the directory listing and now: the next listing drops it.
                if e.kind() != std::io::ErrorKind::NotFound {
                    self.unreadable(problems, &e);
                }
                return 0;
            }
        };
        if size < self.offset + self.pending {
            problems.push(Problem {
                path: self.path.clone(),
                offset: size,
                kind: ProblemKind::Shrunk,
            });
            (self.offset, self.pending, self.damaged_at) = (0, 0, None);
        }
        if size == self.offset + self.pending {
            return 0;
        }
        if let Err(e) = self.read_from_offset(size) {
            self.unreadable(problems, &e);
            return 0;
        }
        let buf = std::mem::take(&mut self.buf);
        let mut at = 0usize;
        let mut records = 0;
        loop {
            match frame_at(&buf, at) {
                Framed::Record { data, next } => {
                    each(&buf[data.0..data.1], self.offset + at as u64);
                    records += 1;
                    at = next;
                }
                Framed::Incomplete => break,
                Framed::BadData { next } => {
                    problems.push(self.problem(at, ProblemKind::DamagedData));
                    at = next;
                }
                Framed::BadLength => {
                    let here = self.offset + at as u64;
                    let found = resync(&buf, at);
                    if self.damaged_at != Some(here) {
                        let skipped = found.map_or(0, |p| (p - at) as u64);
                        problems.push(self.problem(at, ProblemKind::DamagedLength { skipped }));
                    }
                    match found {
                        Some(p) => {
                            self.damaged_at = None;
                            at = p;
                        }
                        None => {
                            self.damaged_at = Some(here);
                            break;
                        }
                    }
                }
            }
        }
        self.offset += at as u64;
        self.pending = (buf.len() - at) as u64;
        self.buf = buf;
        records
    }

    /// Fills the buffer with the bytes from `offset` to `size` in one read.
    fn read_from_offset(&mut self, size: u64) -> std::io::Result<()> {
        let mut file = File::open(&self.path)?;
        file.seek(SeekFrom::Start(self.offset))?;
        self.buf.clear();
        let want = (size - self.offset) as usize;
        self.buf.reserve_exact(want);
        // Bytes written after the size was taken wait for the next poll; a torn record is
        // read again whole then.
        file.take(want as u64).read_to_end(&mut self.buf)?;
        Ok(())
    }

    fn problem(&self, at: usize, kind: ProblemKind) -> Problem {
        Problem {
            path: self.path.clone(),
            offset: self.offset + at as u64,
            kind,
        }
    }

    fn unreadable(&self, problems: &mut Problems, e: &std::io::Error) {
        problems.push(Problem {
            path: self.path.clone(),
            offset: self.offset,
            kind: ProblemKind::Unreadable(e.to_string()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tboard::record::{append_tfrecord, tfrecord};
    use std::io::Write;

    fn collect(f: &mut EventFile, problems: &mut Problems) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        f.poll(problems, |d, _| out.push(d.to_vec()));
        out
    }

    #[test]
    fn a_growing_file_is_read_record_by_record_and_torn_records_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.out.tfevents.1");
        let mut bytes = tfrecord(b"one");
        append_tfrecord(&mut bytes, b"two");
        let cut = bytes.len() - 3;
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let mut f = EventFile::new(path.clone());
        let mut problems = Problems::default();
        assert_eq!(collect(&mut f, &mut problems), vec![b"one".to_vec()]);
        assert!(f.pending() > 0);
        assert!(collect(&mut f, &mut problems).is_empty(), "nothing new");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(&bytes[cut..]).unwrap();
        assert_eq!(collect(&mut f, &mut problems), vec![b"two".to_vec()]);
        assert_eq!((f.offset(), f.pending()), (bytes.len() as u64, 0));
        assert_eq!(problems.count(), 0);
    }

    #[test]
    fn a_damaged_length_is_counted_once_while_waiting_for_the_next_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.out.tfevents.1");
        let mut bytes = tfrecord(b"one");
        let damaged = bytes.len();
        append_tfrecord(&mut bytes, b"two");
        bytes[damaged + 2] ^= 0x80;
        std::fs::write(&path, &bytes).unwrap();
        let mut f = EventFile::new(path.clone());
        let mut problems = Problems::default();
        assert_eq!(collect(&mut f, &mut problems), vec![b"one".to_vec()]);
        assert_eq!(problems.count(), 1);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(&tfrecord(b"three")[..5]).unwrap();
        assert!(collect(&mut f, &mut problems).is_empty());
        assert_eq!(problems.count(), 1, "the same damage is not counted again");
        file.write_all(&tfrecord(b"three")[5..]).unwrap();
        assert_eq!(collect(&mut f, &mut problems), vec![b"three".to_vec()]);
        assert_eq!(problems.count(), 1);
        assert_eq!(f.offset(), std::fs::metadata(&path).unwrap().len());
    }

    #[test]
    fn a_shrunk_file_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.out.tfevents.1");
        let mut bytes = tfrecord(b"one");
        append_tfrecord(&mut bytes, b"two");
        std::fs::write(&path, &bytes).unwrap();
        let mut f = EventFile::new(path.clone());
        let mut problems = Problems::default();
        assert_eq!(collect(&mut f, &mut problems).len(), 2);
        std::fs::write(&path, tfrecord(b"new")).unwrap();
        assert_eq!(collect(&mut f, &mut problems), vec![b"new".to_vec()]);
        assert_eq!(problems.kept()[0].kind, ProblemKind::Shrunk);
    }
}
