//! Exports of a run for other tools: TensorBoard event files and a tidy CSV.
//!
//! Owns which scalars a run exports and the CSV layout. It must never change a value on the
//! way out: numbers are written as logged (accuracies as fractions, epochs counted from 1 as in
//! the log). The TFRecord framing and the event messages are `tboard`'s, shared with the
//! reader of TensorBoard logdirs.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use prost::Message;

use crate::events::{Event, Record};
use crate::tboard::proto;
pub use crate::tboard::record::{masked_crc32c, tfrecord};

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Creating or writing an output file failed.
    #[error("cannot write {}: {source}", .path.display())]
    Io {
        /// The output file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One scalar in tidy form: where in the run it was measured, what, and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    /// Event kind it came from (`epoch`, `step`, …).
    pub kind: &'static str,
    /// The epoch it belongs to (counted from 1, as logged).
    pub epoch: usize,
    /// Updates done when it was measured.
    pub update: u64,
    /// Seconds since the run started.
    pub t: f64,
    /// Metric name, e.g. `test_acc`.
    pub metric: &'static str,
    /// The value (accuracies as fractions).
    pub value: f64,
}

/// Every numeric value in the log as tidy scalars, in log order. Events without a number
/// (header, checkpoints, messages) give none; the update and epoch of other events are the
/// latest known.
pub fn scalars(records: &[Record]) -> Vec<Scalar> {
    let mut out = Vec::new();
    let (mut epoch, mut update) = (0usize, 0u64);
    for rec in records {
        let kind = rec.event.kind();
        let mut push = |epoch: usize, update: u64, metric: &'static str, value: f64| {
            out.push(Scalar {
                kind,
                epoch,
                update,
                t: rec.t,
                metric,
                value,
            })
        };
        match &rec.event {
            Event::Stage(s) => {
                (epoch, update) = (s.epoch, s.update);
                push(epoch, update, "batch", s.batch as f64);
                push(epoch, update, "micro_batch", s.micro_batch as f64);
                push(epoch, update, "accumulation", s.accumulation as f64);
                push(epoch, update, "lr", s.lr);
                push(epoch, update, "momentum", s.momentum);
                push(epoch, update, "noise_scale", s.noise_scale);
            }
            Event::Step(s) => {
                (epoch, update) = (s.epoch, s.update);
                push(epoch, update, "loss", s.loss);
                push(epoch, update, "acc", s.acc);
                push(epoch, update, "lr", s.lr);
                push(epoch, update, "batch", s.batch as f64);
                push(epoch, update, "images_per_sec", s.images_per_sec);
            }
            Event::Epoch(e) => {
                (epoch, update) = (e.epoch, e.updates);
                push(epoch, update, "train_loss", e.train_loss);
                push(epoch, update, "train_acc", e.train_acc);
                push(epoch, update, "test_loss", e.test_loss);
                push(epoch, update, "test_acc", e.test_acc);
                push(epoch, update, "wall", e.wall);
                push(epoch, update, "images_per_sec", e.images_per_sec);
            }
            Event::Resources(r) => {
                let fields = [
                    ("device_used", r.device_used.map(|v| v as f64)),
                    ("device_total", r.device_total.map(|v| v as f64)),
                    ("rss", r.rss.map(|v| v as f64)),
                    ("cpu_percent", r.cpu_percent),
                    ("gpu_util", r.gpu_util),
                    ("gpu_temp", r.gpu_temp),
                    ("gpu_power", r.gpu_power),
                ];
                for (metric, value) in fields {
                    if let Some(v) = value {
                        push(epoch, update, metric, v);
                    }
                }
            }
            Event::NoiseScale(n) => {
                update = n.update;
                push(epoch, update, "b_simple", n.b_simple);
                push(epoch, update, "grad_sq", n.grad_sq);
                push(epoch, update, "trace", n.trace);
                push(epoch, update, "batch", n.batch as f64);
            }
            Event::Checkpoint(c) => (epoch, update) = (c.epoch, c.update),
            Event::Paused(p) | Event::Resumed(p) => update = p.update,
            Event::RunStarted(_)
            | Event::Evaluating(_)
            | Event::Warning(_)
            | Event::Failed(_)
            | Event::Finished(_) => {}
        }
    }
    out
}

/// Writes the tidy CSV of several runs: `run,kind,epoch,update,t,metric,value`.
pub fn write_csv<W: Write>(runs: &[(&str, &[Record])], out: W) -> std::io::Result<()> {
    let mut out = BufWriter::new(out);
    writeln!(out, "run,kind,epoch,update,t,metric,value")?;
    for (name, records) in runs {
        let run = csv_field(name);
        for s in scalars(records) {
            writeln!(
                out,
                "{run},{},{},{},{},{},{}",
                s.kind, s.epoch, s.update, s.t, s.metric, s.value
            )?;
        }
    }
    out.flush()
}

/// Quotes a CSV field when it holds a comma, quote or line break (RFC 4180).
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes a TensorBoard event file for one run into `dir` (created if needed) and returns its
/// path. Scalars are tagged `<kind>/<metric>` (e.g. `epoch/test_acc`) at step = updates done,
/// at wall time `start + t` (`start` in Unix seconds).
pub fn write_tensorboard(
    records: &[Record],
    dir: &Path,
    start: f64,
) -> Result<PathBuf, ExportError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let path = dir.join(format!("events.out.tfevents.{now}.{}", host_name()));
    let file = File::create(&path).map_err(io_err(&path))?;
    let mut out = BufWriter::new(file);
    let mut write = |event: &[u8]| out.write_all(&tfrecord(event));
    write(&file_version_event(start)).map_err(io_err(&path))?;
    for s in scalars(records) {
        let tag = format!("{}/{}", s.kind, s.metric);
        // TensorBoard stores scalars as 32-bit floats.
        let event = scalar_event(start + s.t, s.update as i64, &tag, s.value as f32);
        write(&event).map_err(io_err(&path))?;
    }
    out.flush().map_err(io_err(&path))?;
    Ok(path)
}

/// This machine's name for the event file name (as TensorFlow does), `localhost` if unknown.
fn host_name() -> String {
    let name: String = raw_host_name()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .collect();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

#[cfg(unix)]
fn raw_host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return String::new();
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

#[cfg(not(unix))]
fn raw_host_name() -> String {
    std::env::var("COMPUTERNAME").unwrap_or_default()
}

/// `Event { wall_time; file_version = "brain.Event:2" }`: the first record of every event file.
fn file_version_event(wall_time: f64) -> Vec<u8> {
    proto::Event {
        wall_time,
        step: 0,
        what: Some(proto::event::What::FileVersion("brain.Event:2".into())),
    }
    .encode_to_vec()
}

/// `Event { wall_time; step; summary { value { tag; simple_value } } }`.
pub fn scalar_event(wall_time: f64, step: i64, tag: &str, value: f32) -> Vec<u8> {
    proto::Event {
        wall_time,
        step,
        what: Some(proto::event::What::Summary(proto::Summary {
            value: vec![proto::SummaryValue {
                tag: tag.into(),
                metadata: None,
                value: Some(proto::summary_value::Value::SimpleValue(value)),
            }],
        })),
    }
    .encode_to_vec()
}

/// When a run started, in Unix seconds: from its directory name (`YYYYmmdd-HHMMSS-…`, local
/// time, as `train` names it), else its log's modification time minus the last record's `t`.
pub fn run_start_time(run_dir: &Path, log: &Path, last_t: f64) -> f64 {
    use chrono::TimeZone;
    let name = run_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(stamp) = name.get(..15) {
        if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%d-%H%M%S") {
            if let Some(local) = chrono::Local.from_local_datetime(&naive).earliest() {
                return local.timestamp() as f64;
            }
        }
    }
    let modified = std::fs::metadata(log)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64());
    match modified {
        Some(m) => m - last_t.max(0.0),
        None => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_event_bytes_are_exact() {
        let e = scalar_event(1.5, 300, "a", 2.0);
        let mut want = vec![0x09];
        want.extend_from_slice(&1.5f64.to_le_bytes());
        want.extend_from_slice(&[0x10, 0xac, 0x02]);
        // summary (field 5) { value (field 1) { tag "a", simple_value 2.0 } }
        want.extend_from_slice(&[0x2a, 0x0a, 0x0a, 0x08, 0x0a, 0x01, b'a', 0x15]);
        want.extend_from_slice(&2.0f32.to_le_bytes());
        assert_eq!(e, want);
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("run-1"), "run-1");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn start_time_comes_from_the_directory_name() {
        use chrono::TimeZone;
        let t = run_start_time(
            Path::new("runs/20240102-030405-seed"),
            Path::new("/nonexistent"),
            0.0,
        );
        let want = chrono::Local
            .with_ymd_and_hms(2024, 1, 2, 3, 4, 5)
            .earliest()
            .map(|d| d.timestamp() as f64);
        assert_eq!(Some(t), want);
    }
}
