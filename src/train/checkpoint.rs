//! Checkpoint files: `checkpoints/<epoch>-<update>.safetensors` (model weights, batch-norm
//! buffers, optimizer state) plus `<epoch>-<update>.json` (config, progress, loader cursor,
//! schedule, noise estimator, log offset). Owns the in-memory [`TrainState`] and its encoding
//! (tensor names `model.*`, `optim.*`, `noise.prev.*`), atomic writing (temp file, fsync,
//! rename), pruning and validation on load; must never leave a half-written file under a final
//! name.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::data::loader::LoaderCursor;
use crate::events::StagePlan;
use crate::schedule::AdaptiveState;
use crate::train::noise::NoiseScale;
use crate::train::optim::OptimState;
use crate::train::progress::Progress;

/// Version of the checkpoint layout; bumped when old checkpoints can no longer be read.
pub const CHECKPOINT_FORMAT: u32 = 1;

/// Problems writing or reading a checkpoint; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Writing failed (disk full, read-only directory…); the previous checkpoint is intact.
    #[error("cannot write checkpoint {path}: {message} (the previous checkpoint is intact)")]
    Write {
        /// Target path.
        path: String,
        /// The underlying error.
        message: String,
    },
    /// The file is missing, truncated, corrupt or not one of ours.
    #[error("checkpoint {path}: {message}")]
    Invalid {
        /// The checkpoint path.
        path: String,
        /// What is wrong and what to do.
        message: String,
    },
}

/// Everything but the tensors, stored as JSON beside the weights.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// [`CHECKPOINT_FORMAT`].
    pub format: u32,
    /// The run's resolved config (keys an older version wrote are upgraded as it is read).
    #[serde(deserialize_with = "crate::config::deserialize_upgraded")]
    pub config: RunConfig,
    /// Position and running totals of the run.
    pub progress: Progress,
    /// Where the sampler stands.
    pub cursor: LoaderCursor,
    /// The schedule's stages (the adaptive schedule rewrites them while running).
    pub stages: Vec<StagePlan>,
    /// What the adaptive schedule's rule has seen of the current stage.
    #[serde(default)]
    pub adaptive: AdaptiveState,
    /// Noise-scale estimator state.
    pub noise: NoiseScale,
    /// Optimizer updates applied.
    pub optim_step: u64,
    /// Lines of `events.jsonl` that describe the run up to this checkpoint.
    pub log_lines: u64,
    /// Run time in seconds at the checkpoint.
    pub t: f64,
    /// Why it was written.
    pub reason: CheckpointReason,
    /// The data source of the run (`--data` value as resolved), so a resume needs no `--data`.
    #[serde(default)]
    pub data: String,
}

pub use crate::events::CheckpointReason;

/// Everything a resumed run needs, in memory: the metadata and the tensors by role.
pub struct TrainState {
    /// Config, progress, sampler, schedule, noise estimator, log offset.
    pub meta: CheckpointMeta,
    /// Model parameters and batch-norm buffers by name.
    pub model: HashMap<String, Tensor>,
    /// Optimizer state (its step count is kept in `meta.optim_step`).
    pub optim: OptimState,
    /// The previous update's gradient, kept for the noise-scale estimate of single-micro-batch
    /// updates.
    pub noise_prev: Option<Vec<Tensor>>,
}

const MODEL: &str = "model.";
const OPTIM: &str = "optim.";
const NOISE_PREV: &str = "noise.prev.";

impl TrainState {
    /// The tensors under their file names.
    fn encode(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (name, t) in &self.model {
            out.insert(format!("{MODEL}{name}"), t.clone());
        }
        for (name, t) in &self.optim.tensors {
            out.insert(format!("{OPTIM}{name}"), t.clone());
        }
        for (i, t) in self.noise_prev.iter().flatten().enumerate() {
            out.insert(format!("{NOISE_PREV}{i}"), t.clone());
        }
        out
    }

    /// Sorts a file's tensors back into their roles.
    fn decode(
        path: &Path,
        meta: CheckpointMeta,
        tensors: HashMap<String, Tensor>,
    ) -> Result<TrainState, CheckpointError> {
        let mut model = HashMap::new();
        let mut optim = Vec::new();
        let mut prev = Vec::new();
        for (name, t) in tensors {
            if let Some(n) = name.strip_prefix(MODEL) {
                model.insert(n.to_string(), t);
            } else if let Some(n) = name.strip_prefix(OPTIM) {
                optim.push((n.to_string(), t));
            } else if let Some(i) = name
                .strip_prefix(NOISE_PREV)
                .and_then(|i| i.parse::<usize>().ok())
            {
                prev.push((i, t));
            } else {
                return Err(invalid(
                    path,
                    format!("unexpected tensor {name}; is this a batchramp checkpoint?"),
                ));
            }
        }
        prev.sort_by_key(|(i, _)| *i);
        let noise_prev = (!prev.is_empty()).then(|| prev.into_iter().map(|(_, t)| t).collect());
        Ok(TrainState {
            optim: OptimState {
                step: meta.optim_step,
                tensors: optim,
            },
            meta,
            model,
            noise_prev,
        })
    }
}

/// A checkpoint read back.
pub struct Checkpoint {
    /// The `.safetensors` path it was read from.
    pub path: PathBuf,
    /// What it holds (tensors on the CPU).
    pub state: TrainState,
}

/// How a [`Checkpoints::write`] went.
#[derive(Debug)]
pub enum Written {
    /// Written to this path.
    Saved(PathBuf),
    /// The write failed; the last good checkpoint stands in for it.
    KeptLast {
        /// Why the write failed.
        error: CheckpointError,
        /// The checkpoint that still holds.
        path: PathBuf,
    },
}

/// The checkpoints of one run: where they go, how many stay, and the last good one.
#[derive(Clone, Debug)]
pub struct Checkpoints {
    dir: PathBuf,
    keep_last: usize,
    last: Option<PathBuf>,
}

impl Checkpoints {
    /// Checkpoints under `<run_dir>/checkpoints`, pruned to the newest `keep_last` (0 = all).
    pub fn new(run_dir: &Path, keep_last: usize) -> Checkpoints {
        Checkpoints {
            dir: run_dir.join("checkpoints"),
            keep_last,
            last: None,
        }
    }

    /// Remembers `path` (the checkpoint a run resumed from) as the last good one.
    pub fn resumed_from(&mut self, path: PathBuf) {
        self.last = Some(path);
    }

    /// Writes `state` atomically. A failed write leaves the previous files intact; the last good
    /// checkpoint then stands in, unless the run ends right after (`meta.reason`), when the
    /// failure is the caller's to report.
    pub fn write(&mut self, state: &TrainState) -> Result<Written, CheckpointError> {
        match save(&self.dir, state, self.keep_last) {
            Ok(path) => {
                self.last = Some(path.clone());
                Ok(Written::Saved(path))
            }
            Err(error) => match &self.last {
                Some(path) if !state.meta.reason.ends_the_run() => Ok(Written::KeptLast {
                    error,
                    path: path.clone(),
                }),
                _ => Err(error),
            },
        }
    }
}

/// File stem `<epoch>-<update>` zero-padded so names sort in run order; `epoch` is
/// [`Progress::checkpoint_epoch`] (counted from 1; checkpoints written before that rule named
/// mid-epoch ones by the epochs done, which is why order is decided by the update).
pub fn stem(epoch: usize, update: u64) -> String {
    format!("{epoch:04}-{update:09}")
}

fn write_err(path: &Path, e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn invalid(path: &Path, message: impl Into<String>) -> CheckpointError {
    CheckpointError::Invalid {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Writes `bytes` to `path` through a temp file in the same directory: write, fsync, rename.
fn write_atomic(
    path: &Path,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<(), CheckpointError> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let result = (|| {
        write(&tmp)?;
        fs::File::open(&tmp)?.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            // Persist the rename itself.
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })();
    result.map_err(|e: std::io::Error| {
        let _ = fs::remove_file(&tmp);
        write_err(path, e)
    })
}

/// Saves a checkpoint into `dir` and prunes all but the newest `keep_last` (0 = keep all).
/// The `.safetensors` rename is the commit point: it happens after its `.json` is in place.
pub fn save(dir: &Path, state: &TrainState, keep_last: usize) -> Result<PathBuf, CheckpointError> {
    let meta = &state.meta;
    let tensors = state.encode();
    fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
    let stem = stem(meta.progress.checkpoint_epoch(), meta.progress.update);
    let weights = dir.join(format!("{stem}.safetensors"));
    let json = dir.join(format!("{stem}.json"));
    let text = serde_json::to_vec_pretty(meta).map_err(|e| write_err(&json, e))?;
    write_atomic(&json, |p| {
        let mut f = fs::File::create(p)?;
        f.write_all(&text)?;
        f.flush()
    })?;
    // Move tensors to the CPU first so a GPU run's checkpoint loads anywhere.
    let mut cpu = HashMap::with_capacity(tensors.len());
    for (k, t) in tensors {
        cpu.insert(
            k,
            t.to_device(&Device::Cpu)
                .map_err(|e| write_err(&weights, e))?,
        );
    }
    if let Err(e) = write_atomic(&weights, |p| {
        candle_core::safetensors::save(&cpu, p).map_err(|e| std::io::Error::other(e.to_string()))
    }) {
        // Without its weights the description is an orphan; the previous pair stays the latest.
        let _ = fs::remove_file(&json);
        return Err(e);
    }
    if keep_last > 0 {
        prune(dir, keep_last);
    }
    Ok(weights)
}

/// Removes older checkpoint pairs beyond the newest `keep` (best effort).
fn prune(dir: &Path, keep: usize) {
    let mut stems: Vec<PathBuf> = list(dir);
    sort_in_run_order(&mut stems);
    let n = stems.len();
    for old in stems.into_iter().take(n.saturating_sub(keep)) {
        let _ = fs::remove_file(&old);
        let _ = fs::remove_file(old.with_extension("json"));
    }
}

/// Committed checkpoints in `dir` (their `.safetensors` paths), unsorted.
fn list(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect()
}

/// Sorts checkpoint paths by the update in their names (then by name): names from before and
/// after the epoch-numbering rule of [`stem`] mix in one run directory after a resume.
fn sort_in_run_order(paths: &mut [PathBuf]) {
    let update = |p: &PathBuf| {
        p.file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.rsplit('-').next())
            .and_then(|u| u.parse::<u64>().ok())
    };
    paths.sort_by(|a, b| update(a).cmp(&update(b)).then_with(|| a.cmp(b)));
}

/// The newest checkpoint of a run directory.
pub fn latest(run_dir: &Path) -> Result<PathBuf, CheckpointError> {
    let dir = run_dir.join("checkpoints");
    let mut all = list(&dir);
    sort_in_run_order(&mut all);
    all.pop().ok_or_else(|| {
        invalid(
            run_dir,
            "no checkpoint in this run directory (look in its checkpoints/ folder)",
        )
    })
}

/// Reads and validates a checkpoint (`.safetensors` path, its `.json` stem, or a run directory).
pub fn load(path: &Path) -> Result<Checkpoint, CheckpointError> {
    let files = read_files(path)?;
    decode(&files)
}

/// A checkpoint's two files as bytes: what a data-parallel run's rank 0 reads and sends to the
/// other workers, which need not see its disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointFiles {
    /// The `.safetensors` path they were read from.
    pub path: PathBuf,
    /// The `.json` description.
    pub json: Vec<u8>,
    /// The `.safetensors` weights.
    pub weights: Vec<u8>,
}

/// Reads a checkpoint's files (`.safetensors` path, its `.json` stem, or a run directory's
/// latest).
pub fn read_files(path: &Path) -> Result<CheckpointFiles, CheckpointError> {
    let weights = if path.is_dir() {
        latest(path)?
    } else if path.extension().is_some_and(|e| e == "json") {
        path.with_extension("safetensors")
    } else {
        path.to_path_buf()
    };
    if !weights.exists() {
        return Err(invalid(&weights, "no such file"));
    }
    let json = weights.with_extension("json");
    let text = fs::read(&json).map_err(|e| {
        invalid(
            &weights,
            format!("its metadata {} cannot be read ({e})", json.display()),
        )
    })?;
    let bytes =
        fs::read(&weights).map_err(|e| invalid(&weights, format!("cannot be read ({e})")))?;
    Ok(CheckpointFiles {
        path: weights,
        json: text,
        weights: bytes,
    })
}

/// Validates and decodes a checkpoint's files.
pub fn decode(files: &CheckpointFiles) -> Result<Checkpoint, CheckpointError> {
    let weights = &files.path;
    let json = weights.with_extension("json");
    let meta: CheckpointMeta = serde_json::from_slice(&files.json).map_err(|e| {
        invalid(
            &json,
            format!("not a batchramp checkpoint description ({e})"),
        )
    })?;
    if meta.format != CHECKPOINT_FORMAT {
        return Err(invalid(
            &json,
            format!(
                "checkpoint format {} but this build reads format {CHECKPOINT_FORMAT}",
                meta.format
            ),
        ));
    }
    let tensors = candle_core::safetensors::load_buffer(&files.weights, &Device::Cpu)
        .map_err(|e| invalid(weights, format!("corrupt or truncated weights file ({e})")))?;
    Ok(Checkpoint {
        state: TrainState::decode(weights, meta, tensors)?,
        path: weights.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(epoch: usize, update: u64) -> CheckpointMeta {
        CheckpointMeta {
            format: CHECKPOINT_FORMAT,
            config: RunConfig::default(),
            progress: Progress {
                epoch,
                update,
                ..Progress::default()
            },
            cursor: LoaderCursor { epoch, position: 0 },
            stages: vec![],
            adaptive: Default::default(),
            noise: NoiseScale::new(0.9),
            optim_step: update,
            log_lines: 3,
            t: 1.0,
            reason: CheckpointReason::Epoch,
            data: "synthetic".into(),
        }
    }

    fn state(epoch: usize, update: u64) -> TrainState {
        let mut model = HashMap::new();
        model.insert(
            "w".to_string(),
            Tensor::from_slice(&[1f32, 2.0, 3.0], 3, &Device::Cpu).unwrap(),
        );
        TrainState {
            meta: meta(epoch, update),
            model,
            optim: OptimState {
                step: update,
                tensors: vec![(
                    "first.0".into(),
                    Tensor::from_slice(&[0.5f32], 1, &Device::Cpu).unwrap(),
                )],
            },
            noise_prev: None,
        }
    }

    #[test]
    fn save_load_prune() {
        let dir = tempfile::tempdir().unwrap();
        for u in 1..=4 {
            save(dir.path(), &state(0, u), 2).unwrap();
        }
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                "0001-000000003.json",
                "0001-000000003.safetensors",
                "0001-000000004.json",
                "0001-000000004.safetensors"
            ]
        );
        let ck = load(&dir.path().join("0001-000000004.safetensors")).unwrap();
        assert_eq!(ck.state.meta.progress.update, 4);
        assert_eq!(
            ck.state.model["w"].to_vec1::<f32>().unwrap(),
            vec![1.0, 2.0, 3.0]
        );
        assert_eq!(ck.state.optim.step, 4);
        assert_eq!(ck.state.optim.tensors[0].0, "first.0");
        assert!(ck.state.noise_prev.is_none());
    }

    #[test]
    fn names_carry_the_epoch_counted_from_one_and_order_by_update() {
        let dir = tempfile::tempdir().unwrap();
        // After three epochs, at the boundary: the checkpoint of epoch 3.
        let end = save(dir.path(), &state(3, 48), 0).unwrap();
        assert!(end.ends_with("0003-000000048.safetensors"), "{end:?}");
        // Mid-way through epoch 4: the epoch in progress.
        let mut mid = state(3, 50);
        mid.meta.progress.epoch_count = 64;
        let mid = save(dir.path(), &mid, 0).unwrap();
        assert!(mid.ends_with("0004-000000050.safetensors"), "{mid:?}");
        // Older builds named a mid-epoch checkpoint by the epochs done (`0003-…` in epoch 4):
        // after a resume both rules meet in one directory, and the update decides the order.
        fs::copy(&mid, dir.path().join("0003-000000052.safetensors")).unwrap();
        fs::copy(
            mid.with_extension("json"),
            dir.path().join("0003-000000052.json"),
        )
        .unwrap();
        let mut all = list(dir.path());
        sort_in_run_order(&mut all);
        assert!(all.last().unwrap().ends_with("0003-000000052.safetensors"));
        // An old name still loads.
        let old = load(&dir.path().join("0003-000000052.safetensors")).unwrap();
        assert_eq!(old.state.meta.progress.update, 50);
    }

    #[test]
    fn crash_between_write_and_rename_leaves_old_checkpoint_valid() {
        let dir = tempfile::tempdir().unwrap();
        let good = save(dir.path(), &state(0, 1), 0).unwrap();
        // A crash mid-write leaves only temp files behind.
        fs::write(
            dir.path().join("0001-000000002.safetensors.tmp"),
            b"partial",
        )
        .unwrap();
        fs::write(dir.path().join("0001-000000002.json"), b"{").unwrap();
        let ck = load(&good).unwrap();
        assert_eq!(ck.state.meta.progress.update, 1);
        let newest = list(dir.path());
        assert_eq!(newest, vec![good]);
    }

    #[test]
    fn corrupt_truncated_and_foreign_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = save(dir.path(), &state(1, 5), 0).unwrap();
        let bytes = fs::read(&p).unwrap();
        fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        let e = load(&p).err().unwrap().to_string();
        assert!(
            e.contains("corrupt or truncated") && e.contains("0001-000000005"),
            "{e}"
        );

        let foreign = dir.path().join("x.safetensors");
        fs::write(&foreign, b"hello").unwrap();
        fs::write(dir.path().join("x.json"), b"{\"a\":1}").unwrap();
        let e = load(&foreign).err().unwrap().to_string();
        assert!(e.contains("not a batchramp checkpoint"), "{e}");

        let e = load(&dir.path().join("missing.safetensors"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no such file"), "{e}");
    }

    #[test]
    fn failed_write_reports_and_keeps_previous() {
        let dir = tempfile::tempdir().unwrap();
        let good = save(dir.path(), &state(0, 1), 1).unwrap();
        // Block the temp file's name with a directory: the write fails even for root.
        fs::create_dir(dir.path().join("0001-000000002.safetensors.tmp")).unwrap();
        let e = save(dir.path(), &state(0, 2), 1).unwrap_err().to_string();
        assert!(e.contains("previous checkpoint is intact"), "{e}");
        assert_eq!(list(dir.path()), vec![good.clone()]);
        assert_eq!(load(&good).unwrap().state.meta.progress.update, 1);
    }

    #[test]
    fn a_failed_write_falls_back_to_the_last_good_checkpoint_unless_the_run_ends() {
        let run = tempfile::tempdir().unwrap();
        let mut cks = Checkpoints::new(run.path(), 0);
        let Written::Saved(good) = cks.write(&state(0, 1)).unwrap() else {
            panic!("the first write succeeds")
        };
        let dir = run.path().join("checkpoints");
        fs::create_dir(dir.join("0001-000000002.safetensors.tmp")).unwrap();
        match cks.write(&state(0, 2)).unwrap() {
            Written::KeptLast { error, path } => {
                assert_eq!(path, good);
                assert!(error.to_string().contains("0001-000000002"), "{error}");
            }
            other => panic!("expected the last checkpoint to stand in, got {other:?}"),
        }
        for reason in [CheckpointReason::Interrupt, CheckpointReason::Nan] {
            let mut last = state(0, 2);
            last.meta.reason = reason;
            assert!(
                cks.write(&last).is_err(),
                "{reason}: the failure is reported"
            );
        }
        // Nothing to fall back to: the failure is reported whatever the reason.
        let mut fresh = Checkpoints::new(run.path(), 0);
        assert!(fresh.write(&state(0, 2)).is_err());
    }

    #[test]
    fn tensor_roles_round_trip_and_strangers_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = state(0, 3);
        st.noise_prev = Some(
            (0..12)
                .map(|i| Tensor::from_slice(&[i as f32], 1, &Device::Cpu).unwrap())
                .collect(),
        );
        let path = save(dir.path(), &st, 0).unwrap();
        let back = load(&path).unwrap().state;
        let prev: Vec<f32> = back
            .noise_prev
            .unwrap()
            .iter()
            .map(|t| t.to_vec1::<f32>().unwrap()[0])
            .collect();
        assert_eq!(
            prev,
            (0..12).map(|i| i as f32).collect::<Vec<_>>(),
            "kept in order"
        );
        let mut odd = HashMap::new();
        odd.insert(
            "weights.x".to_string(),
            Tensor::from_slice(&[1f32], 1, &Device::Cpu).unwrap(),
        );
        candle_core::safetensors::save(&odd, &path).unwrap();
        let e = load(&path).err().unwrap().to_string();
        assert!(e.contains("unexpected tensor weights.x"), "{e}");
    }

    #[test]
    fn reasons_keep_their_names() {
        for (r, name) in [
            (CheckpointReason::Epoch, "epoch"),
            (CheckpointReason::Stage, "stage"),
            (CheckpointReason::Key, "key"),
            (CheckpointReason::Interrupt, "interrupt"),
            (CheckpointReason::Nan, "nan"),
            (CheckpointReason::Final, "final"),
        ] {
            assert_eq!(r.as_str(), name);
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{name}\""));
        }
    }
}
